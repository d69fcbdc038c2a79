"""What every console page shares: templates, the security headers, pagination and search,
form errors taken from the APIs' own validation, and the signed-in administrator."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from math import ceil
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tokend.console.audit import ConsoleAudit
from tokend.console.session import SESSION_COOKIE, Cookies, Session, console_path
from tokend.core.clock import Clock
from tokend.core.errors import ErrorContext, Surface, TokendError
from tokend.core.forms import Params, form_params
from tokend.core.html_headers import HTML_PAGE_HEADERS
from tokend.core.surfaces import surface_router
from tokend.oidc.authn_context import ACR_MFA

if TYPE_CHECKING:
    from jinja2 import Environment

T = TypeVar("T")
PAGE_SIZE: Final = 20
#: The login pages' policy, plus this origin's own script (console.js: confirmations, copy
#: buttons; every page works without it). ``form-action 'self'``: forms post here only.
CONSOLE_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **HTML_PAGE_HEADERS,
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    }
)


@cache
def _environment() -> Environment:
    """One template environment per process: each compiles a template on its first use and
    keeps it, so every app the process builds (a test's included) shares the compiled pages.
    Made, and Jinja2 imported, on the first page: a server that is never asked for one pays
    neither (1 % of a start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("tokend.console", "templates"),
        autoescape=select_autoescape(("html",)),
        auto_reload=False,
    )


class Templates:
    """The console's Jinja2 templates (autoescaped) and its two static files, read once."""

    def __init__(self) -> None:
        static = files("tokend.console") / "static"
        self.assets = {name: (static / name).read_bytes() for name in ("console.css", "console.js")}

    def render(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        body = _environment().get_template(name).render(**context)
        return HTMLResponse(body, status_code=status, headers=CONSOLE_HEADERS)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a searched list."""

    items: Sequence[object]
    number: int
    pages: int
    total: int
    query: str

    def link(self, number: int) -> str:
        return "?" + urlencode(
            {"q": self.query, "page": number} if self.query else {"page": number}
        )


def paginate(request: Request, rows: Iterable[T], text: Callable[[T], str]) -> Page:
    """The ``page`` of ``rows`` whose ``text`` contains the ``q`` search (case-insensitive)."""
    query = request.query_params.get("q", "").strip()[:200]
    wanted = query.casefold()
    matched = [row for row in rows if wanted in text(row).casefold()] if wanted else list(rows)
    pages = max(1, ceil(len(matched) / PAGE_SIZE))
    try:
        number = min(max(1, int(request.query_params.get("page", "1"))), pages)
    except ValueError:
        number = 1
    start = (number - 1) * PAGE_SIZE
    return Page(matched[start : start + PAGE_SIZE], number, pages, len(matched), query)


def field_errors(error: ValidationError) -> dict[str, str]:
    """The API's validation messages by field (a model-wide one under ``""``)."""
    errors: dict[str, str] = {}
    for item in error.errors():
        where = str(item["loc"][0]) if item["loc"] else ""
        message = str(item["msg"]).removeprefix("Value error, ")
        errors.setdefault(where, message)
    return errors


@dataclass(frozen=True, slots=True)
class Admin:
    """The signed-in administrator of this request."""

    session: Session
    #: The page asked for: its menu entry is marked as the current one.
    path: str = ""


class Console:
    """What each page's routes use: templates, cookies, the audit trail and the admin check."""

    def __init__(
        self,
        templates: Templates,
        cookies: Cookies,
        audit: ConsoleAudit,
        clock: Clock,
        is_admin: Callable[[str], Awaitable[bool]],
        nav: Sequence[tuple[str, str]],
        step_up: bool = False,
    ) -> None:
        self.templates = templates
        self.cookies = cookies
        self.audit = audit
        self.clock = clock
        self._is_admin = is_admin
        self.nav = nav  # filled in as the pages are mounted
        #: Changes need a multi-factor sign-in (``console.step_up``).
        self.step_up = step_up
        #: How the console's routes render an error: its error page.
        self.surface = Surface("console", self._render_error)

    async def admin(self, request: Request) -> Admin | Response:
        """The signed-in administrator, or the response that sends the browser to sign in.

        The user is read again on every request: a disabled account or a removed role stops
        working at once, not when the session ends.
        """
        session = self.cookies.session(
            request.cookies.get(SESSION_COOKIE), self.clock.now().timestamp()
        )
        if session is None:
            if request.method == "GET":
                return RedirectResponse(
                    "/console/login?" + urlencode({"next": request.url.path}), status_code=303
                )
            return self.error(None, "Your console session has ended; sign in again.", 401)
        if not await self._is_admin(session.user_id):
            return self.error(None, "This account may not use the console.", 403)
        return Admin(session, request.url.path)

    async def posted(self, request: Request) -> tuple[Admin, Params] | Response:
        """The signed-in administrator and the form they posted (CSRF checked), or the response
        that answers instead (sign in, 400, 403)."""
        admin = await self.admin(request)
        if isinstance(admin, Response):
            return admin
        form = await self.form(request, admin)
        if isinstance(form, Response):
            return form
        if self.step_up and admin.session.acr != ACR_MFA:
            return self._step_up(request, admin)
        return admin, form

    def _step_up(self, request: Request, admin: Admin) -> Response:
        """The page that asks a password-only session to sign in with its second factor before
        it changes anything (RFC 9470's step-up, within the console); back to the page the
        form was on afterwards."""
        self.audit.record(
            self.clock.now(), "step_up_required", admin.session.user_id, request.url.path,
            outcome="refused",
        )  # fmt: skip
        back = console_path(urlsplit(request.headers.get("referer", "")).path)
        again = "/console/login?" + urlencode({"step_up": "1", "next": back})
        return self.render(admin, "step_up.html", 403, again=again)

    async def form(self, request: Request, admin: Admin) -> Params | Response:
        """The posted form once its CSRF token matches the session's; a 403 page otherwise."""
        try:
            form = await form_params(request)
        except TokendError as exc:
            return self.error(admin, exc.description, 400)
        presented = form.get("csrf_token") or ""
        if not hmac.compare_digest(presented.encode(), admin.session.csrf.encode()):
            self.audit.record(
                self.clock.now(), "csrf_refused", admin.session.user_id, request.url.path,
                outcome="refused",
            )  # fmt: skip
            return self.error(admin, "The form could not be verified; reload the page.", 403)
        return form

    def render(
        self, admin: Admin | None, name: str, status: int = 200, **context: object
    ) -> HTMLResponse:
        return self.templates.render(
            name, status, admin=admin.session if admin else None,
            csrf_token=admin.session.csrf if admin else "", nav=self.nav,
            current=admin.path if admin else "", **context,
        )  # fmt: skip

    def error(self, admin: Admin | None, message: str, status: int) -> HTMLResponse:
        return self.render(admin, "error.html", status, message=message)

    def router(self) -> APIRouter:
        """A router whose routes render any error they raise as a console page (a bad path
        parameter, a body over the limit, a failure with only its request id): never JSON,
        never internals."""
        return surface_router(self.surface, include_in_schema=False)

    def _render_error(self, error: TokendError, ctx: ErrorContext) -> Response:
        message = error.description
        if error.status >= 500:
            message = f"{message} (request id {ctx.request_id})"
        response = self.render(None, "error.html", error.status, message=message)
        response.headers.update(error.headers)
        return response

    def record(self, admin: Admin, action: str, target: str = "", **details: str) -> None:
        self.audit.record(self.clock.now(), action, admin.session.user_id, target, **details)

    def done(self, to: str, notice: str) -> Response:
        """Post/redirect/get: back to ``to`` with a notice (never a secret) in the query."""
        joiner = "&" if "?" in to else "?"
        return RedirectResponse(f"{to}{joiner}{urlencode({'notice': notice})}", status_code=303)
