"""Signing keys: their states (next, active, retired), rotate an algorithm, retire a key, remove
a retired one. The service is the keyring every capability signs with (``core.keys``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Console
from tokend.core.errors import TokendError
from tokend.core.keys import SIGNING_ALGORITHMS, Keyring


def keys_router(console: Console, keyring: Callable[[], Keyring]) -> APIRouter:
    router = console.router()

    @router.get("/console/keys")
    async def keys(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return console.render(
            admin, "keys.html", keys=keyring().list(), algorithms=SIGNING_ALGORITHMS,
            notice=request.query_params.get("notice"),
        )  # fmt: skip

    @router.post("/console/keys/{action}")
    async def act(request: Request, action: str) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        admin, form = posted
        ring = keyring()
        try:
            if action == "rotate":
                wanted = form.get("alg") or ""
                alg = next((a for a in SIGNING_ALGORITHMS if a == wanted), None)
                if alg is None:
                    return console.error(admin, f"Unknown algorithm {wanted[:20]!r}.", 400)
                kid = await ring.rotate(alg)
                console.record(admin, "key_rotated", kid, alg=alg)
                return console.done("/console/keys", f"{alg}: {kid} is now active.")
            kid = (form.get("kid") or "")[:200]
            if action == "retire":
                await ring.retire(kid)
            elif action == "remove":
                await ring.remove(kid)
            else:
                return console.error(admin, "Unknown action.", 404)
        except TokendError as exc:
            return console.error(admin, exc.description, exc.status)
        console.record(admin, f"key_{action}d", kid)
        return console.done("/console/keys", f"Key {kid} {action}d.")

    return router
