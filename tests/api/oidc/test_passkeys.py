"""Passkeys at the API level: the ceremonies' options and pages, and every malformed answer a
browser (or an attacker) may post refused with a clear page, never a 500. The ceremonies with
a real authenticator run in tests/e2e/test_accounts_browser.py (Chromium's virtual one)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.api.oidc.accounts_helpers import account_sign_in
from tests.api.oidc.conftest import Register, code_params, csrf_of, pkce_pair

OPTIONS = re.compile(r'<script type="application/json" id="passkey-options">(.*?)</script>', re.S)
CEREMONY = re.compile(r'name="ceremony" value="([^"]+)"')
BAD_ANSWERS = [
    "",
    "not json",
    "[]",
    "null",
    json.dumps({"id": 5}),
    json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}),
    json.dumps({"id": "x" * 900, "response": {"clientDataJSON": "!!", "attestationObject": 1}}),
    json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
                "response": {"clientDataJSON": "e30", "attestationObject": "oA",
                             "authenticatorData": "AA", "signature": "AA"}}),
    "{" * 5000,
    "a" * 20000,
]  # fmt: skip


async def test_the_security_page_offers_a_passkey_with_its_own_script(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    assert (await account_sign_in(http, user["email"])).status_code == 303
    page = await http.get("/account/security")
    assert "script-src" not in page.headers["content-security-policy"]
    started = await http.post("/account/passkeys/new", data={"csrf_token": csrf_of(page.text)})
    assert started.status_code == 200, started.text
    assert "script-src 'self'" in started.headers["content-security-policy"]
    match = OPTIONS.search(started.text)
    assert match is not None
    options = json.loads(match.group(1))
    assert options["rp"]["id"] == "testserver"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["attestation"] == "none"
    assert "<" not in match.group(1)
    script = await http.get("/assets/passkeys.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("answer", BAD_ANSWERS)
async def test_a_malformed_new_passkey_is_refused_with_a_page(
    http: httpx.AsyncClient, user: dict[str, Any], answer: str
) -> None:
    assert (await account_sign_in(http, user["email"])).status_code == 303
    page = await http.get("/account/security")
    started = await http.post("/account/passkeys/new", data={"csrf_token": csrf_of(page.text)})
    ceremony = CEREMONY.search(started.text)
    assert ceremony is not None
    posted = await http.post(
        "/account/passkeys",
        data={"csrf_token": csrf_of(page.text), "ceremony": ceremony.group(1),
              "credential": answer, "name": "Mine"},
    )  # fmt: skip
    assert posted.status_code in (400, 413), posted.text
    assert "could not be added" in posted.text or posted.status_code == 413
    # The ceremony was used up: the same challenge cannot be tried again.
    again = await http.post(
        "/account/passkeys",
        data={"csrf_token": csrf_of(page.text), "ceremony": ceremony.group(1),
              "credential": answer, "name": "Mine"},
    )  # fmt: skip
    assert again.status_code in (400, 413)


@pytest.mark.parametrize("answer", BAD_ANSWERS)
async def test_a_malformed_passkey_sign_in_is_refused_with_the_login_page(
    http: httpx.AsyncClient, register: Register, answer: str
) -> None:
    rp = await register()
    _, challenge = pkce_pair()
    started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    uid = started.headers["location"].rsplit("/", 1)[1]
    page = await http.get(started.headers["location"])
    assert "script-src 'self'" in page.headers["content-security-policy"]
    options = OPTIONS.search(page.text)
    assert options is not None
    assert json.loads(options.group(1))["userVerification"] == "required"
    posted = await http.post(
        f"/interaction/{uid}/passkey", data={"csrf_token": csrf_of(page.text), "credential": answer}
    )
    assert posted.status_code in (400, 413), posted.text
    if posted.status_code == 400:
        assert "could not sign you in" in posted.text
    forged = await http.post(
        f"/interaction/{uid}/passkey", data={"csrf_token": "f" * 32, "credential": answer}
    )
    assert forged.status_code in (403, 413)
