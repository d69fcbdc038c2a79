"""Self sign-up (``/sign-up``): an unverified account mailed a verification link, through the
jobs and a real SMTP server; never a second account for an address, nor a hint that it has one."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    PASSWORD,
    Register,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    replica,
)
from tests.api.oidc.mail_inbox import Inbox, link_of, smtp_settings, submit, text_of
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock

NEW_PASSWORD = "a sign-up password " + secrets.token_hex(4)


def address(name: str) -> str:
    """An address no other test (nor an earlier run on the same database) signed up with."""
    return f"{name}.{secrets.token_hex(4)}@Example.org"


def settings_with(settings: Settings, port: int, **oidc: object) -> Settings:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    accounts = oidc.pop("accounts", {})
    assert isinstance(accounts, dict)
    data["oidc"] = {
        "email": smtp_settings(port),
        "rate_limits": {"login_per_ip": "1000/minute"},
        **oidc,
        "accounts": {**TEST_ARGON2, **accounts},
    }
    return Settings.model_validate(data)


@pytest.fixture
def oidc_settings(
    settings: Settings, secrets_seen: SecretsSeen, inbox: tuple[Inbox, int]
) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(PASSWORD)
    secrets_seen.add(NEW_PASSWORD)
    return settings_with(
        settings,
        inbox[1],
        accounts={"self_sign_up": True},
        rate_limits={"login_per_ip": "1000/minute", "sign_up_per_ip": "3/hour"},
    )


async def users(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed = await http.get("/admin/users", headers=ADMIN)
    assert listed.status_code == 200
    found: list[dict[str, Any]] = listed.json()
    return found


async def test_a_new_account_is_verified_from_the_mail_and_signs_in_to_the_app(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], register: Register, secrets_seen: SecretsSeen
) -> None:
    rp = await register()
    params = code_params(rp.client_id, pkce_pair()[1])
    started = await http.get("/authorize", params=params)
    assert started.status_code == 303
    login = await http.get(started.headers["location"])
    uid = started.headers["location"].rsplit("/", 1)[1]
    assert f'href="/sign-up?interaction={uid}"' in login.text

    grace = address("Grace")
    created = await submit(
        http, f"/sign-up?interaction={uid}", email=grace, name="Grace H",
        password=NEW_PASSWORD, interaction=uid,
    )  # fmt: skip
    assert created.status_code == 200, created.text
    assert "Check your inbox" in created.text
    assert f'href="/interaction/{uid}"' in created.text
    [account] = [u for u in await users(http) if u["email"] == grace]
    assert account["email_verified"] is False
    assert account["name"] == "Grace H"

    [mail] = await inbox[0].arrived(1)
    assert mail["To"] == grace
    assert mail["Subject"] == "Verify your email address"
    link = link_of(mail)
    secrets_seen.add(link.split("token=")[1])
    assert NEW_PASSWORD not in text_of(mail)
    verified = await http.get(link)
    assert verified.status_code == 200
    assert "Email verified" in verified.text
    shown = await http.get(f"/admin/users/{account['id']}", headers=ADMIN)
    assert shown.json()["email_verified"] is True

    # Back in the interaction the sign-up started from: the authorization goes on.
    page = await http.get(f"/interaction/{uid}")
    signed = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": grace.lower(),
              "password": NEW_PASSWORD},
    )  # fmt: skip
    assert signed.status_code == 303, signed.text
    consent = await http.get(signed.headers["location"])
    assert "Allow access" in consent.text
    allowed = await http.post(
        f"/interaction/{uid}/consent",
        data={"csrf_token": csrf_of(consent.text), "decision": "allow"},
    )
    assert allowed.status_code == 303
    assert "code" in query_of(allowed.headers["location"])


async def test_an_address_with_an_account_gets_the_same_answer_and_its_owner_a_notice(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any]
) -> None:
    fresh = await submit(http, "/sign-up", email=address("new.one"), password=NEW_PASSWORD)
    taken = await submit(
        http, "/sign-up", email=user["email"].upper(), name="Someone", password=NEW_PASSWORD
    )
    assert taken.status_code == fresh.status_code == 200
    assert taken.text == fresh.text  # OWASP: no account enumeration
    mails = await inbox[0].arrived(2)
    [notice] = [m for m in mails if m["To"] == user["email"]]
    assert notice["Subject"] == "Someone tried to sign up with your email address"
    assert "http://testserver/password/forgot" in text_of(notice)
    assert "token=" not in text_of(notice)
    emails = [u["email"].lower() for u in await users(http)]
    assert emails.count(user["email"].lower()) == 1
    owner = await http.get(f"/admin/users/{user['id']}", headers=ADMIN)
    assert owner.json()["name"] == "Ada L"  # nothing of the attempt reached the account
    # The owner's password is still theirs: the attempt's is not.
    tried = await sign_in_with(http, user["email"], NEW_PASSWORD)
    assert tried.status_code == 400
    assert "not correct" in tried.text
    await anyio.sleep(0.2)
    assert len(inbox[0].messages) == 2


async def sign_in_with(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    started = await http.get("/account/sign-in")
    location = started.headers["location"]
    page = await http.get(location)
    return await http.post(
        f"{location}/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
    )


async def test_sign_ups_from_one_address_are_rate_limited(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int]
) -> None:
    for _ in range(3):
        done = await submit(http, "/sign-up", email=address("bulk"), password=NEW_PASSWORD)
        assert done.status_code == 200
    last = address("bulk")
    refused = await submit(http, "/sign-up", email=last, password=NEW_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert last not in [u["email"] for u in await users(http)]


async def test_a_password_shorter_than_the_rule_is_refused(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int]
) -> None:
    short = address("short")
    refused = await submit(http, "/sign-up", email=short, password="seven77")
    assert refused.status_code == 400
    assert "Use at least 8 characters." in refused.text
    assert short not in [u["email"] for u in await users(http)]
    await anyio.sleep(0.2)
    assert inbox[0].messages == []


async def test_a_sign_up_without_the_csrf_cookie_is_refused(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int]
) -> None:
    page = await http.get("/sign-up")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    http.cookies.clear()
    forged = address("forged")
    refused = await http.post(
        "/sign-up",
        data={"csrf_token": token.group(1), "email": forged, "password": NEW_PASSWORD},
    )
    assert refused.status_code == 403
    assert forged not in [u["email"] for u in await users(http)]


async def test_sign_up_is_off_unless_turned_on(
    settings: Settings, inbox: tuple[Inbox, int], register: Register
) -> None:
    off = settings_with(settings, inbox[1])
    async with replica(off, FrozenClock()) as client:
        assert (await client.get("/sign-up")).status_code == 404
        assert (await client.post("/sign-up", data={"email": "x@example.org"})).status_code == 404
        rp = await register()
        started = await client.get("/authorize", params=code_params(rp.client_id, "x" * 43))
        login = await client.get(started.headers["location"])
        assert login.status_code == 200
        assert "Sign in" in login.text
        assert "/sign-up" not in login.text
        assert "Create an account" not in login.text


async def test_sign_up_is_on_in_demo_mode_unless_turned_off(
    settings: Settings, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    def demo(db: str, **oidc: object) -> Settings:
        # Demo mode seeds a database of its own: never the one the other tests share.
        data = settings_with(settings, inbox[1], **oidc).model_dump(mode="python")
        data.update(demo_data=True)
        data["database"] = {"url": f"sqlite+aiosqlite:///{tmp_path / db}"}
        return Settings.model_validate(data)

    async with replica(demo("on.db"), FrozenClock()) as client:
        page = await client.get("/sign-up")
        assert page.status_code == 200
        assert "Create an account" in page.text
    async with replica(demo("off.db", accounts={"self_sign_up": False}), FrozenClock()) as client:
        assert (await client.get("/sign-up")).status_code == 404
