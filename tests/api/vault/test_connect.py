"""The connect flow end to end: tokend ↔ a real OAuth server over HTTP."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.api.vault.conftest import CALLBACK, Connector
from tests.api.vault.fake_provider import ClientAuth, FakeProvider
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock


async def test_start_returns_auth_url_and_state_with_pkce(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    client_pk = await connector.register()
    response = await api.get(f"/oauth/start/{client_pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"auth_url", "state"}
    assert response.headers["cache-control"] == "no-store"
    async with httpx.AsyncClient() as browser:
        await browser.get(body["auth_url"])
    asked = provider.authorize_params[-1]
    assert asked["client_id"] == provider.client_id
    assert asked["redirect_uri"] == CALLBACK
    assert asked["response_type"] == "code"
    assert asked["scope"] == "profile email"
    assert asked["access_type"] == "offline"
    assert asked["state"] == body["state"]
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43


async def test_full_flow_stores_tokens_and_validate_hands_them_out(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    client_pk = await connector.connect()
    # The code was exchanged with the PKCE verifier matching the challenge sent.
    exchange = provider.token_forms[-1]
    assert exchange["grant_type"] == "authorization_code"
    challenge = provider.authorize_params[-1]["code_challenge"]
    digest = hashlib.sha256(exchange["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge

    response = await api.get(f"/tokens/validate/{client_pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["is_valid"] is True
    assert body["access_token"] == provider.issued_access_tokens[-1]
    assert body["message"] == "Token is valid"
    assert body["expires_at"] is not None


async def test_callback_shows_a_success_page(connector: Connector, api: httpx.AsyncClient) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk)
    response = await api.get("/auth/callback", params=query)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Connected" in response.text
    assert query["code"] not in response.text


async def test_callback_redirects_to_the_configured_return_url(
    vault_settings: Callable[..., Settings], provider: FakeProvider, clock: FrozenClock
) -> None:
    settings = vault_settings(return_url="https://app.example/connected")
    app = create_app(settings, clock=clock)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            connector = Connector(api, provider)
            client_pk = await connector.register()
            query = await connector.authorize(client_pk)
            response = await api.get("/auth/callback", params=query)
    assert response.status_code == 302
    assert response.headers["location"] == (
        f"https://app.example/connected?status=connected&client_id={client_pk}"
    )


async def test_reused_state_is_refused(connector: Connector, api: httpx.AsyncClient) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk)
    assert (await api.get("/auth/callback", params=query)).status_code == 200
    again = await api.get("/auth/callback", params=query)
    assert again.status_code == 400
    assert "Invalid or expired OAuth state" in again.text


async def test_expired_state_is_refused(
    connector: Connector, api: httpx.AsyncClient, clock: FrozenClock, provider: FakeProvider
) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk)
    clock.advance(601)  # seed 001: states live 10 minutes
    response = await api.get("/auth/callback", params=query)
    assert response.status_code == 400
    assert "Invalid or expired OAuth state" in response.text
    assert provider.token_calls == 0  # the code never reached the provider


async def test_tampered_state_is_refused(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk)
    tampered = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
    response = await api.get("/auth/callback", params={**query, "state": tampered})
    assert response.status_code == 400
    assert provider.token_calls == 0
    # The genuine state still works: a forged one does not burn it.
    assert (await api.get("/auth/callback", params=query)).status_code == 200


async def test_missing_state_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/auth/callback", params={"code": "abc"})
    assert response.status_code == 400
    # An API client gets the seed's JSON error; a browser gets the page (above).
    assert response.json() == {"detail": "Invalid or expired OAuth state"}


async def test_provider_error_is_shown_and_recorded(
    connector: Connector, api: httpx.AsyncClient
) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk, deny="1")
    assert query["error"] == "access_denied"
    browser = {"Accept": "text/html,application/xhtml+xml"}
    response = await api.get("/auth/callback", params=query, headers=browser)
    assert response.status_code == 400
    assert "access_denied" in response.text
    assert response.headers["content-type"].startswith("text/html")
    validate = (await api.get(f"/tokens/validate/{client_pk}")).json()
    assert validate == {
        "is_valid": False,
        "access_token": None,
        "expires_at": None,
        "message": "No valid token available. Please complete OAuth flow.",
    }


async def test_refused_code_exchange_shows_failure(
    connector: Connector, api: httpx.AsyncClient
) -> None:
    client_pk = await connector.register()
    query = await connector.authorize(client_pk)
    response = await api.get("/auth/callback", params={**query, "code": "not-the-code"})
    assert response.status_code == 400
    assert "invalid_grant" in response.text


@pytest.mark.parametrize("provider_name", ["fake-nopkce"])
async def test_provider_without_pkce_gets_no_challenge_and_basic_auth(
    connector: Connector, provider: FakeProvider, provider_name: str
) -> None:
    await connector.connect(provider_name)
    assert "code_challenge" not in provider.authorize_params[-1]
    assert "code_challenge_method" not in provider.authorize_params[-1]
    assert "code_verifier" not in provider.token_forms[-1]
    # RFC 6749 §2.3.1: the id and secret came in the Basic header, and the secret not in the form.
    assert provider.token_client_auth[-1] == ClientAuth(
        "client_secret_basic", provider.client_id, provider.client_secret
    )


async def test_generic_oidc_provider_uses_discovery(
    connector: Connector, provider: FakeProvider, api: httpx.AsyncClient
) -> None:
    client_pk = await connector.connect("oidc", issuer=provider.base_url)
    assert provider.authorize_params[-1]["scope"] == "openid offline_access"
    body = (await api.get(f"/tokens/validate/{client_pk}")).json()
    assert body["access_token"] == provider.issued_access_tokens[-1]


async def test_login_redirects_to_the_provider(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider
) -> None:
    client_pk = await connector.register()
    response = await api.get(f"/oauth/login/{client_pk}")
    assert response.status_code == 307
    assert response.headers["location"].startswith(f"{provider.base_url}/authorize?")


async def test_start_for_unknown_client_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/oauth/start/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Client not found"}
