"""The vault: the provider catalog, tenants' OAuth apps (provider, client, active) and their
connections (status, expiry, last refresh); refresh a connection now or revoke it (RFC 7009 at
the provider where it has an endpoint, then locally); an app's webhook deliveries (each event,
its status, attempts and the receiver's last answer) and sending one again. The services are
the vault API's own (``Vault``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Console, paginate
from tokend.core.errors import NotFound, TokendError
from tokend.vault.capability import Vault
from tokend.vault.providers import Catalog
from tokend.vault.records import ClientRecord, TokenRecord

#: The apps the page reads at most; the vault API pages the same way.
MAX_APPS: Final = 1000
#: The latest events an app's deliveries page lists.
MAX_DELIVERIES: Final = 100
#: The shape of an event id (``events``: ``random_id("evt_")``).
EVENT_ID: Final = r"^evt_[A-Za-z0-9_-]{1,36}$"


@dataclass(frozen=True, slots=True)
class Row:
    app: ClientRecord
    connection: TokenRecord | None


def vault_router(
    console: Console, vault: Callable[[], Vault], catalog: Callable[[], Catalog] | None
) -> APIRouter:
    router = console.router()

    async def connection(pk: int) -> TokenRecord | None:
        try:
            return await vault().service.token_metadata(pk)
        except NotFound:
            return None

    @router.get("/console/vault")
    async def listing(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        apps = await vault().registry.clients(0, MAX_APPS)
        page = paginate(request, apps, lambda a: f"{a.id} {a.provider} {a.client_id}")
        shown = [app for app in apps if app in page.items]
        rows = [Row(app, await connection(app.id)) for app in shown]
        return console.render(
            admin, "vault.html", page=page, rows=rows, notice=request.query_params.get("notice"),
            providers=sorted(catalog().providers.values(), key=lambda p: p.name) if catalog else [],
        )  # fmt: skip

    @router.get("/console/vault/{pk}/deliveries")
    async def deliveries(request: Request, pk: int = Path(ge=1, le=2**31 - 1)) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            app = await vault().registry.client(pk)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        listed = await vault().deliveries.of_client(pk, MAX_DELIVERIES)
        return console.render(
            admin, "deliveries.html", app=app, deliveries=listed,
            notice=request.query_params.get("notice"),
        )  # fmt: skip

    @router.post("/console/vault/deliveries/{event_id}/redeliver")
    async def redeliver(request: Request, event_id: str = Path(pattern=EVENT_ID)) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        sent = await vault().events.redeliver(event_id)
        if sent is None:
            return console.error(admin, "No such event is kept.", 404)
        console.record(admin, "vault_redeliver", event_id, app=str(sent.client_pk))
        return console.done(f"/console/vault/{sent.client_pk}/deliveries", "Event queued again.")

    @router.post("/console/vault/{pk}/{action}")
    async def act(
        request: Request,
        pk: int = Path(ge=1, le=2**31 - 1),
        action: str = Path(pattern=r"^(refresh|revoke)$"),
    ) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            if action == "refresh":
                await vault().service.refresh(pk)
                notice = f"Connection of app {pk} refreshed."
            else:
                at_provider = await vault().service.revoke(pk)
                notice = f"Connection of app {pk} revoked" + (
                    " (also at the provider)." if at_provider else " (locally)."
                )
        except TokendError as exc:
            console.record(admin, f"vault_{action}", str(pk), outcome="failed")
            return console.error(admin, exc.description, exc.status)
        console.record(admin, f"vault_{action}", str(pk))
        return console.done("/console/vault", notice)

    return router
