"""A fake Kong Admin API (and Konnect control plane) served over real HTTP by uvicorn.

Only what the gateway uses: ``GET/POST /consumers/{id}/jwt`` (API_GATEWAY) and
``GET/POST /v2/control-planes/{cp}/core-entities/consumers/{id}/jwt`` (KONNECT), with Kong's
response shapes, the admin token check, and a switch that makes it fail like an outage.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.unit.broker.servers import serving

ADMIN_TOKEN = "kong-admin-token-" + secrets.token_hex(8)
KONNECT_TOKEN = "kpat_" + secrets.token_hex(16)
CONTROL_PLANE = "cp-" + secrets.token_hex(4)


@dataclass
class KongCredential:
    consumer_id: str
    key: str = field(default_factory=lambda: secrets.token_hex(16))
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def body(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key,
            "secret": self.secret,
            "algorithm": "HS256",
            "consumer": {"id": self.consumer_id},
            "created_at": 1_700_000_000,
            "tags": None,
            "rsa_public_key": None,
        }


@dataclass
class FakeKong:
    #: consumer id → its JWT credentials (an empty list: the consumer has none).
    consumers: dict[str, list[KongCredential]] = field(default_factory=dict)
    #: An outage: every call answers this status (None: healthy).
    failing_status: int | None = None
    #: A slow Kong: every call waits this long before answering.
    delay_s: float = 0.0
    calls: list[tuple[str, str]] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)

    def reset(self) -> None:
        self.consumers.clear()
        self.failing_status = None
        self.delay_s = 0.0
        self.calls.clear()
        self.traceparents.clear()

    def add_consumer(self, consumer_id: str | None = None) -> KongCredential:
        credential = KongCredential(consumer_id or str(uuid.uuid4()))
        self.consumers.setdefault(credential.consumer_id, []).append(credential)
        return credential

    def by_key(self, key: str) -> KongCredential | None:
        for credentials in self.consumers.values():
            for credential in credentials:
                if credential.key == key:
                    return credential
        return None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/status", self.status),
                Route("/consumers/{consumer}/jwt", self.admin, methods=["GET", "POST"]),
                Route(
                    "/v2/control-planes/{cp}/core-entities/consumers/{consumer}/jwt",
                    self.konnect,
                    methods=["GET", "POST"],
                ),
            ]
        )

    async def status(self, request: Request) -> Response:
        """Kong's node status (``GET /status``), what seed 004's health check asks."""
        if self.failing_status is not None:
            return JSONResponse({"message": "An unexpected error occurred"}, self.failing_status)
        return JSONResponse({"database": {"reachable": True}, "server": {}})

    async def admin(self, request: Request) -> Response:
        if request.headers.get("kong-admin-token") != ADMIN_TOKEN:
            return JSONResponse({"message": "Invalid credentials"}, 401)
        return await self._jwt(request)

    async def konnect(self, request: Request) -> Response:
        if request.path_params["cp"] != CONTROL_PLANE:
            return JSONResponse({"message": "Not found"}, 404)
        if request.headers.get("authorization") != f"Bearer {KONNECT_TOKEN}":
            return JSONResponse({"message": "Unauthorized"}, 401)
        return await self._jwt(request)

    async def _jwt(self, request: Request) -> Response:
        consumer = request.path_params["consumer"]
        self.calls.append((request.method, request.url.path))
        self.traceparents.append(request.headers.get("traceparent"))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failing_status is not None:
            return JSONResponse({"message": "An unexpected error occurred"}, self.failing_status)
        credentials = self.consumers.get(consumer)
        if credentials is None:
            return JSONResponse({"message": "Not found"}, 404)
        if request.method == "POST":
            body = await request.json()
            created = KongCredential(consumer, key=body["key"], secret=body["secret"])
            credentials.append(created)
            return JSONResponse(created.body(), 201)
        # json.dumps escapes what is not ASCII, as Kong does: a lone surrogate survives.
        body = json.dumps({"data": [c.body() for c in credentials], "next": None})
        return Response(body, media_type="application/json")


@contextmanager
def serving_kong(kong: FakeKong) -> Iterator[str]:
    with serving(kong.app()) as base_url:
        yield base_url
