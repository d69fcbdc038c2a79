"""Seed 001 clients and branches CRUD: ``/clients``, ``/branches``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Query

from tokend.core.errors import Forbidden
from tokend.vault.access import ADMIN, READ, Caller, VaultAccess
from tokend.vault.errors import BranchNotFound
from tokend.vault.models import VaultBranch
from tokend.vault.records import ClientRecord
from tokend.vault.schemas import (
    MAX_ID,
    BranchCreate,
    BranchOut,
    BranchUpdate,
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientUpdate,
    Deleted,
    PathId,
)
from tokend.vault.service import VaultService

Skip = Query(default=0, ge=0, le=MAX_ID, description="Rows to skip")
Limit = Query(default=100, ge=1, le=500, description="Rows to return at most")


def add_client_routes(
    router: APIRouter, service: Callable[[], VaultService], access: VaultAccess
) -> None:
    """Register the clients and branches routes on ``router`` (a SEED-surface router)."""
    read = Depends(access.require(READ))
    admin = Depends(access.require(ADMIN))

    @router.post("/clients", status_code=201, response_model=ClientCreated)
    async def create_client(body: ClientCreate, caller: Caller = admin) -> ClientCreated:
        if caller.client_pks is not None:
            raise Forbidden("a caller limited to some clients cannot register new ones")
        vault = service()
        vault.check_provider(body.provider)
        await vault.check_urls(body.issuer, body.webhook_url)
        client, branch = await vault.store.create_client(body)
        return ClientCreated(
            client_id=client.id,
            client_oauth_id=client.client_id,
            provider=client.provider,
            branch_id=branch.id if branch else None,
            branch_identifier=branch.branch_id if branch else None,
            email=branch.email if branch else None,
            workspace_name=branch.branch_name if branch else None,
            redirect_uri=client.redirect_uri,
            created_at=client.created_at,
        )

    @router.get("/clients", response_model=list[ClientOut])
    async def list_clients(
        skip: int = Skip, limit: int = Limit, caller: Caller = read
    ) -> list[ClientOut]:
        clients = await service().store.clients(skip, limit)
        return [
            client_out(c) for c in clients if caller.client_pks is None or c.id in caller.client_pks
        ]

    @router.get("/clients/{client_id}", response_model=ClientOut)
    async def get_client(client_id: PathId, caller: Caller = read) -> ClientOut:
        caller.check_client(client_id)
        return client_out(await service().store.client(client_id))

    @router.patch("/clients/{client_id}", response_model=ClientOut)
    async def update_client(
        client_id: PathId, body: ClientUpdate, caller: Caller = admin
    ) -> ClientOut:
        caller.check_client(client_id)
        vault = service()
        if body.provider is not None:
            vault.check_provider(body.provider)
        await vault.check_urls(body.issuer, body.webhook_url)
        client = await vault.store.update_client(client_id, body)
        await vault.forget(client_id)
        return client_out(client)

    @router.delete("/clients/{client_id}", response_model=Deleted)
    async def delete_client(client_id: PathId, caller: Caller = admin) -> Deleted:
        caller.check_client(client_id)
        vault = service()
        await vault.store.delete_client(client_id)
        await vault.forget(client_id)
        return Deleted(message="Client deleted successfully")

    @router.post("/branches", status_code=201, response_model=BranchOut)
    async def create_branch(body: BranchCreate, caller: Caller = admin) -> BranchOut:
        caller.check_client(body.client_id)
        return branch_out(await service().branches.create_branch(body))

    @router.get("/branches", response_model=list[BranchOut])
    async def list_branches(
        skip: int = Skip,
        limit: int = Limit,
        client_id: int | None = Query(default=None, ge=1, le=MAX_ID),
        location_id: str | None = Query(default=None, max_length=255),
        caller: Caller = read,
    ) -> list[BranchOut]:
        pks: list[int] | None = [client_id] if client_id is not None else None
        if caller.client_pks is not None:
            pks = caller.visible(pks) if pks is not None else sorted(caller.client_pks)
        rows = await service().branches.find(skip, limit, client_pks=pks, location_id=location_id)
        return [branch_out(row) for row in rows]

    @router.get("/branches/by-branch-id/{branch_id}", response_model=BranchOut)
    async def get_branch_by_identifier(branch_id: str, caller: Caller = read) -> BranchOut:
        row = await service().branches.branch_by_identifier(branch_id)
        check_branch(caller, row)
        return branch_out(row)

    @router.get("/branches/{branch_pk}", response_model=BranchOut)
    async def get_branch(branch_pk: PathId, caller: Caller = read) -> BranchOut:
        row = await service().branches.branch(branch_pk)
        check_branch(caller, row)
        return branch_out(row)

    @router.patch("/branches/{branch_pk}", response_model=BranchOut)
    async def update_branch(
        branch_pk: PathId, body: BranchUpdate, caller: Caller = admin
    ) -> BranchOut:
        check_branch(caller, await service().branches.branch(branch_pk))
        return branch_out(await service().branches.update_branch(branch_pk, body))

    @router.delete("/branches/{branch_pk}", response_model=Deleted)
    async def delete_branch(branch_pk: PathId, caller: Caller = admin) -> Deleted:
        check_branch(caller, await service().branches.branch(branch_pk))
        await service().branches.delete_branch(branch_pk)
        return Deleted(message="Branch deleted successfully")


def client_out(client: ClientRecord) -> ClientOut:
    return ClientOut(
        id=client.id,
        client_id=client.client_id,
        provider=client.provider,
        issuer=client.issuer,
        redirect_uri=client.redirect_uri,
        scopes=list(client.scopes),
        webhook_url=client.webhook_url,
        is_active=client.is_active,
        created_at=client.created_at,
        updated_at=client.updated_at,
    )


def branch_out(row: VaultBranch) -> BranchOut:
    return BranchOut.model_validate(row, from_attributes=True)


def check_branch(caller: Caller, row: VaultBranch) -> None:
    """A branch of a client out of the caller's reach is not found, like the client."""
    if caller.client_pks is not None and row.client_id not in caller.client_pks:
        raise BranchNotFound
