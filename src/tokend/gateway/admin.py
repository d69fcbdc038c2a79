"""``/gateway/admin/consumers``: standalone consumers (create, list, revoke); RFC 9457 errors.

Callers pass the admin policy (``core.admin_auth``): ``gateway.admin_token`` or the server's
``admin_token``, or a ``tokend:admin`` access token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from tokend.core.admin_auth import AdminPolicy, AdminRequirement
from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import PROBLEM
from tokend.core.surfaces import surface_router
from tokend.gateway.consumers import Consumers
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.schemas import ConsumerCreate, ConsumerCreated, ConsumerView

log = structlog.get_logger("tokend.gateway")

ConsumerId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def admin_router(consumers: Callable[[], Consumers], policy: AdminPolicy) -> APIRouter:
    router = surface_router(
        PROBLEM,
        max_body_bytes=ADMIN_JSON_MAX_BYTES,
        prefix="/admin/consumers",
        tags=["gateway admin"],
        dependencies=[Depends(AdminRequirement(policy))],
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
