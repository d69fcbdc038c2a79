"""The lean path (``tokend.server.lean``) answers every hot route exactly as FastAPI does.

Two apps on one database, the same settings but ``server.lean_path``: each request is sent to
both with the same request id, and the status, headers, body and the metrics they leave are
compared. Answers that carry fresh tokens are compared by shape.
"""

from __future__ import annotations

import base64
import gc
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from bench.vault_seed import connect_client
from fastapi import FastAPI
from joserfc.jwk import ECKey
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from tests.secrets_seen import SecretsSeen
from tokend.app import MOUNTS, create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jwt import SigningKey, mint
from tokend.server.lean import (
    HOT_ROUTES,
    LeanDispatch,
    TokendApp,
    hot_table,
    is_lean,
    walk_routes,
)

ADMIN_TOKEN = "admin-token-" + secrets.token_hex(16)
#: Headers that differ between two answers to the same request for reasons of time alone.
_VOLATILE_HEADERS = frozenset({"date", "content-length"})


@dataclass
class Pair:
    lean: httpx.AsyncClient
    plain: httpx.AsyncClient
    lean_app: FastAPI
    plain_app: FastAPI


#: An issuer the guard of both apps trusts, with a static JWKS (as the bench's route scenario).
GUARD_ISSUER = "https://issuer.lean.test"
GUARD_KEY = ECKey.generate_key("P-256", parameters={"kid": "lean-1", "alg": "ES256"})


@pytest.fixture
def lean_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(admin_token=ADMIN_TOKEN)
    issuer = {
        "issuer": GUARD_ISSUER,
        "jwks": {"keys": [GUARD_KEY.as_dict(private=False) | {"kid": "lean-1", "alg": "ES256"}]},
        "algorithms": ["ES256"],
        "audiences": ["api"],
    }
    data["guard"] = {**data["guard"], "issuers": [issuer]}
    return Settings.model_validate(data)


@pytest.fixture
async def pair(lean_settings: Settings) -> AsyncIterator[Pair]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    plain_settings = lean_settings.model_copy(
        update={"server": lean_settings.server.model_copy(update={"lean_path": False})}
    )
    lean_app = create_app(lean_settings, clock=clock)
    plain_app = create_app(plain_settings, clock=clock)
    async with AsyncExitStack() as stack:
        clients = []
        for app in (lean_app, plain_app):
            await stack.enter_async_context(LifespanManager(app, startup_timeout=30))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            clients.append(await stack.enter_async_context(client))
        yield Pair(clients[0], clients[1], lean_app, plain_app)


