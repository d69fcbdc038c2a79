"""Seed 000 broker endpoint and the Telco Finder search: HTTP in, service call, JSON out."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from tokend.broker.errors import CAMARA, SEED_DETAIL
from tokend.broker.schemas import SearchRequest, SearchResponse, SeedError, TokenResponse, iso_utc
from tokend.broker.seed_input import check_seed_input
from tokend.broker.service import BrokerService, TelcoFinder
from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import DETAIL, JSONBody
from tokend.core.forms import FORM_MEDIA_TYPE, Params, form_openapi, form_params
from tokend.core.surfaces import surface_router

_SEED_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": SeedError, "description": text}
    for status, text in (
        (400, "No operator for the number, or malformed input"),
        (401, "The operator refused the code or the broker"),
        (422, "Invalid fields, every one listed (seed errors on)"),
        (503, "The operator is unreachable, timed out or its circuit is open"),
    )
}


def _query(name: str, description: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


def token_router(service: Callable[[], BrokerService], *, seed_errors: bool = False) -> APIRouter:
    """The seed endpoint; ``seed_errors``: seed 000's 422 validation bodies and the operator's
    answers relayed as the seed did (``TOKEND_BROKER__SEED_ERRORS``)."""
    router = surface_router(
        SEED_DETAIL if seed_errors else DETAIL, max_body_bytes=FORM_MAX_BYTES, tags=["broker"]
    )

    @router.post(
        "/api/demo/token",
        summary="Broker token for a subscriber (seed 000)",
        response_model=TokenResponse,
        responses=_SEED_ERRORS,
        openapi_extra={
            **form_openapi({"auth_code": "The operator's authorization code"}, ("auth_code",)),
            "parameters": [
                _query("mcc", "Mobile country code, 1-3 digits"),
                _query("sn", "Subscriber number digits"),
            ],
        },
    )
    async def token(request: Request) -> Response:
        # The query is read from the request rather than declared as FastAPI parameters: on
        # this hot path FastAPI's parameter solving cost ~15% of a cached answer (py-spy; README
        # "Performance"). The service validates both values; the OpenAPI document lists them.
        query = request.query_params
        if seed_errors and not _is_form(request):
            form = Params({}, {})  # FastAPI read no form field from another body: all missing
        else:
            form = await form_params(request, empty_is_form=True)
        if seed_errors:
            check_seed_input(query.get("mcc"), query.get("sn"), form.get("auth_code"))
        issued = await service().issue(query.get("mcc"), query.get("sn"), form.get("auth_code"))
        body = {
            "access_token": issued.access_token,
            "grant_type": "client_credentials",
            "token_type": "Bearer",
            "iat": iso_utc(issued.issued_at),
            "exp": iso_utc(issued.expires_at),
        }
        return JSONBody(body, headers=NO_STORE)

    return router


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == FORM_MEDIA_TYPE


def finder_router(finder: TelcoFinder) -> APIRouter:
    router = surface_router(CAMARA, max_body_bytes=FORM_MAX_BYTES, tags=["telco-finder"])

    @router.post(
        "/telco-finder/v1/search",
        summary="Telco Finder: which operator serves this phone number",
        response_model=SearchResponse,
        responses={404: {"description": "No operator serves this number"}},
    )
    async def search(body: SearchRequest) -> SearchResponse:
        found = finder.find(body.phoneNumber)
        auth = {"tokenEndpoint": found.token_endpoint}
        if found.openid_configuration is not None:
            auth["openidConfiguration"] = found.openid_configuration
        return SearchResponse(
            operatorId=found.operator_id, apiRoot=found.api_root, authProviderConfiguration=auth
        )

    return router
