"""Seed 001 connect flow: ``/oauth/start/{id}``, ``/oauth/login/{id}``, ``/auth/callback``."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import TokendError
from tokend.core.html_headers import html_page
from tokend.core.surfaces import request_id_of
from tokend.vault.access import READ, Caller, VaultAccess
from tokend.vault.errors import result_page
from tokend.vault.schemas import OAuthStart, PathId
from tokend.vault.service import VaultService
from tokend.vault.settings import VaultSettings


def add_connect_routes(
    router: APIRouter,
    service: Callable[[], VaultService],
    access: VaultAccess,
    settings: VaultSettings,
) -> None:
    """Register start, login and the callback on ``router`` (a SEED-surface router)."""
    read = Depends(access.require(READ))

    @router.get("/oauth/start/{client_id}", response_model=OAuthStart)
    async def start(client_id: PathId, response: Response, caller: Caller = read) -> OAuthStart:
        caller.check_client(client_id)
        begun = await service().start_authorization(client_id)
        response.headers.update(NO_STORE)
        return OAuthStart(auth_url=begun.auth_url, state=begun.state)

    # Seed 001 (code) answers FastAPI's default 307.
    @router.get("/oauth/login/{client_id}", status_code=307)
    async def login(client_id: PathId, caller: Caller = read) -> Response:
        caller.check_client(client_id)
        begun = await service().start_authorization(client_id)
        return RedirectResponse(begun.auth_url, status_code=307, headers=NO_STORE)

    # The redirect URI the provider sends the browser back to: the state authenticates it.
    @router.get("/auth/callback", response_class=HTMLResponse)
    async def callback(
        request: Request,
        code: str | None = Query(default=None, max_length=4096),
        state: str | None = Query(default=None, max_length=512),
        error: str | None = Query(default=None, max_length=256),
    ) -> Response:
        try:
            client = await service().complete_authorization(state, code, error)
        except TokendError as failed:
            if not _wants_html(request):
                raise
            page = result_page(
                "Connection failed", failed.description, request_id_of(request.scope)
            )
            return html_page(page, failed.status)
        if settings.return_url is not None:
            query = urlencode({"status": "connected", "client_id": client.id})
            separator = "&" if "?" in settings.return_url else "?"
            return RedirectResponse(
                settings.return_url + separator + query, status_code=302, headers=NO_STORE
            )
        page = result_page(
            "Connected",
            f"The {client.provider} account is connected. You can close this window.",
            request_id_of(request.scope),
        )
        return html_page(page)


def _wants_html(request: Request) -> bool:
    """A browser asks for HTML; an API client (or no Accept) gets the seed's JSON error."""
    return "text/html" in request.headers.get("accept", "")
