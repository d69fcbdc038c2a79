"""Opaque tokens through RFC 7662 introspection at the issuer, with a short cache."""

from __future__ import annotations

import secrets

import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_ID, CLIENT_SECRET, FakeIssuer
from tokend.core.clock import FrozenClock
from tokend.core.http import GuardedClient
from tokend.guard import JWTValidator, KeycloakConnectionError, TokenValidationError, TrustedIssuer
from tokend.guard.introspection import TokenIntrospector

CACHE_TTL_S = 30


def validator_for(issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock) -> JWTValidator:
    async def endpoint() -> object:
        return f"{issuer.issuer}/protocol/openid-connect/token/introspect"

    introspector = TokenIntrospector(
        endpoint,
        issuer=issuer.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=lambda: http,
        clock=clock,
        cache_ttl_s=CACHE_TTL_S,
        role_clients=("orders-api",),
    )
    return JWTValidator(
        [TrustedIssuer(issuer.issuer)], http=http, clock=clock, introspector=introspector
    )


def opaque(
    issuer: FakeIssuer, clock: FrozenClock, secrets_seen: SecretsSeen, **changes: object
) -> str:
    token = secrets_seen.add("opaque-" + secrets.token_urlsafe(24))
    answer = {
        "active": True,
        "iss": issuer.issuer,
        "sub": "user-1",
        "client_id": CLIENT_ID,
        "scope": "orders:read",
        "exp": int(clock.now().timestamp()) + 600,
        "realm_access": {"roles": ["user"]},
        "resource_access": {"orders-api": {"roles": ["orders-viewer"]}},
    }
    answer.update(changes)
    issuer.opaque_tokens[token] = answer
    return token


async def test_active_opaque_token_maps_to_a_principal(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    principal = await validator_for(issuer, http, clock).validate(
        opaque(issuer, clock, secrets_seen)
    )
    assert (principal.subject, principal.client) == ("user-1", CLIENT_ID)
    assert principal.roles == {"user", "orders-viewer"}
    assert principal.scopes == {"orders:read"}


async def test_answers_are_cached_briefly(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    token = opaque(issuer, clock, secrets_seen)
    await validator.validate(token)
    await validator.validate(token)
    assert issuer.introspections == 1
    # Revoked at the issuer: noticed once the short cache entry is gone.
    del issuer.opaque_tokens[token]
    clock.advance(CACHE_TTL_S)
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(token)
    assert caught.value.internal == "introspection: token is not active"
    assert issuer.introspections == 2


async def test_a_cached_answer_never_outlives_the_token(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    token = opaque(issuer, clock, secrets_seen, exp=int(clock.now().timestamp()) + 5)
    await validator.validate(token)
    clock.advance(6)
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(token)
    assert caught.value.internal == "introspection: token is not active"


@pytest.mark.parametrize(
    "changes",
    [
        {"active": False},
        {"iss": "https://other.test"},
        {"exp": 1},
        {"sub": None, "client_id": None},
    ],
    ids=["inactive", "other-issuer", "expired", "nobody"],
)
async def test_unusable_answers_are_rejected(
    issuer: FakeIssuer,
    http: GuardedClient,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
    changes: dict[str, object],
) -> None:
    token = opaque(issuer, clock, secrets_seen, **changes)
    with pytest.raises(TokenValidationError) as caught:
        await validator_for(issuer, http, clock).validate(token)
    assert caught.value.internal == "introspection: token is not active"


async def test_unknown_opaque_token_is_rejected_and_jwts_still_verify(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate("never-issued")
    assert caught.value.internal == "introspection: token is not active"
    assert (await validator.validate(secrets_seen.add(issuer.token()))).subject == "user-1"


async def test_introspection_endpoint_down_is_503(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    token = opaque(issuer, clock, secrets_seen)
    issuer.down = True
    with pytest.raises(KeycloakConnectionError) as caught:
        await validator_for(issuer, http, clock).validate(token)
    assert caught.value.status_code == 503
