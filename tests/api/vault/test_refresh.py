"""Refresh ahead of expiry, on demand and in the background; failures never lose tokens."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.conftest import TEST_SECRET_KEY
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.jobs.inprocess import InProcessJobs
from tokend.vault.provider_client import TokenSet
from tokend.vault.sql import SqlConnections


async def _validate(api: httpx.AsyncClient, pk: int) -> dict[str, object]:
    response = await api.get(f"/tokens/validate/{pk}")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def _metadata(api: httpx.AsyncClient, pk: int) -> dict[str, object]:
    response = await api.get(f"/tokens/client/{pk}")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_fresh_token_is_served_without_calling_the_provider(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    for _ in range(3):
        assert (await _validate(api, pk))["is_valid"] is True
    assert provider.refresh_calls == 0


async def test_validate_refreshes_within_the_margin_and_keeps_the_refresh_token(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    pk = await connector.connect()
    first_refresh_token = provider.issued_refresh_tokens[-1]
    clock.advance(3600 - 200)  # inside the 5-minute margin
    body = await _validate(api, pk)
    assert provider.refresh_calls == 1
    assert body["is_valid"] is True
    assert body["access_token"] == provider.issued_access_tokens[-1]
    form = provider.token_forms[-1]
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == first_refresh_token
    # The provider sent no new refresh token: the old one is used again next time.
    clock.advance(3600 - 200)
    await _validate(api, pk)
    assert provider.refresh_calls == 2
    assert provider.token_forms[-1]["refresh_token"] == first_refresh_token
    meta = await _metadata(api, pk)
    assert meta["has_refresh_token"] is True
    assert meta["last_refreshed_at"] is not None


async def test_rotated_refresh_token_replaces_the_old_one(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    provider.rotates = True
    pk = await connector.connect()
    clock.advance(3500)
    await _validate(api, pk)
    rotated = provider.issued_refresh_tokens[-1]
    clock.advance(3500)
    await _validate(api, pk)
    assert provider.token_forms[-1]["refresh_token"] == rotated


async def test_invalid_grant_marks_the_connection_broken_and_stops_refreshing(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    pk = await connector.connect()
    provider.refresh_failures = ["invalid_grant"]
    clock.advance(3500)
    body = await _validate(api, pk)
    assert body == {
        "is_valid": False,
        "access_token": None,
        "expires_at": None,
        "message": "No valid token available. Please complete OAuth flow.",
    }
    meta = await _metadata(api, pk)
    assert meta["status"] == "broken"
    assert meta["last_error"] == "invalid_grant"
    await _validate(api, pk)
    forced = await api.post("/tokens/refresh", json={"client_id": pk})
    assert forced.status_code == 400
    assert provider.refresh_calls == 1


async def test_transient_failure_keeps_stored_tokens_and_serves_the_unexpired_one(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    pk = await connector.connect()
    original = provider.issued_access_tokens[-1]
    refresh_token = provider.issued_refresh_tokens[-1]
    provider.refresh_failures = [503]
    clock.advance(3500)
    body = await _validate(api, pk)
    assert body["is_valid"] is True
    assert body["access_token"] == original
    meta = await _metadata(api, pk)
    assert meta["status"] == "active"
    assert meta["failure_count"] == 1
    # Next try succeeds with the very same refresh token.
    await _validate(api, pk)
    assert provider.token_forms[-1]["refresh_token"] == refresh_token
    assert (await _metadata(api, pk))["failure_count"] == 0


async def test_expired_token_with_provider_down_is_not_valid(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, clock: FrozenClock
) -> None:
    pk = await connector.connect()
    provider.refresh_failures = [500]
    clock.advance(3700)
    body = await _validate(api, pk)
    assert body["is_valid"] is False
    assert body["access_token"] is None


async def test_forced_refresh_accepts_both_seed_body_shapes(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    for body in ({"client_id": pk}, {"client_internal_id": pk}):
        response = await api.post("/tokens/refresh", json=body)
        assert response.status_code == 200
        refreshed = response.json()
        assert refreshed["success"] is True
        assert refreshed["message"] == "Token refreshed successfully"
        assert refreshed["access_token"] == provider.issued_access_tokens[-1]
        assert "refresh_token" not in refreshed
    assert provider.refresh_calls == 2
    assert (await api.post("/tokens/refresh", json={})).status_code == 422
    missing = await api.post("/tokens/refresh", json={"client_id": 987654})
    assert missing.json() == {"detail": "Client not found"}


async def test_refresh_without_a_token_is_404(connector: Connector, api: httpx.AsyncClient) -> None:
    pk = await connector.register()
    response = await api.post("/tokens/refresh", json={"client_id": pk})
    assert response.status_code == 404
    assert response.json() == {"detail": "No valid token found for client"}


async def test_metadata_never_shows_tokens(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    response = await api.get(f"/tokens/client/{pk}")
    assert response.status_code == 200
    for value in (*provider.issued_access_tokens, *provider.issued_refresh_tokens):
        assert value not in response.text
    assert response.json()["status"] == "active"


async def test_revoke_at_the_provider_and_locally(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    refresh_token = provider.issued_refresh_tokens[-1]
    response = await api.delete(f"/tokens/{pk}")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Tokens revoked successfully",
        "client_id": pk,
        "revoked_at_provider": True,
    }
    assert provider.revoked == [refresh_token]
    assert (await _validate(api, pk))["is_valid"] is False
    assert (await _metadata(api, pk))["is_revoked"] is True
    assert (await api.delete(f"/tokens/{pk}")).status_code == 404


async def test_token_by_branch_answers_the_seed_shape(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect(branch_id="b-branch-" + provider.client_id)
    response = await api.get(f"/tokens/b-branch-{provider.client_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == pk
    assert body["access_token"] == provider.issued_access_tokens[-1]
    assert body["refresh_token"] is None
    # Seed 001's text (issue 24).
    assert (await api.get("/tokens/no-such-branch")).json() == {"detail": "Client/Branch not found"}


async def test_background_sweep_refreshes_due_connections(
    connector: Connector,
    api: httpx.AsyncClient,
    provider: FakeProvider,
    clock: FrozenClock,
    vault_app: FastAPI,
) -> None:
    pk = await connector.connect()
    jobs = vault_app.state.resources.get().jobs
    assert isinstance(jobs, InProcessJobs)
    sweep = jobs.specs["vault.refresh_sweep"]
    assert sweep.every_s == 60.0
    clock.advance(3000)  # inside the 10-minute window
    await sweep.run()
    assert provider.refresh_calls == 1
    assert (await _metadata(api, pk))["last_refreshed_at"] is not None
    await sweep.run()  # nothing due any more
    assert provider.refresh_calls == 1


async def test_the_sweep_skips_a_connection_whose_refresh_lock_someone_holds(
    connector: Connector,
    api: httpx.AsyncClient,
    provider: FakeProvider,
    clock: FrozenClock,
    vault_app: FastAPI,
) -> None:
    """The sweep locks its connections in batches; a name held elsewhere (a validate's
    refresh, on any replica) is passed by, the others in its batch refreshed."""
    held_pk = await connector.connect()
    # A second client, connected straight in the store (the fake authorizes one app only).
    provider.other_apps["second-app"] = "second-app-secret"
    other_pk = await connector.register(client_id="second-app", client_secret="second-app-secret")
    provider.grant("second-refresh-token")
    store = SqlConnections(
        vault_app.state.resources.get().database,
        FieldCipher.from_secrets(TEST_SECRET_KEY),
        clock,
    )
    await store.store_connection(
        other_pk, TokenSet("second-access-token", "second-refresh-token", "Bearer", None, 3600)
    )
    resources = vault_app.state.resources.get()
    sweep = resources.jobs.specs["vault.refresh_sweep"]
    clock.advance(3000)  # both inside the 10-minute window
    async with resources.locks.hold(f"vault:refresh:{held_pk}", ttl_s=30):
        await sweep.run()
        assert provider.refresh_calls == 1
        assert (await _metadata(api, held_pk))["last_refreshed_at"] is None
        assert (await _metadata(api, other_pk))["last_refreshed_at"] is not None
    clock.advance(61)  # past the skipped connection's claim lease
    await sweep.run()
    assert provider.refresh_calls == 2
    assert (await _metadata(api, held_pk))["last_refreshed_at"] is not None


async def test_repeated_transient_failures_exhaust_the_connection(
    vault_settings: Callable[..., Settings], provider: FakeProvider, clock: FrozenClock
) -> None:
    settings = vault_settings(max_refresh_failures=2, retry_backoff_s=10)
    app = create_app(settings, clock=clock)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            pk = await Connector(api, provider).connect()
            sweep = app.state.resources.get().jobs.specs["vault.refresh_sweep"]
            provider.refresh_failures = [500, 500, 500]
            clock.advance(3000)
            await sweep.run()
            await sweep.run()  # backing off: not retried yet
            assert provider.refresh_calls == 1
            clock.advance(11)
            await sweep.run()
            assert provider.refresh_calls == 2
            meta = (await api.get(f"/tokens/client/{pk}")).json()
            assert meta["status"] == "refresh_exhausted"
            clock.advance(3600)
            await sweep.run()
            assert provider.refresh_calls == 2  # the refresher stopped trying


async def test_a_failing_provider_trips_its_circuit_breaker(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    provider.refresh_failures = [500] * 10
    for _ in range(6):
        response = await api.post("/tokens/refresh", json={"client_id": pk})
        assert response.status_code == 503
    calls = provider.refresh_calls
    assert calls < 6  # the breaker opened before every call went out
    refused = await api.post("/tokens/refresh", json={"client_id": pk})
    assert refused.status_code == 503
    assert "retry-after" in refused.headers
    assert provider.refresh_calls == calls
    # The stored token is still handed out meanwhile.
    assert (await api.get(f"/tokens/validate/{pk}")).json()["is_valid"] is True


async def test_refreshes_are_counted_in_metrics(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    pk = await connector.connect()
    await api.post("/tokens/refresh", json={"client_id": pk})
    provider.refresh_failures = ["invalid_grant"]
    await api.post("/tokens/refresh", json={"client_id": pk})
    samples = {
        (s.name, s.labels.get("provider"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families((await api.get("/metrics")).text)
        for s in family.samples
    }
    assert samples[("tokend_vault_refresh_total", "fake", "refreshed")] == 1
    assert samples[("tokend_vault_refresh_total", "fake", "rejected")] == 1
    assert ("tokend_vault_refresh_duration_seconds_count", "fake", None) in samples
