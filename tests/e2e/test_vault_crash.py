"""Crash safety: the vault process is killed while the provider is rotating its refresh token.

A real ``tokend serve --only vault`` process refreshes against a rotating provider (served over
HTTP by the test); it is SIGKILLed after the provider minted the new tokens but before the answer
arrived. The stored refresh token must still work (the provider's grace for a rotated token), the
next process must carry on with it, and the token it then stores must work too.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.vault.fake_provider import FakeProvider
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tests.upstreams import LOOPBACK_ALLOW_HOSTS
from tokend.store.settings import DatabaseSettings

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def provider(secrets_seen: SecretsSeen) -> Iterator[FakeProvider]:
    fake = FakeProvider(client_id="crash-app", rotates=True)
    secrets_seen.add(fake.client_secret)
    with serving(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
    for value in (*fake.issued_access_tokens, *fake.issued_refresh_tokens):
        secrets_seen.add(value)


def _vault(
    tmp: Path, db: DatabaseSettings, provider: FakeProvider, port: int, run: int, seen: SecretsSeen
) -> Server:
    providers = provider.write_catalog(tmp / "providers.yaml")
    env = tokend_env(
        TOKEND_DATABASE__URL=db.url,
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_VAULT__PROVIDERS_FILE=str(providers),
        TOKEND_VAULT__OPEN_ACCESS="true",
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the provider runs on loopback
        # Every validate refreshes: the test decides when refreshes happen.
        TOKEND_VAULT__EXPIRY_MARGIN_S="7200",
        TOKEND_VAULT__REFRESH_EVERY_S="3600",
        TOKEND_LOG__FORMAT="json",
    )
    if db.schema_name:
        env["TOKEND_DATABASE__SCHEMA_NAME"] = db.schema_name
    log_path = tmp / f"vault-{run}.log"
    seen.add_log_file(log_path)
    return start([*TOKEND, "serve", "--only", "vault", "--port", str(port)], env, port, log_path)


async def test_killed_mid_refresh_loses_no_refresh_token(
    tmp_path: Path,
    database_settings: DatabaseSettings,
    provider: FakeProvider,
    secrets_seen: SecretsSeen,
) -> None:
    port = free_port()
    first = _vault(tmp_path, database_settings, provider, port, 1, secrets_seen)
    try:
        pk = await provider.connect(first.base_url)
        stored = provider.issued_refresh_tokens[-1]
        provider.refresh_delay_s = 5.0
        async with httpx.AsyncClient(base_url=first.base_url, timeout=30) as api:
            pending = asyncio.ensure_future(api.get(f"/tokens/validate/{pk}"))
            for _ in range(200):
                if provider.refresh_calls:
                    break
                await asyncio.sleep(0.05)
            assert provider.refresh_calls == 1
            # The provider rotated (its answer is still on its way): kill the refresher now.
            first.stop(signal.SIGKILL)
            with pytest.raises(httpx.TransportError):
                await pending
    finally:
        first.stop(signal.SIGKILL)
    assert provider.token_forms[-1]["refresh_token"] == stored
    provider.refresh_delay_s = 0.0

    second = _vault(tmp_path, database_settings, provider, port, 2, secrets_seen)
    try:
        async with httpx.AsyncClient(base_url=second.base_url, timeout=30) as api:
            body = (await api.get(f"/tokens/validate/{pk}")).json()
            assert body["is_valid"] is True
            # The token stored before the crash was kept, and still worked.
            assert provider.token_forms[-1]["refresh_token"] == stored
            assert body["access_token"] == provider.issued_access_tokens[-1]
            after_crash = provider.issued_refresh_tokens[-1]
            # The one stored after the crash works too: nothing was lost.
            again = (await api.get(f"/tokens/validate/{pk}")).json()
            assert again["is_valid"] is True
            assert provider.token_forms[-1]["refresh_token"] == after_crash
            assert provider.refresh_calls == 3
    finally:
        second.stop()
