"""The UserInfo endpoint's answer (OIDC Core §5.3): the claims an access token releases."""

from __future__ import annotations

from dataclasses import dataclass

from tokend.core.clock import Clock
from tokend.core.dpop import DpopProof, at_resource
from tokend.core.errors import InsufficientScope, InvalidToken
from tokend.oidc.records import User
from tokend.oidc.stores import ClientStore, GrantClaimsStore, UserStore
from tokend.oidc.subjects import Subjects
from tokend.oidc.tokens import AccessTokenReader, TokenInfo


@dataclass(frozen=True, slots=True)
class UserInfo:
    reader: AccessTokenReader
    users: UserStore
    clients: ClientStore | None = None
    subjects: Subjects | None = None
    #: The UserInfo claims a ``claims`` request asked for, per grant (OIDC Core §5.5).
    grant_claims: GrantClaimsStore | None = None
    clock: Clock | None = None

    async def claims(self, token: str, proof: DpopProof | None = None) -> dict[str, object]:
        """The user's claims for the token's scopes; InvalidToken (401) or InsufficientScope
        (403) otherwise. ``proof``: the request's checked DPoP proof (RFC 9449 §7)."""
        info = await self.reader.read(token)
        if info is None or info.user_id is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        check_binding(info, proof)
        # OIDC Core §5.3: userinfo is for tokens granted with the openid scope.
        if "openid" not in info.scopes:
            raise InsufficientScope("the access token lacks the openid scope")
        user = await self.users.by_id(info.user_id)
        if user is None or user.disabled:
            raise InvalidToken("the access token is invalid, expired or revoked")
        claims = user.claims_for(info.scopes)
        claims.update(await self._requested(user, info))
        client = await self.clients.get(info.client_id) if self.clients is not None else None
        if client is not None and self.subjects is not None:
            # OIDC Core §5.3.2: the same sub as the client's ID token (pairwise, §8).
            claims["sub"] = self.subjects.of(client, user.id)
        return claims

    async def _requested(self, user: User, info: TokenInfo) -> dict[str, object]:
        """OIDC Core §5.5: the claims the authorization's ``claims`` parameter asked for here,
        which the user allowed on the consent page even when no granted scope releases them;
        a claim the user has no value for is left out (§5.5.1: even an essential one)."""
        if self.grant_claims is None or self.clock is None or info.grant_id is None:
            return {}
        names = await self.grant_claims.userinfo(info.grant_id, info.client_id, self.clock.now())
        found = {name: user.claim(name) for name in names}
        return {name: value for name, value in found.items() if value is not None}


def check_binding(info: TokenInfo, proof: DpopProof | None) -> None:
    """RFC 9449 §7.1-7.2: a DPoP-bound token is used only with a proof of its key (sent with
    the DPoP scheme: a bound token presented as a bearer token is refused), and a proof is
    only for a bound token."""
    if info.jkt is None and proof is None:
        return
    if info.jkt is None or proof is None or proof.jkt != info.jkt:
        raise at_resource(InvalidToken("the access token is not bound to this DPoP key"))
