from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tokend.core.jwks_route import jwks_router
from tokend.core.keys import Keyring

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
async def client(keyring: Keyring) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(jwks_router(lambda: keyring, max_age_s=300))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_jwks_is_served_with_caching_headers(
    client: httpx.AsyncClient, keyring: Keyring
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["etag"] == keyring.jwks().etag
    assert response.headers["etag"].startswith('"')  # a strong validator
    assert response.content == keyring.jwks().body


async def test_jwks_holds_only_public_members_with_kid_alg_and_use(
    client: httpx.AsyncClient, keyring: Keyring
) -> None:
    keys = json.loads((await client.get("/.well-known/jwks.json")).content)["keys"]
    assert {key["kid"] for key in keys} == {info.kid for info in keyring.list()}
    for key in keys:
        assert not PRIVATE_MEMBERS & key.keys()
        assert key["use"] == "sig"
        assert key["alg"] in {"ES256", "RS256", "EdDSA"}


async def test_clients_asking_for_the_jwk_set_media_type_get_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/.well-known/jwks.json", headers={"Accept": "application/jwk-set+json, */*"}
    )
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"stale", {etag}', '"stale",W/{etag}', "*"],
)
async def test_a_current_etag_gets_304_without_a_body(
    client: httpx.AsyncClient, keyring: Keyring, if_none_match: str
) -> None:
    etag = keyring.jwks().etag
    response = await client.get(
        "/.well-known/jwks.json", headers={"If-None-Match": if_none_match.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=300"


async def test_a_stale_etag_gets_the_new_document_after_rotation(
    client: httpx.AsyncClient, keyring: Keyring
) -> None:
    stale = keyring.jwks().etag
    await keyring.rotate("ES256")
    response = await client.get("/.well-known/jwks.json", headers={"If-None-Match": stale})
    assert response.status_code == 200
    assert response.headers["etag"] != stale
    assert keyring.signing_key("ES256").kid in response.text
