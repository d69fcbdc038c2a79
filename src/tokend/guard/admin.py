"""Seed-002 admin user lookups: ``/admin/users`` by id, username or email, a user's realm roles
and groups, from the Keycloak Admin API (callers need the guard's admin role)."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.errors import BadRequest
from tokend.core.surfaces import surface_router
from tokend.guard.admin_client import KeycloakAdminClient
from tokend.guard.envelope import envelope, envelope_surface

#: A Keycloak user id as it may sit in an admin API path: a UUID by default, an imported id
#: otherwise. Never ``.`` or ``..``: httpx removes dot segments (RFC 3986 §5.2.4), so
#: ``/users/../groups`` would ask for every group of the realm, ``/users/..`` for the realm.
UserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")]


def admin_users_router(
    admin: KeycloakAdminClient,
    dependencies: list[Any],
    *,
    version: str,
    now: Callable[[], datetime],
) -> APIRouter:
    router = surface_router(
        envelope_surface(version), prefix="/admin/users", dependencies=dependencies
    )

    @router.get("")
    async def find_user(
        request: Request,
        username: Annotated[str | None, Query(max_length=255)] = None,
        email: Annotated[str | None, Query(max_length=255)] = None,
    ) -> Response:
        if (username is None) == (email is None):
            raise BadRequest("Give exactly one of username or email")
        user = await (
            admin.user_by_username(username)
            if username is not None
            else admin.user_by_email(email or "")
        )
        return envelope(
            request, {"user": dict(user)}, "User fetched successfully", version=version, now=now()
        )

    @router.get("/{user_id}")
    async def get_user(request: Request, user_id: UserId) -> Response:
        user = await admin.user_by_id(user_id)
        return envelope(
            request, {"user": dict(user)}, "User fetched successfully", version=version, now=now()
        )

    @router.get("/{user_id}/roles")
    async def get_roles(request: Request, user_id: UserId) -> Response:
        roles = await admin.user_realm_roles(user_id)
        return envelope(
            request,
            {"user_id": user_id, "roles": roles},
            "User roles fetched successfully",
            version=version,
            now=now(),
        )

    @router.get("/{user_id}/groups")
    async def get_groups(request: Request, user_id: UserId) -> Response:
        groups = await admin.user_groups(user_id)
        return envelope(
            request,
            {"user_id": user_id, "groups": groups},
            "User groups fetched successfully",
            version=version,
            now=now(),
        )

    return router
