"""Server nonces at a resource server built on the guard (RFC 9449 §9): a guard that asks for
them answers a proof without one, or with a stale one, 401 ``use_dpop_nonce`` with a fresh
``DPoP-Nonce``; its nonces rotate, are stateless (replicas sharing the secret accept each
other's) and are never the provider's."""

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc.jwk import ECKey

from tests.api.oidc.test_dpop import jkt_of, new_key, proof
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tokend.core.clock import FrozenClock
from tokend.core.dpop import DpopNonces
from tokend.core.http import GuardedClient
from tokend.guard import Guard, JWTValidator, Principal, TrustedIssuer
from tokend.guard.dpop import guard_nonces

URL = "http://app.test/me"
WINDOW_S = 60
SECRET = secrets.token_bytes(32)

Replica = Callable[[bytes], Any]


def tiny_app(guard: Guard) -> FastAPI:
    app = FastAPI()
    guard.install(app)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(guard.require_auth)]) -> dict[str, str]:
        return {"sub": user.subject}

    return app


@pytest.fixture
def replica(issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock) -> Callable[[bytes], Any]:
    """``async with replica(secret) as client``: a process of the resource server whose guard
    requires nonces made with ``secret``."""

    @asynccontextmanager
    async def serve(secret: bytes) -> AsyncIterator[httpx.AsyncClient]:
        validator = JWTValidator(
            [TrustedIssuer(issuer.issuer, audiences=frozenset({"orders-api"}))],
            http=http,
            clock=clock,
        )
        nonces = guard_nonces(secret, clock=clock, window_s=WINDOW_S)
        app = tiny_app(Guard(validator, realm="orders", dpop_nonces=nonces))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client

    return serve


@pytest.fixture
def bound(issuer: FakeIssuer, secrets_seen: SecretsSeen) -> tuple[str, ECKey]:
    key = new_key()
    return secrets_seen.add(issuer.token(cnf={"jkt": jkt_of(key)})), key


def dpop_headers(
    token: str, key: ECKey, clock: FrozenClock, nonce: str | None = None
) -> dict[str, str]:
    claims: dict[str, Any] = {"iat": int(clock.timestamp())}
    if nonce is not None:
        claims["nonce"] = nonce
    return {
        "Authorization": f"DPoP {token}",
        "DPoP": proof(key, "GET", URL, access_token=token, **claims),
    }


def assert_asks_for_a_nonce(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in challenge
    nonce: str = response.headers["dpop-nonce"]
    assert nonce
    return nonce


async def test_a_proof_without_a_nonce_is_asked_to_retry_with_one(
    replica: Replica, bound: tuple[str, ECKey], clock: FrozenClock
) -> None:
    token, key = bound
    async with replica(SECRET) as client:
        refused = await client.get("/me", headers=dpop_headers(token, key, clock))
        nonce = assert_asks_for_a_nonce(refused)
        ok = await client.get("/me", headers=dpop_headers(token, key, clock, nonce))
        assert ok.status_code == 200, ok.text
        # RFC 9449 §9: a successful answer may carry the nonce to use next.
        assert ok.headers["dpop-nonce"] == nonce


async def test_a_nonce_is_good_for_its_window_and_the_next_then_stale(
    replica: Replica, bound: tuple[str, ECKey], clock: FrozenClock
) -> None:
    token, key = bound
    async with replica(SECRET) as client:
        nonce = assert_asks_for_a_nonce(
            await client.get("/me", headers=dpop_headers(token, key, clock))
        )
        clock.advance(WINDOW_S)
        ok = await client.get("/me", headers=dpop_headers(token, key, clock, nonce))
        assert ok.status_code == 200, ok.text
        rotated = ok.headers["dpop-nonce"]
        assert rotated != nonce
        clock.advance(WINDOW_S)
        stale = await client.get("/me", headers=dpop_headers(token, key, clock, nonce))
        assert assert_asks_for_a_nonce(stale) not in (nonce, rotated)
        assert (
            await client.get("/me", headers=dpop_headers(token, key, clock, "made-up"))
        ).status_code == 401


async def test_replicas_sharing_the_secret_accept_each_other_s_nonces(
    replica: Replica, bound: tuple[str, ECKey], clock: FrozenClock
) -> None:
    token, key = bound
    async with (
        replica(SECRET) as one,
        replica(SECRET) as two,
        replica(secrets.token_bytes(32)) as other,
    ):
        nonce = assert_asks_for_a_nonce(
            await one.get("/me", headers=dpop_headers(token, key, clock))
        )
        ok = await two.get("/me", headers=dpop_headers(token, key, clock, nonce))
        assert ok.status_code == 200, ok.text
        assert_asks_for_a_nonce(
            await other.get("/me", headers=dpop_headers(token, key, clock, nonce))
        )


async def test_a_bearer_request_of_an_unbound_token_needs_no_nonce(
    replica: Replica, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    async with replica(SECRET) as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        assert "dpop-nonce" not in ok.headers


def test_the_guard_s_nonces_are_never_the_provider_s(clock: FrozenClock) -> None:
    guard = guard_nonces(SECRET, clock=clock)
    # Even an operator who gives both the same key: the purposes keep them apart.
    provider = DpopNonces(guard.secret, clock)
    assert guard.is_valid(guard.current())
    assert not provider.is_valid(guard.current())
    assert not guard.is_valid(provider.current())
    assert not guard.is_valid(None)


def test_a_short_nonce_secret_is_refused(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        guard_nonces(b"short", clock=clock)
    # Without a secret, each process makes its own.
    assert not guard_nonces(clock=clock).is_valid(guard_nonces(clock=clock).current())
