"""OpenID Connect CIBA Core 1.0, poll and ping modes: the backchannel authentication endpoint,
the CIBA grant at /token, the approval page, the device app's signed webhook and its decision
endpoint, and the ping callback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.api.oidc.accounts_helpers import account_sign_in
from tests.api.oidc.conftest import ADMIN, PASSWORD, Register, RegisteredClient, csrf_of
from tests.polling import eventually
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jws_keys import SigningKey
from tokend.core.jwt import mint, read_unverified

CIBA = "urn:openid:params:grant-type:ciba"
WEBHOOK_SECRET = "ciba-webhook-secret-0123456789abcdef"
REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')


class Receiver:
    """A loopback HTTP server standing in for the device app (``/device``) and the clients'
    notification endpoints (``/ping``): what it was sent."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append((self.path, headers, body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.received if p == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    thread = threading.Thread(target=made.httpd.serve_forever, daemon=True)
    thread.start()
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def oidc_settings(
    oidc_settings: Settings, receiver: Receiver, secrets_seen: SecretsSeen
) -> Settings:
    secrets_seen.add(WEBHOOK_SECRET)
    data = oidc_settings.model_dump(mode="python")
    data["jobs"] = {**data.get("jobs", {}), "retry_backoff_s": 0}
    data["oidc"]["ciba"] = {
        "approval_page": True,
        "device_webhook_url": f"{receiver.url}/device",
        "device_webhook_secret": WEBHOOK_SECRET,
        "max_request_ttl_s": 600,
    }
    return Settings.model_validate(data)


async def ciba_client(register: Register, **fields: Any) -> RegisteredClient:
    return await register(**{"grant_types": [CIBA, "refresh_token"], "redirect_uris": [], **fields})


async def start(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    secrets_seen: SecretsSeen,
    **params: str,
) -> httpx.Response:
    data = {"scope": "openid", **params}
    response = await http.post("/backchannel-authentication", data=data, auth=rp.auth)
    if response.status_code == 200:
        secrets_seen.add(response.json()["auth_req_id"])
    return response


async def started(
    http: httpx.AsyncClient, rp: RegisteredClient, secrets_seen: SecretsSeen, **params: str
) -> str:
    response = await start(http, rp, secrets_seen, **params)
    assert response.status_code == 200, response.text
    auth_req_id: str = response.json()["auth_req_id"]
    return auth_req_id


async def poll(http: httpx.AsyncClient, rp: RegisteredClient, auth_req_id: str) -> httpx.Response:
    return await http.post(
        "/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id}, auth=rp.auth
    )


async def answer_on_page(http: httpx.AsyncClient, decision: str = "approve") -> httpx.Response:
    """The signed-in browser answers the first pending request on /ciba."""
    page = await http.get("/ciba")
    assert page.status_code == 200, page.text
    match = REQUEST_ID.search(page.text)
    assert match is not None, page.text
    return await http.post(
        "/ciba",
        data={"csrf_token": csrf_of(page.text), "request_id": match.group(1), "decision": decision},
    )


