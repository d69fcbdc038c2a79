from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_SECRET, PASSWORD, FakeIssuer
from tests.upstreams import loopback_http
from tokend.core.clock import FrozenClock
from tokend.core.http import GuardedClient


@pytest.fixture
def issuer(secrets_seen: SecretsSeen) -> Iterator[FakeIssuer]:
    secrets_seen.add(CLIENT_SECRET)
    secrets_seen.add(PASSWORD)
    fake = FakeIssuer(access_ttl_s=86_400)
    with fake.serve():
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    """What the guard fetches with: the outbound policy on, loopback (the fake issuer) allowed."""
    async with loopback_http() as client:
        yield client
