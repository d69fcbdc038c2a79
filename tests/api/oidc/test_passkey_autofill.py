"""Passkeys in the username field's autofill (WebAuthn L3 §5.1.4, conditional mediation): the
login page marks the field ``autocomplete="username webauthn"`` and lets its own script fetch a
fresh challenge (``POST /interaction/{uid}/passkey/options``, with the form's CSRF token); the
assertion for it signs in at the same endpoint, with the same checks, as the passkey button.
The browser half is tests/e2e/test_accounts_browser.py (Chromium's virtual authenticator)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.oidc.conftest import Register, code_params, csrf_of, pkce_pair
from tests.api.oidc.test_passkey_second_factor import OPTIONS, add_passkey, id_token_claims


async def login_page(http: httpx.AsyncClient, register: Register) -> tuple[Any, ...]:
    rp = await register(skip_consent=True)
    verifier, challenge = pkce_pair()
    started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert started.status_code == 303, started.text
    page = await http.get(started.headers["location"])
    assert page.status_code == 200
    return rp, verifier, started.headers["location"].rsplit("/", 1)[1], page


async def test_the_login_page_offers_passkeys_in_the_username_autofill(
    http: httpx.AsyncClient, register: Register
) -> None:
    _, _, uid, page = await login_page(http, register)
    assert 'id="email" name="email" type="email" autocomplete="username webauthn"' in page.text
    assert f'data-passkey-options="/interaction/{uid}/passkey/options"' in page.text
    assert "data-passkey-conditional" in page.text
    policy = page.headers["content-security-policy"]
    # Its own script only, and requests to this origin only (the fresh challenge).
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "default-src 'none';" in policy


async def test_a_fresh_challenge_signs_in_like_the_passkey_button_and_only_once(
    oidc_app: FastAPI, http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    authenticator = await add_passkey(oidc_app, user["email"])
    rp, verifier, uid, page = await login_page(http, register)
    embedded = OPTIONS.search(page.text)
    assert embedded is not None
    csrf = csrf_of(page.text)
    fetched = await http.post(f"/interaction/{uid}/passkey/options", data={"csrf_token": csrf})
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "application/json"
    assert fetched.headers["cache-control"] == "no-store"
    options = fetched.json()
    # Username-less: any discoverable credential of this relying party, verified user.
    assert options["rpId"] == "testserver"
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert options["challenge"] != json.loads(embedded.group(1))["challenge"]
    # One challenge at a time: the page's own is replaced by the fresh one.
    stale = await http.post(
        f"/interaction/{uid}/passkey",
        data={"csrf_token": csrf, "credential": authenticator.get(json.loads(embedded.group(1)))},
    )
    assert stale.status_code == 400, stale.text
    options = (
        await http.post(f"/interaction/{uid}/passkey/options", data={"csrf_token": csrf})
    ).json()
    signed = await http.post(
        f"/interaction/{uid}/passkey",
        data={"csrf_token": csrf, "credential": authenticator.get(options)},
    )
    assert signed.status_code == 303, signed.text
    claims = await id_token_claims(http, rp, signed, verifier)
    assert claims["sub"] == user["id"]
    assert claims["amr"] == ["hwk", "mfa", "user"]
    # The challenge was used: the same assertion does not sign in again.
    again = await http.post(
        f"/interaction/{uid}/passkey",
        data={"csrf_token": csrf, "credential": authenticator.get(options)},
    )
    assert again.status_code != 303


async def test_a_fresh_challenge_needs_the_forms_csrf_token_and_the_interaction(
    http: httpx.AsyncClient, register: Register
) -> None:
    _, _, uid, page = await login_page(http, register)
    forged = await http.post(f"/interaction/{uid}/passkey/options", data={"csrf_token": "x"})
    assert forged.status_code == 403
    assert "challenge" not in forged.text
    other = await http.post(
        f"/interaction/{uid[::-1]}/passkey/options", data={"csrf_token": csrf_of(page.text)}
    )
    assert other.status_code == 403
    http.cookies.clear()  # another browser: no interaction cookie
    stranger = await http.post(
        f"/interaction/{uid}/passkey/options", data={"csrf_token": csrf_of(page.text)}
    )
    assert stranger.status_code == 403
