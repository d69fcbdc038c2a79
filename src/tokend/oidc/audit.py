"""Audit events: one structlog event per security-relevant step, plus Prometheus counters.

Events carry client ids, user ids and the request id (bound by the request middleware), never
a secret, token, code or password.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter

from tokend.obs.metrics import Children, CounterChild, Labelled, counter

log = structlog.get_logger("tokend.oidc.audit")


class AuditEvent(StrEnum):
    LOGIN_SUCCEEDED = "auth.login_succeeded"
    LOGIN_FAILED = "auth.login_failed"
    CONSENT_GRANTED = "auth.consent_granted"
    CODE_ISSUED = "auth.code_issued"
    TOKEN_ISSUED = "auth.token_issued"  # noqa: S105  (an event name)
    TOKEN_REFRESHED = "auth.token_refreshed"  # noqa: S105  (an event name)
    REFRESH_REUSE_DETECTED = "auth.refresh_reuse_detected"
    CODE_REPLAY_DETECTED = "auth.code_replay_detected"
    TOKEN_REVOKED = "auth.token_revoked"  # noqa: S105  (an event name)
    LOGOUT = "auth.logout"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"  # noqa: S105  (an event name)
    #: Every grant of a user revoked: a new password, the account disabled or deleted.
    GRANTS_REVOKED = "auth.grants_revoked"
    EMAIL_VERIFIED = "auth.email_verified"
    #: Accounts (``/account``): second factors, sessions, apps with access.
    FACTOR_ENROLLED = "account.factor_enrolled"
    FACTOR_REMOVED = "account.factor_removed"
    RECOVERY_CODES_MADE = "account.recovery_codes_made"
    RECOVERY_CODE_USED = "auth.recovery_code_used"
    SECOND_FACTOR_FAILED = "auth.second_factor_failed"
    PASSKEY_REJECTED = "account.passkey_rejected"
    SESSION_ENDED = "account.session_ended"
    ACCESS_WITHDRAWN = "account.access_withdrawn"
    PASSWORD_CHANGED = "account.password_changed"  # noqa: S105  (an event name)
    PROFILE_CHANGED = "account.profile_changed"
    #: A sign-in from a browser the account had not signed in from before (``known_devices``).
    NEW_DEVICE_SIGN_IN = "auth.new_device_sign_in"
    #: Self sign-up (``/sign-up``): a new, unverified account; or an address that has one
    #: already (its owner is mailed, nothing is created).
    SIGNED_UP = "account.signed_up"
    SIGN_UP_ADDRESS_TAKEN = "account.sign_up_address_taken"
    #: An e-mail change was asked for (a link mailed to the new address) and confirmed.
    EMAIL_CHANGE_REQUESTED = "account.email_change_requested"
    EMAIL_CHANGED = "account.email_changed"
    #: Identity brokering (``upstreams``): a sign-in through an upstream identity provider,
    #: one that failed, an account created at a first sign-in, a link made or removed.
    UPSTREAM_SIGNED_IN = "auth.upstream_signed_in"
    UPSTREAM_FAILED = "auth.upstream_failed"
    ACCOUNT_CREATED_BY_UPSTREAM = "account.created_by_upstream"
    UPSTREAM_LINKED = "account.upstream_linked"
    UPSTREAM_UNLINKED = "account.upstream_unlinked"
    #: An upstream added, changed or removed through the admin API (``/admin/upstreams``).
    UPSTREAM_ADDED = "admin.upstream_added"
    UPSTREAM_CHANGED = "admin.upstream_changed"
    UPSTREAM_REMOVED = "admin.upstream_removed"

    #: RFC 7591/7592: a client registered itself, changed or deleted its registration.
    CLIENT_REGISTERED = "client.registered"
    CLIENT_UPDATED = "client.updated"
    CLIENT_DELETED = "client.deleted"


#: Seed 003's labels of ``identity_auth_events_total`` for each event: ``method`` is how the
#: attempt authenticated (or what it did), ``status`` the class of the HTTP answer it got,
#: grouped as the seed's instrumentator (``should_group_status_codes``). ``event`` is tokend's.
_SEED_LABELS: dict[AuditEvent, tuple[str, str]] = {
    AuditEvent.LOGIN_SUCCEEDED: ("password", "2xx"),
    AuditEvent.LOGIN_FAILED: ("password", "4xx"),
    AuditEvent.CONSENT_GRANTED: ("consent", "2xx"),
    AuditEvent.CODE_ISSUED: ("authorization_code", "2xx"),
    AuditEvent.TOKEN_ISSUED: ("authorization_code", "2xx"),
    AuditEvent.TOKEN_REFRESHED: ("refresh_token", "2xx"),
    AuditEvent.REFRESH_REUSE_DETECTED: ("refresh_token", "4xx"),
    AuditEvent.CODE_REPLAY_DETECTED: ("authorization_code", "4xx"),
    AuditEvent.TOKEN_REVOKED: ("revocation", "2xx"),
    AuditEvent.LOGOUT: ("logout", "2xx"),
    AuditEvent.PASSWORD_RESET_REQUESTED: ("password_reset", "2xx"),
    AuditEvent.GRANTS_REVOKED: ("revocation", "2xx"),
    AuditEvent.EMAIL_VERIFIED: ("email_link", "2xx"),
    AuditEvent.UPSTREAM_SIGNED_IN: ("upstream", "2xx"),
    AuditEvent.UPSTREAM_FAILED: ("upstream", "4xx"),
}


def seed_labels(event: AuditEvent) -> tuple[str, str]:
    """``(method, status)`` of ``event``; an event without an entry counts as ``other``."""
    return _SEED_LABELS.get(event, ("other", "2xx"))


#: Events on a user's account that its owner is told about by mail (NIST SP 800-63B §6.1.2:
#: a newly bound authenticator is told through another channel, the address on file), when
#: ``oidc.email.security_notices`` is on and mail can be sent.
TOLD_TO_USER: Final = frozenset(
    {
        AuditEvent.PASSWORD_CHANGED,
        AuditEvent.FACTOR_ENROLLED,
        AuditEvent.FACTOR_REMOVED,
        AuditEvent.RECOVERY_CODES_MADE,
        AuditEvent.RECOVERY_CODE_USED,
        # OWASP Authentication Cheat Sheet (changing a registered e-mail address): the old
        # address is told, so a hijacker cannot move the account away unnoticed.
        AuditEvent.EMAIL_CHANGE_REQUESTED,
        AuditEvent.UPSTREAM_LINKED,
        AuditEvent.UPSTREAM_UNLINKED,
        AuditEvent.NEW_DEVICE_SIGN_IN,
    }
)

#: Queues the mail that tells a user about ``event`` (what: ``detail``) on their account.
TellUser = Callable[[AuditEvent, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Audit:
    events: Counter
    tokens: Labelled[CounterChild]
    #: None: nobody is told by mail (no mail backend, the notices turned off, or the CLI).
    tell_user: TellUser | None = None
    #: ``tokens``' child per grant type: every token request counts one.
    _issued: Children[CounterChild] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_issued", Children(self.tokens))

    @classmethod
    def register(cls, registry: CollectorRegistry, tell_user: TellUser | None = None) -> Audit:
        return cls(
            events=Counter(
                "identity_auth_events_total",
                "Authentication events by type, method and status class (seed 003)",
                ["event", "method", "status"],
                registry=registry,
            ),
            tokens=counter(
                "tokend_tokens_issued_total",
                "Access tokens issued by the OpenID provider, by grant type",
                ["grant"],
                registry,
            ),
            tell_user=tell_user,
        )

    def record(self, event: AuditEvent, **fields: str | int | None) -> None:
        method, status = seed_labels(event)
        self.events.labels(event=event.value, method=method, status=status).inc()
        log.info(event.value, **fields)

    async def account_event(
        self, event: AuditEvent, user_id: str, detail: str = "", **fields: str | int | None
    ) -> None:
        """Record a security event on a user's account and, for :data:`TOLD_TO_USER`, queue
        the mail that tells its owner (``detail``: which factor, or why)."""
        self.record(event, user_id=user_id, **fields)
        if self.tell_user is not None and event in TOLD_TO_USER:
            await self.tell_user(event, user_id, detail)

    def issued(self, grant_type: str) -> None:
        self._issued(grant_type).inc()
