"""Identity brokering over HTTP: the callback every upstream sends the browser back to
(``/upstream/{id}/callback``, the redirect URI registered at the upstream), and the account
page's linked accounts (``/account/linked``: link, unlink).

Every refusal is an HTML page saying what to do, never an upstream's answer or a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.errors import RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.core.routing import api_router
from tokend.oidc.accounts import Accounts, SignedInUser
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.routes.authorize import SESSION_COOKIE, Outcomes
from tokend.oidc.routes.interaction import (
    EXPIRED,
    UPSTREAM_COOKIE,
    UPSTREAM_COOKIE_PATH,
    UpstreamPath,
    finish_sign_in,
    upstream_redirect,
)
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.settings import OidcSettings
from tokend.oidc.sign_in import SecondFactorNeeded, SignIn
from tokend.oidc.upstreams.brokering import Brokering, Returned, UpstreamRefused, callback_path
from tokend.oidc.upstreams.identity import UpstreamFailed

NOTICES = {
    "linked": "The account was linked. You can sign in with it now.",
    "unlinked": "The account was unlinked.",
}


def upstream_router(
    brokering: Callable[[], Brokering],
    flow: Callable[[], AuthorizationFlow],
    sign_in: Callable[[], SignIn],
    accounts: Callable[[], Accounts],
    outcomes: Outcomes,
    config: OidcSettings,
) -> APIRouter:
    router = api_router(tags=["oidc pages"], include_in_schema=False)
    pages = outcomes.pages

    def refused(exc: UpstreamRefused | UpstreamFailed) -> Response:
        if isinstance(exc, UpstreamFailed):
            return pages.error(exc.shown, 502, "Sign-in not completed")
        return pages.error(exc.shown, exc.status, exc.title)

    @router.get(callback_path("{upstream_id}"))
    async def callback(request: Request, upstream_id: str = UpstreamPath) -> Response:
        query = request.query_params
        try:
            returned = await brokering().finish(
                upstream_id,
                state=query.get("state"),
                code=query.get("code"),
                error=query.get("error"),
                binding=request.cookies.get(UPSTREAM_COOKIE),
                iss=query.get("iss"),
            )
            if returned.pending.link_user_id is not None:
                response = await link(returned, request)
            else:
                response = await signed_in(returned, request)
        except (UpstreamRefused, UpstreamFailed) as exc:
            response = refused(exc)
        response.delete_cookie(UPSTREAM_COOKIE, path=UPSTREAM_COOKIE_PATH)
        return response

    async def signed_in(returned: Returned, request: Request) -> Response:
        uid = returned.pending.interaction_uid
        ia = await flow().interaction(uid) if uid else None
        if ia is None:
            return pages.error(EXPIRED, title="Sign-in expired")
        identity = returned.identity
        user_id = await brokering().account_for(identity)
        amr = await brokering().authentication_of(identity)
        device = request.headers.get("user-agent", "")
        done = await sign_in().sign_in_upstream(
            ia, identity.upstream_id, user_id, amr, client_ip(request), device
        )
        if done is None:
            return pages.error("This account is disabled.", 403, "Sign-in not completed")
        if isinstance(done, SecondFactorNeeded):  # the interaction's page asks for the code
            return RedirectResponse(f"/interaction/{done.interaction.uid}", status_code=303)
        return await finish_sign_in(done, request, sign_in(), flow(), outcomes, config)

    async def link(returned: Returned, request: Request) -> Response:
        signed = await accounts().signed_in(request.cookies.get(SESSION_COOKIE))
        if signed is None or signed.user.id != returned.pending.link_user_id:
            return pages.error(
                "You are no longer signed in to the account that asked for this link. Sign in "
                "and start again.",
                403,
                "Not linked",
            )
        await brokering().link(signed.user.id, returned.identity)
        return back("linked")

    # --- the account page ---------------------------------------------------------------

    def back(notice: str) -> Response:
        return RedirectResponse(f"/account/linked?done={quote(notice)}", status_code=303)

    async def checked(request: Request) -> tuple[SignedInUser, Params] | Response:
        signed = await accounts().signed_in(request.cookies.get(SESSION_COOKIE))
        if signed is None:
            return RedirectResponse("/account/sign-in", status_code=303)
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        if not accounts().csrf_matches(signed, form.get("csrf_token")):
            return pages.error(
                "The form could not be verified. Go back and try again.",
                status=403,
                title="Request not accepted",
            )
        return signed, form

    async def linked_page(
        signed: SignedInUser, notice: str | None = None, error: str | None = None, status: int = 200
    ) -> Response:
        return pages.render(
            "account_console.html",
            status,
            section="linked",
            user=signed.user,
            csrf_token=accounts().csrf_token(signed),
            linked=await brokering().accounts_of(signed.user.id),
            notice=notice,
            error=error,
        )

    @router.get("/account/linked")
    async def linked(request: Request) -> Response:
        signed = await accounts().signed_in(request.cookies.get(SESSION_COOKIE))
        if signed is None:
            return RedirectResponse("/account/sign-in", status_code=303)
        return await linked_page(signed, NOTICES.get(request.query_params.get("done", "")))

    @router.post("/account/linked/{upstream_id}/link")
    async def start_link(request: Request, upstream_id: str = UpstreamPath) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        try:
            redirect = await brokering().start(
                upstream_id, client_ip(request), link_user_id=signed.user.id
            )
        except UpstreamRefused as exc:
            return await linked_page(signed, error=exc.shown, status=exc.status)
        except UpstreamFailed as exc:
            return await linked_page(signed, error=exc.shown, status=502)
        except RateLimited as exc:
            refused = await linked_page(signed, error=exc.description, status=429)
            refused.headers.update(exc.headers)
            return refused
        return upstream_redirect(redirect.url, redirect.binding, config, outcomes.secure)

    @router.post("/account/linked/{upstream_id}/unlink")
    async def unlink(request: Request, upstream_id: str = UpstreamPath) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        try:
            await brokering().unlink(signed.user, upstream_id)
        except UpstreamRefused as exc:
            return await linked_page(signed, error=exc.shown, status=exc.status)
        return back("unlinked")

    return router
