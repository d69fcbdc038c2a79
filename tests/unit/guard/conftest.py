from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_SECRET, PASSWORD, FakeIssuer
from tokend.core.clock import FrozenClock


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
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
