"""In-memory implementations of every store Protocol of ``tokend.oidc.stores``.

The unit tests run the protocol core on them; the contract suites (``test_*_store_contract.py``)
hold them to the same assertions as the SQL stores, so they cannot drift. Like the SQL stores,
they share one database: a new password ends the user's sessions, revoking a grant revokes its
opaque access tokens too.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokend.core.errors import Conflict, NotFound
from tokend.oidc.phone_numbers import e164
from tokend.oidc.records import (
    AuthorizationCode,
    BackchannelPoll,
    BackchannelRequest,
    BackchannelStatus,
    Client,
    Consent,
    ConsumedCode,
    OpaqueAccessToken,
    RefreshInGrant,
    RefreshToken,
    Rotation,
    Session,
    User,
)


@dataclass
class _StoredCode:
    code: AuthorizationCode
    used_at: datetime | None = None


@dataclass
class _StoredRefresh:
    token: RefreshToken
    successor_enc: str | None = None


@dataclass
class _EmailLink:
    kind: str
    user_id: str
    expires_at: datetime


@dataclass
class MemoryDatabase:
    """The tables, as plain dicts the tests may also read and change."""

    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    codes: dict[str, _StoredCode] = field(default_factory=dict)
    #: Refresh tokens by the hash of their value.
    refresh: dict[str, _StoredRefresh] = field(default_factory=dict)
    #: Opaque access tokens by the hash of their value.
    opaque: dict[str, OpaqueAccessToken] = field(default_factory=dict)
    consents: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    consented_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    interactions: dict[str, tuple[dict[str, object], datetime]] = field(default_factory=dict)
    email_links: dict[str, _EmailLink] = field(default_factory=dict)
    #: CIBA requests by their public id.
    backchannel: dict[str, BackchannelRequest] = field(default_factory=dict)
    #: UserInfo claims by grant id: (client id, claim names, expiry).
    grant_claims: dict[str, tuple[str, tuple[str, ...], datetime]] = field(default_factory=dict)

    def end_sessions_of(self, user_id: str) -> None:
        for id_hash in [h for h, s in self.sessions.items() if s.user_id == user_id]:
            del self.sessions[id_hash]


@dataclass(frozen=True, slots=True)
class MemoryClients:
    db: MemoryDatabase

    async def get(self, client_id: str) -> Client | None:
        return self.db.clients.get(client_id)

    async def add(self, client: Client) -> None:
        if client.client_id in self.db.clients:
            raise Conflict(f"client {client.client_id} already exists")
        self.db.clients[client.client_id] = client

    async def replace(self, client: Client) -> None:
        if client.client_id not in self.db.clients:
            raise NotFound(f"no client {client.client_id}")
        self.db.clients[client.client_id] = client

    async def remove(self, client_id: str) -> bool:
        return self.db.clients.pop(client_id, None) is not None

    async def all(self) -> Sequence[Client]:
        return [self.db.clients[client_id] for client_id in sorted(self.db.clients)]


@dataclass(frozen=True, slots=True)
class MemoryUsers:
    db: MemoryDatabase

    async def by_id(self, user_id: str) -> User | None:
        return self.db.users.get(user_id)

    async def by_email(self, email: str) -> User | None:
        key = email.strip().lower()
        return next((u for u in self.db.users.values() if u.email.lower() == key), None)

    async def by_verified_phone(self, number: str) -> User | None:
        found = [
            u
            for u in self.db.users.values()
            if u.phone_number_verified and e164(u.phone_number) == number
        ]
        return found[0] if len(found) == 1 else None

    async def add(self, user: User) -> None:
        if user.id in self.db.users or self._email_taken(user):
            raise Conflict("a user with this email already exists")
        self.db.users[user.id] = user

    async def replace(self, user: User) -> None:
        if user.id not in self.db.users:
            raise NotFound(f"no user {user.id}")
        if self._email_taken(user):
            raise Conflict("a user with this email already exists")
        self.db.users[user.id] = user

    async def rehash_password(self, user_id: str, stored: str, password_hash: str) -> None:
        user = self.db.users.get(user_id)
        if user is not None and user.password_hash == stored:
            self.db.users[user_id] = dataclasses.replace(user, password_hash=password_hash)

    async def set_password(self, user_id: str, password_hash: str) -> None:
        user = self.db.users.get(user_id)
        if user is not None:
            self.db.users[user_id] = dataclasses.replace(user, password_hash=password_hash)
        self.db.end_sessions_of(user_id)

    async def mark_verified(self, user_id: str) -> bool:
        user = self.db.users.get(user_id)
        if user is None:
            return False
        self.db.users[user_id] = dataclasses.replace(user, email_verified=True)
        return True

    async def remove(self, user_id: str) -> bool:
        existed = self.db.users.pop(user_id, None) is not None
        self.db.end_sessions_of(user_id)
        return existed

    async def all(self) -> Sequence[User]:
        return sorted(self.db.users.values(), key=lambda u: u.email.lower())

    def _email_taken(self, user: User) -> bool:
        key = user.email.lower()
        return any(u.email.lower() == key and u.id != user.id for u in self.db.users.values())


@dataclass(frozen=True, slots=True)
class MemoryCodes:
    db: MemoryDatabase

    async def save(self, code: AuthorizationCode) -> None:
        self.db.codes[code.code_hash] = _StoredCode(code)

    async def consume(self, code_hash: str, client_id: str, now: datetime) -> ConsumedCode | None:
        stored = self.db.codes.get(code_hash)
        if stored is None or stored.code.client_id != client_id:
            return None
        was_used = stored.used_at is not None
        if not was_used:
            stored.used_at = now
        return ConsumedCode(stored.code, was_used)


@dataclass(frozen=True, slots=True)
class MemoryRefreshTokens:
    db: MemoryDatabase

    async def save(self, token: RefreshToken, token_hash: str) -> None:
        self.db.refresh[token_hash] = _StoredRefresh(token)

    async def find(self, token_hash: str) -> RefreshToken | None:
        stored = self.db.refresh.get(token_hash)
        return stored.token if stored is not None else None

    async def find_in_grant(self, token_hash: str) -> RefreshInGrant | None:
        token = await self.find(token_hash)
        if token is None:
            return None
        kept = self.db.grant_claims.get(token.grant_id)
        return RefreshInGrant(
            token,
            self.db.users.get(token.user_id),
            self.db.consents.get((token.user_id, token.client_id), frozenset()),
            kept[2] if kept is not None else None,
        )

    async def rotate(
        self,
        old: RefreshToken,
        successor: RefreshToken,
        successor_hash: str,
        successor_enc: str | None,
        now: datetime,
        claims_until: datetime | None = None,
    ) -> Rotation:
        stored = next((s for s in self.db.refresh.values() if s.token.id == old.id), None)
        if stored is None:
            return Rotation(won=False)
        if stored.token.rotated_at is not None or stored.token.revoked_at is not None:
            return Rotation(False, stored.token.rotated_at, stored.successor_enc)
        stored.token = dataclasses.replace(stored.token, rotated_at=now)
        stored.successor_enc = successor_enc
        self.db.refresh[successor_hash] = _StoredRefresh(successor)
        kept = self.db.grant_claims.get(old.grant_id)
        if claims_until is not None and kept is not None and kept[2] < claims_until:
            self.db.grant_claims[old.grant_id] = (kept[0], kept[1], claims_until)
        return Rotation(won=True)

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        revoked = 0
        for stored in self.db.refresh.values():
            if stored.token.grant_id == grant_id and stored.token.revoked_at is None:
                stored.token = dataclasses.replace(stored.token, revoked_at=now)
                stored.successor_enc = None
                revoked += 1
        for token_hash, token in self.db.opaque.items():
            if token.grant_id == grant_id and token.revoked_at is None:
                self.db.opaque[token_hash] = dataclasses.replace(token, revoked_at=now)
        return revoked

    async def grants_of(
        self,
        user_id: str | None,
        issued_since: datetime,
        now: datetime,
        client_id: str | None = None,
    ) -> set[str]:
        if user_id is None and client_id is None:
            raise ValueError("grants_of needs a user, a client or both")
        refresh = {
            s.token.grant_id
            for s in self.db.refresh.values()
            if user_id in (None, s.token.user_id)
            and s.token.revoked_at is None
            and s.token.expires_at > now
            and client_id in (None, s.token.client_id)
        }
        opaque = {
            t.grant_id
            for t in self.db.opaque.values()
            if user_id in (None, t.user_id)
            and t.grant_id is not None
            and t.revoked_at is None
            and t.expires_at > now
            and client_id in (None, t.client_id)
        }
        redeemed = {
            c.code.grant_id
            for c in self.db.codes.values()
            if user_id in (None, c.code.user_id)
            and c.used_at is not None
            and c.used_at >= issued_since
            and client_id in (None, c.code.client_id)
        }
        return refresh | opaque | redeemed


@dataclass(frozen=True, slots=True)
class MemoryOpaqueTokens:
    db: MemoryDatabase

    async def add(self, token: OpaqueAccessToken) -> None:
        self.db.opaque[token.token_hash] = token

    async def find(self, token_hashes: Sequence[str]) -> OpaqueAccessToken | None:
        return next((self.db.opaque[h] for h in token_hashes if h in self.db.opaque), None)

    async def revoke(self, token_hashes: Sequence[str], now: datetime) -> None:
        for token_hash in token_hashes:
            token = self.db.opaque.get(token_hash)
            if token is not None:
                self.db.opaque[token_hash] = dataclasses.replace(token, revoked_at=now)


@dataclass(frozen=True, slots=True)
class MemoryConsents:
    db: MemoryDatabase

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        return self.db.consents.get((user_id, client_id), frozenset())

    async def grant(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> None:
        self.db.consents[(user_id, client_id)] = await self.granted(user_id, client_id) | scopes
        self.db.consented_at[(user_id, client_id)] = now

    async def of_user(self, user_id: str) -> Sequence[Consent]:
        mine = [
            Consent(client_id, scopes, self.db.consented_at[(owner, client_id)])
            for (owner, client_id), scopes in self.db.consents.items()
            if owner == user_id
        ]
        return sorted(mine, key=lambda c: c.granted_at, reverse=True)

    async def withdraw(self, user_id: str, client_id: str) -> bool:
        self.db.consented_at.pop((user_id, client_id), None)
        return self.db.consents.pop((user_id, client_id), None) is not None


@dataclass(frozen=True, slots=True)
class MemoryGrantClaims:
    db: MemoryDatabase

    async def save(
        self, grant_id: str, client_id: str, userinfo: Sequence[str], expires_at: datetime
    ) -> None:
        self.db.grant_claims[grant_id] = (client_id, tuple(userinfo), expires_at)

    async def extend(self, grant_id: str, until: datetime) -> None:
        kept = self.db.grant_claims.get(grant_id)
        if kept is not None and kept[2] < until:
            self.db.grant_claims[grant_id] = (kept[0], kept[1], until)

    async def userinfo(self, grant_id: str, client_id: str, now: datetime) -> tuple[str, ...]:
        kept = self.db.grant_claims.get(grant_id)
        if kept is None or kept[0] != client_id or kept[2] <= now:
            return ()
        return kept[1]

    async def purge(self, now: datetime) -> int:
        gone = [g for g, kept in self.db.grant_claims.items() if kept[2] <= now]
        for grant_id in gone:
            del self.db.grant_claims[grant_id]
        return len(gone)


@dataclass(frozen=True, slots=True)
class MemorySessions:
    db: MemoryDatabase

    async def create(self, id_hash: str, session: Session) -> None:
        self.db.sessions[id_hash] = session

    async def get(self, id_hash: str, now: datetime) -> Session | None:
        session = self.db.sessions.get(id_hash)
        return session if session is not None and session.expires_at > now else None

    async def end(self, id_hash: str) -> None:
        self.db.sessions.pop(id_hash, None)

    async def seen(self, id_hash: str, now: datetime) -> None:
        session = self.db.sessions.get(id_hash)
        if session is not None:
            self.db.sessions[id_hash] = dataclasses.replace(session, last_seen_at=now)

    async def of_user(self, user_id: str, now: datetime) -> Sequence[tuple[str, Session]]:
        mine = [
            (h, s)
            for h, s in self.db.sessions.items()
            if s.user_id == user_id and s.expires_at > now
        ]
        return sorted(mine, key=lambda pair: pair[1].auth_time, reverse=True)


@dataclass(frozen=True, slots=True)
class MemoryInteractions:
    db: MemoryDatabase

    async def save(self, uid: str, data: Mapping[str, object], expires_at: datetime) -> None:
        self.db.interactions[uid] = (copy.deepcopy(dict(data)), expires_at)

    async def load(self, uid: str, now: datetime) -> dict[str, object] | None:
        stored = self.db.interactions.get(uid)
        if stored is None or stored[1] <= now:
            return None
        return copy.deepcopy(stored[0])

    async def delete(self, uid: str) -> None:
        self.db.interactions.pop(uid, None)

    async def purge(self, now: datetime) -> int:
        expired = [uid for uid, (_, until) in self.db.interactions.items() if until <= now]
        for uid in expired:
            del self.db.interactions[uid]
        return len(expired)


@dataclass(frozen=True, slots=True)
class MemoryEmailLinks:
    db: MemoryDatabase

    async def add(self, link_hash: str, kind: str, user_id: str, expires_at: datetime) -> None:
        self.db.email_links[link_hash] = _EmailLink(kind, user_id, expires_at)

    async def find(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        found = self._live(link_hashes, kind, now)
        return self.db.email_links[found].user_id if found is not None else None

    async def use(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        found = self._live(link_hashes, kind, now)
        return self.db.email_links.pop(found).user_id if found is not None else None

    async def forget_user(self, user_id: str, kind: str) -> None:
        links = self.db.email_links
        for link_hash in [h for h, x in links.items() if x.user_id == user_id and x.kind == kind]:
            del links[link_hash]

    async def purge(self, now: datetime) -> int:
        expired = [h for h, link in self.db.email_links.items() if link.expires_at <= now]
        for link_hash in expired:
            del self.db.email_links[link_hash]
        return len(expired)

    def _live(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        for link_hash in link_hashes:
            link = self.db.email_links.get(link_hash)
            if link is not None and link.kind == kind and link.expires_at > now:
                return link_hash
        return None


@dataclass(frozen=True, slots=True)
class MemoryBackchannelRequests:
    db: MemoryDatabase

    async def add(self, request: BackchannelRequest) -> None:
        self.db.backchannel[request.id] = request

    async def get(self, request_id: str) -> BackchannelRequest | None:
        return self.db.backchannel.get(request_id)

    async def pending_of(self, user_id: str, now: datetime) -> Sequence[BackchannelRequest]:
        found = [
            r
            for r in self.db.backchannel.values()
            if r.user_id == user_id and r.status is BackchannelStatus.PENDING and r.expires_at > now
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))[:50]

    async def by_decision_token(
        self, token_hashes: Sequence[str], now: datetime
    ) -> BackchannelRequest | None:
        return next(
            (
                r
                for r in self.db.backchannel.values()
                if r.decision_token_hash in token_hashes
                and r.status is BackchannelStatus.PENDING
                and r.expires_at > now
            ),
            None,
        )

    async def set_decision_token(self, request_id: str, token_hash: str, now: datetime) -> bool:
        found = self._pending(request_id, now)
        if found is None:
            return False
        self.db.backchannel[request_id] = dataclasses.replace(found, decision_token_hash=token_hash)
        return True

    async def decide(
        self,
        request_id: str,
        user_id: str,
        approved: bool,
        auth_time: datetime,
        amr: Sequence[str],
        now: datetime,
    ) -> BackchannelRequest | None:
        found = self._pending(request_id, now)
        if found is None or found.user_id != user_id:
            return None
        decided = dataclasses.replace(
            found,
            status=BackchannelStatus.APPROVED if approved else BackchannelStatus.DENIED,
            auth_time=auth_time if approved else None,
            amr=tuple(amr) if approved else (),
            decision_token_hash=None,
        )
        self.db.backchannel[request_id] = decided
        return decided

    async def poll(
        self, auth_req_id_hash: str, client_id: str, now: datetime
    ) -> BackchannelPoll | None:
        found = self._by_hash(auth_req_id_hash)
        if found is None or found.client_id != client_id:
            return None
        too_soon = found.next_poll_at > now
        interval_s = found.interval_s + (5 if too_soon else 0)
        polled = dataclasses.replace(
            found, interval_s=interval_s, next_poll_at=now + timedelta(seconds=interval_s)
        )
        self.db.backchannel[found.id] = polled
        return BackchannelPoll(polled, too_soon)

    async def redeem(self, auth_req_id_hash: str, now: datetime) -> bool:
        found = self._by_hash(auth_req_id_hash)
        if found is None or found.status is not BackchannelStatus.APPROVED:
            return False
        if found.expires_at <= now:
            return False
        self.db.backchannel[found.id] = dataclasses.replace(
            found, status=BackchannelStatus.REDEEMED, redeemed_at=now
        )
        return True

    async def purge(self, now: datetime) -> int:
        expired = [i for i, r in self.db.backchannel.items() if r.expires_at <= now]
        for request_id in expired:
            del self.db.backchannel[request_id]
        return len(expired)

    def _pending(self, request_id: str, now: datetime) -> BackchannelRequest | None:
        found = self.db.backchannel.get(request_id)
        if found is None or found.status is not BackchannelStatus.PENDING:
            return None
        return found if found.expires_at > now else None

    def _by_hash(self, auth_req_id_hash: str) -> BackchannelRequest | None:
        return next(
            (r for r in self.db.backchannel.values() if r.auth_req_id_hash == auth_req_id_hash),
            None,
        )
