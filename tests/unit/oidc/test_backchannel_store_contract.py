"""``BackchannelRequestStore`` (CIBA) and ``UserPhones``: one contract for every backend."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime, timedelta

import anyio

from tests.unit.oidc.conftest import NOW, Stores, a_user
from tokend.core.crypto import random_id
from tokend.oidc.records import BackchannelRequest, BackchannelStatus, TokenDeliveryMode


def a_request(
    user_id: str = "u1",
    *,
    created_at: datetime = NOW,
    expires_at: datetime = NOW + timedelta(minutes=5),
) -> BackchannelRequest:
    return BackchannelRequest(
        id=random_id("cb_"),
        auth_req_id_hash=random_id("h"),
        client_id="c1",
        user_id=user_id,
        scopes=frozenset({"openid", "offline_access"}),
        binding_message="W4SCT",
        delivery_mode=TokenDeliveryMode.PING,
        notification_enc="v1.k.ciphertext",
        status=BackchannelStatus.PENDING,
        interval_s=5,
        next_poll_at=NOW,
        expires_at=expires_at,
        created_at=created_at,
    )


async def test_a_request_reads_back_as_stored(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    assert await stores.backchannel.get(request.id) == request
    assert await stores.backchannel.get(random_id("cb_")) is None


async def test_the_pending_requests_of_a_user_are_listed_oldest_first(stores: Stores) -> None:
    user_id = random_id("u_")
    later = a_request(user_id, created_at=NOW + timedelta(seconds=1))
    first = a_request(user_id)
    expired = a_request(user_id, expires_at=NOW)
    decided = a_request(user_id)
    for request in (later, first, expired, decided):
        await stores.backchannel.add(request)
    assert await stores.backchannel.decide(decided.id, user_id, False, NOW, (), NOW) is not None
    pending = await stores.backchannel.pending_of(user_id, NOW)
    assert [r.id for r in pending] == [first.id, later.id]


async def test_a_request_is_decided_once_and_only_by_its_user(stores: Stores) -> None:
    request = a_request(random_id("u_"))
    await stores.backchannel.add(request)
    assert await stores.backchannel.decide(request.id, "someone-else", True, NOW, (), NOW) is None
    decided = await stores.backchannel.decide(request.id, request.user_id, True, NOW, ["pwd"], NOW)
    assert decided is not None
    assert decided.status is BackchannelStatus.APPROVED
    assert decided.auth_time == NOW
    assert decided.amr == ("pwd",)
    assert await stores.backchannel.decide(request.id, request.user_id, False, NOW, (), NOW) is None
    stored = await stores.backchannel.get(request.id)
    assert stored is not None
    assert stored.status is BackchannelStatus.APPROVED


async def test_an_expired_request_cannot_be_decided(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    later = request.expires_at
    assert (
        await stores.backchannel.decide(request.id, request.user_id, True, NOW, (), later) is None
    )


async def test_concurrent_deciders_decide_a_request_once(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    won: list[bool] = []

    async def decide(approve: bool) -> None:
        decided = await stores.backchannel.decide(
            request.id, request.user_id, approve, NOW, (), NOW
        )
        won.append(decided is not None)

    async with anyio.create_task_group() as tg:
        for approve in (True, False, True, False):
            tg.start_soon(decide, approve)
    assert sorted(won) == [False, False, False, True]


async def test_a_decision_token_finds_its_pending_request_until_replaced_or_used(
    stores: Stores,
) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    first, second = random_id("h"), random_id("h")
    assert await stores.backchannel.set_decision_token(request.id, first, NOW)
    found = await stores.backchannel.by_decision_token([random_id("h"), first], NOW)
    assert found is not None
    assert found.id == request.id
    assert await stores.backchannel.set_decision_token(request.id, second, NOW)
    assert await stores.backchannel.by_decision_token([first], NOW) is None
    assert await stores.backchannel.by_decision_token([second], request.expires_at) is None
    assert await stores.backchannel.decide(request.id, request.user_id, True, NOW, (), NOW)
    assert await stores.backchannel.by_decision_token([second], NOW) is None
    assert not await stores.backchannel.set_decision_token(request.id, first, NOW)


async def test_polling_before_the_interval_slows_the_client_down(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    assert await stores.backchannel.poll(request.auth_req_id_hash, "other-client", NOW) is None
    assert await stores.backchannel.poll(random_id("h"), request.client_id, NOW) is None
    first = await stores.backchannel.poll(request.auth_req_id_hash, request.client_id, NOW)
    assert first is not None
    assert not first.too_soon
    assert first.request.next_poll_at == NOW + timedelta(seconds=5)
    early = NOW + timedelta(seconds=2)
    second = await stores.backchannel.poll(request.auth_req_id_hash, request.client_id, early)
    assert second is not None
    assert second.too_soon
    assert second.request.interval_s == 10
    assert second.request.next_poll_at == early + timedelta(seconds=10)


async def test_concurrent_polls_admit_one(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    on_time: list[bool] = []

    async def poll() -> None:
        polled = await stores.backchannel.poll(request.auth_req_id_hash, request.client_id, NOW)
        assert polled is not None
        on_time.append(not polled.too_soon)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(poll)
    assert sorted(on_time) == [False, False, True]


async def test_an_approved_request_is_redeemed_once(stores: Stores) -> None:
    request = a_request()
    await stores.backchannel.add(request)
    assert not await stores.backchannel.redeem(request.auth_req_id_hash, NOW)  # pending
    await stores.backchannel.decide(request.id, request.user_id, True, NOW, (), NOW)
    assert not await stores.backchannel.redeem(request.auth_req_id_hash, request.expires_at)
    assert await stores.backchannel.redeem(request.auth_req_id_hash, NOW)
    assert not await stores.backchannel.redeem(request.auth_req_id_hash, NOW)
    stored = await stores.backchannel.get(request.id)
    assert stored is not None
    assert stored.status is BackchannelStatus.REDEEMED
    assert stored.redeemed_at == NOW


async def test_purge_deletes_expired_requests(stores: Stores) -> None:
    expired, live = a_request(expires_at=NOW - timedelta(seconds=1)), a_request()
    await stores.backchannel.add(expired)
    await stores.backchannel.add(live)
    assert await stores.backchannel.purge(NOW) >= 1
    assert await stores.backchannel.get(expired.id) is None
    assert await stores.backchannel.get(live.id) is not None


async def test_a_user_is_found_by_their_verified_phone_number_in_e164(stores: Stores) -> None:
    number = f"+44 (20) 7946-{secrets.randbelow(10**6):06d}"
    verified = dataclasses.replace(a_user(), phone_number=number, phone_number_verified=True)
    await stores.users.add(verified)
    key = "+" + "".join(c for c in number if c.isdigit())
    found = await stores.phones.by_verified_phone(key)
    assert found is not None
    assert found.id == verified.id
    # Unverified numbers name nobody; a number two verified accounts share names neither.
    unverified = dataclasses.replace(a_user(), phone_number="+15550000001")
    await stores.users.add(unverified)
    assert await stores.phones.by_verified_phone("+15550000001") is None
    twin = dataclasses.replace(a_user(), phone_number=number, phone_number_verified=True)
    await stores.users.add(twin)
    assert await stores.phones.by_verified_phone(key) is None
