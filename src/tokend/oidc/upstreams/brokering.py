"""Signing in with an upstream identity provider, and linking upstream accounts to local ones.

The redirect (``start``) carries PKCE S256, a ``state`` and a ``nonce`` kept server-side
(``states``); the callback (``finish``) takes the state once, checks the browser it was issued
to, and has the upstream's kind exchange the code and check what comes back. Then an upstream
account signs in to:

1. the user it is linked to;
2. else, when the upstream says the address is verified and it may link by verified e-mail
   (``link_by_verified_email``), the user with that address, now linked;
3. else, when no user has the address, a new account (its address verified only if the upstream
   said so), linked;
4. else nobody: the page asks the user to sign in with their password and link the upstream on
   their account page. An address that merely matches never links by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import random_id, random_secret
from tokend.core.errors import Conflict
from tokend.core.pkce import new_verifier, s256
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.authn_context import ACR_MFA, ACR_PASSWORD
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import OfferedUpstream, UpstreamLink, User
from tokend.oidc.settings import RFC8176_AMR, UpstreamSettings
from tokend.oidc.stores import PasskeyStore, UpstreamLinkStore, UserRegistry
from tokend.oidc.upstreams.catalog import UpstreamCatalog
from tokend.oidc.upstreams.identity import AuthorizationStart, UpstreamFailed, UpstreamIdentity
from tokend.oidc.upstreams.states import PendingRedirect, UpstreamStates

#: Where each upstream sends the browser back (the redirect URI registered at the upstream): one
#: per upstream, RFC 9700 §4.4.2's defence against mix-up (a callback names its upstream).
CALLBACK_PATH: Final = "/upstream/{upstream_id}/callback"
EXPIRED: Final = "This sign-in has expired, or was finished already. Start again."


def callback_path(upstream_id: str) -> str:
    return CALLBACK_PATH.format(upstream_id=upstream_id)


class UpstreamRefused(Exception):
    """The callback does not sign anyone in (or link anything); ``shown`` says why on a page."""

    def __init__(self, shown: str, status: int = 400, title: str = "Sign-in not completed") -> None:
        super().__init__(shown)
        self.shown = shown
        self.status = status
        self.title = title


@dataclass(frozen=True, slots=True)
class Redirect:
    """Off to the upstream: the URL, and the browser's binding (its cookie's value)."""

    url: str = field(repr=False)
    binding: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Returned:
    """A callback that checked out: what the redirect was for, and who came back."""

    pending: PendingRedirect
    identity: UpstreamIdentity


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """One upstream on the account page: linked (``link`` set) or offered."""

    upstream_id: str
    name: str
    link: UpstreamLink | None


@dataclass(frozen=True, slots=True)
class Brokering:
    catalog: UpstreamCatalog
    states: UpstreamStates
    links: UpstreamLinkStore
    users: UserRegistry
    passkeys: PasskeyStore
    audit: Audit
    clock: Clock
    issuer: str
    limits: RateLimits

    async def offered(self) -> Sequence[OfferedUpstream]:
        """The upstreams the login page offers: the settings', then the admin API's."""
        return await self.catalog.offered()

    async def _settings(self, upstream_id: str) -> UpstreamSettings:
        settings = await self.catalog.get(upstream_id)
        if settings is None:
            raise UpstreamRefused("This sign-in option is not available.", 404)
        return settings

    async def _name(self, upstream_id: str) -> str:
        known = await self.catalog.get(upstream_id)
        return known.name if known is not None else upstream_id

    def redirect_uri(self, upstream_id: str) -> str:
        return self.issuer.rstrip("/") + callback_path(upstream_id)

    async def start(
        self,
        upstream_id: str,
        ip: str,
        *,
        interaction_uid: str | None = None,
        link_user_id: str | None = None,
    ) -> Redirect:
        """The redirect to the upstream's authorization endpoint, to sign in to an interaction
        or to link to a signed-in user. Raises UpstreamRefused (unknown upstream),
        UpstreamFailed (its metadata cannot be had) or RateLimited (``ip`` must wait)."""
        adapter = self.catalog.adapter(await self._settings(upstream_id))
        # A sign-in attempt like a password's: each keeps a state in the cache until it expires.
        await self.limits.hit("login_per_ip", ip)
        binding, binding_hash = self.states.new_binding()
        verifier, nonce = new_verifier(), random_secret(24)
        state = await self.states.issue(
            PendingRedirect(
                upstream_id=upstream_id,
                interaction_uid=interaction_uid,
                link_user_id=link_user_id,
                nonce=nonce,
                code_verifier=verifier,
                binding_hash=binding_hash,
            )
        )
        start = AuthorizationStart(self.redirect_uri(upstream_id), state, nonce, s256(verifier))
        try:
            url = await adapter.authorization_url(start)
        except UpstreamFailed as exc:
            self.audit.record(
                AuditEvent.UPSTREAM_FAILED, upstream=upstream_id, reason=exc.internal[:200]
            )
            raise
        return Redirect(url, binding)

    async def finish(
        self,
        upstream_id: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        binding: str | None,
        iss: str | None = None,
    ) -> Returned:
        """The upstream account behind a callback. Raises UpstreamRefused, or UpstreamFailed
        when the upstream cannot be reached or its answer does not verify."""
        settings = await self._settings(upstream_id)
        adapter = self.catalog.adapter(settings)
        # RFC 6749 §10.12: the state is this browser's, for this upstream, and unused.
        pending = await self.states.take(state or "")
        if pending is None or pending.upstream_id != upstream_id:
            raise UpstreamRefused(EXPIRED, title="Sign-in expired")
        if not pending.is_bound_to(binding):
            raise UpstreamRefused(
                "This sign-in was started in another browser. Start again here.",
                title="Sign-in not completed",
            )
        # RFC 9207 §2.4: an authorization response that names its issuer names this one.
        if iss is not None and iss.rstrip("/") != settings.origin.rstrip("/"):
            raise UpstreamRefused(
                f"The answer from {settings.name} could not be verified. Start again."
            )
        if error is not None or not code:
            # RFC 6749 §4.1.2.1: the upstream's own error (the user cancelled, most often).
            raise UpstreamRefused(
                f"{settings.name} did not sign you in. Start again, or sign in another way."
            )
        try:
            identity = await adapter.identity(
                code[:2048], pending.code_verifier, self.redirect_uri(upstream_id), pending.nonce
            )
        except UpstreamFailed as exc:
            self.audit.record(
                AuditEvent.UPSTREAM_FAILED, upstream=upstream_id, reason=exc.internal[:200]
            )
            raise
        return Returned(pending, identity)

    async def account_for(self, identity: UpstreamIdentity) -> str:
        """The user this upstream account signs in to (linked, linked now, or created now);
        raises UpstreamRefused when an account has its address and may not be linked."""
        settings = await self._settings(identity.upstream_id)
        now = self.clock.now()
        link = await self.links.by_subject(identity.upstream_id, identity.subject)
        if link is not None:
            await self.links.used(link.upstream_id, link.subject, now)
            return link.user_id
        existing = await self.users.by_email(identity.email) if identity.email else None
        if existing is not None:
            # Linked by address only when the upstream verified it and is trusted to: an
            # address that merely matches would hand the account to whoever claims it.
            if not (identity.email_verified and settings.link_by_verified_email):
                raise UpstreamRefused(
                    f"An account with the address {existing.email} exists already. Sign in with "
                    f"your password, then link {settings.name} on your account page "
                    "(Linked accounts).",
                    409,
                    "Link your account first",
                )
            await self._add_link(existing.id, identity, settings.name, now, how="verified_email")
            return existing.id
        if identity.email is None:
            raise UpstreamRefused(
                f"{settings.name} did not give an e-mail address; an account needs one.", 400
            )
        if not settings.create_accounts:
            raise UpstreamRefused(
                f"There is no account for {identity.email} here.", 403, "No account"
            )
        return await self._create(identity, settings.name, now)

    async def _create(self, identity: UpstreamIdentity, name: str, now: datetime) -> str:
        assert identity.email is not None  # account_for checked it
        user = User(
            id=random_id("u_"),
            email=identity.email,
            email_verified=identity.email_verified,
            name=identity.name,
            given_name=identity.given_name,
            family_name=identity.family_name,
            picture=identity.picture,
            locale=identity.locale,
            password_hash="",  # no password: PasswordHasher.verify never matches it
        )
        try:
            await self.users.add(user)
        except Conflict:  # the address was taken meanwhile
            raise UpstreamRefused("Your account could not be created just now. Start again.",
                                  409) from None  # fmt: skip
        await self.audit.account_event(
            AuditEvent.ACCOUNT_CREATED_BY_UPSTREAM,
            user.id,
            identity.upstream_id,
            upstream=identity.upstream_id,
            email_verified=int(identity.email_verified),
        )
        await self._add_link(user.id, identity, name, now, how="created")
        return user.id

    async def _add_link(
        self, user_id: str, identity: UpstreamIdentity, name: str, now: datetime, *, how: str
    ) -> None:
        link = UpstreamLink(
            upstream_id=identity.upstream_id,
            subject=identity.subject,
            user_id=user_id,
            email=identity.email,
            created_at=now,
            last_used_at=now,
        )
        try:
            await self.links.add(link)
        except Conflict:
            raise UpstreamRefused(
                f"Your account is linked to another {name} account already. Unlink it on your "
                "account page first.",
                409,
                "Not linked",
            ) from None
        await self.audit.account_event(
            AuditEvent.UPSTREAM_LINKED,
            user_id,
            name,
            upstream=identity.upstream_id,
            how=how,
        )

    async def link(self, user_id: str, identity: UpstreamIdentity) -> None:
        """Link the upstream account to the signed-in user; UpstreamRefused when it is another
        user's (or the user has another account at that upstream)."""
        name = (await self._settings(identity.upstream_id)).name
        existing = await self.links.by_subject(identity.upstream_id, identity.subject)
        if existing is not None:
            if existing.user_id == user_id:
                return
            raise UpstreamRefused(
                f"This {name} account is linked to another account here.",
                409,
                "Not linked",
            )
        await self._add_link(user_id, identity, name, self.clock.now(), how="account_page")

    async def unlink(self, user: User, upstream_id: str) -> bool:
        """Remove the user's link to ``upstream_id``; UpstreamRefused when it is their last
        way to sign in (no password, no passkey, no other link)."""
        links = await self.links.of_user(user.id)
        if not any(link.upstream_id == upstream_id for link in links):
            return False
        if not user.password_hash and len(links) == 1 and not await self.passkeys.of_user(user.id):
            raise UpstreamRefused(
                "This is the only way you can sign in. Add a passkey or set a password (Forgot "
                "your password? on the sign-in page) before you unlink it.",
                409,
                "Not unlinked",
            )
        removed = await self.links.remove(user.id, upstream_id)
        if removed:
            await self.audit.account_event(
                AuditEvent.UPSTREAM_UNLINKED, user.id, await self._name(upstream_id),
                upstream=upstream_id,
            )  # fmt: skip
        return removed

    async def remove_by_admin(self, user_id: str, upstream_id: str) -> bool:
        """Remove a user's link to ``upstream_id`` (the admin API: even the last way to sign
        in, as an admin may disable an account)."""
        removed = await self.links.remove(user_id, upstream_id)
        if removed:
            await self.audit.account_event(
                AuditEvent.UPSTREAM_UNLINKED,
                user_id,
                await self._name(upstream_id),
                upstream=upstream_id,
                by="admin",
            )
        return removed

    async def accounts_of(self, user_id: str) -> list[LinkedAccount]:
        """Every upstream offered, with the user's link to it if any; then links to upstreams
        no longer in the settings (they may still be unlinked)."""
        links = {link.upstream_id: link for link in await self.links.of_user(user_id)}
        offered = await self.offered()
        shown = [LinkedAccount(u.id, u.name, links.pop(u.id, None)) for u in offered]
        return shown + [LinkedAccount(i, i, link) for i, link in links.items()]

    async def authentication_of(self, identity: UpstreamIdentity) -> tuple[str, ...]:
        """The RFC 8176 ``amr`` of a sign-in through the upstream (its acr is worked out from
        it: ``authn_context.acr_of``).

        RFC 8176 §2 has no value for "federated", and §1 says the values name the methods
        used: those are the upstream's. So its ``amr`` values are kept when they are RFC 8176
        names (or ``amr_map`` maps them to one); when none is left, the upstream's
        ``default_amr`` (``pwd``: tokend's password-level ``acr``, the level a sign-in with
        nothing more said counts as). ``mfa`` only when the upstream said so: in its ``amr``,
        or an ``acr`` that ``acr_map`` maps to tokend's multi-factor level.
        """
        settings = await self._settings(identity.upstream_id)
        mapped = {settings.amr_map.get(value, value) for value in identity.amr}
        methods = {value for value in mapped if value in RFC8176_AMR}
        level = settings.acr_map.get(identity.acr or "", ACR_PASSWORD) if identity.acr else None
        if level == ACR_MFA:
            methods.add("mfa")
        if not methods or methods == {"mfa"}:
            methods |= set(settings.default_amr)
        return tuple(sorted(methods))
