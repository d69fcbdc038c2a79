"""``/admin/upstreams`` (the upstream identity providers: those in the settings, read-only
here, and those added, changed and removed here; no client secret is ever shown) and
``/admin/users/{id}/upstream-links`` (a user's linked upstream accounts; removing one). Behind
the admin policy like the rest of ``/admin``.

Removing an upstream removes every link to it; the accounts stay and sign in by their other
methods (``upstreams.catalog``)."""

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
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.upstreams.brokering import Brokering
from tokend.oidc.upstreams.catalog import CatalogEntry, Source
from tokend.oidc.upstreams.schemas import UpstreamChanges, UpstreamCreate, changed_upstream

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
    #: ``settings``: from ``oidc.upstreams``, read-only here; ``admin``: added here.
    source: Source
    client_id: str
    #: ``github``: the REST API's base URL; None for ``oidc``.
    api_url: str | None
    token_endpoint_auth_method: str
    scopes: list[str]
    acr_map: dict[str, str]
    amr_map: dict[str, str]
    default_amr: list[str]
    created_at: datetime | None
    updated_at: datetime | None


class LinkView(BaseModel):
    upstream_id: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime | None


def _view(brokering: Brokering, entry: CatalogEntry) -> UpstreamView:
    u = entry.settings
    return UpstreamView(
        id=u.id,
        name=u.name,
        kind=u.kind,
        issuer=u.origin,
        redirect_uri=brokering.redirect_uri(u.id),
        link_by_verified_email=u.link_by_verified_email,
        create_accounts=u.create_accounts,
        source=entry.source,
        client_id=u.client_id,
        api_url=u.api_url if u.kind == "github" else None,
        token_endpoint_auth_method=u.auth_method,
        scopes=u.requested_scopes,
        acr_map=u.acr_map,
        amr_map=u.amr_map,
        default_amr=u.default_amr,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


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
        return [_view(brokering, entry) for entry in await brokering.catalog.entries()]

    @router.post("/upstreams", summary="Add an upstream identity provider (OIDC or GitHub)",
                 status_code=201, response_model=UpstreamView)  # fmt: skip
    async def add_upstream(spec: UpstreamCreate) -> UpstreamView:
        brokering = get()
        settings = UpstreamSettings.model_validate(spec.model_dump())
        return _view(brokering, await brokering.catalog.add(settings))

    @router.get("/upstreams/{upstream_id}", summary="One upstream identity provider",
                response_model=UpstreamView)  # fmt: skip
    async def upstream(upstream_id: UpstreamIdPath) -> UpstreamView:
        brokering = get()
        entry = await brokering.catalog.entry(upstream_id)
        if entry is None:
            raise NotFound(f"no upstream {upstream_id}")
        return _view(brokering, entry)

    @router.patch("/upstreams/{upstream_id}",
                  summary="Change an upstream added through the API (settings' are read-only)",
                  response_model=UpstreamView)  # fmt: skip
    async def change_upstream(
        upstream_id: UpstreamIdPath, changes: UpstreamChanges
    ) -> UpstreamView:
        brokering = get()
        entry = await brokering.catalog.entry(upstream_id)
        if entry is None:
            raise NotFound(f"no upstream {upstream_id}")
        settings = changed_upstream(entry.settings, changes)
        return _view(brokering, await brokering.catalog.replace(settings))

    @router.delete("/upstreams/{upstream_id}",
                   summary="Remove an upstream added through the API, and every link to it",
                   status_code=204)  # fmt: skip
    async def remove_upstream(upstream_id: UpstreamIdPath) -> Response:
        await get().catalog.remove(upstream_id)
        return Response(status_code=204)

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
