"""Rate limits (429 + Retry-After) and audit events / metrics."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN_TOKEN,
    PASSWORD,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
)
from tests.conftest import TEST_ARGON2, inside_one_rate_window
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings


@pytest.fixture
def oidc_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {
        "accounts": TEST_ARGON2,
        "rate_limits": {
            "token_per_client": "3/minute",
            "login_failures_per_ip_account": "2/minute",
        },
    }
    return Settings.model_validate(data)


async def test_token_endpoint_is_limited_per_client_with_retry_after(
    http: httpx.AsyncClient, register: Register
) -> None:
    svc: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read"
    )
    statuses = []
    await inside_one_rate_window()
    for _ in range(4):
        response = await http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=svc.auth
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"


async def test_failed_logins_are_limited_per_address_and_account(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp: RegisteredClient = await register()
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    csrf = csrf_of((await http.get(response.headers["location"])).text)
    statuses = []
    await inside_one_rate_window()
    for _ in range(3):
        response = await http.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf, "email": user["email"], "password": PASSWORD + "x"},
        )
        statuses.append(response.status_code)
    assert statuses == [400, 400, 429]
    assert "retry-after" in response.headers


async def test_audit_events_and_metrics_never_carry_secrets(
    http: httpx.AsyncClient, register: Register, caplog: pytest.LogCaptureFixture
) -> None:
    svc: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read"
    )
    caplog.set_level(logging.INFO)
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=svc.auth)
    ).json()["access_token"]
    await http.post("/revoke", data={"token": token}, auth=svc.auth)
    assert any("auth.token_revoked" in r.getMessage() for r in caplog.records)
    assert not any(token in r.getMessage() for r in caplog.records)
    metrics = (await http.get("/metrics")).text
    assert 'tokend_tokens_issued_total{grant="client_credentials"} 1.0' in metrics
    assert (
        'identity_auth_events_total{event="auth.token_revoked",method="revocation",status="2xx"}'
        " 1.0" in metrics
    )


async def test_auth_events_carry_the_seeds_method_and_status_labels(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    # Issue 24: seed 003's identity_auth_events_total{method, status} (status grouped as the
    # seed's instrumentator), and tokend's event label kept.
    rp: RegisteredClient = await register()
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    csrf = csrf_of((await http.get(response.headers["location"])).text)
    await inside_one_rate_window()
    failed = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": user["email"], "password": PASSWORD + "x"},
    )
    passed = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": user["email"], "password": PASSWORD},
    )
    assert failed.status_code == 400
    assert passed.status_code in (302, 303)
    metrics = (await http.get("/metrics")).text
    assert (
        'identity_auth_events_total{event="auth.login_failed",method="password",status="4xx"}'
        " 1.0" in metrics
    )
    assert (
        'identity_auth_events_total{event="auth.login_succeeded",method="password",status="2xx"}'
        " 1.0" in metrics
    )
