"""``/admin/users/{id}/factors|sessions|consents``: what the account pages show a user, for an
admin: second factors (and resetting them), sessions (and ending one), apps with access (and
withdrawing it). Behind the admin policy like the rest of ``/admin``."""

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
from tokend.oidc.accounts import Accounts
from tokend.oidc.routes.admin import IdPath

SidPath = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
ClientPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~:-]+$")]


class FactorsView(BaseModel):
    totp: bool
    recovery_codes_left: int


class SessionView(BaseModel):
    sid: str
    device: str
    ip: str
    auth_time: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    amr: list[str]


class ConsentView(BaseModel):
    client_id: str
    name: str
    scope: str
    granted_at: datetime


def account_admin_router(get: Callable[[], Accounts], policy: AdminPolicy) -> APIRouter:
    router = surface_router(
        PROBLEM,
        max_body_bytes=ADMIN_JSON_MAX_BYTES,
        prefix="/admin/users",
        tags=["oidc admin"],
        dependencies=[Depends(AdminRequirement(policy))],
    )

    async def existing(user_id: str) -> Accounts:
        accounts = get()
        if await accounts.users.by_id(user_id) is None:
            raise NotFound(f"no user {user_id}")
        return accounts

    @router.get("/{user_id}/factors", summary="A user's second factors",
                response_model=FactorsView)  # fmt: skip
    async def factors(user_id: IdPath) -> FactorsView:
        status = await (await existing(user_id)).factors.status(user_id)
        return FactorsView(totp=status.totp, recovery_codes_left=status.recovery_codes_left)

    @router.delete(
        "/{user_id}/factors",
        summary="Reset a user's second factors (authenticator and recovery codes)",
        status_code=204,
    )
    async def reset_factors(user_id: IdPath) -> Response:
        await (await existing(user_id)).factors.remove(user_id, reason="admin_reset")
        return Response(status_code=204)

    @router.get("/{user_id}/sessions", summary="A user's live sessions",
                response_model=list[SessionView])  # fmt: skip
    async def sessions(user_id: IdPath) -> list[SessionView]:
        listed = await (await existing(user_id)).sessions_of(user_id)
        return [
            SessionView(
                sid=s.sid,
                device=s.device,
                ip=s.ip,
                auth_time=s.auth_time,
                last_seen_at=s.last_seen_at,
                expires_at=s.expires_at,
                amr=list(s.amr),
            )
            for s in listed
        ]

    @router.delete("/{user_id}/sessions/{sid}", summary="End one of a user's sessions",
                   status_code=204)  # fmt: skip
    async def end_session(user_id: IdPath, sid: SidPath) -> Response:
        if not await (await existing(user_id)).end_session(user_id, sid, by="admin"):
            raise NotFound(f"no live session {sid}")
        return Response(status_code=204)

    @router.get("/{user_id}/consents", summary="The apps a user allowed",
                response_model=list[ConsentView])  # fmt: skip
    async def consents(user_id: IdPath) -> list[ConsentView]:
        apps = await (await existing(user_id)).apps_of(user_id)
        return [
            ConsentView(
                client_id=a.client_id,
                name=a.name,
                scope=" ".join(sorted(a.scopes)),
                granted_at=a.granted_at,
            )
            for a in apps
        ]

    @router.delete(
        "/{user_id}/consents/{client_id}",
        summary="Withdraw an app's access: forget the consent, revoke the grants' tokens",
        status_code=204,
    )
    async def withdraw(user_id: IdPath, client_id: ClientPath) -> Response:
        if not await (await existing(user_id)).withdraw_access(user_id, client_id, by="admin"):
            raise NotFound(f"no access of {client_id}")
        return Response(status_code=204)

    return router
