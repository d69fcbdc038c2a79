"""The vault alone (its seed paths at the root) against a fake provider over real HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.api.vault.fake_provider import FakeProvider
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock

CALLBACK = "http://testserver/auth/callback"


@pytest.fixture
def provider(secrets_seen: SecretsSeen) -> Iterator[FakeProvider]:
    fake = FakeProvider(client_id="app-" + secrets.token_hex(4))
    secrets_seen.add(fake.client_secret)
    with serving(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
    for value in (*fake.issued_access_tokens, *fake.issued_refresh_tokens):
        secrets_seen.add(value)


@pytest.fixture
def providers_file(tmp_path: Path, provider: FakeProvider) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(
        f"""
fake:
  display_name: Fake
  authorization_url: {provider.base_url}/authorize
  token_url: {provider.base_url}/token
  revocation_url: {provider.base_url}/revoke
  default_scopes: [profile, email]
  authorize_params: {{access_type: offline}}
  token_auth_method: client_secret_post
  pkce: true
fake-nopkce:
  display_name: Fake without PKCE
  authorization_url: {provider.base_url}/authorize
  token_url: {provider.base_url}/token
  revocation_url: null
  token_auth_method: client_secret_basic
  pkce: false
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def vault_settings(settings: Settings, providers_file: Path) -> Callable[..., Settings]:
    def make(**vault: Any) -> Settings:
        data = settings.model_dump(mode="python")
        data["modules"] = ["vault"]
        data["vault"] = {
            "providers_file": providers_file,
            "open_access": True,
            "refresh_jitter_s": 0.0,
            **vault,
        }
        return Settings.model_validate(data)

    return make


@pytest.fixture
async def vault_app(
    vault_settings: Callable[..., Settings], clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    application = create_app(vault_settings(), clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def api(vault_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=vault_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Connector:
    """Registers clients and runs the browser's part of the flow against the fake provider."""

    api: httpx.AsyncClient
    provider: FakeProvider

    async def register(self, provider_name: str = "fake", **extra: Any) -> int:
        body = {
            "client_id": self.provider.client_id,
            "client_secret": self.provider.client_secret,
            "redirect_uri": CALLBACK,
            "provider": provider_name,
            **extra,
        }
        response = await self.api.post("/clients", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["client_id"])

    async def authorize(self, client_pk: int, **provider_params: str) -> dict[str, str]:
        """``/oauth/start``, then the provider's authorize page; the callback's query."""
        start = (await self.api.get(f"/oauth/start/{client_pk}")).json()
        url = httpx.URL(start["auth_url"]).copy_merge_params(provider_params)
        async with httpx.AsyncClient() as browser:
            answer = await browser.get(url)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
        return {k: v[0] for k, v in parse_qs(location.query).items()}

    async def connect(self, provider_name: str = "fake", **extra: Any) -> int:
        client_pk = await self.register(provider_name, **extra)
        query = await self.authorize(client_pk)
        response = await self.api.get("/auth/callback", params=query)
        assert response.status_code == 200, response.text
        return client_pk


@pytest.fixture
def connector(api: httpx.AsyncClient, provider: FakeProvider) -> Connector:
    return Connector(api, provider)
