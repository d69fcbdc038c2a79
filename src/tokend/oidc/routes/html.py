"""Server-rendered pages (Jinja2, autoescaped); templates and stylesheet load at start-up."""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import APIRouter
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from tokend.core.html_headers import html_page

TEMPLATES: Final = (
    "login.html",
    "consent.html",
    "error.html",
    "message.html",
    "account.html",
    "demo.html",
    "logout.html",
    "device.html",
)


class Pages:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("tokend.oidc", "pages"),
            autoescape=select_autoescape(("html",)),
            auto_reload=False,
        )
        # Compiled once here: no template file is read while serving.
        self._templates = {name: self._env.get_template(name) for name in TEMPLATES}
        self.css = (files("tokend.oidc") / "pages" / "tokend.css").read_text(encoding="utf-8")

    def render(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        return html_page(self._templates[name].render(**context), status)

    def error(
        self, message: str, status: int = 400, title: str = "Something went wrong"
    ) -> HTMLResponse:
        return self.render("error.html", status, title=title, message=message)


def assets_router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    css = pages.css.encode("utf-8")

    @router.get("/assets/tokend.css")
    async def stylesheet() -> Response:
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    return router
