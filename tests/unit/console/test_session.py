"""The console's cookies: sealed, bound to their purpose, expiring, never read when forged."""

from __future__ import annotations

from starlette.responses import Response

from tests.conftest import TEST_SECRET_KEY
from tokend.console.session import LOGIN_COOKIE, SESSION_COOKIE, Cookies, LoginState
from tokend.core.crypto import FieldCipher

NOW = 1_800_000_000.0


def _cookies(secret: str = TEST_SECRET_KEY, *, secure: bool = False) -> Cookies:
    return Cookies(FieldCipher.from_secrets(secret), secure=secure, session_ttl_s=900)


def _value(response: Response, name: str) -> str:
    for header in response.headers.getlist("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie")


def test_a_session_reads_back_until_it_expires() -> None:
    cookies = _cookies()
    session = cookies.new_session("u_1", "ada@example.org", NOW)
    response = Response()
    cookies.set_session(response, session)
    raw = _value(response, SESSION_COOKIE)
    assert "ada@example.org" not in raw  # encrypted, not only signed
    assert cookies.session(raw, NOW + 899) == session
    assert cookies.session(raw, NOW + 900) is None


def test_forged_tampered_or_foreign_cookies_are_not_sessions() -> None:
    cookies = _cookies()
    response = Response()
    cookies.set_session(response, cookies.new_session("u_1", "a@example.org", NOW))
    raw = _value(response, SESSION_COOKIE)
    assert cookies.session(raw[:-2] + ("AA" if raw[-2:] != "AA" else "BB"), NOW) is None
    assert _cookies("another secret key of enough length 0123456789").session(raw, NOW) is None
    assert cookies.session("not a cookie", NOW) is None
    assert cookies.session("x" * 5000, NOW) is None
    # A login cookie is not a session cookie, though sealed with the same key.
    login = Response()
    cookies.set_login(login, LoginState.new(NOW))
    assert cookies.session(_value(login, LOGIN_COOKIE), NOW) is None


def test_cookie_attributes() -> None:
    response = Response()
    cookies = _cookies(secure=True)
    cookies.set_session(response, cookies.new_session("u_1", "a@example.org", NOW))
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" in header
    assert "path=/console" in header
    assert "max-age=900" in header


def test_a_sign_in_leads_back_to_a_console_page_only() -> None:
    cookies = _cookies()
    for asked, kept in (
        ("/console/users", "/console/users"),
        ("/console/clients/c_1", "/console/clients/c_1"),
        ("//evil.example/console", "/console"),
        ("https://evil.example/console", "/console"),
        ("/console/../admin", "/console"),
        ("/console/./..", "/console"),
        ("/consoleX", "/console"),
    ):
        response = Response()
        cookies.set_login(response, LoginState.new(NOW, asked))
        login = cookies.login(_value(response, LOGIN_COOKIE), NOW)
        assert login is not None
        assert login.next_path == kept, asked
