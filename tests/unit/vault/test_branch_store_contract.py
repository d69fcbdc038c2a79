"""``BranchReads`` and ``BranchWrites`` (tokend.vault.stores): one contract for every backend."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from tests.unit.vault.conftest import Stores, registered
from tokend.vault.errors import AlreadyExists, BranchNotFound, ClientNotFound
from tokend.vault.records import BranchChanges, NewBranch
from tokend.vault.schemas import MAX_ID


def a_branch(location_id: str | None = None) -> NewBranch:
    return NewBranch(
        branch_id="b-" + secrets.token_hex(6),
        branch_name="Main street",
        email="owner@example.com",
        description="The first shop",
        account_id="acct-1",
        location_id=location_id,
    )


async def test_an_added_branch_reads_back_by_id_and_identifier(stores: Stores) -> None:
    client = await registered(stores)
    draft = replace(a_branch("loc-1"), is_active=False)
    branch = await stores.branches.add_branch(client.id, draft)
    assert branch.client_pk == client.id
    assert (branch.branch_id, branch.branch_name, branch.email) == (
        draft.branch_id,
        draft.branch_name,
        draft.email,
    )
    assert (branch.description, branch.account_id, branch.location_id, branch.is_active) == (
        draft.description,
        draft.account_id,
        "loc-1",
        False,
    )
    assert branch.created_at == branch.updated_at == stores.clock.now()
    assert await stores.branches.branch(branch.id) == branch
    assert await stores.branches.branch_by_identifier(draft.branch_id) == branch


async def test_a_branch_needs_its_client_and_a_free_identifier(stores: Stores) -> None:
    with pytest.raises(ClientNotFound):
        await stores.branches.add_branch(MAX_ID, a_branch())
    client = await registered(stores)
    taken = await stores.branches.add_branch(client.id, a_branch())
    with pytest.raises(AlreadyExists, match="Branch ID already exists"):
        await stores.branches.add_branch(client.id, replace(a_branch(), branch_id=taken.branch_id))


async def test_an_unknown_branch_is_not_found(stores: Stores) -> None:
    with pytest.raises(BranchNotFound):
        await stores.branches.branch(MAX_ID)
    with pytest.raises(BranchNotFound):
        await stores.branches.branch_by_identifier("b-" + secrets.token_hex(8))
    with pytest.raises(BranchNotFound):
        await stores.branches.update_branch(MAX_ID, BranchChanges(branch_name="x"))
    with pytest.raises(BranchNotFound):
        await stores.branches.delete_branch(MAX_ID)


async def test_branches_are_filtered_by_client_and_location_in_id_order(stores: Stores) -> None:
    one, other = await registered(stores), await registered(stores)
    location = "loc-" + secrets.token_hex(6)
    first = await stores.branches.add_branch(one.id, a_branch(location))
    second = await stores.branches.add_branch(one.id, a_branch())
    third = await stores.branches.add_branch(other.id, a_branch(location))
    assert await stores.branches.branches(0, 100, client_pks=[one.id]) == [first, second]
    assert await stores.branches.branches(0, 100, client_pks=[one.id, other.id]) == [
        first,
        second,
        third,
    ]
    assert await stores.branches.branches(0, 100, location_id=location) == [first, third]
    assert await stores.branches.branches(0, 100, client_pks=[other.id], location_id=location) == [
        third
    ]
    assert await stores.branches.branches(1, 1, client_pks=[one.id, other.id]) == [second]
    assert await stores.branches.branches(0, 100, client_pks=[]) == []


async def test_an_update_changes_what_it_names_and_clears_what_it_nulls(stores: Stores) -> None:
    client = await registered(stores)
    branch = await stores.branches.add_branch(client.id, a_branch("loc-1"))
    stores.clock.advance(5)
    changed = await stores.branches.update_branch(
        branch.id, BranchChanges(branch_name="Renamed", email=None, is_active=None)
    )
    assert changed == replace(
        branch, branch_name="Renamed", email=None, updated_at=stores.clock.now()
    )
    assert await stores.branches.branch(branch.id) == changed
    deactivated = await stores.branches.update_branch(branch.id, BranchChanges(is_active=False))
    assert deactivated.is_active is False
    assert deactivated.location_id == "loc-1"


async def test_a_deleted_branch_is_gone(stores: Stores) -> None:
    client = await registered(stores)
    branch = await stores.branches.add_branch(client.id, a_branch())
    await stores.branches.delete_branch(branch.id)
    with pytest.raises(BranchNotFound):
        await stores.branches.branch(branch.id)
    with pytest.raises(BranchNotFound):
        await stores.branches.delete_branch(branch.id)
    assert await stores.clients.client(client.id) == client
