"""Relying-party side of the OIDC authorization code flow with PKCE (OIDC Core §3.1,
RFC 7636), refresh (RFC 6749 §6) and RP-initiated logout, against the issuer's discovery;
every request through tokend's one OAuth client (:mod:`tokend.core.oauth_client`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from tokend.core.crypto import random_secret
from tokend.core.discovery import ServerMetadata
from tokend.core.http import GuardedClient
from tokend.core.oauth_client import (
    ClientAuth,
    ErrorResponse,
    MalformedResponse,
    OAuthClient,
    TokenResponse,
)
from tokend.core.pkce import S256, new_verifier, s256
from tokend.guard.errors import (
    JWKSFetchError,
    KeycloakConnectionError,
    LoginFailed,
    RefreshTokenError,
    TokenExpiredError,
    TokenValidationError,
)
from tokend.guard.issuers import IssuerKeys
from tokend.guard.sessions import LoginState, SessionData
from tokend.guard.validator import JWTValidator

#: Lifetime assumed when a token response has no ``expires_in`` (RFC 6749 §5.1 makes it optional).
DEFAULT_EXPIRES_IN_S = 300


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)


def new_login(return_to: str) -> LoginState:
    return LoginState(
        state=random_secret(32),
        nonce=random_secret(24),
        code_verifier=new_verifier(),
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
        http: Callable[[], GuardedClient],
        timeout_s: float = 10.0,
    ) -> None:
        self.keys = keys
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self._validator = validator
        # RFC 6749 §2.3.1: client_secret_basic for a confidential client, else a public one.
        self._auth = (
            ClientAuth(client_id, "client_secret_basic", client_secret)
            if client_secret is not None
            else ClientAuth(client_id, "none")
        )
        self._http = http
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"OidcLogin({self.keys.config.issuer!r}, client_id={self.client_id!r})"

    async def _metadata(self) -> ServerMetadata:
        try:
            return await self.keys.server_metadata()
        except JWKSFetchError as exc:
            raise KeycloakConnectionError(internal=exc.internal) from None

    async def _endpoint(self, name: str) -> str:
        url = getattr(await self._metadata(), name)
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
                "code_challenge": s256(login.code_verifier),
                "code_challenge_method": S256,
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
        endpoint = (await self._metadata()).end_session_endpoint
        if endpoint is None:
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
        client = OAuthClient(self._http(), self._auth, self._timeout_s)
        try:
            answer: TokenResponse = await client.token(endpoint, form)
        except httpx.HTTPError as exc:
            raise KeycloakConnectionError(
                internal=f"token endpoint: {type(exc).__name__}"
            ) from None
        except ErrorResponse as exc:
            if exc.status >= 500:
                raise KeycloakConnectionError(
                    internal=f"token endpoint: HTTP {exc.status}"
                ) from None
            failure.internal = f"token endpoint: HTTP {exc.status} {exc.error or ''}".rstrip()
            raise failure from None
        except MalformedResponse as exc:
            failure.internal = f"token endpoint returned {exc}"
            raise failure from None
        expires_in = answer.expires_in_s or DEFAULT_EXPIRES_IN_S
        return TokenSet(answer.access_token, expires_in, answer.refresh_token, answer.id_token)
