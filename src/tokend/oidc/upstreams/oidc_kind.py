"""An upstream OpenID Connect provider: its endpoints from discovery (OpenID Connect Discovery
§4, through the guarded client, cached), the code exchanged with the core OAuth client, and the
ID token validated as OIDC Core §3.1.3.7 asks, its keys from the ``jwks_uri`` (cached, refetched
for an unknown ``kid`` at most once a minute: ``ClientKeys``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

import httpx

from tokend.core.clock import Clock
from tokend.core.discovery import Discovery, DiscoveryFailed, ServerMetadata
from tokend.core.errors import InvalidToken
from tokend.core.http import GuardedClient
from tokend.core.jwt import Claims, read_unverified, verify
from tokend.core.pkce import S256
from tokend.oidc.client_keys import ClientKeys, ClientKeysUnavailable
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.upstreams.code_exchange import exchange_code, unreachable, unverified
from tokend.oidc.upstreams.identity import AuthorizationStart, UpstreamFailed, UpstreamIdentity

#: OIDC Core §3.1.3.7 step 7 / RFC 8725 §3.1: asymmetric algorithms only (no ``none``, and no
#: HS*, whose key would be the client secret).
ID_TOKEN_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_PROFILE: Final = ("name", "given_name", "family_name", "picture", "locale")


@dataclass(frozen=True, slots=True)
class OidcUpstream:
    settings: UpstreamSettings
    http: GuardedClient = field(repr=False)
    discovery: Discovery = field(repr=False)
    keys: ClientKeys = field(repr=False)
    clock: Clock
    leeway_s: int
    timeout_s: float

    async def _metadata(self) -> ServerMetadata:
        try:
            return await self.discovery.metadata(self.settings.origin)
        except DiscoveryFailed as exc:
            raise UpstreamFailed(unreachable(self.settings.name), internal=str(exc)) from None

    async def authorization_url(self, start: AuthorizationStart) -> str:
        metadata = await self._metadata()
        if metadata.authorization_endpoint is None:
            raise UpstreamFailed(
                unreachable(self.settings.name), internal="no authorization_endpoint"
            )
        # OIDC Core §3.1.2.1 (nonce), RFC 7636 §4.3 (S256), RFC 6749 §10.12 (state).
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": start.redirect_uri,
                "scope": " ".join(self.settings.requested_scopes),
                "state": start.state,
                "nonce": start.nonce,
                "code_challenge": start.code_challenge,
                "code_challenge_method": S256,
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def identity(
        self, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> UpstreamIdentity:
        metadata = await self._metadata()
        if metadata.token_endpoint is None or metadata.jwks_uri is None:
            raise UpstreamFailed(
                unreachable(self.settings.name), internal="no token_endpoint or jwks_uri"
            )
        tokens = await exchange_code(
            self.settings, self.http, self.timeout_s, metadata.token_endpoint,
            code=code, code_verifier=code_verifier, redirect_uri=redirect_uri,
        )  # fmt: skip
        # OIDC Core §3.1.3.3: the token response of an openid request carries an ID token.
        if tokens.id_token is None:
            raise UpstreamFailed(
                unverified(self.settings.name), internal="no id_token in the token response"
            )
        claims: Mapping[str, object] = await self._validated(
            tokens.id_token, metadata.jwks_uri, nonce
        )
        # OIDC Core §5.4: with an access token, a provider may give the scopes' claims (the
        # address) at the UserInfo endpoint only.
        if claims.get("email") is None and metadata.userinfo_endpoint is not None:
            extra = await self._userinfo(metadata.userinfo_endpoint, tokens.access_token)
            # §5.3.2: the UserInfo sub must be the ID token's, or its claims are not used.
            if extra.get("sub") != claims.get("sub"):
                raise UpstreamFailed(unverified(self.settings.name), internal="userinfo sub")
            claims = {**extra, **claims}
        return _identity_of(self.settings.id, claims)

    async def _userinfo(self, url: str, access_token: str) -> dict[str, object]:
        """OIDC Core §5.3.1: the UserInfo response (JSON; a signed one is not accepted)."""
        try:
            response = await self.http.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise UpstreamFailed(
                unreachable(self.settings.name), internal=type(exc).__name__
            ) from None
        try:
            body: object = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UpstreamFailed(
                unverified(self.settings.name), internal=f"userinfo: HTTP {response.status_code}"
            )
        return {str(k): v for k, v in body.items()}

    async def _validated(self, id_token: str, jwks_uri: str, nonce: str) -> Claims:
        """OIDC Core §3.1.3.7: the ID token's signature (steps 6-8: the provider's keys, an
        allowed asymmetric algorithm), ``iss`` (2), ``aud`` (3), ``exp`` and ``iat`` (9-10),
        ``azp`` (4-5) and ``nonce`` (11)."""
        s = self.settings
        try:
            header, _ = read_unverified(id_token)
            kid = header.get("kid")
            keys = await self.keys.from_uri(jwks_uri, kid if isinstance(kid, str) else None)
            claims = verify(
                id_token,
                keys,
                algorithms=ID_TOKEN_ALGORITHMS,
                issuer=s.origin,
                audience=s.client_id,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("exp", "iat", "sub"),
            )
        except ClientKeysUnavailable as exc:
            raise UpstreamFailed(unreachable(s.name), internal=exc.internal or "jwks") from None
        except InvalidToken as exc:
            raise UpstreamFailed(
                unverified(s.name), internal=f"id_token: {exc.internal or exc.description}"
            ) from None
        audiences = claims.audience
        azp = claims.get("azp")
        # §3.1.3.7 steps 4-5: another audience beside us needs azp, and azp must be us.
        if (len(audiences) > 1 and azp is None) or (azp is not None and azp != s.client_id):
            raise UpstreamFailed(unverified(s.name), internal="id_token: azp is not our client")
        # §3.1.3.7 step 11: the nonce sent in the authentication request, exactly.
        if claims.get("nonce") != nonce:
            raise UpstreamFailed(unverified(s.name), internal="id_token: nonce mismatch")
        return claims


def _identity_of(upstream_id: str, claims: Mapping[str, object]) -> UpstreamIdentity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise UpstreamFailed("The upstream account has no usable identifier.", internal="sub")
    email = _text(claims.get("email"))
    amr = claims.get("amr")
    profile = {name: _text(claims.get(name)) for name in _PROFILE}
    return UpstreamIdentity(
        upstream_id=upstream_id,
        subject=subject,
        email=email,
        # OIDC Core §5.1: email_verified true only; absent or anything else is unverified.
        email_verified=email is not None and claims.get("email_verified") is True,
        acr=_text(claims.get("acr")),
        amr=tuple(v for v in amr if isinstance(v, str)) if isinstance(amr, list) else (),
        **profile,
    )


def _text(value: object, limit: int = 320) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
