"""OIDC users: list and search, create (optionally as an administrator), disable or enable,
reset the password (which revokes the user's grants, as the admin API does). Validation is the
admin API's own (``UserCreate``, ``UserUpdate``); the service is its ``Registry``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.pages.clients import ID_PATTERN
from tokend.console.web import Admin, Console, field_errors, paginate
from tokend.core.errors import TokendError
from tokend.oidc.records import User
from tokend.oidc.registry import Registry
from tokend.oidc.schemas import UserCreate, UserUpdate, UserView


def users_router(console: Console, registry: Callable[[], Registry], admin_role: str) -> APIRouter:
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
        return console.render(
            admin, "user.html", user=user, errors={}, notice=request.query_params.get("notice")
        )

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
            return console.render(
                admin, "user.html", 422, user=user, errors=field_errors(exc), notice=None
            )
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

    return router


def _user(view: UserView) -> User:
    return User(view.id, view.email, view.email_verified, view.name, roles=tuple(view.roles))
