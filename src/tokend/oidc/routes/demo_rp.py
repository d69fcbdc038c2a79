"""``/demo``: a tiny relying party for demo mode. It sends the browser through the real
``/authorize`` flow (PKCE S256, state, nonce) as the demo web client, redeems the code with the
authorization_code grant, and shows the decoded tokens."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.cache.codec import get_json, set_json
from tokend.cache.tiered import TieredCache
from tokend.core.crypto import random_secret
from tokend.core.errors import InvalidToken, TokendError
from tokend.core.forms import form_params
from tokend.core.jwt import read_unverified
from tokend.core.pkce import s256
from tokend.core.routing import api_router
from tokend.oidc.demo import WEB_CLIENT_ID
from tokend.oidc.grants import GRANTS, GrantDeps, TokenRequest
from tokend.oidc.routes.html import Pages
from tokend.oidc.stores import ClientStore

DEMO_COOKIE = "tokend_demo"


@dataclass(frozen=True, slots=True)
class DemoServices:
    """The demo relying party keeps its state in the cache and redeems codes in process."""

    cache: TieredCache
    clients: ClientStore
    grants: GrantDeps


def _decode(token: str) -> str:
    try:
        header, payload = read_unverified(token)
    except InvalidToken:
        return "(opaque)"
    return json.dumps(dict(header), indent=2) + "\n" + json.dumps(dict(payload), indent=2)


def demo_router(get: Callable[[], DemoServices], pages: Pages, base_url: str) -> APIRouter:
    router = api_router(include_in_schema=False)
    redirect_uri = f"{base_url}/demo/callback"

    @router.get("/demo")
    async def home() -> Response:
        csrf = random_secret(16)
        response = pages.render("demo.html", csrf_token=csrf, tokens=None)
        response.set_cookie(DEMO_COOKIE, csrf, path="/demo", httponly=True, samesite="lax")
        return response

    @router.post("/demo/login")
    async def login(request: Request) -> Response:
        services = get()
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        cookie = request.cookies.get(DEMO_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie, form.get("csrf_token") or ""):
            return pages.error("The form could not be verified.", 403)
        state, nonce, verifier = random_secret(16), random_secret(16), random_secret(48)
        await set_json(
            services.cache, f"oidc:demo:{state}", {"verifier": verifier, "browser": cookie}, 600
        )
        query = urlencode({
            "response_type": "code", "client_id": WEB_CLIENT_ID, "redirect_uri": redirect_uri,
            "scope": "openid profile email offline_access", "state": state, "nonce": nonce,
            "code_challenge": s256(verifier), "code_challenge_method": "S256",
        })  # fmt: skip
        return RedirectResponse(f"/authorize?{query}", status_code=303)

    @router.get("/demo/callback")
    async def callback(request: Request) -> Response:
        services = get()
        params = request.query_params
        state, code = params.get("state", ""), params.get("code", "")
        saved = await get_json(services.cache, f"oidc:demo:{state}") if state else None
        # The state must be one this browser started (RFC 6749 §10.12).
        if not isinstance(saved, dict) or saved.get("browser") != request.cookies.get(DEMO_COOKIE):
            return pages.error("The sign-in response does not match a request of this browser.")
        await services.cache.delete(f"oidc:demo:{state}")
        if not code:
            return pages.error(f"Sign-in did not complete: {params.get('error', 'no code')}.")
        client = await services.clients.get(WEB_CLIENT_ID)
        if client is None:
            return pages.error("The demo client is missing.")
        grant = GRANTS["authorization_code"]
        try:
            result = await grant.handle(
                TokenRequest(
                    "authorization_code",
                    {"code": code, "redirect_uri": redirect_uri,
                     "code_verifier": str(saved["verifier"])},
                ),
                client,
                services.grants,
            )  # fmt: skip
        except TokendError as exc:
            return pages.error(exc.description)
        tokens = [("Access token", _decode(result.access_token.value))]
        if result.id_token is not None:
            tokens.append(("ID token", _decode(result.id_token)))
        hint = {
            "id_token_hint": result.id_token or "",
            "post_logout_redirect_uri": base_url + "/demo",
        }
        logout = "/logout?" + urlencode(hint)
        return pages.render("demo.html", tokens=tokens, logout_url=logout, csrf_token="")

    return router
