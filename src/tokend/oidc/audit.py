"""Audit events: one structlog event per security-relevant step, plus Prometheus counters.

Events carry client ids, user ids and the request id (bound by the request middleware), never
a secret, token, code or password.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog
from prometheus_client import CollectorRegistry, Counter

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
    #: RFC 7591/7592: a client registered itself, changed or deleted its registration.
    CLIENT_REGISTERED = "client.registered"
    CLIENT_UPDATED = "client.updated"
    CLIENT_DELETED = "client.deleted"


@dataclass(frozen=True, slots=True)
class Audit:
    events: Counter
    tokens: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> Audit:
        return cls(
            events=Counter(
                "identity_auth_events_total",
                "Authentication events by type (seed 003)",
                ["event"],
                registry=registry,
            ),
            tokens=Counter(
                "tokend_tokens_issued_total",
                "Access tokens issued by the OpenID provider, by grant type",
                ["grant"],
                registry=registry,
            ),
        )

    def record(self, event: AuditEvent, **fields: str | int | None) -> None:
        self.events.labels(event=event.value).inc()
        log.info(event.value, **fields)

    def issued(self, grant_type: str) -> None:
        self.tokens.labels(grant=grant_type).inc()
