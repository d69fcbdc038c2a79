"""Consumer JWT credentials from the Kong Admin API (``API_GATEWAY``) or Konnect (``KONNECT``).

API_GATEWAY: ``GET {admin}/consumers/{id}/jwt`` with ``Kong-Admin-Token``.
KONNECT: ``GET {control-plane}/core-entities/consumers/{id}/jwt`` with a bearer personal token.
The first credential (``data[0]``) is used and must carry id, key, secret and the consumer's id.
404, an empty list or an incomplete credential means "no credential" (401 AUTH_002), which is an
answer, not an outage; connection errors, timeouts, 5xx and 429 are outages (breaker failures).
The call is a GET, so it is retried (seed: 2 attempts, 100 ms apart).
"""

from __future__ import annotations

import secrets
import time
from typing import Final
from urllib.parse import quote

import anyio
import httpx
import structlog
from opentelemetry import propagate

from tokend import __version__
from tokend.core.http import GuardedClient
from tokend.gateway.metrics import GatewayMetrics, SourceOutcome
from tokend.gateway.records import Credential
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.source_status import SourceTracker
from tokend.gateway.sources import SourceUnavailable

log = structlog.get_logger("tokend.gateway.kong")

#: Seed 004 provisioning: a new key on a 409 conflict, at most 3 times.
CREATE_ATTEMPTS: Final = 3
_ANSWERS: Final = frozenset({200, 201, 404, 409})


class KongAdminSource:
    name = "gateway:kong"
    span_name = "kong.getConsumerSecret"

    def __init__(
        self,
        http: GuardedClient,
        settings: GatewaySettings,
        metrics: GatewayMetrics,
        tracker: SourceTracker | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._metrics = metrics
        #: What the console's gateway page shows: last answer, last failure, consumers seen.
        self._tracker = tracker
        base = settings.kong_admin_url.rstrip("/")
        self._base = f"{base}/core-entities" if settings.kong_mode == "KONNECT" else base
        self._headers = {"Content-Type": "application/json", "User-Agent": f"tokend/{__version__}"}
        token = settings.kong_admin_token
        if token is not None:
            if settings.kong_mode == "KONNECT":
                self._headers["Authorization"] = f"Bearer {token.get_secret_value()}"
            else:
                self._headers["Kong-Admin-Token"] = token.get_secret_value()
        self._timeout = httpx.Timeout(settings.kong_timeout_s)

    async def ping(self, timeout_s: float) -> None:
        """Seed 004's health check: Kong's ``GET /status`` (Konnect: the control plane) answers.

        Any answer below 500 means Kong is there; raises SourceUnavailable otherwise."""
        url = f"{self._settings.kong_admin_url.rstrip('/')}"
        url = url if self._settings.kong_mode == "KONNECT" else f"{url}/status"
        headers = dict(self._headers)
        propagate.inject(headers)
        try:
            try:
                with anyio.fail_after(timeout_s):
                    response = await self._http.get(
                        url, headers=headers, timeout=httpx.Timeout(timeout_s)
                    )
            except (TimeoutError, httpx.TimeoutException):
                raise SourceUnavailable("Kong did not answer in time") from None
            except httpx.HTTPError as exc:  # unreachable, refused by the outbound policy, ...
                raise SourceUnavailable(f"Kong is unreachable ({type(exc).__name__})") from None
            if response.status_code >= 500:
                raise SourceUnavailable(f"Kong answered {response.status_code}")
        except SourceUnavailable as exc:
            self._failed(exc)
            raise
        if self._tracker is not None:
            self._tracker.succeeded()

    async def fetch(self, lookup: str) -> Credential | None:
        url = f"{self._base}/consumers/{quote(lookup, safe='')}/jwt"
        response = await self._call("get_consumer_secret", "GET", url)
        if response.status_code == 404:
            return None
        body = _json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise SourceUnavailable("Kong answered without a credential list")
        if not data:
            if not self._settings.create_missing_credentials:
                return None
            return self._seen(await self._create(lookup, url))
        return self._seen(_credential(data[0], lookup))

    def _seen(self, credential: Credential | None) -> Credential | None:
        if credential is not None and self._tracker is not None:
            self._tracker.saw(credential.consumer_id)
        return credential

    def _failed(self, error: SourceUnavailable) -> None:
        if self._tracker is not None:
            self._tracker.failed(str(error))  # SourceUnavailable's messages are safe to show

    async def _create(self, consumer_id: str, url: str) -> Credential | None:
        for _ in range(CREATE_ATTEMPTS):
            form = {"key": secrets.token_hex(16), "secret": secrets.token_hex(32)}
            response = await self._call("create_consumer_secret", "POST", url, json=form)
            if response.status_code == 409:  # the key is taken: try another one
                continue
            if response.status_code == 404:
                return None
            log.info("gateway.kong.credential_created", consumer_id=consumer_id)
            return _credential(_json(response), consumer_id)
        raise SourceUnavailable("Kong refused every new credential key (409)")

    async def _call(
        self, operation: str, method: str, url: str, json: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = dict(self._headers)
        propagate.inject(headers)  # W3C traceparent of the current span
        # Only the GET is retried: a POST that timed out may have created the credential.
        attempts = self._settings.kong_attempts if method == "GET" else 1
        error = SourceUnavailable("Kong was not called")
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            outcome: SourceOutcome = "error"
            try:
                with anyio.fail_after(self._settings.kong_timeout_s):
                    response = await self._http.request(
                        method, url, headers=headers, json=json, timeout=self._timeout
                    )
                if response.status_code in _ANSWERS:
                    outcome = "not_found" if response.status_code == 404 else "ok"
                    if self._tracker is not None:
                        self._tracker.succeeded()
                    return response
                # 5xx and 429 are outages; 401/403 (a bad admin token) as well: no answer.
                raise SourceUnavailable(f"Kong answered {response.status_code}")
            except (TimeoutError, httpx.TimeoutException):
                outcome = "timeout"
                error = SourceUnavailable("Kong did not answer in time")
            except httpx.TransportError as exc:
                outcome = "unreachable"
                error = SourceUnavailable(f"Kong is unreachable ({type(exc).__name__})")
            except SourceUnavailable as exc:
                error = exc
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.source_calls.labels(self.name, operation, outcome).observe(elapsed)
            if attempt < attempts:
                log.info("gateway.kong.retry", operation=operation, error=str(error))
                await anyio.sleep(self._settings.kong_retry_backoff_s * attempt)
        self._failed(error)
        raise error


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        raise SourceUnavailable("Kong answered with malformed JSON") from None


def _credential(item: object, consumer_id: str) -> Credential | None:
    if not isinstance(item, dict):
        return None
    key, secret, consumer = item.get("key"), item.get("secret"), item.get("consumer")
    owner = consumer.get("id") if isinstance(consumer, dict) else None
    if not (isinstance(key, str) and key and isinstance(secret, str) and secret):
        return None
    if not (secret.isprintable() and key.isprintable()):
        return None  # not usable as an HMAC key the way Kong's plugin reads it (lone surrogates)
    if not item.get("id") or owner != consumer_id:
        # Seed 004: a credential of another consumer is never used for this one.
        return None
    return Credential(consumer_id=consumer_id, key=key, secret=secret)
