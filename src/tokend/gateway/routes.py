"""Seed 004 ``GET /tokens`` and ``GET /tokens/validate``: headers in, service call, JSON out."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from fastapi import APIRouter, Request
from starlette.datastructures import Headers
from starlette.responses import Response

from tokend.core.cache_control import NO_STORE
from tokend.core.clock import Clock
from tokend.core.errors import JSONBody
from tokend.core.surfaces import surface_router
from tokend.gateway.callers import Presented
from tokend.gateway.errors import AUTH
from tokend.gateway.schemas import AuthProblem, TokenResponse, ValidationResponse
from tokend.gateway.seed_http import Cors, incoming_trace, version_headers
from tokend.gateway.service import GatewayService
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.tokens import iso_of_epoch
from tokend.server.peer import tcp_peer

#: Seed 004's token response headers: core's no-store pair, the seed's longer Cache-Control.
SEED_TOKEN_HEADERS: Final = {
    **NO_STORE,
    "Cache-Control": "no-store, no-cache, must-revalidate",
    "Vary": "Accept-Version",
}


def _problems(*pairs: tuple[int, str]) -> dict[int | str, dict[str, object]]:
    return {
        status: {
            "model": AuthProblem,
            "description": text,
            "content": {"application/problem+json": {}},
        }
        for status, text in pairs
    }


def _header(name: str, description: str, *, required: bool = False) -> dict[str, object]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def caller_headers(settings: GatewaySettings) -> list[dict[str, object]]:
    """OpenAPI documentation of what identifies the caller (read from the request directly:
    declared as parameters, FastAPI would resolve them on every call)."""
    if settings.source == "local":
        return [_header("apikey", "The consumer's API key (or `Authorization: ApiKey <key>`)")]
    return [
        _header(settings.consumer_id_header, "Kong consumer id (set by Kong)", required=True),
        _header(settings.consumer_username_header, "Kong consumer username", required=True),
        _header(settings.anonymous_header, "`true` for Kong's anonymous consumer (refused)"),
    ]


def presented_by(settings: GatewaySettings) -> Callable[[Request], Presented]:
    """How a request is read for the configured source: only the headers that source uses."""
    if settings.source == "local":

        def api_key(request: Request) -> Presented:
            return Presented(api_key=api_key_of(request.headers), peer=_peer(request))

        return api_key
    id_header, username_header = settings.consumer_id_header, settings.consumer_username_header
    anonymous_header, secret_header = settings.anonymous_header, settings.proxy_secret_header

    def consumer(request: Request) -> Presented:
        headers = request.headers
        return Presented(
            consumer_id=headers.get(id_header, "").strip(),
            username=headers.get(username_header, "").strip(),
            is_anonymous=headers.get(anonymous_header) == "true",
            proxy_secret=headers.get(secret_header),
            peer=_peer(request),
        )

    return consumer


def api_key_of(headers: Headers) -> str:
    """Kong key-auth's ``apikey`` header, or ``Authorization: ApiKey <key>``."""
    key = headers.get("apikey")
    if key is not None:
        return key.strip()
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    return rest.strip() if scheme.lower() == "apikey" else ""


def _peer(request: Request) -> str | None:
    # The TCP peer, never the client a forwarding header named: whoever can reach tokend can
    # send X-Forwarded-For, and a trusted forwarder (loopback) passes it on (item 6).
    return tcp_peer(request.scope)


def token_router(
    service: Callable[[], GatewayService],
    clock: Clock,
    settings: GatewaySettings,
    cors: Cors | None = None,
) -> APIRouter:
    router = surface_router(AUTH, tags=["gateway"])
    cors = cors if cors is not None and cors.enabled else None

    def seed_headers(request: Request, base: dict[str, str]) -> dict[str, str]:
        """Seed 004's extra answer headers: v2's, and CORS for an allowed origin."""
        extra = version_headers(request.headers)
        origin = cors.allow_origin(request.headers.get("origin")) if cors is not None else {}
        return {**base, **extra, **origin} if extra or origin else base

    headers = caller_headers(settings)
    presented = presented_by(settings)
    bearer = _header("Authorization", "`Bearer <jwt>` from `GET /tokens`", required=True)

    @router.get(
        "/tokens",
        summary="A short-lived JWT for the Kong consumer (seed 004)",
        response_model=TokenResponse,
        responses=_problems(
            (400, "AUTH_007: a consumer header is too long"),
            (401, "AUTH_001 missing/untrusted headers, AUTH_002 unknown, AUTH_009 anonymous"),
            (429, "AUTH_006: rate limited"),
            (500, "AUTH_003 / AUTH_008"),
            (503, "AUTH_004 Kong unavailable, AUTH_005 circuit open without a usable secret"),
        ),
        openapi_extra={"parameters": headers},
    )
    async def tokens(request: Request) -> Response:
        with incoming_trace(request.headers):
            issued = await service().issue(presented(request))
        body = {"access_token": issued.access_token, "expires_in": issued.expires_in}
        return JSONBody(body, headers=seed_headers(request, SEED_TOKEN_HEADERS))

    @router.get(
        "/tokens/validate",
        summary="Check a gateway JWT for the Kong consumer (seed 004)",
        response_model=ValidationResponse,
        responses=_problems(
            (400, "AUTH_012 no bearer, AUTH_011 invalid token, AUTH_007 header too long"),
            (401, "AUTH_010 expired, AUTH_001 / AUTH_002 / AUTH_009 consumer"),
            (503, "AUTH_004 / AUTH_005"),
        ),
        openapi_extra={"parameters": [bearer, *headers]},
    )
    async def validate(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        with incoming_trace(request.headers):
            facts = await service().validate(presented(request), authorization)
        now = clock.now().timestamp()
        body = {
            "valid": True,
            "tokenId": facts.token_id,
            "subject": facts.subject,
            "issuer": facts.issuer,
            "audience": facts.audience,
            "issuedAt": iso_of_epoch(facts.issued_at),
            "expiresAt": iso_of_epoch(facts.expires_at),
            "expiresIn": max(0, math.floor(facts.expires_at - now)),
        }
        return JSONBody(body, headers=seed_headers(request, {**NO_STORE, "Vary": "Accept-Version"}))

    if cors is not None:
        allowed = cors

        async def preflight(request: Request) -> Response:
            """CORS preflight (Fetch standard §4.8), as seed 004's CORS middleware."""
            return Response(
                status_code=204, headers=allowed.preflight(request.headers.get("origin"))
            )

        for path in ("/tokens", "/tokens/validate"):
            router.add_api_route(
                path,
                preflight,
                methods=["OPTIONS"],
                include_in_schema=False,
                name=f"preflight {path}",
            )

    return router
