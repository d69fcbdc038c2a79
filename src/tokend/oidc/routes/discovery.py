"""``/.well-known/openid-configuration``: OIDC Discovery §3 / RFC 8414 §2 metadata, listing
only what this provider really supports."""

from __future__ import annotations

from fastapi import APIRouter

from tokend.core.dpop import DPOP_ALGORITHMS
from tokend.core.errors import JSONBody
from tokend.core.routing import api_router
from tokend.oidc.authn_context import ACR_VALUES
from tokend.oidc.authorization import PROMPTS, RESPONSE_MODES
from tokend.oidc.client_metadata import ASSERTION_ALGORITHMS, SECRET_ASSERTION_ALGORITHMS
from tokend.oidc.records import CLAIM_SCOPE, USER_SCOPES
from tokend.oidc.settings import OidcSettings

CLAIMS = (
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "acr", "amr", "azp",
    *CLAIM_SCOPE,
)  # fmt: skip


#: RFC 7523 §2.2 / OIDC Core §9 methods (client_auth.ClientAssertions).
KEY_AUTH_METHODS = ("private_key_jwt", "client_secret_jwt")


def endpoint_urls(issuer: str) -> tuple[str, ...]:
    """The endpoints a client assertion may name as its audience besides the issuer
    (RFC 7523 §3, RFC 9126 §2, CIBA Core §7.1)."""
    return (f"{issuer}/token", f"{issuer}/par", f"{issuer}/backchannel-authentication")


def discovery_document(issuer: str, settings: OidcSettings, id_token_alg: str) -> dict[str, object]:
    auth_methods = ["client_secret_basic", "client_secret_post", *KEY_AUTH_METHODS]
    assertion_algs = sorted(ASSERTION_ALGORITHMS | SECRET_ASSERTION_ALGORITHMS)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        # RFC 9126 §5.
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": settings.require_pushed_authorization_requests,
        # RFC 8628 §4.
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "scopes_supported": sorted(USER_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:openid:params:grant-type:ciba",
        ],
        "subject_types_supported": (
            ["public", "pairwise"] if settings.pairwise_salt is not None else ["public"]
        ),
        "id_token_signing_alg_values_supported": [id_token_alg],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        # RFC 9701 §7: signed introspection responses (clients opt in).
        "introspection_signing_alg_values_supported": [id_token_alg],
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": (
            ["S256", "plain"] if settings.allow_plain_pkce else ["S256"]
        ),
        "prompt_values_supported": sorted(PROMPTS),
        "claims_supported": list(CLAIMS),
        "claims_parameter_supported": True,
        "acr_values_supported": list(ACR_VALUES),
        # RFC 9101 §10.1 / OIDC Discovery §3: request objects by value, signed.
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": sorted(ASSERTION_ALGORITHMS),
        "request_uri_parameter_supported": False,
        # RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": sorted(DPOP_ALGORITHMS),
        # JARM §3: responses are signed with the ID-token key.
        "authorization_signing_alg_values_supported": [id_token_alg],
        # RFC 9207: the authorization response carries iss.
        "authorization_response_iss_parameter_supported": True,
        # CIBA Core §4: poll and ping (push is not offered), no user_code parameter.
        "backchannel_authentication_endpoint": f"{issuer}/backchannel-authentication",
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_user_code_parameter_supported": False,
        # OpenID Back-Channel Logout §2.1: logout tokens, with sid in ID tokens and them.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # RFC 8414 §2 / RFC 7591 §3: only when the operator turned registration on.
        **(
            {"registration_endpoint": f"{issuer}/register"} if settings.registration.enabled else {}
        ),
    }


def discovery_router(issuer: str, settings: OidcSettings, id_token_alg: str) -> APIRouter:
    router = api_router(tags=["oidc"])
    body = discovery_document(issuer, settings, id_token_alg)
    # Public metadata: any web page may read it (CORS, browser-based clients).
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}

    @router.get(
        "/.well-known/openid-configuration",
        summary="OpenID Provider metadata (OIDC Discovery §3)",
        response_class=JSONBody,
    )
    async def openid_configuration() -> JSONBody:
        return JSONBody(body, headers=headers)

    @router.get(
        "/.well-known/oauth-authorization-server",
        summary="Authorization server metadata (RFC 8414 §3)",
        response_class=JSONBody,
    )
    async def oauth_authorization_server() -> JSONBody:
        return JSONBody(body, headers=headers)

    return router
