"""Relying-party side of the OIDC authorization code flow with PKCE (OIDC Core §3.1,
RFC 7636), refresh (RFC 6749 §6) and RP-initiated logout, against the issuer's discovery."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from tokend.core.crypto import random_secret, sha256_b64url
from tokend.guard.errors import (
    KeycloakConnectionError,
    LoginFailed,
    RefreshTokenError,
    TokenExpiredError,
    TokenValidationError,
)
from tokend.guard.issuers import IssuerKeys
from tokend.guard.sessions import LoginState, SessionData
from tokend.guard.validator import JWTValidator


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)


def new_login(return_to: str) -> LoginState:
    # RFC 7636 §4.1: 43..128 characters; 48 random bytes give 64.
    return LoginState(
        state=random_secret(32),
        nonce=random_secret(24),
        code_verifier=random_secret(48),
        return_to=return_to,
    )


class OidcLogin:
    def __init__(
        self,
        keys: IssuerKeys,
        validator: JWTValidator,
        *,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        scope: str,
        http: Callable[[], httpx.AsyncClient],
        timeout_s: float = 10.0,
    ) -> None:
        self.keys = keys
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self._validator = validator
        self._client_secret = client_secret
        self._http = http
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"OidcLogin({self.keys.config.issuer!r}, client_id={self.client_id!r})"

    async def _metadata(self) -> Mapping[str, Any]:
        if not self.keys.metadata:
            await self.keys.ensure_fresh()
        if not self.keys.metadata:
            raise KeycloakConnectionError(internal="issuer discovery metadata unavailable")
        return self.keys.metadata

    async def _endpoint(self, name: str) -> str:
        url = (await self._metadata()).get(name)
        if not isinstance(url, str):
            raise KeycloakConnectionError(internal=f"issuer metadata has no {name}")
        return url

    async def authorization_url(self, login: LoginState) -> str:
        endpoint = await self._endpoint("authorization_endpoint")
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": self.scope,
                "state": login.state,
                "nonce": login.nonce,
                "code_challenge": sha256_b64url(login.code_verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def finish(self, login: LoginState, state: str, code: str) -> SessionData:
        """Check ``state``, exchange ``code``, validate the ID token: the new session's data."""
        # OAuth 2.0 §10.12 / RFC 9700 §4.7: the state binds the callback to this browser.
        if not hmac.compare_digest(login.state.encode(), state.encode()):
            raise LoginFailed("Invalid state parameter (CSRF protection)")
        tokens = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": login.code_verifier,
            },
            failure=LoginFailed("Token exchange failed"),
        )
        if tokens.id_token is None:
            raise LoginFailed("Token exchange failed", internal="no id_token in the response")
        claims = await self._id_token_claims(tokens.id_token, login.nonce)
        return await self._session(tokens, claims)

    async def refresh(self, data: SessionData) -> SessionData:
        if data.refresh_token is None:
            raise RefreshTokenError("No refresh token")
        tokens = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": data.refresh_token},
            failure=RefreshTokenError(),
        )
        # RFC 6749 §6: the issuer may or may not rotate the refresh token.
        if tokens.refresh_token is None:
            tokens = TokenSet(
                tokens.access_token,
                tokens.expires_in,
                data.refresh_token,
                tokens.id_token or data.id_token,
            )
        return await self._session(tokens, dict(data.claims))

    async def end_session_url(
        self, data: SessionData | None, post_logout: str | None
    ) -> str | None:
        """OIDC RP-Initiated Logout §2; None when the issuer has no end_session_endpoint."""
        endpoint = (await self._metadata()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        params = {"client_id": self.client_id}
        if data is not None and data.id_token:
            params["id_token_hint"] = data.id_token
        if post_logout:
            params["post_logout_redirect_uri"] = post_logout
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def _id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            claims = await self._validator.verify(
                id_token,
                self.keys,
                audience={self.client_id},
                typ=None,
                required_claims=("exp", "iat", "sub"),
            )
        except (TokenValidationError, TokenExpiredError) as exc:
            raise LoginFailed("Invalid ID token", internal=exc.internal) from None
        # OIDC Core §3.1.3.7 item 11: the nonce must be the one this login sent.
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise LoginFailed("Invalid ID token", internal="nonce does not match")
        return dict(claims)

    async def _session(self, tokens: TokenSet, claims: dict[str, Any]) -> SessionData:
        # Keycloak puts roles and scopes in the access token: merge them in when it verifies.
        try:
            principal = await self._validator.validate(tokens.access_token)
        except (TokenValidationError, TokenExpiredError):
            pass  # opaque or for another audience: the ID token's claims stand alone
        else:
            claims = {**claims, **principal.claims}
        issued = self._validator.clock.now().timestamp()
        return SessionData(
            issuer=self.keys.config.issuer,
            claims=claims,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            expires_at=issued + tokens.expires_in,
        )

    async def _token_request(
        self, form: dict[str, str], *, failure: LoginFailed | RefreshTokenError
    ) -> TokenSet:
        endpoint = await self._endpoint("token_endpoint")
        headers = {"Accept": "application/json"}
        if self._client_secret is not None:
            # RFC 6749 §2.3.1: client_secret_basic, both parts form-urlencoded first.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": self.client_id}
        try:
            response = await self._http().post(
                endpoint, data=form, timeout=self._timeout_s, headers=headers
            )
        except httpx.HTTPError as exc:
            raise KeycloakConnectionError(
                internal=f"token endpoint: {type(exc).__name__}"
            ) from None
        if response.status_code >= 500:
            raise KeycloakConnectionError(internal=f"token endpoint: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            failure.internal = f"token endpoint: HTTP {response.status_code}"
            raise failure
        access, expires_in = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(access, str) or not isinstance(expires_in, int):
            failure.internal = "token endpoint answered without access_token/expires_in"
            raise failure
        refresh, id_token = body.get("refresh_token"), body.get("id_token")
        return TokenSet(
            access,
            expires_in,
            refresh if isinstance(refresh, str) else None,
            id_token if isinstance(id_token, str) else None,
        )
