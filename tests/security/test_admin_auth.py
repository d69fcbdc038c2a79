"""One admin policy on every admin surface (OIDC ``/admin``, broker directory admin, gateway
consumers admin, the vault API, the job monitor): the static token or a tokend ``at+jwt`` access
token for the admin audience with the scope; the same refusals everywhere; nobody's body is read
before they are let in."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import Message

from tests.api.oidc.conftest import PASSWORD, REDIRECT, code_params, pkce_pair, sign_in_and_consent
from tests.api.oidc.test_with_redis import forget_everything_in_redis
from tests.conftest import shared_redis
from tests.secrets_seen import SecretsSeen
from tests.unit.jobs.conftest import delete_queue_keys
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.jwt import mint

STATIC = "static-admin-" + secrets.token_hex(16)
ISSUER = "http://testserver"
#: The admin audience: the issuer's /admin URL (core.admin_auth.admin_audience).
ADMIN_AUDIENCE = f"{ISSUER}/admin"
CHALLENGE = 'Bearer realm="tokend"'
INVALID = (
    'Bearer realm="tokend", error="invalid_token", '
    'error_description="The bearer token is invalid, expired or revoked."'
)
#: (path, whether it answers RFC 9457 problems; the vault answers the seed's {"detail": ...}).
SURFACES = [
    ("/admin/clients", True),
    ("/broker/admin/directory", True),
    ("/gateway/admin/consumers", True),
    ("/vault/clients", False),
]
BODY_ROUTES = [
    ("POST", "/admin/clients"),
    ("PUT", "/broker/admin/directory/97299"),
    ("POST", "/gateway/admin/consumers"),
    ("POST", "/vault/clients"),
]


@pytest.fixture
async def app(settings: Settings, secrets_seen: SecretsSeen) -> AsyncIterator[FastAPI]:
    secrets_seen.add(STATIC)
    secrets_seen.add(PASSWORD)
    data = settings.model_dump(mode="python")
    data.update(
        modules=["oidc", "broker", "gateway", "vault"],
        admin_token=STATIC,
        gateway={"source": "local"},
        vault={"open_access": False},
        oidc={"rate_limits": {"login_per_ip": "1000/minute"}},
    )
    application = create_app(Settings.model_validate(data))
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


def minted(app: FastAPI, secrets_seen: SecretsSeen, typ: str = "at+jwt", **claims: Any) -> str:
    """A token signed by the keyring: by default what the provider issues to an admin client."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "ops",
        "aud": ADMIN_AUDIENCE,
        "client_id": "ops",
        "scope": "tokend:admin",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    key = app.state.resources.get().keyring.signing_key("ES256")
    return secrets_seen.add(mint(body, key, typ=typ))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def statuses(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, int]:
    return {path: (await http.get(path, headers=headers)).status_code for path, _ in SURFACES}


async def admin_client(http: httpx.AsyncClient, secrets_seen: SecretsSeen, **fields: Any) -> Any:
    body = {"name": "ops", "grant_types": ["client_credentials"], "redirect_uris": [], **fields}
    response = await http.post("/admin/clients", json=body, headers=bearer(STATIC))
    assert response.status_code == 201, response.text
    created = response.json()
    secrets_seen.add(created["client_secret"])
    return created


async def test_the_static_token_and_an_issued_admin_token_work_on_every_surface(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    assert set((await statuses(http, bearer(STATIC))).values()) == {200}
    # How operators get one: client_credentials for a client holding tokend:admin.
    ops = await admin_client(http, secrets_seen, scope="tokend:admin")
    auth = (ops["client_id"], ops["client_secret"])
    issued = await http.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
    token = secrets_seen.add(issued.json()["access_token"])
    assert set((await statuses(http, bearer(token))).values()) == {200}
    # The OpenID provider's deny-list is consulted where the provider runs (RFC 7009).
    revoked = await http.post("/revoke", data={"token": token}, auth=auth)
    assert revoked.status_code == 200
    after = await http.get("/admin/clients", headers=bearer(token))
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == INVALID


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": ISSUER}, id="not-for-the-admin-audience"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"typ": "JWT"}, id="typ-JWT"),
        pytest.param({"typ": "at+jwt+id"}, id="typ-other"),
        pytest.param({"iss": "https://elsewhere.example"}, id="another-issuer"),
        pytest.param({"exp": 1_000_000}, id="expired"),
        pytest.param({"jti": None}, id="no-jti"),
    ],
)
async def test_a_token_that_is_not_an_admin_access_token_is_refused_everywhere(
    app: FastAPI, http: httpx.AsyncClient, secrets_seen: SecretsSeen, claims: dict[str, Any]
) -> None:
    changes = dict(claims)  # the parameter is shared by the sqlite and postgres runs
    token = minted(app, secrets_seen, typ=changes.pop("typ", "at+jwt"), **changes)
    for path, _ in SURFACES:
        response = await http.get(path, headers=bearer(token))
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == INVALID, path


