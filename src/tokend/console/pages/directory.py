"""The broker's telco directory: list and search the prefixes, add or edit one (the same
validation as the YAML loader and the admin API: ``LiveDirectory.put``), remove one, and test
which operator a subscriber (``mcc`` + ``sn``) routes to. Secrets are written, never shown."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from tokend.broker.directory.entry import ADAPTER_NAMES, TelcoEntry
from tokend.broker.directory.live import LiveDirectory
from tokend.broker.directory.validation import DirectoryInvalid, check_prefix
from tokend.console.web import Admin, Console, paginate
from tokend.core.errors import TokendError
from tokend.core.forms import Params
from tokend.core.phone_numbers import MalformedNumber, digits_of_query

FIELDS: Final = ("name", "operator_id", "base_url", "adapter", "client_id", "client_secret")
_FIRST_WORD: Final = re.compile(r"^([a-z_]+)\b")


def _text(entry: TelcoEntry) -> str:
    return f"{entry.prefix} {entry.operator_id} {entry.name or ''} {entry.base_url}"


def _values(entry: TelcoEntry | None) -> dict[str, object]:
    if entry is None:
        return {"adapter": "seed", "enabled": True}
    return {
        "prefix": entry.prefix, "name": entry.name or "", "operator_id": entry.operator_id,
        "base_url": entry.base_url, "adapter": entry.adapter, "client_id": entry.client_id,
        "enabled": entry.enabled,
    }  # fmt: skip


def _fields(form: Params, current: TelcoEntry | None) -> dict[str, object]:
    """The entry's fields as the admin API takes them. An empty secret on an edit keeps the
    current one (it is never sent to the browser)."""
    fields: dict[str, object] = {name: form.get(name) for name in FIELDS if form.get(name)}
    fields["enabled"] = bool(form.get("enabled"))
    if "client_secret" not in fields and current is not None and current.client_secret:
        fields["client_secret"] = current.client_secret.value
    if current is not None:
        for name in current.declared - set(FIELDS) - {"enabled"}:
            kept = _current_value(current, name)
            if kept is not None:
                fields[name] = kept
    return fields


def _current_value(entry: TelcoEntry, name: str) -> object:
    value = getattr(entry, name, None)
    if name == "private_key" and entry.private_key is not None:
        return entry.private_key.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _errors(exc: DirectoryInvalid) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.problems:
        match = _FIRST_WORD.match(problem.message)
        name = match.group(1) if match and match.group(1) in FIELDS else ""
        errors.setdefault(name, problem.message)
    return errors


def directory_router(
    console: Console, live: Callable[[], LiveDirectory], breakers: Callable[[], Mapping[str, str]]
) -> APIRouter:
    """``breakers``: each upstream's breaker state; an operator's is ``broker:<operator_id>``."""
    router = console.router()

    def list_page(request: Request, admin: Admin, status: int = 200, **extra: object) -> Response:
        current = live().current
        entries = sorted(current.entries.values(), key=lambda e: e.prefix)
        context: dict[str, object] = {
            "page": paginate(request, entries, _text), "source": current.source,
            "values": _values(None), "errors": {}, "adapters": ADAPTER_NAMES,
            "notice": request.query_params.get("notice"), "lookup": None, "lookup_error": None,
            "mcc": "", "sn": "", "breakers": breakers(),
        }  # fmt: skip
        context.update(extra)
        return console.render(admin, "directory.html", status, **context)

    @router.get("/console/directory")
    async def listing(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        mcc, sn = request.query_params.get("mcc"), request.query_params.get("sn")
        if mcc is None and sn is None:
            return list_page(request, admin)
        try:
            digits = digits_of_query(mcc, sn)
        except MalformedNumber as exc:
            return list_page(
                request, admin, 422, lookup_error=exc.description, mcc=mcc or "", sn=sn or ""
            )
        found = live().current.longest_prefix(digits)
        return list_page(
            request, admin, lookup=found or "none", mcc=mcc or "", sn=sn or "",
        )  # fmt: skip

    async def save(
        request: Request, admin: Admin, prefix: str, current: TelcoEntry | None, form: Params
    ) -> Response:
        fields = _fields(form, current)
        shown = {**{k: v for k, v in fields.items() if k != "client_secret"}, "prefix": prefix}
        why = check_prefix(prefix)
        if why is not None:
            errors = {"prefix": why}
            return _form(request, admin, current, shown, errors)
        try:
            entry = await live().put(prefix, fields)
        except DirectoryInvalid as exc:
            return _form(request, admin, current, shown, _errors(exc))
        except TokendError as exc:
            return _form(request, admin, current, shown, {"": exc.description})
        action = "directory_entry_updated" if current else "directory_entry_added"
        console.record(admin, action, prefix, operator=entry.operator_id)
        return console.done("/console/directory", f"Prefix {prefix} saved.")

    def _form(
        request: Request, admin: Admin, current: TelcoEntry | None, values: dict[str, object],
        errors: dict[str, str],
    ) -> Response:  # fmt: skip
        if current is None:
            return list_page(request, admin, 422, values=values, errors=errors)
        return console.render(
            admin, "entry.html", 422, entry=current, values=values, errors=errors,
            adapters=ADAPTER_NAMES,
        )  # fmt: skip

    @router.post("/console/directory")
    async def add(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        prefix = (form.get("prefix") or "").strip()
        if prefix in live().current.entries:
            shown = {
                name: form.get(name) for name in (*FIELDS, "prefix") if name != "client_secret"
            }
            errors = {"prefix": f"prefix {prefix} exists; edit it instead"}
            return list_page(request, admin, 422, values=shown, errors=errors)
        return await save(request, admin, prefix, None, form)

    @router.get("/console/directory/{prefix}")
    async def show(request: Request, prefix: str = Path(pattern=r"^[0-9]{1,15}$")) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        try:
            entry = live().get(prefix)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        return console.render(
            admin, "entry.html", entry=entry, values=_values(entry), errors={},
            adapters=ADAPTER_NAMES,
        )  # fmt: skip

    @router.post("/console/directory/{prefix}")
    async def edit(request: Request, prefix: str = Path(pattern=r"^[0-9]{1,15}$")) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        try:
            current = live().get(prefix)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        return await save(request, admin, prefix, current, form)

    @router.post("/console/directory/{prefix}/delete")
    async def delete(request: Request, prefix: str = Path(pattern=r"^[0-9]{1,15}$")) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, _ = posted
        try:
            await live().delete(prefix)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, "directory_entry_removed", prefix)
        return console.done("/console/directory", f"Prefix {prefix} removed.")

    return router
