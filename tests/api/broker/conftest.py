"""A real all-in-one tokend (broker + demo operators) served over HTTP on a free port.

The demo directory points the broker at its own in-process operators over loopback HTTP, so
these apps are served by uvicorn rather than through an in-process transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.e2e.server import free_port
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings
from tokend.store.settings import DatabaseSettings

Serve = Callable[..., Any]


@pytest.fixture
def serve_tokend(settings: Settings, demo_database_settings: DatabaseSettings) -> Serve:
    """``with serve_tokend(**overrides) as base_url``: the app on its own port, demo data on
    (in the session's demo database)."""

    @contextmanager
    def serve(**overrides: Any) -> Iterator[str]:
        port = free_port()
        data = settings.model_dump(mode="python")
        data.update(
            demo_data=True,
            database=demo_database_settings,
            server={"host": "127.0.0.1", "port": port},
            **overrides,
        )
        app = create_app(Settings.model_validate(data))
        with serving(app, port=port) as base_url:
            yield base_url

    return serve


@pytest.fixture
async def demo(serve_tokend: Serve) -> AsyncIterator[httpx.AsyncClient]:
    with serve_tokend() as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client
