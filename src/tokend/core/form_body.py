"""Reading the seed's ``application/x-www-form-urlencoded`` bodies without a multipart parser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.requests import Request

from tokend.core.errors import BadRequest

MAX_FORM_BYTES: Final = 16_384
MAX_FIELDS: Final = 20
FORM_TYPE: Final = "application/x-www-form-urlencoded"


async def read_form(request: Request) -> Mapping[str, str]:
    """The form's fields (first value wins); 400 for another media type or an oversized body."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return {}
    if media_type != FORM_TYPE:
        raise BadRequest(f"the body must be {FORM_TYPE}")
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("the form is too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is malformed") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def form_openapi(fields: Mapping[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` documenting a urlencoded body read by :func:`read_form`."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string", "description": d} for name, d in fields.items()},
        "required": list(required),
    }
    return {"requestBody": {"required": True, "content": {FORM_TYPE: {"schema": schema}}}}
