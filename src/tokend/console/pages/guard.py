"""The guard: the issuers it trusts and their key caches (source, keys, age, hits, fetches);
clear the fetched ones (the next token makes the guard fetch them again). The service is the
guard.s own validator, which its ``/guard/cache/clear`` route clears too."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Console
from tokend.guard.validator import JWTValidator


def guard_router(console: Console, validator: Callable[[], JWTValidator]) -> APIRouter:
    router = console.router()

    @router.get("/console/guard")
    async def issuers(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return console.render(
            admin, "guard.html", caches=validator().cache_info(),
            notice=request.query_params.get("notice"),
        )  # fmt: skip

    @router.post("/console/guard/clear")
    async def clear(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        cleared = validator().clear()
        console.record(admin, "guard_jwks_cleared", ", ".join(cleared))
        return console.done("/console/guard", f"Cleared the keys of {len(cleared)} issuer(s).")

    return router
