"""``ClientReads`` and ``ClientWrites`` (tokend.vault.stores): one contract for every backend."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from tests.unit.vault.conftest import Stores, a_client, registered
from tokend.vault.errors import AlreadyExists, BranchNotFound, ClientNotFound
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import ClientChanges, NewBranch
from tokend.vault.schemas import MAX_ID


def a_branch() -> NewBranch:
    return NewBranch(branch_id="b-" + secrets.token_hex(6), branch_name="Main street")


async def test_a_registered_client_reads_back_as_registered(stores: Stores) -> None:
    draft = replace(
        a_client(),
        issuer="https://issuer.example",
        scopes=("openid", "email"),
        webhook_url="https://hooks.example/in",
        webhook_secret="whsec-" + secrets.token_hex(12),
        is_active=False,
    )
    client, branch = await stores.clients.register(draft, None)
    assert branch is None
    assert (client.client_id, client.client_secret, client.redirect_uri, client.provider) == (
        draft.client_id,
        draft.client_secret,
        draft.redirect_uri,
        draft.provider,
    )
    assert (client.issuer, client.scopes, client.webhook_url, client.webhook_secret) == (
        draft.issuer,
        draft.scopes,
        draft.webhook_url,
        draft.webhook_secret,
    )
    assert client.is_active is False
    assert client.created_at == client.updated_at == stores.clock.now()
    assert await stores.clients.client(client.id) == client
    assert await stores.clients.client_by_oauth_id(draft.client_id) == client


async def test_a_first_branch_is_stored_with_its_client(stores: Stores) -> None:
    client, branch = await stores.clients.register(a_client(), a_branch())
    assert branch is not None
    assert branch.client_pk == client.id
    assert branch.branch_name == "Main street"
    assert branch.is_active is True
    assert await stores.branches.branch(branch.id) == branch


async def test_a_taken_app_id_is_refused(stores: Stores) -> None:
    first = await registered(stores)
    with pytest.raises(AlreadyExists, match="Client already registered"):
        await stores.clients.register(replace(a_client(), client_id=first.client_id), None)
    assert await stores.clients.client(first.id) == first


async def test_a_taken_branch_id_refuses_the_client_with_it(stores: Stores) -> None:
    branch = a_branch()
    await stores.clients.register(a_client(), branch)
    refused = a_client()
    with pytest.raises(AlreadyExists, match="Branch ID already exists"):
        await stores.clients.register(refused, branch)
    assert await stores.clients.client_by_oauth_id(refused.client_id) is None


async def test_an_unknown_client_is_not_found(stores: Stores) -> None:
    with pytest.raises(ClientNotFound):
        await stores.clients.client(MAX_ID)
    with pytest.raises(ClientNotFound):
        await stores.clients.update_client(MAX_ID, ClientChanges(redirect_uri="https://x.example"))
    with pytest.raises(ClientNotFound):
        await stores.clients.delete_client(MAX_ID)
    assert await stores.clients.client_by_oauth_id("app-" + secrets.token_hex(8)) is None


async def test_clients_are_listed_in_registration_order_and_paged(stores: Stores) -> None:
    mine = [await registered(stores) for _ in range(3)]
    everyone = await stores.clients.clients(0, 10_000)
    assert [c for c in everyone if c in mine] == mine
    start = everyone.index(mine[0])
    assert await stores.clients.clients(start, 2) == mine[:2]
    assert await stores.clients.clients(start + 2, 1) == mine[2:]


async def test_an_update_changes_what_it_names_only(stores: Stores) -> None:
    draft = replace(
        a_client(),
        issuer="https://issuer.example",
        scopes=("openid",),
        webhook_url="https://hooks.example/in",
        webhook_secret="whsec-" + secrets.token_hex(12),
    )
    client = await registered(stores, draft)
    stores.clock.advance(5)
    changed = await stores.clients.update_client(
        client.id, ClientChanges(redirect_uri="https://tenant.example/other", provider="github")
    )
    assert changed == replace(
        client,
        redirect_uri="https://tenant.example/other",
        provider="github",
        updated_at=stores.clock.now(),
    )
    assert await stores.clients.client(client.id) == changed


async def test_an_update_clears_issuer_scopes_and_webhook_url(stores: Stores) -> None:
    draft = replace(
        a_client(),
        issuer="https://issuer.example",
        scopes=("openid",),
        webhook_url="https://hooks.example/in",
        webhook_secret="whsec-" + secrets.token_hex(12),
    )
    client = await registered(stores, draft)
    changed = await stores.clients.update_client(
        client.id, ClientChanges(issuer=None, scopes=(), webhook_url=None)
    )
    assert (changed.issuer, changed.scopes, changed.webhook_url) == (None, (), None)
    # None keeps what cannot be emptied: the secrets, the activity flag.
    assert changed.client_secret == client.client_secret
    assert changed.webhook_secret == client.webhook_secret
    assert changed.is_active is True
    assert await stores.clients.client(client.id) == changed


async def test_an_update_replaces_the_secrets_and_the_activity(stores: Stores) -> None:
    client = await registered(stores)
    webhook_secret = "whsec-" + secrets.token_hex(12)
    changed = await stores.clients.update_client(
        client.id,
        ClientChanges(
            client_secret="rotated-secret", webhook_secret=webhook_secret, is_active=False
        ),
    )
    read = await stores.clients.client(client.id)
    assert read == changed
    assert (read.client_secret, read.webhook_secret, read.is_active) == (
        "rotated-secret",
        webhook_secret,
        False,
    )


async def test_a_deleted_client_takes_its_branches_tokens_and_states_along(
    stores: Stores,
) -> None:
    client, branch = await stores.clients.register(a_client(), a_branch())
    assert branch is not None
    await stores.connections.store_connection(
        client.id, TokenSet("at-" + secrets.token_hex(6), "rt-x", "Bearer", None, 3600)
    )
    state_hash = "state-" + secrets.token_hex(8)
    await stores.states.save_state(client.id, state_hash, None, 600)
    await stores.clients.delete_client(client.id)
    with pytest.raises(ClientNotFound):
        await stores.clients.client(client.id)
    with pytest.raises(BranchNotFound):
        await stores.branches.branch(branch.id)
    assert await stores.connections.current_token(client.id) is None
    assert await stores.states.consume_state([state_hash]) is None
    with pytest.raises(ClientNotFound):
        await stores.clients.delete_client(client.id)
