"""The operator role's seed endpoint: ``POST /api/demo/token?mcc&sn`` form telco_auth, auth_code."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from fastapi import APIRouter, Depends, Query, Request
from prometheus_client import Counter
from starlette.responses import Response

from tokend.core.admin_auth import bearer_matches
from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.clock import Clock
from tokend.core.errors import DETAIL, JSONBody, TokendError, Unauthorized
from tokend.core.forms import form_openapi, form_params
from tokend.core.phone_numbers import digits_of_query
from tokend.core.routing import merge
from tokend.core.surfaces import surface_router
from tokend.telco.codes import OneTimeCodes
from tokend.telco.schemas import OneTimeCodeResponse, SeedError, TokenResponse, iso_utc
from tokend.telco.service import TelcoOperator, parse_telco_auth


def operator_router(
    operator: TelcoOperator, clock: Clock, issued: Counter, code_issuer_token: str | None = None
) -> APIRouter:
    router = surface_router(
        DETAIL, max_body_bytes=FORM_MAX_BYTES, tags=[f"telco {operator.config.operator_id}"]
    )
    operator_id = operator.config.operator_id

    @router.post(
        "/api/demo/token",
        summary=f"Operator token from {operator_id} (seed 000 telco)",
        response_model=TokenResponse,
        responses={400: {"model": SeedError}, 401: {"model": SeedError}},
        openapi_extra=form_openapi(
            {
                "auth_code": "Authorization code",
                "telco_auth": 'JSON {"client_id", "client_secret"} (or use HTTP Basic)',
            },
            ("auth_code",),
        ),
        operation_id=f"telco_{operator_id.replace('-', '_')}_token",
    )
    async def token(
        request: Request,
        mcc: str | None = Query(default=None),
        sn: str | None = Query(default=None),
    ) -> Response:
        try:
            digits_of_query(mcc, sn)
            assert mcc is not None  # checked by digits_of_query
            assert sn is not None
            form = await form_params(request, empty_is_form=True)
            raw = form.get("telco_auth")
            credentials = parse_telco_auth(raw) if raw is not None else _basic(request)
            token = await operator.token(
                credentials, form.get("auth_code"), mcc=mcc, sn=sn, now=clock.now()
            )
        except TokendError:
            issued.labels(operator_id, "refused").inc()
            raise
        issued.labels(operator_id, "issued").inc()
        body = {
            "access_token": token.access_token,
            "grant_type": "client_credentials",
            "token_type": "Bearer",
            "iat": iso_utc(token.issued_at),
            "exp": iso_utc(token.expires_at),
        }
        return JSONBody(body, headers=NO_STORE)

    if operator.one_time_codes is not None and code_issuer_token is not None:
        merge(router, _codes_router(operator_id, operator.one_time_codes, code_issuer_token))
    return router


def seed_jwks(document: bytes, signing_kid: str, alias: str | None) -> bytes:
    """The keyring's JWKS; with ``alias`` (seed ``JWT_KID``) the current signing key is listed
    under it too, as the kid the operator's tokens carry."""
    if alias is None:
        return document
    keys = json.loads(document)["keys"]
    current = [dict(key, kid=alias) for key in keys if key.get("kid") == signing_kid]
    others = [key for key in keys if key.get("kid") != alias]
    return json.dumps({"keys": current + others}, separators=(",", ":")).encode()


def seed_jwks_router(jwks: Callable[[], bytes]) -> APIRouter:
    """Seed 000 telco's ``GET /api/demo/.well-known/jwks.json`` (besides the server's
    ``/.well-known/jwks.json``): the public keys of the operator's tokens."""
    router = surface_router(DETAIL, tags=["telco"])

    @router.get(
        "/api/demo/.well-known/jwks.json",
        summary="Public keys of the operator's tokens (seed 000 telco path)",
        response_class=Response,
    )
    async def operator_jwks() -> Response:
        # RFC 7517 §5; max-age as the seed's cached JWKS (``JWT_JWKS_EXP``, 600 s).
        headers = {"Cache-Control": "public, max-age=600"}
        return Response(jwks(), media_type="application/json", headers=headers)

    return router


def _codes_router(operator_id: str, codes: OneTimeCodes, issuer_token: str) -> APIRouter:
    async def require_issuer(request: Request) -> None:
        if not bearer_matches(request.headers.get("authorization", ""), issuer_token):
            raise Unauthorized("a valid code issuer bearer token is required")

    router = surface_router(DETAIL, dependencies=[Depends(require_issuer)])

    @router.post(
        "/api/demo/codes",
        summary=f"One-time auth code from {operator_id} for a subscriber",
        status_code=201,
        response_model=OneTimeCodeResponse,
        responses={400: {"model": SeedError}, 401: {"model": SeedError}},
        operation_id=f"telco_{operator_id.replace('-', '_')}_codes",
    )
    async def issue_code(
        mcc: str | None = Query(default=None, description="Mobile country code, 1-3 digits"),
        sn: str | None = Query(default=None, description="Subscriber number digits"),
    ) -> Response:
        digits_of_query(mcc, sn)
        assert mcc is not None  # checked by digits_of_query
        assert sn is not None
        code = await codes.issue(mcc, sn)
        body = {"auth_code": code, "expires_in": codes.ttl_s}
        return JSONBody(body, status_code=201, headers=NO_STORE)

    return router


def _basic(request: Request) -> tuple[str, str] | None:
    """RFC 7617 Basic credentials, or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None
