"""``/admin/clients`` and ``/admin/users``: RFC 9457 problems, behind the admin policy
(``core.admin_auth``: the static admin token or a ``tokend:admin`` access token for the admin
audience, checked against the provider's deny-list), before the body is read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from tokend.core.admin_auth import AdminPolicy, AdminRequirement
from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.errors import PROBLEM
from tokend.core.surfaces import surface_router
from tokend.oidc.registry import Registry
from tokend.oidc.schemas import (
    ClientCreate,
    ClientCreated,
    ClientView,
    SecretRotated,
    UserCreate,
    UserUpdate,
    UserView,
)

IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~-]+$")]


def admin_router(get: Callable[[], Registry], policy: AdminPolicy) -> APIRouter:
    router = surface_router(
        PROBLEM,
        max_body_bytes=ADMIN_JSON_MAX_BYTES,
        prefix="/admin",
        tags=["oidc admin"],
        dependencies=[Depends(AdminRequirement(policy))],
    )

    @router.get("/clients", summary="All clients", response_model=list[ClientView])
    async def list_clients() -> list[ClientView]:
        return [ClientView.of(c) for c in await get().all_clients()]

    @router.post(
        "/clients", summary="Create a client (its secret is shown once)", status_code=201,
        response_model=ClientCreated,
    )  # fmt: skip
    async def add_client(spec: ClientCreate) -> ClientCreated:
        client, secret = await get().add_client(spec)
        return ClientCreated(**ClientView.of(client).model_dump(), client_secret=secret)

    @router.get("/clients/{client_id}", summary="One client", response_model=ClientView)
    async def get_client(client_id: IdPath) -> ClientView:
        return ClientView.of(await get().client(client_id))

    @router.put("/clients/{client_id}", summary="Replace a client's settings",
                response_model=ClientView)  # fmt: skip
    async def put_client(client_id: IdPath, spec: ClientCreate) -> ClientView:
        return ClientView.of(await get().replace_client(client_id, spec))

    @router.delete("/clients/{client_id}", summary="Delete a client", status_code=204)
    async def delete_client(client_id: IdPath) -> Response:
        await get().remove_client(client_id)
        return Response(status_code=204)

    @router.post("/clients/{client_id}/secret", summary="Rotate a client's secret",
                 response_model=SecretRotated)  # fmt: skip
    async def rotate_secret(client_id: IdPath) -> SecretRotated:
        secret = await get().rotate_secret(client_id)
        return SecretRotated(client_id=client_id, client_secret=secret)

    @router.get("/users", summary="All users", response_model=list[UserView])
    async def list_users() -> list[UserView]:
        return [UserView.of(u) for u in await get().all_users()]

    @router.post("/users", summary="Create a user", status_code=201, response_model=UserView)
    async def add_user(spec: UserCreate) -> UserView:
        return UserView.of(await get().add_user(spec))

    @router.get("/users/{user_id}", summary="One user", response_model=UserView)
    async def get_user(user_id: IdPath) -> UserView:
        return UserView.of(await get().user(user_id))

    @router.patch(
        "/users/{user_id}",
        summary="Change a user (a new password, or disabling, revokes their grants)",
        response_model=UserView,
    )
    async def patch_user(user_id: IdPath, changes: UserUpdate) -> UserView:
        return UserView.of(await get().update_user(user_id, changes))

    @router.delete("/users/{user_id}", summary="Delete a user (and revoke their grants)",
                   status_code=204)  # fmt: skip
    async def delete_user(user_id: IdPath) -> Response:
        await get().remove_user(user_id)
        return Response(status_code=204)

    return router
