"""Pairwise subject identifiers (OIDC Core §8.1) and sector_identifier_uri validation
(OIDC Registration §5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.api.oidc.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    REDIRECT,
    Register,
    code_params,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.config import Settings

SALT = "pairwise-salt-for-tests-0123456789"


@pytest.fixture
def oidc_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {"accounts": TEST_ARGON2, "pairwise_salt": SALT}
    return Settings.model_validate(data)


@pytest.fixture
def sector_server() -> Iterator[tuple[dict[str, Any], str]]:
    listed: dict[str, Any] = {"uris": [REDIRECT]}

    async def sector(_request: Request) -> Response:
        return JSONResponse(listed["uris"])

    with serving(Starlette(routes=[Route("/sector.json", sector)])) as base:
        yield listed, f"{base}/sector.json"


async def tokens(
    http: httpx.AsyncClient, client_id: str, secret: str, email: str, first: bool
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    params = code_params(client_id, challenge)
    if first:
        query = await sign_in_and_consent(http, params, email)
    else:
        query = query_of((await http.get("/authorize", params=params)).headers["location"])
    response = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(client_id, secret),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_pairwise_clients_see_their_own_subject(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    pairwise = await register(subject_type="pairwise", skip_consent=True)
    public = await register(skip_consent=True)
    assert pairwise.client_secret is not None
    assert public.client_secret is not None
    first = await tokens(http, pairwise.client_id, pairwise.client_secret, user["email"], True)
    sub = jwt.decode(first["id_token"], options={"verify_signature": False})["sub"]
    assert sub != user["id"]
    assert len(sub) == 43
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert (await http.get("/userinfo", headers=bearer)).json()["sub"] == sub
    # Same sector (the redirect host): the same subject for another client of it.
    same_sector = await register(subject_type="pairwise", skip_consent=True)
    assert same_sector.client_secret is not None
    again = await tokens(http, same_sector.client_id, same_sector.client_secret, user["email"],
                         False)  # fmt: skip
    assert jwt.decode(again["id_token"], options={"verify_signature": False})["sub"] == sub
    plain = await tokens(http, public.client_id, public.client_secret, user["email"], False)
    assert jwt.decode(plain["id_token"], options={"verify_signature": False})["sub"] == user["id"]
    # id_token_hint with the pairwise sub of the signed-in user passes silently.
    _, challenge = pkce_pair()
    params = code_params(pairwise.client_id, challenge, prompt="none",
                         id_token_hint=first["id_token"])  # fmt: skip
    assert "code" in query_of((await http.get("/authorize", params=params)).headers["location"])
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["subject_types_supported"] == ["public", "pairwise"]


async def test_sector_identifier_uri_must_list_the_redirect_uris(
    http: httpx.AsyncClient, sector_server: tuple[dict[str, Any], str]
) -> None:
    listed, uri = sector_server
    body = {"name": "p", "redirect_uris": [REDIRECT, "https://other.example/cb"],
            "subject_type": "pairwise"}  # fmt: skip
    no_sector = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert no_sector.status_code in (400, 422)
    # The test server is http on loopback; the rule is https, so it is refused by shape first.
    refused = await http.post(
        "/admin/clients", json={**body, "sector_identifier_uri": uri}, headers=ADMIN
    )
    assert refused.status_code in (400, 422)
    assert listed["uris"] == [REDIRECT]
