"""Refreshing a connection's tokens: at most one refresh per connection at a time, anywhere.

In this process a :class:`SingleFlight` lets concurrent callers share one refresh; across
replicas the refresh runs under a lock named for the connection (Redis, or the database without
Redis). After taking the lock the token is read again: another replica may have refreshed it
meanwhile, and then there is nothing left to do.

Rules kept (the model is Nango's token store):
- a new refresh token is stored before anything can discard the old one, and the write is
  shielded from cancellation once the provider has answered;
- a provider that returns no refresh token leaves the old one in place (RFC 6749 §6);
- a refused refresh (``invalid_grant``) marks the connection broken and stops retrying;
  a transient failure backs off exponentially and, after ``max_refresh_failures``, marks the
  connection ``refresh_exhausted``; neither touches the stored tokens.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeAlias

import anyio
import structlog

from tokend.cache.lock import Locks
from tokend.cache.single_flight import SingleFlight
from tokend.core.clock import Clock
from tokend.core.errors import TokendError
from tokend.vault.errors import (
    ClientNotFound,
    ConnectionBroken,
    NoRefreshToken,
    NoToken,
    ProviderUnavailable,
)
from tokend.vault.events import Events, EventType
from tokend.vault.metrics import VaultMetrics
from tokend.vault.provider_client import AppCredentials, GrantRejected, ProviderClient
from tokend.vault.providers import Catalog
from tokend.vault.records import ClientRecord, ConnectionStatus, DueConnection, TokenRecord
from tokend.vault.settings import VaultSettings
from tokend.vault.stores import RefreshStore

log = structlog.get_logger("tokend.vault")


def _lock_name(client_pk: int) -> str:
    """The lock of one connection's refresh, the same for a validate and a sweep anywhere."""
    return f"vault:refresh:{client_pk}"


#: Statuses a refresh may start from: an exhausted connection is retried when asked to.
_REFRESHABLE: Final = frozenset({"active", "refresh_exhausted"})

_EventData: TypeAlias = Mapping[str, str | int | None]
_HeldEvent: TypeAlias = tuple[EventType, ClientRecord, _EventData | None]
#: A sweep's events, held while its connection is (``Refresher.sweep``); None outside one.
#: Tasks the sweep starts see the same list (a task copies the context, not the list).
_held_events: ContextVar[list[_HeldEvent] | None] = ContextVar("vault_held_events", default=None)


@dataclass(frozen=True, slots=True)
class _Outcome:
    token: TokenRecord
    #: False when the token was fresh enough, or someone else had refreshed it.
    did_refresh: bool


@dataclass(frozen=True, slots=True)
class SweepResult:
    due: int
    refreshed: int
    skipped: int
    failed: int


