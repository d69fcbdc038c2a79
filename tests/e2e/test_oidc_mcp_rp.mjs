// An MCP client's authorization on the unmodified openid-client library (npm), driven by
// tests/e2e/test_oidc_modern.py: it registers itself as a public native client (RFC 7591),
// prints the authorization URL of a code flow with PKCE and a resource indicator (RFC 8707),
// reads the callback URL the browser reached on stdin, and redeems the code for that resource.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, initialAccessToken, resource, redirectUri] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

const config = await client.dynamicClientRegistration(
  new URL(issuer),
  {
    client_name: 'MCP client', application_type: 'native', token_endpoint_auth_method: 'none',
    redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'], scope: 'openid offline_access',
  },
  client.None(),
  { initialAccessToken, execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid offline_access', code_challenge: challenge,
  code_challenge_method: 'S256', state, resource,
});
out({ step: 'authorize', url: url.href });
const rl = readline.createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => rl.once('line', resolve));
rl.close();
const tokens = await client.authorizationCodeGrant(
  config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state },
  { resource },
);
out({ step: 'done', aud: payload(tokens.access_token).aud, sub: tokens.claims().sub });
