"""/login, /callback, /logout, /auth/refresh through tokend, the issuer over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_ID, PASSWORD, USERNAME, FakeIssuer

SESSION = "tokend_session"
LOGIN = "tokend_login"


@pytest.fixture
def mount() -> str:
    """Served alone (the /guard prefix is covered by test_routes.py)."""
    return ""


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> full Set-Cookie line (httpx would not send Secure cookies to http://)."""
    lines = response.headers.get_list("set-cookie")
    return {line.split("=", 1)[0]: line for line in lines}


def cookie_value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


@dataclass
class LoggedIn:
    session: str
    callback: httpx.Response


async def start_login(client: httpx.AsyncClient, mount: str) -> tuple[str, str]:
    """GET /login: the issuer URL it redirects to and the login cookie."""
    response = await client.get(f"{mount}/login")
    assert response.status_code == 302
    cookie = set_cookies(response)[LOGIN]
    return response.headers["location"], cookie_value(cookie)


async def sign_in(http: httpx.AsyncClient, authorize_url: str) -> str:
    """What the browser does at the issuer: the callback URL it is sent back to."""
    page = await http.get(authorize_url)
    assert page.status_code == 200
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = await http.post(
        authorize_url.split("?")[0], data={**query, "username": USERNAME, "password": PASSWORD}
    )
    assert answer.status_code == 302
    return answer.headers["location"]


async def log_in(
    client: httpx.AsyncClient, http: httpx.AsyncClient, mount: str, old_session: str | None = None
) -> LoggedIn:
    authorize_url, login_id = await start_login(client, mount)
    callback = urlsplit(await sign_in(http, authorize_url))
    cookies = f"{LOGIN}={login_id}" + (f"; {SESSION}={old_session}" if old_session else "")
    response = await client.get(f"{callback.path}?{callback.query}", headers={"Cookie": cookies})
    assert response.status_code == 302, response.text
    return LoggedIn(cookie_value(set_cookies(response)[SESSION]), response)


def with_session(session: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION}={session}"}


async def test_login_redirects_to_the_issuer_with_pkce_state_and_nonce(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str
) -> None:
    response = await guard_client.get(f"{mount}/login")
    assert response.status_code == 302
    url = urlsplit(response.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"{issuer.issuer}/protocol/openid-connect/auth"
    )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"http://testserver{mount}/callback"
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 22
    assert len(query["code_challenge"]) == 43
    cookie = set_cookies(response)[LOGIN]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    # The cookie is a random handle, not the state itself.
    assert query["state"] not in cookie


async def test_full_login_creates_a_server_side_session(
    guard_client: httpx.AsyncClient,
    http: httpx.AsyncClient,
    issuer: FakeIssuer,
    mount: str,
    secrets_seen: SecretsSeen,
) -> None:
    logged_in = await log_in(guard_client, http, mount)
    secrets_seen.add(logged_in.session)
    assert logged_in.callback.headers["location"] == "/"
    cookie = set_cookies(logged_in.callback)[SESSION]
    assert all(attr in cookie for attr in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"))
    response = await guard_client.get(f"{mount}/auth/me", headers=with_session(logged_in.session))
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["sub"], data["preferred_username"], data["auth_method"]) == (
        "user-1",
        "alice",
        "session",
    )
    assert "admin" in data["roles"]  # from the access token's realm_access
    assert logged_in.session not in response.text


async def test_refresh_renews_the_tokens_of_the_session(
    guard_client: httpx.AsyncClient,
    http: httpx.AsyncClient,
    issuer: FakeIssuer,
    mount: str,
    secrets_seen: SecretsSeen,
) -> None:
    session = secrets_seen.add((await log_in(guard_client, http, mount)).session)
    calls = issuer.token_calls
    response = await guard_client.post(f"{mount}/auth/refresh", headers=with_session(session))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Token refreshed"
    assert body["data"]["token_type"] == "Bearer"
    assert issuer.token_calls == calls + 1
    # The issuer rotated the refresh token; the session holds the new one.
    response = await guard_client.post(f"{mount}/auth/refresh", headers=with_session(session))
    assert response.status_code == 200


async def test_refresh_rejected_upstream_ends_the_session(
    guard_client: httpx.AsyncClient,
    http: httpx.AsyncClient,
    issuer: FakeIssuer,
    mount: str,
    secrets_seen: SecretsSeen,
) -> None:
    session = secrets_seen.add((await log_in(guard_client, http, mount)).session)
    issuer.refresh_tokens.clear()
    response = await guard_client.post(f"{mount}/auth/refresh", headers=with_session(session))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "REFRESH_TOKEN_ERROR"
    assert set_cookies(response)[SESSION].startswith(f"{SESSION}=; Max-Age=0")
    me = await guard_client.get(f"{mount}/auth/me", headers=with_session(session))
    assert me.status_code == 401


