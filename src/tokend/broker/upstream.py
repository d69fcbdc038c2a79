"""What every upstream adapter does: obtain the operator's token for one subscriber and code."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import httpx
import structlog

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.errors import UpstreamBadRequest, UpstreamFailed, UpstreamRejected

log = structlog.get_logger("tokend.broker.upstream")

MAX_DETAIL_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    entry: TelcoEntry
    mcc: str
    sn: str
    auth_code: str = field(repr=False)
    http: httpx.AsyncClient = field(repr=False)
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


def refusal(call: UpstreamCall, response: httpx.Response, *, rejected: bool) -> Exception:
    """The error for an operator's non-2xx answer: its status for the caller, its words for
    the log.

    The operator's body is not shown to the caller, who is not authenticated: it is whatever
    the upstream chose to say (seed 000 relayed it). It is logged, cut short, with the broker's
    credentials and the subscriber's code masked should the operator echo them.
    """
    detail = _detail_text(response)
    for value in _secrets_of(call):
        detail = detail.replace(value, "***")
    log.info(
        "broker.upstream.refused",
        operator=call.entry.operator_id,
        status=response.status_code,
        detail=detail,
    )
    message = f"Telco service error: {call.entry.operator_id} answered {response.status_code}"
    if rejected:
        return UpstreamRejected(message)
    if response.status_code == 400:
        return UpstreamBadRequest(message)
    return UpstreamFailed(message)


def malformed(call: UpstreamCall, what: str) -> UpstreamFailed:
    return UpstreamFailed(f"Telco service error: {call.entry.operator_id} returned {what}")


def _secrets_of(call: UpstreamCall) -> list[str]:
    entry = call.entry
    values = [call.auth_code]
    values += [s.value for s in (entry.client_secret, entry.private_key) if s is not None]
    return [value for value in values if value]


def _detail_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MAX_DETAIL_CHARS].strip()
    if isinstance(body, dict):
        for name in ("detail", "error_description", "error", "message"):
            value = body.get(name)
            if isinstance(value, str):
                return value[:MAX_DETAIL_CHARS]
    return ""
