"""The request-context layer's bookkeeping: the request id on every log line of a request, and
the requests-in-flight gauge, counted in place in one process and in the workers' files with
several."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
import structlog
from prometheus_client import CollectorRegistry, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokend.core.environment import Environment
from tokend.core.surfaces import SurfaceResolver
from tokend.obs.logging import configure_logging
from tokend.obs.metrics import MULTIPROCESS_DIR, HttpMetrics, LiveCount
from tokend.obs.middleware import RequestContextMiddleware
from tokend.obs.settings import LogSettings


def _scope(request_id: str | None = None) -> Scope:
    headers = [(b"x-request-id", request_id.encode())] if request_id else []
    return {"type": "http", "method": "GET", "path": "/inside", "headers": headers}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


def _layer(app: ASGIApp, metrics: HttpMetrics) -> RequestContextMiddleware:
    # No surface resolver: only a crash would render an answer, and these apps do not crash.
    no_resolver = cast("SurfaceResolver", None)
    return RequestContextMiddleware(
        app, metrics=metrics, resolver=no_resolver, version="t", access_log=None
    )


def _in_flight(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("http_requests_in_progress", {"method": "GET"})


async def test_a_line_logged_inside_a_request_carries_its_id_and_none_after_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(format="json", level="info"), Environment.PRODUCTION)
    log = structlog.get_logger("tokend.test")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        log.info("inside")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    layer = _layer(app, HttpMetrics.register(CollectorRegistry()))
    await layer(_scope("req-42"), _receive, _send)
    await layer(_scope(), _receive, _send)
    log.info("outside")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line]
    events = [(line["event"], line.get("request_id")) for line in lines]
    assert events[0] == ("inside", "req-42")
    generated = events[1][1]
    assert events[1][0] == "inside"
    assert isinstance(generated, str)
    assert len(generated) == 32
    assert events[2] == ("outside", None)


async def test_requests_in_flight_are_counted_while_answered_and_read_when_scraped() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics.register(registry)
    seen: list[float | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(_in_flight(registry))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    layer = _layer(app, metrics)
    await layer(_scope(), _receive, _send)
    outer = metrics.in_flight("GET")
    outer.inc()  # as if another request were being answered
    await layer(_scope(), _receive, _send)
    outer.dec()
    assert seen == [1.0, 2.0]
    assert _in_flight(registry) == 0.0
    assert isinstance(metrics.in_flight("GET"), LiveCount)


def test_with_several_workers_the_count_is_the_workers_file_backed_gauge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    metrics = HttpMetrics.register(CollectorRegistry())
    # A LiveCount lives in one process's memory: the multiprocess collector, which reads the
    # workers' files, would never see it.
    assert isinstance(metrics.in_flight("GET"), Gauge)
