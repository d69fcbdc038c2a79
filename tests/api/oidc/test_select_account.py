"""``prompt=select_account`` (OIDC Core §3.1.2.1): a browser remembers the accounts signed in on
it; with more than one, the request shows a chooser (CSRF-protected, the current account first
and focused, "use another account"), and the chosen account goes on as its own session would
(``max_age`` checked against it); with one or none it asks to sign in. Signing out ends the
current session only."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import jwt
import pytest

from tests.api.oidc.conftest import (
    PASSWORD,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.api.oidc.test_conformance import exchange, new_user
from tokend.core.clock import FrozenClock

CHOOSER = "Choose an account"


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register()
    return client


async def signed_in_as(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str, **extra: str
) -> str:
    """Sign in as ``email`` (and allow the client); the ``sub`` of the ID token issued."""
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge, **extra), email)
    return await sub_of(http, rp, query["code"], verifier)


async def sub_of(http: httpx.AsyncClient, rp: RegisteredClient, code: str, verifier: str) -> str:
    tokens = await exchange(http, rp, code, verifier)
    claims: dict[str, Any] = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    sub: str = claims["sub"]
    return sub


async def two_accounts(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ada signed in first, then Bob (``prompt=login``) on the same browser: Bob is current."""
    ada, bob = await new_user(http, name="Ada L"), await new_user(http)
    assert await signed_in_as(http, rp, ada["email"]) == ada["id"]
    assert await signed_in_as(http, rp, bob["email"], prompt="login") == bob["id"]
    return ada, bob


async def chooser(http: httpx.AsyncClient, params: dict[str, str]) -> tuple[str, str]:
    """The interaction's uid and the page ``/authorize`` leads to."""
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/interaction/")
    page = await http.get(location)
    assert page.status_code == 200
    return location.rsplit("/", 1)[1], page.text


def sid_for(page: str, email: str) -> str:
    """The ``sid`` the chooser's button for ``email`` sends."""
    for button in re.findall(r"<button[^>]*name=\"sid\".*?</button>", page, re.S):
        if html.escape(email) in button:
            return re.search(r'value="([^"]+)"', button).group(1)  # type: ignore[union-attr]
    raise AssertionError(f"{email} is not on the chooser")


async def test_several_accounts_show_a_chooser_and_the_chosen_one_goes_on(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    ada, bob = await two_accounts(http, rp)
    verifier, challenge = pkce_pair()
    uid, page = await chooser(http, code_params(rp.client_id, challenge, prompt="select_account"))
    assert CHOOSER in page
    assert "Use another account" in page
    # The current account (Bob) first and focused; Ada by name, with her address.
    assert page.index(html.escape(bob["email"])) < page.index("Ada L")
    assert 'autofocus aria-describedby="current-account"' in page
    assert html.escape(ada["email"]) in page
    # No session secret is in the page: the buttons send the sessions' public handles.
    secrets = [http.cookies["tokend_session"], *http.cookies["tokend_accounts"].split(".")]
    assert len(secrets) == 3  # the current session, and both listed
    for secret in secrets:
        assert secret not in page
    chosen = await http.post(
        f"/interaction/{uid}/account",
        data={"csrf_token": csrf_of(page), "sid": sid_for(page, ada["email"])},
    )
    assert chosen.status_code == 303, chosen.text
    assert (
        await sub_of(http, rp, query_of(chosen.headers["location"])["code"], verifier) == ada["id"]
    )
    # Ada's session is the browser's current one now: a plain request goes on as her.
    verifier, challenge = pkce_pair()
    again = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert (
        await sub_of(http, rp, query_of(again.headers["location"])["code"], verifier) == ada["id"]
    )


async def test_the_chooser_form_is_csrf_protected_and_takes_only_this_browser_s_sessions(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    ada, _ = await two_accounts(http, rp)
    _, challenge = pkce_pair()
    uid, page = await chooser(http, code_params(rp.client_id, challenge, prompt="select_account"))
    sid = sid_for(page, ada["email"])
    forged = await http.post(f"/interaction/{uid}/account", data={"sid": sid})
    assert forged.status_code == 403
    unknown = await http.post(
        f"/interaction/{uid}/account", data={"csrf_token": csrf_of(page), "sid": "0" * 32}
    )
    assert unknown.status_code == 200
    assert CHOOSER in unknown.text


async def test_use_another_account_signs_in_and_remembers_it_too(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    ada, bob = await two_accounts(http, rp)
    carol = await new_user(http)
    verifier, challenge = pkce_pair()
    uid, page = await chooser(http, code_params(rp.client_id, challenge, prompt="select_account"))
    login = await http.post(
        f"/interaction/{uid}/account", data={"csrf_token": csrf_of(page), "another": "1"}
    )
    assert login.status_code == 200
    assert "Sign in" in login.text
    signed_in = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(login.text), "email": carol["email"], "password": PASSWORD},
    )
    consent = await http.get(signed_in.headers["location"])
    allowed = await http.post(
        f"/interaction/{uid}/consent",
        data={"csrf_token": csrf_of(consent.text), "decision": "allow"},
    )
    assert (
        await sub_of(http, rp, query_of(allowed.headers["location"])["code"], verifier)
        == carol["id"]
    )
    _, challenge = pkce_pair()
    _, page = await chooser(http, code_params(rp.client_id, challenge, prompt="select_account"))
    for user in (ada, bob, carol):
        assert html.escape(user["email"]) in page


async def test_the_chosen_account_still_meets_max_age(
    http: httpx.AsyncClient, rp: RegisteredClient, clock: FrozenClock
) -> None:
    ada, _ = await two_accounts(http, rp)
    clock.advance(600)
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, prompt="select_account", max_age="60")
    uid, page = await chooser(http, params)
    chosen = await http.post(
        f"/interaction/{uid}/account",
        data={"csrf_token": csrf_of(page), "sid": sid_for(page, ada["email"])},
    )
    # Ada signed in ten minutes ago: she signs in again before any code is issued.
    assert chosen.status_code == 303
    assert chosen.headers["location"] == f"/interaction/{uid}"
    again = await http.get(chosen.headers["location"])
    assert "Sign in" in again.text
    assert CHOOSER not in again.text


async def test_one_account_asks_to_sign_in_and_none_with_select_account_is_invalid(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    ada = await new_user(http)
    await signed_in_as(http, rp, ada["email"])
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, prompt="select_account")
    _, page = await chooser(http, params)
    assert "Sign in" in page
    assert CHOOSER not in page
    params["prompt"] = "none select_account"
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_signing_out_ends_the_current_account_only(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    ada, bob = await two_accounts(http, rp)
    carol = await new_user(http)
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(
        http, code_params(rp.client_id, challenge, prompt="login"), carol["email"]
    )
    tokens = await exchange(http, rp, query["code"], verifier)
    out = await http.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    assert out.status_code == 303
    _, challenge = pkce_pair()
    _, page = await chooser(http, code_params(rp.client_id, challenge, prompt="select_account"))
    assert CHOOSER in page
    assert html.escape(carol["email"]) not in page
    for user in (ada, bob):
        assert html.escape(user["email"]) in page
