"""The new-device sign-in notice: a user is told by mail when their account signs in from a
browser it has not signed in from before (NIST SP 800-63B §6.1.2 tells of a new authenticator
through another channel; a new browser is the sign-in-side of the same warning).

A browser is known by a long-lived, HttpOnly device cookie holding a random id (256 bits), one
per browser whichever user signs in; each user's table keeps only its SecretHasher hash. The id
is not signed: it is unguessable, and a value that is not one of the user's hashes is simply a
new browser (a forged or stolen cookie cannot hide a sign-in from a browser the account has not
seen, only one from a browser it has). No mail on a user's first remembered browser: the first
sign-in after sign-up (or after this feature arrived) is not news. At most
``oidc.accounts.known_devices_max`` browsers per user are kept, the least recently seen
forgotten first. The mail goes only to a verified address, and only when
``oidc.email.security_notices`` is on (``Audit.tell_user``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from tokend.core.crypto import SecretHasher, random_secret
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.stores import KnownDeviceStore

DEVICE_COOKIE: Final = "tokend_device"
#: RFC 6265bis §5.5 (draft 19): browsers cap a cookie's lifetime at 400 days.
DEVICE_COOKIE_MAX_AGE_S: Final = 400 * 86_400
_COOKIE_SHAPE: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")

#: (token in the User-Agent, name): the first match wins, so the more specific come first.
_BROWSERS: Final = (
    ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"), ("Safari/", "Safari"),
)  # fmt: skip
_SYSTEMS: Final = (
    ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
    ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"),
)  # fmt: skip


def user_agent_summary(user_agent: str) -> str:
    """``Firefox on Linux``: a browser and a system from fixed lists, never the header's own
    text (it is the client's to write, and goes into a mail)."""
    head = user_agent[:512]
    browser = next((name for token, name in _BROWSERS if token in head), "an unknown browser")
    system = next((name for token, name in _SYSTEMS if token in head), None)
    return f"{browser} on {system}" if system else browser


@dataclass(frozen=True, slots=True)
class NewDevice:
    """What the notice says about the sign-in (the job's ``detail``, as JSON)."""

    at: datetime
    ip: str
    device: str

    def detail(self) -> str:
        return json.dumps({"at": self.at.isoformat(), "ip": self.ip, "device": self.device})

    @classmethod
    def of(cls, detail: str) -> NewDevice:
        data = json.loads(detail)
        return cls(datetime.fromisoformat(data["at"]), str(data["ip"]), str(data["device"]))


@dataclass(frozen=True, slots=True)
class KnownDevices:
    store: KnownDeviceStore
    hasher: SecretHasher = field(repr=False)
    audit: Audit
    keep: int

    async def signed_in(
        self, user_id: str, cookie: str | None, at: datetime, ip: str, user_agent: str
    ) -> str:
        """Remember that ``user_id`` signed in at ``at`` from the browser whose device cookie
        is ``cookie`` (None or malformed: a browser without one), and tell the user when it is
        a new one; the cookie value the browser keeps."""
        if cookie is None or not _COOKIE_SHAPE.match(cookie):
            cookie = random_secret(32)
        seen = await self.store.seen(user_id, self.hasher.candidates(cookie), at, self.keep)
        if seen == "new":
            notice = NewDevice(at, ip[:64], user_agent_summary(user_agent))
            await self.audit.account_event(
                AuditEvent.NEW_DEVICE_SIGN_IN, user_id, notice.detail(), device=notice.device
            )
        return cookie
