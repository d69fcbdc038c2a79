"""The lean request path: hot endpoints reached by a dict lookup instead of FastAPI's stack.

FastAPI costs every request its own middleware stack (ServerErrorMiddleware, exception
telemetry, its body-limit wrapper, ExceptionMiddleware, an AsyncExitStack), a walk over the
included routers and dependency solving before the endpoint runs: about half of a
client_credentials request (py-spy, ``bench/results/profile-summaries``). The hot endpoints
(token, introspection, revocation, JWKS, discovery, userinfo, the gateway's and the broker's
token endpoints, ``/health``) take nothing but the :class:`~starlette.requests.Request` and
answer a ready :class:`~starlette.responses.Response`, so none of that work does anything for
them.

:class:`TokendApp` is the FastAPI app with one front: tokend's own pure-ASGI layers (trusted
proxy headers, request id + metrics + access log, body limit) and then :class:`LeanDispatch`,
which looks ``(method, path)`` up in a dict of the hot routes and calls **the FastAPI route's own
endpoint function** with a ``Request``; every other request goes on to FastAPI. The lean path is
an adapter, not a second implementation: the route stays registered (the OpenAPI document is
unchanged), ``scope["route"]`` is the same route object FastAPI would have matched (so its
surface renders errors, its body limit applies and metrics carry its template), and exceptions
go through the app's own exception handlers.

A route is served lean only when its endpoint takes nothing FastAPI would solve: the request or
nothing, no dependencies (its own or its routers'), no path parameters. A hot route that grows
a FastAPI parameter quietly goes back to FastAPI (``tests/api/test_lean_path.py`` says which
hot routes are lean). A hot route with a dependency or a last path parameter (the vault's
``/tokens/validate/{client_id}``) is lean through its **twin** (:func:`lean_twin`): a function
of the request that does what FastAPI would solve for the common request (the parameter, the
caller) with the capability's own checks, and answers None for any other, which FastAPI then
answers; both call the same code for the answer. ``server.lean_path=false`` sends everything
through FastAPI, and so does tracing (OpenTelemetry instruments FastAPI's stack).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Any]]
ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]
#: A route's lean twin: its answer to the request, or None to leave the request to FastAPI.
Twin = Callable[[Request], Awaitable[Response | None]]
_TWIN: Final = "__tokend_lean_twin__"


def lean_twin(endpoint: Callable[..., Any]) -> Callable[[Twin], Twin]:
    """Declare the decorated function the lean twin of FastAPI endpoint ``endpoint``."""

    def declare(twin: Twin) -> Twin:
        setattr(endpoint, _TWIN, twin)
        return twin

    return declare


def twin_of(route: APIRoute) -> Twin | None:
    twin = getattr(route.endpoint, _TWIN, None)
    return twin if callable(twin) else None


#: The hot endpoints, as paths relative to their capability's mount (``app.MOUNTS``), by
#: capability; ``""`` is the app's own routes (health, JWKS).
HOT_ROUTES: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "": (("GET", "/health"), ("GET", "/.well-known/jwks.json")),
    "oidc": (
        ("POST", "/token"),
        ("POST", "/introspect"),
        ("POST", "/revoke"),
        ("GET", "/userinfo"),
        ("POST", "/userinfo"),
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/.well-known/oauth-authorization-server"),
    ),
    "gateway": (("GET", "/tokens"), ("GET", "/tokens/validate")),
    "broker": (("POST", "/api/demo/token"),),
    "vault": (("GET", "/tokens/validate/{client_id}"),),
    "guard": (("GET", "/auth/me"),),
}


@dataclass(frozen=True, slots=True)
class HotRoute:
    route: APIRoute
    #: The route's endpoint, given the request if it takes it (under the name it declared).
    call: Endpoint

    #: The path parameter a templated route (``…/{name}``) takes from the last segment.
    parameter: str | None = None

    @classmethod
    def of(cls, route: APIRoute) -> HotRoute:
        twin = twin_of(route)
        if twin is not None:
            return cls(route, twin, _last_parameter(route.path))
        endpoint = route.endpoint
        name = route.dependant.request_param_name
        if name is None:
            return cls(route, lambda _request: endpoint())
        if name == _only_parameter(endpoint):
            return cls(route, endpoint)
        return cls(route, lambda request: endpoint(**{name: request}))


def _last_parameter(path: str) -> str | None:
    """``name`` for a path whose only parameter is its whole last segment (``/a/{name}``)."""
    head, _, last = path.rpartition("/")
    if "{" in head or not (last.startswith("{") and last.endswith("}")):
        return None
    name = last[1:-1]
    return name if name.isidentifier() else None


def _only_parameter(endpoint: Callable[..., Any]) -> str | None:
    code = getattr(endpoint, "__code__", None)
    if code is None or code.co_argcount != 1 or code.co_kwonlyargcount:
        return None
    return str(code.co_varnames[0])


def walk_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute, bool]]:
    """Every APIRoute of ``app`` with its full path and whether an include gave it dependencies.

    FastAPI (0.16x) keeps an included router as one ``_IncludedRouter`` route holding the
    original router and its include context (prefix, dependencies); at request time it puts
    the original route in ``scope["route"]``, which is what is collected here.
    """

    def walk(
        routes: Iterable[Any], prefix: str, inherited: bool
    ) -> Iterator[tuple[str, Any, bool]]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route, inherited
                continue
            original = getattr(route, "original_router", None)
            context = getattr(route, "include_context", None)
            if original is None or context is None:
                continue
            yield from walk(
                original.routes,
                prefix + str(getattr(context, "prefix", "")),
                inherited or bool(getattr(context, "dependencies", None)),
            )

    yield from walk(app.router.routes, "", False)


def is_lean(route: APIRoute) -> bool:
    """Whether FastAPI would hand ``route``'s endpoint the request and nothing else."""
    dependant = route.dependant
    return (
        not dependant.dependencies
        and not dependant.path_params
        and not dependant.query_params
        and not dependant.header_params
        and not dependant.cookie_params
        and not dependant.body_params
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
        and dependant.websocket_param_name is None
        and route.body_field is None
        and "{" not in route.path
        # FastAPI runs a plain function in its thread pool; only coroutines are called here.
        and inspect.iscoroutinefunction(route.endpoint)
    )


