"""The audit page: the durable audit trail (``store.audit``) of every replica, newest first,
filtered by action (a prefix), actor, target, time range and a search, paged by keyset on
``(at, id)`` (a page is as cheap at the millionth event as at the first, and events written
meanwhile do not shift it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import PAGE_SIZE, Console
from tokend.store.audit import AuditQuery, AuditRecord

#: The filters the page reads from its query, each bounded.
FILTERS: Final = ("action", "actor", "target", "q", "since", "until")
_FILTER_CHARS: Final = 200
_CURSOR: Final = re.compile(r"(?P<at>[0-9T:.+-]{19,40})~(?P<id>[0-9a-f]{32})")
#: Prefixes offered next to the action filter (any prefix may be typed).
ACTION_HINTS: Final = (
    "auth.", "keyring.", "gateway.", "broker.directory.", "client_", "user_", "consumer_",
    "sign_in", "csrf_refused",
)  # fmt: skip


class BadFilter(ValueError):
    """A filter of the query is not what the form sends."""


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[AuditRecord]
    filters: dict[str, str]
    #: The link to the next (older) page; None on the last one.
    older: str | None
    #: The link back to the newest events; None on the first page.
    newest: str | None


def query_of(filters: dict[str, str], cursor: str) -> AuditQuery:
    """The store query of the page's filters and cursor; :class:`BadFilter` when malformed."""
    return AuditQuery(
        action_prefix=filters["action"], actor=filters["actor"], target=filters["target"],
        text=filters["q"], since=_moment(filters["since"], "since"),
        until=_moment(filters["until"], "until"), before=_cursor(cursor), limit=PAGE_SIZE + 1,
    )  # fmt: skip


def audit_router(console: Console) -> APIRouter:
    router = console.router()

    @router.get("/console/audit")
    async def audit(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        params = request.query_params
        filters = {name: params.get(name, "").strip()[:_FILTER_CHARS] for name in FILTERS}
        cursor = params.get("before", "")[:80]
        try:
            query = query_of(filters, cursor)
        except BadFilter as exc:
            return console.error(admin, str(exc), 400)
        found = await console.audit.page(query)
        items, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        kept = {k: v for k, v in filters.items() if v}
        older = None
        if more:
            last = items[-1]
            older = "?" + urlencode({**kept, "before": f"{last.at.isoformat()}~{last.id}"})
        newest = ("?" + urlencode(kept)) if cursor else None
        page = AuditPage(items, filters, older, newest)
        return console.render(admin, "audit.html", page=page, hints=ACTION_HINTS)

    return router


def _moment(value: str, name: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-12-06T08:30``), read as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: not a date and time (YYYY-MM-DDTHH:MM, UTC)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _cursor(value: str) -> tuple[datetime, str] | None:
    if not value:
        return None
    match = _CURSOR.fullmatch(value)
    if match is None:
        raise BadFilter("The page link is malformed; start from the newest events.")
    try:
        at = datetime.fromisoformat(match["at"])
    except ValueError:
        raise BadFilter("The page link is malformed; start from the newest events.") from None
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at, match["id"])
