"""The account chooser of ``prompt=select_account`` (OIDC Core §3.1.2.1).

A browser may hold several sign-in sessions: the current one (the session cookie) and the others
it signed in before, listed in :data:`ACCOUNTS_COOKIE` (their cookie values, as secret as the
session cookie and kept the same way: HttpOnly, SameSite=Lax). Every listed session is checked
against the store each time it is read; one that ended or expired is left out. With more than one
account known, ``select_account`` shows them to choose from; with one or none it asks to sign in,
as ``login`` does. The choice then goes on as that session would (``max_age``, ``id_token_hint``
and the multi-factor requirement are checked against it, as for any session).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Final

from tokend.oidc.authorization_flow import AuthorizationFlow, Outcome
from tokend.oidc.browser_sessions import MAX_COOKIE_LENGTH
from tokend.oidc.interactions import Interaction

ACCOUNTS_COOKIE: Final = "tokend_accounts"
#: How many sessions a browser remembers; the oldest is forgotten first.
MAX_ACCOUNTS: Final = 5
#: Session cookie values (``random_secret``: base64url), joined by dots.
_VALUE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_COOKIE_LENGTH}}}")


@dataclass(frozen=True, slots=True)
class KnownAccount:
    """A live session of this browser, as the chooser shows it."""

    #: The session's public handle (``Session.sid``): what the chooser's form sends back.
    sid: str
    user_id: str
    email: str
    name: str | None
    is_current: bool
    cookie: str = field(repr=False)


def listed(value: str | None) -> list[str]:
    """The session cookies the accounts cookie lists; nothing that does not look like one."""
    if not value or len(value) > (MAX_COOKIE_LENGTH + 1) * MAX_ACCOUNTS:
        return []
    return [part for part in value.split(".") if _VALUE.fullmatch(part)][:MAX_ACCOUNTS]


def remembered(new: str, current: str | None, value: str | None) -> str:
    """The accounts cookie after a sign-in: the new session first, then the current one and the
    others listed before, each once, at most :data:`MAX_ACCOUNTS`."""
    sessions = [new, *([current] if current else []), *listed(value)]
    return ".".join(list(dict.fromkeys(sessions))[:MAX_ACCOUNTS])


def forgotten(ended: str | None, value: str | None) -> str:
    """The accounts cookie after the session ``ended`` signed out."""
    return ".".join(cookie for cookie in listed(value) if cookie != ended)


def wants_chooser(ia: Interaction) -> bool:
    """``select_account`` asked for, and no account chosen or signed in yet here."""
    return (
        "select_account" in ia.prompts
        and not ia.account_chosen
        and ia.user_id is None
        and ia.pending_user_id is None
    )


@dataclass(frozen=True, slots=True)
class AccountChooser:
    flow: AuthorizationFlow

    async def accounts(self, current: str | None, value: str | None) -> list[KnownAccount]:
        """The browser's live accounts, one per user (the current session's first, else the
        latest sign-in), the current one first."""
        found: dict[str, KnownAccount] = {}
        cookies = list(dict.fromkeys([*([current] if current else []), *listed(value)]))
        for cookie in cookies:
            session = await self.flow.sessions.current(cookie)
            if session is None or session.user_id in found:
                continue
            user = await self.flow.users.by_id(session.user_id)
            if user is None or user.disabled:
                continue
            found[user.id] = KnownAccount(
                sid=self.flow.sessions.sid_of(cookie),
                user_id=user.id,
                email=user.email,
                name=user.name,
                is_current=cookie == current,
                cookie=cookie,
            )
        return list(found.values())

    async def choose(
        self, ia: Interaction, sid: str, current: str | None, value: str | None
    ) -> tuple[Outcome, str] | None:
        """On as the chosen account: the outcome and the session cookie that is now current;
        None when ``sid`` names none of this browser's live sessions."""
        chosen = next((a for a in await self.accounts(current, value) if a.sid == sid), None)
        if chosen is None:
            return None
        # Kept before resuming: a consent or sign-in page that follows must not choose again.
        ia = dataclasses.replace(ia, account_chosen=True)
        await self.flow.interactions.save(ia)
        return await self.flow.resume(ia, chosen.cookie), chosen.cookie

    async def another(self, ia: Interaction) -> Interaction:
        """ "Use another account": the interaction now asks to sign in (OIDC Core §3.1.2.1)."""
        ia = dataclasses.replace(
            ia, account_chosen=True, prompts=tuple(sorted({*ia.prompts, "login"}))
        )
        await self.flow.interactions.save(ia)
        return ia
