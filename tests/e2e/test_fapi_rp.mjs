// A FAPI 2.0 relying party built on the unmodified openid-client library (npm), driven by
// tests/e2e/test_fapi_flow.py: private_key_jwt client authentication, a pushed authorization
// request, PKCE, a JARM authorization response (response_mode=jwt) and DPoP-bound tokens. It
// prints its public key, reads its client_id, prints the authorization URL (a browser signs in
// and consents), reads the callback URL, then exchanges, refreshes and calls userinfo.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, redirectUri] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => ((await lines.next()).value || '').trim();

const { privateKey, publicKey } = await crypto.subtle.generateKey(
  { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'],
);
const kid = 'fapi-rp-key';
const jwk = await crypto.subtle.exportKey('jwk', publicKey);
out({ step: 'jwk', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' } });
const clientId = await next();

const config = await client.discovery(
  new URL(issuer), clientId, { id_token_signed_response_alg: 'ES256' },
  client.PrivateKeyJwt({ key: privateKey, kid }),
  { execute: [client.allowInsecureRequests] },
);
// JARM §2.3.1: the authorization response comes back as a JWT signed by the provider, which
// openid-client checks (signature, iss, aud, exp) before it reads the code.
client.useJwtResponseMode(config);
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri, scope: 'openid offline_access',
  code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
}, { DPoP });
out({ step: 'authorize', url: url.href });

const callback = await next();
const tokens = await client.authorizationCodeGrant(
  config, new URL(callback),
  { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
  undefined, { DPoP },
);
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
out({
  step: 'done',
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  id_token: tokens.id_token,
  sub: claims.sub,
  userinfo,
  refreshed_token_type: refreshed.token_type,
  refreshed_access_token: refreshed.access_token,
});
