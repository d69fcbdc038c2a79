"""JWTValidator against a test issuer serving discovery + JWKS over real HTTP."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

import pytest

from tests.polling import eventually
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_ID, FakeIssuer, new_key
from tokend.core.clock import FrozenClock
from tokend.core.http import GuardedClient
from tokend.guard import (
    JWKSFetchError,
    JWTValidator,
    TokenExpiredError,
    TokenValidationError,
    TrustedIssuer,
)

TTL_S = 600
INTERVAL_S = 30


def validator_for(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, *, jwks_ttl_s: float = TTL_S
) -> JWTValidator:
    config = TrustedIssuer(
        issuer.issuer,
        discovery_url=issuer.discovery_url,
        algorithms=frozenset({"ES256", "RS256"}),
        audiences=frozenset({"orders-api"}),
        role_clients=("orders-api",),
    )
    return JWTValidator(
        [config], http=http, clock=clock, jwks_ttl_s=jwks_ttl_s, refetch_interval_s=INTERVAL_S
    )


async def test_keycloak_token_is_validated_and_mapped_to_a_principal(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    principal = await validator.validate(secrets_seen.add(issuer.token()))
    assert principal.subject == "user-1"
    assert principal.issuer == issuer.issuer
    assert principal.client == CLIENT_ID
    assert principal.username == "alice"
    assert principal.email == "alice@example.test"
    assert principal.scopes == {"openid", "email", "profile", "orders:read"}
    # Realm roles plus the roles of the configured client; other clients' roles stay apart.
    assert principal.roles == {"user", "admin", "orders-viewer"}
    assert principal.client_roles["account"] == {"manage-account"}
    assert principal.has_roles(["manage-account"], client="account")
    assert not principal.has_roles(["manage-account"])
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


async def test_cached_keys_serve_later_validations_without_fetching(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    for _ in range(5):
        await validator.validate(secrets_seen.add(issuer.token()))
        clock.advance(TTL_S / 10)
    assert issuer.jwks_fetches == 1
    clock.advance(TTL_S)
    await validator.validate(secrets_seen.add(issuer.token()))
    assert issuer.jwks_fetches == 2


async def test_key_rotation_at_the_issuer_is_picked_up_by_one_refetch(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    old = secrets_seen.add(issuer.token())
    await validator.validate(old)
    clock.advance(INTERVAL_S + 1)
    new = issuer.rotate("k2", drop_old=True, alg="RS256")
    principal = await validator.validate(secrets_seen.add(issuer.token(new)))
    assert principal.subject == "user-1"
    assert issuer.jwks_fetches == 2
    # The dropped key is gone from the cache too.
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(old)
    assert caught.value.internal == "kid is not a known key"


async def test_flood_of_unknown_kids_causes_at_most_one_fetch_per_interval(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    await validator.validate(secrets_seen.add(issuer.token()))
    clock.advance(INTERVAL_S + 1)
    forged = [secrets_seen.add(issuer.token(new_key(secrets.token_hex(4)))) for _ in range(40)]

    async def rejected(token: str) -> bool:
        try:
            await validator.validate(token)
        except TokenValidationError:
            return True
        return False

    assert all(await asyncio.gather(*(rejected(t) for t in forged)))
    assert issuer.jwks_fetches == 2
    assert all([await rejected(t) for t in forged])
    assert issuer.jwks_fetches == 2
    clock.advance(INTERVAL_S + 1)
    assert await rejected(forged[0])
    assert issuer.jwks_fetches == 3
    assert validator.cache_info()[issuer.issuer]["suppressed_refetches"] >= 40


async def test_a_key_rotated_right_after_a_regular_fetch_is_found_by_one_refetch(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    # Issue 24: the cool-down starts at a refetch an unknown kid caused, not at the regular
    # fetch that filled the cache a moment ago.
    validator = validator_for(issuer, http, clock)
    await validator.validate(secrets_seen.add(issuer.token()))
    new = issuer.rotate("k2")
    token = secrets_seen.add(issuer.token(new))
    assert (await validator.validate(token)).subject == "user-1"
    assert issuer.jwks_fetches == 2


async def test_a_second_rotation_within_the_interval_waits_for_the_next_one(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    await validator.validate(secrets_seen.add(issuer.token()))
    await validator.validate(secrets_seen.add(issuer.token(issuer.rotate("k2"))))
    token = secrets_seen.add(issuer.token(issuer.rotate("k3")))
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(token)  # an unknown kid refetched moments ago: cool-down
    assert caught.value.internal == "kid is not a known key"
    assert issuer.jwks_fetches == 2
    clock.advance(INTERVAL_S)
    assert (await validator.validate(token)).subject == "user-1"


async def test_issuer_down_keeps_the_last_good_keys(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    token = secrets_seen.add(issuer.token())
    await validator.validate(token)
    issuer.down = True
    clock.advance(TTL_S + 1)
    assert (await validator.validate(token)).subject == "user-1"
    assert (await validator.validate(token)).subject == "user-1"
    info = validator.cache_info()[issuer.issuer]
    # One failed attempt; the second validation did not hammer the dead issuer.
    assert info["fetch_failures"] == 1
    assert issuer.jwks_fetches == 2
    issuer.down = False
    clock.advance(INTERVAL_S)
    await validator.validate(token)
    assert validator.cache_info()[issuer.issuer]["fetches"] == 2


async def test_no_keys_and_issuer_down_is_a_jwks_fetch_error(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    issuer.down = True
    validator = validator_for(issuer, http, clock)
    with pytest.raises(JWKSFetchError) as caught:
        await validator.validate(secrets_seen.add(issuer.token()))
    assert caught.value.status_code == 503
    assert caught.value.error_code == "JWKS_FETCH_ERROR"


async def test_ttl_zero_disables_the_cache(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock, jwks_ttl_s=0)
    token = secrets_seen.add(issuer.token())
    for _ in range(3):
        await validator.validate(token)
    assert issuer.jwks_fetches == 3
    # A key the issuer withdrew stops working at once.
    issuer.rotate("k2", drop_old=True)
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(token)
    assert caught.value.internal == "kid is not a known key"
    issuer.down = True
    with pytest.raises(JWKSFetchError, match="Signing keys of the token issuer are unavailable"):
        await validator.validate(token)


async def test_keys_are_refreshed_in_the_background_before_they_expire(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    token = secrets_seen.add(issuer.token())
    async with validator.running():
        await validator.validate(token)
        clock.advance(TTL_S * 0.9)
        await validator.validate(token)
        # The refresh runs in the background: wait for it.
        await eventually(lambda: validator.cache_info()[issuer.issuer]["fetches"] == 2)
    assert issuer.jwks_fetches == 2
    age = validator.issuers[issuer.issuer].age_s()
    assert age is not None
    assert age < TTL_S * 0.5


async def test_expired_token_is_token_expired_error(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    token = secrets_seen.add(issuer.token(exp=int(clock.now().timestamp()) - 60))
    with pytest.raises(TokenExpiredError) as caught:
        await validator.validate(token)
    assert caught.value.error_code == "TOKEN_EXPIRED"


async def test_audience_and_required_claims_are_checked_per_issuer(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    validator = validator_for(issuer, http, clock)
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(secrets_seen.add(issuer.token(aud="billing-api")))
    assert "aud" in (caught.value.internal or "")
    with pytest.raises(TokenValidationError) as caught:
        await validator.validate(secrets_seen.add(issuer.token(sub=None)))
    assert "sub" in (caught.value.internal or "")


async def test_several_issuers_each_verify_with_their_own_keys(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    other_key = new_key("static-1")
    static = TrustedIssuer(
        "https://static.test",
        jwks={"keys": [other_key.key.as_dict(private=False) | {"kid": "static-1", "alg": "ES256"}]},
        algorithms=frozenset({"ES256"}),
    )
    discovered = TrustedIssuer(issuer.issuer, algorithms=frozenset({"ES256"}))
    validator = JWTValidator([discovered, static], http=http, clock=clock)
    assert (await validator.validate(secrets_seen.add(issuer.token()))).issuer == issuer.issuer
    from_static = secrets_seen.add(issuer.token(other_key, iss="https://static.test"))
    assert (await validator.validate(from_static)).issuer == "https://static.test"
    # A static-issuer key cannot vouch for the discovered issuer, nor the other way round.
    for token, reason in (
        (issuer.token(other_key), "kid is not a known key"),
        (issuer.token(iss="https://static.test"), "kid is not a known key"),
        (issuer.token(iss="https://unknown.test"), "token names no trusted issuer"),
    ):
        with pytest.raises(TokenValidationError) as caught:
            await validator.validate(secrets_seen.add(token))
        assert caught.value.internal == reason


async def test_discovery_naming_another_issuer_is_refused(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    impostor = TrustedIssuer("https://trusted.test", discovery_url=issuer.discovery_url)
    validator = JWTValidator([impostor], http=http, clock=clock)
    with pytest.raises(JWKSFetchError) as caught:
        await validator.validate(secrets_seen.add(issuer.token(iss="https://trusted.test")))
    assert "another issuer" in (caught.value.internal or "")


@dataclass
class DenyList:
    """A RevocationHook that remembers what it was asked and names some tokens revoked."""

    revoked_jtis: set[str] = field(default_factory=set)
    revoked_grants: set[str] = field(default_factory=set)
    asked: list[tuple[str | None, str | None]] = field(default_factory=list)

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        self.asked.append((jti, grant_id))
        return jti in self.revoked_jtis or grant_id in self.revoked_grants


async def test_a_token_the_issuers_revocation_hook_names_is_refused(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    hook = DenyList(revoked_jtis={"j-revoked"}, revoked_grants={"g-revoked"})
    config = TrustedIssuer(issuer.issuer, algorithms=frozenset({"ES256"}), revocations=hook)
    validator = JWTValidator([config], http=http, clock=clock)
    good = secrets_seen.add(issuer.token(jti="j-good", gid="g-good"))
    assert (await validator.validate(good)).subject == "user-1"
    for jti, gid in (("j-revoked", "g-good"), ("j-good", "g-revoked")):
        with pytest.raises(TokenValidationError) as caught:
            await validator.validate(secrets_seen.add(issuer.token(jti=jti, gid=gid)))
        assert caught.value.internal == "the token was revoked"
    # A claim the token lacks (or one that is no string) is asked about as None.
    await validator.validate(secrets_seen.add(issuer.token(jti=None, gid=7)))
    assert hook.asked == [
        ("j-good", "g-good"),
        ("j-revoked", "g-good"),
        ("j-good", "g-revoked"),
        (None, None),
    ]
