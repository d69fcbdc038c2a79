"""``/broker/admin/directory``: list, get, put, delete entries and reload the file.

An entry sent here takes its secrets as values, never as ``${…}`` references (those are resolved
only from the operator's file), and its operator URLs pass the same checks as the file's.

Changes are written back to the directory YAML (the issue lets the broker choose the DB or the
file; the file keeps the seed's single source of truth and works the same with N replicas that
mount it). Errors are RFC 9457 problems. Callers pass the admin policy (``core.admin_auth``):
``broker.admin_token`` or the server's ``admin_token``, or a ``tokend:admin`` access token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.responses import Response

from tokend.broker.directory.live import LiveDirectory
from tokend.broker.directory.validation import DirectoryInvalid
from tokend.broker.schemas import DirectoryView, EntryView, ReloadResult
from tokend.core.admin_auth import AdminPolicy, AdminRequirement
from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.errors import PROBLEM, ValidationFailed
from tokend.core.surfaces import surface_router

PrefixPath = Annotated[str, Path(pattern=r"^[0-9]{1,15}$", description="Digits only")]


def admin_router(directory: LiveDirectory, policy: AdminPolicy) -> APIRouter:
    router = surface_router(
        PROBLEM,
        max_body_bytes=ADMIN_JSON_MAX_BYTES,
        prefix="/admin/directory",
        tags=["broker admin"],
        dependencies=[Depends(AdminRequirement(policy))],
    )

    @router.get("", summary="All directory entries", response_model=DirectoryView)
    async def list_entries() -> DirectoryView:
        current = directory.current
        return DirectoryView(
            source=current.source, entries=[EntryView.of(e) for e in current.entries.values()]
        )

    @router.get("/{prefix}", summary="One directory entry", response_model=EntryView)
    async def get_entry(prefix: PrefixPath) -> EntryView:
        return EntryView.of(directory.get(prefix))

    @router.put("/{prefix}", summary="Add or replace an entry", response_model=EntryView)
    async def put_entry(
        prefix: PrefixPath, fields: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])]
    ) -> EntryView:
        try:
            entry = await directory.put(prefix, fields)
        except DirectoryInvalid as exc:
            raise _invalid(exc) from None
        return EntryView.of(entry)

    @router.delete("/{prefix}", summary="Remove an entry", status_code=204)
    async def delete_entry(prefix: PrefixPath) -> Response:
        await directory.delete(prefix)
        return Response(status_code=204)

    @router.post("/reload", summary="Re-read the directory file", response_model=ReloadResult)
    async def reload() -> ReloadResult:
        try:
            fresh = await directory.reload()
        except DirectoryInvalid as exc:
            raise _invalid(exc) from None
        return ReloadResult(source=fresh.source, entries=len(fresh.entries))

    return router


#: Secrets are sent as values: a ``${…}`` reference is resolved only from the directory file.
_EXAMPLE = {
    "base_url": "https://telco.example",
    "client_id": "ORANGE_DEMO_ID",
    "client_secret": "the-client-secret-the-operator-gave",
}


def _invalid(exc: DirectoryInvalid) -> ValidationFailed:
    problems = [str(p) for p in exc.problems]
    return ValidationFailed(
        f"the directory is invalid; the loaded one is kept: {problems[0]}",
        details={"problems": problems},
    )
