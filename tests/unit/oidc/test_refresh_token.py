"""The refresh_token grant on in-memory stores: rotation, and the ID token of OIDC Core §12.2."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from joserfc.jwk import ECKey, KeyParameters
from prometheus_client import CollectorRegistry

from tests.unit.core.memory_revocations import MemoryRevocations
from tests.unit.oidc.memory_stores import (
    MemoryConsents,
    MemoryDatabase,
    MemoryRefreshTokens,
    MemoryUsers,
)
from tokend.cache.memory import MemoryCache
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import InvalidGrant, InvalidScope
from tokend.core.jwt import SigningKey
from tokend.core.revocations import Revocations
from tokend.oidc.audit import Audit
from tokend.oidc.grants import GRANTS, GrantDeps, TokenRequest
from tokend.oidc.records import (
    AuthMethod,
    AuthorizationCode,
    Client,
    ConsumedCode,
    RefreshToken,
    TokenFormat,
    User,
)
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.settings import OidcSettings
from tokend.oidc.tokens import AccessGrant, IssuedToken, JwtAccessTokens, TokenIssuer

ISSUER = "https://op.example"
SECRET = "unit-test-secret-key-" + "x" * 24
LOGIN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def es256_key(kid: str) -> SigningKey:
    params: KeyParameters = {"kid": kid, "alg": "ES256", "use": "sig"}
    return SigningKey(kid, "ES256", ECKey.generate_key("P-256", parameters=params))


class NoCodes:
    async def save(self, code: AuthorizationCode) -> None:
        raise AssertionError("the refresh grant uses no code")

    async def consume(self, code_hash: str, client_id: str, now: datetime) -> ConsumedCode | None:
        raise AssertionError("the refresh grant uses no code")


CLIENT = Client(
    client_id="rp",
    name="RP",
    is_public=False,
    redirect_uris=("https://rp.example/cb",),
    post_logout_redirect_uris=(),
    grant_types=frozenset({"authorization_code", "refresh_token"}),
    response_types=frozenset({"code"}),
    scopes=frozenset({"openid", "profile", "offline_access"}),
    audiences=(),
    auth_method=AuthMethod("client_secret_basic"),
    token_format=TokenFormat.JWT,
    require_pkce=True,
    skip_consent=False,
)
USER = User(id="u_ada", email="ada@example.org", email_verified=True, name="Ada")


@dataclass
class World:
    deps: GrantDeps
    clock: FrozenClock
    db: MemoryDatabase

    async def refresh_token_of(self, scopes: set[str], acr: str | None = None) -> str:
        """A refresh token of a grant the user authenticated for at ``LOGIN``."""
        value = "refresh-" + "-".join(sorted(scopes))
        token = RefreshToken(
            id="rt_1",
            grant_id="g_1",
            client_id=CLIENT.client_id,
            user_id=USER.id,
            scopes=frozenset(scopes),
            auth_time=LOGIN,
            acr=acr,
            expires_at=self.clock.now() + timedelta(days=1),
        )
        await self.deps.refresh.save(token, self.deps.hasher.hash(value))
        return value

    async def use(self, value: str) -> dict[str, Any]:
        grant = GRANTS["refresh_token"]
        request = TokenRequest("refresh_token", {"refresh_token": value})
        return (await grant.handle(request, CLIENT, self.deps)).to_json()


@pytest.fixture
def world() -> World:
    clock = FrozenClock(LOGIN + timedelta(hours=2))
    access_key, id_key = es256_key("at-1"), es256_key("id-1")
    cache = TieredCache(
        MemoryCache(1000, clock), None, registry=CollectorRegistry(), clock=clock,
        memory_ttl_s=5.0, retry_interval_s=1.0,
    )  # fmt: skip
    db = MemoryDatabase(
        users={USER.id: USER}, consents={(USER.id, CLIENT.client_id): CLIENT.scopes}
    )
    deps = GrantDeps(
        settings=OidcSettings(),
        issuer=ISSUER,
        clock=clock,
        hasher=SecretHasher.from_secrets(SECRET),
        cipher=FieldCipher.from_secrets(SECRET),
        tokens=TokenIssuer(
            jwt=JwtAccessTokens(lambda: access_key, ISSUER, clock),
            opaque=JwtAccessTokens(lambda: access_key, ISSUER, clock),
            id_token_key=lambda: id_key,
            issuer=ISSUER,
            clock=clock,
        ),
        codes=NoCodes(),
        refresh=MemoryRefreshTokens(db),
        users=MemoryUsers(db),
        consents=MemoryConsents(db),
        grants=GrantRevoker(
            MemoryRefreshTokens(db),
            Revocations(MemoryRevocations(), cache, clock, checked_ttl_s=5.0),
            clock,
        ),
        audit=Audit.register(CollectorRegistry()),
    )
    return World(deps, clock, db)


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_refreshing_an_openid_grant_returns_an_id_token_of_the_original_login(
    world: World,
) -> None:
    body = await world.use(await world.refresh_token_of({"openid", "offline_access"}, acr="1"))
    claims = unverified(body["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == USER.id
    assert claims["aud"] == CLIENT.client_id
    assert claims["iat"] == int(world.clock.now().timestamp())
    assert claims["auth_time"] == int(LOGIN.timestamp())
    assert claims["acr"] == "1"
    assert "nonce" not in claims
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert jwt.get_unverified_header(body["id_token"])["kid"] == "id-1"


async def test_the_successor_refresh_token_keeps_the_original_auth_time(world: World) -> None:
    first = await world.use(await world.refresh_token_of({"openid", "offline_access"}))
    world.clock.advance(3600)
    second = await world.use(first["refresh_token"])
    claims = unverified(second["id_token"])
    assert claims["auth_time"] == int(LOGIN.timestamp())
    assert claims["iat"] == int(world.clock.now().timestamp())
    assert "acr" not in claims


async def test_refreshing_a_grant_without_openid_returns_no_id_token(world: World) -> None:
    body = await world.use(await world.refresh_token_of({"profile", "offline_access"}))
    assert "id_token" not in body
    assert body["refresh_token"]


async def test_a_reused_refresh_token_revokes_the_grant_and_its_access_tokens(
    world: World,
) -> None:
    value = await world.refresh_token_of({"openid", "offline_access"})
    first = await world.use(value)
    world.clock.advance(60)  # past the grace period
    with pytest.raises(InvalidGrant, match="the refresh token was already used"):
        await world.use(value)
    jti, gid = unverified(first["access_token"])["jti"], unverified(first["access_token"])["gid"]
    assert await world.deps.grants.revocations.is_revoked(jti, gid)


async def test_a_refresh_that_fails_before_it_answers_leaves_the_token_usable(
    world: World,
) -> None:
    # The database went away after the token was read: the access token could not be written
    # (an opaque one is stored). Nothing may have rotated then, or the client's retry of the
    # same token would be reuse.
    class Unreachable:
        async def issue(self, grant: AccessGrant) -> IssuedToken:
            raise ConnectionError("the database went away")

    value = await world.refresh_token_of({"openid", "offline_access"})
    failing = replace(world.deps, tokens=replace(world.deps.tokens, jwt=Unreachable()))
    grant = GRANTS["refresh_token"]
    with pytest.raises(ConnectionError):
        await grant.handle(TokenRequest("refresh_token", {"refresh_token": value}), CLIENT, failing)
    world.clock.advance(60)  # past any grace: a rotated token would now be reuse
    retried = await world.use(value)
    assert retried["refresh_token"] != value


async def test_a_rotation_keeps_the_grants_claims_as_long_as_its_new_tokens(world: World) -> None:
    # OIDC Core §5.5: the claims a `claims` request asked UserInfo for stay while a token of
    # the grant may be used; the rotation extends them in its own transaction.
    value = await world.refresh_token_of({"openid", "offline_access"})
    stored = world.db.refresh[world.deps.hasher.hash(value)].token
    soon = world.clock.now() + timedelta(minutes=1)
    world.db.grant_claims[stored.grant_id] = (CLIENT.client_id, ("email",), soon)
    body = await world.use(value)
    kept = world.db.grant_claims[stored.grant_id][2]
    successor = world.db.refresh[world.deps.hasher.hash(body["refresh_token"])].token
    assert kept == successor.expires_at > soon
    # A reuse rotates nothing and extends nothing (the grant is revoked instead).
    world.db.grant_claims[stored.grant_id] = (CLIENT.client_id, ("email",), soon)
    with pytest.raises(InvalidGrant):
        await world.use(value)
    assert world.db.grant_claims[stored.grant_id][2] == soon


async def test_the_reuse_grace_is_for_confidential_clients_only(world: World) -> None:
    deps = replace(world.deps, settings=OidcSettings(refresh_grace_s=30))
    grant = GRANTS["refresh_token"]
    confidential = await world.refresh_token_of({"openid", "offline_access"})
    request = TokenRequest("refresh_token", {"refresh_token": confidential})
    first = (await grant.handle(request, CLIENT, deps)).to_json()
    again = (await grant.handle(request, CLIENT, deps)).to_json()
    assert again["refresh_token"] == first["refresh_token"]
    # RFC 9700 §4.14.2: for a public client a reuse always revokes, whatever is configured.
    public = replace(CLIENT, is_public=True, auth_method=AuthMethod.NONE, refresh_grace_s=30)
    world.db.refresh.clear()
    value = await world.refresh_token_of({"openid", "offline_access"})
    request = TokenRequest("refresh_token", {"refresh_token": value})
    await grant.handle(request, public, deps)
    with pytest.raises(InvalidGrant):
        await grant.handle(request, public, deps)


async def test_a_refresh_drops_the_scopes_the_user_no_longer_allows(world: World) -> None:
    value = await world.refresh_token_of({"openid", "profile", "offline_access"})
    world.db.consents[(USER.id, CLIENT.client_id)] = frozenset({"openid", "offline_access"})
    first = await world.use(value)
    assert first["scope"] == "offline_access openid"
    # The successor holds the narrowed scope: asking for profile again is refused.
    grant = GRANTS["refresh_token"]
    request = TokenRequest("refresh_token", {"refresh_token": first["refresh_token"],
                                             "scope": "openid profile"})  # fmt: skip
    with pytest.raises(InvalidScope):
        await grant.handle(request, CLIENT, world.deps)


async def test_a_refresh_without_offline_access_still_allowed_is_invalid_grant(
    world: World,
) -> None:
    value = await world.refresh_token_of({"openid", "offline_access"})
    no_offline = replace(CLIENT, scopes=frozenset({"openid", "profile"}))
    grant = GRANTS["refresh_token"]
    with pytest.raises(InvalidGrant):
        await grant.handle(TokenRequest("refresh_token", {"refresh_token": value}), no_offline,
                           world.deps)  # fmt: skip
