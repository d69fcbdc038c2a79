"""The console served in process, and a way to sign in to it without the provider's pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.responses import Response

from tests.api.oidc.conftest import csrf_of
from tests.conftest import TEST_ARGON2
from tokend.app import create_app
from tokend.config import Settings
from tokend.console.session import SESSION_COOKIE, Cookies
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.oidc.records import User
from tokend.oidc.registration import create_user
from tokend.oidc.schemas import UserCreate
from tokend.oidc.settings import AccountSettings, password_hasher
from tokend.oidc.sql import SqlUsers
from tokend.runtime import ResourceSlot

ISSUER = "http://127.0.0.1:8000"


@dataclass
class Console:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def slot(self) -> ResourceSlot:
        slot: ResourceSlot = self.app.state.resources
        return slot

    async def user(
        self,
        email: str,
        roles: list[str],
        *,
        disabled: bool = False,
        client_roles: dict[str, list[str]] | None = None,
    ) -> User:
        resources = self.slot.get()
        email = email.replace("@", f"+{uuid4().hex[:8]}@")  # one database for the whole run
        spec = UserCreate(
            email=email, password="a long password", roles=roles, disabled=disabled,
            client_roles=client_roles or {},
        )  # fmt: skip
        return await create_user(
            SqlUsers(resources.database, resources.clock),
            # The test costs: PasswordHasher() has production's, a quarter second a hash.
            password_hasher(AccountSettings(**TEST_ARGON2)),
            spec,
        )

    def sign_in_as(self, user: User) -> str:
        """Set the session cookie the callback would set; returns the session's CSRF token."""
        secrets = self.settings.secret_keys()
        cookies = Cookies(
            FieldCipher.from_secrets(secrets.current), secure=False, session_ttl_s=900
        )
        session = cookies.new_session(user.id, user.email, SystemClock().now().timestamp())
        response = Response()
        cookies.set_session(response, session)
        value = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
        self.client.cookies.set(SESSION_COOKIE, value, path="/console")
        return session.csrf


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[Console]:
    async with serving_console(settings) as served:
        yield served


@asynccontextmanager
async def serving_console(
    settings: Settings, step_up: bool | None = None, gateway: dict[str, Any] | None = None
) -> AsyncIterator[Console]:
    # The console's client redirects to the issuer: http only on loopback (RFC 8252 §7.3).
    # Standalone gateway consumers unless ``gateway`` says otherwise (a Kong source).
    gateway_block = settings.gateway.model_validate(
        {**settings.gateway.model_dump(), **(gateway or {"source": "local"})}
    )
    block = settings.console.model_copy(update={"step_up": step_up})
    settings = settings.model_copy(
        update={"issuer": ISSUER, "gateway": gateway_block, "console": block}
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Console(app, client, settings)


async def provider_sign_in(
    http: httpx.AsyncClient, authorize: str, email: str, code: str | None = None
) -> httpx.Response:
    """Follow /authorize through the provider's login (and second factor) to the console's
    callback; the callback's response."""
    started = await http.get(authorize)
    assert started.status_code == 303, started.text
    page = await http.get(started.headers["location"])
    uid = started.headers["location"].rsplit("/", 1)[1]
    csrf = csrf_of(page.text)
    answer = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": email, "password": "a long password"},
    )
    if code is not None:
        assert "Two-step verification" in answer.text, answer.text
        answer = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": code}
        )
    assert answer.status_code == 303, answer.text
    callback = urlsplit(answer.headers["location"])
    assert callback.path == "/console/callback", answer.headers["location"]
    return await http.get(f"{callback.path}?{callback.query}")
