"""`python -m bench.raw_asgi --port N`: a bare ASGI app on the HTTP server tokend runs on.

The reference of the floor: the issue's target is a floor (``GET /health`` through the whole
tokend stack: middleware, router, metrics, access log) of at least half the rate of this app,
served by the same server (uvicorn with uvloop and httptools, or granian) with the same options
``tokend serve`` gives it, measured in the same run. It answers ``/health`` with the bytes
tokend's ``/health`` answers and 404 elsewhere, and does nothing else.

It also answers ``POST /token`` for one client with the client_credentials grant, doing the
protocol work tokend's token endpoint does and nothing around it: HTTP Basic (RFC 6749 §2.3.1),
an HMAC-SHA256 check of the secret against a peppered hash (as ``tokend.core.crypto
.SecretHasher``), the form (§4.4.2), an ES256 JWT access token (RFC 9068) signed with
``cryptography`` and a JSON answer (§5.1, ``no-store``). No request id, metrics, access log, rate
limit or client store: the ceiling of a Python handler for that grant on this server, which the
bench compares with tokend's and with node-oidc-provider's in the same run.

The server options are copied from ``tokend.cli.main.run_server`` (they are built inside that
function, not exposed): a change there should be made here too.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from starlette.types import Receive, Scope, Send

from tokend.server.settings import ServerSettings

_HEALTH = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]
_NOT_FOUND = [(b"content-type", b"text/plain"), (b"content-length", b"9")]


#: The one client of ``POST /token`` (bench.scenarios.RAW_CLIENT_CREDENTIALS authenticates as it).
RAW_CLIENT_ID: Final = "bench-raw"
RAW_CLIENT_SECRET: Final = "bench-raw-secret-0123456789"  # noqa: S105  (a throw-away client)
RAW_SCOPE: Final = "api:read"
RAW_AUDIENCE: Final = "https://api.bench.test"
RAW_ISSUER: Final = "http://127.0.0.1"
_TTL_S: Final = 900
_MAX_BODY: Final = 64 * 1024


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class _TokenEndpoint:
    """The client_credentials grant and nothing around it (see the module's docstring)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pepper = secrets.token_bytes(32)
        self.secret_hash = self._mac(RAW_CLIENT_SECRET)
        header = {"alg": "ES256", "typ": "at+jwt", "kid": "bench-raw"}
        self.header = _b64url(json.dumps(header, separators=(",", ":")).encode())

    def _mac(self, secret: str) -> bytes:
        return hmac.new(self.pepper, secret.encode("utf-8"), hashlib.sha256).digest()

    def authenticated(self, authorization: bytes) -> bool:
        """RFC 6749 §2.3.1: HTTP Basic with the form-urlencoded id and secret."""
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except ValueError:
            return False
        client_id, sep, secret = decoded.partition(":")
        return (
            bool(sep)
            and unquote(client_id) == RAW_CLIENT_ID
            and hmac.compare_digest(self._mac(unquote(secret)), self.secret_hash)
        )

    def access_token(self) -> str:
        """An RFC 9068 JWT access token, ES256 (JWS R || S, RFC 7518 §3.4)."""
        now = int(time.time())
        claims = {
            "iss": RAW_ISSUER,
            "sub": RAW_CLIENT_ID,
            "aud": RAW_AUDIENCE,
            "client_id": RAW_CLIENT_ID,
            "scope": RAW_SCOPE,
            "iat": now,
            "exp": now + _TTL_S,
            "jti": secrets.token_urlsafe(16),
        }
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = self.header + b"." + payload
        r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return (signing_input + b"." + signature).decode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if not self.authenticated(headers.get(b"authorization", b"")):
            await _json(send, 401, {"error": "invalid_client"}, [(b"www-authenticate", b"Basic")])
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > _MAX_BODY:
                await _json(send, 413, {"error": "invalid_request"})
                return
        media_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if media_type != b"application/x-www-form-urlencoded":
            await _json(send, 400, {"error": "invalid_request"})
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            await _json(send, 400, {"error": "unsupported_grant_type"})
            return
        if form.get("scope", RAW_SCOPE) != RAW_SCOPE:
            await _json(send, 400, {"error": "invalid_scope"})
            return
        answer = {
            "access_token": self.access_token(),
            "token_type": "Bearer",
            "expires_in": _TTL_S,
            "scope": RAW_SCOPE,
        }
        await _json(send, 200, answer)


_NO_STORE: Final = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


async def _json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *_NO_STORE,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


@functools.cache
def token_endpoint() -> _TokenEndpoint:
    """The process's one endpoint, made on the first request (its key, its pepper)."""
    return _TokenEndpoint()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /health`` → 200 ``{"status":"ok"}``; ``POST /token`` the client_credentials grant;
    anything else 404; lifespan accepted."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _HEALTH})
    elif scope["path"] == "/token" and scope["method"] == "POST":
        await token_endpoint()(scope, receive, send)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": _NOT_FOUND})
        await send({"type": "http.response.body", "body": b"not found"})


def serve_uvicorn(server: ServerSettings) -> None:
    """``app`` on uvicorn with ``tokend serve``'s options (tokend.cli.main.run_server)."""
    import uvicorn

    from tokend.cli.http_protocol import BoundedHttpToolsProtocol

    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
        "lifespan": "on",
        "http": functools.partial(
            BoundedHttpToolsProtocol,
            header_timeout_s=server.header_timeout_s,
            max_header_bytes=server.max_header_bytes,
        ),
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_bytes,
    }
    uvicorn.run(app, **options)


def serve_granian(server: ServerSettings) -> None:
    """``app`` on granian as ``tokend serve`` runs it (tokend.cli.granian_server)."""
    from tokend.cli.granian_server import serve_embedded

    serve_embedded(app, server)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_asgi")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=ServerSettings().server)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The shipping defaults of the server block, as `tokend serve` would run with them.
    server = ServerSettings(port=args.port)
    if args.server == "granian":
        serve_granian(server)
    else:
        serve_uvicorn(server)


if __name__ == "__main__":
    main()
