"""Server-rendered pages (Jinja2, autoescaped); templates and stylesheet load at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Final

from fastapi import APIRouter
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from starlette.responses import HTMLResponse, Response

from tokend.core.html_headers import HTML_PAGE_HEADERS, html_page

TEMPLATES: Final = (
    "login.html",
    "consent.html",
    "error.html",
    "message.html",
    "account.html",
    "demo.html",
    "logout.html",
    "second_factor.html",
    "account_console.html",
    "device.html",
    "ciba.html",
    "sign_up.html",
    "select_account.html",
)


#: ``HTML_PAGE_HEADERS``' policy plus the provider's own script files (never inline script).
SCRIPT_CSP: Final = HTML_PAGE_HEADERS["Content-Security-Policy"].replace(
    "default-src 'none';", "default-src 'none'; script-src 'self';"
)
#: ``SCRIPT_CSP`` plus requests to this origin: the login page's script fetches a fresh passkey
#: challenge (conditional mediation) from ``/interaction/{uid}/passkey/options``.
FETCHING_SCRIPT_CSP: Final = SCRIPT_CSP.replace(
    "script-src 'self';", "script-src 'self'; connect-src 'self';"
)


@cache
def _compiled() -> tuple[Mapping[str, Template], str, str]:
    """The templates, compiled once per process (no template file is read while serving, and
    every app the process builds, a test's included, shares them: they are package files and
    a compiled Jinja2 template keeps no state between renders), the stylesheet and the script."""
    env = Environment(
        loader=PackageLoader("tokend.oidc", "pages"),
        autoescape=select_autoescape(("html",)),
        auto_reload=False,
    )
    pages = files("tokend.oidc") / "pages"
    return (
        MappingProxyType({name: env.get_template(name) for name in TEMPLATES}),
        (pages / "tokend.css").read_text(encoding="utf-8"),
        (pages / "passkeys.js").read_text(encoding="utf-8"),
    )


class Pages:
    def __init__(self) -> None:
        self._templates, self.css, self.passkeys_js = _compiled()

    def render(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        return html_page(self._templates[name].render(**context), status)

    def render_scripted(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        """A page that loads the provider's own scripts (``/assets/*.js``: the passkey
        ceremonies), which its Content-Security-Policy then allows, and nothing else."""
        response = self.render(name, status, **context)
        response.headers["Content-Security-Policy"] = SCRIPT_CSP
        return response

    def render_fetching(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        """``render_scripted``, and the script may call this origin (the login page's fresh
        passkey challenges)."""
        response = self.render(name, status, **context)
        response.headers["Content-Security-Policy"] = FETCHING_SCRIPT_CSP
        return response

    def error(
        self, message: str, status: int = 400, title: str = "Something went wrong"
    ) -> HTMLResponse:
        return self.render("error.html", status, title=title, message=message)


def assets_router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    css = pages.css.encode("utf-8")
    passkeys_js = pages.passkeys_js.encode("utf-8")

    @router.get("/assets/tokend.css")
    async def stylesheet() -> Response:
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    @router.get("/assets/passkeys.js")
    async def passkeys_script() -> Response:
        return Response(
            passkeys_js,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router