def hot_table(app: FastAPI, prefixes: Mapping[str, str]) -> dict[tuple[str, str], HotRoute]:
    """``(method, full path) → route`` for the hot routes of ``app`` that can be served lean;
    ``prefixes`` says where each mounted capability sits (``""`` for the app's own)."""
    wanted: set[tuple[str, str]] = set()
    for capability, routes in HOT_ROUTES.items():
        if capability not in prefixes:
            continue
        for method, path in routes:
            wanted.add((method, prefixes[capability] + path))
    table: dict[tuple[str, str], HotRoute] = {}
    for path, route, inherited in walk_routes(app):
        # The route's methods and path first: its signature is solved only for a hot route
        # (core.routing.LazyRoute builds a route on its first use).
        keys = [(method, path) for method in route.methods or () if (method, path) in wanted]
        if not keys or inherited:
            continue
        if twin_of(route) is not None:
            if "{" in route.path and _last_parameter(route.path) is None:
                continue  # a twin takes one parameter, the whole last segment
        elif not is_lean(route):
            continue
        for key in keys:
            # The first route registered for a path wins, as in FastAPI's own matching.
            if key not in table:
                table[key] = HotRoute.of(route)
    return table


Exact = Mapping[tuple[str, str], HotRoute]
#: By method and the path before the parameter: the route and the parameter's name.
Templated = Mapping[tuple[str, str], tuple[HotRoute, str]]


