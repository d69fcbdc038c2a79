"""Connection events: logged, and POSTed to the client's webhook, signed, through the jobs.

The body is JSON ``{id, type, client_id, occurred_at, data}``; the signature header is
``Tokend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` so a receiver
can refuse replays by the timestamp (``core.webhook_signature``, shared with the provider's CIBA
device webhook). Events never carry tokens or secrets.

Each event and how its delivery went is kept (``stores.WebhookDeliveries``) for
``DELIVERIES_KEPT_S``: the console lists a client's latest and can send one again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Final

import httpx
import structlog

from tokend.core.clock import Clock
from tokend.core.crypto import random_id
from tokend.core.http import GuardedClient, OutboundRefused
from tokend.core.webhook_signature import SIGNATURE_HEADER, sign
from tokend.jobs.base import Jobs, JobSpec
from tokend.vault.errors import ClientNotFound
from tokend.vault.metrics import VaultMetrics
from tokend.vault.records import ClientRecord, DeliveryStatus, WebhookDelivery
from tokend.vault.stores import WebhookDeliveries

log = structlog.get_logger("tokend.vault")

WEBHOOK_JOB: Final = "vault.webhook"
#: The jobs backend tries a delivery this often in all (the job's ``max_retries`` + 1).
WEBHOOK_ATTEMPTS: Final = 6
#: How long an event's delivery is kept for the console (the sweep forgets older ones).
DELIVERIES_KEPT_S: Final = 7 * 86400


class EventType(StrEnum):
    CONNECTED = "connection.connected"
    REFRESHED = "connection.refreshed"
    REFRESH_FAILED = "connection.refresh_failed"
    BROKEN = "connection.broken"
    EXHAUSTED = "connection.refresh_exhausted"
    REVOKED = "connection.revoked"


class WebhookFailed(Exception):
    """The receiver did not take the event; the job retries with backoff."""


class Events:
    """Publish an event: a structlog line now, a webhook delivery job for the client."""

    def __init__(
        self,
        jobs: Callable[[], Jobs],
        clock: Clock,
        deliveries: WebhookDeliveries | None = None,
    ) -> None:
        self._jobs = jobs
        self._clock = clock
        self._deliveries = deliveries

    async def publish(
        self,
        kind: EventType,
        client: ClientRecord,
        data: Mapping[str, str | int | None] | None = None,
    ) -> None:
        log.debug("vault.event", event_type=kind.value, client_pk=client.id, **(data or {}))
        if client.webhook_url is None:
            return  # nobody to tell: no job at all (a sweep may publish thousands)
        event = {
            "id": random_id("evt_"),
            "type": kind.value,
            "client_id": client.id,
            "occurred_at": self._clock.now().isoformat(),
            "data": dict(data or {}),
        }
        if self._deliveries is not None:
            await self._deliveries.queued(client.id, event, self._clock.now())
        await self._jobs().enqueue(WEBHOOK_JOB, event=event)

    async def redeliver(self, event_id: str) -> WebhookDelivery | None:
        """Queue a kept event again, as it was first sent (same id: a receiver that took it
        already can tell); None when no such event is kept."""
        if self._deliveries is None:
            return None
        found = await self._deliveries.get(event_id)
        if found is None:
            return None
        await self._deliveries.queued(found.client_pk, found.event, self._clock.now())
        await self._jobs().enqueue(WEBHOOK_JOB, event=dict(found.event))
        log.info("vault.event_redelivered", event_id=event_id, client_pk=found.client_pk)
        return found


def webhook_job(
    client: Callable[[int], Awaitable[ClientRecord]],
    http: Callable[[], GuardedClient],
    clock: Clock,
    timeout_s: float,
    metrics: VaultMetrics,
    deliveries: Callable[[], WebhookDeliveries] | None = None,
) -> JobSpec:
    """The job that delivers one event through the guarded client (no redirects followed, no
    receiver the outbound policy refuses); a failure raises so the jobs backend retries it.
    Each attempt's outcome is kept (``deliveries``)."""

    async def outcome(
        event: dict[str, object],
        status: DeliveryStatus,
        code: int | None = None,
        error: str | None = None,
    ) -> None:
        event_id = event.get("id")
        if deliveries is None or not isinstance(event_id, str):
            return
        store = deliveries()
        if status is DeliveryStatus.RETRYING:
            kept = await store.get(event_id)
            if kept is not None and kept.attempts + 1 >= WEBHOOK_ATTEMPTS:
                status = DeliveryStatus.FAILED  # the jobs backend tries no more
        await store.attempted(event_id, status, clock.now(), code, error)

    async def deliver(event: dict[str, object]) -> None:
        client_pk = event.get("client_id")
        if not isinstance(client_pk, int):
            return
        try:
            target = await client(client_pk)
        except ClientNotFound:
            return
        if target.webhook_url is None or target.webhook_secret is None:
            return
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(target.webhook_secret, int(clock.now().timestamp()), body),
        }
        try:
            response = await http().post(
                target.webhook_url, content=body, headers=headers, timeout=timeout_s
            )
        except OutboundRefused as exc:
            # The outbound policy refuses the receiver (an address stored before the policy, or
            # a name that now resolves inside): retrying cannot help, the event is dropped.
            metrics.webhooks.labels("refused").inc()
            log.warning("vault.webhook_refused", client_pk=client_pk, reason=str(exc))
            await outcome(event, DeliveryStatus.REFUSED, error="refused by the outbound policy")
            return
        except httpx.HTTPError as exc:
            metrics.webhooks.labels("retry").inc()
            await outcome(event, DeliveryStatus.RETRYING, error=type(exc).__name__)
            raise WebhookFailed(f"{type(exc).__name__} posting event") from None
        if response.status_code >= 300:
            metrics.webhooks.labels("retry").inc()
            await outcome(event, DeliveryStatus.RETRYING, code=response.status_code)
            raise WebhookFailed(f"webhook answered {response.status_code}")
        metrics.webhooks.labels("delivered").inc()
        await outcome(event, DeliveryStatus.DELIVERED, code=response.status_code)

    return JobSpec(WEBHOOK_JOB, deliver, timeout_s=timeout_s * 2, max_retries=WEBHOOK_ATTEMPTS - 1)
