"""Driving the account pages and the second-factor step like a browser (httpx, cookies kept)."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pyotp

from tests.api.oidc.conftest import PASSWORD, csrf_of
from tests.secrets_seen import SecretsSeen

SEED = re.compile(r'id="totp-seed">([A-Z2-7]+)<')
RECOVERY = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")


def totp_at(seed: str, moment: datetime) -> str:
    return pyotp.TOTP(seed).at(moment)


async def account_sign_in(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, code: str | None = None
) -> httpx.Response:
    """Sign in to /account; the last response (a 303 to /account when it worked)."""
    started = await http.get("/account/sign-in")
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    uid = location.rsplit("/", 1)[1]
    page = await http.get(location)
    assert page.status_code == 200, page.text
    csrf = csrf_of(page.text)
    answer = await http.post(
        f"/interaction/{uid}/login", data={"csrf_token": csrf, "email": email, "password": password}
    )
    if answer.status_code == 200 and "Two-step verification" in answer.text:
        assert code is not None, "the account asks for a second factor"
        answer = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": code}
        )
    return answer


async def enrol_totp(
    http: httpx.AsyncClient, now: datetime, secrets_seen: SecretsSeen
) -> tuple[str, list[str]]:
    """Turn on two-step verification for the signed-in user: its seed and recovery codes."""
    page = await http.get("/account/security")
    assert page.status_code == 200, page.text
    csrf = csrf_of(page.text)
    started = await http.post("/account/totp/start", data={"csrf_token": csrf})
    assert started.status_code == 303, started.text
    page = await http.get("/account/security")
    match = SEED.search(page.text)
    assert match is not None, page.text
    seed = secrets_seen.add(match.group(1))
    assert "<svg" in page.text  # the QR code, rendered here
    confirmed = await http.post(
        "/account/totp/confirm", data={"csrf_token": csrf, "code": totp_at(seed, now)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = RECOVERY.findall(confirmed.text)
    for code in codes:
        secrets_seen.add(code)
    return seed, codes
