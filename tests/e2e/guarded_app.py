"""A resource server of its own, run by tests/e2e/test_guard_package.py in a virtualenv that holds
only the tokend-guard wheel and its dependencies (not this repository's src/ tree).

    python guarded_app.py ISSUER AUDIENCE   (tokens on standard input, one per line)

Keys come from the issuer's discovery document and JWKS, over HTTP, as in any adopter's service.
Prints one JSON object: each call's status, body and WWW-Authenticate, the server packages that
could be imported, and the installed distributions.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name
# the local `guard`.
import asyncio
import importlib.metadata
import importlib.util
import json
import re
import sys
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, FastAPI

from tokend.core.outbound import OutboundPolicy
from tokend.guard import Guard, JWTValidator, Principal, TrustedIssuer

#: Modules the full tokend server needs and a resource server must not have to install.
SERVER_ONLY = (
    "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "saq", "redis", "granian", "uvicorn",
    "opentelemetry.sdk", "argon2", "pwdlib", "typer", "prometheus_client", "tokend.store",
)  # fmt: skip


def build(issuer: str, audience: str) -> tuple[FastAPI, Guard]:
    trusted = TrustedIssuer(issuer, audiences=frozenset({audience}), typ="at+jwt")
    # The issuer of the test runs on plain http on loopback: the outbound policy must name it
    # (an https issuer at a public address needs nothing).
    local = OutboundPolicy.allowing(urlsplit(issuer).netloc)
    guard = Guard(JWTValidator([trusted], outbound=local), realm="orders")
    app = FastAPI(lifespan=guard.lifespan)
    guard.install(app)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(guard.require_auth)]) -> dict[str, object]:
        return {"sub": user.subject, "scopes": sorted(user.scopes)}

    @app.get("/orders", dependencies=[Depends(guard.require_scopes("orders:read"))])
    async def orders() -> list[str]:
        return ["o-1"]

    @app.delete("/orders", dependencies=[Depends(guard.require_scopes("orders:write"))])
    async def cancel() -> list[str]:
        return []

    return app, guard


async def calls(app: FastAPI, guard: Guard, token: str) -> dict[str, dict[str, object]]:
    bearer = {"Authorization": f"Bearer {token}"}
    requests = {
        "me": ("GET", "/me", bearer),
        "orders": ("GET", "/orders", bearer),
        "cancel": ("DELETE", "/orders", bearer),
        "anonymous": ("GET", "/me", {}),
        "forged": ("GET", "/me", {"Authorization": f"Bearer {token[:-4]}AAAA"}),
    }
    answers: dict[str, dict[str, object]] = {}
    async with guard.lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            for name, (method, path, headers) in requests.items():
                response = await client.request(method, path, headers=headers)
                answers[name] = {
                    "status": response.status_code,
                    "body": response.json(),
                    "challenge": response.headers.get("www-authenticate"),
                }
    return answers


def main() -> None:
    issuer, audience = sys.argv[1:3]
    token = sys.stdin.readline().strip()
    app, guard = build(issuer, audience)
    report = {
        "answers": asyncio.run(calls(app, guard, token)),
        "importable": [m for m in SERVER_ONLY if _importable(m)],
        "guard_file": str(sys.modules["tokend.guard"].__file__),
        "distributions": sorted(
            re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
            for d in importlib.metadata.distributions()
        ),
    }
    print(json.dumps(report))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


if __name__ == "__main__":
    main()
