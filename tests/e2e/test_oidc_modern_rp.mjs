// A device client built on the unmodified openid-client library (npm), driven by
// tests/e2e/test_oidc_modern.py: it registers itself (RFC 7591), starts the device flow
// (RFC 8628) and prints the verification URI, polls until the browser approved, then an agent
// exchanges the device's access token for a delegated one (RFC 8693).
import * as client from 'openid-client';

const [issuer, initialAccessToken, agentId, agentSecret] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const insecure = { execute: [client.allowInsecureRequests] };
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

const config = await client.dynamicClientRegistration(
  new URL(issuer),
  {
    client_name: 'openid-client device', application_type: 'native',
    token_endpoint_auth_method: 'none', scope: 'openid offline_access',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  },
  client.None(),
  { initialAccessToken, ...insecure },
);
const registered = config.clientMetadata();
const device = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
out({ step: 'device', client_id: registered.client_id, user_code: device.user_code,
      verification_uri_complete: device.verification_uri_complete, interval: device.interval });

const tokens = await client.pollDeviceAuthorizationGrant(config, device);
const agent = await client.discovery(
  new URL(issuer), agentId, undefined, client.ClientSecretBasic(agentSecret), insecure,
);
const actor = await client.clientCredentialsGrant(agent, { scope: 'agent' });
const exchanged = await client.genericGrantRequest(
  agent, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: tokens.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    actor_token: actor.access_token,
    actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'openid',
  },
);
out({
  step: 'done',
  registered: { client_id: registered.client_id, has_rat: typeof registered.registration_access_token === 'string' },
  device_tokens: { sub: tokens.claims().sub, has_refresh: typeof tokens.refresh_token === 'string' },
  exchanged: { issued_token_type: exchanged.issued_token_type, claims: payload(exchanged.access_token) },
});
