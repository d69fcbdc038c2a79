"""Pending authorization requests while the user signs in and consents, kept in the cache
under a random id for ``interaction_ttl_s``; each carries its own CSRF token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tokend.cache.codec import get_json, set_json
from tokend.cache.tiered import TieredCache
from tokend.core.crypto import random_id, random_secret
from tokend.oidc.authorization import AuthorizationRequest


@dataclass(frozen=True, slots=True)
class Interaction:
    uid: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None = field(repr=False)
    code_challenge: str | None
    code_challenge_method: str | None
    prompts: tuple[str, ...]
    max_age_s: int | None
    login_hint: str | None
    csrf_token: str = field(repr=False)
    #: Set once the user signed in during this interaction.
    user_id: str | None = None
    auth_time: str | None = None
    #: Set once the user allowed the request during this interaction.
    consented: bool = False

    def csrf_matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_token.encode())

    def signed_in(self, user_id: str, auth_time: datetime) -> Interaction:
        return replace(self, user_id=user_id, auth_time=auth_time.isoformat())


def _key(uid: str) -> str:
    return f"oidc:interaction:{uid}"


@dataclass(frozen=True, slots=True)
class Interactions:
    cache: TieredCache
    ttl_s: float

    async def start(self, request: AuthorizationRequest) -> Interaction:
        interaction = Interaction(
            uid=random_id(),
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            scopes=tuple(sorted(request.scopes)),
            state=request.state,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            prompts=tuple(sorted(request.prompts)),
            max_age_s=request.max_age_s,
            login_hint=request.login_hint,
            csrf_token=random_secret(24),
        )
        await self.save(interaction)
        return interaction

    async def save(self, interaction: Interaction) -> None:
        data: dict[str, Any] = {
            name: getattr(interaction, name) for name in Interaction.__dataclass_fields__
        }
        await set_json(self.cache, _key(interaction.uid), data, self.ttl_s)

    async def load(self, uid: str) -> Interaction | None:
        if not uid or len(uid) > 64:
            return None
        data = await get_json(self.cache, _key(uid))
        if not isinstance(data, dict):
            return None
        try:
            data["scopes"] = tuple(data["scopes"])
            data["prompts"] = tuple(data["prompts"])
            return Interaction(**data)
        except (KeyError, TypeError):
            return None

    async def finish(self, uid: str) -> None:
        await self.cache.delete(_key(uid))
