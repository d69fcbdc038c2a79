"""What every upstream adapter does: obtain the operator's token for one subscriber and code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.errors import UpstreamBadRequest, UpstreamFailed, UpstreamRejected
from tokend.core.http import GuardedClient


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


def refusal(call: UpstreamCall, status: int, detail: str, *, rejected: bool) -> Exception:
    """The error for an operator's non-2xx answer (its status and a short text of its body),
    naming the operator and never its secret."""
    secret = call.entry.client_secret
    if secret is not None and secret.value:
        detail = detail.replace(secret.value, "***")
    message = f"Telco service error: {call.entry.operator_id} answered {status}" + (
        f": {detail}" if detail else ""
    )
    if rejected:
        return UpstreamRejected(message)
    if status == 400:
        return UpstreamBadRequest(message)
    return UpstreamFailed(message)


def malformed(call: UpstreamCall, what: str) -> UpstreamFailed:
    return UpstreamFailed(f"Telco service error: {call.entry.operator_id} returned {what}")
