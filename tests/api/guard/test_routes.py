"""/auth/me, /cache/info, /cache/clear in tokend, alone at the root and under /guard."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.api.guard.conftest import guard_block
from tests.api.oidc.test_dpop import jkt_of, new_key, proof
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.jwt import mint


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_auth_me_with_a_keycloak_token_answers_the_envelope(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    response = await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "User information retrieved successfully"
    data = body["data"]
    assert data["sub"] == "user-1"
    assert data["preferred_username"] == "alice"
    assert data["email"] == "alice@example.test"
    # Realm roles and the roles of the configured client (guard-app: none here).
    assert data["roles"] == ["admin", "user"]
    assert data["auth_method"] == "bearer"
    ttl = body["metadata"]["ttl"]
    assert (ttl["value"], ttl["unit"], ttl["human_readable"]) == (300, "seconds", "5 minutes")
    assert body["metadata"]["timestamp"].endswith("Z")
    assert token not in response.text


async def test_client_roles_of_the_configured_client_count(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(
        issuer.token(
            resource_access={"guard-app": {"roles": ["admin"]}}, realm_access={"roles": ["user"]}
        )
    )
    response = await guard_client.post(f"{mount}/cache/clear", headers=bearer(token))
    assert response.status_code == 200


async def test_auth_me_without_credentials_is_401_in_the_envelope(
    guard_client: httpx.AsyncClient, mount: str
) -> None:
    response = await guard_client.get(f"{mount}/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'
    body = response.json()
    assert body["success"] is False
    assert body["error"] == {"code": "UNAUTHORIZED", "message": "Not authenticated", "details": {}}
    assert body["metadata"]["request_id"] == response.headers["x-request-id"]


async def test_bad_token_is_401_invalid_token_in_the_envelope(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token(iss="https://evil.test"))
    response = await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"]["code"] == "TOKEN_INVALID"


async def test_tokens_tokend_issued_itself_are_accepted(
    guard_client: httpx.AsyncClient, guard_app: FastAPI, mount: str, secrets_seen: SecretsSeen
) -> None:
    keyring = guard_app.state.resources.get().keyring
    now = int(time.time())
    issuer = guard_app.state.settings.issuer
    claims = {
        "iss": issuer,
        "sub": "svc-1",
        "client_id": "svc",
        # Item 19: the guard's own URL is the audience it takes by default.
        "aud": f"{issuer}{mount}",
        "iat": now,
        "exp": now + 60,
        # Every access token tokend issues has one: it is what a revocation names.
        "jti": "at-1",
        "scope": "orders:read",
        "roles": ["admin"],
    }
    token = secrets_seen.add(mint(claims, keyring.signing_key("ES256"), typ="at+jwt"))
    response = await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["sub"], data["client"], data["roles"]) == ("svc-1", "svc", ["admin"])
    # An ID token of tokend's (typ JWT) does not open the API.
    id_token = secrets_seen.add(mint(claims, keyring.signing_key("ES256"), typ="JWT"))
    response = await guard_client.get(f"{mount}/auth/me", headers=bearer(id_token))
    assert response.status_code == 401
    # Nor does an access token for another audience, or for none (it was enough before), or
    # one without a jti (no revocation could ever name it).
    for change in ({"aud": "https://orders.example"}, {"aud": None}, {"jti": None}):
        other = {k: v for k, v in {**claims, **change}.items() if v is not None}
        token = secrets_seen.add(mint(other, keyring.signing_key("ES256"), typ="at+jwt"))
        response = await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
        assert response.status_code == 401


@pytest.mark.parametrize("path", ["/cache/info", "/cache/clear"])
async def test_cache_routes_need_the_admin_role(
    guard_client: httpx.AsyncClient,
    issuer: FakeIssuer,
    mount: str,
    path: str,
    secrets_seen: SecretsSeen,
) -> None:
    method = "GET" if path == "/cache/info" else "POST"
    assert (await guard_client.request(method, mount + path)).status_code == 401
    token = secrets_seen.add(issuer.token(realm_access={"roles": ["user"]}))
    response = await guard_client.request(method, mount + path, headers=bearer(token))
    assert response.status_code == 403
    body = response.json()
    assert body["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    assert body["error"]["message"] == "Forbidden: 'admin' role required"


async def test_cache_info_reports_sizes_ttls_and_hits(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    response = await guard_client.get(f"{mount}/cache/info", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"]["ttl"]["value"] == 60
    data = body["data"]
    jwt_cache = data["jwt_cache"]
    assert jwt_cache["ttl"] == 600
    assert f"jwks:{issuer.issuer}" in jwt_cache["keys"]
    assert jwt_cache["hits"] == 1  # the one validation of this request
    assert jwt_cache["issuers"][issuer.issuer]["keys"] == ["k1"]
    assert set(data["admin_cache"]["admin_token_cache"]) >= {
        "maxsize",
        "ttl",
        "current_size",
        "keys",
    }
    assert data["cache_ttl_config"] == {
        "jwks_ttl": 600,
        "jwks_ttl_human": "10 minutes",
        "admin_token_ttl": 300,
        "admin_token_ttl_human": "5 minutes",
        "user_info_ttl": 300,
        "user_info_ttl_human": "5 minutes",
        "group_ttl": 600,
        "group_ttl_human": "10 minutes",
    }


async def test_cache_clear_empties_the_jwks_cache(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
    fetches = issuer.jwks_fetches
    response = await guard_client.post(f"{mount}/cache/clear", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Caches cleared successfully"
    assert body["data"]["message"] == "All caches cleared successfully"
    assert body["data"]["cleared"] == ["jwks_cache", "admin_token_cache"]
    await guard_client.get(f"{mount}/auth/me", headers=bearer(token))
    assert issuer.jwks_fetches == fetches + 1


async def test_login_sends_the_issuer_back_to_the_mounted_callback(
    guard_client: httpx.AsyncClient, mount: str
) -> None:
    response = await guard_client.get(f"{mount}/login")
    assert response.status_code == 302
    assert (
        f"redirect_uri=http%3A%2F%2Ftestserver{mount.replace('/', '%2F')}%2Fcallback"
        in (response.headers["location"])
    )


async def test_opaque_tokens_are_introspected_when_configured(
    settings: Settings, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    config = guard_block(issuer, introspect_opaque_tokens=True)
    app = create_app(settings.model_copy(update={"guard": config, "modules": ["guard"]}))
    token = secrets_seen.add("opaque-" + secrets.token_urlsafe(16))
    issuer.opaque_tokens[token] = {
        "active": True,
        "iss": issuer.issuer,
        "sub": "user-9",
        "realm_access": {"roles": ["user"]},
    }
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get("/auth/me", headers=bearer(token))
            assert response.status_code == 200
            assert response.json()["data"]["sub"] == "user-9"
            unknown = await c.get("/auth/me", headers=bearer("opaque-unknown"))
            assert unknown.status_code == 401


async def test_dpop_require_nonce_asks_dpop_requests_for_the_guard_s_nonce(
    settings: Settings, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    modules = ["guard"] if mount == "" else list(settings.modules)
    block = guard_block(issuer, dpop_require_nonce=True, dpop_nonce_window_s=60)
    application = create_app(settings.model_copy(update={"guard": block, "modules": modules}))
    key = new_key()
    token = secrets_seen.add(issuer.token(cnf={"jkt": jkt_of(key)}))
    url = f"http://testserver{mount}/auth/me"

    def dpop(nonce: str | None = None) -> dict[str, str]:
        claims: dict[str, Any] = {} if nonce is None else {"nonce": nonce}
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": proof(key, "GET", url, access_token=token, **claims),
        }

    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            refused = await client.get(f"{mount}/auth/me", headers=dpop())
            assert refused.status_code == 401
            assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
            nonce = refused.headers["dpop-nonce"]
            ok = await client.get(f"{mount}/auth/me", headers=dpop(nonce=nonce))
            assert ok.status_code == 200, ok.text
            # A bearer request of an unbound token is no DPoP request: no nonce asked.
            plain = secrets_seen.add(issuer.token())
            assert (await client.get(f"{mount}/auth/me", headers=bearer(plain))).status_code == 200
