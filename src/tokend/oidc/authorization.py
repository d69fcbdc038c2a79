"""Validating an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636).

Two kinds of failure: before the client and its redirect URI are known to be valid the user
sees an error page and is never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11); after that
the error goes back to the client with ``state`` and ``iss``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Final

from tokend.core.errors import (
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from tokend.core.forms import Params
from tokend.core.pkce import PLAIN, S256, is_valid_challenge
from tokend.oidc import fapi
from tokend.oidc.authn_context import ACR_VALUES
from tokend.oidc.claims_request import ClaimsRequest, parse_claims
from tokend.oidc.records import CLAIM_SCOPE, Client
from tokend.oidc.redirect_uris import is_allowed_redirect_uri
from tokend.oidc.settings import OidcSettings

PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})
#: OAuth 2.0 Multiple Response Type Encoding Practices §2.1 and Form Post Response Mode §2.
#: JARM (JWT Secured Authorization Response Mode) §2.3: the response as a signed JWT.
JWT_RESPONSE_MODES: Final = ("jwt", "query.jwt", "form_post.jwt")
RESPONSE_MODES: Final = ("query", "form_post", *JWT_RESPONSE_MODES)
MAX_PARAM = 2000
_JKT: Final = re.compile(r"[A-Za-z0-9_-]{43}")
#: Longer than any parameter but these: an ID token (id_token_hint) and a claims request.
MAX_LONG_PARAM = 16_384
_LONG_PARAMS: Final = frozenset({"id_token_hint", "claims", "request"})


class AuthorizationPageError(Exception):
    """Shown to the user on a page; the client's redirect URI cannot be trusted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestNotSupported(OAuthError):
    code = "request_not_supported"
    default_description = "Request objects are not supported."


class RequestUriNotSupported(OAuthError):
    code = "request_uri_not_supported"
    default_description = "request_uri is not supported."


class UnmetAuthenticationRequirements(OAuthError):
    """OpenID Connect Core Unmet Authentication Requirements 1.0 §2."""

    code = "unmet_authentication_requirements"
    default_description = "The authentication requirements cannot be met."


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    nonce: str | None = field(repr=False)
    code_challenge: str | None
    code_challenge_method: str | None
    prompts: frozenset[str]
    max_age_s: int | None
    login_hint: str | None
    response_mode: str = "query"
    #: OIDC Core §3.1.2.1: an ID token naming the user expected; verified by the flow.
    id_token_hint: str | None = field(default=None, repr=False)
    acr_values: tuple[str, ...] = ()
    claims: ClaimsRequest = field(default_factory=ClaimsRequest)
    #: RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    dpop_jkt: str | None = None


class RedirectableError(Exception):
    """An OAuth error to send back to the (validated) redirect URI."""

    def __init__(
        self,
        error: OAuthError,
        redirect_uri: str,
        state: str | None,
        response_mode: str = "query",
        client_id: str | None = None,
    ) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode
        self.client_id = client_id


def redirect_uri_of(client: Client | None, params: Params) -> tuple[Client, str]:
    """The client and its exactly-matching redirect URI, or an AuthorizationPageError."""
    if client is None:
        raise AuthorizationPageError("The application that sent you here is not known.")
    requested = params.get("redirect_uri")
    if requested is None:
        # RFC 6749 §3.1.2.3: may be omitted only when exactly one is registered (not for OIDC).
        scope = params.get("scope") or ""
        if len(client.redirect_uris) == 1 and "openid" not in scope.split():
            requested = client.redirect_uris[0]
        else:
            raise AuthorizationPageError("The request has no redirect address.")
    # RFC 9700 §4.1.3: exact string comparison, no wildcards, no normalisation. A registered
    # address that the registration check would refuse now (stored before it existed) is
    # never redirected to either.
    if requested not in client.redirect_uris or not is_allowed_redirect_uri(requested):
        raise AuthorizationPageError(
            "The redirect address in the request is not registered for this application."
        )
    return client, requested


def validate(
    client: Client,
    redirect_uri: str,
    params: Params,
    settings: OidcSettings,
    *,
    pushed: bool = False,
    signed: bool = False,
) -> AuthorizationRequest:
    """Check everything after the redirect URI; errors become RedirectableError. ``pushed``:
    the parameters come from a pushed authorization request (RFC 9126); ``signed``: from a
    verified request object (RFC 9101)."""
    state = params.get("state")
    mode = params.get("response_mode")
    response_mode = mode if mode in RESPONSE_MODES else "query"
    try:
        if not pushed and (
            settings.require_pushed_authorization_requests
            or client.require_pushed_authorization_requests
            or fapi.applies(client, settings)
        ):
            # RFC 9126 §6: only pushed requests are accepted.
            raise InvalidRequest("this client must push its authorization requests (PAR)")
        if not signed and client.require_signed_request_object:
            # RFC 9101 §10.5: only signed request objects are accepted from this client.
            raise InvalidRequest("this client must send a signed request object")
        return _validate(client, redirect_uri, params, settings, state)
    except OAuthError as exc:
        raise RedirectableError(exc, redirect_uri, state, response_mode, client.client_id) from None


