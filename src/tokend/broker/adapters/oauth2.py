"""A standard OAuth 2.0 token endpoint (RFC 6749 §3.2) as an operator's upstream.

Grants: ``authorization_code`` (§4.1.3, the caller's code is exchanged), ``client_credentials``
(§4.4; the code is not sent upstream) and ``jwt_bearer`` (RFC 7523 §2.1, the subscriber as
``sub``). Client authentication: ``client_secret_basic`` (§2.3.1), ``client_secret_post``
(§2.3.1) or ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Final
from urllib.parse import quote

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from tokend.broker.upstream import OperatorToken, UpstreamCall, malformed, refusal
from tokend.core.jwt import SigningKey, mint

NAME: Final = "oauth2"
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_TTL_S: Final = 60
#: RFC 6749 §5.1 makes expires_in optional; without it the token is trusted this long.
DEFAULT_EXPIRES_IN_S: Final = 300
#: RFC 6749 §5.2 codes that mean the operator refused this code or this broker.
REFUSING_ERRORS: Final = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"}
)


async def fetch_token(call: UpstreamCall) -> OperatorToken:
    entry = call.entry
    form = _grant(call)
    if entry.scopes:
        form["scope"] = " ".join(entry.scopes)
    auth: httpx.BasicAuth | None = None
    secret = entry.client_secret.value if entry.client_secret else ""
    if entry.auth_method == "client_secret_post":
        form.update(client_id=entry.client_id, client_secret=secret)
    elif entry.auth_method == "private_key_jwt":
        form.update(
            client_id=entry.client_id,
            client_assertion_type=CLIENT_ASSERTION_TYPE,
            client_assertion=_assertion(call, subject=entry.client_id),
        )
    else:
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
        auth = httpx.BasicAuth(quote(entry.client_id, safe=""), quote(secret, safe=""))
    response = await call.http.post(
        entry.token_url,
        data=form,
        headers={"Accept": "application/json"},
        auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        timeout=call.timeout,
    )
    if response.status_code != 200:
        raise refusal(call, response, rejected=_error_code(response) in REFUSING_ERRORS)
    return _token(call, response)


def _grant(call: UpstreamCall) -> dict[str, str]:
    entry = call.entry
    if entry.grant_type == "client_credentials":
        return {"grant_type": "client_credentials"}
    if entry.grant_type == "jwt_bearer":
        # RFC 7523 §3: the subscriber is the subject, login_hint style (tel URI, RFC 3966).
        subject = f"tel:+{call.mcc}{call.sn}"
        return {"grant_type": JWT_BEARER, "assertion": _assertion(call, subject=subject)}
    form = {"grant_type": "authorization_code", "code": call.auth_code}
    if entry.redirect_uri:
        form["redirect_uri"] = entry.redirect_uri
    if entry.auth_method != "client_secret_basic":
        form["client_id"] = entry.client_id
    return form


def _assertion(call: UpstreamCall, *, subject: str) -> str:
    """RFC 7523 §3 JWT: iss = client_id, aud = the token endpoint, short-lived, one-time jti."""
    entry = call.entry
    if entry.private_key is None:
        raise malformed(call, "no private key configured for its assertion")  # validated on load
    now = int(call.now.timestamp())
    claims = {
        "iss": entry.client_id,
        "sub": subject,
        "aud": entry.token_url,
        "iat": now,
        "exp": now + ASSERTION_TTL_S,
        "jti": secrets.token_urlsafe(16),
    }
    return mint(claims, _signing_key(entry.private_key.value))


@lru_cache(maxsize=64)
def _signing_key(pem: str) -> SigningKey:
    """The PEM's key with the RFC 7518 algorithm for its type (ES256 for P-256, else RS256)."""
    try:
        ec = ECKey.import_key(pem)
    except JoseError:
        rsa = RSAKey.import_key(pem)
        return SigningKey(kid=rsa.thumbprint(), alg="RS256", key=rsa)
    return SigningKey(kid=ec.thumbprint(), alg="ES256", key=ec)


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _token(call: UpstreamCall, response: httpx.Response) -> OperatorToken:
    """RFC 6749 §5.1: ``access_token``, ``token_type``, optional ``expires_in``."""
    try:
        body = response.json()
    except ValueError:
        raise malformed(call, "a token response that is not JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN_S) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise malformed(call, "a token response without access_token")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
        raise malformed(call, "a token response with an invalid expires_in")
    return OperatorToken(token, call.now, call.now + timedelta(seconds=expires_in))
