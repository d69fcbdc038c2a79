"""Reading ``application/x-www-form-urlencoded`` bodies and query strings the way RFC 6749
§3.1 / §3.2 ask: parameters sent more than once are an error, empty values count as absent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

from tokend.core.errors import InvalidRequest

MAX_FORM_BYTES = 64 * 1024
#: Parameters that may repeat (RFC 8707 §2 resource indicators).
REPEATABLE = frozenset({"resource", "audience"})


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
        if name in single:
            raise InvalidRequest(f"parameter {name[:40]} was sent more than once")
        single[name] = value
    return Params(single, {k: tuple(v) for k, v in repeated.items()})


def query_params(request: Request) -> Params:
    return parse_params(request.query_params.multi_items())


async def form_params(request: Request) -> Params:
    """The urlencoded body; any other content type is an invalid_request."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest("the request body is too large")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not valid form data") from None
    return parse_params(pairs)


async def request_params(request: Request) -> Params:
    """The query of a GET (or HEAD), the urlencoded body of a POST: endpoints that take both
    (OIDC Core §3.1.2.1 authorization requests, RP-Initiated Logout §2)."""
    return await form_params(request) if request.method == "POST" else query_params(request)
