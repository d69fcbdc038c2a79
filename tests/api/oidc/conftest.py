"""An all-in-one-style app with only the OpenID provider, a clock tests can move, an admin
token to create clients and users through the admin API, and helpers for the browser flow."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.api.oidc.mail_inbox import Inbox
from tests.conftest import TEST_ARGON2
from tests.e2e.server import free_port
from tests.secrets_seen import SecretsSeen
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock

ADMIN_TOKEN = "admin-token-" + secrets.token_hex(16)
PASSWORD = "correct horse battery " + secrets.token_hex(4)
REDIRECT = "https://rp.example/callback"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def oidc_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(PASSWORD)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {"rate_limits": {"login_per_ip": "1000/minute"}, "accounts": TEST_ARGON2}
    return Settings.model_validate(data)


@pytest.fixture
async def oidc_app(oidc_settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(oidc_settings, clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def http(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=oidc_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def replica(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """Another process on the same database (and Redis, if set): its memory tier starts empty."""
    application = create_app(settings, clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str | None

    @property
    def auth(self) -> tuple[str, str]:
        assert self.client_secret is not None
        return (self.client_id, self.client_secret)


#: ``await register(**fields)``: an admin-API client registration with these fields overriding
#: a confidential authorization-code RP's.
Register = Callable[..., Awaitable[RegisteredClient]]


@pytest.fixture
def register(http: httpx.AsyncClient, secrets_seen: SecretsSeen) -> Register:
    async def create(**fields: Any) -> RegisteredClient:
        body = {
            "name": "Test RP",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "scope": "openid profile email offline_access",
            **fields,
        }
        response = await http.post("/admin/clients", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        data = response.json()
        if data["client_secret"]:
            secrets_seen.add(data["client_secret"])
        return RegisteredClient(data["client_id"], data["client_secret"])

    return create


@pytest.fixture
async def user(http: httpx.AsyncClient) -> dict[str, Any]:
    email = f"Ada.{secrets.token_hex(3)}@Example.org"
    response = await http.post(
        "/admin/users",
        json={"email": email, "password": PASSWORD, "email_verified": True, "name": "Ada L"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, html
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def sign_in_and_consent(
    http: httpx.AsyncClient, params: dict[str, str], email: str, password: str = PASSWORD
) -> dict[str, str]:
    """Drive /authorize → login → consent like a browser; the client redirect's query."""
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    page = await http.get(response.headers["location"])
    assert page.status_code == 200
    uid = response.headers["location"].rsplit("/", 1)[1]
    if "Sign in" in page.text:
        response = await http.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
        )
        assert response.status_code == 303, response.text
        if response.headers["location"].startswith("/interaction/"):
            page = await http.get(response.headers["location"])
    if response.headers["location"].startswith("/interaction/"):
        assert "Allow access" in page.text
        response = await http.post(
            f"/interaction/{uid}/consent",
            data={"csrf_token": csrf_of(page.text), "decision": "allow"},
        )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(params["redirect_uri"]), location
    return query_of(location)


def code_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email offline_access",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
