"""``GET /metrics`` on the API's port: the registry's exposition (``tokend.obs.metrics``),
behind a bearer token when one is set. Apart from the registry module so that a command-line
process, which keeps a registry but serves nothing, imports neither FastAPI nor the JWT code."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.admin_auth import REALM, bearer_matches
from tokend.core.errors import InvalidToken, Unauthorized
from tokend.core.routing import api_router
from tokend.obs.metrics import exposition


def metrics_router(registry: CollectorRegistry, token: SecretStr | None = None) -> APIRouter:
    """``GET /metrics`` (a route like the others, so its own requests are labelled ``/metrics``);
    with ``token``, only for ``Authorization: Bearer <token>`` (RFC 6750 §2.1)."""
    router = api_router()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if token is not None:
            _require_bearer(request.headers.get("authorization", ""), token)
        return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _require_bearer(authorization: str, token: SecretStr) -> None:
    if bearer_matches(authorization, token.get_secret_value()):
        return
    if not authorization.lower().startswith("bearer "):
        # RFC 6750 §3.1: no error code when the request had no credentials.
        raise Unauthorized(
            "A bearer token is required.", headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'}
        )
    raise InvalidToken(
        "The bearer token is invalid.",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )
