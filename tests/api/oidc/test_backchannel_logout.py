"""OpenID Connect Back-Channel Logout 1.0: sid in ID tokens, signed logout tokens posted to
each client of the ended session once, as a retried background job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.api.oidc.conftest import ADMIN, Register, replica
from tests.api.oidc.test_authorization_code import tokens_for
from tests.polling import eventually
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jwt import read_unverified

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """An RP's back-channel logout endpoint on loopback: what it was sent, per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.received.append((self.path, form["logout_token"][0]))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def tokens_for_path(self, path: str) -> list[dict[str, Any]]:
        return [dict(read_unverified(token)[1]) for p, token in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    thread = threading.Thread(target=made.httpd.serve_forever, daemon=True)
    thread.start()
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def oidc_settings(oidc_settings: Settings) -> Settings:
    data = oidc_settings.model_dump(mode="python")
    data["jobs"] = {**data.get("jobs", {}), "retry_backoff_s": 0}
    return Settings.model_validate(data)


async def test_logout_sends_each_client_of_the_session_one_signed_logout_token(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any], receiver: Receiver
) -> None:
    one = await register(backchannel_logout_uri=f"{receiver.url}/one")
    two = await register(
        backchannel_logout_uri=f"{receiver.url}/two", backchannel_logout_session_required=True
    )
    silent = await register()
    first = await tokens_for(http, one, user)
    second = await tokens_for(http, two, user)  # the same browser session
    await tokens_for(http, silent, user)
    sid = read_unverified(first["id_token"])[1]["sid"]
    assert isinstance(sid, str)
    assert read_unverified(second["id_token"])[1]["sid"] == sid
    response = await http.get(
        "/logout",
        params={"id_token_hint": first["id_token"], "post_logout_redirect_uri":
                "https://rp.example/bye"},
    )  # fmt: skip
    assert response.status_code == 303

    def both_told() -> bool:
        return len(receiver.received) >= 2

    await eventually(both_told)
    for path, rp in (("/one", one), ("/two", two)):
        [claims] = receiver.tokens_for_path(path)
        assert claims["aud"] == rp.client_id
        assert claims["iss"] == "http://testserver"
        assert claims["sub"] == user["id"]
        assert claims["sid"] == sid
        assert claims["events"] == {EVENT: {}}
        assert "nonce" not in claims
    header = read_unverified(receiver.received[0][1])[0]
    assert header["typ"] == "logout+jwt"
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 2


async def test_disabling_a_user_logs_their_sessions_out_and_failures_are_retried(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any], receiver: Receiver
) -> None:
    rp = await register(backchannel_logout_uri=f"{receiver.url}/rp")
    await tokens_for(http, rp, user)
    receiver.fail_next = 2
    changed = await http.patch(f"/admin/users/{user['id']}", json={"disabled": True}, headers=ADMIN)
    assert changed.status_code == 200

    def told() -> bool:
        return len(receiver.received) == 1

    await eventually(told)
    assert receiver.fail_next == 0  # two refusals, then delivered
    assert receiver.tokens_for_path("/rp")[0]["sub"] == user["id"]


async def test_two_replicas_ending_the_same_sessions_notify_each_client_once(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    receiver: Receiver,
    oidc_settings: Settings,
    clock: FrozenClock,
) -> None:
    rp = await register(backchannel_logout_uri=f"{receiver.url}/rp")
    await tokens_for(http, rp, user)
    async with replica(oidc_settings, clock) as other:
        answers = await asyncio.gather(
            http.patch(f"/admin/users/{user['id']}", json={"password": "n3w password!!"},
                       headers=ADMIN),
            other.patch(f"/admin/users/{user['id']}", json={"disabled": True}, headers=ADMIN),
        )  # fmt: skip
        assert [a.status_code for a in answers] == [200, 200]

        def told() -> bool:
            return len(receiver.received) >= 1

        await eventually(told)
        await asyncio.sleep(0.3)
    assert len(receiver.received) == 1


async def test_discovery_and_metadata_of_back_channel_logout(
    http: httpx.AsyncClient,
) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    refused = await http.post(
        "/admin/clients",
        json={"name": "x", "grant_types": ["client_credentials"],
              "backchannel_logout_uri": "http://rp.example/logout"},
        headers=ADMIN,
    )  # fmt: skip
    assert refused.status_code == 422
