"""The console's sign-in state, kept in the browser: two cookies, each AES-256-GCM encrypted and
authenticated under the server's secret key (``core.crypto.FieldCipher``), so they can be
neither read nor forged nor moved from one purpose to the other (each has its own AAD).

- the *login* cookie holds what ``/console/login`` sends to ``/authorize`` and the callback must
  find again (``state``, ``nonce``, the PKCE verifier: RFC 6749 §10.12, OIDC Core §3.1.2.1,
  RFC 7636 §4.1) for ten minutes;
- the *session* cookie names the administrator, carries the CSRF token of every form and
  expires after ``console.session_ttl_s``.

Both are ``HttpOnly``, ``SameSite=Lax``, scoped to ``/console`` and ``Secure`` on an https issuer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

from starlette.responses import Response

from tokend.core.crypto import DecryptionFailed, FieldCipher, random_secret

SESSION_COOKIE: Final = "tokend_console"
LOGIN_COOKIE: Final = "tokend_console_login"
COOKIE_PATH: Final = "/console"
LOGIN_TTL_S: Final = 600
_SESSION_AAD: Final = "tokend.console.session"
_LOGIN_AAD: Final = "tokend.console.login"
#: Where a sign-in may lead: a console page of this server, never elsewhere (no open redirect).
#: (Segments of dots only are refused: a browser resolves ``..`` out of ``/console``.)
_CONSOLE_PATH: Final = re.compile(r"/console(/(?!\.+(?:/|$))[A-Za-z0-9._~-]+)*")
#: Far above a real cookie: anything longer is not ours and is not decrypted.
_MAX_COOKIE_CHARS: Final = 4096


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in administrator."""

    user_id: str
    email: str
    csrf: str = field(repr=False)
    expires_at: float
    #: The sign-in's authentication context class (OIDC Core §2 ``acr``): step-up reads it.
    acr: str = ""


@dataclass(frozen=True, slots=True)
class LoginState:
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    expires_at: float
    #: The console page to open once signed in.
    next_path: str = "/console"
    #: The sign-in must be multi-factor (step-up): the callback checks the ID token's acr.
    step_up: bool = False

    @classmethod
    def new(cls, now: float, next_path: str = "/console", step_up: bool = False) -> LoginState:
        return cls(
            random_secret(16), random_secret(16), random_secret(48), now + LOGIN_TTL_S,
            console_path(next_path), step_up,
        )  # fmt: skip


def console_path(path: str) -> str:
    """``path`` if it is a page of the console, else the overview (no open redirect)."""
    return path if _CONSOLE_PATH.fullmatch(path) else "/console"


class Cookies:
    def __init__(self, cipher: FieldCipher, *, secure: bool, session_ttl_s: int) -> None:
        self._cipher = cipher
        self._secure = secure
        self.session_ttl_s = session_ttl_s

    def session(self, raw: str | None, now: float) -> Session | None:
        data = self._open(raw, _SESSION_AAD)
        if data is None:
            return None
        try:
            session = Session(
                str(data["user_id"]), str(data["email"]), str(data["csrf"]),
                _number(data["expires_at"]), str(data.get("acr", "")),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None
        return session if session.expires_at > now else None

    def login(self, raw: str | None, now: float) -> LoginState | None:
        data = self._open(raw, _LOGIN_AAD)
        if data is None:
            return None
        try:
            login = LoginState(
                str(data["state"]), str(data["nonce"]), str(data["verifier"]),
                _number(data["expires_at"]), str(data.get("next_path", "/console")),
                data.get("step_up") is True,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None
        return login if login.expires_at > now else None

    def new_session(self, user_id: str, email: str, now: float, acr: str = "") -> Session:
        return Session(user_id, email, random_secret(24), now + self.session_ttl_s, acr)

    def set_session(self, response: Response, session: Session) -> None:
        value = {
            "user_id": session.user_id, "email": session.email, "csrf": session.csrf,
            "expires_at": session.expires_at, "acr": session.acr,
        }  # fmt: skip
        self._set(response, SESSION_COOKIE, value, _SESSION_AAD, self.session_ttl_s)

    def set_login(self, response: Response, login: LoginState) -> None:
        value = {
            "state": login.state, "nonce": login.nonce, "verifier": login.verifier,
            "expires_at": login.expires_at, "next_path": login.next_path,
            "step_up": login.step_up,
        }  # fmt: skip
        self._set(response, LOGIN_COOKIE, value, _LOGIN_AAD, LOGIN_TTL_S)

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path=COOKIE_PATH, secure=self._secure, httponly=True, samesite="lax"
        )

    def _set(
        self, response: Response, name: str, value: dict[str, object], aad: str, ttl_s: int
    ) -> None:
        sealed = self._cipher.encrypt_text(json.dumps(value), aad=aad)
        response.set_cookie(
            name, sealed, max_age=ttl_s, path=COOKIE_PATH, secure=self._secure,
            httponly=True, samesite="lax",
        )  # fmt: skip

    def _open(self, raw: str | None, aad: str) -> dict[str, object] | None:
        if not raw or len(raw) > _MAX_COOKIE_CHARS:
            return None
        try:
            data = json.loads(self._cipher.decrypt_text(raw, aad=aad))
        except (DecryptionFailed, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)
