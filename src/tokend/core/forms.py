"""The one reader of ``application/x-www-form-urlencoded`` bodies and OAuth query strings.

RFC 6749 §3.1 / §3.2: parameters sent more than once are an ``invalid_request`` (only RFC 8707
``resource`` and ``audience`` may repeat), and empty values count as absent. The body is read up
to the route's limit (``core.body_limit``) and refused with a 413 past it, before it is parsed.
Every endpoint that takes a form reads it here: the OpenID provider's token, introspection,
revocation, authorization and page posts, the broker's and the operators' seed token
endpoints, the vault's token exchange and its demo provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

from starlette.requests import Request

from tokend.core.body_limit import FORM_MAX_BYTES, read_body, route_limit
from tokend.core.errors import InvalidRequest

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"
MAX_FIELDS: Final = 100
#: Parameters that may repeat (RFC 8707 §2 resource indicators).
REPEATABLE: Final = frozenset({"resource", "audience"})


@dataclass(frozen=True, slots=True)
class Params:
    single: Mapping[str, str]
    repeated: Mapping[str, tuple[str, ...]]

    def get(self, name: str) -> str | None:
        value = self.single.get(name)
        return value if value else None

    def all(self, name: str) -> tuple[str, ...]:
        return self.repeated.get(name, ())


def parse_params(pairs: Iterable[tuple[str, str]]) -> Params:
    single: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in REPEATABLE:
            if value:
                repeated.setdefault(name, []).append(value)
            continue
        # RFC 6749 §3.1, §3.2: "parameters MUST NOT be included more than once".
        if name in single:
            raise InvalidRequest(f"parameter {name[:40]} was sent more than once")
        single[name] = value
    return Params(single, {k: tuple(v) for k, v in repeated.items()})


def query_params(request: Request) -> Params:
    return parse_params(request.query_params.multi_items())


async def form_params(request: Request, *, empty_is_form: bool = False) -> Params:
    """The urlencoded body. Another content type is an invalid_request; so is an empty body
    without it, unless ``empty_is_form`` (the seed endpoints, whose clients may send none)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_MEDIA_TYPE and not (empty_is_form and _is_empty(request)):
        # RFC 6749 §3.2 (and RFC 7662 §2.1, RFC 7009 §2.1, RFC 8693 §2.1): form-encoded.
        raise InvalidRequest(f"the body must be {FORM_MEDIA_TYPE}")
    limit = route_limit(request.scope)
    body = await read_body(request, FORM_MAX_BYTES if limit is None else limit)
    try:
        pairs = form_pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not valid form data") from None
    return parse_params(pairs)


def form_pairs(text: str) -> list[tuple[str, str]]:
    """The name/value pairs of urlencoded ``text``, in order: exactly what
    ``urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)`` returns
    (a field without ``=`` has an empty value, empty fields are skipped, ``+`` is a space and
    %-escapes are UTF-8 with errors replaced), ValueError past ``MAX_FIELDS`` fields.

    Written out because parse_qsl runs its checks and conversions for every field and unquotes
    every name and value: a token request's form was 4 µs of its ~90 µs of CPU in process, and
    most names and values have nothing to unquote. tests/unit/core/test_forms.py holds it to
    parse_qsl on arbitrary text."""
    if not text:
        return []
    if text.count("&") >= MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((form_decoded(name), form_decoded(value)))
    return pairs


def form_decoded(value: str) -> str:
    """One urlencoded name or value decoded (``+`` a space, %-escapes UTF-8 with errors
    replaced): ``unquote_plus``'s result, without its walk over a value that has nothing to
    decode (most names, generated ids and secrets)."""
    return unquote_plus(value, errors="replace") if "%" in value or "+" in value else value


async def request_params(request: Request) -> Params:
    """The query of a GET (or HEAD), the urlencoded body of a POST: endpoints that take both
    (OIDC Core §3.1.2.1 authorization requests, RP-Initiated Logout §2)."""
    return await form_params(request) if request.method == "POST" else query_params(request)


def _is_empty(request: Request) -> bool:
    headers = request.headers
    return "transfer-encoding" not in headers and headers.get("content-length", "0") == "0"


def form_openapi(fields: Mapping[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` documenting a urlencoded body read by :func:`form_params`."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: {"type": "string", "description": d} for name, d in fields.items()},
    }
    if required:  # OpenAPI 3.0 (JSON Schema): a required list is never empty
        schema["required"] = list(required)
    return {"requestBody": {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": schema}}}}
