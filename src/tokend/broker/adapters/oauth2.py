"""A standard OAuth 2.0 token endpoint (RFC 6749 §3.2) as an operator's upstream.

Grants: ``authorization_code`` (§4.1.3, the caller's code is exchanged), ``client_credentials``
(§4.4; the code is not sent upstream) and ``jwt_bearer`` (RFC 7523 §2.1, the subscriber as
``sub``). Client authentication: ``client_secret_basic`` (§2.3.1), ``client_secret_post``
(§2.3.1) or ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9), all done by tokend's one OAuth
client (:mod:`tokend.core.oauth_client`); this adapter builds the grant and the assertions.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Final

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from tokend.broker.upstream import OperatorToken, UpstreamCall, malformed, refusal
from tokend.core.jwt import SigningKey, mint
from tokend.core.oauth_client import (
    ClientAuth,
    ErrorResponse,
    MalformedResponse,
    OAuthClient,
    TokenResponse,
)

NAME: Final = "oauth2"
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
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
    secret = entry.client_secret.value if entry.client_secret else ""
    # telco_auth is the seed adapter's; an oauth2 entry left at that default uses Basic.
    method = "client_secret_basic" if entry.auth_method == "telco_auth" else entry.auth_method
    auth = ClientAuth(
        entry.client_id,
        method,
        secret,
        assertion=lambda audience: _assertion(call, subject=entry.client_id, audience=audience),
    )
    try:
        answer = await OAuthClient(call.http, auth, call.timeout).token(entry.token_url, form)
    except ErrorResponse as exc:
        rejected = exc.error in REFUSING_ERRORS
        raise refusal(call, exc.status, exc.detail, rejected=rejected) from None
    except MalformedResponse as exc:
        raise malformed(call, str(exc)) from None
    return _token(call, answer)


def _grant(call: UpstreamCall) -> dict[str, str]:
    entry = call.entry
    if entry.grant_type == "client_credentials":
        return {"grant_type": "client_credentials"}
    if entry.grant_type == "jwt_bearer":
        # RFC 7523 §3: the subscriber is the subject, login_hint style (tel URI, RFC 3966).
        subject = f"tel:+{call.mcc}{call.sn}"
        assertion = _assertion(call, subject=subject, audience=entry.token_url)
        return {"grant_type": JWT_BEARER, "assertion": assertion}
    form = {"grant_type": "authorization_code", "code": call.auth_code}
    if entry.redirect_uri:
        form["redirect_uri"] = entry.redirect_uri
    return form


def _assertion(call: UpstreamCall, *, subject: str, audience: str) -> str:
    """RFC 7523 §3 JWT: iss = client_id, aud = the token endpoint, short-lived, one-time jti."""
    entry = call.entry
    if entry.private_key is None:
        raise malformed(call, "no private key configured for its assertion")  # validated on load
    now = int(call.now.timestamp())
    claims = {
        "iss": entry.client_id,
        "sub": subject,
        "aud": audience,
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


def _token(call: UpstreamCall, answer: TokenResponse) -> OperatorToken:
    """RFC 6749 §5.1: ``access_token``, ``token_type``, optional ``expires_in``."""
    expires_in = answer.expires_in_s or DEFAULT_EXPIRES_IN_S
    return OperatorToken(answer.access_token, call.now, call.now + timedelta(seconds=expires_in))
