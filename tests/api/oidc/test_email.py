"""Password reset and email verification mails, through the jobs and a real SMTP server."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.api.oidc.accounts_helpers import account_sign_in, enrol_totp
from tests.api.oidc.conftest import (
    ADMIN_TOKEN,
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
    sign_in_and_consent,
)
from tests.api.oidc.mail_inbox import Inbox, submit, text_of
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock


@pytest.fixture
def oidc_settings(
    settings: Settings, secrets_seen: SecretsSeen, inbox: tuple[Inbox, int]
) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {
        "accounts": TEST_ARGON2,
        "email": {
            "backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": inbox[1],
            "smtp_starttls": False,
        },
    }
    return Settings.model_validate(data)


async def test_password_reset_link_from_the_mail_sets_a_new_password_once(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    register: Register,
    secrets_seen: SecretsSeen,
) -> None:
    sent = await submit(http, "/password/forgot", email=user["email"].upper())
    assert sent.status_code == 200
    assert "Check your inbox" in sent.text
    link = await inbox[0].next_link(1)
    secrets_seen.add(link.split("token=")[1])
    new_password = secrets_seen.add("a brand new password 9")
    changed = await submit(http, link, password=new_password, token=link.split("token=")[1])
    assert changed.status_code == 200, changed.text
    assert "Password changed" in changed.text
    again = await http.get(link)
    assert again.status_code == 400
    rp: RegisteredClient = await register()
    query = await sign_in_and_consent(
        http, code_params(rp.client_id, pkce_pair()[1]), user["email"], new_password
    )
    assert "code" in query


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], user: dict[str, Any]
) -> None:
    sent = await submit(http, "/password/forgot", email="nobody@example.org")
    assert sent.status_code == 200
    assert "Check your inbox" in sent.text
    await submit(http, "/password/forgot", email=user["email"])
    await inbox[0].next_link(1)
    assert [m["To"] for m in inbox[0].messages] == [user["email"]]


async def test_verification_link_marks_the_email_verified(
    http: httpx.AsyncClient, inbox: tuple[Inbox, int], secrets_seen: SecretsSeen
) -> None:
    created = await http.post(
        "/admin/users",
        json={"email": "unverified@example.org", "password": "some password 1"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    user_id = created.json()["id"]
    await submit(http, "/email/verify", email="unverified@example.org")
    link = await inbox[0].next_link(1)
    secrets_seen.add(link.split("token=")[1])
    confirmed = await http.get(link)
    assert confirmed.status_code == 200
    assert "Email verified" in confirmed.text
    shown = await http.get(
        f"/admin/users/{user_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert shown.json()["email_verified"] is True
    assert (await http.get(link)).status_code == 400


async def test_forms_without_the_csrf_cookie_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/password/forgot", data={"csrf_token": "forged", "email": "a@example.org"}
    )
    assert response.status_code == 403


async def test_a_user_is_told_of_a_new_sign_in_method_and_a_new_password(
    http: httpx.AsyncClient,
    inbox: tuple[Inbox, int],
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    # NIST SP 800-63B §6.1.2: a newly bound authenticator is told through the address on file;
    # so is a new password (whoever set it, the user or an administrator).
    signed = await account_sign_in(http, user["email"])
    assert signed.status_code == 303, signed.text
    seed, codes = await enrol_totp(http, clock.now(), secrets_seen)
    [added] = await inbox[0].arrived(1)
    assert added["To"] == user["email"]
    assert added["Subject"] == "A sign-in method was added to your account"
    text = text_of(added)
    assert "An authenticator app" in text
    assert "http://testserver/password/forgot" in text
    assert seed not in text
    assert not any(code in text for code in codes)
    new_password = secrets_seen.add("an admin-chosen password 7")
    changed = await http.patch(
        f"/admin/users/{user['id']}",
        json={"password": new_password},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert changed.status_code == 200, changed.text
    told = (await inbox[0].arrived(2))[1]
    assert told["Subject"] == "Your password was changed"
    assert "by an administrator" in text_of(told)
    assert new_password not in text_of(told)
    await anyio.sleep(0.2)
    assert len(inbox[0].messages) == 2  # one mail per event: enrolment's codes are not another
