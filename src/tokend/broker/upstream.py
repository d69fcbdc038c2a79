"""What every upstream adapter does: obtain the operator's token for one subscriber and code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import httpx
import structlog

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.errors import (
    TELCO_ERROR,
    SeedAnswer,
    UpstreamBadRequest,
    UpstreamFailed,
    UpstreamRejected,
)
from tokend.core.http import GuardedClient

log = structlog.get_logger("tokend.broker.upstream")

MAX_DETAIL_CHARS: Final = 200
#: At most this much of an operator's error body is relayed (seed mode).
MAX_RELAYED_CHARS: Final = 2000


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    entry: TelcoEntry
    mcc: str
    sn: str
    auth_code: str = field(repr=False)
    http: GuardedClient = field(repr=False)
    timeout: httpx.Timeout
    now: datetime


@dataclass(frozen=True, slots=True)
class OperatorToken:
    access_token: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime


class UpstreamAdapter(Protocol):
    async def fetch_token(self, call: UpstreamCall) -> OperatorToken:
        """The operator's token. Raises UpstreamRejected/UpstreamBadRequest when the operator
        refused, UpstreamFailed when its answer is unusable; transport errors escape as httpx's.
        """
        ...


def code_hash(auth_code: str) -> str:
    """SHA-256 of the auth code, hex: what caches and tokens carry instead of the code."""
    return hashlib.sha256(auth_code.encode()).hexdigest()


def refusal(
    call: UpstreamCall, status: int, detail: str, *, rejected: bool, raw_body: str | None = None
) -> Exception:
    """The error for an operator's non-2xx answer: its status for the caller, its words for
    the log.

    tokend's own answer does not show the operator's body to the caller, who is not
    authenticated: it is whatever the upstream chose to say. Seed 000 relayed it with the
    operator's status (``Telco service error: <raw body>``); the error carries that answer as
    its :class:`SeedAnswer` for the seed surface. Both the log line and the relayed body have
    the broker's credentials masked should the operator echo them.
    """
    detail = _masked(call, detail, code=True)
    log.info(
        "broker.upstream.refused",
        operator=call.entry.operator_id,
        status=status,
        detail=detail[:MAX_DETAIL_CHARS],
    )
    # The caller's own code is not masked in what goes back to that caller.
    relayed = _masked(call, raw_body if raw_body is not None else detail, code=False)
    seed = SeedAnswer(status, f"{TELCO_ERROR}: {relayed[:MAX_RELAYED_CHARS]}")
    internal = f"{call.entry.operator_id} answered {status}"
    if rejected:
        return UpstreamRejected(seed=seed, internal=internal)
    if status == 400:
        return UpstreamBadRequest(seed=seed, internal=internal)
    return UpstreamFailed(TELCO_ERROR, seed=seed, internal=internal)


def malformed(call: UpstreamCall, what: str) -> UpstreamFailed:
    """An operator's 200 that is no token: 503 here, seed 000's 500 on the seed surface."""
    log.warning("broker.upstream.malformed", operator=call.entry.operator_id, problem=what)
    return UpstreamFailed(
        TELCO_ERROR,
        seed=SeedAnswer(500, "Internal server error"),
        internal=f"{call.entry.operator_id} returned {what}",
    )


def _masked(call: UpstreamCall, text: str, *, code: bool) -> str:
    for value in _secrets_of(call, code=code):
        text = text.replace(value, "***")
    return text


def _secrets_of(call: UpstreamCall, *, code: bool) -> list[str]:
    entry = call.entry
    values = [call.auth_code] if code else []
    values += [s.value for s in (entry.client_secret, entry.private_key) if s is not None]
    return [value for value in values if value]
