"""CORS for browser-based clients: per-client web origins on /token, /revoke, /introspect;
registered origins on preflights and /userinfo; discovery and JWKS public; never credentials."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.oidc.conftest import Register
from tests.api.oidc.test_authorization_code import tokens_for

SPA = "https://spa.example"
EVIL = "https://evil.example"


async def test_the_token_endpoint_answers_only_the_clients_own_origins(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(redirect_uris=["https://rp.example/callback"], web_origins=["+", SPA])
    tokens = await tokens_for(http, rp, user)
    for origin in ("https://rp.example", SPA):
        refreshed = await http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=rp.auth,
            headers={"Origin": origin},
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-credentials" not in refreshed.headers
        assert "Origin" in refreshed.headers["vary"]
        tokens = refreshed.json()
    refused = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp.auth,
        headers={"Origin": EVIL},
    )
    assert refused.status_code == 200
    assert "access-control-allow-origin" not in refused.headers
    # Errors are readable by the client's own origins too.
    bad = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope"},
        auth=rp.auth,
        headers={"Origin": SPA},
    )
    assert bad.json()["error"] == "invalid_grant"
    assert bad.headers["access-control-allow-origin"] == SPA
    info = await http.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=rp.auth, headers={"Origin": SPA}
    )
    assert info.headers["access-control-allow-origin"] == SPA
    revoked = await http.post(
        "/revoke", data={"token": tokens["access_token"]}, auth=rp.auth, headers={"Origin": EVIL}
    )
    assert "access-control-allow-origin" not in revoked.headers


async def test_a_client_without_web_origins_gets_no_cors(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    response = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp.auth,
        headers={"Origin": "https://rp.example"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_preflights_and_userinfo_answer_registered_origins(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(web_origins=[SPA])
    tokens = await tokens_for(http, rp, user)
    for path in ("/token", "/userinfo", "/revoke", "/introspect"):
        preflight = await http.options(
            path,
            headers={
                "Origin": SPA,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == SPA
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in preflight.headers
    stranger = await http.options("/token", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in stranger.headers
    userinfo = await http.get(
        "/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Origin": SPA},
    )
    assert userinfo.status_code == 200
    assert userinfo.headers["access-control-allow-origin"] == SPA


async def test_discovery_and_jwks_are_readable_from_any_origin(http: httpx.AsyncClient) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        response = await http.get(path, headers={"Origin": EVIL})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_web_origins_are_checked(http: httpx.AsyncClient) -> None:
    from tests.api.oidc.conftest import ADMIN

    for origin in ("http://spa.example", "https://spa.example/app", "javascript:x", "*"):
        response = await http.post(
            "/admin/clients",
            json={"name": "SPA", "grant_types": ["client_credentials"], "web_origins": [origin]},
            headers=ADMIN,
        )
        assert response.status_code == 422, origin
