"""Changing the e-mail address from /account: re-authenticated, confirmed only by a one-time,
short-lived link mailed to the new address, told to the old one (real SMTP, aiosmtpd)."""

from __future__ import annotations

import secrets
from email.message import Message
from typing import Any

import anyio
import httpx
import pytest

from tests.api.oidc.accounts_helpers import account_sign_in
from tests.api.oidc.conftest import ADMIN, ADMIN_TOKEN, PASSWORD, csrf_of
from tests.api.oidc.mail_inbox import Inbox, link_of, smtp_settings, text_of
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock


@pytest.fixture
def new() -> str:
    """A new address no other test uses (the database outlives each test)."""
    return f"new.{secrets.token_hex(4)}@example.net"


@pytest.fixture
def oidc_settings(
    settings: Settings, secrets_seen: SecretsSeen, inbox: tuple[Inbox, int]
) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(PASSWORD)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {
        "accounts": TEST_ARGON2,
        "email": smtp_settings(inbox[1]),
        "rate_limits": {"login_per_ip": "1000/minute"},
    }
    return Settings.model_validate(data)


async def ask_change(
    http: httpx.AsyncClient, new_email: str, password: str = PASSWORD
) -> httpx.Response:
    page = await http.get("/account")
    assert page.status_code == 200, page.text
    return await http.post(
        "/account/email",
        data={"csrf_token": csrf_of(page.text), "email": new_email, "password": password},
    )


async def email_of(http: httpx.AsyncClient, user_id: str) -> tuple[str, bool]:
    shown = (await http.get(f"/admin/users/{user_id}", headers=ADMIN)).json()
    return shown["email"], shown["email_verified"]


async def mails(inbox: Inbox, count: int, secrets_seen: SecretsSeen) -> dict[str, Message]:
    """The first ``count`` mails by recipient; every link in them registered as a secret."""
    arrived = {m["To"]: m for m in await inbox.arrived(count)}
    for message in arrived.values():
        if "token=" in text_of(message):
            secrets_seen.add(link_of(message).split("token=")[1])
    return arrived


async def signed_in(http: httpx.AsyncClient, user: dict[str, Any]) -> None:
    answer = await account_sign_in(http, user["email"])
    assert answer.status_code == 303, answer.text


async def test_the_link_to_the_new_address_switches_and_verifies_it_once(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    secrets_seen: SecretsSeen,
    new: str,
) -> None:
    await signed_in(http, user)
    asked = await ask_change(http, new)
    assert asked.status_code == 303, asked.text
    assert asked.headers["location"].startswith("/account?done=email-sent")
    assert await email_of(http, user["id"]) == (user["email"], True)  # nothing changed yet

    got = await mails(inbox[0], 2, secrets_seen)
    told, confirm = got[user["email"]], got[new]
    assert told["Subject"] == "Your email address is being changed"
    assert f"{new[0]}***@example.net" in text_of(told)
    assert new not in text_of(told)
    assert "token=" not in text_of(told)
    assert confirm["Subject"] == "Confirm your new email address"
    link = link_of(confirm)
    assert link.startswith("/account/email/confirm?token=")

    http.cookies.clear()  # the link works in any browser: it needs no session
    changed = await http.get(link)
    assert changed.status_code == 200, changed.text
    assert "Email address changed" in changed.text
    assert await email_of(http, user["id"]) == (new, True)
    assert (await http.get(link)).status_code == 400  # one-time
    assert await email_of(http, user["id"]) == (new, True)
    assert (await account_sign_in(http, new)).status_code == 303


async def test_a_wrong_password_changes_nothing_and_mails_nobody(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], new: str
) -> None:
    await signed_in(http, user)
    refused = await ask_change(http, new, password="not the password")
    assert refused.status_code == 400
    assert "Your password is not correct." in refused.text
    await anyio.sleep(0.3)
    assert inbox[0].messages == []
    assert await email_of(http, user["id"]) == (user["email"], True)


async def test_an_expired_link_does_not_switch(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    new: str,
) -> None:
    await signed_in(http, user)
    assert (await ask_change(http, new)).status_code == 303
    link = link_of((await mails(inbox[0], 2, secrets_seen))[new])
    clock.advance(1801)  # oidc.email.change_link_ttl_s, 30 minutes by default
    expired = await http.get(link)
    assert expired.status_code == 400
    assert "not valid any more" in expired.text
    assert await email_of(http, user["id"]) == (user["email"], True)


async def test_a_newer_change_makes_the_earlier_link_stop_working(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    secrets_seen: SecretsSeen,
    new: str,
) -> None:
    await signed_in(http, user)
    assert (await ask_change(http, new)).status_code == 303
    first = link_of((await mails(inbox[0], 2, secrets_seen))[new])
    second = "second." + new
    assert (await ask_change(http, second)).status_code == 303
    latest = link_of((await mails(inbox[0], 4, secrets_seen))[second])
    assert (await http.get(first)).status_code == 400
    assert await email_of(http, user["id"]) == (user["email"], True)
    assert (await http.get(latest)).status_code == 200
    assert await email_of(http, user["id"]) == (second, True)


async def test_an_address_of_another_account_is_refused_and_never_switched(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], new: str
) -> None:
    other = await http.post(
        "/admin/users",
        json={"email": new.upper(), "password": "another password 3"},
        headers=ADMIN,
    )
    assert other.status_code == 201
    await signed_in(http, user)
    refused = await ask_change(http, new)
    assert refused.status_code == 409
    assert "That address cannot be used for your account." in refused.text
    assert "another account" not in refused.text
    await anyio.sleep(0.3)
    assert inbox[0].messages == []
    assert await email_of(http, user["id"]) == (user["email"], True)


async def test_an_address_taken_before_the_link_is_opened_is_not_switched(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    secrets_seen: SecretsSeen,
    new: str,
) -> None:
    await signed_in(http, user)
    assert (await ask_change(http, new)).status_code == 303
    link = link_of((await mails(inbox[0], 2, secrets_seen))[new])
    other = await http.post(
        "/admin/users", json={"email": new, "password": "another password 3"}, headers=ADMIN
    )
    assert other.status_code == 201
    refused = await http.get(link)
    assert refused.status_code == 409
    assert await email_of(http, user["id"]) == (user["email"], True)


async def test_changing_the_email_needs_the_session_and_the_csrf_token(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], new: str
) -> None:
    anonymous = await http.post("/account/email", data={"email": new, "password": PASSWORD})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/account/sign-in"
    await signed_in(http, user)
    forged = await http.post(
        "/account/email", data={"csrf_token": "forged", "email": new, "password": PASSWORD}
    )
    assert forged.status_code == 403
    await anyio.sleep(0.3)
    assert inbox[0].messages == []


async def test_password_guesses_on_the_email_form_are_rate_limited(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], new: str
) -> None:
    await signed_in(http, user)
    for n in range(5):  # oidc.rate_limits.email_change_per_user, 5 an hour
        wrong = await ask_change(http, new, password=f"guess number {n}")
        assert wrong.status_code == 400
    limited = await ask_change(http, new)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    await anyio.sleep(0.3)
    assert inbox[0].messages == []
    assert await email_of(http, user["id"]) == (user["email"], True)
