"""Users in ``oidc_users`` (and their sessions when a password changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.clock import Clock
from tokend.core.errors import Conflict, NotFound
from tokend.oidc.models import (
    OidcPasskeyRow,
    OidcRecoveryCodeRow,
    OidcSessionRow,
    OidcTotpRow,
    OidcUpstreamLinkRow,
    OidcUserRow,
)
from tokend.oidc.phone_numbers import e164
from tokend.oidc.records import User
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


def user_of(row: OidcUserRow) -> User:
    return user_from({name: getattr(row, name) for name in _USER_COLUMNS})


#: The columns a :class:`User` is read from.
_USER_COLUMNS = (
    "id", "email", "email_verified", "name", "given_name", "family_name", "picture", "locale",
    "address", "phone_number", "phone_number_verified", "roles", "disabled", "password_hash",
    "groups", "client_roles",
)  # fmt: skip


def user_from(values: Mapping[str, Any]) -> User:
    """A user from its row's values by column name: an ORM row's (:func:`user_of`) or a Core
    row's, which costs no ORM instance (the refresh grant's joined read)."""
    return User(
        id=values["id"],
        email=values["email"],
        email_verified=values["email_verified"],
        name=values["name"],
        given_name=values["given_name"],
        family_name=values["family_name"],
        picture=values["picture"],
        locale=values["locale"],
        address=tuple((values["address"] or {}).items()),
        phone_number=values["phone_number"],
        phone_number_verified=bool(values["phone_number_verified"]),
        roles=tuple(values["roles"]),
        disabled=values["disabled"],
        password_hash=values["password_hash"],
        groups=tuple(values["groups"] or ()),
        client_roles={c: tuple(r) for c, r in (values["client_roles"] or {}).items()},
    )


def _user_values(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "email_key": user.email.lower(),
        "password_hash": user.password_hash,
        "email_verified": user.email_verified,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "picture": user.picture,
        "locale": user.locale,
        "address": dict(user.address) or None,
        "phone_number": user.phone_number,
        "phone_number_verified": user.phone_number_verified,
        "phone_key": e164(user.phone_number) if user.phone_number_verified else None,
        "roles": list(user.roles),
        "groups": list(user.groups),
        "client_roles": {c: list(r) for c, r in user.client_roles.items()},
        "disabled": user.disabled,
    }


@dataclass(frozen=True, slots=True)
class SqlUsers:
    db: Database
    clock: Clock

    async def by_id(self, user_id: str) -> User | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcUserRow, user_id)
            return user_of(row) if row is not None else None

    async def by_email(self, email: str) -> User | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(OidcUserRow).where(OidcUserRow.email_key == email.strip().lower())
            )
            return user_of(row) if row is not None else None

    async def by_verified_phone(self, number: str) -> User | None:
        async with self.db.sessions() as session:
            rows = list(
                await session.scalars(
                    select(OidcUserRow).where(OidcUserRow.phone_key == number).limit(2)
                )
            )
            return user_of(rows[0]) if len(rows) == 1 else None

    async def add(self, user: User) -> None:
        row = OidcUserRow(
            id=user.id,
            failed_logins=0,
            locked_until=None,
            created_at=self.clock.now(),
            **_user_values(user),
        )
        try:
            async with self.db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict("a user with this email already exists") from None

    async def replace(self, user: User) -> None:
        try:
            async with self.db.sessions.begin() as session:
                result = await session.execute(
                    update(OidcUserRow)
                    .where(OidcUserRow.id == user.id)
                    .values(**_user_values(user))
                )
        except IntegrityError:
            raise Conflict("a user with this email already exists") from None
        if rowcount(result) == 0:
            raise NotFound(f"no user {user.id}")

    async def remove(self, user_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(delete(OidcUserRow).where(OidcUserRow.id == user_id))
            await session.execute(delete(OidcSessionRow).where(OidcSessionRow.user_id == user_id))
            # Their second factors go with them: a seed must not outlive its account.
            await session.execute(delete(OidcTotpRow).where(OidcTotpRow.user_id == user_id))
            await session.execute(
                delete(OidcRecoveryCodeRow).where(OidcRecoveryCodeRow.user_id == user_id)
            )
            await session.execute(delete(OidcPasskeyRow).where(OidcPasskeyRow.user_id == user_id))
            # So are their upstream links: the upstream account could sign in to no one, or to
            # a new account that took the id.
            await session.execute(
                delete(OidcUpstreamLinkRow).where(OidcUpstreamLinkRow.user_id == user_id)
            )
            return rowcount(result) > 0

    async def all(self) -> Sequence[User]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(OidcUserRow).order_by(OidcUserRow.email_key))
            return [user_of(row) for row in rows]

    async def rehash_password(self, user_id: str, stored: str, password_hash: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OidcUserRow)
                .where(OidcUserRow.id == user_id, OidcUserRow.password_hash == stored)
                .values(password_hash=password_hash)
            )

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """A new password also ends the user's sessions."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OidcUserRow)
                .where(OidcUserRow.id == user_id)
                .values(password_hash=password_hash)
            )
            await session.execute(delete(OidcSessionRow).where(OidcSessionRow.user_id == user_id))

    async def mark_verified(self, user_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcUserRow).where(OidcUserRow.id == user_id).values(email_verified=True)
            )
            return rowcount(result) > 0
