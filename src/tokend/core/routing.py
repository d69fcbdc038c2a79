"""Composing routers without FastAPI's per-inclusion rebuild of every route.

FastAPI (0.16x) keeps ``include_router`` lazy: the included router becomes one route that, for
each route inside it, builds an "effective" copy (its dependency graph, response fields and
body model solved again, about 0.5 ms a route) the first time anything looks at it, and once
more for every level of nesting. tokend composes each capability from a dozen routers and an
app from its capabilities, so an app of a hundred routes solved about two hundred route
signatures before it answered anything (cProfile of ``create_app``: half its time), which
every test app and every worker start paid.

A router built with its final paths needs none of that: its routes, built once by its own
decorators with the router's tags, dependencies and route class already applied, can sit in
another router as they are. :func:`merge` does only that; ``include_router`` stays where an
inclusion changes something (a prefix: the all-in-one app's capabilities, the telco operators).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import compile_path, get_name


class LazyRoute(APIRoute):
    """An APIRoute that solves its endpoint's signature the first time anything needs it.

    FastAPI builds a route's dependency graph, parameter and body models and request handler
    when the route is declared: about 0.5 ms a route, 60-70 ms for an app of every capability
    (cProfile of ``create_app``: nearly all of it), paid by every worker start and every test
    app although a process serves a few of its routes and a test app one or two. This route
    keeps what matching and ``url_path_for`` read (path, its regex and convertors, methods,
    name, endpoint) and declares itself with FastAPI's own ``APIRoute.__init__``, unchanged,
    on the first read of anything else: handling a request, the OpenAPI document, the lean
    path's table. The build is synchronous (no await), so no request sees half a route. A
    declaration FastAPI refuses is refused then rather than at start-up:
    ``tests/api/test_app.py`` builds every route of the all-in-one app.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        self.__dict__["_declaration"] = (path, endpoint, options)
        self.path = path
        self.endpoint = endpoint
        name = options.get("name")
        self.name = get_name(endpoint) if name is None else name
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        methods = options.get("methods")
        self.methods = {method.upper() for method in (["GET"] if methods is None else methods)}
        self.include_in_schema = options.get("include_in_schema", True)

    def __getattr__(self, name: str) -> Any:
        # Called only for attributes not set yet: the ones APIRoute.__init__ sets.
        declaration = self.__dict__.get("_declaration")
        if declaration is None or name.startswith("__"):
            raise AttributeError(name)
        self.__dict__["_declaration"] = None
        path, endpoint, options = declaration
        APIRoute.__init__(self, path, endpoint, **options)
        return getattr(self, name)

    @property
    def is_built(self) -> bool:
        return self.__dict__.get("_declaration") is None


def api_router(**options: Any) -> APIRouter:
    """An APIRouter whose routes are :class:`LazyRoute` (unless ``route_class`` says else)."""
    options.setdefault("route_class", LazyRoute)
    return APIRouter(**options)


def merge(into: APIRouter, *routers: APIRouter) -> None:
    """Add the routes of ``routers`` to ``into`` unchanged, before ``into`` serves or is included.

    Only what ``include_router`` without options would do: the routes keep the paths they were
    built with, and a router with start-up or shut-down handlers is refused (their merging is
    what ``include_router`` adds; none of tokend's routers has any, its capabilities use the
    runtime's lifespans).
    """
    for router in routers:
        if router.on_startup or router.on_shutdown:
            raise ValueError("merge() keeps no start-up or shut-down handlers: include_router")
        into.routes.extend(router.routes)
