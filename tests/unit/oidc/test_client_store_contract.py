"""``ClientRegistry`` (and ``ClientStore``): one contract for every backend."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.oidc.conftest import Stores, a_client
from tokend.core.crypto import random_id
from tokend.core.errors import Conflict, NotFound
from tokend.oidc.records import AuthMethod, TokenFormat


async def test_a_client_reads_back_as_it_was_added(stores: Stores) -> None:
    client = a_client()
    await stores.clients.add(client)
    assert await stores.clients.get(client.client_id) == client
    assert await stores.clients.get(random_id("c_")) is None


async def test_a_client_id_can_be_added_once(stores: Stores) -> None:
    client = a_client()
    await stores.clients.add(client)
    with pytest.raises(Conflict, match="already exists"):
        await stores.clients.add(dataclasses.replace(client, name="Another"))
    assert await stores.clients.get(client.client_id) == client


async def test_replace_changes_every_field_of_a_known_client_only(stores: Stores) -> None:
    client = a_client()
    await stores.clients.add(client)
    changed = dataclasses.replace(
        client,
        name="Renamed",
        is_public=True,
        redirect_uris=("https://rp.example/new",),
        grant_types=frozenset({"authorization_code"}),
        scopes=frozenset({"openid"}),
        audiences=(),
        auth_method=AuthMethod.NONE,
        token_format=TokenFormat.JWT,
        skip_consent=True,
        access_token_ttl_s=None,
        refresh_grace_s=None,
        secret_hash=None,
    )
    await stores.clients.replace(changed)
    assert await stores.clients.get(client.client_id) == changed
    with pytest.raises(NotFound, match="no client"):
        await stores.clients.replace(a_client())


async def test_remove_says_whether_the_client_existed(stores: Stores) -> None:
    client = a_client()
    await stores.clients.add(client)
    assert await stores.clients.remove(client.client_id)
    assert await stores.clients.get(client.client_id) is None
    assert not await stores.clients.remove(client.client_id)


async def test_all_lists_every_client_by_id(stores: Stores) -> None:
    prefix = random_id("c_")
    second, first = (dataclasses.replace(a_client(), client_id=f"{prefix}{n}") for n in "ba")
    for client in (second, first):
        await stores.clients.add(client)
    listed = [c for c in await stores.clients.all() if c.client_id.startswith(prefix)]
    assert listed == [first, second]
