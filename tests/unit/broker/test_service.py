"""The broker's two-phase flow against a real operator process-alike over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import anyio
import pytest
from joserfc.jwk import ECKey
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.server import free_port
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.cache_doubles import RecordingCache, TaskBackground
from tests.unit.broker.servers import OperatorApp, demo_operator_config, serving
from tests.upstreams import loopback_http
from tokend.broker.directory import Directory, Secret, TelcoEntry
from tokend.broker.errors import TelcoNotFound, UpstreamFailed, UpstreamRejected
from tokend.broker.metrics import BrokerMetrics
from tokend.broker.operator_client import OperatorClient
from tokend.broker.service import BrokerService
from tokend.broker.settings import BrokerSettings
from tokend.broker.tokens import BrokerTokenMinter, auth_code_claim
from tokend.cache.single_flight import SingleFlight
from tokend.core.breaker import breaker_gauge
from tokend.core.clock import SystemClock
from tokend.core.jwt import SigningKey, VerificationKey, verify

CODE = "best_auth_code_123"
BROKER_KEY = ECKey.generate_key("P-256", parameters={"kid": "broker-1", "alg": "ES256"})


class BrokerKeys:
    def find(self, kid: str) -> VerificationKey | None:
        return VerificationKey("broker-1", "ES256", BROKER_KEY) if kid == "broker-1" else None


@pytest.fixture(scope="module")
def operator() -> Iterator[tuple[OperatorApp, str]]:
    op = OperatorApp(demo_operator_config())
    with serving(op.app()) as base_url:
        yield op, base_url


def _entry(base_url: str, prefix: str = "97205", **changes: object) -> TelcoEntry:
    entry = TelcoEntry(
        prefix=prefix,
        operator_id="orange",
        base_url=base_url,
        token_url=f"{base_url}/api/demo/token",
        client_id="ORANGE_DEMO_ID",
        client_secret=Secret("ORANGE_DEMO_SECRET", "ORANGE_DEMO_SECRET"),
    )
    return replace(entry, **changes)  # type: ignore[arg-type]  # test-only field overrides


@dataclass(frozen=True, slots=True)
class Broker:
    service: BrokerService
    cache: RecordingCache
    background: TaskBackground
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


class MakeBroker(Protocol):
    def __call__(self, *entries: TelcoEntry, embed_auth_code: bool = False) -> Broker: ...


@pytest.fixture
async def broker_for() -> AsyncIterator[MakeBroker]:
    background = TaskBackground()
    async with loopback_http() as http:

        def make(*entries: TelcoEntry, embed_auth_code: bool = False) -> Broker:
            settings = BrokerSettings(breaker_min_calls=3, embed_auth_code=embed_auth_code)
            registry = CollectorRegistry()
            metrics = BrokerMetrics.register(registry)
            clock = SystemClock()
            cache = RecordingCache(clock)
            operators = OperatorClient(http, settings, clock, metrics, breaker_gauge(registry))
            minter = BrokerTokenMinter(
                settings,
                "http://broker.test",
                "http://broker.test/broker",
                lambda alg: SigningKey("broker-1", alg, BROKER_KEY),
            )
            directory = Directory.of(entries, "test")
            service = BrokerService(
                directory=lambda: directory,
                operators=operators,
                minter=minter,
                cache=cache,
                flights=SingleFlight(),
                background=background,
                settings=settings,
                metrics=metrics,
                clock=clock,
            )
            return Broker(service, cache, background, registry)

        yield make
        await background.drain()


async def test_a_broker_token_carries_the_issue_5_claims_its_own_audience_and_type(
    operator: tuple[OperatorApp, str], broker_for: MakeBroker, secrets_seen: SecretsSeen
) -> None:
    _, base_url = operator
    broker = broker_for(_entry(base_url))
    token = await broker.service.issue("972", "0527464600", CODE)
    secrets_seen.add(token.access_token)
    claims = verify(
        token.access_token,
        BrokerKeys(),
        algorithms=frozenset({"ES256"}),
        issuer="http://broker.test",
        # Item 22: its own audience and typ, so no verifier of tokend's other tokens takes it.
        audience="http://broker.test/broker",
        typ="broker+jwt",
        leeway_s=0,
        clock=SystemClock(),
    )
    assert claims["mcc"] == "972"
    assert claims["sn"] == "0527464600"
    assert claims["operator"] == "orange"
    assert claims["sub"] == "tel:+9720527464600"
    assert claims["auth_code_hash"] == auth_code_claim(CODE)
    assert "auth_code" not in claims
    assert isinstance(claims["jti"], str)
    # The operator token lives 600 s (seed telco JWT_EXP_SEC): the broker's 900 s is cut to it.
    assert int(str(claims["exp"])) - int(str(claims["iat"])) <= 600


async def test_the_raw_code_is_embedded_only_when_configured(
    operator: tuple[OperatorApp, str], broker_for: MakeBroker
) -> None:
    _, base_url = operator
    broker = broker_for(_entry(base_url), embed_auth_code=True)
    token = await broker.service.issue("972", "0527464600", CODE)
    claims = verify(
        token.access_token,
        BrokerKeys(),
        algorithms=frozenset({"ES256"}),
        issuer=None,
        audience=None,
        typ=None,
        leeway_s=0,
        clock=SystemClock(),
    )
    assert claims["auth_code"] == CODE


async def test_the_same_request_twice_is_served_from_the_cache(
    operator: tuple[OperatorApp, str], broker_for: MakeBroker
) -> None:
    op, base_url = operator
    broker = broker_for(_entry(base_url))
    before = op.calls
    first = await broker.service.issue("972", "0527464600", CODE)
    await broker.background.drain()  # the cache write runs after the answer
    second = await broker.service.issue("972", "0527464600", CODE)
    assert second.access_token == first.access_token
    assert op.calls == before + 1
    assert broker.metric("tokend_broker_cache_hits_total", kind="broker") == 1
    assert broker.metric("tokend_broker_tokens_total", operator="orange", outcome="cached") == 1
    # Keys are hashes: neither the code nor the secret appears in any key or value.
    assert all(CODE not in key and "ORANGE_DEMO_SECRET" not in key for key in broker.cache.writes)
    assert all(CODE.encode() not in value for value, _ in broker.cache.writes.values())
    # TTL = remaining lifetime - margin (30 s) of a 600 s operator token.
    ttls = [ttl for _, ttl in broker.cache.writes.values()]
    assert ttls, "nothing was cached"
    assert all(ttl is not None and 565 <= ttl <= 570 for ttl in ttls), ttls


async def test_another_code_is_never_served_the_cached_token(
    operator: tuple[OperatorApp, str], broker_for: MakeBroker
) -> None:
    op, base_url = operator
    broker = broker_for(_entry(base_url))
    await broker.service.issue("972", "0527464600", CODE)
    await broker.background.drain()
    before = op.calls
    with pytest.raises(UpstreamRejected) as caught:
        await broker.service.issue("972", "0527464600", "someone_elses_code")
    assert caught.value.internal == "orange answered 401"
    assert op.calls == before + 1


async def test_concurrent_identical_requests_share_one_upstream_call(
    operator: tuple[OperatorApp, str], broker_for: MakeBroker
) -> None:
    op, base_url = operator
    broker = broker_for(_entry(base_url))
    before = op.calls
    tokens: list[str] = []

    async def one() -> None:
        tokens.append((await broker.service.issue("972", "0527464601", CODE)).access_token)

    async with anyio.create_task_group() as tasks:
        for _ in range(10):
            tasks.start_soon(one)
    assert op.calls == before + 1
    assert len(set(tokens)) == 1


async def test_no_matching_prefix_is_a_400(broker_for: MakeBroker) -> None:
    broker = broker_for(_entry("http://127.0.0.1:9"))
    with pytest.raises(TelcoNotFound) as caught:
        await broker.service.issue("1", "2125550100", CODE)
    assert (caught.value.status, caught.value.description) == (
        400,
        "Destination Telco data not found",
    )


async def test_an_unreachable_operator_is_a_503_and_then_its_breaker_opens(
    broker_for: MakeBroker,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    broker = broker_for(_entry(dead))
    for _ in range(3):
        with pytest.raises(UpstreamFailed) as caught:
            await broker.service.issue("972", "0527464600", CODE)
        assert (caught.value.internal or "").startswith("orange is unreachable")
        assert caught.value.description == "Failed to contact telco service"
    with pytest.raises(UpstreamFailed) as caught:
        await broker.service.issue("972", "0527464600", CODE)
    assert caught.value.internal == "orange is unavailable (circuit open)"
    assert caught.value.description == "Failed to contact telco service"
    assert caught.value.status == 503
    assert int(caught.value.headers["Retry-After"]) > 0
    assert broker.metric("tokend_circuit_breaker_state", upstream="broker:orange") == 1
    labels = {"operator": "orange", "outcome": "unreachable"}
    assert broker.metric("tokend_broker_upstream_duration_seconds_count", **labels) == 3


async def test_a_slow_operator_times_out_within_its_timeout(broker_for: MakeBroker) -> None:
    async def slow(_request: Request) -> Response:
        await anyio.sleep(1.2)
        return Response("{}")

    with serving(Starlette(routes=[Route("/api/demo/token", slow, methods=["POST"])])) as url:
        broker = broker_for(_entry(url, timeout_s=0.3))
        started = time.monotonic()
        with pytest.raises(UpstreamFailed) as caught:
            await broker.service.issue("972", "0527464600", CODE)
        assert re.fullmatch(
            r"orange (did not answer within 0\.3 s|timed out)", caught.value.internal or ""
        )
        assert time.monotonic() - started < 1.0


async def test_a_disabled_operator_is_a_503(broker_for: MakeBroker) -> None:
    broker = broker_for(_entry("http://127.0.0.1:9", enabled=False))
    with pytest.raises(UpstreamFailed) as caught:
        await broker.service.issue("972", "0527464600", CODE)
    assert caught.value.internal == "orange is disabled"


@pytest.mark.parametrize("grant_type", ["client_credentials", "jwt_bearer"])
async def test_an_entry_that_does_not_send_the_code_upstream_mints_nothing(
    operator: tuple[OperatorApp, str], broker_for: object, grant_type: str
) -> None:
    # Item 9: the directory refuses such entries; one built in code is refused here as well,
    # before the operator is asked (it would only authenticate the broker, not the subscriber).
    op, base_url = operator
    entry = _entry(base_url, adapter="oauth2", grant_type=grant_type)
    broker: Broker = broker_for(entry)  # type: ignore[operator]
    before = op.calls
    with pytest.raises(UpstreamFailed) as caught:
        await broker.service.issue("972", "0527464600", "any-code")
    assert caught.value.internal == "orange cannot check subscribers"
    assert op.calls == before
