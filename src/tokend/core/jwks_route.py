"""``GET /.well-known/jwks.json``: the keyring's pre-serialised JWKS with HTTP caching.

Media type: RFC 7517 §8.5 registers ``application/jwk-set+json``, but the JWKS consumers that
matter here (OIDC relying parties, API gateways, older JWT libraries) often accept only
``application/json`` and some reject anything else. So the registered type is sent to clients
that ask for it by name in ``Accept`` and ``application/json`` to everyone else, with
``Vary: Accept`` so shared caches keep the two apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.keys import JwksDocument, Keyring
from tokend.core.routing import api_router

JWKS_PATH: Final = "/.well-known/jwks.json"
JWK_SET_MEDIA_TYPE: Final = "application/jwk-set+json"


def jwks_router(get_keyring: Callable[[], Keyring], max_age_s: int) -> APIRouter:
    """A router serving the keyring's JWKS, cacheable for ``max_age_s`` seconds."""
    router = api_router(tags=["keys"])
    cache_control = f"public, max-age={max_age_s}".encode("latin-1")
    prepared: _Prepared | None = None

    def prepare(document: JwksDocument) -> _Prepared:
        # Encoded once per keyring change: the handler only copies ready-made header lists.
        nonlocal prepared
        if prepared is None or prepared.document is not document:
            prepared = _Prepared.of(document, cache_control)
        return prepared

    @router.get(
        JWKS_PATH,
        summary="JSON Web Key Set (RFC 7517 §5): active, next and retired public keys",
        response_class=Response,
        responses={
            200: {"content": {"application/json": {}, JWK_SET_MEDIA_TYPE: {}}},
            304: {"description": "The client's copy (If-None-Match) is current"},
        },
    )
    async def jwks(request: Request) -> Response:
        current = prepare(get_keyring().jwks())
        if_none_match, accept = b"", b""
        for name, value in request.scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"accept":
                accept = value
        if if_none_match and current.is_matched_by(if_none_match):
            # RFC 9110 §15.4.5: a 304 repeats ETag, Cache-Control and Vary, and has no body.
            response = Response(status_code=304)
            response.raw_headers.extend(current.common)
            return response
        response = Response(current.document.body)
        response.raw_headers.extend(current.common)
        is_jwk_set = _JWK_SET_BYTES in accept
        response.raw_headers.append(current.jwk_set_type if is_jwk_set else current.json_type)
        return response

    return router


_JWK_SET_BYTES: Final = JWK_SET_MEDIA_TYPE.encode("ascii")


@dataclass(frozen=True, slots=True)
class _Prepared:
    document: JwksDocument
    etag: bytes
    common: tuple[tuple[bytes, bytes], ...]
    json_type: tuple[bytes, bytes] = (b"content-type", b"application/json")
    jwk_set_type: tuple[bytes, bytes] = (b"content-type", _JWK_SET_BYTES)

    @classmethod
    def of(cls, document: JwksDocument, cache_control: bytes) -> _Prepared:
        etag = document.etag.encode("ascii")
        common = (
            (b"etag", etag),
            (b"cache-control", cache_control),
            (b"vary", b"Accept"),
            # Public keys: any web page may read them (browser-based clients verify ID tokens).
            (b"access-control-allow-origin", b"*"),
        )
        return cls(document, etag, common)

    def is_matched_by(self, if_none_match: bytes) -> bool:
        # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so a W/ prefix still matches.
        for candidate in if_none_match.split(b","):
            tag = candidate.strip()
            if tag == b"*" or tag.removeprefix(b"W/") == self.etag:
                return True
        return False