class LeanDispatch:
    """The hot routes by ``(method, path)``; anything else to ``fallback`` (FastAPI)."""

    def __init__(
        self,
        fallback: ASGIApp,
        app: FastAPI,
        table: Callable[[], Mapping[tuple[str, str], HotRoute]],
    ) -> None:
        self.fallback = fallback
        self.app = app
        self._build_table = table
        self._tables: tuple[Exact, Templated] | None = None

    def _split(self) -> tuple[Exact, Templated]:
        """The hot routes by method and path, and those with a last path parameter (with its
        name) by method and the path before it: a path that spells ``{name}`` out is not
        theirs. Built on the first request: every route is registered by then."""
        if self._tables is None:
            table = self._build_table()
            exact = {key: hot for key, hot in table.items() if hot.parameter is None}
            templated = {
                (method, path[: path.rindex("{")]): (hot, hot.parameter)
                for (method, path), hot in table.items()
                if hot.parameter is not None
            }
            self._tables = (exact, templated)
        return self._tables

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = None
        path_params: dict[str, str] = {}
        if scope["type"] == "http" and not scope.get("root_path"):
            exact, templated = self._split()
            method, path = scope["method"], scope["path"]
            hot = exact.get((method, path))
            if hot is None and templated:
                head, _, last = path.rpartition("/")
                found = templated.get((method, head + "/")) if last else None
                if found is not None:
                    hot, name = found
                    path_params = {name: last}
        if hot is None:
            await self.fallback(scope, receive, send)
            return
        # What FastAPI's router and route would have put in the scope.
        scope["route"] = hot.route
        scope["endpoint"] = hot.route.endpoint
        scope["path_params"] = path_params
        scope["router"] = self.app.router  # Request.url_for's
        request = Request(scope, receive, send)
        try:
            response = await hot.call(request)
        except Exception as exc:
            handler = self.handler_for(exc)
            if handler is None:
                raise  # as out of FastAPI: RequestContextMiddleware answers it
            handled = handler(request, exc)
            response = await handled if inspect.isawaitable(handled) else handled
        if response is None:  # a twin's: a request it leaves to FastAPI
            await self.fallback(scope, receive, send)
            return
        if not isinstance(response, Response):  # is_lean routes answer a Response
            raise TypeError(f"{hot.route.path} answered {type(response).__name__}")
        await response(scope, receive, send)

    def handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The app's handler for ``exc``, looked up as Starlette's ExceptionMiddleware does."""
        handlers = self.app.exception_handlers
        if isinstance(exc, StarletteHTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


class TokendApp(FastAPI):
    """FastAPI with tokend's pure-ASGI front (``front``) ahead of its own stack.

    ``front`` receives an ASGI app to call for what it does not answer itself and returns the
    front; it is built on the first request, after every route and middleware is in place.
    """

    front_factory: Callable[[ASGIApp], ASGIApp] | None = None
    _front: ASGIApp | None = None
    #: Freeze what start-up built out of the garbage collector's sight once started
    #: (``tokend.app.freeze_startup_objects``): servers set it, tests creating many apps do not.
    freeze_gc_after_start: bool = False

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack without its last-resort error middleware and without the middlewares
        added with ``add_middleware``: those run in the front (:meth:`with_user_middleware`),
        over the lean routes and FastAPI's alike, once each (a CORS middleware must answer for
        a lean route too)."""
        if self.front_factory is None:
            return super().build_middleware_stack()
        added, self.user_middleware = self.user_middleware, []
        try:
            stack = super().build_middleware_stack()
        finally:
            self.user_middleware = added
        # Nor its ServerErrorMiddleware: it would answer a plain-text 500 and re-raise before
        # the front's RequestContextMiddleware (outside it now) could answer the route
        # surface's 500, or the 503 of a database outage.
        if isinstance(stack, ServerErrorMiddleware):
            return stack.app
        return stack

    def with_user_middleware(self, inner: ASGIApp) -> ASGIApp:
        """``inner`` wrapped in the middlewares added with ``add_middleware``, first added
        innermost, as FastAPI would."""
        for cls, args, kwargs in reversed(self.user_middleware):
            inner = cls(inner, *args, **kwargs)
        return inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or self.front_factory is None:
            await super().__call__(scope, receive, send)
            return
        front = self._front
        if front is None:
            front = self._front = self.front_factory(super().__call__)
        scope["app"] = self
        await front(scope, receive, send)
