"""A passkey as the second factor after the password: offered on the second-factor step to a
user who has one (with or without an authenticator app), asked for when the sign-in must be
multi-factor (a client's require_mfa, an essential acr), verified against the user's own
passkeys for a one-time challenge; the ID token says pwd + hwk, mfa. Passkeys are made and
used by a software authenticator (tests/api/oidc/soft_authenticator.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.oidc.accounts_helpers import account_sign_in, enrol_totp, totp_at
from tests.api.oidc.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
)
from tests.api.oidc.soft_authenticator import SoftAuthenticator, b64u
from tests.secrets_seen import SecretsSeen
from tokend.core.clock import FrozenClock
from tokend.core.jwt import read_unverified
from tokend.oidc.authn_context import ACR_MFA

OPTIONS = re.compile(r'<script type="application/json" id="passkey-options">(.*?)</script>', re.S)
CEREMONY = re.compile(r'name="ceremony" value="([^"]+)"')


def browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def add_passkey(app: FastAPI, email: str) -> SoftAuthenticator:
    """A passkey made on the account page, in a browser of its own."""
    authenticator = SoftAuthenticator(origin="http://testserver", rp_id="testserver")
    async with browser(app) as own:
        assert (await account_sign_in(own, email)).status_code == 303
        page = await own.get("/account/security")
        started = await own.post("/account/passkeys/new", data={"csrf_token": csrf_of(page.text)})
        options = OPTIONS.search(started.text)
        ceremony = CEREMONY.search(started.text)
        assert options is not None
        assert ceremony is not None
        added = await own.post(
            "/account/passkeys",
            data={"csrf_token": csrf_of(started.text), "ceremony": ceremony.group(1),
                  "credential": authenticator.create(json.loads(options.group(1))),
                  "name": "Laptop"},
        )  # fmt: skip
        assert added.status_code == 303, added.text
    return authenticator


async def password_step(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str
) -> tuple[str, str, httpx.Response]:
    """Start a code flow for ``rp`` and sign in with the password: (uid, verifier, answer)."""
    verifier, challenge = pkce_pair()
    started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    page = await http.get(location)
    uid = location.rsplit("/", 1)[1]
    answer = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD},
    )
    return uid, verifier, answer


async def id_token_claims(
    http: httpx.AsyncClient, rp: RegisteredClient, answer: httpx.Response, verifier: str
) -> dict[str, Any]:
    location = answer.headers["location"]
    if location.startswith("/interaction/"):  # consent
        page = await http.get(location)
        answer = await http.post(
            f"{location}/consent", data={"csrf_token": csrf_of(page.text), "decision": "allow"}
        )
        location = answer.headers["location"]
    assert location.startswith(REDIRECT), location
    tokens = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query_of(location)["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return dict(read_unverified(tokens.json()["id_token"])[1])


async def test_a_client_that_requires_mfa_gets_password_then_passkey(
    oidc_app: FastAPI, http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    authenticator = await add_passkey(oidc_app, user["email"])
    rp = await register(require_mfa=True)
    uid, verifier, answer = await password_step(http, rp, user["email"])
    assert answer.status_code == 200, answer.text
    assert "Use your passkey" in answer.text
    assert 'name="code"' not in answer.text  # no authenticator app: no code to type
    options = OPTIONS.search(answer.text)
    assert options is not None
    offered = json.loads(options.group(1))
    assert [c["id"] for c in offered["allowCredentials"]] == [b64u(authenticator.credential_id)]
    assert offered["userVerification"] == "preferred"
    # A security key without user verification is a second factor after the password.
    confirmed = await http.post(
        f"/interaction/{uid}/second-factor/passkey",
        data={"csrf_token": csrf_of(answer.text),
              "credential": authenticator.get(offered, user_verified=False)},
    )  # fmt: skip
    assert confirmed.status_code == 303, confirmed.text
    claims = await id_token_claims(http, rp, confirmed, verifier)
    assert set(claims["amr"]) == {"pwd", "hwk", "mfa"}
    assert claims["acr"] == ACR_MFA


async def test_without_an_mfa_requirement_the_password_alone_signs_in(
    oidc_app: FastAPI, http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    await add_passkey(oidc_app, user["email"])
    rp = await register()
    _uid, verifier, answer = await password_step(http, rp, user["email"])
    assert answer.status_code == 303, answer.text
    claims = await id_token_claims(http, rp, answer, verifier)
    assert claims["amr"] == ["pwd"]


async def test_a_user_with_an_app_may_use_the_passkey_instead_of_the_code(
    oidc_app: FastAPI,
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    authenticator = await add_passkey(oidc_app, user["email"])
    async with browser(oidc_app) as own:
        assert (await account_sign_in(own, user["email"])).status_code == 303
        seed, _codes = await enrol_totp(own, clock.now(), secrets_seen)
    clock.advance(31)  # the enrolment used this time step's code
    rp = await register()
    uid, verifier, answer = await password_step(http, rp, user["email"])
    assert answer.status_code == 200, answer.text
    assert 'name="code"' in answer.text
    assert "Use a passkey instead" in answer.text
    options = OPTIONS.search(answer.text)
    assert options is not None
    confirmed = await http.post(
        f"/interaction/{uid}/second-factor/passkey",
        data={"csrf_token": csrf_of(answer.text),
              "credential": authenticator.get(json.loads(options.group(1)))},
    )  # fmt: skip
    assert confirmed.status_code == 303, confirmed.text
    claims = await id_token_claims(http, rp, confirmed, verifier)
    assert set(claims["amr"]) == {"pwd", "hwk", "user", "mfa"}
    assert totp_at(seed, clock.now())  # the app's code was never needed


async def test_a_stranger_passkey_a_replay_or_garbage_confirms_nothing(
    oidc_app: FastAPI,
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    secrets_seen: SecretsSeen,
) -> None:
    mine = await add_passkey(oidc_app, user["email"])
    other = await http.post(
        "/admin/users",
        json={"email": "mallory@example.org", "password": PASSWORD, "email_verified": True},
        headers=ADMIN,
    )
    assert other.status_code == 201, other.text
    theirs = await add_passkey(oidc_app, "mallory@example.org")
    rp = await register(require_mfa=True)
    uid, _verifier, answer = await password_step(http, rp, user["email"])
    options = OPTIONS.search(answer.text)
    assert options is not None
    offered = json.loads(options.group(1))
    csrf = csrf_of(answer.text)
    path = f"/interaction/{uid}/second-factor/passkey"
    # Mallory's own passkey proves nothing about this user.
    stranger = await http.post(path, data={"csrf_token": csrf, "credential": theirs.get(offered)})
    assert stranger.status_code == 400
    assert "did not confirm" in stranger.text
    # The challenge was used by that attempt: an assertion for it is a replay now.
    replay = await http.post(path, data={"csrf_token": csrf, "credential": mine.get(offered)})
    assert replay.status_code == 400
    for garbage in ("", "not json", "{" * 3000, json.dumps({"id": "AAAA", "response": {}})):
        refused = await http.post(path, data={"csrf_token": csrf, "credential": garbage})
        assert refused.status_code == 400, garbage[:20]
    forged = await http.post(path, data={"csrf_token": "forged", "credential": mine.get(offered)})
    assert forged.status_code == 403
    # A fresh page has a fresh challenge, and the user's own passkey confirms it.
    page = await http.get(f"/interaction/{uid}")
    fresh = OPTIONS.search(page.text)
    assert fresh is not None
    done = await http.post(
        path, data={"csrf_token": csrf, "credential": mine.get(json.loads(fresh.group(1)))}
    )
    assert done.status_code == 303, done.text
