"""The small interfaces the provider's logic needs; ``sql/`` implements them.

Each takes and returns the plain records of ``records.py``. The contract of every method is
written on it; ``tests/unit/oidc/test_*_store_contract.py`` checks it against the in-memory,
SQLite and PostgreSQL implementations alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from tokend.oidc.records import (
    AuthorizationCode,
    BackchannelPoll,
    BackchannelRequest,
    Client,
    Consent,
    ConsumedCode,
    DeviceAuthorization,
    DevicePoll,
    OfferedUpstream,
    OpaqueAccessToken,
    Passkey,
    RefreshInGrant,
    RefreshToken,
    Rotation,
    Session,
    StoredUpstream,
    TotpFactor,
    UpstreamLink,
    User,
)
from tokend.oidc.settings import UpstreamSettings

#: What a sign-in's browser was to the user (``KnownDeviceStore.seen``).
DeviceSeen = Literal["known", "new", "first"]


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

    async def remove(self, client_id: str) -> bool:
        """Delete the client; whether it existed."""
        ...

    async def all(self) -> Sequence[Client]:
        """Every client, by client id."""
        ...


class UserStore(Protocol):
    async def by_id(self, user_id: str) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """Case-insensitive lookup."""
        ...

    async def rehash_password(self, user_id: str, stored: str, password_hash: str) -> None:
        """The same password under the current hashing costs: replaces ``stored`` only if it is
        still the user's hash (a password changed meanwhile stays); sessions are kept."""
        ...


class UserPhones(Protocol):
    """CIBA ``tel:`` login hints: users by their verified phone number."""

    async def by_verified_phone(self, number: str) -> User | None:
        """The one user whose verified ``phone_number`` is ``number`` in E.164
        (``phone_numbers.e164``); None when nobody's is, or several share it."""
        ...


class UserAccounts(UserStore, Protocol):
    """What changes when a user proves who they are (reset and verification links)."""

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """Store a new password hash and end the user's sessions."""
        ...

    async def mark_verified(self, user_id: str) -> bool:
        """Mark the user's email verified; whether the user exists."""
        ...


class UserRegistry(UserAccounts, Protocol):
    """Administration of users (CLI, admin API)."""

    async def add(self, user: User) -> None:
        """Raises Conflict when the email is taken (case-insensitively)."""
        ...

    async def replace(self, user: User) -> None:
        """Raises NotFound when the user does not exist, Conflict when the email is taken."""
        ...

    async def remove(self, user_id: str) -> bool:
        """Delete the user and end their sessions; whether the user existed."""
        ...

    async def all(self) -> Sequence[User]:
        """Every user, by email."""
        ...


class CodeStore(Protocol):
    async def save(self, code: AuthorizationCode) -> None: ...

    async def consume(self, code_hash: str, client_id: str, now: datetime) -> ConsumedCode | None:
        """Mark the code used atomically; a second call reports ``was_used``. None: unknown, or
        issued to another client, in which case nothing is marked."""
        ...


class RefreshStore(Protocol):
    async def save(self, token: RefreshToken, token_hash: str) -> None: ...

    async def find(self, token_hash: str) -> RefreshToken | None:
        """The token with that hash, rotated, revoked or expired as it may be."""
        ...

    async def find_in_grant(self, token_hash: str) -> RefreshInGrant | None:
        """The token with that hash (as ``find``), with its user, the scopes that user allows
        its client and the grant's claims' expiry, in one read: what a refresh checks."""
        ...

    async def rotate(
        self,
        old: RefreshToken,
        successor: RefreshToken,
        successor_hash: str,
        successor_enc: str | None,
        now: datetime,
        claims_until: datetime | None = None,
    ) -> Rotation:
        """Atomically mark ``old`` rotated and save ``successor``; only one caller wins.
        ``successor_enc`` (kept to answer a reuse within a grace period) may be None. With
        ``claims_until``, the winner also keeps the grant's UserInfo claims (if any) at least
        that long, in the same transaction."""
        ...

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        """Revoke every refresh (and opaque access) token of the grant; how many refresh
        tokens were still unrevoked."""
        ...

    async def grants_of(
        self,
        user_id: str | None,
        issued_since: datetime,
        now: datetime,
        client_id: str | None = None,
    ) -> set[str]:
        """The user's grants (every user's when ``user_id`` is None) that may still hold a live
        token at ``now``: refresh families and opaque access tokens neither revoked nor
        expired, and codes redeemed at or after ``issued_since`` (their JWT access tokens are
        written nowhere); only ``client_id``'s when given. One of the two is always given."""
        ...


