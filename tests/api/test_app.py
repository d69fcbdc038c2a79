"""The all-in-one app: probes, metrics, docs, JWKS and request ids, in process."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Match, Mount, Route
from starlette.types import Scope

from tokend.app import MOUNTS, create_app, gate_by_prefix
from tokend.config import Settings
from tokend.core.errors import ServiceUnavailable
from tokend.core.routing import LazyRoute, merge
from tokend.obs.health import health_router
from tokend.server.lean import HOT_ROUTES, walk_routes
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_details_are_current_on_every_answer() -> None:
    # /health renders its details once while they stay the same: a change must show at once.
    state = {"breaker": "closed", "last": None}

    async def ready() -> str:
        return "ok"

    app = FastAPI()
    app.include_router(
        health_router(lambda: {"database": ready}, details=[lambda: {"gateway": dict(state)}])
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.get("/health")
        again = await client.get("/health")
        state.update(breaker="open", last="2026-12-07T05:00:00+00:00")
        changed = await client.get("/health")
    assert (
        first.content
        == again.content
        == b'{"status":"ok","gateway":{"breaker":"closed","last":null}}'
    )
    assert changed.json() == {"status": "ok", "gateway": dict(state)}
    assert changed.headers["content-type"] == "application/json"


async def test_ready_checks_database_and_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "memory"}}


async def test_ready_is_503_with_reasons_when_the_database_is_unreachable() -> None:
    # A real engine pointed at a port nothing listens on: the probe must fail, not hang.
    database = open_database(DatabaseSettings(url="postgresql+asyncpg://postgres@127.0.0.1:9/none"))

    async def check() -> str:
        await database.ping()
        return "ok"

    async def cache_ok() -> str:
        return "memory"

    app = FastAPI()
    app.include_router(health_router(lambda: {"database": check, "cache": cache_ok}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/ready")
    await database.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unavailable: ")
    assert body["checks"]["cache"] == "memory"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    await client.get("/no/such/path/12345")
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, s.labels.get("route"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("http_requests_total", "/health", "200")] == 1
    assert samples[("http_requests_total", "<unmatched>", "404")] == 1
    assert ("http_request_duration_seconds_count", "/health", "200") in samples
    assert all("12345" not in str(key) for key in samples)  # bounded cardinality
    assert any(name == "http_requests_in_progress" for name, _, _ in samples)


async def test_route_labels_keep_the_prefix_a_router_was_included_under(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/broker/admin/directory/97205")  # an included router, a path parameter
    await client.get("/metrics")
    text = (await client.get("/metrics")).text
    routes = {
        s.labels["route"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "http_requests_total"
    }
    assert "/broker/admin/directory/{prefix}" in routes
    assert "/admin/directory/{prefix}" not in routes  # what the route alone would say
    assert "/metrics" in routes
    assert not any("97205" in route for route in routes)


async def test_docs_and_openapi_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/.well-known/jwks.json" in spec["paths"]
    assert "/ready" in spec["paths"]


async def test_jwks_publishes_the_auto_created_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert {key["alg"] for key in keys} >= {"ES256", "RS256"}
    assert all("d" not in key for key in keys)
    again = await client.get(
        "/.well-known/jwks.json", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "trace-me-42"})
    assert response.headers["x-request-id"] == "trace-me-42"
    assert len((await client.get("/nope")).headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/health"),
        ("GET", "/%00%ff"),
        ("PUT", "/.well-known/jwks.json"),
        ("GET", "/" + "a" * 5000),
    ],
)
async def test_bad_requests_get_a_standard_error_body(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code


async def test_app_creation_does_no_io(settings: Settings) -> None:
    app = create_app(settings)
    assert isinstance(app, FastAPI)
    with pytest.raises(ServiceUnavailable, match="starting or stopping"):
        app.state.resources.get()


class CountingRoute:
    def __init__(self) -> None:
        self.tried: list[str] = []

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        self.tried.append(scope["path"])
        return Match.FULL, {}


@pytest.mark.parametrize(
    ("path", "tried"),
    [
        ("/broker", True),
        ("/broker/api/demo/token", True),
        ("/brokerage/x", False),
        ("/elsewhere/broker/x", False),
        ("/", False),
    ],
)
def test_a_gated_router_is_only_tried_for_paths_under_its_prefix(path: str, tried: bool) -> None:
    route = CountingRoute()
    gate_by_prefix(route, "/broker")  # type: ignore[arg-type]  # any object with matches()
    match, _ = route.matches({"type": "http", "path": path, "root_path": ""})
    assert (match == Match.FULL) is tried
    assert route.tried == ([path] if tried else [])


async def test_gated_capabilities_still_route_and_are_documented(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/broker/telco-finder/v1/search", json={})
    assert response.status_code == 400  # reached the broker's own validation
    assert (await client.get("/broker/no-such-route")).status_code == 404
    spec = (await client.get("/openapi.json")).json()
    assert "/broker/api/demo/token" in spec["paths"]
    assert "/broker/telco-finder/v1/search" in spec["paths"]


def test_a_capability_served_alone_joins_the_app_with_its_routes_built_once(
    settings: Settings,
) -> None:
    # FastAPI's include_router keeps a lazy route that builds an effective copy of every route
    # inside it (each endpoint's dependencies solved again): a capability at the root is
    # merged instead (core.routing), so the app holds the very routes its routers built.
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"])
    app = create_app(Settings.model_validate(data))
    kinds = {type(route) for route in app.router.routes}
    assert all(issubclass(kind, (APIRoute, Route, Mount)) for kind in kinds), kinds
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/token", "/authorize", "/.well-known/openid-configuration", "/health"} <= paths


async def test_merge_moves_the_routes_as_they_are_and_keeps_no_lifecycle_handlers() -> None:
    inner = APIRouter(tags=["inner"])

    @inner.get("/inner/{item}")
    async def read(item: int) -> dict[str, int]:
        return {"item": item}

    outer = APIRouter()
    merge(outer, inner)
    assert outer.routes == inner.routes  # the same route objects, not rebuilt copies
    app = FastAPI()
    merge(app.router, outer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/inner/7")).json() == {"item": 7}
        assert (await http.get("/inner/x")).status_code == 422  # the route's own validation
    assert app.openapi()["paths"]["/inner/{item}"]["get"]["tags"] == ["inner"]
    handled = APIRouter(on_startup=[lambda: None])
    with pytest.raises(ValueError, match="include_router"):
        merge(outer, handled)


async def test_the_all_in_one_app_builds_a_route_only_when_it_is_used(settings: Settings) -> None:
    # core.routing.LazyRoute: a worker or test app solves the signatures of the routes it
    # serves, not of all of them; the OpenAPI document builds every one, so a declaration
    # FastAPI would refuse fails here, not in a deployment's first request to it.
    app = create_app(settings)
    lazy = [route for _, route, _ in walk_routes(app) if isinstance(route, LazyRoute)]
    assert len(lazy) > 100
    assert not any(route.is_built for route in lazy)
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/health")).status_code == 200
            # The lean path's table solves the hot routes' signatures (is_lean), no other.
            built = {
                path
                for path, route, _ in walk_routes(app)
                if isinstance(route, LazyRoute) and route.is_built
            }
            hot = {prefix + path for prefix, paths in _hot_paths() for path in paths}
            assert "/health" in built
            assert built <= hot, built - hot
            assert (await http.get("/openapi.json")).status_code == 200
    assert all(route.is_built for route in lazy)


def _hot_paths() -> list[tuple[str, list[str]]]:
    return [
        (MOUNTS[name].prefix if name else "", [path for _, path in routes])
        for name, routes in HOT_ROUTES.items()
    ]
