"""Standalone consumers: tokend's own table, looked up by the hash of the caller's API key."""

from __future__ import annotations

import time

from sqlalchemy.exc import SQLAlchemyError

from tokend.core.crypto import DecryptionFailed
from tokend.gateway.metrics import GatewayMetrics, SourceOutcome
from tokend.gateway.records import Credential
from tokend.gateway.source_status import SourceTracker
from tokend.gateway.sources import SourceUnavailable
from tokend.gateway.stores import ConsumerStore


class LocalSource:
    name = "gateway:local"
    span_name = "local.getConsumerSecret"

    def __init__(
        self, store: ConsumerStore, metrics: GatewayMetrics, tracker: SourceTracker | None = None
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._tracker = tracker

    async def fetch(self, lookup: str) -> Credential | None:
        started = time.perf_counter()
        outcome: SourceOutcome = "error"
        try:
            credential = await self._store.credential_by_key_hash(lookup)
            outcome = "ok" if credential is not None else "not_found"
            if self._tracker is not None:
                self._tracker.succeeded()
                if credential is not None:
                    self._tracker.saw(credential.consumer_id)
            return credential
        except (SQLAlchemyError, OSError) as exc:
            error = SourceUnavailable(f"consumer table unavailable ({type(exc).__name__})")
            if self._tracker is not None:
                self._tracker.failed(str(error))
            raise error from None
        except DecryptionFailed:
            # Encrypted under a secret key no longer configured: unusable, like no credential.
            outcome = "not_found"
            return None
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.source_calls.labels(self.name, "get_consumer_secret", outcome).observe(
                elapsed
            )
