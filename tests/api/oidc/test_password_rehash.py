"""Password hashing costs are settings (``oidc.accounts.argon2_*``, RFC 9106 §4): a hash made
with other costs is made again with the current ones at the user's next sign-in with the
password, the only time the password is at hand; a wrong password changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update

from tests.api.oidc.conftest import (
    PASSWORD,
    Register,
    code_params,
    csrf_of,
    pkce_pair,
    sign_in_and_consent,
)
from tests.conftest import TEST_ARGON2
from tokend.core.crypto import PasswordHasher
from tokend.oidc.models import OidcUserRow
from tokend.store.engine import Database


async def stored_hash(database: Database, user_id: str) -> str:
    async with database.sessions() as session:
        found = await session.scalar(
            select(OidcUserRow.password_hash).where(OidcUserRow.id == user_id)
        )
    assert found is not None
    return found


async def test_a_hash_made_with_other_costs_is_redone_at_the_next_sign_in(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    database: Database,
) -> None:
    client = await register(skip_consent=True)
    current = f"m={TEST_ARGON2['argon2_memory_kib']},t=1,p=1"
    assert f"${current}$" in await stored_hash(database, user["id"])
    older = await PasswordHasher.argon2id(128, 2, 1).hash(PASSWORD)
    async with database.sessions.begin() as session:
        await session.execute(
            update(OidcUserRow).where(OidcUserRow.id == user["id"]).values(password_hash=older)
        )
    # A wrong password: refused, and the stored hash stays as it was.
    _, challenge = pkce_pair()
    response = await http.get("/authorize", params=code_params(client.client_id, challenge))
    page = await http.get(response.headers["location"])
    uid = response.headers["location"].rsplit("/", 1)[1]
    refused = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": "not it"},
    )
    assert refused.status_code == 400
    assert await stored_hash(database, user["id"]) == older
    # The password: signed in, and the hash is made again with the current costs.
    http.cookies.clear()
    query = await sign_in_and_consent(http, code_params(client.client_id, challenge), user["email"])
    assert "code" in query
    rehashed = await stored_hash(database, user["id"])
    assert f"${current}$" in rehashed
    assert await PasswordHasher.argon2id(64, 1, 1).verify(PASSWORD, rehashed)
