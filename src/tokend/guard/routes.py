"""Seed-002 routes mounted by tokend: ``/auth/me``, ``/cache/info`` and ``/cache/clear``, and
the admin user lookups of :mod:`tokend.guard.admin`, all answering in the envelope."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.routing import merge
from tokend.core.surfaces import surface_router
from tokend.guard.admin import admin_users_router
from tokend.guard.admin_client import KeycloakAdminClient
from tokend.guard.dependencies import Guard
from tokend.guard.envelope import envelope, envelope_surface, human_duration
from tokend.guard.principal import Principal
from tokend.guard.settings import GuardSettings
from tokend.server.lean import lean_twin

#: Seed 002 wraps /cache/info with a 60 s TTL.
CACHE_INFO_TTL_S = 60


def me_data(principal: Principal) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sub": principal.subject,
        "email": principal.email,
        "preferred_username": principal.username,
        "name": principal.name,
        "roles": sorted(principal.roles),
        "groups": list(principal.groups),
        "scopes": sorted(principal.scopes),
        "client": principal.client,
        "issuer": principal.issuer,
        "auth_method": principal.via,
    }
    if principal.expires_at is not None:
        data["token_info"] = {
            "token_type": "Bearer",
            "expires_at": principal.expires_at.isoformat(),
        }
    return data


def guard_router(
    guard: Guard,
    config: GuardSettings,
    admin: KeycloakAdminClient | None,
    *,
    version: str,
    now: Callable[[], datetime],
) -> APIRouter:
    router = surface_router(envelope_surface(version), tags=["guard"])
    Authenticated = Annotated[Principal, Depends(guard.require_auth)]
    is_admin = [Depends(guard.require_roles(config.admin_role))]

    def me(request: Request, principal: Principal) -> Response:
        return envelope(
            request,
            me_data(principal),
            "User information retrieved successfully",
            version=version,
            now=now(),
            ttl_s=config.user_info_cache_ttl_s,
        )

    @router.get("/auth/me")
    async def auth_me(request: Request, principal: Authenticated) -> Response:
        return me(request, principal)

    @lean_twin(auth_me)
    async def auth_me_lean(request: Request) -> Response:
        """``auth_me`` without FastAPI's dependency solving (about half of its cost, py-spy):
        the same ``require_auth``, given a response of its own for the headers it may set,
        which ``auth_me``'s own Response drops on FastAPI's path too."""
        return me(request, await guard.require_auth(request, Response()))

    @router.get("/cache/info", dependencies=is_admin)
    async def cache_info(request: Request) -> Response:
        jwks = guard.validator.cache_info()
        data = {
            "jwt_cache": {
                "maxsize": len(jwks),
                "ttl": config.jwks_cache_ttl_s,
                "current_size": sum(1 for info in jwks.values() if info["current_size"]),
                "keys": [f"jwks:{name}" for name, info in jwks.items() if info["current_size"]],
                "hits": sum(info["hits"] for info in jwks.values()),
                "misses": sum(info["misses"] for info in jwks.values()),
                "issuers": jwks,
            },
            "admin_cache": {"admin_token_cache": admin_cache_info(admin, config)},
            "cache_ttl_config": ttl_config(config),
        }
        return envelope(
            request,
            data,
            "Cache information retrieved successfully",
            version=version,
            now=now(),
            ttl_s=CACHE_INFO_TTL_S,
        )

    @router.post("/cache/clear", dependencies=is_admin)
    async def cache_clear(request: Request) -> Response:
        guard.validator.clear()
        if admin is not None:
            admin.clear()
        data = {
            "message": "All caches cleared successfully",
            "cleared": ["jwks_cache", "admin_token_cache"],
            "cache_ttl": ttl_config(config),
        }
        return envelope(request, data, "Caches cleared successfully", version=version, now=now())

    if admin is not None:
        merge(router, admin_users_router(admin, is_admin, version=version, now=now))
    return router


def admin_cache_info(admin: KeycloakAdminClient | None, config: GuardSettings) -> dict[str, Any]:
    if admin is not None:
        return admin.cache_info()
    return {
        "maxsize": 1,
        "ttl": config.admin_token_cache_ttl_s,
        "current_size": 0,
        "keys": [],
        "hits": 0,
        "misses": 0,
    }


def ttl_config(config: GuardSettings) -> dict[str, Any]:
    ttls = {
        "jwks_ttl": config.jwks_cache_ttl_s,
        "admin_token_ttl": config.admin_token_cache_ttl_s,
        "user_info_ttl": config.user_info_cache_ttl_s,
        "group_ttl": config.group_cache_ttl_s,
    }
    result: dict[str, Any] = {}
    for name, value in ttls.items():
        result[name] = value
        result[f"{name}_human"] = human_duration(value)
    return result
