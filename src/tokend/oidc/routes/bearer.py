"""Reading a bearer access token from a request (RFC 6750 §2.1 header, §2.2 form body)."""

from __future__ import annotations

from starlette.requests import Request

from tokend.core.errors import InvalidRequest, InvalidToken, Unauthorized


def bearer_token(request: Request, form_token: str | None = None) -> str:
    """The presented token; raises InvalidToken-style 401s when there is none."""
    return access_token(request, form_token)[1]


def access_token(request: Request, form_token: str | None = None) -> tuple[str, str]:
    """The presented token and its scheme, ``bearer`` (RFC 6750) or ``dpop`` (RFC 9449 §7.1,
    header only); raises InvalidToken-style 401s when there is none."""
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    header_token = value.strip() if scheme in ("bearer", "dpop") and value.strip() else None
    if header_token and form_token:
        # RFC 6750 §2: one method per request.
        raise InvalidRequest("send the access token once, not in two places")
    token = header_token or form_token
    if not token:
        # RFC 6750 §3.1: no error code when the request had no authentication at all.
        raise Unauthorized("a bearer access token is required", headers={
            "WWW-Authenticate": 'Bearer realm="tokend"'})  # fmt: skip
    if len(token) > 8192:
        raise InvalidToken("the access token is malformed")
    return (scheme if header_token else "bearer"), token
