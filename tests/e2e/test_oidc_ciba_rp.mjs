// A CIBA client (OpenID Connect CIBA Core 1.0, poll mode) built on the unmodified openid-client
// library (npm), driven by tests/e2e/test_oidc_modern.py: it starts a backchannel authentication
// for a user, says so, and polls the token endpoint until the user's device app approved.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, loginHint] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const insecure = { execute: [client.allowInsecureRequests] };

const config = await client.discovery(
  new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), insecure,
);
const started = await client.initiateBackchannelAuthentication(config, {
  scope: 'openid offline_access', login_hint: loginHint, binding_message: 'E2E 42',
});
out({ step: 'started', expires_in: started.expires_in, interval: started.interval });
const tokens = await client.pollBackchannelAuthenticationGrant(config, started);
out({
  step: 'done',
  sub: tokens.claims().sub,
  aud: tokens.claims().aud,
  has_refresh: typeof tokens.refresh_token === 'string',
});
