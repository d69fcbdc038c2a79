"""``POST /token`` (RFC 6749 §3.2): form → client authentication → grant → JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.requests import Request

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.dpop import DPOP_ALGORITHMS, InvalidDpopProof
from tokend.core.errors import (
    OAUTH,
    InvalidRequest,
    JSONBody,
    TokendError,
    UnsupportedGrantType,
)
from tokend.core.forms import form_params
from tokend.core.surfaces import surface_router
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.cors import cors_headers, origins_of
from tokend.oidc.dpop_checks import DpopChecks
from tokend.oidc.fapi import FAPI_ALGORITHMS
from tokend.oidc.grants import GRANTS, GrantDeps, TokenRequest
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.routes.peer import client_ip

#: RFC 6749 §5.1: token responses must not be cached.


@dataclass(frozen=True, slots=True)
class TokenServices:
    """What ``POST /token`` calls: one lookup per request on this hot path."""

    clients: ClientAuthenticator
    limits: RateLimits
    grants: GrantDeps
    dpop: DpopChecks
    #: The FAPI 2.0 profile for every client (``oidc.fapi2``).
    fapi2: bool = False


FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string"},
                        "code": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "code_verifier": {"type": "string"},
                        "refresh_token": {"type": "string"},
                        "scope": {"type": "string"},
                        "resource": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "client_assertion_type": {"type": "string"},
                        "client_assertion": {"type": "string"},
                        "device_code": {"type": "string"},
                        "auth_req_id": {"type": "string"},
                        "subject_token": {"type": "string"},
                        "subject_token_type": {"type": "string"},
                        "actor_token": {"type": "string"},
                        "actor_token_type": {"type": "string"},
                        "requested_token_type": {"type": "string"},
                        "audience": {"type": "string"},
                    },
                }
            }
        },
    }
}


def token_router(get: Callable[[], TokenServices]) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    @router.post(
        "/token",
        summary="Token endpoint (RFC 6749 §3.2)",
        response_class=JSONBody,
        openapi_extra=FORM_BODY,
    )
    async def token(request: Request) -> JSONBody:
        services = get()
        form = await form_params(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        grant = GRANTS.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"grant_type {grant_type[:40]} is not supported")
        client = await services.clients.authenticate(
            request.headers.get("authorization", ""), form.single
        )
        # CORS: a browser at one of the client's web origins may read the answer, errors too.
        cors = cors_headers(request.headers.get("origin"), origins_of(client))
        try:
            await services.limits.hit_token(client.client_id, client_ip(request))
            fapi = services.fapi2 or client.fapi2_profile
            proof = await services.dpop.proof(
                request.headers.getlist("dpop"),
                "POST",
                "/token",
                # FAPI 2.0 SP §5.4.1-1: PS256, ES256 or EdDSA.
                algorithms=FAPI_ALGORITHMS if fapi else DPOP_ALGORITHMS,
            )
            if proof is None and (client.dpop_bound_access_tokens or fapi):
                # RFC 9449 §5.2 / FAPI 2.0 SP §5.3.2.1-5: access tokens must be DPoP-bound.
                raise InvalidDpopProof("this client must send a DPoP proof")
            params = {name: form.single[name] for name in grant.parameters if name in form.single}
            resources = (*form.all("resource"), *form.all("audience"))
            jkt = proof.jkt if proof is not None else None
            response = await grant.handle(
                TokenRequest(grant_type, params, resources, jkt), client, services.grants
            )
        except TokendError as exc:
            exc.headers = {**exc.headers, **cors}
            raise
        headers = {**NO_STORE, **services.dpop.nonce_headers(), **cors}
        return JSONBody(response.to_json(), headers=headers)

    return router
