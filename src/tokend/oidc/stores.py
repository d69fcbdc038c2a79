"""The small interfaces the provider's logic needs; ``sql.py`` implements them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tokend.oidc.records import AuthorizationCode, Client, RefreshToken, Session, User


class ClientStore(Protocol):
    async def get(self, client_id: str) -> Client | None: ...


class ClientRegistry(ClientStore, Protocol):
    """Administration of clients (CLI, admin API)."""

    async def add(self, client: Client) -> None:
        """Raises Conflict when the client id exists."""
        ...

    async def replace(self, client: Client) -> None:
        """Raises NotFound when the client does not exist."""
        ...

    async def remove(self, client_id: str) -> bool: ...

    async def all(self) -> Sequence[Client]: ...


class UserStore(Protocol):
    async def by_id(self, user_id: str) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """Case-insensitive lookup."""
        ...


class UserRegistry(UserStore, Protocol):
    async def add(self, user: User) -> None:
        """Raises Conflict when the email is taken (case-insensitively)."""
        ...

    async def replace(self, user: User) -> None: ...

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """Store a new password hash and end the user's sessions."""
        ...

    async def remove(self, user_id: str) -> bool: ...

    async def all(self) -> Sequence[User]: ...


@dataclass(frozen=True, slots=True)
class ConsumedCode:
    code: AuthorizationCode
    #: True when the code had been used before: a replay.
    was_used: bool


class CodeStore(Protocol):
    async def save(self, code: AuthorizationCode) -> None: ...

    async def consume(self, code_hash: str, client_id: str, now: datetime) -> ConsumedCode | None:
        """Mark the code used atomically; a second call reports ``was_used``. None: unknown, or
        issued to another client, in which case nothing is marked."""
        ...


@dataclass(frozen=True, slots=True)
class Rotation:
    """Outcome of rotating a refresh token."""

    won: bool
    #: When the token had been rotated already: when, and its successor (encrypted), if kept.
    rotated_at: datetime | None = None
    successor_enc: str | None = None


class RefreshStore(Protocol):
    async def save(self, token: RefreshToken, token_hash: str) -> None: ...

    async def find(self, token_hash: str) -> RefreshToken | None: ...

    async def rotate(
        self,
        old: RefreshToken,
        successor: RefreshToken,
        successor_hash: str,
        successor_enc: str | None,
        now: datetime,
    ) -> Rotation:
        """Atomically mark ``old`` rotated and save ``successor``; only one caller wins.
        ``successor_enc`` (kept to answer a reuse within a grace period) may be None."""
        ...

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        """Revoke every refresh (and opaque access) token of the grant; how many."""
        ...

    async def grants_of(self, user_id: str, issued_since: datetime, now: datetime) -> set[str]:
        """The user's grants that may still hold a live token at ``now``: refresh families and
        opaque access tokens neither revoked nor expired, and codes redeemed at or after
        ``issued_since`` (their JWT access tokens are written nowhere)."""
        ...


class ConsentStore(Protocol):
    async def granted(self, user_id: str, client_id: str) -> frozenset[str]: ...

    async def grant(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> None: ...


class SessionStore(Protocol):
    async def create(self, id_hash: str, session: Session) -> None: ...

    async def get(self, id_hash: str, now: datetime) -> Session | None: ...

    async def end(self, id_hash: str) -> None: ...


class RevokedKind(StrEnum):
    """What a revocation denies: one JWT access token, or every token of a grant."""

    JTI = "jti"
    GRANT = "grant"


@dataclass(frozen=True, slots=True)
class Revoked:
    """One deny-list entry: a ``jti`` or a grant id, never a token."""

    kind: RevokedKind
    value: str


class RevocationStore(Protocol):
    """Durable deny-list; every method raises ``TemporarilyUnavailable`` when it cannot answer."""

    async def add(self, entry: Revoked, expires_at: datetime) -> None:
        """Record ``entry`` until ``expires_at``; a repeat keeps the later expiry."""
        ...

    async def revoked(self, entries: Sequence[Revoked], now: datetime) -> dict[Revoked, datetime]:
        """Which of ``entries`` are revoked at ``now``, each with the expiry of its row."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the entries that expired at or before ``now``; how many."""
        ...


class InteractionStore(Protocol):
    """Pending sign-ins by uid, each a JSON object, until ``expires_at``."""

    async def save(self, uid: str, data: Mapping[str, object], expires_at: datetime) -> None:
        """Create or replace."""
        ...

    async def load(self, uid: str, now: datetime) -> dict[str, object] | None: ...

    async def delete(self, uid: str) -> None: ...

    async def purge(self, now: datetime) -> int:
        """Delete the interactions that expired at or before ``now``; how many."""
        ...


class EmailLinkStore(Protocol):
    """One-time mail links by the hash of their token."""

    async def add(self, link_hash: str, kind: str, user_id: str, expires_at: datetime) -> None: ...

    async def find(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        """The user id of the live link with one of ``link_hashes`` (one per pepper)."""
        ...

    async def use(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        """Like ``find``, and delete the link atomically: only one caller gets the user id."""
        ...

    async def forget_user(self, user_id: str, kind: str) -> None:
        """Delete every link of that kind the user still has."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the links that expired at or before ``now``; how many."""
        ...
