"""Seed 001 clients and branches CRUD: ``/clients``, ``/branches``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Query

from tokend.core.errors import Forbidden
from tokend.vault.access import ADMIN, READ, Caller, VaultAccess
from tokend.vault.records import (
    KEEP,
    BranchChanges,
    BranchRecord,
    ClientChanges,
    ClientRecord,
    NewBranch,
    NewClient,
)
from tokend.vault.registry import Registry
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

Skip = Query(default=0, ge=0, le=MAX_ID, description="Rows to skip")
Limit = Query(default=100, ge=1, le=500, description="Rows to return at most")


def add_client_routes(
    router: APIRouter, registry: Callable[[], Registry], access: VaultAccess
) -> None:
    """Register the clients and branches routes on ``router`` (a SEED-surface router)."""
    read = Depends(access.require(READ))
    admin = Depends(access.require(ADMIN))

    @router.post("/clients", status_code=201, response_model=ClientCreated)
    async def create_client(body: ClientCreate, caller: Caller = admin) -> ClientCreated:
        if caller.client_pks is not None:
            raise Forbidden("a caller limited to some clients cannot register new ones")
        client, branch = await registry().register(new_client(body), first_branch(body))
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
        clients = await registry().clients(skip, limit)
        return [
            client_out(c) for c in clients if caller.client_pks is None or c.id in caller.client_pks
        ]

    @router.get("/clients/{client_id}", response_model=ClientOut)
    async def get_client(client_id: PathId, caller: Caller = read) -> ClientOut:
        caller.check_client(client_id)
        return client_out(await registry().client(client_id))

    @router.patch("/clients/{client_id}", response_model=ClientOut)
    async def update_client(
        client_id: PathId, body: ClientUpdate, caller: Caller = admin
    ) -> ClientOut:
        caller.check_client(client_id)
        return client_out(await registry().update_client(client_id, client_changes(body)))

    @router.delete("/clients/{client_id}", response_model=Deleted)
    async def delete_client(client_id: PathId, caller: Caller = admin) -> Deleted:
        caller.check_client(client_id)
        await registry().delete_client(client_id)
        return Deleted(message="Client deleted successfully")

    @router.post("/branches", status_code=201, response_model=BranchOut)
    async def create_branch(body: BranchCreate, caller: Caller = admin) -> BranchOut:
        caller.check_client(body.client_id)
        return branch_out(await registry().add_branch(body.client_id, new_branch(body)))

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
        found = await registry().branches(skip, limit, client_pks=pks, location_id=location_id)
        return [branch_out(branch) for branch in found]

    @router.get("/branches/by-branch-id/{branch_id}", response_model=BranchOut)
    async def get_branch_by_identifier(branch_id: str, caller: Caller = read) -> BranchOut:
        branch = await registry().branch_by_identifier(branch_id)
        check_branch(caller, branch)
        return branch_out(branch)

    @router.get("/branches/{branch_pk}", response_model=BranchOut)
    async def get_branch(branch_pk: PathId, caller: Caller = read) -> BranchOut:
        branch = await registry().branch(branch_pk)
        check_branch(caller, branch)
        return branch_out(branch)

    @router.patch("/branches/{branch_pk}", response_model=BranchOut)
    async def update_branch(
        branch_pk: PathId, body: BranchUpdate, caller: Caller = admin
    ) -> BranchOut:
        check_branch(caller, await registry().branch(branch_pk))
        return branch_out(await registry().update_branch(branch_pk, branch_changes(body)))

    @router.delete("/branches/{branch_pk}", response_model=Deleted)
    async def delete_branch(branch_pk: PathId, caller: Caller = admin) -> Deleted:
        check_branch(caller, await registry().branch(branch_pk))
        await registry().delete_branch(branch_pk)
        return Deleted(message="Branch deleted successfully")


def new_client(body: ClientCreate) -> NewClient:
    return NewClient(
        client_id=body.client_id,
        client_secret=body.client_secret,
        redirect_uri=body.redirect_uri,
        provider=body.provider,
        issuer=body.issuer,
        scopes=tuple(body.scopes or ()),
        webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret,
        is_active=body.is_active,
    )


def first_branch(body: ClientCreate) -> NewBranch | None:
    """Seed 001: ``POST /clients`` may name the client's first branch (its workspace)."""
    if body.branch_id is None:
        return None
    return NewBranch(
        branch_id=body.branch_id, branch_name=body.workspace_name, email=body.workspace_email
    )


def client_changes(body: ClientUpdate) -> ClientChanges:
    """The fields the body carries; an explicit null clears ``issuer``, ``scopes`` and
    ``webhook_url`` and keeps the others."""
    given = body.model_fields_set
    return ClientChanges(
        client_secret=body.client_secret,
        redirect_uri=body.redirect_uri,
        provider=body.provider,
        issuer=body.issuer if "issuer" in given else KEEP,
        scopes=tuple(body.scopes or ()) if "scopes" in given else KEEP,
        webhook_url=body.webhook_url if "webhook_url" in given else KEEP,
        webhook_secret=body.webhook_secret,
        is_active=body.is_active,
    )


def new_branch(body: BranchCreate) -> NewBranch:
    return NewBranch(
        branch_id=body.branch_id,
        branch_name=body.branch_name,
        email=body.email,
        description=body.description,
        account_id=body.account_id,
        location_id=body.location_id,
        is_active=body.is_active,
    )


def branch_changes(body: BranchUpdate) -> BranchChanges:
    """The fields the body carries (an explicit null clears them); a null ``is_active`` keeps."""
    given = body.model_fields_set
    return BranchChanges(
        branch_name=body.branch_name if "branch_name" in given else KEEP,
        email=body.email if "email" in given else KEEP,
        description=body.description if "description" in given else KEEP,
        account_id=body.account_id if "account_id" in given else KEEP,
        location_id=body.location_id if "location_id" in given else KEEP,
        is_active=body.is_active,
    )


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


def branch_out(branch: BranchRecord) -> BranchOut:
    return BranchOut(
        id=branch.id,
        branch_id=branch.branch_id,
        client_id=branch.client_pk,
        branch_name=branch.branch_name,
        email=branch.email,
        description=branch.description,
        account_id=branch.account_id,
        location_id=branch.location_id,
        is_active=branch.is_active,
        created_at=branch.created_at,
        updated_at=branch.updated_at,
    )


def check_branch(caller: Caller, branch: BranchRecord) -> None:
    """A branch of a client out of the caller's reach is not found, like the client."""
    caller.check_branch(branch.client_pk)
