"""``GET /health`` (the process answers) and ``GET /ready`` (its database and cache answer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio
import structlog
from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.routing import api_router

log = structlog.get_logger("tokend.health")

#: A readiness check raises when its dependency cannot serve; it returns a short status word.
ReadinessCheck = Callable[[], Awaitable[str]]

READY_TIMEOUT_S = 2.0
_HEALTH_BODY = b'{"status":"ok"}'


#: A capability's own ``/health`` answer: status code and body (``Capability.seed_health``).
HealthAnswer = Callable[[], Awaitable[tuple[int, Mapping[str, object]]]]


def health_router(
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    details: Sequence[Callable[[], Mapping[str, object]]] = (),
    answer: HealthAnswer | None = None,
) -> APIRouter:
    """Probes; ``details`` add members to the /health body but never make it fail; ``answer``
    replaces the /health answer (a capability served alone answers in its seed's shape)."""
    router = api_router(tags=["health"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> Response:
        if answer is not None:
            status, answered = await answer()
            return JSONResponse(dict(answered), status_code=status, headers=NO_STORE)
        if not details:
            return Response(_HEALTH_BODY, media_type="application/json")
        body: dict[str, object] = {"status": "ok"}
        for detail in details:
            body.update(detail())
        return Response(rendered(body), media_type="application/json")

    # The details change seldom (a breaker's state, its last success), and comparing them costs
    # a tenth of rendering them: the last answer's bytes serve while they are the same.
    last: list[tuple[dict[str, object], bytes]] = []

    def rendered(body: dict[str, object]) -> bytes:
        if last and last[0][0] == body:
            return last[0][1]
        data = bytes(JSONResponse(body).body)  # rendered as JSONResponse renders
        last[:] = [(body, data)]
        return data

    @router.get(
        "/ready",
        summary="Readiness: database and cache answer",
        responses={503: {"description": "A dependency is not ready; `checks` says which"}},
    )
    async def ready() -> Response:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                with anyio.fail_after(READY_TIMEOUT_S):
                    results[name] = await check()
            except Exception as exc:  # any failure means "not ready"; the reason is logged
                log.warning("ready.check_failed", check=name, error=type(exc).__name__)
                results[name] = f"unavailable: {type(exc).__name__}"
        is_ready = all(not value.startswith("unavailable") for value in results.values())
        return JSONResponse(
            {"status": "ok" if is_ready else "unavailable", "checks": results},
            status_code=200 if is_ready else 503,
            headers=NO_STORE,
        )

    return router
