"""RFC 8628: ``POST /device_authorization`` (§3.1, JSON) and the verification page ``/device``
(§3.3), which hands a valid user code on to the provider's own sign-in and consent pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import OAUTH, JSONBody, RateLimited, TokendError
from tokend.core.forms import form_openapi, form_params
from tokend.core.routing import api_router
from tokend.core.surfaces import surface_router
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.device_authorization import DeviceAuthorizations
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.routes.authorize import SESSION_COOKIE, Outcomes
from tokend.oidc.routes.peer import client_ip

UNKNOWN_CODE = "That code is not valid or has expired. Check the code on your device."


@dataclass(frozen=True, slots=True)
class DeviceServices:
    clients: ClientAuthenticator
    limits: RateLimits
    devices: DeviceAuthorizations


_FORM = form_openapi(
    {
        "client_id": "The client (public clients authenticate by it alone)",
        "client_secret": "client_secret_post authentication",
        "scope": "The scopes asked for (RFC 8628 §3.1)",
    },
    (),
)


def device_authorization_router(get: Callable[[], DeviceServices]) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    @router.post(
        "/device_authorization",
        summary="Device authorization endpoint (RFC 8628 §3.1)",
        response_class=JSONBody,
        openapi_extra=_FORM,
    )
    async def device_authorization(request: Request) -> JSONBody:
        services = get()
        form = await form_params(request)
        # §3.1: the client authenticates as at the token endpoint (public ones by client_id).
        client = await services.clients.authenticate(
            request.headers.get("authorization", ""), form.single
        )
        await services.limits.hit_token(client.client_id, client_ip(request))
        scope = form.get("scope")
        started = await services.devices.start(
            client, frozenset(scope.split()) if scope is not None else None
        )
        return JSONBody(started.to_json(), headers=NO_STORE)

    return router


def device_page_router(
    get: Callable[[], DeviceServices], flow: Callable[[], AuthorizationFlow], outcomes: Outcomes
) -> APIRouter:
    router = api_router(tags=["oidc pages"], include_in_schema=False)
    pages = outcomes.pages

    def entry_page(user_code: str = "", error: str | None = None, status: int = 200) -> Response:
        return pages.render("device.html", status, user_code=user_code[:20], error=error)

    @router.get("/device")
    async def show(request: Request) -> Response:
        # §3.3.1 verification_uri_complete fills the code in; the user still submits it.
        return entry_page(request.query_params.get("user_code", ""))

    @router.post("/device")
    async def enter(request: Request) -> Response:
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        entered = (form.get("user_code") or "").strip()
        try:
            device = await get().devices.pending(entered, client_ip(request))
        except RateLimited as exc:
            response = entry_page(entered, exc.description, 429)
            response.headers.update(exc.headers)
            return response
        if device is None:
            return entry_page(entered, UNKNOWN_CODE, 400)
        outcome = await flow().start_device(
            device, request.cookies.get(SESSION_COOKIE), client_ip(request)
        )
        return outcomes.render(outcome)

    return router
