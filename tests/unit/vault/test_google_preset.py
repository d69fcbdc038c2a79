"""The Google preset builds the requests Google documents.

Google cannot be reached from the tests, so its token and revocation endpoints are answered by
``httpx.MockTransport``; the authorize URL is checked parameter by parameter against
https://developers.google.com/identity/protocols/oauth2/web-server.
"""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from tokend.core.http import GuardedClient
from tokend.core.pkce import s256
from tokend.vault.provider_client import (
    AppCredentials,
    GrantRejected,
    ProviderClient,
    authorize_url,
)
from tokend.vault.providers import Provider, load_catalog

APP = AppCredentials("123.apps.googleusercontent.com", "GOCSPX-secret", "https://t.example/cb")


def _google() -> Provider:
    google = load_catalog().get("google")
    assert google is not None
    return google


def _client(handler: httpx.MockTransport) -> ProviderClient:
    # Google's endpoints are public https: the default outbound policy lets them through.
    return ProviderClient(GuardedClient(transport=handler), timeout_s=5)


async def test_authorize_url_is_exactly_what_google_documents() -> None:
    google = _google()
    endpoints = await _client(httpx.MockTransport(lambda r: httpx.Response(500))).endpoints(
        google, None
    )
    url = authorize_url(
        google,
        endpoints,
        APP,
        state="st4te",
        scopes=google.default_scopes,
        verifier="v" * 64,
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://accounts.google.com/o/oauth2/v2/auth"
    )
    assert parse_qs(parts.query) == {
        "client_id": [APP.client_id],
        "redirect_uri": [APP.redirect_uri],
        "response_type": ["code"],
        "scope": ["https://www.googleapis.com/auth/business.manage"],
        "access_type": ["offline"],
        "prompt": ["consent"],
        "include_granted_scopes": ["true"],
        "state": ["st4te"],
        "code_challenge": [s256("v" * 64)],
        "code_challenge_method": ["S256"],
    }


def test_code_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_code_exchange_and_refresh_requests_have_googles_shape() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "access_token": "ya29.a0",
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/business.manage",
                "token_type": "Bearer",
            },
        )

    google = _google()
    client = _client(httpx.MockTransport(answer))
    endpoints = await client.endpoints(google, None)
    tokens = await client.exchange_code(google, endpoints, APP, "4/0Ab", "v" * 64)
    assert tokens.refresh_token is None
    assert tokens.expires_in_s == 3599
    await client.refresh(google, endpoints, APP, "1//0g-refresh")
    exchange, refresh = seen
    for request in seen:
        assert str(request.url) == "https://oauth2.googleapis.com/token"
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(exchange.content.decode())) == {
        "grant_type": "authorization_code",
        "code": "4/0Ab",
        "redirect_uri": APP.redirect_uri,
        "code_verifier": "v" * 64,
        "client_id": APP.client_id,
        "client_secret": APP.client_secret,
    }
    assert dict(parse_qsl(refresh.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "1//0g-refresh",
        "client_id": APP.client_id,
        "client_secret": APP.client_secret,
    }


async def test_revocation_request_has_googles_shape() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    google = _google()
    client = _client(httpx.MockTransport(answer))
    endpoints = await client.endpoints(google, None)
    assert await client.revoke(google, endpoints, APP, "1//0g-refresh", "refresh_token") is True
    (request,) = seen
    assert str(request.url) == "https://oauth2.googleapis.com/revoke"
    form = dict(parse_qsl(request.content.decode()))
    assert form["token"] == "1//0g-refresh"
    assert form["token_type_hint"] == "refresh_token"


async def test_invalid_grant_from_google_is_a_rejection() -> None:
    google = _google()
    client = _client(
        httpx.MockTransport(
            lambda r: httpx.Response(400, json={"error": "invalid_grant", "error_description": "x"})
        )
    )
    endpoints = await client.endpoints(google, None)
    with pytest.raises(GrantRejected) as caught:
        await client.refresh(google, endpoints, APP, "1//0g-refresh")
    assert caught.value.code == "invalid_grant"
