"""Fault injection at the upstreams: an operator (broker), an OAuth provider (vault) and the Kong
Admin API (gateway) that hang, then fail, then come back. For each: what clients get meanwhile
(the documented errors, never a stuck request), recovery without restarting tokend, and the
stored data checked afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import jwt
import pytest

from tests.api.vault.fake_provider import FakeProvider
from tests.components import spare_port
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, start
from tests.faults.conftest import (
    Call,
    FaultRow,
    Traffic,
    base_env,
    failing,
    failing_with,
    hanging,
    metric_sum,
    migrate,
    record,
    serve,
    until,
    write_directory,
)
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tests.unit.gateway.fake_kong import ADMIN_TOKEN, FakeKong, KongCredential, serving_kong
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.vault.records import TokenRecord
from tokend.vault.sql import SqlConnections

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

CODE = "best_auth_code_123"


def fresh_broker_token(n: int) -> Call:
    """A new subscriber each time: every request goes to the operator."""
    return Call("POST", f"/api/demo/token?mcc=972&sn=05{n:010d}", {"auth_code": CODE})


async def test_an_operator_hangs_then_fails_then_recovers(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    timeout_s = 0.5
    operator_port = spare_port()
    directory = write_directory(tmp_path / "telco.yaml", operator_port, timeout_s)
    env = base_env(
        TOKEND_MODULES="broker",
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'broker.db'}",
        TOKEND_BROKER__DIRECTORY_FILE=str(directory),
        TOKEND_HTTP__ALLOW_HOSTS="127.0.0.1",  # the operator runs on loopback
        TOKEND_BROKER__CACHE_ENABLED="false",
        TOKEND_BROKER__BREAKER_MIN_CALLS="2",
        TOKEND_BROKER__BREAKER_RESET_AFTER_S="1",
        # tokend's own answer to a failing operator (503), not seed 000's relay of the
        # operator's status that `--only broker` defaults to (tests/api/broker/test_seed_contract)
        TOKEND_BROKER__SEED_ERRORS="false",
    )
    migrate(env)
    broker = await serve(env, tmp_path / "broker.log", secrets_seen)
    operator: Server | None = None
    release = asyncio.Event()
    upstream = await asyncio.start_server(hanging(release), "127.0.0.1", operator_port)
    try:
        async with (
            httpx.AsyncClient(base_url=broker.base_url, timeout=10) as client,
            Traffic(client, [fresh_broker_token], concurrency=2) as traffic,
        ):
            await asyncio.sleep(2)
            release.set()
            upstream.close()
            await upstream.wait_closed()
            failing_since = time.monotonic()
            upstream = await asyncio.start_server(failing, "127.0.0.1", operator_port)
            await asyncio.sleep(2)
            upstream.close()
            await upstream.wait_closed()

            recovering_since = time.monotonic()
            operator_env = base_env(
                TOKEND_MODULES="telco",
                TOKEND_TELCO__ID="faulty",
                TOKEND_TELCO__CLIENTS=json.dumps({"FAULT_ID": "FAULT_SECRET"}),
                TOKEND_TELCO__VALID_CODES=json.dumps([CODE]),
                TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'operator.db'}",
            )
            migrate(operator_env)
            operator = await asyncio.to_thread(
                start,
                [*TOKEND, "serve", "--port", str(operator_port)],
                operator_env,
                operator_port,
                tmp_path / "operator.log",
            )

            async def tokens_again() -> bool:
                return traffic.answers(since=time.monotonic() - 0.3).get("200", 0) > 0

            recovered = await until(tokens_again)
            await asyncio.sleep(0.5)
    finally:
        upstream.close()
        assert broker.stop() == 0
        if operator is not None:
            assert operator.stop() == 0
    answers = traffic.answers()
    record(
        FaultRow(
            "operator_hangs_then_fails",
            sum(answers.values()),
            dict(answers),
            recovered,
            "no stored state involved",
            f"503 while hanging (bounded by the {timeout_s} s timeout) and failing; 200 after",
        )
    )
    assert set(traffic.answers(until=recovering_since)) == {"503"}
    slowest = max(o.seconds for o in traffic.outcomes if o.at < failing_since)
    assert slowest < timeout_s * 2 + 1.0  # the timeout, at most one retry, some slack
    assert set(answers) <= {"200", "503"}


#: The vault's answers while its provider is down (seed surface: ``{"detail": ...}``).
PROVIDER_DOWN = {"detail": "The OAuth provider could not be reached; try again later."}


async def stored_token(database: Path, client_pk: int) -> TokenRecord:
    """The connection's row as tokend stored it, decrypted with the run's secret key."""
    db = open_database(DatabaseSettings(url=f"sqlite+aiosqlite:///{database}"))
    try:
        store = SqlConnections(db, FieldCipher.from_secrets(TEST_SECRET_KEY), SystemClock())
        token = await store.current_token(client_pk)
    finally:
        await db.close()
    assert token is not None
    return token


async def test_an_oauth_provider_hangs_then_fails_then_recovers(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    timeout_s, reset_s = 0.5, 2.0
    port = spare_port()
    provider = FakeProvider(
        client_id="fault-app", rotates=True, base_url=f"http://127.0.0.1:{port}"
    )
    secrets_seen.add(provider.client_secret)
    database = tmp_path / "vault.db"
    env = base_env(
        TOKEND_MODULES="vault",
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{database}",
        TOKEND_VAULT__PROVIDERS_FILE=str(provider.write_catalog(tmp_path / "providers.yaml")),
        TOKEND_VAULT__OPEN_ACCESS="true",
        TOKEND_VAULT__PROVIDER_TIMEOUT_S=str(timeout_s),
        TOKEND_VAULT__BREAKER_RESET_AFTER_S=str(reset_s),
        # Every validate refreshes and no sweep runs: the test decides when refreshes happen.
        TOKEND_VAULT__EXPIRY_MARGIN_S="7200",
        TOKEND_VAULT__REFRESH_EVERY_S="3600",
    )
    migrate(env)
    vault = await serve(env, tmp_path / "vault.log", secrets_seen)
    answers: Counter[str] = Counter()
    hits: Counter[str] = Counter()  # what reached the broken provider
    release = asyncio.Event()
    slowest = 0.0
    try:
        async with httpx.AsyncClient(base_url=vault.base_url, timeout=30) as client:

            async def call(method: str, path: str, **body: int) -> httpx.Response:
                nonlocal slowest
                started = time.monotonic()
                response = await client.request(method, path, json=body or None)
                slowest = max(slowest, time.monotonic() - started)
                answers[str(response.status_code)] += 1
                return response

            async def refresh() -> httpx.Response:
                return await call("POST", "/tokens/refresh", client_id=pk)

            async def validate() -> tuple[bool, str]:
                body = (await call("GET", f"/tokens/validate/{pk}")).json()
                return body["is_valid"], body["access_token"]

            with serving(provider.app(), port):
                pk = await provider.connect(vault.base_url)
                # Calls that went well before the fault, as a live provider has had.
                for _ in range(10):
                    assert (await refresh()).status_code == 200
            kept_access, kept_refresh = (
                provider.issued_access_tokens[-1],
                provider.issued_refresh_tokens[-1],
            )

            upstream = await asyncio.start_server(hanging(release, hits), "127.0.0.1", port)
            hung = await refresh()
            assert (hung.status_code, hung.json()) == (503, PROVIDER_DOWN)
            # The token in hand still works: validate hands it out rather than nothing.
            assert await validate() == (True, kept_access)
            release.set()
            upstream.close()
            await upstream.wait_closed()
            assert hits["hang"] == 2
            during_hang = slowest

            for status in (500, 503):
                upstream = await asyncio.start_server(failing_with(status, hits), "127.0.0.1", port)
                failed = await refresh()
                assert (failed.status_code, failed.json()) == (503, PROVIDER_DOWN)
                assert await validate() == (True, kept_access)
                if status == 503:
                    # Failures pile up until the provider's breaker opens: asked no more.
                    # An open breaker answers in the same words (its name stays internal),
                    # with a Retry-After.
                    for _ in range(20):
                        failed = await refresh()
                        assert (failed.status_code, failed.json()) == (503, PROVIDER_DOWN)
                        if "retry-after" in failed.headers:
                            break
                    assert int(failed.headers["retry-after"]) > 0
                    asked = hits["503"]
                    assert await validate() == (True, kept_access)
                    assert hits["503"] == asked
                upstream.close()
                await upstream.wait_closed()
            assert hits["500"] == 2
            during_fault = await stored_token(database, pk)

            # The same provider (its grants intact) back on its port; tokend is not restarted.
            with serving(provider.app(), port):

                async def refreshes_again() -> bool:
                    return (await refresh()).status_code == 200

                recovered = await until(refreshes_again, within_s=reset_s * 10 + 10, every_s=0.2)
                after_access = await validate()
            after = await stored_token(database, pk)
    finally:
        release.set()
        assert vault.stop() == 0
    data_ok = (
        during_fault.refresh_token == kept_refresh
        and after.refresh_token == provider.issued_refresh_tokens[-1]
        and after.access_token == provider.issued_access_tokens[-1]
    )
    record(
        FaultRow(
            "vault_provider_hangs",
            sum(answers.values()),
            dict(answers),
            recovered,
            "refresh token = the provider's last, kept through the fault"
            if data_ok
            else "TOKENS LOST",
            f"refresh 503 (timeout {timeout_s} s, 500/503, then breaker open), validate 200 "
            f"with the still-valid token; refreshes again once the breaker resets ({reset_s} s)",
        )
    )
    assert during_hang < timeout_s + 2.0  # the provider never answered: the timeout ended it
    # The refresh after the fault presented the token kept through it, and it was rotated.
    assert provider.refreshes_by_token()[kept_refresh] == 1
    assert after_access == (True, provider.issued_access_tokens[-1])
    assert (after.status.value, after.failure_count) == ("active", 0)
    assert data_ok
    assert set(answers) == {"200", "503"}
    assert "Traceback" not in vault.log()


def gateway_token(credential: KongCredential, kind: str) -> Call:
    headers = {
        "X-Consumer-ID": credential.consumer_id,
        "X-Consumer-Username": "fault-consumer",
        "X-Anonymous-Consumer": "false",
    }
    return Call("GET", "/tokens", headers=headers, kind=kind)


async def fetch_token(client: httpx.AsyncClient, credential: KongCredential) -> httpx.Response:
    call = gateway_token(credential, "cached")
    return await client.get(call.path, headers=call.headers)


def signed_with(response: httpx.Response, secret: str) -> bool:
    token = response.json()["access_token"]
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.InvalidTokenError:
        return False
    return True


async def test_the_kong_admin_api_hangs_then_fails_then_recovers(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    timeout_s, attempts, reset_s = 0.3, 2, 1.0
    kong = FakeKong()
    secrets_seen.add(ADMIN_TOKEN)
    cached = [kong.add_consumer() for _ in range(4)]
    uncached = [kong.add_consumer() for _ in range(500)]
    for credential in (*cached, *uncached):
        secrets_seen.add(credential.secret)
    calls = [
        *(lambda _, c=c: gateway_token(c, "cached") for c in cached),
        *(lambda n: gateway_token(uncached[n % len(uncached)], "uncached") for _ in cached),
    ]
    with serving_kong(kong) as kong_url:
        env = base_env(
            TOKEND_MODULES="gateway",
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            TOKEND_GATEWAY__SOURCE="kong",
            # The traffic comes from this test over loopback, standing in for Kong.
            TOKEND_GATEWAY__TRUSTED_PROXIES='["127.0.0.1/32"]',
            TOKEND_GATEWAY__KONG_ADMIN_URL=kong_url,
            TOKEND_GATEWAY__KONG_ADMIN_TOKEN=ADMIN_TOKEN,
            TOKEND_GATEWAY__KONG_TIMEOUT_S=str(timeout_s),
            TOKEND_GATEWAY__KONG_ATTEMPTS=str(attempts),
            TOKEND_GATEWAY__KONG_RETRY_BACKOFF_S="0",
            # Cached secrets go stale at once, so every request during the fault asks Kong
            # (or meets the open breaker) and is served from the stale copy: degraded.
            TOKEND_GATEWAY__CACHE_TTL_S="0.5",
            TOKEND_GATEWAY__STALE_TOLERANCE_S="600",
            TOKEND_GATEWAY__BREAKER_MIN_CALLS="3",
            TOKEND_GATEWAY__BREAKER_RESET_AFTER_S=str(reset_s),
        )
        migrate(env)
        gateway = await serve(env, tmp_path / "gateway.log", secrets_seen)
        try:
            async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
                for credential in cached:
                    warm = await fetch_token(client, credential)
                    assert warm.status_code == 200, warm.text
                kong.delay_s = 3.0  # hangs: ten times the timeout
                async with Traffic(client, calls, concurrency=4) as traffic:
                    await asyncio.sleep(2)
                    failing_since = time.monotonic()
                    kong.delay_s, kong.failing_status = 0.0, 500
                    await asyncio.sleep(1)
                    kong.failing_status = 503
                    await asyncio.sleep(1)
                    signed = [signed_with(await fetch_token(client, c), c.secret) for c in cached]
                    recovering_since = time.monotonic()
                    kong.failing_status = None

                    async def tokens_again() -> bool:
                        recent = traffic.answers(since=time.monotonic() - 0.3, kind="uncached")
                        return recent.get("200", 0) > 0

                    recovered = await until(tokens_again, within_s=reset_s * 10 + 10)
                    await asyncio.sleep(0.5)
                metrics = (await client.get("/metrics")).text
                health = (await client.get("/health")).json()["gateway"]
        finally:
            assert gateway.stop() == 0
    answers = traffic.answers()
    degraded = metric_sum(metrics, "tokend_gateway_degraded_total")
    record(
        FaultRow(
            "kong_hangs_then_fails",
            sum(answers.values()),
            dict(answers),
            recovered,
            f"cached consumers' tokens signed with their Kong secret; {degraded:.0f} degraded"
            if all(signed)
            else "WRONG SECRET",
            "cached consumers 200 (stale secret, degraded); uncached 503 AUTH_004 then "
            f"AUTH_005 (breaker open); 200 after its {reset_s} s reset",
        )
    )
    fault = [o for o in traffic.outcomes if o.at < recovering_since]
    assert {o.answer for o in fault if o.kind == "cached"} == {"200"}
    assert {o.answer for o in fault if o.kind == "uncached"} == {"503"}
    codes = Counter(json.loads(o.error_body)["code"] for o in fault if o.kind == "uncached")
    assert set(codes) <= {"AUTH_004", "AUTH_005"}
    assert codes["AUTH_005"] > 0
    slowest = max(o.seconds for o in fault if o.at < failing_since)
    assert slowest < timeout_s * attempts + 2.0  # Kong hung for 3 s: the timeout ended it
    assert set(answers) <= {"200", "503"}
    assert all(signed)
    assert degraded > 0
    assert health["circuitBreakerState"] == "closed"
