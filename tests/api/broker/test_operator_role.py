"""The operator role (seed 000 telco) as the demo serves it under ``/telcos/<id>``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.broker.conftest import Serve

ORANGE = "/telcos/orange/api/demo/token"
QUERY = {"mcc": "972", "sn": "05"}
GOOD_AUTH = json.dumps({"client_id": "ORANGE_DEMO_ID", "client_secret": "ORANGE_DEMO_SECRET"})


@pytest.mark.parametrize(
    ("form", "status", "detail"),
    [
        (
            {"telco_auth": "{not json", "auth_code": "best_auth_demo"},
            400,
            "Invalid telco_auth JSON format",
        ),
        ({"telco_auth": "{}", "auth_code": "best_auth_demo"}, 401, "Invalid telco auth"),
        (
            {
                "telco_auth": json.dumps(
                    {"client_id": "VF_DEMO_ID", "client_secret": "VF_DEMO_SECRET"}
                ),
                "auth_code": "best_auth_demo",
            },
            401,
            "Invalid telco auth",
        ),
        ({"auth_code": "best_auth_demo"}, 401, "Invalid telco auth"),
        ({"telco_auth": GOOD_AUTH, "auth_code": "x_best_auth_y"}, 401, "Invalid auth code"),
        ({"telco_auth": GOOD_AUTH}, 401, "Invalid auth code"),
    ],
)
async def test_refusals_follow_the_seed_order_and_texts(
    demo: httpx.AsyncClient, form: dict[str, str], status: int, detail: str
) -> None:
    response = await demo.post(ORANGE, params=QUERY, data=form)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("code", ["best_auth_code_123", "best_auth_demo"])
async def test_the_seed_example_codes_are_accepted_with_telco_auth(
    demo: httpx.AsyncClient, code: str
) -> None:
    response = await demo.post(
        ORANGE, params=QUERY, data={"telco_auth": GOOD_AUTH, "auth_code": code}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "grant_type", "token_type", "iat", "exp"}


async def test_http_basic_authenticates_the_broker_too(demo: httpx.AsyncClient) -> None:
    response = await demo.post(
        "/telcos/vodafone/api/demo/token",
        params=QUERY,
        data={"auth_code": "best_auth_demo"},
        auth=("VF_DEMO_ID", "VF_DEMO_SECRET"),
    )
    assert response.status_code == 200


ISSUER_TOKEN = "code-issuer-" + "k" * 32


@pytest.fixture
async def issuing(serve_tokend: Serve) -> AsyncIterator[httpx.AsyncClient]:
    """The demo operators with one-time code issuing switched on."""
    with serve_tokend(telco={"code_issuer_token": ISSUER_TOKEN, "code_ttl_s": 120}) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


async def test_an_issued_one_time_code_buys_one_operator_token(
    issuing: httpx.AsyncClient,
) -> None:
    issued = await issuing.post(
        "/telcos/orange/api/demo/codes",
        params=QUERY,
        headers={"Authorization": f"Bearer {ISSUER_TOKEN}"},
    )
    assert issued.status_code == 201
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["expires_in"] == 120
    form = {"telco_auth": GOOD_AUTH, "auth_code": body["auth_code"]}
    other_subscriber = await issuing.post(ORANGE, params={"mcc": "972", "sn": "06"}, data=form)
    assert other_subscriber.status_code == 401
    first = await issuing.post(ORANGE, params=QUERY, data=form)
    assert first.status_code == 200
    replay = await issuing.post(ORANGE, params=QUERY, data=form)
    assert (replay.status_code, replay.json()) == (401, {"detail": "Invalid auth code"})


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {ISSUER_TOKEN}"])
async def test_only_the_code_issuer_gets_codes(
    issuing: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await issuing.post("/telcos/orange/api/demo/codes", params=QUERY, headers=headers)
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_codes_are_not_served_without_an_issuer_token(demo: httpx.AsyncClient) -> None:
    response = await demo.post("/telcos/orange/api/demo/codes", params=QUERY)
    assert response.status_code in (404, 405)
