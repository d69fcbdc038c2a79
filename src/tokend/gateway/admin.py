"""``/gateway/admin/consumers``: standalone consumers (create, list, revoke); RFC 9457 errors.

Callers present ``gateway.admin_token`` (or the server's ``admin_token``) as a bearer token;
with neither configured the admin API answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Request
from pydantic import SecretStr
from starlette.responses import Response

from tokend.core.admin_auth import bearer_matches
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import PROBLEM, Forbidden, Unauthorized
from tokend.core.surfaces import surface_router
from tokend.gateway.consumers import Consumers
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.schemas import ConsumerCreate, ConsumerCreated, ConsumerView

log = structlog.get_logger("tokend.gateway")

ConsumerId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def admin_router(consumers: Callable[[], Consumers], token: SecretStr | None) -> APIRouter:
    async def require_admin(request: Request) -> None:
        if token is None:
            raise Forbidden("the gateway admin API is disabled (set TOKEND_GATEWAY__ADMIN_TOKEN)")
        if not bearer_matches(request.headers.get("authorization", ""), token.get_secret_value()):
            raise Unauthorized("a valid admin bearer token is required")

    router = surface_router(
        PROBLEM,
        prefix="/admin/consumers",
        tags=["gateway admin"],
        dependencies=[Depends(require_admin)],
    )

    @router.get("", summary="Standalone consumers", response_model=list[ConsumerView])
    async def list_consumers() -> list[ConsumerView]:
        return [_view(record) for record in await consumers().list_all()]

    @router.post(
        "",
        summary="Create a consumer; its API key is shown once",
        response_model=ConsumerCreated,
        status_code=201,
        responses={409: {"description": "The username is taken"}},
    )
    async def create_consumer(body: ConsumerCreate) -> Response:
        created = await consumers().create(body.username)
        log.info(
            "gateway.consumer_created",
            consumer_id=created.record.consumer_id,
            username=created.record.username,
        )
        view = ConsumerCreated(
            consumer_id=created.record.consumer_id,
            username=created.record.username,
            api_key=created.api_key,
        )
        return Response(
            view.model_dump_json(),
            status_code=201,
            media_type="application/json",
            headers=NO_STORE,
        )

    @router.delete(
        "/{consumer_id}",
        summary="Revoke a consumer: its API key stops working at once",
        status_code=204,
        responses={404: {"description": "No such consumer"}},
    )
    async def revoke_consumer(consumer_id: ConsumerId) -> Response:
        await consumers().revoke(consumer_id)
        log.info("gateway.consumer_revoked", consumer_id=consumer_id)
        return Response(status_code=204)

    return router


def _view(record: ConsumerRecord) -> ConsumerView:
    return ConsumerView(
        consumer_id=record.consumer_id,
        username=record.username,
        key=record.key,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )
