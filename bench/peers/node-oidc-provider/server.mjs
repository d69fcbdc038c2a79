// node-oidc-provider set up like tokend's benchmark: one confidential client for
// client_credentials with ES256 JWT access tokens (resource indicator), the same client for
// introspection of an opaque token, a private_key_jwt client (ES256, its public key from
// PEER_PKJWT_JWKS) whose tokens are DPoP-bound when it sends a proof, one process, quiet.
// PORT comes from the environment.
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const port = Number(process.env.PORT ?? "3000");
const issuer = `http://127.0.0.1:${port}`;
const JWT_RESOURCE = "https://api.bench.test";
const OPAQUE_RESOURCE = "urn:bench:opaque";

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
  ],
  jwks: { keys: [await signingKey("ES256", "bench-es256"), await signingKey("RS256", "bench-rs256")] },
  scopes: ["api:read"],
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
provider.listen(port, "127.0.0.1", () => {
  process.stdout.write(`node-oidc-provider listening on ${issuer}\n`);
});
