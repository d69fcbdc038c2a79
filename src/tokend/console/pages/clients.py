"""OIDC clients: list and search, create (the secret shown once), edit, disable and enable,
rotate the secret (shown once), delete. Validation is the admin API's own (``ClientCreate``);
the service is its ``Registry``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Console, field_errors, paginate
from tokend.core.errors import TokendError
from tokend.core.forms import Params
from tokend.oidc.records import Client
from tokend.oidc.registry import Registry
from tokend.oidc.schemas import CLIENT_READ_ONLY, ClientCreate, ClientView

GRANTS: Final = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS: Final = (
    "", "client_secret_basic", "client_secret_post", "private_key_jwt", "none",
)  # fmt: skip
ID_PATTERN: Final = r"^[A-Za-z0-9._~-]{1,64}$"


def _lines(value: str | None) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def spec_fields(form: Params, base: dict[str, object] | None = None) -> dict[str, object]:
    """The admin API body the form stands for (``base``: the client's current settings)."""
    fields: dict[str, object] = dict(base or {})
    fields.update(
        name=form.get("name") or "",
        grant_types=[g for g in GRANTS if form.get(f"grant_{g}")],
        redirect_uris=_lines(form.get("redirect_uris")),
        post_logout_redirect_uris=_lines(form.get("post_logout_redirect_uris")),
        scope=form.get("scope") or "",
        require_pkce=bool(form.get("require_pkce")),
        skip_consent=bool(form.get("skip_consent")),
    )
    method = form.get("token_endpoint_auth_method")
    fields["token_endpoint_auth_method"] = method or None
    if base is None:
        fields["public"] = bool(form.get("public"))
    return fields


def _form_values(view: ClientView | None) -> dict[str, object]:
    if view is None:
        return {"grant_types": ["authorization_code"], "scope": "openid profile email"}
    return view.model_dump()


def clients_router(console: Console, registry: Callable[[], Registry]) -> APIRouter:
    router = console.router()

    def text(client: Client) -> str:
        return f"{client.client_id} {client.name} {' '.join(client.redirect_uris)}"

    async def list_page(
        request: Request, admin: object, status: int = 200, **extra: object
    ) -> Response:
        clients = sorted(await registry().all_clients(), key=lambda c: c.client_id)
        page = paginate(request, clients, text)
        context: dict[str, object] = {
            "page": page, "values": _form_values(None), "errors": {}, "grants": GRANTS,
            "methods": AUTH_METHODS, "notice": request.query_params.get("notice"),
        }  # fmt: skip
        context.update(extra)
        return console.render(admin, "clients.html", status, **context)  # type: ignore[arg-type]

    @router.get("/console/clients")
    async def clients(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return await list_page(request, admin)

    @router.post("/console/clients")
    async def create(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        fields = spec_fields(form)
        try:
            spec = ClientCreate.model_validate(fields)
        except ValidationError as exc:
            return await list_page(request, admin, 422, values=fields, errors=field_errors(exc))
        try:
            client, secret = await registry().add_client(spec)
        except TokendError as exc:
            return await list_page(request, admin, 422, values=fields, errors={"": exc.description})
        console.record(admin, "client_created", client.client_id)
        return console.render(
            admin, "secret.html", title=f"Client {client.client_id} created",
            label="Client secret", secret=secret, identifier=("Client ID", client.client_id),
            back="/console/clients",
        )  # fmt: skip

    @router.get("/console/clients/{client_id}")
    async def show(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            view = ClientView.of(await registry().client(client_id))
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        return console.render(
            admin, "client.html", client=view, values=_form_values(view), errors={},
            grants=GRANTS, methods=AUTH_METHODS, notice=request.query_params.get("notice"),
        )  # fmt: skip

    @router.post("/console/clients/{client_id}")
    async def edit(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        try:
            view = ClientView.of(await registry().client(client_id))
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        base = view.model_dump(exclude=set(CLIENT_READ_ONLY))
        fields = spec_fields(form, base)
        try:
            spec = ClientCreate.model_validate(fields)
            await registry().replace_client(client_id, spec)
        except ValidationError as exc:
            errors = field_errors(exc)
        except TokendError as exc:
            errors = {"": exc.description}
        else:
            console.record(admin, "client_updated", client_id)
            return console.done(f"/console/clients/{client_id}", "Client saved.")
        return console.render(
            admin, "client.html", 422, client=view, values=fields, errors=errors,
            grants=GRANTS, methods=AUTH_METHODS, notice=None,
        )  # fmt: skip

    async def switch(request: Request, client_id: str, disabled: bool) -> Response:
        """Disable (the provider's flows then treat the client as unknown: no token, no sign-in;
        ``oidc.client_cache``) or enable it again; every other setting stays."""
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            view = ClientView.of(await registry().client(client_id))
            fields = {**view.model_dump(exclude=set(CLIENT_READ_ONLY)), "disabled": disabled}
            await registry().replace_client(client_id, ClientCreate.model_validate(fields))
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "client_disabled" if disabled else "client_enabled", client_id)
        notice = "Client disabled." if disabled else "Client enabled."
        return console.done(f"/console/clients/{client_id}", notice)

    @router.post("/console/clients/{client_id}/disable")
    async def disable(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await switch(request, client_id, disabled=True)

    @router.post("/console/clients/{client_id}/enable")
    async def enable(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        return await switch(request, client_id, disabled=False)

    @router.post("/console/clients/{client_id}/secret")
    async def rotate(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            secret = await registry().rotate_secret(client_id)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "client_secret_rotated", client_id)
        return console.render(
            admin, "secret.html", title=f"New secret for {client_id}", label="Client secret",
            secret=secret, identifier=("Client ID", client_id),
            back=f"/console/clients/{client_id}",
        )  # fmt: skip

    @router.post("/console/clients/{client_id}/delete")
    async def delete(request: Request, client_id: str = Path(pattern=ID_PATTERN)) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            await registry().remove_client(client_id)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "client_deleted", client_id)
        return console.done("/console/clients", f"Client {client_id} deleted.")

    return router