class OpaqueTokenStore(Protocol):
    """Opaque access tokens by the hash of their value; JWT access tokens are stored nowhere."""

    async def add(self, token: OpaqueAccessToken) -> None: ...

    async def find(self, token_hashes: Sequence[str]) -> OpaqueAccessToken | None:
        """The token with one of ``token_hashes`` (one per pepper), revoked or expired as it
        may be."""
        ...

    async def revoke(self, token_hashes: Sequence[str], now: datetime) -> None:
        """Mark the token with one of ``token_hashes`` revoked at ``now``; none: nothing."""
        ...


class ConsentStore(Protocol):
    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        """The scopes the user allowed the client; empty when none."""
        ...

    async def of_user(self, user_id: str) -> Sequence[Consent]:
        """Every client the user allowed, latest first."""
        ...

    async def withdraw(self, user_id: str, client_id: str) -> bool:
        """Forget what the user allowed the client; whether there was anything."""
        ...

    async def grant(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> None:
        """Add ``scopes`` to what the user allowed the client."""
        ...


class SessionStore(Protocol):
    """Sign-in sessions by the hash of their cookie."""

    async def create(self, id_hash: str, session: Session) -> None: ...

    async def get(self, id_hash: str, now: datetime) -> Session | None:
        """The session, unless it expired at or before ``now`` (or was ended)."""
        ...

    async def end(self, id_hash: str) -> None:
        """Delete the session; none: nothing."""
        ...

    async def seen(self, id_hash: str, now: datetime) -> None:
        """Record that the session was used at ``now``."""
        ...

    async def of_user(self, user_id: str, now: datetime) -> Sequence[tuple[str, Session]]:
        """The user's live sessions with their id hashes, latest sign-in first."""
        ...


class PasskeyStore(Protocol):
    """WebAuthn credentials by their id."""

    async def add(self, passkey: Passkey) -> None:
        """Raises Conflict when the credential id is registered already."""
        ...

    async def get(self, credential_id: str) -> Passkey | None: ...

    async def of_user(self, user_id: str) -> Sequence[Passkey]:
        """The user's passkeys, oldest first."""
        ...

    async def used(self, credential_id: str, old_count: int, new_count: int, now: datetime) -> bool:
        """Record a sign-in: the new sign count, if the stored one is still ``old_count`` (two
        sign-ins racing with one assertion: one wins); whether it was."""
        ...

    async def remove(self, user_id: str, credential_id: str) -> bool: ...


class FactorStore(Protocol):
    """Second factors: one TOTP authenticator per user and its recovery codes (by hash)."""

    async def totp(self, user_id: str) -> TotpFactor | None: ...

    async def save_totp(self, factor: TotpFactor) -> None:
        """Create or replace the user's authenticator."""
        ...

    async def advance_totp(self, user_id: str, step: int, confirm: bool) -> bool:
        """Atomically record ``step`` as the last accepted one if it is later than the stored
        one (and mark the authenticator confirmed when ``confirm``); whether it was: of two
        callers presenting the same code, only one wins (RFC 6238 §5.2)."""
        ...

    async def replace_recovery_codes(self, user_id: str, code_hashes: Sequence[str]) -> None:
        """Forget the user's recovery codes and keep these instead."""
        ...

    async def use_recovery_code(
        self, user_id: str, code_hashes: Sequence[str], now: datetime
    ) -> bool:
        """Atomically mark the unused code with one of ``code_hashes`` (one per pepper) used;
        whether there was one: each code works once."""
        ...

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def forget(self, user_id: str) -> bool:
        """Delete the user's authenticator and recovery codes; whether there were any."""
        ...


class InteractionStore(Protocol):
    """Pending sign-ins by uid, each a JSON object, until ``expires_at``."""

    async def save(self, uid: str, data: Mapping[str, object], expires_at: datetime) -> None:
        """Create or replace."""
        ...

    async def load(self, uid: str, now: datetime) -> dict[str, object] | None:
        """The object saved last, unless it expired at or before ``now``."""
        ...

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


class RegistrationTokenStore(Protocol):
    """RFC 7592 §3: the registration access token of each self-registered client, by hash."""

    async def put(self, client_id: str, token_hash: str, now: datetime) -> None:
        """Create or replace the client's token hash."""
        ...

    async def hash_of(self, client_id: str) -> str | None:
        """The client's current token hash; None when it has none."""
        ...

    async def rotate(self, client_id: str, old_hash: str, new_hash: str, now: datetime) -> bool:
        """Replace ``old_hash`` by ``new_hash`` atomically; False when the stored hash is no
        longer ``old_hash`` (another update rotated it first)."""
        ...

    async def delete(self, client_id: str) -> None: ...


class InitialAccessTokenStore(Protocol):
    """RFC 7591 §3: initial access tokens by the hash of their value."""

    async def add(
        self,
        token_id: str,
        token_hash: str,
        expires_at: datetime,
        max_uses: int | None,
        now: datetime,
    ) -> None: ...

    async def is_usable(self, token_hashes: Sequence[str], now: datetime) -> bool:
        """Whether the token with one of ``token_hashes`` is unexpired and has uses left."""
        ...

    async def use(self, token_hashes: Sequence[str], now: datetime) -> bool:
        """Count one use atomically; False when it expired or was used up (only as many
        callers as it has uses get True)."""
        ...


class DeviceCodeStore(Protocol):
    """RFC 8628 device authorizations by the hashes of their device and user codes."""

    async def add(self, device: DeviceAuthorization) -> None:
        """Raises Conflict when the user code is taken (the caller draws another)."""
        ...

    async def pending(
        self, user_code_hashes: Sequence[str], now: datetime
    ) -> DeviceAuthorization | None:
        """The unexpired, still pending authorization with one of ``user_code_hashes``."""
        ...

    async def decide(
        self,
        device_code_hash: str,
        user_id: str,
        auth_time: datetime,
        approved: bool,
        now: datetime,
    ) -> bool:
        """Approve or deny a pending, unexpired authorization once; whether this call did."""
        ...

    async def poll(self, device_code_hash: str, client_id: str, now: datetime) -> DevicePoll | None:
        """The authorization of ``client_id`` with that device code (None: unknown, or another
        client's), and whether this poll came before ``next_poll_at``. Atomically moves
        ``next_poll_at`` on by the interval; a poll too soon adds 5 s to the interval first
        (RFC 8628 §3.5). Expired ones are returned too."""
        ...

    async def redeem(self, device_code_hash: str, now: datetime) -> bool:
        """Mark an approved authorization redeemed; only one caller gets True."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the authorizations that expired at or before ``now``; how many."""
        ...


class GrantClaimsStore(Protocol):
    """OIDC Core §5.5: the claims a ``claims`` request asked the UserInfo endpoint for, by
    grant id, for as long as a token of the grant may live."""

    async def save(
        self, grant_id: str, client_id: str, userinfo: Sequence[str], expires_at: datetime
    ) -> None:
        """Keep ``userinfo`` (claim names) for the grant of ``client_id`` until ``expires_at``."""
        ...

    async def extend(self, grant_id: str, until: datetime) -> None:
        """Keep the grant's claims at least until ``until``; nothing when it has none."""
        ...

    async def userinfo(self, grant_id: str, client_id: str, now: datetime) -> tuple[str, ...]:
        """The grant's claim names for ``client_id``; empty when none are kept, they expired
        by ``now``, or another client asked for them."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete what expired at or before ``now``; how many grants."""
        ...


class LogoutSessionStore(Protocol):
    """OpenID Back-Channel Logout: which clients got an ID token in which session."""

    async def remember(self, sid: str, client_id: str, user_id: str, now: datetime) -> None:
        """Record that ``client_id`` got an ID token in session ``sid`` (idempotent)."""
        ...

    async def claim(self, user_id: str, sid: str | None) -> list[tuple[str, str]]:
        """Delete and return the ``(sid, client_id)`` pairs of that session of the user (every
        session when ``sid`` is None), atomically: each pair goes to one caller only."""
        ...


class BackchannelRequestStore(Protocol):
    """CIBA Core §7 authentication requests, by public id and by the hash of ``auth_req_id``."""

    async def add(self, request: BackchannelRequest) -> None: ...

    async def get(self, request_id: str) -> BackchannelRequest | None: ...

    async def pending_of(self, user_id: str, now: datetime) -> Sequence[BackchannelRequest]:
        """The user's unexpired pending requests, oldest first (at most 50)."""
        ...

    async def by_decision_token(
        self, token_hashes: Sequence[str], now: datetime
    ) -> BackchannelRequest | None:
        """The unexpired pending request whose decision token has one of these hashes."""
        ...

    async def set_decision_token(self, request_id: str, token_hash: str, now: datetime) -> bool:
        """Replace the decision token of an unexpired pending request (the one before stops
        working); False when it is no longer pending or expired."""
        ...

    async def decide(
        self,
        request_id: str,
        user_id: str,
        approved: bool,
        auth_time: datetime,
        amr: Sequence[str],
        now: datetime,
    ) -> BackchannelRequest | None:
        """Approve or deny the user's pending, unexpired request once and forget its decision
        token: the request as decided when this call did it, None otherwise (another caller
        decided first, it expired, or it is not this user's)."""
        ...

    async def poll(
        self, auth_req_id_hash: str, client_id: str, now: datetime
    ) -> BackchannelPoll | None:
        """The request of ``client_id`` with that auth_req_id (None: unknown, or another
        client's), and whether this poll came before ``next_poll_at``. Atomically moves
        ``next_poll_at`` on by the interval; a poll too soon adds 5 s to the interval first
        (CIBA Core §11 ``slow_down``). Expired ones are returned too."""
        ...

    async def redeem(self, auth_req_id_hash: str, now: datetime) -> bool:
        """Mark an approved, unexpired request redeemed; only one caller gets True."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the requests that expired at or before ``now``; how many."""
        ...


class UpstreamLinkStore(Protocol):
    """Links between upstream accounts and local users: one per upstream account, one per user
    and upstream."""

    async def add(self, link: UpstreamLink) -> None:
        """Raises Conflict when the upstream account, or the user at that upstream, is linked."""
        ...

    async def by_subject(self, upstream_id: str, subject: str) -> UpstreamLink | None: ...

    async def of_user(self, user_id: str) -> Sequence[UpstreamLink]:
        """The user's links, oldest first."""
        ...

    async def used(self, upstream_id: str, subject: str, now: datetime) -> None: ...

    async def remove(self, user_id: str, upstream_id: str) -> bool: ...


class UpstreamStore(Protocol):
    """Upstream identity providers added through the admin API (``oidc_upstreams``)."""

    async def all(self) -> Sequence[StoredUpstream]:
        """Every stored upstream, oldest first."""
        ...

    async def offered(self) -> Sequence[OfferedUpstream]:
        """The id and name of every stored upstream, oldest first, without opening a secret
        (the login page reads them on every render)."""
        ...

    async def count(self) -> int: ...

    async def get(self, upstream_id: str) -> StoredUpstream | None: ...

    async def add(self, upstream: UpstreamSettings, now: datetime) -> StoredUpstream:
        """Raises Conflict when an upstream has the id already."""
        ...

    async def replace(self, upstream: UpstreamSettings, now: datetime) -> StoredUpstream | None:
        """None when no upstream has the id."""
        ...

    async def remove(self, upstream_id: str) -> int | None:
        """Remove the upstream and every link to it, in one transaction: how many links went;
        None when no upstream has the id."""
        ...


class KnownDeviceStore(Protocol):
    """The browsers each user has signed in from, by the hash of their device cookie."""

    async def seen(
        self, user_id: str, hashes: Sequence[str], now: datetime, keep: int
    ) -> DeviceSeen:
        """Record a sign-in of the user from the browser whose id hashes to one of ``hashes``
        (current pepper first, the one stored when new): ``known`` (seen before), ``new``, or
        ``first`` (the user had no browser yet). At most ``keep`` stay per user: the least
        recently seen go first."""
        ...