async def test_poll_mode_pending_slow_down_approval_on_the_page_tokens_once(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    rp = await ciba_client(register)
    response = await start(
        http, rp, secrets_seen, scope="openid email offline_access", login_hint=user["email"],
        binding_message="W4SCT", requested_expiry="120", acr_values="urn:ietf:rfc:8176:pwd",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert body["expires_in"] == 120
    assert body["interval"] == 5
    assert len(body["auth_req_id"]) >= 43  # 256 bits, base64url
    auth_req_id = body["auth_req_id"]
    pending = await poll(http, rp, auth_req_id)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    clock.advance(2)
    early = await poll(http, rp, auth_req_id)
    assert early.json()["error"] == "slow_down"
    # The approval page: sign in, see the request with its binding message, approve it.
    assert (await http.get("/ciba")).headers["location"] == "/account/sign-in"
    signed_in = await account_sign_in(http, user["email"])
    assert signed_in.status_code == 303, signed_in.text
    page = await http.get("/ciba")
    assert "Test RP" in page.text
    assert "W4SCT" in page.text
    approved = await answer_on_page(http)
    assert approved.status_code == 303
    assert approved.headers["location"] == "/ciba?done=approved"
    assert "no-requests" in (await http.get("/ciba")).text
    clock.advance(10)
    tokens = await poll(http, rp, auth_req_id)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    issued = tokens.json()
    assert {"access_token", "id_token", "refresh_token"} <= set(issued)
    claims = read_unverified(issued["id_token"])[1]
    assert claims["sub"] == user["id"]
    assert claims["aud"] == rp.client_id
    assert claims["auth_time"] == int(clock.now().timestamp()) - 10
    assert claims["amr"] == ["pwd"]
    userinfo = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert userinfo.json()["email"] == user["email"]
    clock.advance(15)
    again = await poll(http, rp, auth_req_id)
    assert again.json()["error"] == "invalid_grant"


async def test_denied_expired_and_foreign_requests_say_so(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    rp = await ciba_client(register)
    other = await ciba_client(register)
    denied = await started(http, rp, secrets_seen, login_hint=user["email"])
    await account_sign_in(http, user["email"])
    answered = await answer_on_page(http, "deny")
    assert answered.headers["location"] == "/ciba?done=denied"
    refused = await poll(http, rp, denied)
    assert refused.status_code == 400
    assert refused.json()["error"] == "access_denied"
    stolen = await started(http, rp, secrets_seen, login_hint=user["id"])
    assert (await poll(http, other, stolen)).json()["error"] == "invalid_grant"
    assert (await poll(http, rp, "no-such-request")).json()["error"] == "invalid_grant"
    missing = await http.post("/token", data={"grant_type": CIBA}, auth=rp.auth)
    assert missing.json()["error"] == "invalid_request"
    late = await started(http, rp, secrets_seen, login_hint=user["email"], requested_expiry="60")
    clock.advance(61)
    assert (await poll(http, rp, late)).json()["error"] == "expired_token"
    # The expired request is no longer listed: only the one still pending is.
    assert len(REQUEST_ID.findall((await http.get("/ciba")).text)) == 1


async def test_bad_authentication_requests_get_the_precise_error(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any], secrets_seen: SecretsSeen
) -> None:
    rp = await ciba_client(register)
    email = user["email"]
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"scope": "profile", "login_hint": email}, 400, "invalid_scope"),
        ({"scope": "openid admin", "login_hint": email}, 400, "invalid_scope"),
        ({"scope": "", "login_hint": email}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
        ({"login_hint": email, "id_token_hint": "x.y.z"}, 400, "invalid_request"),
        ({"login_hint_token": "eyJhbGciOiJub25lIn0.e30."}, 400, "invalid_request"),
        ({"id_token_hint": "not-a-jwt"}, 400, "invalid_request"),
        ({"login_hint": "nobody@example.org"}, 400, "unknown_user_id"),
        ({"login_hint": "u_unknown"}, 400, "unknown_user_id"),
        ({"login_hint": "tel:+15550100"}, 400, "unknown_user_id"),
        ({"login_hint": "tel:not-a-number"}, 400, "unknown_user_id"),
        ({"login_hint": email, "binding_message": "x" * 65}, 400, "invalid_binding_message"),
        ({"login_hint": email, "binding_message": "a\nb"}, 400, "invalid_binding_message"),
        ({"login_hint": email, "requested_expiry": "0"}, 400, "invalid_request"),
        ({"login_hint": email, "requested_expiry": "-5"}, 400, "invalid_request"),
        ({"login_hint": email, "requested_expiry": "1e9"}, 400, "invalid_request"),
        ({"login_hint": email, "user_code": "1234"}, 400, "invalid_request"),
    ]
    for params, status, error in cases:
        if "scope" not in params:
            params = {"scope": "openid", **params} if params else {"scope": "openid"}
        response = await http.post("/backchannel-authentication", data=params, auth=rp.auth)
        assert (response.status_code, response.json()["error"]) == (status, error), params
    no_scope = await http.post(
        "/backchannel-authentication", data={"login_hint": email}, auth=rp.auth
    )
    assert no_scope.json()["error"] == "invalid_request"
    # A long requested_expiry is cut to the setting's most (600 s here).
    long = await start(http, rp, secrets_seen, login_hint=email, requested_expiry="86400")
    assert long.json()["expires_in"] == 600
    # A disabled user is unknown to CIBA.
    changed = await http.patch(f"/admin/users/{user['id']}", json={"disabled": True}, headers=ADMIN)
    assert changed.status_code == 200
    gone = await http.post(
        "/backchannel-authentication", data={"scope": "openid", "login_hint": email}, auth=rp.auth
    )
    assert gone.json()["error"] == "unknown_user_id"


