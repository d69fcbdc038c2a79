"""The operator role (seed 000 telco) as the demo serves it under ``/telcos/<id>``."""

from __future__ import annotations

import json

import httpx
import pytest

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
