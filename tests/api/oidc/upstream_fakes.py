"""A fake upstream identity provider on loopback for the identity-brokering tests: an OpenID
provider (discovery, JWKS, a token endpoint that checks the client, the code, the redirect URI
and the PKCE verifier, and mints RS256 ID tokens) and GitHub (its token endpoint and REST API)
on the same server. The tests play the user at the upstream: ``authorize`` turns the query of
tokend's redirect into a code for the account they choose."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc.jwk import RSAKey

from tokend.core.jwt import SigningKey, mint

CLIENT_ID = "tokend-at-fake"
CLIENT_SECRET = "fake-upstream-secret-" + secrets.token_hex(8)
GITHUB_TOKEN_PATH = "/login/oauth/access_token"


@dataclass
class Account:
    """Who the user is at the upstream."""

    subject: str
    email: str | None
    email_verified: bool = True
    name: str | None = "Grace Hopper"
    #: Claims added to (or, with None, removed from) the ID token: a hostile or broken upstream.
    id_token_claims: Mapping[str, object] = field(default_factory=dict)


@dataclass
class _Grant:
    account: Account
    nonce: str | None
    challenge: str
    redirect_uri: str


class FakeUpstream:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, private=True)
        self.kid = "fake-" + secrets.token_hex(4)
        self.grants: dict[str, _Grant] = {}
        self.github_tokens: dict[str, Account] = {}
        self.oidc_tokens: dict[str, Account] = {}
        #: The next token request gets this status (and an error body) instead.
        self.token_status: int | None = None
        self.token_requests: list[Mapping[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                fake._post(self, {k: v[0] for k, v in parse_qs(body).items()})

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FakeUpstream]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()

    def authorize(self, location: str, account: Account) -> tuple[str, str]:
        """The user signs in at the upstream: (the code, the state) tokend's callback gets."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.grants[code] = _Grant(
            account, query.get("nonce"), query["code_challenge"], query["redirect_uri"]
        )
        return code, query["state"]

    # --- the server ---------------------------------------------------------------------

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        if path == "/.well-known/openid-configuration":
            self._json(handler, 200, {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })  # fmt: skip
        elif path == "/jwks":
            public = self.key.as_dict(private=False)
            self._json(handler, 200, {"keys": [{**public, "kid": self.kid, "alg": "RS256"}]})
        elif path == "/userinfo":
            auth = handler.headers.get("Authorization", "")
            account = self.oidc_tokens.get(auth.removeprefix("Bearer "))
            if account is None:
                self._json(handler, 401, {"error": "invalid_token"})
            else:
                self._json(handler, 200, {"sub": account.subject, "email": account.email,
                                          "email_verified": account.email_verified})  # fmt: skip
        elif path in ("/api/user", "/api/user/emails"):
            auth = handler.headers.get("Authorization", "")
            account = self.github_tokens.get(auth.removeprefix("Bearer "))
            if account is None:
                self._json(handler, 401, {"message": "Bad credentials"})
            elif path == "/api/user":
                self._json(handler, 200, {"id": int(account.subject), "login": "grace",
                                          "name": account.name, "email": None})  # fmt: skip
            else:
                self._json(handler, 200, [
                    {"email": "old@example.net", "primary": False, "verified": False},
                    {"email": account.email, "primary": True, "verified": account.email_verified},
                ])  # fmt: skip
        else:
            self._json(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        path = urlsplit(handler.path).path
        self.token_requests.append(form)
        if self.token_status is not None:
            status, self.token_status = self.token_status, None
            self._json(handler, status, {"error": "invalid_grant" if status < 500 else "oops"})
            return
        if path not in ("/token", GITHUB_TOKEN_PATH):
            self._json(handler, 404, {"error": "not_found"})
            return
        # client_secret_basic at the OpenID token endpoint, client_secret_post at GitHub's.
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        posted = (form.get("client_id"), form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)
        basic_used = handler.headers.get("Authorization") == f"Basic {basic}"
        if not (posted if path == GITHUB_TOKEN_PATH else basic_used):
            self._json(handler, 401, {"error": "invalid_client"})
            return
        grant = self.grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
            or challenge.rstrip(b"=").decode() != grant.challenge  # RFC 7636 §4.6
        ):
            self._json(handler, 400, {"error": "invalid_grant"})
            return
        access_token = secrets.token_urlsafe(16)
        if path == GITHUB_TOKEN_PATH:  # GitHub answers 200, token_type bearer, no ID token
            self.github_tokens[access_token] = grant.account
            self._json(handler, 200, {"access_token": access_token, "token_type": "bearer",
                                      "scope": "read:user,user:email"})  # fmt: skip
            return
        self.oidc_tokens[access_token] = grant.account
        self._json(handler, 200, {"access_token": access_token, "token_type": "Bearer",
                                  "expires_in": 300, "id_token": self.id_token(grant)})  # fmt: skip

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        account = grant.account
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": account.subject, "aud": CLIENT_ID, "iat": now,
            "exp": now + 300, "nonce": grant.nonce, "email": account.email,
            "email_verified": account.email_verified, "name": account.name,
        }  # fmt: skip
        for name, value in account.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return mint({k: v for k, v in claims.items() if v is not None},
                    SigningKey(self.kid, "RS256", self.key))  # fmt: skip

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
