"""Wiring of the error hierarchy into HTTP: each route belongs to a Surface that renders errors.

Routes never build error bodies: they raise, and the handler installed here asks the route's
surface (or, for paths no route matched, the surface owning the path prefix) to render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from tokend.core.errors import (
    PROBLEM,
    SERVER_ERROR_TEXT,
    ErrorContext,
    Surface,
    TokendError,
    error_for_status,
    validation_error,
)

log = structlog.get_logger("tokend.errors")


class SurfaceRoute(APIRoute):
    surface: ClassVar[Surface] = PROBLEM


def surface_router(surface: Surface, **kwargs: Any) -> APIRouter:
    """An APIRouter whose routes render their errors with ``surface``."""
    route_class = type(f"{surface.name.title()}Route", (SurfaceRoute,), {"surface": surface})
    return APIRouter(route_class=route_class, **kwargs)


@dataclass(frozen=True, slots=True)
class SurfaceResolver:
    default: Surface
    #: (path prefix, surface), longest prefix first; used when no route matched.
    prefixes: Sequence[tuple[str, Surface]] = ()

    def for_scope(self, scope: Scope) -> Surface:
        surface = getattr(scope.get("route"), "surface", None)
        if isinstance(surface, Surface):
            return surface
        path: str = scope.get("path", "")
        for prefix, owner in self.prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return owner
        return self.default


def request_id_of(scope: Scope) -> str:
    state: Mapping[str, Any] = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def render_error(
    error: TokendError, scope: Scope, resolver: SurfaceResolver, version: str
) -> Response:
    ctx = ErrorContext(request_id=request_id_of(scope), path=scope.get("path", ""), version=version)
    if error.status >= 500:
        log.error("request.failed", error=error.code, status=error.status, internal=error.internal)
    else:
        log.info("request.rejected", error=error.code, status=error.status, internal=error.internal)
    return resolver.for_scope(scope).render(error, ctx)


def render_unexpected(scope: Scope, resolver: SurfaceResolver, version: str) -> Response:
    """The body for an exception outside the hierarchy: fixed text and the request id."""
    return render_error(TokendError(SERVER_ERROR_TEXT), scope, resolver, version)


def install_error_handlers(app: FastAPI, resolver: SurfaceResolver, version: str) -> None:
    async def on_tokend_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TokendError)
        return render_error(exc, request.scope, resolver, version)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = error_for_status(exc.status_code)
        if exc.headers:
            error.headers = {**error.headers, **exc.headers}
        return render_error(error, request.scope, resolver, version)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return render_error(validation_error(exc.errors()), request.scope, resolver, version)

    app.add_exception_handler(TokendError, on_tokend_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
