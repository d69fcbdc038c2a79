"""A test OIDC issuer over real HTTP: discovery, a JWKS whose keys rotate, a login page,
an authorization-code + PKCE token endpoint with refresh, and RP-initiated logout."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from joserfc.jwk import ECKey, KeyParameters, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.e2e.server import free_port
from tests.unit.broker.servers import serving
from tokend.core.jwt import SigningKey, mint

CLIENT_ID = "guard-app"
CLIENT_SECRET = "guard-app-secret-" + secrets.token_hex(8)
USERNAME, PASSWORD = "alice", "alice-password"
USER: dict[str, Any] = {
    "id": "user-1",
    "username": USERNAME,
    "email": "alice@example.test",
    "firstName": "Alice",
    "lastName": "Doe",
    "enabled": True,
}


def new_key(kid: str, alg: str = "ES256") -> SigningKey:
    params: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "RS256":
        return SigningKey(kid, alg, RSAKey.generate_key(2048, parameters=params))
    return SigningKey(kid, alg, ECKey.generate_key("P-256", parameters=params))


@dataclass
class FakeIssuer:
    """Keycloak-shaped by default: ``{base}/realms/demo`` is the issuer."""

    port: int = field(default_factory=free_port)
    realm: str = "demo"
    keys: list[SigningKey] = field(default_factory=lambda: [new_key("k1")])
    down: bool = False
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    token_calls: int = 0
    roles: list[str] = field(default_factory=lambda: ["user", "admin"])
    access_ttl_s: int = 300
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    ended_sessions: list[dict[str, str]] = field(default_factory=list)
    #: The Keycloak admin REST API served beside the realm.
    admin_down: bool = False
    admin_token_ttl_s: int = 300
    admin_tokens: set[str] = field(default_factory=set)
    admin_token_calls: int = 0
    admin_calls: int = 0
    users: list[dict[str, Any]] = field(default_factory=lambda: [dict(USER)])
    #: Opaque token -> its RFC 7662 introspection answer.
    opaque_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.realm}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @contextmanager
    def serve(self) -> Iterator[FakeIssuer]:
        with serving(self.app(), self.port):
            yield self

    def rotate(self, kid: str, *, drop_old: bool = False, alg: str = "ES256") -> SigningKey:
        key = new_key(kid, alg)
        self.keys = [key] if drop_old else [key, *self.keys]
        return key

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": ["orders-api", "account"],
            "azp": CLIENT_ID,
            "iat": now,
            "exp": now + self.access_ttl_s,
            "scope": "openid email profile orders:read",
            "preferred_username": USERNAME,
            "email": "alice@example.test",
            "realm_access": {"roles": list(self.roles)},
            "resource_access": {
                "orders-api": {"roles": ["orders-viewer"]},
                "account": {"roles": ["manage-account"]},
            },
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, key: SigningKey | None = None, **changes: Any) -> str:
        return mint(self.claims(**changes), key or self.keys[0], typ="JWT")

    # -- HTTP ------------------------------------------------------------------------------
    def app(self) -> Starlette:
        prefix = f"/realms/{self.realm}"
        oidc = f"{prefix}/protocol/openid-connect"
        return Starlette(
            routes=[
                Route(f"{prefix}/.well-known/openid-configuration", self.discovery),
                Route(f"{oidc}/certs", self.jwks),
                Route(f"{oidc}/auth", self.login_page, methods=["GET"]),
                Route(f"{oidc}/auth", self.login_submit, methods=["POST"]),
                Route(f"{oidc}/token", self.token_endpoint, methods=["POST"]),
                Route(f"{oidc}/logout", self.end_session),
                Route(f"{oidc}/token/introspect", self.introspect, methods=["POST"]),
                Route(f"/admin/realms/{self.realm}/users", self.admin_users),
                Route(f"/admin/realms/{self.realm}/users/{{user_id}}", self.admin_user),
                Route(
                    f"/admin/realms/{self.realm}/users/{{user_id}}/role-mappings/realm",
                    self.admin_roles,
                ),
                Route(f"/admin/realms/{self.realm}/users/{{user_id}}/groups", self.admin_groups),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        self.discovery_fetches += 1
        if self.down:
            return Response("down", 503)
        oidc = f"{self.issuer}/protocol/openid-connect"
        return JSONResponse(
            {
                "issuer": self.issuer,
                "jwks_uri": f"{oidc}/certs",
                "authorization_endpoint": f"{oidc}/auth",
                "token_endpoint": f"{oidc}/token",
                "end_session_endpoint": f"{oidc}/logout",
                "introspection_endpoint": f"{oidc}/token/introspect",
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        if self.down:
            return Response("down", 503)
        return JSONResponse(
            {
                "keys": [
                    k.key.as_dict(private=False) | {"kid": k.kid, "alg": k.alg, "use": "sig"}
                    for k in self.keys
                ]
            }
        )

    async def login_page(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return Response("bad authorization request", 400)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in q.items()
        )
        return HTMLResponse(
            "<html><body><h1>Sign in to demo</h1><form method='post'>"
            f"{hidden}<label>Username <input id='username' name='username'></label>"
            "<label>Password <input id='password' name='password' type='password'></label>"
            "<button id='kc-login' type='submit'>Sign In</button></form></body></html>"
        )

    async def login_submit(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
            return HTMLResponse("<p id='error'>Invalid username or password.</p>", 200)
        code = secrets.token_urlsafe(16)
        self.codes[code] = form
        query = urlencode({"code": code, "state": form.get("state", "")})
        return RedirectResponse(f"{form['redirect_uri']}?{query}", 302)

    async def token_endpoint(self, request: Request) -> Response:
        self.token_calls += 1
        if self.down:
            return Response("down", 503)
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401)
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") == "client_credentials":
            self.admin_token_calls += 1
            if self.admin_down:
                return Response("down", 503)
            value = "adm-" + secrets.token_urlsafe(12)
            self.admin_tokens.add(value)
            return JSONResponse(
                {
                    "access_token": value,
                    "token_type": "Bearer",
                    "expires_in": self.admin_token_ttl_s,
                }
            )
        if form.get("grant_type") == "refresh_token":
            sub = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if sub is None:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return JSONResponse(self._tokens(nonce=None))
        login = self.codes.pop(form.get("code", ""), None)
        if login is None or form.get("redirect_uri") != login.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, 400)
        # RFC 7636 §4.6: S256(code_verifier) must equal the code_challenge.
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge != login.get("code_challenge"):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        return JSONResponse(self._tokens(nonce=login.get("nonce")))

    def _tokens(self, nonce: str | None) -> dict[str, Any]:
        refresh = "rt-" + secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = "user-1"
        id_token = mint(
            self.claims(aud=CLIENT_ID, nonce=nonce, scope=None, typ="ID"), self.keys[0], typ="JWT"
        )
        return {
            "access_token": self.token(),
            "refresh_token": refresh,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
        }

    async def end_session(self, request: Request) -> Response:
        self.ended_sessions.append(dict(request.query_params))
        target = request.query_params.get("post_logout_redirect_uri")
        if target:
            return RedirectResponse(target, 302)
        return HTMLResponse("<p>You are logged out.</p>")

    # -- admin REST API ----------------------------------------------------------------------
    def _admin_denied(self, request: Request) -> Response | None:
        self.admin_calls += 1
        if self.admin_down:
            return Response("down", 503)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.admin_tokens:
            return JSONResponse({"error": "HTTP 401 Unauthorized"}, 401)
        return None

    def _user(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u["id"] == user_id), None)

    async def admin_users(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        q = request.query_params
        found = [
            u
            for u in self.users
            if ("username" not in q or u["username"] == q["username"])
            and ("email" not in q or u["email"] == q["email"])
        ]
        return JSONResponse(found)

    async def admin_user(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        user = self._user(request.path_params["user_id"])
        if user is None:
            return JSONResponse({"error": "User not found"}, 404)
        return JSONResponse(user)

    async def admin_roles(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        if self._user(request.path_params["user_id"]) is None:
            return JSONResponse({"error": "User not found"}, 404)
        return JSONResponse([{"id": f"r-{r}", "name": r, "composite": False} for r in self.roles])

    async def admin_groups(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        if self._user(request.path_params["user_id"]) is None:
            return JSONResponse({"error": "User not found"}, 404)
        return JSONResponse([{"id": "g-1", "name": "sales", "path": "/sales", "subGroups": []}])

    async def introspect(self, request: Request) -> Response:
        self.introspections += 1
        if self.down:
            return Response("down", 503)
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401)
        form = dict(parse_qsl((await request.body()).decode()))
        answer = self.opaque_tokens.get(form.get("token", ""))
        return JSONResponse(answer if answer is not None else {"active": False})
