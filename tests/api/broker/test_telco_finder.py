"""``POST /broker/telco-finder/v1/search``: the GSMA Telco Finder subset, CAMARA errors."""

from __future__ import annotations

import httpx
import pytest

SEARCH = "/broker/telco-finder/v1/search"


@pytest.mark.parametrize(
    ("number", "operator"),
    [
        ("+972527464600", "orange"),
        ("tel:+972501234567", "vodafone"),
        ("+447700900123", "vodafone-uk"),
    ],
)
async def test_a_number_finds_its_operator(
    demo: httpx.AsyncClient, number: str, operator: str
) -> None:
    response = await demo.post(SEARCH, json={"phoneNumber": number})
    assert response.status_code == 200
    body = response.json()
    assert body["operatorId"] == operator
    assert body["apiRoot"].endswith(f"/telcos/{operator}")
    assert body["authProviderConfiguration"]["tokenEndpoint"] == body["apiRoot"] + "/api/demo/token"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"phoneNumber": "+12125550100"}, 404, "NOT_FOUND"),
        ({"phoneNumber": "972527464600"}, 400, "INVALID_ARGUMENT"),
        ({}, 400, "INVALID_ARGUMENT"),
        ({"phoneNumber": 972}, 400, "INVALID_ARGUMENT"),
    ],
)
async def test_errors_use_the_camara_shape(
    demo: httpx.AsyncClient, payload: dict[str, object], status: int, code: str
) -> None:
    response = await demo.post(SEARCH, json=payload)
    assert response.status_code == status
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["message"]
