"""Authorization codes and refresh tokens: the one-time and rotating parts of a grant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import FromClause, RowMapping, and_, bindparam, insert, select, union, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from tokend.oidc.models import (
    OidcAccessTokenRow,
    OidcCodeRow,
    OidcConsentRow,
    OidcGrantClaimsRow,
    OidcRefreshTokenRow,
    OidcUserRow,
)
from tokend.oidc.records import (
    AuthorizationCode,
    ConsumedCode,
    RefreshInGrant,
    RefreshToken,
    Rotation,
)
from tokend.oidc.sql._rows import rowcount, scope_text, scopes_of
from tokend.oidc.sql.grant_claims import EXTEND as extend_claims
from tokend.oidc.sql.grant_claims import extend_where
from tokend.oidc.sql.users import user_from
from tokend.store.driver import DriverStatement, driver_connection
from tokend.store.engine import Database

#: A row's values by column name: a Core row's mapping, or what ``store.driver`` returns.
Row = RowMapping | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SqlCodes:
    db: Database

    async def save(self, code: AuthorizationCode) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                OidcCodeRow(
                    code_hash=code.code_hash,
                    grant_id=code.grant_id,
                    client_id=code.client_id,
                    user_id=code.user_id,
                    redirect_uri=code.redirect_uri,
                    scope=scope_text(code.scopes),
                    nonce=code.nonce,
                    code_challenge=code.code_challenge,
                    code_challenge_method=code.code_challenge_method,
                    auth_time=code.auth_time,
                    acr=code.acr,
                    amr=list(code.amr),
                    expires_at=code.expires_at,
                    used_at=None,
                    id_token_claims=list(code.id_token_claims) or None,
                    dpop_jkt=code.dpop_jkt,
                    sid=code.sid,
                )
            )

    async def consume(self, code_hash: str, client_id: str, now: datetime) -> ConsumedCode | None:
        async with self.db.sessions.begin() as session:
            # RFC 6749 §4.1.3: the code is bound to its client; another client's attempt must
            # neither use it up nor count as a replay, so the client is part of the condition.
            result = await session.execute(
                update(OidcCodeRow)
                .where(
                    OidcCodeRow.code_hash == code_hash,
                    OidcCodeRow.client_id == client_id,
                    OidcCodeRow.used_at.is_(None),
                )
                .values(used_at=now)
            )
            row = await session.get(OidcCodeRow, code_hash)
            if row is None or row.client_id != client_id:
                return None
            code = AuthorizationCode(
                code_hash=row.code_hash,
                grant_id=row.grant_id,
                client_id=row.client_id,
                user_id=row.user_id,
                redirect_uri=row.redirect_uri,
                scopes=scopes_of(row.scope),
                nonce=row.nonce,
                code_challenge=row.code_challenge,
                code_challenge_method=row.code_challenge_method,
                auth_time=row.auth_time,
                acr=row.acr,
                expires_at=row.expires_at,
                id_token_claims=tuple(row.id_token_claims or ()),
                dpop_jkt=row.dpop_jkt,
                amr=tuple(row.amr or ()),
                sid=row.sid,
            )
            return ConsumedCode(code, was_used=rowcount(result) == 0)


def _refresh_of(values: Row) -> RefreshToken:
    """A refresh token from its row's values by column name (a Core row: no ORM instance)."""
    return RefreshToken(
        id=values["id"],
        grant_id=values["grant_id"],
        client_id=values["client_id"],
        user_id=values["user_id"],
        scopes=scopes_of(values["scope"]),
        auth_time=values["auth_time"],
        acr=values["acr"],
        expires_at=values["expires_at"],
        rotated_at=values["rotated_at"],
        revoked_at=values["revoked_at"],
        dpop_jkt=values["dpop_jkt"],
        amr=tuple(values["amr"] or ()),
        sid=values["sid"],
    )


def _refresh_values(token: RefreshToken, token_hash: str, now: datetime) -> dict[str, object]:
    return {
        "id": token.id,
        "token_hash": token_hash,
        "grant_id": token.grant_id,
        "client_id": token.client_id,
        "user_id": token.user_id,
        "scope": scope_text(token.scopes),
        "auth_time": token.auth_time,
        "acr": token.acr,
        "created_at": now,
        "expires_at": token.expires_at,
        "dpop_jkt": token.dpop_jkt,
        "amr": list(token.amr),
        "sid": token.sid,
    }


#: The columns a new refresh token is written with (:func:`_refresh_values`).
_NEW_COLUMNS = (
    "id", "token_hash", "grant_id", "client_id", "user_id", "scope", "auth_time", "acr",
    "created_at", "expires_at", "dpop_jkt", "amr", "sid",
)  # fmt: skip