async def both(pair: Pair, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send the request to both apps with one request id; assert the answers are the same
    (the body compared by its JSON keys when it carries a fresh token) and return the lean one."""
    request_id = "lean-" + secrets.token_hex(6)
    headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
    lean = await pair.lean.request(method, url, headers=headers, **kwargs)
    plain = await pair.plain.request(method, url, headers=headers, **kwargs)
    assert lean.status_code == plain.status_code, (url, lean.text, plain.text)
    assert lean.headers["x-request-id"] == request_id
    assert _stable_headers(lean) == _stable_headers(plain), url
    if _has_fresh_token(lean):
        assert sorted(lean.json()) == sorted(plain.json()), url
    elif _has_timestamp(lean):  # the gateway's problems and the guard's envelope carry the time
        assert _timeless(lean.json()) == _timeless(plain.json()), url
    else:
        assert lean.content == plain.content, (url, lean.text, plain.text)
    return lean


def _stable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.items() if k not in _VOLATILE_HEADERS)


def _has_fresh_token(response: httpx.Response) -> bool:
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return False
    body = response.json()
    return isinstance(body, dict) and ("access_token" in body or "active" in body)


def _has_timestamp(response: httpx.Response) -> bool:
    if "json" not in response.headers.get("content-type", ""):
        return False
    body = response.json()
    return isinstance(body, dict) and ("timestamp" in body or "timestamp" in _metadata(body))


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = body.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _timeless(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its wall-clock time (top level or the envelope's metadata) blanked."""
    if "timestamp" in body:
        body = {**body, "timestamp": "-"}
    if "timestamp" in _metadata(body):
        body = {**body, "metadata": {**_metadata(body), "timestamp": "-"}}
    return body


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def test_every_hot_route_of_the_all_in_one_app_is_served_lean(settings: Settings) -> None:
    app = create_app(settings)
    prefixes = {"": "", **{name: MOUNTS[name].prefix for name in settings.site().modules}}
    expected = {
        (method, prefixes[capability] + path)
        for capability, routes in HOT_ROUTES.items()
        if capability in prefixes
        for method, path in routes
    }
    assert set(hot_table(app, prefixes)) == expected


def test_lean_path_setting_off_means_no_lean_dispatch(settings: Settings) -> None:
    off = settings.model_copy(
        update={"server": settings.server.model_copy(update={"lean_path": False})}
    )
    for candidate, lean in ((settings, True), (off, False)):
        app = create_app(candidate)
        assert isinstance(app, TokendApp)
        assert app.front_factory is not None
        front = app.front_factory(app.router)
        layers = []
        layer: Any = front
        while layer is not None:
            layers.append(type(layer))
            layer = getattr(layer, "app", None) or getattr(layer, "_app", None)
            if isinstance(layer, FastAPI):
                break
        assert (LeanDispatch in layers) is lean


async def test_oidc_hot_routes_answer_as_fastapi_does(pair: Pair) -> None:
    created = await pair.plain.post(
        "/admin/clients",
        json={
            "name": "lean",
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "scope": "api:read",
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    auth = _basic(client_id, secret)
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    await both(pair, "GET", "/health")
    await both(pair, "GET", "/.well-known/jwks.json")
    await both(pair, "GET", "/.well-known/openid-configuration")
    await both(pair, "GET", "/.well-known/oauth-authorization-server")
    # /token: every kind of refusal, then a token.
    assert (await both(pair, "POST", "/token", data={})).status_code == 400
    await both(pair, "POST", "/token", data={"grant_type": "password"})
    await both(pair, "POST", "/token", data={"grant_type": "client_credentials"})
    bad = _basic(client_id, "wrong")
    assert (
        await both(pair, "POST", "/token", data={"grant_type": "client_credentials"}, headers=bad)
    ).status_code == 401
    await both(pair, "POST", "/token", content=b"grant_type=a&grant_type=b", headers=form)
    await both(pair, "POST", "/token", content=b"x" * 70_000, headers=form)
    await both(pair, "POST", "/token", content=b"\xff\xfe", headers=form)
    await both(pair, "POST", "/token", json={"grant_type": "client_credentials"})
    issued = await both(
        pair, "POST", "/token", data={"grant_type": "client_credentials"}, headers=auth
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    # Introspection, revocation, userinfo.
    await both(pair, "POST", "/introspect", data={"token": token})
    introspected = await both(pair, "POST", "/introspect", data={"token": token}, headers=auth)
    assert introspected.json()["active"] is True
    await both(pair, "POST", "/introspect", data={}, headers=auth)
    await both(pair, "GET", "/userinfo")
    await both(pair, "GET", "/userinfo", headers={"Authorization": "Bearer nonsense"})
    await both(pair, "POST", "/userinfo", data={"access_token": token})
    await both(pair, "POST", "/revoke", data={"token": "unknown"})
    await both(pair, "POST", "/revoke", data={"token": "unknown"}, headers=auth)
    # Methods the hot routes do not take go to FastAPI on both.
    await both(pair, "GET", "/token")
    await both(pair, "DELETE", "/introspect")
    await both(pair, "GET", "/token/")
    await _same_request_metrics(pair, "/token")


async def test_gateway_and_broker_hot_routes_answer_as_fastapi_does(pair: Pair) -> None:
    await both(pair, "GET", "/gateway/tokens")
    await both(pair, "GET", "/gateway/tokens", headers={"X-Consumer-Username": "x" * 400})
    await both(pair, "GET", "/gateway/tokens/validate")
    await both(pair, "GET", "/gateway/tokens/validate", headers={"Authorization": "Bearer x"})
    await both(pair, "POST", "/broker/api/demo/token")
    await both(pair, "POST", "/broker/api/demo/token?mcc=x&sn=1", data={"auth_code": "c"})
    await both(pair, "POST", "/broker/api/demo/token?mcc=262&sn=1", content=b"\x00" * 70_000)
    await _same_request_metrics(pair, "/gateway/tokens")


async def test_the_vault_validate_twin_answers_as_fastapi_does(
    pair: Pair, lean_settings: Settings
) -> None:
    pk = await connect_client(
        lean_settings.database,
        lean_settings.effective_secret_key(),
        "https://lean.test",
        "lean-" + secrets.token_hex(4),
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    valid = await both(pair, "GET", f"/vault/tokens/validate/{pk}", headers=admin)
    assert valid.json()["is_valid"] is True
    # What the twin leaves to FastAPI (ids PathId refuses or reads otherwise, a literal
    # template) and what it refuses itself (callers, unknown ids), each with every caller.
    paths = [
        *(f"/vault/tokens/validate/{written}" for written in ("0", "007", "-1", "1e3", "abc")),
        *(f"/vault/tokens/validate/{written}" for written in (pk + 1000, 2**31, "%D9%A3")),
        "/vault/tokens/validate/{client_id}",
        "/vault/tokens/validate/",
        f"/vault/tokens/validate/{pk}/more",
    ]
    callers: list[dict[str, str]] = [{}, admin, {"Authorization": "Bearer wrong"}]
    for path in (f"/vault/tokens/validate/{pk}", *paths):
        for caller in callers:
            await both(pair, "GET", path, headers=caller)
    await _same_request_metrics(pair, "/vault/tokens/validate/{client_id}")


async def test_the_guard_me_twin_answers_as_fastapi_does(pair: Pair) -> None:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": GUARD_ISSUER, "sub": "lean", "aud": "api", "iat": now, "exp": now + 600
    }  # fmt: skip
    roles: dict[str, object] = {"realm_access": {"roles": ["admin"]}, "scope": "orders:read"}

    def bearer(extra: Mapping[str, object], *, scheme: str = "Bearer") -> dict[str, str]:
        token = mint({**claims, **extra}, SigningKey("lean-1", "ES256", GUARD_KEY))
        return {"Authorization": f"{scheme} {token}"}

    me = await both(pair, "GET", "/guard/auth/me", headers=bearer(roles))
    assert me.status_code == 200, me.text
    assert me.json()["data"]["roles"] == ["admin"]
    refusals: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic bGVhbjpsZWFu"},
        {"Authorization": "Bearer"},
        {"Cookie": "tokend_session=unknown"},
        bearer({"exp": now - 600}),
        bearer({"aud": "elsewhere"}),
        bearer({"iss": "https://unknown.lean.test"}),
        bearer({"cnf": {"jkt": "x" * 43}}, scheme="DPoP"),
    ]
    for headers in refusals:
        assert (await both(pair, "GET", "/guard/auth/me", headers=headers)).status_code == 401
    await both(pair, "POST", "/guard/auth/me", headers=bearer(roles))
    await _same_request_metrics(pair, "/guard/auth/me")


async def _same_request_metrics(pair: Pair, route: str) -> None:
    lean = await pair.lean.get("/metrics")
    plain = await pair.plain.get("/metrics")
    assert _request_series(lean.text) == _request_series(plain.text)
    assert f'route="{route}"' in lean.text


def _request_series(text: str) -> list[str]:
    """The ``http_requests_total`` series but the scrapes' own and the admin API's (sent to
    one app only)."""
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith("http_requests_total{")
        and 'route="/metrics"' not in line
        and 'route="/admin/' not in line
    )


async def test_a_served_app_freezes_what_start_up_built_and_a_test_app_does_not(
    settings: Settings,
) -> None:
    gc.unfreeze()
    try:
        async with LifespanManager(create_app(settings), startup_timeout=30):
            assert gc.get_freeze_count() == 0
        served = create_app(settings)
        served.freeze_gc_after_start = True
        async with LifespanManager(served, startup_timeout=30):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


async def test_a_served_app_freezes_start_up_without_a_full_collection_first(
    settings: Settings,
) -> None:
    # A collection before the freeze walked every object start-up made (229 ms of a 2.9 s
    # start) for a few hundred unreachable ones; the collector is off until the freeze.
    collected_before_freeze: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and gc.get_freeze_count() == 0:
            collected_before_freeze.append(info["generation"])

    gc.unfreeze()
    gc.disable()  # as `tokend serve` builds and starts the app
    gc.callbacks.append(watch)
    try:
        served = create_app(settings)
        served.freeze_gc_after_start = True
        async with LifespanManager(served, startup_timeout=30):
            assert gc.get_freeze_count() > 10_000
            assert gc.isenabled()
    finally:
        gc.callbacks.remove(watch)
        gc.enable()
        gc.unfreeze()
    assert collected_before_freeze == []


async def test_middleware_added_to_the_app_runs_once_for_lean_and_fastapi_routes(
    settings: Settings,
) -> None:
    app = create_app(settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://rp.example"],
        allow_methods=["GET", "POST"],
        expose_headers=["X-Request-ID"],
    )
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            origin = {"Origin": "https://rp.example"}
            for method, path in (("GET", "/.well-known/jwks.json"), ("GET", "/admin/clients")):
                response = await http.request(method, path, headers=origin)
                allowed = response.headers.get_list("access-control-allow-origin")
                assert allowed == ["https://rp.example"], (path, response.headers)
                assert response.headers.get_list("x-request-id") == [
                    response.headers["x-request-id"]
                ]
            preflight = await http.options(
                "/token", headers={**origin, "Access-Control-Request-Method": "POST"}
            )
            assert preflight.status_code == 200


async def test_a_crash_or_a_database_outage_is_answered_by_the_surface_on_both_paths(
    settings: Settings,
) -> None:
    app = create_app(settings)

    @app.get("/admin/crash")
    async def crash() -> None:
        raise RuntimeError("no")

    @app.get("/admin/outage")
    async def outage() -> None:
        raise ConnectionRefusedError("database down")

    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            crashed = await http.get("/admin/crash", headers={"X-Request-ID": "crash-1"})
            assert crashed.status_code == 500
            assert crashed.headers["content-type"] == "application/problem+json"
            assert crashed.json()["request_id"] == "crash-1"
            down = await http.get("/admin/outage")
            assert down.status_code == 503
            assert down.headers["retry-after"] == "5"
            assert down.headers["content-type"] == "application/problem+json"


def test_only_routes_fastapi_would_hand_the_request_alone_are_lean() -> None:
    app = FastAPI()

    @app.get("/async")
    async def coroutine(request: Request) -> Response:
        return Response()

    @app.get("/sync")
    def plain(request: Request) -> Response:
        return Response()

    @app.get("/query")
    async def query(q: str) -> Response:
        return Response(q)

    @app.get("/path/{x}")
    async def path(request: Request) -> Response:
        return Response()

    lean = {path: is_lean(route) for path, route, _ in walk_routes(app)}
    assert lean == {"/async": True, "/sync": False, "/query": False, "/path/{x}": False}
