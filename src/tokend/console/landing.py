"""``/``: what this server is, and where to go from here (the console, discovery, the API
documentation, the demo relying party, each capability). In demo mode, or when
``console.landing`` says so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from fastapi import APIRouter
from starlette.responses import Response

from tokend.console.web import Templates
from tokend.core.routing import api_router

#: What each capability is, in a line, and where it starts.
ABOUT: Final[Mapping[str, tuple[str, str]]] = {
    "oidc": ("OpenID provider: sign-in, clients, tokens", "/.well-known/openid-configuration"),
    "broker": ("Broker: telco tokens routed by subscriber number", "/broker"),
    "telco": ("Operators: the demo telco token services", "/telcos"),
    "vault": ("Vault: third-party OAuth connections and their tokens", "/vault"),
    "gateway": ("Gateway: API keys exchanged for JWTs", "/gateway"),
    "guard": ("Guard: validates tokens from trusted issuers", "/guard"),
}


def landing_router(
    templates: Templates,
    *,
    modules: Sequence[str],
    issuer: str,
    console: bool,
    docs: bool,
    demo: bool,
) -> APIRouter:
    router = api_router(include_in_schema=False)
    capabilities = [(name, *ABOUT[name]) for name in modules if name in ABOUT]

    @router.get("/")
    async def landing() -> Response:
        return templates.render(
            "landing.html", issuer=issuer, capabilities=capabilities, console=console,
            docs=docs, demo=demo and "oidc" in modules, admin=None, nav=(), csrf_token="",
        )  # fmt: skip

    return router
