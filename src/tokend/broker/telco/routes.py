"""The operator role's seed endpoint: ``POST /api/demo/token?mcc&sn`` form telco_auth, auth_code."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Query, Request
from prometheus_client import Counter
from starlette.responses import Response

from tokend.broker.directory.phone import digits_of_query
from tokend.broker.errors import SEED
from tokend.broker.form_body import form_openapi, read_form
from tokend.broker.schemas import SeedError, TokenResponse, iso_utc
from tokend.broker.telco.operator import TelcoOperator, parse_telco_auth
from tokend.core.clock import Clock
from tokend.core.errors import JSONBody, TokendError
from tokend.core.surfaces import surface_router


def operator_router(operator: TelcoOperator, clock: Clock, issued: Counter) -> APIRouter:
    router = surface_router(SEED, tags=[f"telco {operator.config.operator_id}"])
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
            form = await read_form(request)
            raw = form.get("telco_auth")
            credentials = parse_telco_auth(raw) if raw is not None else _basic(request)
            client_id = operator.authenticate(credentials)
            auth_code = operator.check_code(form.get("auth_code"))
        except TokendError:
            issued.labels(operator_id, "refused").inc()
            raise
        assert mcc is not None  # checked by digits_of_query
        assert sn is not None
        token = operator.issue(
            client_id=client_id, mcc=mcc, sn=sn, auth_code=auth_code, now=clock.now()
        )
        issued.labels(operator_id, "issued").inc()
        body = {
            "access_token": token.access_token,
            "grant_type": "client_credentials",
            "token_type": "Bearer",
            "iat": iso_utc(token.issued_at),
            "exp": iso_utc(token.expires_at),
        }
        return JSONBody(body, headers={"Cache-Control": "no-store"})

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
