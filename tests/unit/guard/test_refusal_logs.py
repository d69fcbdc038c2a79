"""The guard logs why it refused a token (the client hears only "Invalid or expired token"),
with what the token claims to be, and never the token itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog

from tests.log_lines import LogLines
from tests.unit.guard.fake_issuer import FakeIssuer, new_key
from tests.unit.guard.test_validator import validator_for
from tokend.core.clock import FrozenClock
from tokend.core.http import GuardedClient
from tokend.guard import TokenExpiredError, TokenValidationError


@pytest.fixture
def log_lines(capfd: pytest.CaptureFixture[str]) -> LogLines:
    return LogLines(capfd)


async def refused(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, log_lines: LogLines, token: str
) -> dict[str, object]:
    """The one ``guard.token_refused`` line logged for ``token``, checked to hold none of it."""
    with pytest.raises((TokenValidationError, TokenExpiredError)) as caught:
        await validator_for(issuer, http, clock).validate(token)
    assert caught.value.description in ("Invalid or expired token", "Token has expired")
    lines = log_lines.named("guard.token_refused")
    assert len(lines) == 1
    line = lines[0]
    assert line["level"] == "info"
    shown = repr(line)
    for part in token.split("."):
        assert part not in shown
    assert "user-1" not in shown  # nor the subject
    return line


async def test_a_token_for_another_audience_is_logged_as_such(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, log_lines: LogLines
) -> None:
    token = issuer.token(aud="billing-api")
    line = await refused(issuer, http, clock, log_lines, token)
    assert line["reason"] == "audience"
    assert line["token_aud"] == "billing-api"
    assert line["token_iss"] == issuer.issuer


async def test_a_token_of_another_issuer_is_an_issuer_mismatch_not_a_key_problem(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, log_lines: LogLines
) -> None:
    token = issuer.token(new_key("elsewhere"), iss="https://other-idp.example/realms/x")
    line = await refused(issuer, http, clock, log_lines, token)
    assert line["reason"] == "issuer"
    assert str(line["detail"]).startswith("issuer mismatch")
    assert line["token_iss"] == "https://other-idp.example/realms/x"
    assert issuer.jwks_fetches == 0  # refused before any key was looked for


async def test_an_unknown_key_and_an_expired_token_are_logged_with_their_reason(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, log_lines: LogLines
) -> None:
    unknown = issuer.token(new_key("k-unknown"))
    line = await refused(issuer, http, clock, log_lines, unknown)
    assert line["reason"] == "key"
    assert line["token_kid"] == "k-unknown"
    validator = validator_for(issuer, http, clock)
    expired = issuer.token(exp=int((clock.now() - timedelta(hours=1)).timestamp()))
    with pytest.raises(TokenExpiredError):
        await validator.validate(expired)
    line = log_lines.named("guard.token_refused")[-1]
    assert line["reason"] == "expired"
    assert isinstance(line["token_exp"], int)


async def test_a_malformed_token_is_logged_without_its_content(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, log_lines: LogLines
) -> None:
    line = await refused(issuer, http, clock, log_lines, "not-a-jwt-at-all")
    assert line["reason"] == "malformed"
    assert not [name for name in line if str(name).startswith("token_")]


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """A resource server that never configured structlog (the tokend-guard wheel alone)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.mark.usefixtures("unconfigured_structlog")
async def test_in_a_service_without_structlog_the_line_goes_to_stdlib_logging_not_stdout(
    issuer: FakeIssuer,
    http: GuardedClient,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = issuer.token(aud="billing-api")
    with caplog.at_level(logging.INFO, logger="tokend.guard"), pytest.raises(TokenValidationError):
        await validator_for(issuer, http, clock).validate(token)
    (record,) = [r for r in caplog.records if r.name == "tokend.guard"]
    assert record.levelno == logging.INFO
    assert "event='guard.token_refused'" in record.getMessage()
    assert "reason='audience'" in record.getMessage()
    assert token not in record.getMessage()
    assert capsys.readouterr().out == ""
