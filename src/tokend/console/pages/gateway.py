"""Gateway consumers (standalone source): list and search, create (the API key shown once),
revoke. Validation is the admin API's own (``ConsumerCreate``); the service is ``Consumers``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Admin, Console, field_errors, paginate
from tokend.core.errors import TokendError
from tokend.gateway.consumers import Consumers
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.schemas import ConsumerCreate


def consumers_router(
    console: Console, consumers: Callable[[], Consumers], token_url: str
) -> APIRouter:
    router = console.router()

    async def list_page(
        request: Request, admin: Admin, status: int = 200, **extra: object
    ) -> Response:
        rows = sorted(await consumers().list_all(), key=lambda c: c.username)
        context: dict[str, object] = {
            "page": paginate(request, rows, _text), "values": {}, "errors": {},
            "notice": request.query_params.get("notice"), "token_url": token_url,
        }  # fmt: skip
        context.update(extra)
        return console.render(admin, "consumers.html", status, **context)

    @router.get("/console/gateway")
    async def listing(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return await list_page(request, admin)

    @router.post("/console/gateway")
    async def create(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        values = {"username": form.get("username") or ""}
        try:
            spec = ConsumerCreate.model_validate(values)
            created = await consumers().create(spec.username)
        except ValidationError as exc:
            return await list_page(request, admin, 422, values=values, errors=field_errors(exc))
        except TokendError as exc:
            errors = {"username": exc.description}
            return await list_page(request, admin, 422, values=values, errors=errors)
        record = created.record
        console.record(admin, "consumer_created", record.consumer_id, username=record.username)
        return console.render(
            admin, "secret.html", title=f"Consumer {record.username} created", label="API key",
            secret=created.api_key, identifier=("Consumer ID", record.consumer_id),
            back="/console/gateway",
        )  # fmt: skip

    @router.post("/console/gateway/{consumer_id}/revoke")
    async def revoke(
        request: Request, consumer_id: str = Path(pattern=r"^[A-Za-z0-9-]{1,64}$")
    ) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            record = await consumers().revoke(consumer_id)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "consumer_revoked", consumer_id, username=record.username)
        return console.done("/console/gateway", f"Consumer {record.username} revoked.")

    return router


def _text(record: ConsumerRecord) -> str:
    return f"{record.consumer_id} {record.username}"
