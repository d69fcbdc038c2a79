"""The spine's whole JWT attack list, sent through the guard's public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.secrets_seen import SecretsSeen
from tests.unit.core.test_jwt import (
    ATTACKS,
    AUDIENCE,
    EDDSA,
    ES256,
    ISSUER,
    LEEWAY_S,
    NOW,
    RS256,
)
from tokend.core.clock import FrozenClock
from tokend.core.errors import InvalidToken
from tokend.core.jwt import TokenExpired
from tokend.guard import JWTValidator, TokenExpiredError, TokenValidationError, TrustedIssuer

STATIC_JWKS = {"keys": [key.key.as_dict(private=False) for key in (ES256, RS256, EDDSA)]}
#: The guard verifies against its issuers' keys only; attacks on a caller-supplied SharedSecret
#: (the gateway's HS256 tokens) go through core.jwt and the gateway's API tests instead.
GUARD_ATTACKS = {name: attack for name, attack in ATTACKS.items() if "keys" not in attack[3]}


def guard_validator(overrides: dict[str, Any]) -> JWTValidator:
    issuer = TrustedIssuer(
        ISSUER,
        jwks=STATIC_JWKS,
        algorithms=overrides.get("algorithms", frozenset({"ES256", "RS256", "EdDSA"})),
        audiences=frozenset({AUDIENCE}),
        typ="at+jwt",
        required_claims=("exp", "iat"),
    )
    return JWTValidator([issuer], clock=FrozenClock(NOW), leeway_s=LEEWAY_S)


@pytest.mark.parametrize(
    ("make", "error", "reason", "overrides"), GUARD_ATTACKS.values(), ids=GUARD_ATTACKS
)
async def test_malicious_token_is_rejected_by_the_guard(
    make: Callable[[], str],
    error: type[InvalidToken],
    reason: str,
    overrides: dict[str, Any],
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(make())
    expected = TokenExpiredError if error is TokenExpired else TokenValidationError
    with pytest.raises(expected) as caught:
        await guard_validator(overrides).validate(token)
    assert type(caught.value) is expected
    assert reason in (caught.value.internal or "")
    assert caught.value.status_code == 401
    for part in filter(None, token.split(".")):
        assert part not in caught.value.description
        assert part[:64] not in (caught.value.internal or "")


async def test_the_untampered_token_passes_the_same_validator(secrets_seen: SecretsSeen) -> None:
    from tests.unit.core.test_jwt import hand_made

    principal = await guard_validator({}).validate(secrets_seen.add(hand_made()))
    assert principal.subject == "alice"
    assert principal.scopes == {"orders:read", "orders:write"}


async def test_a_non_ascii_payload_with_a_valid_header_and_signature_is_rejected(
    secrets_seen: SecretsSeen,
) -> None:
    from tests.unit.core.test_jwt import hand_made

    head, body, signature = secrets_seen.add(hand_made()).split(".")
    with pytest.raises(TokenValidationError) as caught:
        await guard_validator({}).validate(f"{head}.\u00e9{body}.{signature}")
    assert caught.value.internal == "token has non-ASCII characters"


_VALIDATOR = guard_validator({})


@settings(max_examples=200, database=None, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(st.text(max_size=80), max_size=4).map(".".join)))
async def test_arbitrary_input_only_ever_raises_the_guard_s_401s(token: str) -> None:
    with pytest.raises((TokenValidationError, TokenExpiredError)):
        await _VALIDATOR.validate(token)
