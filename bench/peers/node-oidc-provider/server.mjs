// node-oidc-provider set up like tokend's benchmark: one confidential client for
// client_credentials with ES256 JWT access tokens (resource indicator), the same client for
// introspection of an opaque token, a private_key_jwt client (ES256, its public key from
// PEER_PKJWT_JWKS) whose tokens are DPoP-bound when it sends a proof, a web client whose
// refresh tokens rotate on every use (as tokend's do) and come from POST /bench/refresh-tokens,
// one process, quiet, its default in-memory adapter. PORT comes from the environment.
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const port = Number(process.env.PORT ?? "3000");
const issuer = `http://127.0.0.1:${port}`;
const JWT_RESOURCE = "https://api.bench.test";
const OPAQUE_RESOURCE = "urn:bench:opaque";
const WEB_CLIENT_ID = process.env.PEER_WEB_CLIENT_ID ?? "bench-web";
const REFRESH_SCOPE = "openid offline_access api:read";

async function signingKey(alg, kid) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, kid, use: "sig" };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.PEER_CLIENT_ID ?? "bench",
      client_secret: process.env.PEER_CLIENT_SECRET ?? "bench-secret-0123456789",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
    },
    {
      client_id: process.env.PEER_PKJWT_CLIENT_ID ?? "bench-pkjwt",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_signing_alg: "ES256",
      jwks: JSON.parse(process.env.PEER_PKJWT_JWKS ?? '{"keys": []}'),
    },
    {
      client_id: WEB_CLIENT_ID,
      client_secret: process.env.PEER_CLIENT_SECRET ?? "bench-secret-0123456789",
      grant_types: ["authorization_code", "refresh_token"],
      redirect_uris: ["http://127.0.0.1:9/cb"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  // tokend rotates a refresh token on every use; node-oidc-provider's default rotates only
  // public clients' (or near expiry).
  rotateRefreshToken: true,
  jwks: { keys: [await signingKey("ES256", "bench-es256"), await signingKey("RS256", "bench-rs256")] },
  scopes: ["openid", "offline_access", "api:read"],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => JWT_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: "api:read",
        audience: resource,
        accessTokenTTL: 900,
        accessTokenFormat: resource === OPAQUE_RESOURCE ? "opaque" : "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
provider.proxy = false;

// The refresh scenario's tokens, minted as a code exchange would leave them (a grant with the
// user's consent to openid, offline_access and the API's scope, a refresh token of it), so the
// benchmark needs no sign-in pages: POST /bench/refresh-tokens?count=N answers N values.
provider.use(async (ctx, next) => {
  if (ctx.method !== "POST" || ctx.path !== "/bench/refresh-tokens") {
    await next();
    return;
  }
  const client = await provider.Client.find(WEB_CLIENT_ID);
  const values = [];
  for (let i = 0; i < Number(ctx.query.count ?? "1"); i += 1) {
    const accountId = `bench-user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: WEB_CLIENT_ID });
    grant.addOIDCScope("openid offline_access");
    grant.addResourceScope(JWT_RESOURCE, "api:read");
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId,
      authTime: Math.floor(Date.now() / 1000),
      client,
      grantId,
      gty: "authorization_code",
      resource: JWT_RESOURCE,
      scope: REFRESH_SCOPE,
    });
    values.push(await token.save());
  }
  ctx.body = { refresh_tokens: values };
});
provider.listen(port, "127.0.0.1", () => {
  process.stdout.write(`node-oidc-provider listening on ${issuer}\n`);
});
