"""The UserInfo endpoint's answer (OIDC Core §5.3): the claims an access token releases."""

from __future__ import annotations

from dataclasses import dataclass

from tokend.core.errors import InsufficientScope, InvalidToken
from tokend.oidc.stores import UserStore
from tokend.oidc.tokens import AccessTokenReader


@dataclass(frozen=True, slots=True)
class UserInfo:
    reader: AccessTokenReader
    users: UserStore

    async def claims(self, token: str) -> dict[str, object]:
        """The user's claims for the token's scopes; InvalidToken (401) or InsufficientScope
        (403) otherwise."""
        info = await self.reader.read(token)
        if info is None or info.user_id is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        # OIDC Core §5.3: userinfo is for tokens granted with the openid scope.
        if "openid" not in info.scopes:
            raise InsufficientScope("the access token lacks the openid scope")
        user = await self.users.by_id(info.user_id)
        if user is None or user.disabled:
            raise InvalidToken("the access token is invalid, expired or revoked")
        return user.claims_for(info.scopes)