# A refresh (RFC 6749 §6) is the provider's one hot path that writes: its statements are built
# once, here, and run on plain connections, not through the ORM session. Each statement built
# per request and run through the session cost about 0.5 ms of CPU on the bench machine, and a
# refresh ran four reads and two writes that way (bench oidc_refresh_postgres).
_TOKENS = OidcRefreshTokenRow.__table__
_USERS = OidcUserRow.__table__
_CONSENTS = OidcConsentRow.__table__
_CLAIMS = OidcGrantClaimsRow.__table__
#: The token, its user, the user's consent to its client and the grant's kept claims, at once.
_IN_GRANT = (
    select(
        *_TOKENS.c,
        *(column.label(f"users__{column.name}") for column in _USERS.c),
        _CONSENTS.c.scope.label("consented"),
        _CLAIMS.c.expires_at.label("claims_until"),
    )
    .select_from(
        _TOKENS.outerjoin(_USERS, _USERS.c.id == _TOKENS.c.user_id)
        .outerjoin(
            _CONSENTS,
            and_(
                _CONSENTS.c.user_id == _TOKENS.c.user_id,
                _CONSENTS.c.client_id == _TOKENS.c.client_id,
            ),
        )
        .outerjoin(_CLAIMS, _CLAIMS.c.grant_id == _TOKENS.c.grant_id)
    )
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)
_FIND = select(*_TOKENS.c).where(_TOKENS.c.token_hash == bindparam("token_hash"))
#: The conditional UPDATE is the arbiter: on PostgreSQL a concurrent rotation waits for this
#: row lock and then sees rotated_at set; SQLite serialises writers.
_ROTATE = (
    update(OidcRefreshTokenRow)
    .where(
        _TOKENS.c.id == bindparam("old_id"),
        _TOKENS.c.rotated_at.is_(None),
        _TOKENS.c.revoked_at.is_(None),
    )
    .values(rotated_at=bindparam("rotated"), successor_enc=bindparam("sealed"))
)
_INSERT = insert(OidcRefreshTokenRow).values({name: bindparam(name) for name in _NEW_COLUMNS})
#: What a losing rotation reads: when the token was rotated, and its kept successor.
_ROTATED = select(_TOKENS.c.rotated_at, _TOKENS.c.successor_enc).where(
    _TOKENS.c.id == bindparam("old_id")
)


def _rotate_at_once() -> Insert:
    """PostgreSQL: the rotation, the successor and the claims' extension as one statement
    (data-modifying CTEs), so one round trip where a transaction took four (BEGIN, UPDATE,
    INSERT, COMMIT). A statement is atomic on its own, and the UPDATE is still the arbiter:
    a concurrent rotation waits for its row lock, then finds ``rotated_at`` set and inserts
    nothing. The claims are extended only when ``until`` is given and the rotation won
    (``expires_at < NULL`` is never true)."""
    won = _ROTATE.returning(_TOKENS.c.grant_id).cte("won")
    claims = extend_where(_CLAIMS.c.grant_id.in_(select(won.c.grant_id))).cte("claims")
    successor = select(*(bindparam(name, type_=_TOKENS.c[name].type) for name in _NEW_COLUMNS))
    return (
        insert(OidcRefreshTokenRow)
        .from_select(list(_NEW_COLUMNS), successor.select_from(won))
        .add_cte(claims)
    )


@dataclass(frozen=True, slots=True)
class _OnDriver:
    """Statements compiled for an asyncpg engine (``store.driver``)."""

    in_grant: DriverStatement
    rotate: DriverStatement
    rotated: DriverStatement


@cache
def _on_driver(dialect: Dialect) -> _OnDriver:
    return _OnDriver(
        *(
            DriverStatement.compile(statement, dialect)
            for statement in (_IN_GRANT, _rotate_at_once(), _ROTATED)
        )
    )


def _columns(values: Row, table: FromClause, prefix: str = "") -> dict[str, Any]:
    """``table``'s columns of a joined row (labelled ``prefix`` + name), by column name."""
    return {column.name: values[prefix + column.name] for column in table.c}


def _in_grant_of(values: Row) -> RefreshInGrant:
    """A row of ``_IN_GRANT``, by column key."""
    user = _columns(values, _USERS, "users__")
    consented = values["consented"]
    return RefreshInGrant(
        _refresh_of(values),
        user_from(user) if user["id"] is not None else None,
        scopes_of(consented) if consented is not None else frozenset(),
        values["claims_until"],
    )


