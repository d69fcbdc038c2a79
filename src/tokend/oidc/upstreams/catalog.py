"""The upstream identity providers users may sign in with: those in the settings
(``oidc.upstreams``, read-only here) and those added through the admin API (``UpstreamStore``).

Both sources are read on every use, so an upstream added, changed or removed through one
replica's admin API is offered (or refused) by every replica at once; an adapter is a few
references, built per use. An id in the settings shadows a stored upstream with the same id.

Removing a stored upstream removes every link to it (``UpstreamStore.remove``): an id given
again later, perhaps to another provider, must not sign anyone in to an account linked to a
subject of the old one. The accounts stay, and sign in by their other methods (password,
passkey, another upstream); a user with no other method sets a password by e-mail ("Forgot
your password?" on the sign-in page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from tokend.core.clock import Clock
from tokend.core.discovery import Discovery, DiscoveryFailed
from tokend.core.errors import Conflict, NotFound, ValidationFailed
from tokend.core.http import GuardedClient
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.records import OfferedUpstream
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.stores import UpstreamStore
from tokend.oidc.upstreams.identity import Upstream

#: At most this many upstreams through the admin API (each adds a button to the login page and
#: an issuer to the bounded metadata and key caches).
MAX_STORED: Final = 50

#: Builds an upstream kind's adapter from its settings.
AdapterFactory = Callable[[UpstreamSettings], Upstream]

#: Why tokend would not call the upstream (an address the outbound policy refuses, metadata
#: that cannot be had or does not check out), or None.
Refusal = Callable[[UpstreamSettings], Awaitable[str | None]]

Source = Literal["settings", "admin"]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    settings: UpstreamSettings
    #: ``settings``: from ``oidc.upstreams``, read-only through the API; ``admin``: stored.
    source: Source
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpstreamCatalog:
    configured: Mapping[str, UpstreamSettings]
    store: UpstreamStore
    kinds: Mapping[str, AdapterFactory] = field(repr=False)
    refusal: Refusal = field(repr=False)
    audit: Audit
    clock: Clock

    async def entries(self) -> list[CatalogEntry]:
        """Every upstream: the settings' in their order, then the stored ones, oldest first."""
        stored = [
            CatalogEntry(s.settings, "admin", s.created_at, s.updated_at)
            for s in await self.store.all()
            if s.settings.id not in self.configured
        ]
        return [CatalogEntry(u, "settings") for u in self.configured.values()] + stored

    async def offered(self) -> Sequence[OfferedUpstream]:
        """The upstreams the login page offers, by id and name (no stored secret is opened)."""
        configured = [OfferedUpstream(u.id, u.name) for u in self.configured.values()]
        stored = [u for u in await self.store.offered() if u.id not in self.configured]
        return configured + stored

    async def entry(self, upstream_id: str) -> CatalogEntry | None:
        configured = self.configured.get(upstream_id)
        if configured is not None:
            return CatalogEntry(configured, "settings")
        stored = await self.store.get(upstream_id)
        if stored is None:
            return None
        return CatalogEntry(stored.settings, "admin", stored.created_at, stored.updated_at)

    async def get(self, upstream_id: str) -> UpstreamSettings | None:
        entry = await self.entry(upstream_id)
        return entry.settings if entry is not None else None

    def adapter(self, settings: UpstreamSettings) -> Upstream:
        return self.kinds[settings.kind](settings)

    # -- the admin API -----------------------------------------------------------------------

    async def add(self, upstream: UpstreamSettings) -> CatalogEntry:
        """Store a new upstream once tokend may call it; Conflict for a taken id (in the
        settings too) or too many upstreams, ValidationFailed for one it may not call."""
        if upstream.id in self.configured:
            raise Conflict(f"the upstream {upstream.id} is in the settings (oidc.upstreams)")
        if await self.store.count() >= MAX_STORED:
            raise Conflict(f"at most {MAX_STORED} upstreams can be added through the API")
        await self._check(upstream)
        stored = await self.store.add(upstream, self.clock.now())
        self.audit.record(AuditEvent.UPSTREAM_ADDED, upstream=upstream.id, kind=upstream.kind)
        return CatalogEntry(stored.settings, "admin", stored.created_at, stored.updated_at)

    async def replace(self, upstream: UpstreamSettings) -> CatalogEntry:
        """Change a stored upstream; Conflict for one in the settings, NotFound for none."""
        self._writable(upstream.id)
        await self._check(upstream)
        stored = await self.store.replace(upstream, self.clock.now())
        if stored is None:
            raise NotFound(f"no upstream {upstream.id}")
        self.audit.record(AuditEvent.UPSTREAM_CHANGED, upstream=upstream.id, kind=upstream.kind)
        return CatalogEntry(stored.settings, "admin", stored.created_at, stored.updated_at)

    async def remove(self, upstream_id: str) -> int:
        """Remove a stored upstream and every link to it (see the module's docstring): how
        many links went. Conflict for one in the settings, NotFound for none."""
        self._writable(upstream_id)
        links = await self.store.remove(upstream_id)
        if links is None:
            raise NotFound(f"no upstream {upstream_id}")
        self.audit.record(AuditEvent.UPSTREAM_REMOVED, upstream=upstream_id, links=links)
        return links

    def _writable(self, upstream_id: str) -> None:
        if upstream_id in self.configured:
            raise Conflict(
                f"the upstream {upstream_id} is in the settings (oidc.upstreams): change it there"
            )

    async def _check(self, upstream: UpstreamSettings) -> None:
        reason = await self.refusal(upstream)
        if reason is not None:
            raise ValidationFailed(f"tokend cannot use this upstream: {reason}")


def upstream_refusal(http: GuardedClient, discovery: Discovery) -> Refusal:
    """Whether tokend may call an upstream given through the admin API: its URLs through the
    outbound policy (security review item 8: no private address unless allowed), and for an
    OpenID provider its metadata, fetched through the guarded client (OpenID Connect
    Discovery §4; §4.3: it names the issuer it was fetched for)."""

    async def refusal(upstream: UpstreamSettings) -> str | None:
        urls = [upstream.origin] + ([upstream.api_url] if upstream.kind == "github" else [])
        for url in urls:
            reason = await http.refusal(url)
            if reason is not None:
                return f"{url}: {reason}"
        if upstream.kind == "oidc":
            try:
                await discovery.metadata(upstream.origin)
            except DiscoveryFailed as exc:
                return f"the issuer's metadata could not be had ({str(exc)[:200]})"
        return None

    return refusal
