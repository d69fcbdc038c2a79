"""Wiring of the error hierarchy into HTTP: each route belongs to a Surface that renders errors.

Routes never build error bodies: they raise, and the handler installed here asks the route's
surface (or, for paths no route matched, the surface owning the path prefix) to render.

A :class:`SurfaceRoute` also holds what must happen before its body is read: its body limit
(``max_body_bytes``, enforced by ``core.body_limit``), the :class:`BeforeBody` checks among its
dependencies (admin authentication: FastAPI itself reads and parses a body before it solves any
dependency), and the parsing of a JSON body with ``core.json_input``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
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
from tokend.core.json_input import InvalidJson, parse_json
from tokend.core.routing import LazyRoute, api_router

log = structlog.get_logger("tokend.errors")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@runtime_checkable
class BeforeBody(Protocol):
    """A dependency whose check a :class:`SurfaceRoute` runs before it reads the body.

    FastAPI reads and parses the whole body before it solves dependencies, so a check that
    must turn a caller away first (authentication) declares ``before_body``; the dependency
    itself still runs in its turn and answers what the check found.
    """

    async def before_body(self, request: Request) -> None: ...


class SurfaceRoute(LazyRoute):
    surface: ClassVar[Surface] = PROBLEM
    #: The most body bytes the route reads; None: the app's default (``core.body_limit``).
    max_body_bytes: ClassVar[int | None] = None

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        checks = tuple(_before_body_checks(self.dependant))
        takes_json = self.body_field is not None

        async def checked(request: Request) -> Response:
            for check in checks:
                await check.before_body(request)
            if takes_json:
                await _parse_json_body(request)
            return await handler(request)

        return checked if checks or takes_json else handler


def surface_router(
    surface: Surface, *, max_body_bytes: int | None = None, **kwargs: Any
) -> APIRouter:
    """An APIRouter whose routes render their errors with ``surface`` and read at most
    ``max_body_bytes`` of a body (None: the app's default)."""
    attributes = {"surface": surface, "max_body_bytes": max_body_bytes}
    route_class = type(f"{surface.name.title()}Route", (SurfaceRoute,), attributes)
    return api_router(route_class=route_class, **kwargs)


def _before_body_checks(dependant: Dependant) -> Iterator[BeforeBody]:
    for dependency in dependant.dependencies:
        yield from _before_body_checks(dependency)
        if isinstance(dependency.call, BeforeBody):
            yield dependency.call


async def _parse_json_body(request: Request) -> None:
    """Parse a JSON body with ``core.json_input`` (bounded depth) before FastAPI does."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        return  # FastAPI does not parse it as JSON either (strict content type)
    body = await request.body()
    if not body:
        return
    try:
        value = parse_json(body)
    except InvalidJson as exc:
        # The entry FastAPI writes for a body that is not JSON (a 422, field errors).
        # Not UTF-8 or nested too deeply has no position; a syntax error has (FastAPI's entry).
        where: tuple[str | int, ...] = ("body",) if exc.position is None else ("body", exc.position)
        message = exc.reason if exc.position is None else "JSON decode error"
        entry: dict[str, object] = {"loc": where, "msg": message, "type": "json_invalid"}
        raise validation_error([entry]) from None
    # Starlette keeps a request's parsed JSON here and FastAPI reads it through
    # Request.json(); stored, the body is not parsed a second time by json.loads.
    request._json = value


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


def render_unexpected(
    scope: Scope, resolver: SurfaceResolver, version: str, error: TokendError | None = None
) -> Response:
    """The body for an exception outside the hierarchy: ``error`` when the caller knows what it
    means (a database outage), else fixed text and the request id."""
    return render_error(error or TokendError(SERVER_ERROR_TEXT), scope, resolver, version)


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
