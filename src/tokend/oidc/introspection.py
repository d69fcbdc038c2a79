"""Token introspection (RFC 7662): what an authenticated client may learn about a token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher
from tokend.core.jwt import SigningKey, mint
from tokend.oidc.records import ROLES_SCOPE, Client, RefreshToken
from tokend.oidc.role_claims import role_claims
from tokend.oidc.stores import ClientStore, RefreshStore, UserStore
from tokend.oidc.tokens import AccessTokenReader, TokenInfo

#: Longer than any token this provider issues: looked up nowhere.
MAX_TOKEN_LENGTH = 8192
#: RFC 9701 §4: the media type a client asks for (Accept) and gets a signed response in.
INTROSPECTION_JWT: Final = "application/token-introspection+jwt"


def wants_jwt(accept: str) -> bool:
    """Whether the Accept header asks for RFC 9701's media type (parameters ignored)."""
    return any(
        part.split(";", 1)[0].strip().lower() == INTROSPECTION_JWT for part in accept.split(",")
    )


@dataclass(frozen=True, slots=True)
class IntrospectionSigner:
    """RFC 9701 §5: the introspection response as a JWT signed by the provider."""

    key: Callable[[], SigningKey] = field(repr=False)
    issuer: str
    clock: Clock

    def sign(self, body: Mapping[str, object], caller: Client) -> str:
        claims = {
            "iss": self.issuer,
            "aud": caller.client_id,
            "iat": int(self.clock.now().timestamp()),
            "token_introspection": dict(body),
        }
        return mint(claims, self.key(), typ="token-introspection+jwt")


def may_introspect(caller: Client, info: TokenInfo) -> bool:
    """RFC 7662 §2.1 leaves to the server which callers may learn about a token: here the
    client it was issued to and the resource servers it is meant for (a client whose id is
    one of the token's audiences), as node-oidc-provider does. Any other caller is told
    ``active: false`` (§2.2), so introspection reveals nothing about other clients' tokens."""
    return info.client_id == caller.client_id or caller.client_id in info.audience


@dataclass(frozen=True, slots=True)
class Introspection:
    reader: AccessTokenReader
    refresh: RefreshStore
    hasher: SecretHasher
    clock: Clock
    users: UserStore
    clients: ClientStore
    #: Signs responses for clients that opted in (RFC 9701); None: JSON only.
    signer: IntrospectionSigner | None = None

    async def describe(
        self, caller: Client, token: str, hint: str
    ) -> TokenInfo | RefreshToken | None:
        """The active access or refresh token ``caller`` may learn about; None: inactive."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        # RFC 7662 §2.1: the hint only orders the lookups.
        if hint == "refresh_token" and not _is_jwt(token):
            refresh = await self.refresh.find(self.hasher.hash(token))
            if refresh is not None:
                return self._active(caller, refresh)
        info = await self.reader.read(token)
        if info is not None:
            return info if may_introspect(caller, info) else None
        if not _is_jwt(token):
            refresh = await self.refresh.find(self.hasher.hash(token))
            if refresh is not None:
                return self._active(caller, refresh)
        return None

    async def roles_of(self, found: TokenInfo | RefreshToken) -> dict[str, object]:
        """The user's roles and groups as the token's client takes them (``role_claims``) when
        the token holds the ``roles`` scope; read now, so a role taken away is gone at once."""
        if found.user_id is None or ROLES_SCOPE not in found.scopes:
            return {}
        user = await self.users.by_id(found.user_id)
        client = await self.clients.get(found.client_id)
        if user is None or client is None:
            return {}
        audience = found.audience if isinstance(found, TokenInfo) else ()
        return role_claims(user, client, found.scopes, audience)

    def _active(self, caller: Client, refresh: RefreshToken) -> RefreshToken | None:
        # A refresh token is for its own client alone (RFC 6749 §6, RFC 7662 §2.1).
        if refresh.client_id != caller.client_id:
            return None
        if refresh.revoked_at is not None or refresh.rotated_at is not None:
            return None
        if refresh.expires_at <= self.clock.now():
            return None
        return refresh


def _is_jwt(token: str) -> bool:
    return token.count(".") == 2