class Refresher:
    def __init__(
        self,
        *,
        store: RefreshStore,
        providers: ProviderClient,
        catalog: Catalog,
        locks: Locks,
        settings: VaultSettings,
        clock: Clock,
        metrics: VaultMetrics,
        events: Events,
        on_change: Callable[[int], Awaitable[None]],
    ) -> None:
        self._store = store
        self._providers = providers
        self._catalog = catalog
        self._locks = locks
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._events = events
        self._on_change = on_change
        self._flights = SingleFlight()

    async def ensure_fresh(self, client_pk: int) -> TokenRecord:
        """The token, refreshed first if it expires within the margin."""
        outcome = await self._flights.run(
            f"fresh:{client_pk}",
            lambda: self._refresh_locked(
                self._store, client_pk, seen=None, wait_s=self._settings.lock_wait_s
            ),
        )
        return outcome.token

    async def force(self, client_pk: int) -> TokenRecord:
        """Refresh now, unless someone refreshed since the current token was read."""
        current = await self._store.current_token(client_pk)
        if current is None:
            raise NoToken
        seen = current.generation
        outcome = await self._flights.run(
            f"force:{client_pk}:{seen}",
            lambda: self._refresh_locked(
                self._store, client_pk, seen=seen, wait_s=self._settings.lock_wait_s
            ),
        )
        return outcome.token

    async def sweep(self) -> SweepResult:
        """One pass of the background refresher over the connections due soon."""
        before = self._clock.now() + timedelta(seconds=self._settings.refresh_window_s)
        due = await self._store.claim_due(
            before, self._settings.refresh_batch_size, lease_s=self._settings.lock_ttl_s
        )
        counts = {"refreshed": 0, "skipped": 0, "failed": 0}
        if due:
            # Connections go in groups, each under locks taken in one go: one round trip for
            # the group instead of one per connection. Refreshes still start one by one as
            # slots free up; one group more than the slots need is held, read and ready.
            size = min(self._settings.refresh_lock_batch, self._settings.refresh_concurrency)
            limiter = anyio.CapacityLimiter(self._settings.refresh_concurrency)
            groups = anyio.CapacityLimiter(self._settings.refresh_concurrency // size + 1)
            # The batch's reads and writes share one held connection: see sweep_connection.
            # Its events are told once that connection is let go: recording a webhook delivery
            # needs a connection of its own, and SQLite's pool has only the one held here.
            held: list[_HeldEvent] = []
            holding = _held_events.set(held)
            try:
                async with self._store.pinned() as store:

                    async def one_group(group: Sequence[DueConnection]) -> None:
                        async with groups:
                            await self._jitter()
                            # Once its locks may be taken, a group runs to the end, releasing them
                            # only when its refreshes are stored, even if the sweep is cancelled.
                            with anyio.CancelScope(shield=True):
                                await self._sweep_group(store, group, limiter, counts)

                    async with anyio.create_task_group() as tasks:
                        for start in range(0, len(due), size):
                            tasks.start_soon(one_group, due[start : start + size])
            finally:
                _held_events.reset(holding)
            with anyio.CancelScope(shield=True):  # the refreshes are stored: so are their events
                await self._publish_held(held)
        await self._publish_gauge()
        return SweepResult(len(due), counts["refreshed"], counts["skipped"], counts["failed"])

    async def _jitter(self) -> None:
        # Jitter spreads a batch that all expires at once over a short while.
        jitter_s = self._settings.refresh_jitter_s
        if jitter_s > 0:
            await anyio.sleep(random.uniform(0, jitter_s))  # noqa: S311  (not cryptographic)

    async def _sweep_group(
        self,
        store: RefreshStore,
        group: Sequence[DueConnection],
        limiter: anyio.CapacityLimiter,
        counts: dict[str, int],
    ) -> None:
        by_lock = {_lock_name(item.client_pk): item for item in group}
        async with AsyncExitStack() as stack:
            try:
                # No waiting: a connection another replica is refreshing is skipped.
                names = await stack.enter_async_context(
                    self._locks.hold_free(by_lock, ttl_s=self._settings.lock_ttl_s)
                )
            except TokendError as exc:
                # The locks could not be asked for (Redis down): the group waits for a next
                # sweep, as each of its connections would have.
                log.warning("vault.sweep_locks_failed", connections=len(group), error=exc.code)
                counts["failed"] += len(group)
                return
            counts["skipped"] += len(by_lock) - len(names)
            mine = [item for name, item in by_lock.items() if name in names]
            if not mine:
                return
            # Read again under the locks: another replica may have refreshed meanwhile.
            found = await store.connections([item.client_pk for item in mine])
            async with anyio.create_task_group() as tasks:
                for item in mine:
                    tasks.start_soon(self._sweep_one, store, item, found, limiter, counts)

    async def _sweep_one(
        self,
        store: RefreshStore,
        item: DueConnection,
        found: Mapping[int, tuple[ClientRecord, TokenRecord | None]],
        limiter: anyio.CapacityLimiter,
        counts: dict[str, int],
    ) -> None:
        try:
            if item.client_pk not in found:
                raise ClientNotFound
            client, current = found[item.client_pk]
            async with limiter:
                outcome = await self._refresh_current(store, client, current, seen=item.generation)
        except TokendError as exc:
            # One connection's trouble (recorded on its row) must not stop the sweep.
            log.info("vault.sweep_refresh_failed", client_pk=item.client_pk, error=exc.code)
            counts["failed"] += 1
            return
        counts["refreshed" if outcome.did_refresh else "skipped"] += 1

    async def _refresh_locked(
        self, store: RefreshStore, client_pk: int, *, seen: int | None, wait_s: float
    ) -> _Outcome:
        async with self._locks.hold(
            _lock_name(client_pk), ttl_s=self._settings.lock_ttl_s, wait_s=wait_s
        ):
            # Read again under the lock: another replica may have refreshed meanwhile.
            client, current = await store.connection(client_pk)
            return await self._refresh_current(store, client, current, seen=seen)

    async def _refresh_current(
        self,
        store: RefreshStore,
        client: ClientRecord,
        current: TokenRecord | None,
        *,
        seen: int | None,
    ) -> _Outcome:
        """Refresh unless someone did already; under the connection's lock, with ``current``
        read after taking it. ``seen``: the generation the caller wants replaced (None: any
        token expiring within the margin)."""
        if current is None or current.status.value not in _REFRESHABLE:
            raise (
                NoToken
                if current is None
                else ConnectionBroken("The connection is broken. Please complete OAuth flow again.")
            )
        now = self._clock.now()
        if seen is not None and current.generation != seen:
            return _Outcome(current, did_refresh=False)
        if seen is None and not current.expires_within(now, self._settings.expiry_margin_s):
            return _Outcome(current, did_refresh=False)
        if current.refresh_token is None:
            raise NoRefreshToken
        return _Outcome(await self._refresh(store, client, current), did_refresh=True)

    async def _refresh(
        self, store: RefreshStore, client: ClientRecord, current: TokenRecord
    ) -> TokenRecord:
        provider = self._catalog.get(client.provider)
        if provider is None:
            raise ProviderUnavailable(internal=f"provider {client.provider!r} not in the catalog")
        assert current.refresh_token is not None
        app = AppCredentials(client.client_id, client.client_secret, client.redirect_uri)
        started = self._clock.monotonic()
        try:
            endpoints = await self._providers.endpoints(provider, client.issuer)
            tokens = await self._providers.refresh(provider, endpoints, app, current.refresh_token)
        except GrantRejected as refused:
            self._metrics.refreshes.labels(provider.name, "rejected").inc()
            await self._broken(store, client, current, refused.code)
            raise ConnectionBroken(f"Failed to refresh token: {refused.code}") from None
        except ProviderUnavailable as exc:
            self._metrics.refreshes.labels(provider.name, "transient").inc()
            await self._transient_failure(
                store, client, current, exc.internal or "provider unavailable"
            )
            raise
        finally:
            self._metrics.refresh_duration.labels(provider.name).observe(
                self._clock.monotonic() - started
            )
        # From here the provider may have retired the old refresh token: the write must happen
        # even if our caller gives up now.
        with anyio.CancelScope(shield=True):
            updated = await store.save_refreshed(current, tokens)
            if updated is not None:
                await self._on_change(client.id)
        if updated is None:
            # Only a bug (a write without the lock) gets here; the stored row is newer anyway.
            log.error("vault.refresh_lost_race", client_pk=client.id)
            raise ProviderUnavailable(internal="token row changed while the lock was held")
        self._metrics.refreshes.labels(provider.name, "refreshed").inc()
        log.info("vault.refreshed", client_pk=client.id, provider=provider.name)
        await self._publish(EventType.REFRESHED, client)
        return updated

    async def _broken(
        self, store: RefreshStore, client: ClientRecord, current: TokenRecord, code: str
    ) -> None:
        await store.mark(current, ConnectionStatus.BROKEN, code)
        await self._on_change(current.client_pk)
        log.warning("vault.connection_broken", client_pk=current.client_pk, error=code)
        await self._publish(EventType.BROKEN, client, {"error": code})

    async def _transient_failure(
        self, store: RefreshStore, client: ClientRecord, current: TokenRecord, reason: str
    ) -> None:
        failures = current.failure_count + 1
        exhausted = failures >= self._settings.max_refresh_failures
        delay_s = min(
            self._settings.retry_backoff_s * 2 ** (failures - 1), self._settings.retry_backoff_max_s
        )
        await store.record_failure(
            current, reason, self._clock.now() + timedelta(seconds=delay_s), exhausted=exhausted
        )
        log.warning("vault.refresh_failed", client_pk=current.client_pk, failures=failures)
        kind = EventType.EXHAUSTED if exhausted else EventType.REFRESH_FAILED
        await self._publish(kind, client, {"failures": failures})

    async def _publish(
        self, kind: EventType, client: ClientRecord, data: _EventData | None = None
    ) -> None:
        held = _held_events.get()
        if held is not None:  # in a sweep: told once its connection is let go (see sweep)
            held.append((kind, client, data))
            return
        await self._events.publish(kind, client, data)

    async def _publish_held(self, held: Sequence[_HeldEvent]) -> None:
        for kind, client, data in held:
            try:
                await self._events.publish(kind, client, data)
            except Exception:  # one event's trouble must not keep the others from going out
                log.exception("vault.event_publish_failed", client_pk=client.id, kind=kind.value)

    async def _publish_gauge(self) -> None:
        counts = await self._store.count_by_status()
        for state in ("active", "broken", "refresh_exhausted", "revoked", "superseded"):
            self._metrics.connections.labels(state).set(counts.get(state, 0))
