"""The seed adapter against tokend's operator role over real HTTP (seed 000 telco contract)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from tests.log_lines import LogLines
from tests.unit.broker.servers import OperatorApp, demo_operator_config, serving
from tests.upstreams import loopback_http
from tokend.broker.adapters import seed
from tokend.broker.directory import Secret, TelcoEntry
from tokend.broker.errors import UpstreamBadRequest, UpstreamRejected
from tokend.broker.upstream import OperatorToken, UpstreamCall


@pytest.fixture(scope="module")
def operator() -> Iterator[tuple[OperatorApp, str]]:
    op = OperatorApp(demo_operator_config())
    with serving(op.app()) as base_url:
        yield op, base_url


def _entry(base_url: str, **changes: object) -> TelcoEntry:
    entry = TelcoEntry(
        prefix="97205",
        operator_id="orange",
        base_url=base_url,
        token_url=f"{base_url}/api/demo/token",
        client_id="ORANGE_DEMO_ID",
        client_secret=Secret("ORANGE_DEMO_SECRET", "ORANGE_DEMO_SECRET"),
    )
    return replace(entry, **changes)  # type: ignore[arg-type]  # test-only field overrides


async def _fetch(entry: TelcoEntry, code: str = "best_auth_code_123") -> OperatorToken:
    async with loopback_http() as http:
        call = UpstreamCall(
            entry, "972", "0527464600", code, http, httpx.Timeout(5), datetime.now(UTC)
        )
        return await seed.fetch_token(call)


@pytest.mark.parametrize("auth_method", ["telco_auth", "client_secret_basic"])
async def test_the_operator_issues_a_token_for_a_known_broker_and_code(
    operator: tuple[OperatorApp, str], auth_method: str
) -> None:
    _, base_url = operator
    token = await _fetch(_entry(base_url, auth_method=auth_method))
    assert token.access_token.count(".") == 2
    lifetime = token.expires_at - token.issued_at
    assert lifetime.total_seconds() == 600


@pytest.mark.parametrize(
    ("changes", "code", "reason"),
    [
        ({}, "not_the_code", "Invalid auth code"),
        ({}, "BEST_AUTH_CODE", "Invalid auth code"),
        (
            {"client_secret": Secret("wrong-secret", "wrong-secret")},
            "best_auth_demo",
            "Invalid telco auth",
        ),
        ({"client_id": "VF_UK_ID"}, "best_auth_demo", "Invalid telco auth"),
    ],
)
async def test_refusals_name_the_operator_and_log_its_reason(
    operator: tuple[OperatorApp, str],
    changes: dict[str, object],
    code: str,
    reason: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Item 1: the operator's words went to the (unauthenticated) caller; now only to the log.
    _, base_url = operator
    logs = LogLines(capfd)
    with pytest.raises(UpstreamRejected) as caught:
        await _fetch(_entry(base_url, **changes), code=code)
    assert caught.value.description == "Telco service error"
    assert caught.value.internal == "orange answered 401"
    assert caught.value.status == 401
    # What seed 000 relayed (the seed surface): the operator's status and raw body.
    assert caught.value.seed is not None
    assert caught.value.seed.status == 401
    assert caught.value.seed.detail == f'Telco service error: {{"detail":"{reason}"}}'
    (refused,) = logs.named("broker.upstream.refused")
    assert (refused["operator"], refused["status"], refused["detail"]) == ("orange", 401, reason)


async def test_an_operator_that_echoes_the_code_or_the_secret_is_logged_masked(
    capfd: pytest.CaptureFixture[str],
) -> None:
    code, secret = "subscriber-code-" + "c" * 12, "broker-secret-" + "s" * 12

    async def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"detail": f"bad code {code} for secret {secret}"})

    entry = _entry("https://op.example", client_secret=Secret(secret, secret))
    async with loopback_http(httpx.MockTransport(echo)) as http:
        call = UpstreamCall(entry, "972", "05", code, http, httpx.Timeout(5), datetime.now(UTC))
        logs = LogLines(capfd)
        with pytest.raises(UpstreamBadRequest) as caught:
            await seed.fetch_token(call)
    assert caught.value.description == "Telco service error"
    (refused,) = logs.named("broker.upstream.refused")
    assert refused["detail"] == "bad code *** for secret ***"
    # Relayed to the caller who sent the code: the broker's secret masked, the code is theirs.
    assert caught.value.seed is not None
    assert secret not in caught.value.seed.detail
    assert code in caught.value.seed.detail
