"""Seed 001 as its clients see it from ``tokend serve --only vault`` (issue 24): ``GET /`` and
``GET /health`` in the seed's shapes, a still-valid token that cannot be refreshed handed out,
a clear 409 once it expired, the assumed lifetime of a token without ``expires_in`` logged, and
the seed's texts."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.log_lines import LogLines
from tokend import __version__
from tokend.core.clock import FrozenClock


async def test_the_root_describes_the_service(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "service": "Token Generation Service",
        "version": __version__,
        "status": "running",
        "environment": "development",
    }


async def test_health_has_the_seed_shape_with_the_database_checked(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["service"]) == (
        "healthy",
        "connected",
        "Token Generation Service",
    )
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


async def test_a_valid_token_that_cannot_be_refreshed_is_handed_out_then_a_409(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    provider.issues_refresh_tokens = False
    provider.expires_in = 600  # the margin is 300 s
    branch = "b-norefresh-" + provider.client_id
    await connector.connect(branch_id=branch)
    clock.advance(400)  # inside the refresh margin, still valid for 200 s
    response = await api.get(f"/tokens/{branch}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] == provider.issued_access_tokens[-1]
    assert "could not be refreshed" in body["message"]
    clock.advance(300)  # now expired, and nothing can refresh it
    expired = await api.get(f"/tokens/{branch}")
    assert expired.status_code == 409
    assert expired.json() == {
        "detail": "Token expired. Please complete OAuth flow again.",
        "code": "reauthorization_required",
    }


async def test_a_token_response_without_expires_in_uses_the_catalogue_lifetime_and_logs_it(
    connector: Connector,
    api: httpx.AsyncClient,
    provider: FakeProvider,
    clock: FrozenClock,
    capfd: pytest.CaptureFixture[str],
) -> None:
    provider.expires_in = None
    logs = LogLines(capfd)
    pk = await connector.connect()
    (assumed,) = logs.named("vault.expires_in_assumed")
    assert (assumed["provider"], assumed["assumed_s"]) == ("fake", 3600)
    validate = (await api.get(f"/tokens/validate/{pk}")).json()
    expires_at = datetime.fromisoformat(validate["expires_at"].replace("Z", "+00:00"))
    assert (expires_at - clock.now()).total_seconds() == 3600


async def test_an_unknown_branch_is_the_seeds_text(api: httpx.AsyncClient) -> None:
    response = await api.get("/tokens/no-such-branch")
    assert response.status_code == 404
    assert response.json() == {"detail": "Client/Branch not found"}


async def test_the_providers_refusal_names_it_as_the_seed(
    connector: Connector, api: httpx.AsyncClient
) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk, deny="1")
    response = await api.get("/auth/callback", params=query)
    assert response.status_code == 400
    assert response.json() == {"detail": "Fake OAuth error: access_denied"}
