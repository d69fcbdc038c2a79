"""``POST /par``: pushed authorization requests (RFC 9126 §2)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.dpop import InvalidDpopProof
from tokend.core.errors import OAUTH, JSONBody
from tokend.core.forms import Params, form_openapi, form_params
from tokend.core.surfaces import surface_router
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.routes.token import TokenServices

_PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "client_secret", "client_assertion",
    "client_assertion_type",
)  # fmt: skip
PAR_BODY = form_openapi(
    {name: "An authorization request parameter or client authentication" for name in _PARAMETERS},
    ("response_type", "client_id"),
)


def par_router(
    services: Callable[[], TokenServices], flow: Callable[[], AuthorizationFlow]
) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    @router.post(
        "/par",
        summary="Pushed authorization request endpoint (RFC 9126 §2)",
        status_code=201,
        response_class=JSONBody,
        openapi_extra=PAR_BODY,
    )
    async def par(request: Request) -> JSONBody:
        token = services()
        form = await form_params(request)
        # RFC 9126 §2: the client authenticates as at the token endpoint.
        client = await token.clients.authenticate(
            request.headers.get("authorization", ""), form.single
        )
        await token.limits.hit_token(client.client_id, client_ip(request))
        auth_params = {
            k: v
            for k, v in form.single.items()
            if k not in ("client_secret", "client_assertion", "client_assertion_type")
        }
        # RFC 9449 §10.1: a DPoP proof at PAR binds the code as dpop_jkt does.
        proof = await token.dpop.proof(request.headers.getlist("dpop"), "POST", "/par")
        if proof is not None and auth_params.setdefault("dpop_jkt", proof.jkt) != proof.jkt:
            raise InvalidDpopProof("dpop_jkt does not match the DPoP proof's key")
        pushed = await flow().pushed.push(client, Params(auth_params, {}))
        # RFC 9126 §2.2: 201 with request_uri and expires_in.
        return JSONBody(
            {"request_uri": pushed.request_uri, "expires_in": pushed.expires_in},
            status_code=201,
            headers={**NO_STORE, **token.dpop.nonce_headers()},
        )

    return router
