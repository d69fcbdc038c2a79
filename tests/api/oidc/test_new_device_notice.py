"""The new-device sign-in notice (issue 21): a sign-in from a browser the account has not
signed in from before mails the user (a verified address; ``oidc.email.security_notices``) the
time, the IP address and what browser it was; a known browser, the first browser of an
account, and an unverified address are told nothing; only so many browsers are remembered."""

from __future__ import annotations

import re
import secrets
from typing import Any

import anyio
import httpx
import pytest

from tests.api.oidc.accounts_helpers import account_sign_in
from tests.api.oidc.conftest import ADMIN, PASSWORD
from tests.api.oidc.mail_inbox import Inbox, link_of, smtp_settings, submit, text_of
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.oidc.known_devices import DEVICE_COOKIE

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def notices() -> bool:
    return True


@pytest.fixture
def oidc_settings(oidc_settings: Settings, inbox: tuple[Inbox, int], notices: bool) -> Settings:
    data = oidc_settings.model_dump(mode="python")
    data["oidc"]["email"] = {**smtp_settings(inbox[1]), "security_notices": notices}
    data["oidc"]["accounts"] = {**TEST_ARGON2, "known_devices_max": 2, "self_sign_up": True}
    return Settings.model_validate(data)


async def sign_in_from(
    http: httpx.AsyncClient, email: str, user_agent: str, device: str | None
) -> str:
    """Sign in to /account from a browser with ``device`` as its device cookie (None: a
    browser that never signed in here) and no session; the device cookie it keeps."""
    http.cookies.clear()
    if device is not None:
        http.cookies.set(DEVICE_COOKIE, device, domain="testserver.local")
    http.headers["User-Agent"] = user_agent
    answer = await account_sign_in(http, email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    kept = answer.cookies.get(DEVICE_COOKIE)
    assert kept is not None
    return kept


async def no_more_mail(inbox: Inbox, count: int) -> None:
    """The job queue runs in the process: give it the time a mail took in the other tests."""
    await anyio.sleep(0.5)
    assert len(inbox.messages) == count, [m["Subject"] for m in inbox.messages]


async def test_a_new_browser_is_told_of_with_when_where_and_what_and_a_known_one_is_not(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], clock: FrozenClock
) -> None:
    mail = inbox[0]
    # The account's first browser (as right after sign-up) is not news.
    first = await sign_in_from(http, user["email"], FIREFOX, None)
    await no_more_mail(mail, 0)
    # A random 256-bit id, kept by a browser that sends it back.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    assert await sign_in_from(http, user["email"], FIREFOX, first) == first
    await no_more_mail(mail, 0)
    clock.advance(60)
    second = await sign_in_from(http, user["email"], SAFARI, None)
    assert second != first
    [told] = await mail.arrived(1)
    assert told["To"] == user["email"]
    assert told["Subject"] == "New sign-in to your account"
    text = text_of(told)
    assert clock.now().strftime("%Y-%m-%d %H:%M UTC") in text
    assert "Safari on iOS" in text
    assert "from the IP address 127.0.0.1" in text
    assert "http://testserver/password/forgot" in text
    # Never the header's own text, nor the cookie, nor the password.
    for leaked in ("Mozilla", "AppleWebKit", second, PASSWORD):
        assert leaked not in text
    # Both browsers are known now.
    await sign_in_from(http, user["email"], SAFARI, second)
    await sign_in_from(http, user["email"], FIREFOX, first)
    await no_more_mail(mail, 1)


async def test_the_device_cookie_is_long_lived_http_only_and_lax(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    http.cookies.clear()
    started = await http.get("/account/sign-in")
    page = await http.get(started.headers["location"])
    uid = started.headers["location"].rsplit("/", 1)[1]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf.group(1), "email": user["email"], "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text
    [cookie] = [
        h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{DEVICE_COOKIE}=")
    ]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "max-age=34560000" in cookie.lower()  # 400 days, the browsers' cap
    assert "path=/" in cookie.lower()


async def test_a_malformed_device_cookie_is_a_new_browser_and_is_replaced(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any]
) -> None:
    await sign_in_from(http, user["email"], FIREFOX, None)
    forged = "x" * 42 + "!"
    kept = await sign_in_from(http, user["email"], FIREFOX, forged)
    assert kept != forged
    [told] = await inbox[0].arrived(1)
    assert "Firefox on Linux" in text_of(told)


async def test_only_the_last_browsers_are_remembered_and_a_forgotten_one_is_new_again(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any], clock: FrozenClock
) -> None:
    # known_devices_max is 2 here.
    a = await sign_in_from(http, user["email"], FIREFOX, None)
    clock.advance(60)
    b = await sign_in_from(http, user["email"], FIREFOX, None)
    clock.advance(60)
    c = await sign_in_from(http, user["email"], FIREFOX, None)
    await inbox[0].arrived(2)  # b and c
    clock.advance(60)
    await sign_in_from(http, user["email"], FIREFOX, c)
    await sign_in_from(http, user["email"], FIREFOX, b)
    await no_more_mail(inbox[0], 2)
    clock.advance(60)
    assert await sign_in_from(http, user["email"], FIREFOX, a) == a  # the cookie stays
    await inbox[0].arrived(3)


async def test_an_unverified_address_is_told_nothing(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int]
) -> None:
    email = f"new.{secrets.token_hex(3)}@example.org"
    created = await http.post(
        "/admin/users",
        json={"email": email, "password": PASSWORD, "email_verified": False},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    await sign_in_from(http, email, FIREFOX, None)
    await sign_in_from(http, email, SAFARI, None)
    await no_more_mail(inbox[0], 0)


@pytest.mark.parametrize("notices", [False])
async def test_the_security_notices_switch_turns_it_off(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any]
) -> None:
    await sign_in_from(http, user["email"], FIREFOX, None)
    await sign_in_from(http, user["email"], SAFARI, None)
    await no_more_mail(inbox[0], 0)


async def test_the_first_sign_in_after_sign_up_sends_nothing_and_a_second_browser_is_told(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], secrets_seen: SecretsSeen
) -> None:
    email = f"signed.up.{secrets.token_hex(3)}@example.org"
    created = await submit(http, "/sign-up", email=email, name="New User", password=PASSWORD)
    assert created.status_code == 200, created.text
    [verify] = await inbox[0].arrived(1)
    link = link_of(verify)
    secrets_seen.add(link.split("token=")[1])
    assert (await http.get(link)).status_code == 200
    await sign_in_from(http, email, FIREFOX, None)
    await no_more_mail(inbox[0], 1)  # the verification mail only
    await sign_in_from(http, email, SAFARI, None)
    told = (await inbox[0].arrived(2))[1]
    assert told["Subject"] == "New sign-in to your account"
    assert told["To"] == email
