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

from fastapi import APIRouter


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
