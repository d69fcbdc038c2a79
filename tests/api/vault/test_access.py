"""Without the compat setting the vault API wants a bearer token; callers see only their clients.
Token exchange (RFC 8693) hands a connection's provider token to a tokend-token holder."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.secrets_seen import SecretsSeen
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.admin_auth import admin_audience
from tokend.core.clock import FrozenClock
from tokend.core.jwt import mint

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def api_token(secrets_seen: SecretsSeen) -> str:
    return secrets_seen.add("vault-admin-" + secrets.token_hex(16))


@pytest.fixture
async def locked_app(
    vault_settings: Callable[..., Settings], clock: FrozenClock, api_token: str
) -> AsyncIterator[FastAPI]:
    app = create_app(vault_settings(open_access=False, api_token=api_token), clock=clock)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def locked(locked_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=locked_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _token(
    app: FastAPI,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    typ: str = "at+jwt",
    **claims: object,
) -> str:
    """An access token as the OpenID provider issues it for the admin audience (RFC 9068)."""
    keyring = app.state.resources.get().keyring
    now = clock.now()
    body = {
        "iss": app.state.settings.issuer,
        "sub": "svc-reviews",
        "aud": admin_audience(app.state.settings.issuer),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": secrets.token_hex(8),
        **claims,
    }
    return secrets_seen.add(mint(body, keyring.signing_key("ES256"), typ=typ))


async def test_no_bearer_is_401_with_a_challenge(locked: httpx.AsyncClient) -> None:
    response = await locked.get("/clients")
    assert response.status_code == 401
    # RFC 6750 §3.1: no credentials, so no error code in the challenge.
    # One admin policy answers every admin surface alike (RFC 6750 §3).
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'
    assert response.json() == {"detail": "A bearer token is required."}
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'
    assert (await locked.get("/tokens/validate/1")).status_code == 401


async def test_static_api_token_is_admin(locked: httpx.AsyncClient, api_token: str) -> None:
    response = await locked.get("/clients", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("typ", ["broker+jwt", "JWT"], ids=["broker-token", "operator-token"])
async def test_another_kind_of_token_from_tokends_keyring_is_not_a_vault_caller(
    locked: httpx.AsyncClient,
    locked_app: FastAPI,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    typ: str,
) -> None:
    # Item 22: same keyring, same issuer, even the scope: only an access token (at+jwt) counts.
    token = _token(locked_app, clock, secrets_seen, typ=typ, scope="vault:admin")
    response = await locked.get("/clients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_read_scope_cannot_write(
    locked: httpx.AsyncClient, locked_app: FastAPI, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    token = _token(locked_app, clock, secrets_seen, scope="vault:read")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await locked.get("/clients", headers=headers)).status_code == 200
    denied = await locked.delete("/clients/1", headers=headers)
    assert denied.status_code == 403


async def test_a_caller_scoped_to_one_client_never_sees_another(
    locked: httpx.AsyncClient,
    locked_app: FastAPI,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    provider: FakeProvider,
    api_token: str,
) -> None:
    admin = {"Authorization": f"Bearer {api_token}"}
    locked.headers.update(admin)
    mine = await Connector(locked, provider).connect()
    other_body = {
        "client_id": "other-" + secrets.token_hex(4),
        "client_secret": "s" * 16,
        "redirect_uri": "https://app.example/cb",
    }
    other = (await locked.post("/clients", json=other_body)).json()["client_id"]
    token = _token(locked_app, clock, secrets_seen, scope="vault:read", vault_clients=[mine])
    scoped = {"Authorization": f"Bearer {token}"}
    assert (await locked.get(f"/tokens/validate/{mine}", headers=scoped)).json()["is_valid"]
    assert (await locked.get(f"/tokens/validate/{other}", headers=scoped)).status_code == 404
    assert (await locked.get(f"/clients/{other}", headers=scoped)).status_code == 404
    listed = (await locked.get("/clients", params={"limit": 500}, headers=scoped)).json()
    assert [c["id"] for c in listed] == [mine]


async def test_token_exchange_returns_the_provider_token(
    locked: httpx.AsyncClient,
    locked_app: FastAPI,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    provider: FakeProvider,
    api_token: str,
) -> None:
    locked.headers.update({"Authorization": f"Bearer {api_token}"})
    pk = await Connector(locked, provider).connect()
    subject = _token(locked_app, clock, secrets_seen, scope="vault:exchange", vault_clients=[pk])
    form = {
        "grant_type": EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS,
        "requested_token_type": ACCESS,
        "resource": f"urn:tokend:vault:client:{pk}",
    }
    response = await locked.post("/token", data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] == provider.issued_access_tokens[-1]
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 3600
    assert response.headers["cache-control"] == "no-store"


async def test_token_exchange_refusals(
    locked: httpx.AsyncClient,
    locked_app: FastAPI,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    reader = _token(locked_app, clock, secrets_seen, scope="vault:read")
    exchanger = _token(locked_app, clock, secrets_seen, scope="vault:exchange", vault_clients=[1])
    # RFC 9068 §4: only an access token (typ at+jwt) for the admin audience is a subject token.
    id_token = _token(locked_app, clock, secrets_seen, typ="JWT", scope="vault:exchange")
    elsewhere = _token(
        locked_app,
        clock,
        secrets_seen,
        scope="vault:exchange",
        aud=locked_app.state.settings.issuer,
    )
    base = {
        "grant_type": EXCHANGE,
        "subject_token": exchanger,
        "subject_token_type": ACCESS,
        "resource": "urn:tokend:vault:client:2",
    }
    cases = [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"subject_token": "not-a-jwt"}, 401, "invalid_token"),
        ({"subject_token": id_token}, 401, "invalid_token"),
        ({"subject_token": elsewhere}, 401, "invalid_token"),
        ({"subject_token": reader}, 403, "insufficient_scope"),
        ({}, 400, "invalid_target"),
        ({"resource": "https://elsewhere.example"}, 400, "invalid_target"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, 400, None),
    ]
    for change, status, code in cases:
        response = await locked.post("/token", data={**base, **change})
        assert response.status_code == status, (change, response.text)
        if code is not None:
            assert response.json()["error"] == code
    missing = await locked.post("/token", data={"grant_type": EXCHANGE})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