async def test_refresh_without_a_session_is_401(
    guard_client: httpx.AsyncClient, mount: str
) -> None:
    response = await guard_client.post(f"{mount}/auth/refresh", headers=with_session("made-up"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_logout_ends_the_session_and_the_issuer_session(
    guard_client: httpx.AsyncClient,
    http: httpx.AsyncClient,
    issuer: FakeIssuer,
    mount: str,
    secrets_seen: SecretsSeen,
) -> None:
    session = secrets_seen.add((await log_in(guard_client, http, mount)).session)
    response = await guard_client.get(f"{mount}/logout", headers=with_session(session))
    assert response.status_code == 302
    target = urlsplit(response.headers["location"])
    assert target.path == f"/realms/{issuer.realm}/protocol/openid-connect/logout"
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["id_token_hint"][0].count(".") == 2
    assert set_cookies(response)[SESSION].startswith(f'{SESSION}=""; ')
    me = await guard_client.get(f"{mount}/auth/me", headers=with_session(session))
    assert me.status_code == 401


async def test_a_new_login_rotates_the_session_id(
    guard_client: httpx.AsyncClient,
    http: httpx.AsyncClient,
    mount: str,
    secrets_seen: SecretsSeen,
) -> None:
    first = secrets_seen.add((await log_in(guard_client, http, mount)).session)
    second = secrets_seen.add((await log_in(guard_client, http, mount, old_session=first)).session)
    assert second != first
    assert (
        await guard_client.get(f"{mount}/auth/me", headers=with_session(first))
    ).status_code == 401
    assert (
        await guard_client.get(f"{mount}/auth/me", headers=with_session(second))
    ).status_code == 200


@pytest.mark.parametrize(
    ("query", "cookie", "message"),
    [
        ("code=x&state=y", False, "Invalid state parameter (CSRF protection)"),
        ("code=x&state=wrong", True, "Invalid state parameter (CSRF protection)"),
        ("code=x", True, "Invalid state parameter (CSRF protection)"),
        ("error=access_denied&state=y", True, "OAuth error: access_denied"),
        ("error=%3Cscript%3E&state=y", True, "OAuth error: invalid_response"),
    ],
)
async def test_bad_callbacks_are_400_login_failed(
    guard_client: httpx.AsyncClient, mount: str, query: str, cookie: bool, message: str
) -> None:
    _url, login_id = await start_login(guard_client, mount)
    headers = {"Cookie": f"{LOGIN}={login_id}"} if cookie else {}
    response = await guard_client.get(f"{mount}/callback?{query}", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "LOGIN_FAILED", "message": message, "details": {}}


async def test_a_callback_cannot_be_replayed(
    guard_client: httpx.AsyncClient, http: httpx.AsyncClient, mount: str
) -> None:
    authorize_url, login_id = await start_login(guard_client, mount)
    callback = urlsplit(await sign_in(http, authorize_url))
    path = f"{callback.path}?{callback.query}"
    first = await guard_client.get(path, headers={"Cookie": f"{LOGIN}={login_id}"})
    assert first.status_code == 302
    again = await guard_client.get(path, headers={"Cookie": f"{LOGIN}={login_id}"})
    assert again.status_code == 400


async def test_a_code_the_issuer_refuses_is_400(
    guard_client: httpx.AsyncClient, mount: str
) -> None:
    authorize_url, login_id = await start_login(guard_client, mount)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    response = await guard_client.get(
        f"{mount}/callback",
        params={"code": "forged", "state": state},
        headers={"Cookie": f"{LOGIN}={login_id}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Token exchange failed"


async def test_return_to_must_be_a_local_path(
    guard_client: httpx.AsyncClient, http: httpx.AsyncClient, mount: str
) -> None:
    for target, expected in (
        ("//evil.test/x", "/"),
        ("https://evil.test", "/"),
        ("/orders?x=1", "/orders?x=1"),
    ):
        response = await guard_client.get(f"{mount}/login", params={"return_to": target})
        login_id = cookie_value(set_cookies(response)[LOGIN])
        callback = urlsplit(await sign_in(http, response.headers["location"]))
        done = await guard_client.get(
            f"{callback.path}?{callback.query}", headers={"Cookie": f"{LOGIN}={login_id}"}
        )
        assert done.headers["location"] == expected
