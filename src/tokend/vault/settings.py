"""Settings of the token vault (``TOKEND_VAULT__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class VaultSettings(BaseModel):
    #: Extra or overriding provider entries, in the format of ``vault/providers.yaml``.
    providers_file: Path | None = None
    #: Seed 001 ``TOKEN_EXPIRY_BUFFER``: refresh when the token expires within this margin.
    expiry_margin_s: int = Field(default=300, ge=0)
    #: Seed 001: an OAuth state is good for 10 minutes, once.
    state_ttl_s: int = Field(default=600, ge=10)
    #: After the callback, redirect the browser here (``?status=..&client_id=..``) instead of
    #: showing tokend's own page.
    return_url: str | None = None
    #: Seed 001's API was open. Set to serve it without a bearer token (compat / demo; refused in
    #: production).
    open_access: bool = False
    #: Static bearer token with ``vault:admin`` rights, like the server's ``admin_token``.
    #: Access tokens tokend issues for the admin audience with the ``vault:read`` /
    #: ``vault:admin`` (or ``tokend:admin``) scope are accepted too (``core.admin_auth``).
    api_token: SecretStr | None = None
    #: Seed 001 calls Google with a 20 s timeout.
    provider_timeout_s: float = Field(default=20.0, gt=0)
    #: Each provider's circuit breaker: it opens when this share of the recent calls failed
    #: (unreachable, timeout, 5xx), once at least ``breaker_min_calls`` were made, and lets one
    #: call through again after ``breaker_reset_after_s``.
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=5, ge=1)
    breaker_reset_after_s: float = Field(default=60.0, gt=0)
    #: The background refresher: how often it sweeps, how many connections per sweep, how many
    #: refreshes at once, and the window ahead of expiry it looks at.
    refresh_every_s: float = Field(default=60.0, gt=0)
    refresh_window_s: int = Field(default=600, ge=0)
    refresh_batch_size: int = Field(default=200, ge=1)
    refresh_concurrency: int = Field(default=10, ge=1)
    #: A sweep locks this many connections in one go (a Redis round trip for the group, not
    #: one per connection) and releases them once the group's refreshes are all stored.
    refresh_lock_batch: int = Field(default=5, ge=1)
    #: Each group of a sweep (``refresh_lock_batch``) starts after a random delay up to this,
    #: to spread the load.
    refresh_jitter_s: float = Field(default=1.0, ge=0)
    #: Transient failures in a row before a connection is marked ``refresh_exhausted``.
    max_refresh_failures: int = Field(default=8, ge=1)
    #: First retry delay after a transient failure; doubles each time up to the cap.
    retry_backoff_s: float = Field(default=30.0, gt=0)
    retry_backoff_max_s: float = Field(default=3600.0, gt=0)
    #: How long a refresh may hold its cross-replica lock, and how long callers wait for it.
    lock_ttl_s: float = Field(default=60.0, gt=0)
    lock_wait_s: float = Field(default=30.0, ge=0)
    #: Validated tokens are cached (encrypted) this long at most.
    cache_ttl_s: float = Field(default=60.0, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    #: Serve the in-process demo provider and connect a demo client to it at start-up
    #: (always on in demo mode). It approves every authorization request: never in production.
    demo_provider: bool = False

    def production_problems(self) -> list[str]:
        """Why this block must not serve production (hooked into ``Settings``; its API token is
        checked there, with every static token)."""
        problems: list[str] = []
        if self.open_access:
            problems.append(
                "TOKEND_VAULT__OPEN_ACCESS must be false in production: whoever reaches the "
                "vault would read and delete every stored token (callers use "
                "TOKEND_VAULT__API_TOKEN or admin access tokens)"
            )
        if self.demo_provider:
            problems.append(
                "TOKEND_VAULT__DEMO_PROVIDER cannot be on in production "
                "(its provider approves every authorization request)"
            )
        return problems
