"""Settings of the operator console and the landing page (``TOKEND_CONSOLE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConsoleSettings(BaseModel):
    #: Serve the console at ``/console`` (it needs the OpenID provider in the same process).
    enabled: bool = True
    #: Serve the landing page at ``/``; None: in demo mode only.
    landing: bool | None = None
    #: How long a console sign-in lasts; every page re-checks the user's admin role.
    session_ttl_s: int = Field(default=900, ge=60, le=12 * 3600)
    #: The role a user needs to sign in to the console.
    admin_role: str = Field(default="admin", min_length=1, max_length=100)
    #: Changes (every form the console posts) need a sign-in with a second factor
    #: (``urn:tokend:acr:mfa``): a password-only console session may look but must sign in
    #: again with its authenticator or passkey before it changes anything ("sudo mode").
    #: None: in production only.
    step_up: bool | None = None
    #: How long the audit trail (``audit_events``: the audit page) keeps an event; older ones
    #: are deleted by an hourly job (``audit.purge``) of every server and worker.
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    #: Audit events of the provider not kept in the trail: one per code or token issued is a
    #: row per request on a busy provider (the log and ``identity_auth_events_total`` still
    #: have them). Empty: keep every one.
    audit_skip: list[str] = Field(
        default_factory=lambda: ["auth.code_issued", "auth.token_issued", "auth.token_refreshed"],
        max_length=50,
    )