@dataclass(frozen=True, slots=True)
class SqlRefreshTokens:
    db: Database

    async def save(self, token: RefreshToken, token_hash: str) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(_INSERT, _refresh_values(token, token_hash, token.auth_time))

    async def find(self, token_hash: str) -> RefreshToken | None:
        async with self.db.autocommit.connect() as conn:
            row = (await conn.execute(_FIND, {"token_hash": token_hash})).one_or_none()
        return _refresh_of(row._mapping) if row is not None else None

    async def find_in_grant(self, token_hash: str) -> RefreshInGrant | None:
        if self.db.is_asyncpg:
            statement = _on_driver(self.db.engine.dialect).in_grant
            async with driver_connection(self.db) as driver:
                record = await driver.fetchrow(statement.sql, token_hash)
            return _in_grant_of(statement.row(record)) if record is not None else None
        async with self.db.autocommit.connect() as conn:
            row = (await conn.execute(_IN_GRANT, {"token_hash": token_hash})).one_or_none()
        return _in_grant_of(row._mapping) if row is not None else None

    async def rotate(
        self,
        old: RefreshToken,
        successor: RefreshToken,
        successor_hash: str,
        successor_enc: str | None,
        now: datetime,
        claims_until: datetime | None = None,
    ) -> Rotation:
        rotation: dict[str, object] = {"old_id": old.id, "rotated": now, "sealed": successor_enc}
        new = _refresh_values(successor, successor_hash, now)
        claims: dict[str, object] = {"grant": old.grant_id, "until": claims_until}
        if self.db.is_asyncpg:
            return await self._rotate_on_driver({**new, **rotation, "until": claims_until})
        async with self.db.engine.begin() as conn:
            if rowcount(await conn.execute(_ROTATE, rotation)) == 1:
                await conn.execute(_INSERT, new)
                if claims_until is not None:
                    await conn.execute(extend_claims, claims)
                return Rotation(won=True)
            row = (await conn.execute(_ROTATED, rotation)).one_or_none()
        return Rotation(won=False) if row is None else Rotation(False, row[0], row[1])

    async def _rotate_on_driver(self, params: dict[str, object]) -> Rotation:
        """:meth:`rotate` as one statement on asyncpg (:func:`_rotate_at_once`); a lost
        rotation then reads what the winner left, in a statement of its own (a new snapshot,
        which sees the winner's commit)."""
        on = _on_driver(self.db.engine.dialect)
        async with driver_connection(self.db) as driver:
            status = await driver.execute(on.rotate.sql, *on.rotate.args(params))
            if status == "INSERT 0 1":  # the command tag: the successor was inserted
                return Rotation(won=True)
            record = await driver.fetchrow(on.rotated.sql, *on.rotated.args(params))
        if record is None:
            return Rotation(won=False)
        row = on.rotated.row(record)
        return Rotation(False, row["rotated_at"], row["successor_enc"])

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcRefreshTokenRow)
                .where(
                    OidcRefreshTokenRow.grant_id == grant_id,
                    OidcRefreshTokenRow.revoked_at.is_(None),
                )
                .values(revoked_at=now, successor_enc=None)
            )
            await session.execute(
                update(OidcAccessTokenRow)
                .where(
                    OidcAccessTokenRow.grant_id == grant_id,
                    OidcAccessTokenRow.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            return rowcount(result)

    async def grants_of(
        self,
        user_id: str | None,
        issued_since: datetime,
        now: datetime,
        client_id: str | None = None,
    ) -> set[str]:
        if user_id is None and client_id is None:
            raise ValueError("grants_of needs a user, a client or both")
        refresh = select(OidcRefreshTokenRow.grant_id).where(
            OidcRefreshTokenRow.revoked_at.is_(None),
            OidcRefreshTokenRow.expires_at > now,
        )
        opaque = select(OidcAccessTokenRow.grant_id).where(
            OidcAccessTokenRow.grant_id.is_not(None),
            OidcAccessTokenRow.revoked_at.is_(None),
            OidcAccessTokenRow.expires_at > now,
        )
        redeemed = select(OidcCodeRow.grant_id).where(OidcCodeRow.used_at >= issued_since)
        if user_id is not None:
            refresh = refresh.where(OidcRefreshTokenRow.user_id == user_id)
            opaque = opaque.where(OidcAccessTokenRow.user_id == user_id)
            redeemed = redeemed.where(OidcCodeRow.user_id == user_id)
        if client_id is not None:
            refresh = refresh.where(OidcRefreshTokenRow.client_id == client_id)
            opaque = opaque.where(OidcAccessTokenRow.client_id == client_id)
            redeemed = redeemed.where(OidcCodeRow.client_id == client_id)
        async with self.db.sessions() as session:
            rows = await session.scalars(union(refresh, opaque, redeemed))
            return {grant_id for grant_id in rows if grant_id is not None}
