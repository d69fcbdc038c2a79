"""CIBA Core 1.0: ``POST /backchannel-authentication`` (§7.1, form in, JSON out), the device
app's ``POST /backchannel-authentication/decisions`` (JSON, a one-time decision token), and the
approval page ``/ciba`` where the signed-in user approves or denies their pending requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.body_limit import FORM_MAX_BYTES, read_body
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import OAUTH, InvalidRequest, JSONBody, TokendError
from tokend.core.forms import form_openapi, form_params
from tokend.core.json_input import InvalidJson, parse_json
from tokend.core.routing import api_router
from tokend.core.surfaces import surface_router
from tokend.oidc.accounts import Accounts
from tokend.oidc.backchannel_authentication import PARAMETERS, BackchannelAuthentication
from tokend.oidc.backchannel_decisions import BackchannelDecisions
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.routes.authorize import SESSION_COOKIE
from tokend.oidc.routes.html import Pages
from tokend.oidc.routes.interaction import SCOPE_TEXT
from tokend.oidc.routes.peer import client_ip

NOTICES = {
    "approved": "Request approved. You can go back to the app that asked.",
    "denied": "Request denied.",
    "gone": "That request was already answered or has expired.",
}
#: A decision token is 43 characters; anything much longer is not one.
DECISION_TOKEN_MAX = 200


@dataclass(frozen=True, slots=True)
class BackchannelServices:
    clients: ClientAuthenticator
    limits: RateLimits
    authentication: BackchannelAuthentication
    decisions: BackchannelDecisions
    #: The signed-in user of the approval page (session cookie, CSRF token).
    accounts: Accounts


_FORM = form_openapi(
    {
        "client_id": "client_secret_post authentication",
        "client_secret": "client_secret_post authentication",
        "client_assertion_type": "private_key_jwt / client_secret_jwt authentication",
        "client_assertion": "private_key_jwt / client_secret_jwt authentication",
        "scope": "The scopes asked for; must contain openid (CIBA Core §7.1)",
        "login_hint": "The user: an e-mail address, tel:+<E.164> (verified), or the subject",
        "id_token_hint": "An ID token this provider issued to the client",
        "login_hint_token": "Not supported (answered with invalid_request)",
        "binding_message": "Shown to the user on the device: up to 64 printable characters",
        "requested_expiry": "Seconds the request may wait for the user",
        "client_notification_token": "Ping mode: the bearer token of the ping callback",
        "acr_values": "Accepted and not acted on",
    },
    ("scope",),
)
_DECISION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["decision_token", "approve"],
                    "properties": {
                        "decision_token": {"type": "string", "maxLength": DECISION_TOKEN_MAX},
                        "approve": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


def backchannel_router(get: Callable[[], BackchannelServices]) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    @router.post(
        "/backchannel-authentication",
        summary="Backchannel authentication endpoint (CIBA Core §7)",
        response_class=JSONBody,
        openapi_extra=_FORM,
    )
    async def backchannel_authentication(request: Request) -> JSONBody:
        services = get()
        form = await form_params(request)
        # §7.1: the client authenticates as at the token endpoint, before anything else.
        client = await services.clients.authenticate(
            request.headers.get("authorization", ""), form.single
        )
        await services.limits.hit_token(client.client_id, client_ip(request))
        # RFC 6749 §3.1: a parameter sent without a value is as if omitted.
        params = {name: form.single[name] for name in PARAMETERS if form.single.get(name)}
        started = await services.authentication.start(client, params)
        return JSONBody(started.to_json(), headers=NO_STORE)

    @router.post(
        "/backchannel-authentication/decisions",
        summary="The user's decision from their authentication device app (CIBA)",
        status_code=204,
        response_class=Response,
        openapi_extra=_DECISION_BODY,
    )
    async def decision(request: Request) -> Response:
        services = get()
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise InvalidRequest("send the decision as application/json")
        try:
            body = parse_json(await read_body(request, FORM_MAX_BYTES))
        except InvalidJson as exc:
            raise InvalidRequest(f"the body is not JSON: {exc.reason}") from None
        token = body.get("decision_token") if isinstance(body, dict) else None
        approve = body.get("approve") if isinstance(body, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= DECISION_TOKEN_MAX:
            raise InvalidRequest("decision_token is required")
        if not isinstance(approve, bool):
            raise InvalidRequest("approve must be true or false")
        await services.decisions.decide_by_token(token, approve)
        return Response(status_code=204, headers=NO_STORE)

    return router


def approval_page_router(get: Callable[[], BackchannelServices], pages: Pages) -> APIRouter:
    """``/ciba``: the signed-in user's pending requests (an authentication device in the
    browser: the demo's, or an operator's who turns ``oidc.ciba.approval_page`` on)."""
    router = api_router(tags=["oidc pages"], include_in_schema=False)

    def to_sign_in() -> Response:
        return RedirectResponse("/account/sign-in", status_code=303)

    @router.get("/ciba")
    async def show(request: Request) -> Response:
        services = get()
        signed = await services.accounts.signed_in(request.cookies.get(SESSION_COOKIE))
        if signed is None:
            return to_sign_in()
        pending = await services.decisions.pending_for(signed.user.id)
        shown = [
            {
                "id": p.id,
                "client_name": p.client_name,
                "binding_message": p.binding_message,
                "scopes": [SCOPE_TEXT.get(s, s) for s in p.scopes],
            }
            for p in pending
        ]
        response = pages.render(
            "ciba.html",
            email=signed.user.email,
            requests=shown,
            notice=NOTICES.get(request.query_params.get("done", "")),
            csrf_token=services.accounts.csrf_token(signed),
        )
        response.headers.update(NO_STORE)
        return response

    @router.post("/ciba")
    async def decide(request: Request) -> Response:
        services = get()
        signed = await services.accounts.signed_in(request.cookies.get(SESSION_COOKIE))
        if signed is None:
            return to_sign_in()
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        if not services.accounts.csrf_matches(signed, form.get("csrf_token")):
            return pages.error(
                "The form could not be verified. Go back and try again.",
                status=403,
                title="Request not accepted",
            )
        choice = form.get("decision")
        if choice not in ("approve", "deny"):
            return pages.error("Choose Approve or Deny.")
        approve = choice == "approve"
        # An approval is a fresh authentication by this session: its time and methods.
        decided = await services.decisions.decide(
            form.get("request_id") or "", signed.user.id, approve, signed.session.amr
        )
        done = ("approved" if approve else "denied") if decided else "gone"
        return RedirectResponse(f"/ciba?done={quote(done)}", status_code=303)

    return router
