"""Pending authorization requests while the user signs in and consents, kept in the database
(``InteractionStore``) under a random id for ``interaction_ttl_s``; each carries its own CSRF
token. Not in the cache: flooding an LRU with other entries would evict them."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tokend.core.clock import Clock
from tokend.core.crypto import random_id, random_secret
from tokend.oidc.authorization import AuthorizationRequest
from tokend.oidc.stores import InteractionStore


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
    response_mode: str = "query"
    #: OIDC Core §3.1.2.1: the user the request's id_token_hint names.
    hinted_user: str | None = None
    acr_values: tuple[str, ...] = ()
    #: OIDC Core §5.5: the claims asked for in the ID token.
    id_token_claims: tuple[str, ...] = ()
    #: RFC 9449 §10: the DPoP key the code will be bound to.
    dpop_jkt: str | None = None

    def csrf_matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_token.encode())

    def signed_in(self, user_id: str, auth_time: datetime) -> Interaction:
        return replace(self, user_id=user_id, auth_time=auth_time.isoformat())


@dataclass(frozen=True, slots=True)
class Interactions:
    store: InteractionStore
    clock: Clock
    ttl_s: float

    def new(self, request: AuthorizationRequest, hinted_user: str | None = None) -> Interaction:
        """A fresh interaction, not stored yet: only one that needs the user is (``save``)."""
        return Interaction(
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
            response_mode=request.response_mode,
            hinted_user=hinted_user,
            acr_values=request.acr_values,
            id_token_claims=request.claims.id_token,
            dpop_jkt=request.dpop_jkt,
        )

    async def save(self, interaction: Interaction) -> None:
        data: dict[str, Any] = {
            name: getattr(interaction, name) for name in Interaction.__dataclass_fields__
        }
        expires_at = self.clock.now() + timedelta(seconds=self.ttl_s)
        await self.store.save(interaction.uid, data, expires_at)

    async def load(self, uid: str) -> Interaction | None:
        if not uid or len(uid) > 32:
            return None
        data = await self.store.load(uid, self.clock.now())
        if data is None:
            return None
        try:
            fields = dict(data)
            fields["scopes"] = tuple(_strings(fields["scopes"]))
            fields["prompts"] = tuple(_strings(fields["prompts"]))
            for name in ("acr_values", "id_token_claims"):
                if name in fields:
                    fields[name] = tuple(_strings(fields[name]))
            return Interaction(**fields)  # type: ignore[arg-type]  # written by save() above
        except (KeyError, TypeError):
            return None

    async def finish(self, uid: str) -> None:
        await self.store.delete(uid)

    async def purge(self) -> int:
        """Delete the expired interactions (idempotent across replicas); how many."""
        return await self.store.purge(self.clock.now())


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        raise TypeError("a list of strings was expected")
    return [str(item) for item in value]
