"""A small OAuth 2.0 provider served over real HTTP: authorize, token, revoke, discovery.

It checks what a real provider checks (client authentication, redirect_uri, PKCE S256, one-time
codes, refresh tokens) and counts what it was asked, so tests can see exactly what reached it.
Refresh tokens rotate when ``rotates`` is set; a rotated token stays good until its successor is
first used (the grace most rotating providers give), so a client that lost an answer can retry.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class ClientAuth:
    """How a token request authenticated its client (RFC 6749 §2.3.1)."""

    method: Literal["client_secret_basic", "client_secret_post"]
    client_id: str
    client_secret: str | None = field(repr=False)


@dataclass
class _Grant:
    refresh_token: str
    previous: str | None = None


@dataclass
class FakeProvider:
    client_id: str = "fake-client"
    client_secret: str = field(default_factory=lambda: "fs-" + secrets.token_urlsafe(16))
    #: ``expires_in`` of its token answers; None: the member is left out (RFC 6749 §5.1 allows).
    expires_in: int | None = 3600
    #: Whether the code exchange issues a refresh token at all.
    issues_refresh_tokens: bool = True
    rotates: bool = False
    #: Answer the next refresh requests with this: "invalid_grant", 500, or None (succeed).
    refresh_failures: list[str | int] = field(default_factory=list)
    #: Hold each refresh answer this long (after the tokens were minted) before sending it.
    refresh_delay_s: float = 0.0
    base_url: str = ""
    refresh_calls: int = 0
    token_calls: int = 0
    revoked: list[str] = field(default_factory=list)
    issued_access_tokens: list[str] = field(default_factory=list)
    issued_refresh_tokens: list[str] = field(default_factory=list)
    authorize_params: list[dict[str, str]] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    #: Each token request's client authentication; None where it used two methods at once.
    token_client_auth: list[ClientAuth | None] = field(default_factory=list)
    #: More OAuth apps it knows besides ``client_id`` (client id → secret): connections seeded
    #: straight into the database each have an app of their own.
    other_apps: dict[str, str] = field(default_factory=dict)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _grants: list[_Grant] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/revoke", self.revoke, methods=["POST"]),
                Route("/.well-known/openid-configuration", self.discovery),
            ]
        )

    def write_catalog(self, path: Path) -> Path:
        """A vault providers file (``TOKEND_VAULT__PROVIDERS_FILE``) naming this one ``fake``."""
        path.write_text(
            f"fake:\n  display_name: Fake\n"
            f"  authorization_url: {self.base_url}/authorize\n"
            f"  token_url: {self.base_url}/token\n"
            f"  revocation_url: {self.base_url}/revoke\n",
            encoding="utf-8",
        )
        return path

    def grant(self, refresh_token: str) -> None:
        """Honour ``refresh_token`` as if an earlier authorization had issued it."""
        with self._lock:
            self._grants.append(_Grant(refresh_token))

    def refreshes_by_token(self) -> Counter[str]:
        """How many refresh requests presented each refresh token."""
        return Counter(
            form.get("refresh_token", "")
            for form in list(self.token_forms)
            if form.get("grant_type") == "refresh_token"
        )

    async def connect(self, vault_url: str) -> int:
        """Register this provider's app with the vault at ``vault_url`` and run its OAuth flow
        (start, authorize, callback); the new connection's client pk."""
        async with httpx.AsyncClient(base_url=vault_url, timeout=10) as api:
            created = await api.post(
                "/clients",
                json={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "redirect_uri": f"{vault_url}/auth/callback",
                    "provider": "fake",
                },
            )
            assert created.status_code == 201, created.text
            pk = int(created.json()["client_id"])
            start_body = (await api.get(f"/oauth/start/{pk}")).json()
            answer = await api.get(start_body["auth_url"])
            location = urlsplit(answer.headers["location"]).query
            query = {k: v[0] for k, v in parse_qs(location).items()}
            assert (await api.get("/auth/callback", params=query)).status_code == 200
            return pk

    def valid_refresh_tokens(self) -> set[str]:
        with self._lock:
            good = {g.refresh_token for g in self._grants}
            good |= {g.previous for g in self._grants if g.previous}
        return good - set(self.revoked)

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base_url,
                "authorization_endpoint": f"{self.base_url}/authorize",
                "token_endpoint": f"{self.base_url}/token",
                "revocation_endpoint": f"{self.base_url}/revoke",
            }
        )

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_params.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or not redirect_uri:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        state = params.get("state", "")
        if params.get("deny"):
            return _back(redirect_uri, {"error": "access_denied", "state": state})
        code = secrets.token_urlsafe(16)
        self._codes[code] = params
        return _back(redirect_uri, {"code": code, "state": state})

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.token_calls += 1
        self.token_forms.append({k: v for k, v in form.items() if k != "client_secret"})
        auth = _client_auth(request, form)
        self.token_client_auth.append(auth)
        if not self._knows(auth):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return await self._refresh(form)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    async def revoke(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if not self._knows(_client_auth(request, form)):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        self.revoked.append(form.get("token", ""))
        return Response(status_code=200)

    def _knows(self, auth: ClientAuth | None) -> bool:
        apps = {self.client_id: self.client_secret, **self.other_apps}
        if auth is None or auth.client_id not in apps:
            return False
        return auth.client_secret == apps[auth.client_id]

    def _exchange(self, form: dict[str, str]) -> Response:
        asked = self._codes.pop(form.get("code", ""), None)
        if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        challenge = asked.get("code_challenge")
        if challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if not self.issues_refresh_tokens:
            return self._tokens(None)
        refresh = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._grants.append(_Grant(refresh))
            self.issued_refresh_tokens.append(refresh)
        return self._tokens(refresh)

    async def _refresh(self, form: dict[str, str]) -> Response:
        self.refresh_calls += 1
        presented = form.get("refresh_token", "")
        if self.refresh_failures:
            failure = self.refresh_failures.pop(0)
            if isinstance(failure, int):
                return JSONResponse({"error": "server_error"}, status_code=failure)
            return JSONResponse({"error": failure}, status_code=400)
        with self._lock:
            grant = self._grant_of(presented)
            if grant is None or presented in self.revoked:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            new_refresh = None
            if self.rotates:
                # The token just replaced stays good (grace) until its successor is used;
                # the one before it dies now.
                new_refresh = "rt-" + secrets.token_urlsafe(24)
                grant.previous, grant.refresh_token = grant.refresh_token, new_refresh
                self.issued_refresh_tokens.append(new_refresh)
        response = self._tokens(new_refresh)
        if self.refresh_delay_s:
            await asyncio.sleep(self.refresh_delay_s)
        return response

    def _grant_of(self, presented: str) -> _Grant | None:
        for grant in self._grants:
            if presented in (grant.refresh_token, grant.previous):
                return grant
        return None

    def _tokens(self, refresh: str | None) -> Response:
        access = "at-" + secrets.token_urlsafe(24)
        self.issued_access_tokens.append(access)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": "profile",
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if refresh is not None:
            body["refresh_token"] = refresh
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _client_auth(request: Request, form: dict[str, str]) -> ClientAuth | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return ClientAuth(
            "client_secret_post", form.get("client_id", ""), form.get("client_secret")
        )
    if "client_secret" in form:
        return None  # RFC 6749 §2.3: a client MUST NOT use more than one method in a request
    # RFC 6749 §2.3.1: each part was form-urlencoded before the two were joined.
    client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return ClientAuth("client_secret_basic", unquote_plus(client_id), unquote_plus(secret))


def _back(redirect_uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(params), status_code=302)
