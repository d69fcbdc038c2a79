"""``/admin/clients`` and ``/admin/users``: RFC 9457 problems, guarded by a bearer access token
with the ``tokend:admin`` scope (or the operator's static admin token, when configured)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.admin_auth import bearer_matches
from tokend.core.errors import PROBLEM, Forbidden, NotFound, Unauthorized
from tokend.core.surfaces import surface_router
from tokend.oidc.audit import AuditEvent
from tokend.oidc.grants.user_tokens import revoke_user_grants
from tokend.oidc.provider import Provider
from tokend.oidc.records import ADMIN_SCOPE
from tokend.oidc.registration import (
    create_client,
    create_user,
    rotate_client_secret,
    update_user,
)
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


def admin_router(get: Callable[[], Provider], static_token: SecretStr | None) -> APIRouter:
    async def require_admin(request: Request) -> None:
        authorization = request.headers.get("authorization", "")
        if static_token is not None and bearer_matches(
            authorization, static_token.get_secret_value()
        ):
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
            raise Unauthorized("a bearer token with the tokend:admin scope is required")
        info = await get().reader.read(token.strip())
        if info is None:
            raise Unauthorized("the bearer token is invalid, expired or revoked")
        if ADMIN_SCOPE not in info.scopes:
            raise Forbidden("the bearer token lacks the tokend:admin scope")

    router = surface_router(
        PROBLEM, prefix="/admin", tags=["oidc admin"], dependencies=[Depends(require_admin)]
    )

    @router.get("/clients", summary="All clients", response_model=list[ClientView])
    async def list_clients() -> list[ClientView]:
        return [ClientView.of(c) for c in await get().client_registry.all()]

    @router.post(
        "/clients", summary="Create a client (its secret is shown once)", status_code=201,
        response_model=ClientCreated,
    )  # fmt: skip
    async def add_client(spec: ClientCreate) -> ClientCreated:
        provider = get()
        client, secret = await create_client(provider.client_registry, provider.hasher, spec)
        return ClientCreated(**ClientView.of(client).model_dump(), client_secret=secret)

    @router.get("/clients/{client_id}", summary="One client", response_model=ClientView)
    async def get_client(client_id: IdPath) -> ClientView:
        client = await get().client_registry.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        return ClientView.of(client)

    @router.put("/clients/{client_id}", summary="Replace a client's settings",
                response_model=ClientView)  # fmt: skip
    async def put_client(client_id: IdPath, spec: ClientCreate) -> ClientView:
        provider = get()
        current = await provider.client_registry.get(client_id)
        if current is None:
            raise NotFound(f"no client {client_id}")
        if current.is_public != spec.public:
            raise Forbidden("a client cannot change between public and confidential")
        client = spec.to_client(client_id, current.secret_hash)
        await provider.client_registry.replace(client)
        await provider.clients.forget(client_id)
        return ClientView.of(client)

    @router.delete("/clients/{client_id}", summary="Delete a client", status_code=204)
    async def delete_client(client_id: IdPath) -> Response:
        provider = get()
        if not await provider.client_registry.remove(client_id):
            raise NotFound(f"no client {client_id}")
        await provider.clients.forget(client_id)
        return Response(status_code=204)

    @router.post("/clients/{client_id}/secret", summary="Rotate a client's secret",
                 response_model=SecretRotated)  # fmt: skip
    async def rotate_secret(client_id: IdPath) -> SecretRotated:
        provider = get()
        secret = await rotate_client_secret(provider.client_registry, provider.hasher, client_id)
        await provider.clients.forget(client_id)
        return SecretRotated(client_id=client_id, client_secret=secret)

    @router.get("/users", summary="All users", response_model=list[UserView])
    async def list_users() -> list[UserView]:
        return [UserView.of(u) for u in await get().users.all()]

    @router.post("/users", summary="Create a user", status_code=201, response_model=UserView)
    async def add_user(spec: UserCreate) -> UserView:
        provider = get()
        return UserView.of(await create_user(provider.users, provider.passwords, spec))

    @router.get("/users/{user_id}", summary="One user", response_model=UserView)
    async def get_user(user_id: IdPath) -> UserView:
        user = await get().users.by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return UserView.of(user)

    async def revoke_grants(provider: Provider, user_id: str, reason: str) -> None:
        revoked = await revoke_user_grants(provider.grant_deps, user_id)
        provider.audit.record(
            AuditEvent.GRANTS_REVOKED, user_id=user_id, reason=reason, grants=revoked
        )

    @router.patch(
        "/users/{user_id}",
        summary="Change a user (a new password, or disabling, revokes their grants)",
        response_model=UserView,
    )
    async def patch_user(user_id: IdPath, changes: UserUpdate) -> UserView:
        provider = get()
        user = await update_user(provider.users, provider.passwords, user_id, changes)
        # RFC 9700 §4.14.2: a security event revokes the user's refresh tokens (and here the
        # access tokens of the same grants): whoever held the old password keeps nothing.
        if changes.password is not None:
            await revoke_grants(provider, user_id, "password_changed")
        elif changes.disabled:
            await revoke_grants(provider, user_id, "user_disabled")
        return UserView.of(user)

    @router.delete("/users/{user_id}", summary="Delete a user (and revoke their grants)",
                   status_code=204)  # fmt: skip
    async def delete_user(user_id: IdPath) -> Response:
        provider = get()
        if not await provider.users.remove(user_id):
            raise NotFound(f"no user {user_id}")
        await revoke_grants(provider, user_id, "user_deleted")
        return Response(status_code=204)

    return router
