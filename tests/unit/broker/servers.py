"""Real HTTP servers for adapter tests: an ASGI app served by uvicorn on a free port."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

import uvicorn
from fastapi import FastAPI
from joserfc.jwk import ECKey
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.e2e.server import free_port
from tokend.core.clock import SystemClock
from tokend.core.errors import PROBLEM
from tokend.core.jwt import KeySource, SigningKey, VerificationKey, verify
from tokend.core.surfaces import SurfaceResolver, install_error_handlers
from tokend.telco.routes import operator_router
from tokend.telco.service import OperatorConfig, TelcoOperator


@contextmanager
def serving(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 from a thread with its own loop; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        access_log=False,
        proxy_headers=False,  # as `tokend serve`: the app applies X-Forwarded-* itself
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"test server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class OAuthServer:
    """A minimal RFC 6749 token endpoint that checks each client authentication method."""

    client_id: str = "broker"
    client_secret: str = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(12))
    public_key: VerificationKey | None = None
    good_code: str = "good-code"
    calls: int = 0
    last_form: dict[str, str] = field(default_factory=dict)
    last_auth: str = ""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    async def token(self, request: Request) -> Response:
        self.calls += 1
        form = dict(parse_qsl((await request.body()).decode()))
        self.last_form = form
        method = self._authenticate(request, form)
        if method is None:
            return _error(401, "invalid_client")
        self.last_auth = method
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code") != self.good_code:
            return _error(400, "invalid_grant")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = self._verify(form.get("assertion", ""), request)
            if claims is None or not str(claims.get("sub", "")).startswith("tel:+"):
                return _error(400, "invalid_grant")
        elif grant not in ("authorization_code", "client_credentials"):
            return _error(400, "unsupported_grant_type")
        body = {"access_token": "at-" + secrets.token_urlsafe(16), "token_type": "Bearer"}
        return JSONResponse({**body, "expires_in": 300})

    def _authenticate(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            ok = unquote(user) == self.client_id and unquote(password) == self.client_secret
            return "client_secret_basic" if ok else None
        if "client_assertion" in form:
            claims = self._verify(form["client_assertion"], request)
            ok = claims is not None and claims.get("sub") == self.client_id
            return "private_key_jwt" if ok else None
        if form.get("client_secret") is not None:
            ok = form.get("client_id") == self.client_id
            ok = ok and form.get("client_secret") == self.client_secret
            return "client_secret_post" if ok else None
        return None

    def _verify(self, assertion: str, request: Request) -> dict[str, object] | None:
        if self.public_key is None:
            return None
        key = self.public_key

        class Keys(KeySource):
            def find(self, kid: str) -> VerificationKey | None:
                return key if kid == key.kid else None

        try:
            claims = verify(
                assertion,
                Keys(),
                algorithms=frozenset({"ES256", "RS256"}),
                issuer=self.client_id,
                audience=str(request.url),
                typ=None,
                leeway_s=5,
                clock=SystemClock(),
            )
        except Exception:  # any failure is an invalid assertion to this server
            return None
        return dict(claims)


def _error(status: int, code: str) -> Response:
    return Response(json.dumps({"error": code}), status, media_type="application/json")


@dataclass
class OperatorApp:
    """tokend's operator role (seed 000 telco) without the rest of the app: no database."""

    config: OperatorConfig
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    key: ECKey = field(
        default_factory=lambda: ECKey.generate_key(
            "P-256", parameters={"kid": "op-1", "alg": "ES256"}
        )
    )

    def app(self) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app, SurfaceResolver(default=PROBLEM), "test")
        self.counter = Counter(
            "tokend_telco_tokens", "test", ("operator", "outcome"), registry=self.registry
        )
        operator = TelcoOperator(self.config, lambda: SigningKey("op-1", "ES256", self.key))
        app.include_router(operator_router(operator, SystemClock(), self.counter))
        return app

    @property
    def calls(self) -> int:
        return int(
            sum(
                sample.value
                for metric in self.registry.collect()
                for sample in metric.samples
                if sample.name == "tokend_telco_tokens_total"
            )
        )


def demo_operator_config(operator_id: str = "orange") -> OperatorConfig:
    return OperatorConfig(
        operator_id=operator_id,
        clients={"ORANGE_DEMO_ID": "ORANGE_DEMO_SECRET"},
        valid_codes=frozenset({"best_auth_code_123", "best_auth_demo"}),
        token_ttl_s=600,
        issuer=f"http://operator.test/{operator_id}",
    )
