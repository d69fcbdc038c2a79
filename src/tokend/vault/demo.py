"""The demo provider: a tiny OAuth server inside the vault, so ``tokend serve --demo`` runs the
whole connect → validate → refresh → revoke loop with nothing else running.

It is enabled by demo mode or ``TOKEND_VAULT__DEMO_PROVIDER``, never in production (it approves
every authorization request at once). It sends the browser back only to its one client's
registered redirect URI, checks PKCE S256 and the client's credentials, and keeps its codes and
refresh tokens in this process's memory. At start-up the demo client is registered (its secret
renewed) and given a fresh connection, so ``validate`` answers at once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.crypto import random_secret
from tokend.core.forms import form_params
from tokend.core.pkce import S256, verifier_matches
from tokend.core.routing import api_router
from tokend.vault.provider_client import TokenSet
from tokend.vault.providers import Provider
from tokend.vault.records import ClientChanges, NewClient
from tokend.vault.registry import Registry
from tokend.vault.service import VaultService

DEMO_PROVIDER: Final = "demo"
DEMO_CLIENT_ID: Final = "tokend-demo-vault"
DEMO_PATH: Final = "/demo-provider"
TOKEN_TTL_S: Final = 3600


@dataclass
class DemoProvider:
    """The in-process provider's state: one client, its codes and refresh tokens."""

    #: The demo client's one registered redirect URI: the vault's callback.
    redirect_uri: str
    client_secret: str = field(default_factory=random_secret, repr=False)
    _codes: dict[str, tuple[str, str | None]] = field(default_factory=dict, repr=False)
    _refresh_tokens: set[str] = field(default_factory=set, repr=False)

    def catalog_entry(self, base_url: str) -> Provider:
        return Provider(
            name=DEMO_PROVIDER,
            display_name="tokend demo provider",
            authorization_url=f"{base_url}{DEMO_PATH}/authorize",
            token_url=f"{base_url}{DEMO_PATH}/token",
            revocation_url=f"{base_url}{DEMO_PATH}/revoke",
            default_scopes=("demo.read",),
            scope_separator=" ",
            authorize_params=MappingProxyType({}),
            token_auth_method="client_secret_post",  # noqa: S106  (a method name)
            supports_pkce=True,
            uses_discovery=False,
            rotates_refresh_token=False,
            default_expires_in_s=TOKEN_TTL_S,
        )

    def mint(self) -> TokenSet:
        refresh = "demo-rt-" + random_secret(24)
        self._refresh_tokens.add(refresh)
        return self._tokens(refresh)

    def router(self) -> APIRouter:
        router = api_router(include_in_schema=False)

        @router.get(f"{DEMO_PATH}/authorize")
        async def authorize(request: Request) -> Response:
            params = request.query_params
            # RFC 6749 §3.1.2.4, §4.1.2.1: an unknown client or a redirect URI other than the
            # registered one is answered here, never by sending the browser (and a code) there.
            if (
                params.get("client_id") != DEMO_CLIENT_ID
                or params.get("redirect_uri") != self.redirect_uri
            ):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = random_secret(16)
            self._codes[code] = (self.redirect_uri, params.get("code_challenge"))
            query = urlencode({"code": code, "state": params.get("state", "")})
            return RedirectResponse(f"{self.redirect_uri}?{query}", status_code=302)

        @router.post(f"{DEMO_PATH}/token")
        async def token(request: Request) -> Response:
            form = dict((await form_params(request)).single)
            if not self._authenticated(form):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("grant_type") == "authorization_code":
                return self._exchange(form)
            if form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self._refresh_tokens:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                return self._answer(self._tokens(None))
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

        @router.post(f"{DEMO_PATH}/revoke")
        async def revoke(request: Request) -> Response:
            form = dict((await form_params(request)).single)
            if not self._authenticated(form):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self._refresh_tokens.discard(form.get("token", ""))
            return Response(status_code=200)

        return router

    def _authenticated(self, form: dict[str, str]) -> bool:
        return form.get("client_id") == DEMO_CLIENT_ID and hmac.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        )

    def _exchange(self, form: dict[str, str]) -> Response:
        found = self._codes.pop(form.get("code", ""), None)
        if found is None or found[0] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        challenge = found[1]
        if challenge is not None and not verifier_matches(
            form.get("code_verifier", ""), challenge, S256
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return self._answer(self.mint())

    def _tokens(self, refresh: str | None) -> TokenSet:
        return TokenSet(
            access_token="demo-at-" + random_secret(24),
            refresh_token=refresh,
            token_type="Bearer",  # noqa: S106  (a token type)
            scope="demo.read",
            expires_in_s=TOKEN_TTL_S,
        )

    @staticmethod
    def _answer(tokens: TokenSet) -> Response:
        body: dict[str, object] = {
            "access_token": tokens.access_token,
            "token_type": tokens.token_type,
            "expires_in": tokens.expires_in_s,
            "scope": tokens.scope,
        }
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        return JSONResponse(body, headers=NO_STORE)


async def seed_demo(registry: Registry, service: VaultService, demo: DemoProvider) -> None:
    """Register the demo client (its secret renewed for this process) and connect it."""
    existing = await registry.client_by_oauth_id(DEMO_CLIENT_ID)
    if existing is None:
        client, _ = await registry.register(
            NewClient(
                client_id=DEMO_CLIENT_ID,
                client_secret=demo.client_secret,
                redirect_uri=demo.redirect_uri,
                provider=DEMO_PROVIDER,
            )
        )
    else:
        client = await registry.update_client(
            existing.id,
            ClientChanges(
                client_secret=demo.client_secret,
                redirect_uri=demo.redirect_uri,
                provider=DEMO_PROVIDER,
                is_active=True,
            ),
        )
    await service.adopt_connection(client.id, demo.mint())
