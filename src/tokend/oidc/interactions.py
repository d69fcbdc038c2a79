"""Pending authorization requests while the user signs in and consents, kept in the database
(``InteractionStore``) under a random id for ``interaction_ttl_s``; each carries its own CSRF
token. Not in the cache: flooding an LRU with other entries would evict them."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from tokend.core.clock import Clock
from tokend.core.crypto import random_id, random_secret
from tokend.oidc.authn_context import ACR_PASSWORD
from tokend.oidc.authorization import AuthorizationRequest
from tokend.oidc.claims_request import claim_scopes
from tokend.oidc.records import DeviceAuthorization
from tokend.oidc.stores import InteractionStore

#: The client id of a sign-in to the account pages (``/account``): not a registered client (a
#: registered id never has a colon), so no code is ever issued for it.
ACCOUNT_CLIENT_ID: Final = "tokend:account"


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
    #: OIDC Core §5.5.1.1: ``acr`` values asked for as essential; the sign-in must meet one.
    essential_acr: tuple[str, ...] = ()
    #: OIDC Core §5.5: the claims asked for in the ID token.
    id_token_claims: tuple[str, ...] = ()
    #: OIDC Core §5.5: the claims asked for at the UserInfo endpoint (those the client may be
    #: granted); the user consents to them with the scopes (``consent_scopes``).
    userinfo_claims: tuple[str, ...] = ()
    #: RFC 9449 §10: the DPoP key the code will be bound to.
    dpop_jkt: str | None = None
    #: Set once the password was right for a user who must also give a second factor: the
    #: user signs in (``user_id``) only after it.
    pending_user_id: str | None = None
    #: RFC 8176 methods of the sign-in during this interaction (``amr.amr_of``).
    amr: tuple[str, ...] = ()
    #: The challenge of the passkey sign-in the login page offers (used once).
    passkey_challenge: str | None = field(default=None, repr=False)
    #: The client requires a multi-factor sign-in (``Client.require_mfa``).
    mfa_required: bool = False
    #: ``prompt=select_account`` was answered: an account chosen, or "use another account"
    #: (``account_chooser``); the chooser is not shown again for this interaction.
    account_chosen: bool = False

    @property
    def is_for_account(self) -> bool:
        return self.client_id == ACCOUNT_CLIENT_ID

    @property
    def consent_scopes(self) -> frozenset[str]:
        """What the user is asked to allow: the scopes, and the scopes that cover the UserInfo
        claims the request asked for beyond them (OIDC Core §5.5: released with consent)."""
        return frozenset(self.scopes) | claim_scopes(self.userinfo_claims)

    @property
    def wants_mfa(self) -> bool:
        """The sign-in must be multi-factor: the client requires it, or the request asked for
        essential ``acr`` values none of which is the single-factor one (OIDC Core §5.5.1.1)."""
        return self.mfa_required or (
            bool(self.essential_acr) and ACR_PASSWORD not in self.essential_acr
        )

    #: RFC 8628: the device authorization this interaction approves instead of issuing a code
    #: (the hash of its device code).
    device_code_hash: str | None = field(default=None, repr=False)

    def csrf_matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_token.encode())

    def signed_in(
        self, user_id: str, auth_time: datetime, amr: tuple[str, ...] = ()
    ) -> Interaction:
        return replace(
            self, user_id=user_id, auth_time=auth_time.isoformat(), pending_user_id=None, amr=amr
        )

    def awaiting_second_factor(
        self, user_id: str, upstream_amr: tuple[str, ...] = ()
    ) -> Interaction:
        """The first factor was right; ``upstream_amr``: it was an upstream identity
        provider's sign-in with these methods (kept in ``amr`` until the second factor)."""
        return replace(self, pending_user_id=user_id, amr=upstream_amr)


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
            essential_acr=request.claims.essential_acr,
            id_token_claims=request.claims.id_token,
            userinfo_claims=request.claims.userinfo,
            dpop_jkt=request.dpop_jkt,
            mfa_required=request.client.require_mfa,
        )

    def for_account(self) -> Interaction:
        """A fresh sign-in to the account pages, not stored yet; it always asks to sign in."""
        return Interaction(
            uid=random_id(),
            client_id=ACCOUNT_CLIENT_ID,
            redirect_uri="/account",
            scopes=(),
            state=None,
            nonce=None,
            code_challenge=None,
            code_challenge_method=None,
            prompts=("login",),
            max_age_s=None,
            login_hint=None,
            csrf_token=random_secret(24),
        )

    def for_device(self, device: DeviceAuthorization) -> Interaction:
        """An interaction that approves a device authorization (RFC 8628 §3.3). Consent is
        always asked (§5.4: the user confirms which device and client they let in)."""
        return Interaction(
            uid=random_id(),
            client_id=device.client_id,
            redirect_uri="",
            scopes=tuple(sorted(device.scopes)),
            state=None,
            nonce=None,
            code_challenge=None,
            code_challenge_method=None,
            prompts=("consent",),
            max_age_s=None,
            login_hint=None,
            csrf_token=random_secret(24),
            device_code_hash=device.device_code_hash,
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
            for name in ("acr_values", "essential_acr", "id_token_claims", "userinfo_claims"):
                if name in fields:
                    fields[name] = tuple(_strings(fields[name]))
            # .get: an interaction saved by the previous release lacks them.
            fields["amr"] = tuple(_strings(fields.get("amr", [])))
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
