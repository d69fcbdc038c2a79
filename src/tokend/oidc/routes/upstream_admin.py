"""``/admin/upstreams`` (the upstream identity providers configured, no secret) and
``/admin/users/{id}/upstream-links`` (a user's linked upstream accounts; removing one). Behind
the admin policy like the rest of ``/admin``. Upstreams are configured in the settings
(``oidc.upstreams``), not here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel
from starlette.responses import Response

from tokend.core.admin_auth import AdminPolicy, AdminRequirement
from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.errors import PROBLEM, NotFound
from tokend.core.surfaces import surface_router
from tokend.oidc.routes.admin import IdPath
from tokend.oidc.upstreams.brokering import Brokering

UpstreamIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class UpstreamView(BaseModel):
    id: str
    name: str
    kind: str
    issuer: str
    #: The redirect URI to register at the upstream.
    redirect_uri: str
    link_by_verified_email: bool
    create_accounts: bool


class LinkView(BaseModel):
    upstream_id: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


def upstream_admin_router(get: Callable[[], Brokering], policy: AdminPolicy) -> APIRouter:
    router = surface_router(
        PROBLEM,
        max_body_bytes=ADMIN_JSON_MAX_BYTES,
        prefix="/admin",
        tags=["oidc admin"],
        dependencies=[Depends(AdminRequirement(policy))],
    )

    async def existing(user_id: str) -> Brokering:
        brokering = get()
        if await brokering.users.by_id(user_id) is None:
            raise NotFound(f"no user {user_id}")
        return brokering

    @router.get("/upstreams", summary="The upstream identity providers users may sign in with",
                response_model=list[UpstreamView])  # fmt: skip
    async def upstreams() -> list[UpstreamView]:
        brokering = get()
        return [
            UpstreamView(
                id=u.id,
                name=u.name,
                kind=u.kind,
                issuer=u.origin,
                redirect_uri=brokering.redirect_uri(u.id),
                link_by_verified_email=u.link_by_verified_email,
                create_accounts=u.create_accounts,
            )
            for u in brokering.offered()
        ]

    @router.get("/users/{user_id}/upstream-links", summary="A user's linked upstream accounts",
                response_model=list[LinkView])  # fmt: skip
    async def links(user_id: IdPath) -> list[LinkView]:
        found = await (await existing(user_id)).links.of_user(user_id)
        return [
            LinkView(
                upstream_id=link.upstream_id,
                subject=link.subject,
                email=link.email,
                created_at=link.created_at,
                last_used_at=link.last_used_at,
            )
            for link in found
        ]

    @router.delete("/users/{user_id}/upstream-links/{upstream_id}",
                   summary="Unlink a user's upstream account", status_code=204)  # fmt: skip
    async def unlink(user_id: IdPath, upstream_id: UpstreamIdPath) -> Response:
        if not await (await existing(user_id)).remove_by_admin(user_id, upstream_id):
            raise NotFound(f"user {user_id} has no link to {upstream_id}")
        return Response(status_code=204)

    return router
