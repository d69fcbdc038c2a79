"""Broker token minting: the lifetime bound and the HS256 seed-compat mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import ValidationError

from tokend.broker.directory import Secret, TelcoEntry
from tokend.broker.errors import UpstreamFailed
from tokend.broker.settings import BrokerSettings
from tokend.broker.tokens import BrokerTokenMinter
from tokend.broker.upstream import OperatorToken
from tokend.core.jwt import SigningKey

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HS_KEY = "seed-compat-shared-key-0123456789abcdef"
ENTRY = TelcoEntry(
    prefix="97205",
    operator_id="orange",
    base_url="http://o",
    client_id="ORANGE_DEMO_ID",
    client_secret=Secret("s", "s"),
)


def _keyring(alg: str) -> SigningKey:
    raise AssertionError(f"the keyring must not be asked for {alg} in HS256 mode")


def _operator_token(lifetime_s: int) -> OperatorToken:
    return OperatorToken("op", NOW, NOW + timedelta(seconds=lifetime_s))


def test_hs256_mode_signs_with_the_shared_key_for_seed_clients() -> None:
    settings = BrokerSettings(token_alg="HS256", hs256_key=HS_KEY, embed_auth_code=True)
    minter = BrokerTokenMinter(settings, "http://broker", "http://broker/broker", _keyring)
    token = minter.mint(
        entry=ENTRY,
        mcc="972",
        sn="05",
        auth_code="best_auth_demo",
        operator_token=_operator_token(3600),
        now=NOW,
    )
    claims = jwt.decode(
        token.access_token, HS_KEY, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["auth_code"] == "best_auth_demo"
    assert claims["exp"] - claims["iat"] == 900  # seed JWT_EXP_SEC, under the operator's hour


def test_hs256_without_a_long_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="hs256_key"):
        BrokerSettings(token_alg="HS256", hs256_key="short")


def test_an_already_expired_operator_token_is_an_upstream_failure() -> None:
    minter = BrokerTokenMinter(BrokerSettings(), "http://broker", "http://broker/broker", _keyring)
    with pytest.raises(UpstreamFailed, match="orange returned an expired token"):
        minter.mint(
            entry=ENTRY,
            mcc="972",
            sn="05",
            auth_code="c",
            operator_token=_operator_token(0),
            now=NOW,
        )