async def test_only_authenticated_confidential_ciba_clients_may_ask(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    data = {"scope": "openid", "login_hint": user["email"]}
    anonymous = await http.post("/backchannel-authentication", data=data)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    rp = await ciba_client(register)
    wrong = await http.post(
        "/backchannel-authentication", data=data, auth=(rp.client_id, "wrong-secret")
    )
    assert wrong.status_code == 401
    public = await register(grant_types=["authorization_code"], public=True)
    by_id = await http.post(
        "/backchannel-authentication", data={**data, "client_id": public.client_id}
    )
    assert by_id.status_code == 401
    assert by_id.json()["error"] == "invalid_client"
    web = await register()  # an authorization-code client: not allowed the CIBA grant
    refused = await http.post("/backchannel-authentication", data=data, auth=web.auth)
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    assert (await poll(http, web, "anything")).json()["error"] == "unauthorized_client"
    public_ciba = await http.post(
        "/admin/clients",
        json={"name": "x", "public": True, "grant_types": [CIBA]},
        headers=ADMIN,
    )
    assert public_ciba.status_code == 422


async def test_tel_login_hints_find_the_user_by_verified_phone_number(
    http: httpx.AsyncClient, register: Register, secrets_seen: SecretsSeen
) -> None:
    rp = await ciba_client(register)
    suffix = f"{int.from_bytes(hashlib.sha256(rp.client_id.encode()).digest()[:3]):07d}"
    made = await http.post(
        "/admin/users",
        json={"email": f"phone.{suffix}@example.org", "password": PASSWORD,
              "email_verified": True, "phone_number": f"+49 (151) {suffix}",
              "phone_number_verified": True},
        headers=ADMIN,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    unverified = await http.post(
        "/admin/users",
        json={"email": f"other.{suffix}@example.org", "password": PASSWORD,
              "phone_number": f"+33 6 {suffix}"},
        headers=ADMIN,
    )  # fmt: skip
    assert unverified.status_code == 201
    ok = await start(http, rp, secrets_seen, login_hint=f"tel:+49-151-{suffix}")
    assert ok.status_code == 200, ok.text
    refused = await start(http, rp, secrets_seen, login_hint=f"tel:+336{suffix}")
    assert refused.json()["error"] == "unknown_user_id"
    await account_sign_in(http, f"phone.{suffix}@example.org")
    assert "Test RP" in (await http.get("/ciba")).text


async def test_an_id_token_of_the_client_names_the_user_even_when_expired(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    rp = await ciba_client(register)
    other = await ciba_client(register)
    first = await started(http, rp, secrets_seen, login_hint=user["email"])
    await account_sign_in(http, user["email"])
    await answer_on_page(http)
    id_token = (await poll(http, rp, first)).json()["id_token"]
    clock.advance(3601)  # past the ID token's lifetime
    hinted = await start(http, rp, secrets_seen, id_token_hint=id_token)
    assert hinted.status_code == 200, hinted.text
    assert "Test RP" in (await http.get("/ciba")).text
    # §7.1: an ID token issued to another client is no hint for this one.
    foreign = await start(http, other, secrets_seen, id_token_hint=id_token)
    assert foreign.json()["error"] == "invalid_request"


async def test_the_device_app_gets_a_signed_webhook_and_decides_once_with_its_token(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    receiver: Receiver,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    rp = await ciba_client(register, name="Kiosk RP")
    before = len(receiver.at("/device"))
    receiver.fail_next = 1  # the first delivery fails: retried, with a new decision token
    auth_req_id = await started(
        http, rp, secrets_seen, scope="openid profile", login_hint=user["email"],
        binding_message="Pay 12 EUR",
    )  # fmt: skip

    def delivered() -> bool:
        return len(receiver.at("/device")) > before

    await eventually(delivered)
    headers, body = receiver.at("/device")[-1]
    event = json.loads(body)
    secrets_seen.add(event["decision_token"])
    # Tokend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
    timestamp, signature = (
        part.split("=", 1)[1] for part in headers["tokend-signature"].split(",")
    )
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert event["type"] == "ciba.authentication_requested"
    assert event["user_id"] == user["id"]
    assert event["client_id"] == rp.client_id
    assert event["client_name"] == "Kiosk RP"
    assert event["binding_message"] == "Pay 12 EUR"
    assert event["scopes"] == ["openid", "profile"]
    assert event["decision_uri"] == "http://testserver/backchannel-authentication/decisions"
    assert auth_req_id not in body.decode()
    decided = await http.post(
        "/backchannel-authentication/decisions",
        json={"decision_token": event["decision_token"], "approve": True},
    )
    assert decided.status_code == 204, decided.text
    again = await http.post(
        "/backchannel-authentication/decisions",
        json={"decision_token": event["decision_token"], "approve": False},
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    clock.advance(5)
    tokens = await poll(http, rp, auth_req_id)
    assert tokens.status_code == 200, tokens.text
    bodies: list[object] = [
        {"decision_token": "x" * 43, "approve": True},
        {"decision_token": event["decision_token"]},
        {"decision_token": 5, "approve": True},
        {"approve": "yes"},
        [],
    ]
    for bad in bodies:
        refused = await http.post("/backchannel-authentication/decisions", json=bad)
        assert refused.status_code == 400, bad
    not_json = await http.post(
        "/backchannel-authentication/decisions",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400


async def test_ping_mode_sends_one_bearer_ping_once_decided_then_the_client_polls(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    receiver: Receiver,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    rp = await ciba_client(
        register,
        backchannel_token_delivery_mode="ping",
        backchannel_client_notification_endpoint=f"{receiver.url}/ping",
    )
    view = (await http.get(f"/admin/clients/{rp.client_id}", headers=ADMIN)).json()
    assert view["backchannel_token_delivery_mode"] == "ping"
    missing = await start(http, rp, secrets_seen, login_hint=user["email"])
    assert missing.json()["error"] == "invalid_request"
    malformed = await start(
        http, rp, secrets_seen, login_hint=user["email"], client_notification_token="a b"
    )
    assert malformed.json()["error"] == "invalid_request"
    token = secrets_seen.add("ping-bearer-" + rp.client_id)
    before = len(receiver.at("/ping"))
    receiver.fail_next = 0
    auth_req_id = await started(
        http, rp, secrets_seen, login_hint=user["email"], client_notification_token=token
    )
    await account_sign_in(http, user["email"])
    await answer_on_page(http)

    def pinged() -> bool:
        return len(receiver.at("/ping")) > before

    await eventually(pinged)
    await asyncio.sleep(0.2)
    pings = receiver.at("/ping")[before:]
    assert len(pings) == 1
    headers, body = pings[0]
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"auth_req_id": auth_req_id}
    # §10.2: the client then asks the token endpoint, once.
    tokens = await poll(http, rp, auth_req_id)
    assert tokens.status_code == 200, tokens.text
    clock.advance(5)
    assert (await poll(http, rp, auth_req_id)).json()["error"] == "invalid_grant"
    # A denial is pinged too; the poll then says access_denied.
    denied = await started(
        http, rp, secrets_seen, login_hint=user["email"], client_notification_token=token
    )
    await answer_on_page(http, "deny")

    def pinged_twice() -> bool:
        return len(receiver.at("/ping")) > before + 1

    await eventually(pinged_twice)
    assert json.loads(receiver.at("/ping")[-1][1]) == {"auth_req_id": denied}
    assert (await poll(http, rp, denied)).json()["error"] == "access_denied"


async def test_client_metadata_of_ciba(http: httpx.AsyncClient) -> None:
    def client(**fields: Any) -> dict[str, Any]:
        return {"name": "c", "grant_types": [CIBA], **fields}

    for bad in (
        client(backchannel_token_delivery_mode="push"),
        client(backchannel_token_delivery_mode="ping"),
        client(backchannel_client_notification_endpoint="https://rp.example/ping"),
        client(backchannel_user_code_parameter=True),
        {"name": "c", "grant_types": ["client_credentials"],
         "backchannel_token_delivery_mode": "poll"},
        client(backchannel_token_delivery_mode="ping",
               backchannel_client_notification_endpoint="https://user:pw@rp.example/ping"),
    ):  # fmt: skip
        refused = await http.post("/admin/clients", json=bad, headers=ADMIN)
        assert refused.status_code == 422, bad
    made = await http.post(
        "/admin/clients", json=client(backchannel_token_delivery_mode="poll"), headers=ADMIN
    )
    assert made.status_code == 201, made.text
    assert made.json()["backchannel_token_delivery_mode"] == "poll"


async def test_discovery_advertises_ciba_poll_and_ping(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["backchannel_authentication_endpoint"] == (
        "http://testserver/backchannel-authentication"
    )
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert metadata["backchannel_user_code_parameter_supported"] is False
    assert CIBA in metadata["grant_types_supported"]


async def test_a_login_hint_token_the_client_signed_names_the_user(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    secrets_seen: SecretsSeen,
    clock: FrozenClock,
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "hint-1", "alg": "ES256"})
    public = key.as_dict(private=False) | {"kid": "hint-1", "alg": "ES256", "use": "sig"}
    rp = await ciba_client(register, jwks={"keys": [public]})
    other = await ciba_client(register)

    def hint(sub_id: dict[str, str], signer: ECKey = key, **claims: object) -> str:
        now = int(clock.timestamp())
        payload = {"iss": rp.client_id, "aud": "http://testserver", "iat": now,
                   "exp": now + 120, "sub_id": sub_id, **claims}  # fmt: skip
        return mint(payload, SigningKey("hint-1", "ES256", signer))

    by_email = {"format": "email", "email": user["email"]}
    by_subject = {"format": "iss_sub", "iss": "http://testserver", "sub": user["id"]}
    for sub_id in (by_email, by_subject):
        answer = await start(http, rp, secrets_seen, login_hint_token=hint(sub_id))
        assert answer.status_code == 200, answer.text
    # Both requests are the user's: their approval page lists two.
    assert (await account_sign_in(http, user["email"])).status_code == 303
    assert len(REQUEST_ID.findall((await http.get("/ciba")).text)) == 2

    forged = ECKey.generate_key("P-256")
    now = int(clock.timestamp())
    cases: list[tuple[str, str]] = [
        (hint(by_email, signer=forged), "invalid_request"),  # not the client's key
        (hint(by_email, exp=now - 120), "invalid_request"),  # expired
        (hint(by_email, aud="https://elsewhere.example"), "invalid_request"),
        (hint(by_email, iss=other.client_id), "invalid_request"),  # names another client
        (hint({"format": "opaque", "id": user["id"]}), "invalid_request"),
        (hint({"format": "email", "email": "nobody@example.org"}), "unknown_user_id"),
        (hint({**by_subject, "iss": "https://other-issuer.example"}), "unknown_user_id"),
        (hint({"format": "phone_number", "phone_number": "+15550100"}), "unknown_user_id"),
    ]
    for token, error in cases:
        refused = await start(http, rp, secrets_seen, login_hint_token=token)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == error, (refused.json(), token[-20:])
    # A client with no registered keys cannot vouch for a user this way.
    keyless = await start(http, other, secrets_seen, login_hint_token=hint(by_email))
    assert keyless.json()["error"] == "invalid_request"
