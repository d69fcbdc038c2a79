"""The device authorization grant (RFC 8628): codes, polling, and approval on the provider's
own verification, sign-in and consent pages."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import PASSWORD, Register, RegisteredClient, csrf_of
from tokend.config import Settings
from tokend.core.clock import FrozenClock

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


@pytest.fixture
def oidc_settings(oidc_settings: Settings) -> Settings:
    data = oidc_settings.model_dump(mode="python")
    data["oidc"]["rate_limits"]["device_user_code_failures_per_ip"] = "3/minute"
    return Settings.model_validate(data)


async def device_client(register: Register) -> RegisteredClient:
    return await register(
        grant_types=[DEVICE_GRANT, "refresh_token"], redirect_uris=[], public=True
    )


async def start(http: httpx.AsyncClient, client_id: str, scope: str) -> dict[str, Any]:
    response = await http.post(
        "/device_authorization", data={"client_id": client_id, "scope": scope}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = response.json()
    return data


async def poll(http: httpx.AsyncClient, client_id: str, device_code: str) -> httpx.Response:
    return await http.post(
        "/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
    )


async def approve(
    http: httpx.AsyncClient, user_code: str, email: str, decision: str = "allow"
) -> httpx.Response:
    """Type the code like a person (lower case, no dash), sign in, and answer the consent."""
    entered = await http.post("/device", data={"user_code": user_code.lower().replace("-", "")})
    assert entered.status_code == 303, entered.text
    location = entered.headers["location"]
    uid = location.rsplit("/", 1)[1]
    page = await http.get(location)
    if "Sign in" in page.text:
        signed_in = await http.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD},
        )
        assert signed_in.status_code == 303, signed_in.text
        page = await http.get(signed_in.headers["location"])
    assert "Allow access" in page.text
    return await http.post(
        f"/interaction/{uid}/consent",
        data={"csrf_token": csrf_of(page.text), "decision": decision},
    )


async def test_a_device_gets_tokens_once_the_user_approves(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any], clock: FrozenClock
) -> None:
    rp = await device_client(register)
    started = await start(http, rp.client_id, "openid offline_access")
    assert USER_CODE.match(started["user_code"])
    assert started["verification_uri"] == "http://testserver/device"
    assert started["verification_uri_complete"] == (
        f"http://testserver/device?user_code={started['user_code']}"
    )
    assert started["interval"] == 5
    assert started["expires_in"] == 600
    pending = await poll(http, rp.client_id, started["device_code"])
    assert pending.json()["error"] == "authorization_pending"
    # The verification page fills the code in from verification_uri_complete.
    page = await http.get("/device", params={"user_code": started["user_code"]})
    assert started["user_code"] in page.text
    done = await approve(http, started["user_code"], user["email"])
    assert "Device connected" in done.text
    clock.advance(5)
    tokens = await poll(http, rp.client_id, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id_token", "refresh_token"} <= set(body)
    userinfo = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert userinfo.json()["sub"] == user["id"]
    clock.advance(5)
    again = await poll(http, rp.client_id, started["device_code"])
    assert again.json()["error"] == "invalid_grant"


async def test_polling_too_often_slows_the_device_down(
    http: httpx.AsyncClient, register: Register, clock: FrozenClock
) -> None:
    rp = await device_client(register)
    started = await start(http, rp.client_id, "openid")
    assert (await poll(http, rp.client_id, started["device_code"])).json()["error"] == (
        "authorization_pending"
    )
    clock.advance(4)
    early = await poll(http, rp.client_id, started["device_code"])
    assert early.status_code == 400
    assert early.json()["error"] == "slow_down"
    # §3.5: the interval is now 5 s longer (10 s), counted from the refused poll.
    clock.advance(9)
    assert (await poll(http, rp.client_id, started["device_code"])).json()["error"] == ("slow_down")
    clock.advance(15)
    assert (await poll(http, rp.client_id, started["device_code"])).json()["error"] == (
        "authorization_pending"
    )


async def test_denied_and_expired_device_codes_say_so(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any], clock: FrozenClock
) -> None:
    rp = await device_client(register)
    denied = await start(http, rp.client_id, "openid")
    page = await approve(http, denied["user_code"], user["email"], decision="deny")
    assert "Request denied" in page.text
    answer = await poll(http, rp.client_id, denied["device_code"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "access_denied"
    late = await start(http, rp.client_id, "openid")
    clock.advance(601)
    assert (await poll(http, rp.client_id, late["device_code"])).json()["error"] == (
        "expired_token"
    )
    gone = await http.post("/device", data={"user_code": late["user_code"]})
    assert gone.status_code == 400
    assert "not valid or has expired" in gone.text


async def test_a_device_code_is_bound_to_its_client_and_grant(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await device_client(register)
    other = await device_client(register)
    started = await start(http, rp.client_id, "openid")
    stolen = await poll(http, other.client_id, started["device_code"])
    assert stolen.json()["error"] == "invalid_grant"
    unknown = await poll(http, rp.client_id, "no-such-code")
    assert unknown.json()["error"] == "invalid_grant"
    missing = await http.post(
        "/token", data={"grant_type": DEVICE_GRANT, "client_id": rp.client_id}
    )
    assert missing.json()["error"] == "invalid_request"
    web = await register()  # an authorization-code client
    refused = await http.post("/device_authorization", data={"scope": "openid"}, auth=web.auth)
    assert refused.json()["error"] == "unauthorized_client"
    too_wide = await http.post(
        "/device_authorization", data={"client_id": rp.client_id, "scope": "openid admin"}
    )
    assert too_wide.json()["error"] == "invalid_scope"
    anonymous = await http.post("/device_authorization", data={"scope": "openid"})
    assert anonymous.status_code == 401


async def test_guessing_user_codes_is_throttled_per_address(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await device_client(register)
    started = await start(http, rp.client_id, "openid")
    for guess in ("BBBB-BBBB", "not a code", "CCCC-CCCC"):
        wrong = await http.post("/device", data={"user_code": guess})
        assert wrong.status_code == 400
    blocked = await http.post("/device", data={"user_code": started["user_code"]})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


async def test_discovery_advertises_the_device_grant(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["device_authorization_endpoint"] == "http://testserver/device_authorization"
    assert DEVICE_GRANT in metadata["grant_types_supported"]
