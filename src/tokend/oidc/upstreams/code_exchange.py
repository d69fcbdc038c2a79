"""The authorization code exchange both upstream kinds make (RFC 6749 §4.1.3 with the RFC 7636
§4.5 verifier), with the core OAuth client, and what a failure tells the user."""

from __future__ import annotations

import httpx

from tokend.core.http import GuardedClient
from tokend.core.oauth_client import (
    ClientAuth,
    ErrorResponse,
    MalformedResponse,
    OAuthClient,
    TokenResponse,
)
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.upstreams.identity import UpstreamFailed


def unreachable(name: str) -> str:
    return f"{name} could not be reached. Try again in a moment, or sign in another way."


def unverified(name: str) -> str:
    return f"The answer from {name} could not be verified. Start again."


async def exchange_code(
    settings: UpstreamSettings,
    http: GuardedClient,
    timeout_s: float,
    token_endpoint: str,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
) -> TokenResponse:
    """The upstream's token response for ``code``; UpstreamFailed when it cannot be had (the
    upstream down or refusing: ``internal`` says which, never the secret)."""
    secret = settings.client_secret.get_secret_value()
    auth = ClientAuth(settings.client_id, settings.auth_method, secret)
    client = OAuthClient(http, auth, timeout=timeout_s)
    grant = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    name = settings.name
    try:
        return await client.token(token_endpoint, grant)
    except httpx.HTTPError as exc:
        raise UpstreamFailed(unreachable(name), internal=type(exc).__name__) from None
    except ErrorResponse as exc:
        shown = unreachable(name) if exc.is_transient else unverified(name)
        raise UpstreamFailed(shown, internal=f"token endpoint: {exc}") from None
    except MalformedResponse as exc:
        raise UpstreamFailed(unverified(name), internal=str(exc)) from None
