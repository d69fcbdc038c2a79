"""OIDC users: list and search, create (optionally as an administrator), disable or enable,
reset the password (which revokes the user's grants, as the admin API does); on a user's page
their live sessions (end one or all: back-channel logout follows), the apps they allowed
(withdraw one: the consent is forgotten and the grants' tokens revoked, as RFC 7009 would) and
their second factors (reset after a lost device). Validation is the admin API's own
(``UserCreate``, ``UserUpdate``); the services are its ``Registry`` and ``Accounts``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.pages.clients import ID_PATTERN
from tokend.console.web import Admin, Console, field_errors, paginate
from tokend.core.errors import TokendError
from tokend.oidc.accounts import Accounts
from tokend.oidc.records import User
from tokend.oidc.registry import Registry
from tokend.oidc.schemas import UserCreate, UserUpdate, UserView

#: The admin API's own shapes for a session handle and a client id (routes/account_admin.py).
SID: Final = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
CLIENT_ID: Final = re.compile(r"^[A-Za-z0-9._~:-]{1,64}$")


def users_router(
    console: Console,
    registry: Callable[[], Registry],
    admin_role: str,
    accounts: Callable[[], Accounts] | None = None,
) -> APIRouter:
    router = console.router()

    def text(user: User) -> str:
        return f"{user.id} {user.email} {user.name or ''} {' '.join(user.roles)}"

    async def list_page(
        request: Request, admin: Admin, status: int = 200, **extra: object
    ) -> Response:
        users = sorted(await registry().all_users(), key=lambda u: u.email)
        context: dict[str, object] = {
            "page": paginate(request, [UserView.of(u) for u in users], lambda v: text(_user(v))),
            "values": {}, "errors": {}, "notice": request.query_params.get("notice"),
            "admin_role": admin_role,
        }  # fmt: skip
        context.update(extra)
        return console.render(admin, "users.html", status, **context)

    @router.get("/console/users")
    async def users(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return await list_page(request, admin)

    @router.post("/console/users")
    async def create(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        roles = [r for r in (form.get("roles") or "").replace(",", " ").split() if r]
        if form.get("administrator") and admin_role not in roles:
            roles.append(admin_role)
        fields: dict[str, object] = {
            "email": form.get("email") or "", "password": form.get("password") or "",
            "name": form.get("name"), "email_verified": bool(form.get("email_verified")),
            "roles": roles,
        }  # fmt: skip
        shown = {k: v for k, v in fields.items() if k != "password"}
        try:
            user = await registry().add_user(UserCreate.model_validate(fields))
        except ValidationError as exc:
            return await list_page(request, admin, 422, values=shown, errors=field_errors(exc))
        except TokendError as exc:
            errors = {"email": exc.description}
            return await list_page(request, admin, 422, values=shown, errors=errors)
        console.record(admin, "user_created", user.id, roles=" ".join(user.roles))
        return console.done("/console/users", f"User {user.email} created.")

    @router.get("/console/users/{user_id}")
    async def show(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            user = UserView.of(await registry().user(user_id))
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        return await user_page(admin, user, {}, request.query_params.get("notice"))

    async def user_page(
        admin: Admin, user: UserView, errors: dict[str, str], notice: str | None, status: int = 200
    ) -> Response:
        context: dict[str, object] = {"user": user, "errors": errors, "notice": notice}
        context.update(await account_of(user.id))
        return console.render(admin, "user.html", status, **context)

    async def account_of(user_id: str) -> dict[str, object]:
        """What the user's page shows of their account: sessions, apps, second factors."""
        if accounts is None:
            return {"sessions": None, "apps": None, "factors": None}
        service = accounts()
        sessions = sorted(
            await service.sessions_of(user_id),
            key=lambda s: s.last_seen_at or s.auth_time,
            reverse=True,
        )
        apps = sorted(await service.apps_of(user_id), key=lambda a: a.name.lower())
        return {
            "sessions": sessions,
            "apps": apps,
            "factors": await service.factors.status(user_id),
        }

    async def acting(
        request: Request, user_id: str
    ) -> tuple[Admin, dict[str, str], Accounts] | Response:
        """The administrator, their form and the accounts service for a user that exists."""
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        if accounts is None:
            return console.error(admin, "Accounts are not served by this process.", 404)
        try:
            await registry().user(user_id)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        return admin, dict(form.single), accounts()

    async def change(
        request: Request, user_id: str, action: str, build: Callable[[dict[str, str]], object]
    ) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        try:
            changes = UserUpdate.model_validate(build(dict(form.single)))
            if user_id == admin.session.user_id and (changes.disabled or changes.roles is not None):
                return console.error(admin, "You cannot disable or demote yourself here.", 409)
            await registry().update_user(user_id, changes)
        except ValidationError as exc:
            try:
                user = UserView.of(await registry().user(user_id))
            except TokendError as missing:
                return console.error(admin, missing.description, missing.status)
            return await user_page(admin, user, field_errors(exc), None, 422)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, action, user_id)
        return console.done(f"/console/users/{user_id}", "Saved.")

    @router.post("/console/users/{user_id}/disable")
    async def disable(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await change(request, user_id, "user_disabled", lambda _f: {"disabled": True})

    @router.post("/console/users/{user_id}/enable")
    async def enable(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await change(request, user_id, "user_enabled", lambda _f: {"disabled": False})

    @router.post("/console/users/{user_id}/password")
    async def password(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await change(
            request, user_id, "user_password_reset", lambda f: {"password": f.get("password", "")}
        )

    @router.post("/console/users/{user_id}/roles")
    async def roles(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await change(
            request, user_id, "user_roles_changed",
            lambda f: {"roles": f.get("roles", "").replace(",", " ").split()},
        )  # fmt: skip

    @router.post("/console/users/{user_id}/sessions/end")
    async def end_session(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        found = await acting(request, user_id)
        if isinstance(found, Response):
            return found
        admin, form, service = found
        sid = form.get("sid", "")
        if not SID.match(sid) or not await service.end_session(user_id, sid, by="console"):
            return console.error(admin, "That session has ended already.", 404)
        console.record(admin, "user_session_ended", user_id)
        return console.done(f"/console/users/{user_id}", "Session ended.")

    @router.post("/console/users/{user_id}/sessions/end-all")
    async def end_all(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        found = await acting(request, user_id)
        if isinstance(found, Response):
            return found
        admin, _form, service = found
        ended = 0
        for session in await service.sessions_of(user_id):
            ended += await service.end_session(user_id, session.sid, by="console")
        console.record(admin, "user_sessions_ended", user_id, count=str(ended))
        return console.done(f"/console/users/{user_id}", f"{ended} session(s) ended.")

    @router.post("/console/users/{user_id}/apps/withdraw")
    async def withdraw(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        found = await acting(request, user_id)
        if isinstance(found, Response):
            return found
        admin, form, service = found
        client_id = form.get("client_id", "")
        if not CLIENT_ID.match(client_id) or not await service.withdraw_access(
            user_id, client_id, by="console"
        ):
            return console.error(admin, "That app has no access to withdraw.", 404)
        console.record(admin, "user_access_withdrawn", user_id, client_id=client_id)
        return console.done(
            f"/console/users/{user_id}", "Access withdrawn; its tokens are revoked."
        )

    @router.post("/console/users/{user_id}/factors/reset")
    async def reset_factors(request: Request, user_id: str = Path(pattern=ID_PATTERN)) -> Response:
        found = await acting(request, user_id)
        if isinstance(found, Response):
            return found
        admin, _form, service = found
        if not await service.factors.remove(user_id, reason="admin_reset"):
            return console.error(admin, "This user has no second factor to reset.", 404)
        console.record(admin, "user_factors_reset", user_id)
        return console.done(f"/console/users/{user_id}", "Second factors reset.")

    return router


def _user(view: UserView) -> User:
    return User(view.id, view.email, view.email_verified, view.name, roles=tuple(view.roles))
