"""Standalone mode: tokend stores consumers and checks their API keys itself (no Kong)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import jwt
import pytest
from sqlalchemy import select

from tests.api.gateway.conftest import Gateway, OpenGateway
from tests.conftest import TEST_SECRET_KEY
from tests.secrets_seen import SecretsSeen
from tokend.gateway.demo import DEMO_API_KEY
from tokend.gateway.models import GatewayConsumerRow
from tokend.store.engine import Database
from tokend.store.settings import DatabaseSettings

ADMIN = "gateway-admin-" + secrets.token_hex(12)


@pytest.fixture
async def gw(open_gateway: OpenGateway, secrets_seen: SecretsSeen) -> AsyncIterator[Gateway]:
    secrets_seen.add(ADMIN)
    async with open_gateway(source="local", admin_token=ADMIN) as gateway:
        yield gateway


async def _create(gw: Gateway, secrets_seen: SecretsSeen) -> dict[str, str]:
    username = "team-" + secrets.token_hex(4)
    response = await gw.client.post(
        "/admin/consumers",
        json={"username": username},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created: dict[str, str] = response.json()
    assert set(created) == {"consumer_id", "username", "api_key"}
    secrets_seen.add(created["api_key"])
    return created


async def test_a_valid_api_key_gets_a_token_that_validates(
    gw: Gateway, secrets_seen: SecretsSeen
) -> None:
    created = await _create(gw, secrets_seen)
    response = await gw.client.get("/tokens", headers={"apikey": created["api_key"]})
    assert response.status_code == 200, response.text
    token = secrets_seen.add(response.json()["access_token"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == claims["name"] == created["username"]
    by_header = await gw.client.get(
        "/tokens", headers={"Authorization": f"ApiKey {created['api_key']}"}
    )
    assert by_header.status_code == 200
    valid = await gw.client.get(
        "/tokens/validate",
        headers={"apikey": created["api_key"], "Authorization": f"Bearer {token}"},
    )
    assert valid.status_code == 200, valid.text
    assert valid.json()["subject"] == created["username"]


async def test_a_revoked_key_is_refused_at_once(gw: Gateway, secrets_seen: SecretsSeen) -> None:
    created = await _create(gw, secrets_seen)
    assert (await gw.client.get("/tokens", headers={"apikey": created["api_key"]})).is_success
    revoked = await gw.client.delete(
        f"/admin/consumers/{created['consumer_id']}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert revoked.status_code == 204
    response = await gw.client.get("/tokens", headers={"apikey": created["api_key"]})
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_002"
    assert "extensions" not in response.json()


async def test_an_unknown_key_is_a_401_and_a_missing_one_auth_001(gw: Gateway) -> None:
    unknown = await gw.client.get("/tokens", headers={"apikey": "tkd_" + secrets.token_hex(16)})
    missing = await gw.client.get("/tokens")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "AUTH_002")
    assert (missing.status_code, missing.json()["code"]) == (401, "AUTH_001")
    assert missing.json()["extensions"] == {"reason": "Missing API key"}


async def test_api_keys_and_secrets_are_stored_hashed_or_encrypted(
    gw: Gateway, database: Database, secrets_seen: SecretsSeen
) -> None:
    created = await _create(gw, secrets_seen)
    async with database.sessions() as session:
        row = await session.scalar(
            select(GatewayConsumerRow).where(GatewayConsumerRow.id == created["consumer_id"])
        )
    assert row is not None
    assert row.api_key_hash.startswith("h1.")
    columns = (row.id, row.username, row.api_key_hash, row.jwt_key, row.jwt_secret_enc)
    assert all(created["api_key"] not in str(value) for value in columns)
    assert row.jwt_secret_enc.startswith("v1.")


async def test_the_admin_api_wants_the_admin_token(gw: Gateway, secrets_seen: SecretsSeen) -> None:
    created = await _create(gw, secrets_seen)
    anonymous = await gw.client.get("/admin/consumers")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    listed = await gw.client.get("/admin/consumers", headers={"Authorization": f"Bearer {ADMIN}"})
    assert created["consumer_id"] in [c["consumer_id"] for c in listed.json()]
    assert all("api_key" not in c for c in listed.json())
    again = await gw.client.post(
        "/admin/consumers",
        json={"username": created["username"]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert again.status_code == 409
    gone = await gw.client.delete(
        "/admin/consumers/no-such-consumer", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert gone.status_code == 404


async def test_without_a_static_token_the_admin_api_wants_an_admin_bearer(
    open_gateway: OpenGateway,
) -> None:
    # The one admin policy (core.admin_auth) takes tokend:admin access tokens whether or not a
    # static token is configured, so an anonymous caller gets 401, no longer 403 "disabled".
    async with open_gateway(source="local") as gw:
        response = await gw.client.get("/admin/consumers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'


async def test_declared_consumers_work_with_their_configured_key(
    open_gateway: OpenGateway, secrets_seen: SecretsSeen
) -> None:
    api_key = secrets_seen.add("declared-" + secrets.token_urlsafe(24))
    username = "declared-" + secrets.token_hex(4)
    consumers = [{"username": username, "api_key": api_key}]
    async with open_gateway(source="local", consumers=consumers) as gw:
        response = await gw.client.get("/tokens", headers={"apikey": api_key})
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == username


async def test_the_demo_has_a_consumer_whose_curl_is_in_the_banner(
    open_gateway: OpenGateway, demo_database_settings: DatabaseSettings
) -> None:
    demo = {"demo_data": True, "database": demo_database_settings}
    # No Kong Admin API configured (the default URL): the demo runs standalone.
    async with open_gateway(
        modules=["broker", "gateway"], top=demo, kong_admin_url="http://127.0.0.1:8001"
    ) as gw:
        response = await gw.client.get("/gateway/tokens", headers={"apikey": DEMO_API_KEY})
        banner = "\n".join(gw.app.state.banner)
    assert response.status_code == 200, response.text
    assert f"curl -H 'apikey: {DEMO_API_KEY}' http://" in banner
    assert "/gateway/tokens" in banner


async def test_api_keys_survive_a_secret_key_rotation(
    gw: Gateway, open_gateway: OpenGateway, secrets_seen: SecretsSeen
) -> None:
    created = await _create(gw, secrets_seen)
    rotated = {
        "secret_key": secrets_seen.add("rotated-secret-key-" + secrets.token_hex(16)),
        "previous_secret_keys": [TEST_SECRET_KEY],
    }
    async with open_gateway(source="local", top=rotated) as after:
        response = await after.client.get("/tokens", headers={"apikey": created["api_key"]})
    assert response.status_code == 200, response.text
