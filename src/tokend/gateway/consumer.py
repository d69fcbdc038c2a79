"""What the gateway knows about a caller and the credential its tokens are signed with."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credential:
    """A consumer's JWT credential (Kong's ``jwt`` credential, or a standalone consumer's)."""

    consumer_id: str
    #: Kong's credential ``key``: the claim Kong's jwt plugin looks the credential up by.
    key: str
    #: HMAC key of HS256 tokens, used as UTF-8 bytes exactly as Kong's jwt plugin does.
    secret: str = field(repr=False)
    #: Known for standalone consumers; Kong's credential does not carry it.
    username: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, once the request proved it: Kong's consumer headers or a standalone API key."""

    #: What the credential is looked up (and cached) by: Kong's consumer id, or the key's hash.
    lookup: str
    consumer_id: str | None
    username: str | None
    #: Other lookups to try when ``lookup`` finds nothing: the API key's hashes under the
    #: previous secret keys (``TOKEND_PREVIOUS_SECRET_KEYS``), so a key rotation keeps keys valid.
    fallback_lookups: tuple[str, ...] = ()
