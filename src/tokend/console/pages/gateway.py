"""The gateway page: the consumer source's health (which source, its URL without credentials,
last answer, last failure, consumers seen, circuit breaker; Kong can be checked now), and with
the standalone source its consumers: list and search, create (the API key shown once), revoke.
Validation is the admin API's own (``ConsumerCreate``); the services are ``Consumers`` and
``SourceHealth``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Admin, Console, field_errors, paginate
from tokend.core.errors import NotFound, TokendError
from tokend.gateway.consumers import Consumers
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.schemas import ConsumerCreate
from tokend.gateway.source_status import SourceHealth
from tokend.gateway.sources import SourceUnavailable


def consumers_router(
    console: Console,
    consumers: Callable[[], Consumers] | None,
    token_url: str,
    source: Callable[[], SourceHealth] | None = None,
) -> APIRouter:
    router = console.router()

    def local() -> Consumers:
        if consumers is None:  # the Kong source: consumers live in Kong
            raise NotFound("Consumers are managed in Kong with this source.")
        return consumers()

    async def list_page(
        request: Request, admin: Admin, status: int = 200, **extra: object
    ) -> Response:
        rows = sorted(await local().list_all(), key=lambda c: c.username) if consumers else []
        context: dict[str, object] = {
            "page": paginate(request, rows, _text), "values": {}, "errors": {},
            "notice": request.query_params.get("notice"), "token_url": token_url,
            "source": source().snapshot() if source is not None else None,
            "standalone": consumers is not None,
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
            created = await local().create(spec.username)
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
            record = await local().revoke(consumer_id)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "consumer_revoked", consumer_id, username=record.username)
        return console.done("/console/gateway", f"Consumer {record.username} revoked.")

    @router.post("/console/gateway/source/check")
    async def check(request: Request) -> Response:
        """Ask the source now whether it answers (Kong: ``GET /status``)."""
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        if source is None or not source().snapshot().can_check:
            return console.error(admin, "This consumer source cannot be checked.", 404)
        health = source()
        name = health.snapshot().source
        try:
            await health.check_now()
        except SourceUnavailable as exc:  # its message is safe to show and to log
            console.audit.record(
                console.clock.now(), "gateway_source_checked", admin.session.user_id, name,
                outcome="failed", error=str(exc),
            )  # fmt: skip
            return console.done("/console/gateway", f"The source did not answer: {exc}")
        console.record(admin, "gateway_source_checked", name)
        return console.done("/console/gateway", "The source answered.")

    return router


def _text(record: ConsumerRecord) -> str:
    return f"{record.consumer_id} {record.username}"
