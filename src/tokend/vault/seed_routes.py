"""What seed 001 answers besides its token routes when the vault is served alone
(``tokend serve --only vault``): ``GET /`` describes the service, ``GET /health`` has the seed's
shape with the database checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import anyio
import structlog
from fastapi import APIRouter

from tokend import __version__
from tokend.core.routing import api_router
from tokend.runtime import Runtime

log = structlog.get_logger("tokend.vault")

#: Seed 001's ``APP_NAME``, the name its clients see in ``GET /`` and ``GET /health``.
SERVICE_NAME: Final = "Token Generation Service"
DATABASE_TIMEOUT_S: Final = 2.0


def service_root_router(runtime: Runtime) -> APIRouter:
    router = api_router(tags=["vault"])

    @router.get("/", summary="Service description (seed 001)")
    async def root() -> dict[str, str]:
        return {
            "service": SERVICE_NAME,
            "version": __version__,
            "status": "running",
            "environment": runtime.site.env.value,
        }

    return router


async def health_answer(runtime: Runtime) -> tuple[int, Mapping[str, object]]:
    """Seed 001 ``GET /health``: ``healthy`` while the database answers, else ``unhealthy``;
    200 either way as the seed (``GET /ready`` is the probe that fails)."""
    try:
        with anyio.fail_after(DATABASE_TIMEOUT_S):
            await runtime.resources.database.ping()
        database = "connected"
    except Exception as exc:  # any failure is "disconnected"; the reason is logged
        log.warning("vault.health_database", error=type(exc).__name__)
        database = "disconnected"
    body = {
        "status": "healthy" if database == "connected" else "unhealthy",
        "service": SERVICE_NAME,
        "version": __version__,
        "timestamp": runtime.clock.now().isoformat().replace("+00:00", "Z"),
        "database": database,
    }
    return 200, body