def _validate(
    client: Client, redirect_uri: str, params: Params, settings: OidcSettings, state: str | None
) -> AuthorizationRequest:
    too_long = [
        k
        for k, v in params.single.items()
        if len(v) > (MAX_LONG_PARAM if k in _LONG_PARAMS else MAX_PARAM)
    ]
    if too_long:
        raise InvalidRequest(f"parameter {too_long[0][:40]} is too long")
    # OIDC Core §3.1.2.6: the error names the parameter that is not supported.
    if params.get("request_uri"):
        raise RequestUriNotSupported("request_uri is not supported")
    if params.get("request"):
        raise RequestNotSupported("request objects are not supported")
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if not client.allows_grant("authorization_code"):
        raise UnauthorizedClient("this client may not use the authorization code flow")
    mode = params.get("response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        raise InvalidRequest(f"response_mode must be one of {', '.join(RESPONSE_MODES)}")
    if mode not in (None, "query", "jwt", "query.jwt") and fapi.applies(client, settings):
        raise InvalidRequest("the FAPI 2.0 profile allows response_mode query or query.jwt")
    scope = params.get("scope")
    if scope is None:
        raise InvalidScope("scope is required")
    # OIDC Core §3.1.2.1 / RFC 6749 §3.3: scope values the provider does not know, or does not
    # grant this client, are ignored; the token response names the scope granted.
    scopes = frozenset(scope.split()) & client.scopes
    if not scopes:
        raise InvalidScope("none of the requested scopes is allowed for this client")
    challenge, method = _pkce(client, params, settings)
    prompts = frozenset((params.get("prompt") or "").split())
    if prompts - PROMPTS:
        raise InvalidRequest("prompt has an unsupported value")
    # OIDC Core §3.1.2.1: none must not be combined with anything else.
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    max_age = params.get("max_age")
    max_age_s: int | None = None
    if max_age is not None:
        if not max_age.isdigit() or len(max_age) > 9:
            raise InvalidRequest("max_age must be a non-negative integer")
        max_age_s = int(max_age)
    claims = parse_claims(params.get("claims"))
    # OIDC Core §5.5: UserInfo claims only with openid (§5.3), and only those a scope this
    # client may be granted releases: the parameter never shows a client more than that.
    userinfo = tuple(
        name
        for name in claims.userinfo
        if "openid" in scopes and CLAIM_SCOPE[name] in client.scopes
    )
    claims = replace(claims, userinfo=userinfo)
    dpop_jkt = params.get("dpop_jkt")
    # RFC 9449 §10: a JWK SHA-256 thumbprint (RFC 7638), base64url: 43 characters.
    if dpop_jkt is not None and not _JKT.fullmatch(dpop_jkt):
        raise InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint")
    # Unmet Authentication Requirements §2 / OIDC Core §5.5.1.1: an essential acr that no
    # sign-in here can meet is refused at once (acr_values alone are voluntary).
    if claims.essential_acr and not any(v in ACR_VALUES for v in claims.essential_acr):
        raise UnmetAuthenticationRequirements("no sign-in method meets the essential acr")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        nonce=params.get("nonce"),
        code_challenge=challenge,
        code_challenge_method=method,
        prompts=prompts,
        max_age_s=max_age_s,
        login_hint=params.get("login_hint"),
        response_mode=mode or "query",
        id_token_hint=params.get("id_token_hint"),
        acr_values=tuple((params.get("acr_values") or "").split()),
        claims=claims,
        dpop_jkt=dpop_jkt,
    )


def _pkce(client: Client, params: Params, settings: OidcSettings) -> tuple[str | None, str | None]:
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    # FAPI 2.0 SP §5.3.2.2-3: PKCE with S256, always.
    if fapi.applies(client, settings) and (challenge is None or method != S256):
        raise InvalidRequest("the FAPI 2.0 profile requires PKCE with S256")
    if challenge is None:
        # RFC 9700 §2.1.1: public clients must use PKCE; confidential ones when configured.
        if client.require_pkce or client.is_public or settings.require_pkce_for_confidential:
            raise InvalidRequest("code_challenge (PKCE, S256) is required")
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        return None, None
    # RFC 7636 §4.3: the method defaults to plain, which is refused unless allowed.
    method = method or PLAIN
    if method == PLAIN and not settings.allow_plain_pkce:
        raise InvalidRequest("code_challenge_method plain is not allowed; use S256")
    if method not in (S256, PLAIN):
        raise InvalidRequest("code_challenge_method must be S256")
    if not is_valid_challenge(challenge):
        raise InvalidRequest("code_challenge is malformed")
    return challenge, method
