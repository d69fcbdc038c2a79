"""The seed-002 success envelope; errors use the spine's ``render_envelope``."""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import JSONBody, JsonValue, envelope_metadata
from tokend.core.surfaces import request_id_of


def human_duration(seconds: int) -> str:
    """Seed 002 wording: "N minutes" for whole minutes, "N seconds" otherwise."""
    if seconds and seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


def success_body(
    data: JsonValue,
    message: str,
    *,
    request_id: str,
    version: str,
    now: datetime,
    ttl_s: int | None = None,
) -> dict[str, JsonValue]:
    metadata: dict[str, JsonValue] = dict(envelope_metadata(request_id, version))
    metadata["timestamp"] = _iso(now)
    if ttl_s is not None:
        metadata["ttl"] = {
            "value": ttl_s,
            "unit": "seconds",
            "expires_at": _iso(now + timedelta(seconds=ttl_s)),
            "human_readable": human_duration(ttl_s),
        }
    return {"success": True, "message": message, "data": data, "metadata": metadata}


def envelope(
    request: Request,
    data: JsonValue,
    message: str = "Success",
    *,
    version: str,
    now: datetime,
    ttl_s: int | None = None,
    status_code: int = 200,
) -> JSONBody:
    body = success_body(
        data,
        message,
        request_id=request_id_of(request.scope),
        version=version,
        now=now,
        ttl_s=ttl_s,
    )
    return JSONBody(body, status_code, NO_STORE)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
