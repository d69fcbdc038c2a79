// A relying party built on the unmodified openid-client library (npm), driven by
// tests/e2e/test_oidc_flow.py: it prints the authorization URL, reads the callback URL the
// browser reached on stdin, then exchanges, validates and uses the tokens.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const config = await client.discovery(
  new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret),
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email offline_access',
  code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
});
out({ step: 'authorize', url: url.href });

const rl = readline.createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => rl.once('line', resolve));
rl.close();
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
const introspection = await client.tokenIntrospection(config, refreshed.access_token);
out({
  step: 'done',
  claims: { sub: claims.sub, nonce: claims.nonce, aud: claims.aud, auth_time: claims.auth_time,
            has_at_hash: typeof claims.at_hash === 'string' },
  userinfo,
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  introspection,
});