async def test_a_token_without_the_scope_is_403_naming_it(
    app: FastAPI, http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    token = minted(app, secrets_seen, scope="api:read")
    for path, is_problem in SURFACES:
        response = await http.get(path, headers=bearer(token))
        assert response.status_code == 403, (path, response.text)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="tokend", error="insufficient_scope"'), path
        named = re.search(r'scope="([^"]+)"', challenge)
        assert named is not None, path
        assert "tokend:admin" in named.group(1).split(), path
        if is_problem:
            assert response.json()["code"] == "insufficient_scope"


async def test_an_unsigned_or_forged_token_is_refused_everywhere(
    app: FastAPI, http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    good = minted(app, secrets_seen)
    head, payload, _ = good.split(".")
    none_head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    forged = [f"{none_head.decode()}.{payload}.", f"{head}.{payload}.AAAA", "not-a-jwt"]
    for token in forged:
        for path, _ in SURFACES:
            response = await http.get(path, headers=bearer(token))
            assert response.status_code == 401, (path, token[:20])


async def test_the_refusals_read_the_same_on_every_surface(
    app: FastAPI, http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    cases: list[tuple[dict[str, str], str, str]] = [
        ({}, CHALLENGE, "A bearer token is required."),
        ({"Authorization": "Basic b3BzOnNlY3JldA=="}, CHALLENGE, "A bearer token is required."),
        (bearer("wrong"), INVALID, "The bearer token is invalid, expired or revoked."),
    ]
    for headers, challenge, text in cases:
        problems = []
        for path, is_problem in SURFACES:
            response = await http.get(path, headers=headers)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == challenge, path
            body = response.json()
            if is_problem:
                assert response.headers["content-type"] == "application/problem+json"
                assert body["detail"] == text, path
                problems.append({k: body[k] for k in body if k not in ("instance", "request_id")})
            else:
                assert body == {"detail": text}, path
        assert all(problem == problems[0] for problem in problems), problems


async def test_a_user_token_with_the_admin_scope_is_not_an_admin_token(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    # A client allowed tokend:admin does not make every user who signs in through it an admin:
    # the provider does not grant a user without the admin role the scope at all (RFC 6749
    # §5.1: the response says so), and only a client's own client_credentials tokens get the
    # admin audience.
    created = await admin_client(
        http,
        secrets_seen,
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT],
        scope="openid tokend:admin",
    )
    email = f"user.{secrets.token_hex(3)}@example.org"
    user = {"email": email, "password": PASSWORD, "email_verified": True}
    assert (await http.post("/admin/users", json=user, headers=bearer(STATIC))).status_code == 201
    verifier, challenge = pkce_pair()
    params = code_params(created["client_id"], challenge, scope="openid tokend:admin")
    query = await sign_in_and_consent(http, params, email)
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    auth = (created["client_id"], created["client_secret"])
    tokens = (await http.post("/token", data=form, auth=auth)).json()
    token = secrets_seen.add(tokens["access_token"])
    assert "tokend:admin" not in tokens["scope"].split()
    assert set((await statuses(http, bearer(token))).values()) == {401}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_a_caller_is_turned_away_before_the_body_is_read(
    app: FastAPI, method: str, path: str
) -> None:
    reads: list[Message] = []

    async def receive() -> Message:
        message: Message = {"type": "http.request", "body": b"{}", "more_body": False}
        reads.append(message)
        return message

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", b"2"), (b"authorization", b"Bearer wrong")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    assert start["status"] == 401
    assert reads == [], "the body was read before the caller was checked"


async def test_the_job_monitor_takes_the_same_policy(
    settings: Settings, secrets_seen: SecretsSeen, redis_url: str, redis_prefix: str
) -> None:
    secrets_seen.add(STATIC)
    data = settings.model_dump(mode="python")
    data.update(
        modules=["oidc"],
        admin_token=STATIC,
        redis=shared_redis(redis_url, redis_prefix),
        jobs={"backend": "redis", "queue_name": f"{redis_prefix}jobs"},
    )
    application = create_app(Settings.model_validate(data))
    try:
        async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
                anonymous = await http.get("/admin/jobs/")
                assert anonymous.status_code == 401
                assert anonymous.headers["www-authenticate"] == CHALLENGE
                static = await http.get("/admin/jobs/", headers=bearer(STATIC))
                assert static.status_code == 200
                token = minted(application, secrets_seen)
                assert (await http.get("/admin/jobs/", headers=bearer(token))).status_code == 200
                not_admin = minted(application, secrets_seen, aud=ISSUER)
                other = await http.get("/admin/jobs/", headers=bearer(not_admin))
                assert other.status_code == 401
                assert other.headers["www-authenticate"] == INVALID
    finally:
        await delete_queue_keys(redis_url, f"{redis_prefix}jobs")
        await forget_everything_in_redis(redis_url, redis_prefix)
