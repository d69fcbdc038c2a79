"""GitHub as an upstream: OAuth 2.0 web application flow (no OpenID Connect, so no ID token
and no nonce), then the account from the REST API with the access token: ``GET /user`` (its
numeric ``id`` is the stable subject; a login can be renamed) and ``GET /user/emails`` (which
addresses are verified; ``/user`` shows only the public one). The access token is used for these
two calls and dropped, never stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

import httpx

from tokend.core.http import GuardedClient
from tokend.core.pkce import S256
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.upstreams.code_exchange import exchange_code, unreachable, unverified
from tokend.oidc.upstreams.identity import AuthorizationStart, UpstreamFailed, UpstreamIdentity

#: GitHub's REST API media type and version (docs.github.com, "API versions").
_API_HEADERS: Final = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


@dataclass(frozen=True, slots=True)
class GithubUpstream:
    settings: UpstreamSettings
    http: GuardedClient = field(repr=False)
    timeout_s: float

    async def authorization_url(self, start: AuthorizationStart) -> str:
        # RFC 6749 §4.1.1 with state (§10.12) and PKCE S256 (RFC 7636 §4.3; GitHub checks it).
        query = urlencode(
            {
                "client_id": self.settings.client_id,
                "redirect_uri": start.redirect_uri,
                "scope": " ".join(self.settings.requested_scopes),
                "state": start.state,
                "code_challenge": start.code_challenge,
                "code_challenge_method": S256,
                "allow_signup": "false",
            }
        )
        return f"{self.settings.origin}/login/oauth/authorize?{query}"

    async def identity(
        self, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> UpstreamIdentity:
        access_token = await self._exchange(code, code_verifier, redirect_uri)
        user = await self._get("/user", access_token)
        emails = await self._get("/user/emails", access_token)
        if not isinstance(user, dict):
            raise UpstreamFailed(unverified(self.settings.name), internal="/user not an object")
        subject = user.get("id")
        if not isinstance(subject, int) or isinstance(subject, bool):
            raise UpstreamFailed(unverified(self.settings.name), internal="/user without id")
        email, verified = _primary_email(emails)
        name, avatar = user.get("name"), user.get("avatar_url")
        return UpstreamIdentity(
            upstream_id=self.settings.id,
            subject=str(subject),
            email=email,
            email_verified=verified,
            name=name[:200] if isinstance(name, str) and name else None,
            picture=avatar[:2000] if isinstance(avatar, str) and avatar else None,
        )

    async def _exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        tokens = await exchange_code(
            self.settings, self.http, self.timeout_s,
            f"{self.settings.origin}/login/oauth/access_token",
            code=code, code_verifier=verifier, redirect_uri=redirect_uri,
        )  # fmt: skip
        return tokens.access_token

    async def _get(self, path: str, access_token: str) -> object:
        s = self.settings
        try:
            response = await self.http.get(
                f"{s.api_url.rstrip('/')}{path}",
                headers={**_API_HEADERS, "Authorization": f"Bearer {access_token}"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise UpstreamFailed(unreachable(s.name), internal=type(exc).__name__) from None
        if response.status_code != 200:
            shown = unreachable(s.name) if response.status_code >= 500 else unverified(s.name)
            raise UpstreamFailed(shown, internal=f"{path}: HTTP {response.status_code}")
        try:
            body: object = response.json()
        except ValueError:
            raise UpstreamFailed(unverified(s.name), internal=f"{path}: not JSON") from None
        return body


def _primary_email(emails: object) -> tuple[str | None, bool]:
    """The primary address and whether GitHub verified it; else the first verified one."""
    if not isinstance(emails, list):
        return None, False
    entries = [e for e in emails if isinstance(e, dict) and isinstance(e.get("email"), str)]
    verified = [e for e in entries if e.get("verified") is True]
    primary = [e for e in entries if e.get("primary") is True]
    for group in ([e for e in verified if e.get("primary") is True], verified, primary):
        if group:
            return str(group[0]["email"])[:320], group[0].get("verified") is True
    return None, False
