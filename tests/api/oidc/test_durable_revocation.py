"""Revocations of JWT access tokens and grants live in the database, not only in the cache.

Each test revokes, then asks a fresh process on the same database: its memory cache starts
empty, as after a restart of a memory-only replica (the Redis case is in test_with_redis.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from tests.api.oidc.conftest import Register, RegisteredClient, code_params, pkce_pair, replica
from tests.api.oidc.conftest import sign_in_and_consent as consent
from tests.api.oidc.test_authorization_code import exchange, tokens_for
from tests.api.oidc.test_refresh_and_revocation import introspect, refresh
from tests.queries import selects_from
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.revocations import PURGE_EVERY_S, PURGE_JOB
from tokend.jobs.inprocess import InProcessJobs
from tokend.store.revocations import RevocationRow

#: The deny-list's table (``core.revocations``).
TABLE = RevocationRow.__tablename__


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register()
    return client


async def assert_refused(http: httpx.AsyncClient, rp: RegisteredClient, access: str) -> None:
    assert (await introspect(http, rp, access)) == {"active": False}
    userinfo = await http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 401
    assert userinfo.headers["www-authenticate"] == (
        'Bearer realm="tokend", error="invalid_token", '
        'error_description="the access token is invalid, expired or revoked"'
    )


async def test_a_revoked_access_token_stays_revoked_in_a_fresh_process(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
) -> None:
    tokens = await tokens_for(http, rp, user)
    revoked = await http.post("/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    assert revoked.status_code == 200
    async with replica(oidc_settings, clock) as fresh:
        await assert_refused(fresh, rp, tokens["access_token"])


async def test_a_replayed_code_revokes_its_tokens_for_a_fresh_process_too(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
) -> None:
    verifier, challenge = pkce_pair()
    query = await consent(http, code_params(rp.client_id, challenge), user["email"])
    first = (await exchange(http, rp, query["code"], verifier)).json()
    replay = await exchange(http, rp, query["code"], verifier)
    assert replay.json()["error"] == "invalid_grant"
    async with replica(oidc_settings, clock) as fresh:
        await assert_refused(fresh, rp, first["access_token"])


async def test_a_reused_refresh_token_revokes_its_family_for_a_fresh_process_too(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
) -> None:
    first = await tokens_for(http, rp, user)
    second = (await refresh(http, rp, first["refresh_token"])).json()
    clock.advance(11)  # past the grace period: the reuse is a leak
    assert (await refresh(http, rp, first["refresh_token"])).json()["error"] == "invalid_grant"
    async with replica(oidc_settings, clock) as fresh:
        await assert_refused(fresh, rp, second["access_token"])
        await assert_refused(fresh, rp, first["access_token"])


async def test_repeated_introspection_asks_the_database_once(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], oidc_app: FastAPI
) -> None:
    tokens = await tokens_for(http, rp, user)
    with selects_from(oidc_app, TABLE) as before_revocation:
        for _ in range(5):
            assert (await introspect(http, rp, tokens["access_token"]))["active"] is True
    assert len(before_revocation) == 1
    await http.post("/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    with selects_from(oidc_app, TABLE) as after_revocation:
        for _ in range(5):
            assert (await introspect(http, rp, tokens["access_token"])) == {"active": False}
    assert after_revocation == []


@contextmanager
def revocation_writes_fail(app: FastAPI, *, reads_too: bool = False) -> Iterator[None]:
    """The database refuses every write to the deny-list's table (a disk full, a failover)."""

    def refuse(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        is_read = statement.lstrip().upper().startswith("SELECT")
        if TABLE in statement and (reads_too or not is_read):
            raise OperationalError(statement, None, Exception("disk I/O error"))

    engine = app.state.resources.get().database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


async def test_a_revocation_the_database_did_not_record_answers_503_not_success(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], oidc_app: FastAPI
) -> None:
    tokens = await tokens_for(http, rp, user)
    with revocation_writes_fail(oidc_app):
        response = await http.post("/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    # RFC 7009 §2.2.1: 503 tells the client the token was not revoked and to try again.
    assert response.status_code == 503
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "Revocations cannot be checked or recorded right now; "
        "try again later.",
    }
    assert (await introspect(http, rp, tokens["access_token"]))["active"] is True
    retried = await http.post("/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    assert retried.status_code == 200
    assert (await introspect(http, rp, tokens["access_token"])) == {"active": False}


async def test_an_unanswerable_revocation_check_refuses_the_token_with_503(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], oidc_app: FastAPI
) -> None:
    tokens = await tokens_for(http, rp, user)
    with revocation_writes_fail(oidc_app, reads_too=True):
        # Nothing cached yet for this token: fail closed rather than guess "not revoked".
        response = await http.post(
            "/introspect", data={"token": tokens["access_token"]}, auth=rp.auth
        )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert (await introspect(http, rp, tokens["access_token"]))["active"] is True


async def test_the_purge_job_deletes_revocations_once_their_tokens_have_expired(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    user: dict[str, Any],
    oidc_app: FastAPI,
    clock: FrozenClock,
) -> None:
    old = await tokens_for(http, rp, user)
    await http.post("/revoke", data={"token": old["access_token"]}, auth=rp.auth)
    clock.advance(old["expires_in"] + 61)  # the token expired, and the minute of margin too
    http.cookies.clear()  # sign in again
    new = await tokens_for(http, rp, user)
    await http.post("/revoke", data={"token": new["access_token"]}, auth=rp.auth)
    jobs = oidc_app.state.resources.get().jobs
    assert isinstance(jobs, InProcessJobs)
    purge = jobs.specs[PURGE_JOB]
    assert purge.every_s == PURGE_EVERY_S
    await purge.run()
    assert await _revoked_jtis(oidc_app, old, new) == {_jti(new)}
    assert (await introspect(http, rp, new["access_token"])) == {"active": False}


def _jti(tokens: dict[str, Any]) -> str:
    import jwt

    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return str(claims["jti"])


async def _revoked_jtis(app: FastAPI, *tokens: dict[str, Any]) -> set[str]:
    database = app.state.resources.get().database
    jtis = [_jti(t) for t in tokens]
    async with database.sessions() as session:
        rows = await session.scalars(
            select(RevocationRow.value).where(
                RevocationRow.kind == "jti", RevocationRow.value.in_(jtis)
            )
        )
        assert await session.scalar(select(func.count()).select_from(RevocationRow)) >= 1
        return set(rows)
