"""Server-rendered pages (Jinja2, autoescaped): each template compiled on its first render."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Final

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from tokend.core.html_headers import HTML_PAGE_HEADERS, html_page
from tokend.core.routing import api_router

if TYPE_CHECKING:
    from jinja2 import Environment

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
def _environment() -> Environment:
    """One Jinja2 environment per process, shared by every app it builds (a test's included).
    Jinja2 compiles a template when it is first rendered and keeps it (``auto_reload`` off: the
    file is never read again), as the console's templates do: compiling every page at start-up
    was a twentieth of a server's start, for pages most processes never serve. Jinja2 itself
    is imported here, on the first page, for the same reason (1 % of a start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("tokend.oidc", "pages"),
        autoescape=select_autoescape(("html",)),
        auto_reload=False,
        cache_size=-1,  # keep every compiled template (there are len(TEMPLATES))
    )


@cache
def _static() -> tuple[str, str]:
    """The stylesheet and the passkey script, read once per process."""
    pages = files("tokend.oidc") / "pages"
    return (
        (pages / "tokend.css").read_text(encoding="utf-8"),
        (pages / "passkeys.js").read_text(encoding="utf-8"),
    )


class Pages:
    def __init__(self) -> None:
        self.css, self.passkeys_js = _static()

    def render(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        if name not in TEMPLATES:
            raise KeyError(name)  # only the provider's own pages, never a path from a request
        return html_page(_environment().get_template(name).render(**context), status)

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
    router = api_router(include_in_schema=False)
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
