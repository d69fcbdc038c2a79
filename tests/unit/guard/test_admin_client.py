"""Keycloak Admin API client against a fake admin API served over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.server import free_port
from tests.unit.guard.fake_issuer import CLIENT_ID, CLIENT_SECRET, FakeIssuer
from tokend.core.breaker import BreakerPolicy, CircuitBreaker
from tokend.core.clock import FrozenClock
from tokend.core.http import GuardedClient
from tokend.guard import KeycloakConnectionError, UserNotFoundError
from tokend.guard.admin_client import KeycloakAdminClient


def admin_for(
    issuer: FakeIssuer,
    http: GuardedClient,
    clock: FrozenClock,
    *,
    server_url: str | None = None,
    token_ttl_s: float = 300,
) -> KeycloakAdminClient:
    return KeycloakAdminClient(
        server_url=server_url or issuer.base,
        realm=issuer.realm,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=lambda: http,
        clock=clock,
        breaker=CircuitBreaker(
            "keycloak-admin", BreakerPolicy(min_calls=3, reset_after_s=30), clock
        ),
        token_ttl_s=token_ttl_s,
        renew_margin_s=30,
        timeout_s=2,
    )


async def test_users_roles_and_groups_are_looked_up(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock)
    assert (await admin.user_by_id("user-1"))["username"] == "alice"
    assert (await admin.user_by_username("alice"))["id"] == "user-1"
    assert (await admin.user_by_email("alice@example.test"))["id"] == "user-1"
    assert await admin.user_realm_roles("user-1") == ["user", "admin"]
    assert await admin.user_groups("user-1") == [{"id": "g-1", "name": "sales", "path": "/sales"}]


@pytest.mark.parametrize(
    "lookup",
    [
        lambda a: a.user_by_id("nobody"),
        lambda a: a.user_by_username("nobody"),
        lambda a: a.user_by_email("nobody@example.test"),
        lambda a: a.user_realm_roles("nobody"),
    ],
    ids=["id", "username", "email", "roles"],
)
async def test_unknown_user_is_user_not_found(
    issuer: FakeIssuer,
    http: GuardedClient,
    clock: FrozenClock,
    lookup: Callable[[KeycloakAdminClient], Awaitable[object]],
) -> None:
    admin = admin_for(issuer, http, clock)
    with pytest.raises(UserNotFoundError) as caught:
        await lookup(admin)
    assert caught.value.status_code == 404
    assert caught.value.error_code == "USER_NOT_FOUND"
    assert "user_id" in caught.value.details


async def test_service_token_is_cached_and_renewed_before_it_expires(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock)
    for _ in range(3):
        await admin.user_by_id("user-1")
    assert issuer.admin_token_calls == 1
    assert admin.cache_info()["keys"] == ["admin_token"]
    clock.advance(265)  # 300 s token, renewed 30 s early: still good here
    await admin.user_by_id("user-1")
    assert issuer.admin_token_calls == 1
    clock.advance(10)
    await admin.user_by_id("user-1")
    assert issuer.admin_token_calls == 2
    assert admin.cache_info()["hits"] == 3


async def test_a_short_lived_token_is_capped_by_the_issuer_lifetime(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    issuer.admin_token_ttl_s = 60
    admin = admin_for(issuer, http, clock)
    await admin.user_by_id("user-1")
    clock.advance(55)  # 60 s token renewed 6 s early
    await admin.user_by_id("user-1")
    assert issuer.admin_token_calls == 2


async def test_ttl_zero_fetches_a_token_for_every_call(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock, token_ttl_s=0)
    await admin.user_by_id("user-1")
    await admin.user_by_id("user-1")
    assert issuer.admin_token_calls == 2


async def test_a_revoked_token_is_replaced_once(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock)
    await admin.user_by_id("user-1")
    issuer.admin_tokens.clear()
    assert (await admin.user_by_id("user-1"))["id"] == "user-1"
    assert issuer.admin_token_calls == 2


async def test_failing_admin_api_is_a_connection_error(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock)
    issuer.admin_down = True
    with pytest.raises(KeycloakConnectionError) as caught:
        await admin.user_by_id("user-1")
    assert caught.value.status_code == 503
    assert caught.value.error_code == "KEYCLOAK_CONNECTION_ERROR"


async def test_unreachable_admin_api_opens_the_breaker(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock, server_url=f"http://127.0.0.1:{free_port()}")
    for _ in range(3):
        with pytest.raises(KeycloakConnectionError) as caught:
            await admin.user_by_id("user-1")
        assert "ConnectError" in (caught.value.internal or "")
    with pytest.raises(KeycloakConnectionError) as caught:
        await admin.user_by_id("user-1")
    assert caught.value.internal == "circuit open"
    assert caught.value.headers["Retry-After"] == "30"


async def test_the_client_secret_stays_out_of_repr(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> None:
    admin = admin_for(issuer, http, clock)
    assert CLIENT_SECRET not in repr(admin)
