"""``core.routing.LazyRoute``: a route FastAPI builds on its first use, and builds as it would
have at declaration."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tokend.core.routing import LazyRoute, api_router


class Item(BaseModel):
    name: str
    size: int = 1


def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
    return authorization or "anonymous"


def routes_of(router: APIRouter) -> APIRouter:
    """A router with the same routes as every other one here, of ``router``'s route class."""

    @router.get("/items/{item_id}", response_model=Item, tags=["items"], summary="One item")
    async def read(item_id: int, user: Annotated[str, Depends(current_user)]) -> Any:
        return {"name": f"{item_id} for {user}"}

    @router.post("/items", status_code=201, responses={409: {"description": "exists"}})
    async def create(item: Item, q: str | None = None) -> Item:
        return item

    @router.api_route("/ping", methods=["get"], name="ping")
    async def ping() -> dict[str, str]:
        return {"ping": "pong"}

    return router


def app_of(router: APIRouter) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


def lazy_routes(router: APIRouter) -> dict[str, LazyRoute]:
    return {route.path: route for route in router.routes if isinstance(route, LazyRoute)}


async def test_a_route_is_built_when_a_request_reaches_it_and_no_sooner() -> None:
    router = routes_of(api_router())
    routes = lazy_routes(router)
    assert len(routes) == 3
    assert not any(route.is_built for route in routes.values())
    app = FastAPI()
    app.router.routes.extend(router.routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        # Matching tries /items/{item_id} and /items first: their paths and methods only.
        response = await http.get("/ping")
        assert response.json() == {"ping": "pong"}
        assert [path for path, route in routes.items() if route.is_built] == ["/ping"]
        # url_path_for reads the name, path format and convertors: still nothing built.
        assert app.url_path_for("read", item_id="3") == "/items/3"
        assert not routes["/items/{item_id}"].is_built
        read = await http.get("/items/3", headers={"Authorization": "ada"})
        assert read.json() == {"name": "3 for ada", "size": 1}
        assert (await http.get("/items/x")).status_code == 422  # its own validation
        assert (await http.post("/ping")).status_code == 405  # methods known unbuilt
        assert (await http.post("/items", json={"name": "n"})).status_code == 201
    assert all(route.is_built for route in routes.values())


def test_a_built_route_is_the_route_fastapi_builds_at_declaration() -> None:
    lazy = routes_of(api_router())
    eager = routes_of(APIRouter())
    # The OpenAPI document reads every route: it is the same document, field for field.
    assert app_of(lazy).openapi() == app_of(eager).openapi()
    for lazy_route, eager_route in zip(lazy.routes, eager.routes, strict=True):
        assert isinstance(lazy_route, LazyRoute)
        assert lazy_route.is_built
        assert isinstance(eager_route, APIRoute)
        for attribute in (
            "path", "name", "methods", "path_format", "unique_id", "status_code", "tags",
            "summary", "responses", "include_in_schema", "response_class",
        ):  # fmt: skip
            assert getattr(lazy_route, attribute) == getattr(eager_route, attribute), attribute
        assert lazy_route.path_regex.pattern == eager_route.path_regex.pattern
        assert [p.name for p in lazy_route.dependant.query_params] == [
            p.name for p in eager_route.dependant.query_params
        ]
        assert len(lazy_route.dependant.dependencies) == len(eager_route.dependant.dependencies)


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    route = lazy_routes(routes_of(api_router()))["/ping"]
    with pytest.raises(AttributeError):
        _ = route.no_such_attribute
    assert route.is_built  # asking built it: what FastAPI sets is known only then
    with pytest.raises(AttributeError):
        _ = route.no_such_attribute


def test_a_declaration_fastapi_refuses_is_refused_on_first_use() -> None:
    router = api_router()

    class NotAModel:  # FastAPI cannot make a response field of it
        pass

    @router.get("/bad", response_model=NotAModel)
    async def bad() -> None:
        return None

    route = lazy_routes(router)["/bad"]
    with pytest.raises(Exception, match="response"):
        _ = route.response_field
