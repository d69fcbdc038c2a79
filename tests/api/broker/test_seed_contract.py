"""Seed 000 as its clients see it from ``tokend serve --only broker`` (issue 24): 422 bodies
listing every invalid field, the operator's answers relayed with its status and raw body, and
the seed's exact texts; the all-in-one app keeps tokend's answers (``seed_errors`` off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.e2e.server import free_port
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings

TOKEN = "/api/demo/token"
QUERY = {"mcc": "972", "sn": "0527464600"}
CODE = {"auth_code": "best_auth_code_123"}
OPERATOR_SECRET = "seed-contract-operator-secret-0123456789"


@dataclass
class Operator:
    """A seed operator that answers whatever the test sets."""

    status: int = 200
    body: str = ""
    content_type: str = "application/json"

    async def token(self, _request: Request) -> Response:
        if self.status == 200 and not self.body:
            return JSONResponse(
                {
                    "access_token": "op-token",
                    "grant_type": "client_credentials",
                    "token_type": "Bearer",
                    "iat": "2026-01-01T00:00:00Z",
                    "exp": "2099-01-01T00:00:00Z",
                }
            )
        return PlainTextResponse(self.body, self.status, media_type=self.content_type)


@pytest.fixture
def operator() -> Iterator[tuple[Operator, str]]:
    fake = Operator()
    with serving(Starlette(routes=[Route(TOKEN, fake.token, methods=["POST"])])) as url:
        yield fake, url


def _directory(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "telco.yaml"
    path.write_text(
        "prefixes:\n  97205:\n    operator_id: orange\n"
        f"    base_url: {base_url}\n    client_id: ORANGE_ID\n"
        f"    client_secret: {OPERATOR_SECRET}\n",
        encoding="utf-8",
    )
    return path


async def _client(settings: Settings, **update: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=update))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _broker(settings: Settings, directory: Path, **broker: Any) -> Any:
    return settings.broker.model_copy(
        update={"directory_file": directory, "watch_directory": False, **broker}
    )


@pytest.fixture
async def only_broker(
    settings: Settings, tmp_path: Path, operator: tuple[Operator, str]
) -> AsyncIterator[httpx.AsyncClient]:
    directory = _directory(tmp_path, operator[1])
    async for client in _client(settings, modules=["broker"], broker=_broker(settings, directory)):
        yield client


@pytest.mark.parametrize(
    ("params", "form", "expected"),
    [
        (
            {"mcc": "", "sn": ""},
            CODE,
            [
                (["query", "mcc"], "Value error, MCC must be between 1 to 3 digits"),
                (["query", "sn"], "Value error, SN cannot be empty"),
            ],
        ),
        (
            {},
            {},
            [
                (["query", "mcc"], "Field required"),
                (["query", "sn"], "Field required"),
                (["body", "auth_code"], "Field required"),
            ],
        ),
        (
            {"mcc": "9720", "sn": "05"},
            {"auth_code": ""},
            [
                (["query", "mcc"], "Value error, MCC must be between 1 to 3 digits"),
                (["body", "auth_code"], "Field required"),
            ],
        ),
        (
            {"mcc": "972", "sn": "0527464600123"},
            CODE,
            [(["query"], "Value error, Total length must be less than 15")],
        ),
    ],
)
async def test_invalid_input_is_a_422_listing_every_field(
    only_broker: httpx.AsyncClient,
    params: dict[str, str],
    form: dict[str, str],
    expected: list[tuple[list[str], str]],
) -> None:
    response = await only_broker.post(TOKEN, params=params, data=form)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(error["loc"], error["msg"]) for error in detail] == expected
    assert all({"type", "loc", "msg", "input"} <= set(error) for error in detail)


async def test_a_json_body_has_no_auth_code_field(only_broker: httpx.AsyncClient) -> None:
    response = await only_broker.post(TOKEN, params=QUERY, json=CODE)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "auth_code"], "msg": "Field required", "input": None}
    ]


async def test_an_overlong_code_is_refused_without_echoing_it(
    only_broker: httpx.AsyncClient,
) -> None:
    code = "best_auth_" + "x" * 2100
    response = await only_broker.post(TOKEN, params=QUERY, data={"auth_code": code})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("string_too_long", ["body", "auth_code"])
    assert code not in response.text


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, '{"detail":"Invalid auth code"}'),
        (400, '{"detail":"Invalid telco_auth JSON format"}'),
        (404, "no such route"),
        (500, "Internal Server Error"),
    ],
)
async def test_the_operators_status_and_raw_body_are_relayed(
    only_broker: httpx.AsyncClient, operator: tuple[Operator, str], status: int, body: str
) -> None:
    fake, _ = operator
    fake.status, fake.body = status, body
    response = await only_broker.post(TOKEN, params=QUERY, data=CODE)
    assert response.status_code == status
    assert response.json() == {"detail": f"Telco service error: {body}"}


async def test_the_brokers_secret_echoed_by_the_operator_is_masked(
    only_broker: httpx.AsyncClient, operator: tuple[Operator, str]
) -> None:
    fake, _ = operator
    fake.status, fake.body = 401, f"bad secret {OPERATOR_SECRET}"
    response = await only_broker.post(TOKEN, params=QUERY, data=CODE)
    assert response.status_code == 401
    assert response.json() == {"detail": "Telco service error: bad secret ***"}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"access_token": "", "iat": "2026-01-01T00:00:00Z"}),
        json.dumps({"grant_type": "client_credentials"}),
        "not json",
    ],
)
async def test_a_malformed_operator_token_is_the_seeds_500(
    only_broker: httpx.AsyncClient, operator: tuple[Operator, str], body: str
) -> None:
    fake, _ = operator
    fake.status, fake.body = 200, body
    response = await only_broker.post(TOKEN, params=QUERY, data=CODE)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}


async def test_an_unreachable_operator_is_the_seeds_503_text(
    settings: Settings, tmp_path: Path
) -> None:
    directory = _directory(tmp_path, f"http://127.0.0.1:{free_port()}")
    async for client in _client(settings, modules=["broker"], broker=_broker(settings, directory)):
        response = await client.post(TOKEN, params=QUERY, data=CODE)
        assert response.status_code == 503
        assert response.json() == {"detail": "Failed to contact telco service"}


async def test_seed_errors_off_keeps_tokends_answers(
    settings: Settings, tmp_path: Path, operator: tuple[Operator, str]
) -> None:
    fake, base_url = operator
    directory = _directory(tmp_path, base_url)
    async for client in _client(
        settings, modules=["broker"], broker=_broker(settings, directory, seed_errors=False)
    ):
        invalid = await client.post(TOKEN, params={"mcc": "", "sn": ""}, data=CODE)
        assert invalid.status_code == 400
        assert invalid.json() == {"detail": "MCC must be between 1 to 3 digits"}
        fake.status, fake.body = 500, "stack trace of the operator"
        failed = await client.post(TOKEN, params=QUERY, data=CODE)
        assert failed.status_code == 503
        assert failed.json() == {"detail": "Telco service error"}
        fake.status, fake.body = 200, "not json"
        malformed = await client.post(TOKEN, params=QUERY, data=CODE)
        assert (malformed.status_code, malformed.json()) == (503, {"detail": "Telco service error"})
