"""Dynamic client registration (RFC 7591) and management (RFC 7592) at /register."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from joserfc.jwk import ECKey
from sqlalchemy import select

from tests.api.oidc.conftest import ADMIN, PASSWORD, pkce_pair, sign_in_and_consent
from tests.secrets_seen import SecretsSeen
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jws_keys import SigningKey
from tokend.core.jwt import mint, read_unverified
from tokend.oidc.dynamic_registration import create_initial_access_token
from tokend.oidc.models import OidcInitialAccessTokenRow, OidcRegistrationTokenRow
from tokend.oidc.sql import SqlInitialAccessTokens

STATEMENT_KEY = ECKey.generate_key("P-256", parameters={"kid": "vendor-1", "alg": "ES256"})
OTHER_KEY = ECKey.generate_key("P-256", parameters={"kid": "vendor-1", "alg": "ES256"})
WEB = {
    "client_name": "Self-made RP",
    "redirect_uris": ["https://rp.example/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid email",
}


MCP = "https://mcp.example/mcp"


def _settings(base: Settings, **registration: Any) -> Settings:
    data = base.model_dump(mode="python")
    per_ip = registration.pop("per_ip", "1000/hour")
    data["oidc"]["registration"] = {
        "enabled": True,
        "mode": "open",
        "audiences": [MCP],
        "software_statement_jwks": json.dumps(
            {"keys": [STATEMENT_KEY.as_dict(private=False) | {"kid": "vendor-1"}]}
        ),
        **registration,
    }
    data["oidc"]["rate_limits"]["registration_per_ip"] = per_ip
    return Settings.model_validate(data)


@pytest.fixture
def open_settings(oidc_settings: Settings) -> Settings:
    return _settings(oidc_settings)


@pytest.fixture
async def dcr_app(open_settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(open_settings, clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def dcr(dcr_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dcr_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _register(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    response = await http.post("/register", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = response.json()
    secrets_seen.add(data["registration_access_token"])
    if "client_secret" in data:
        secrets_seen.add(data["client_secret"])
    return data


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_client_registers_itself_and_is_listed_as_dynamic(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen, clock: FrozenClock
) -> None:
    data = await _register(dcr, secrets_seen, WEB | {"contacts": ["ops@rp.example"]})
    assert data["client_id"].startswith("c_")
    assert data["client_secret"]
    assert data["client_secret_expires_at"] == 0
    assert data["client_id_issued_at"] == int(clock.now().timestamp())
    assert data["token_endpoint_auth_method"] == "client_secret_basic"
    assert data["response_types"] == ["code"]
    assert data["contacts"] == ["ops@rp.example"]
    assert data["registration_client_uri"].endswith(f"/register/{data['client_id']}")
    view = await dcr.get(f"/admin/clients/{data['client_id']}", headers=ADMIN)
    assert view.json()["source"] == "dynamic"
    assert view.json()["metadata"] == {"application_type": "web", "contacts": ["ops@rp.example"]}
    made_by_admin = await dcr.post(
        "/admin/clients", json={"name": "Ops", "grant_types": ["client_credentials"]},
        headers=ADMIN,
    )  # fmt: skip
    secrets_seen.add(made_by_admin.json()["client_secret"])
    assert made_by_admin.json()["source"] == "admin"
    # The secret it got authenticates it at the token endpoint.
    token = await dcr.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope"},
        auth=(data["client_id"], data["client_secret"]),
    )
    assert token.json()["error"] == "invalid_grant"


async def test_discovery_advertises_registration_only_when_enabled(
    dcr: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    on = (await dcr.get("/.well-known/openid-configuration")).json()
    assert on["registration_endpoint"] == f"{on['issuer']}/register"
    off = (await http.get("/.well-known/openid-configuration")).json()
    assert "registration_endpoint" not in off
    assert (await http.post("/register", json=WEB)).status_code == 404


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (WEB | {"redirect_uris": ["https://rp.example/cb#frag"]}, "invalid_redirect_uri",
         "fragment"),
        (WEB | {"redirect_uris": ["http://rp.example/cb"]}, "invalid_redirect_uri", "https"),
        (WEB | {"redirect_uris": ["http://127.0.0.1:5000/cb"]}, "invalid_redirect_uri",
         "native"),
        (WEB | {"redirect_uris": []}, "invalid_redirect_uri", "at least one"),
        (WEB | {"redirect_uris": "https://rp.example/cb"}, "invalid_client_metadata", "array"),
        (WEB | {"jwks_uri": "https://rp.example/jwks", "jwks": {"keys": []}},
         "invalid_client_metadata", "jwks"),
        (WEB | {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}},
         "invalid_client_metadata", "public keys only"),
        (WEB | {"jwks_uri": "http://rp.example/jwks"}, "invalid_client_metadata", "https"),
        (WEB | {"response_types": []}, "invalid_client_metadata", "response type code"),
        (WEB | {"grant_types": ["refresh_token"], "response_types": ["code"]},
         "invalid_client_metadata", "authorization_code"),
        (WEB | {"grant_types": ["implicit"]}, "invalid_client_metadata", "grant_types"),
        (WEB | {"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata",
         "token_endpoint_auth_method"),
        (WEB | {"grant_types": ["client_credentials"], "redirect_uris": []},
         "invalid_client_metadata", "not allowed here"),
        (WEB | {"scope": "openid tokend:admin"}, "invalid_client_metadata", "tokend:admin"),
        (WEB | {"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata", "logo_uri"),
        (WEB | {"client_name": ""}, "invalid_client_metadata", "client_name"),
        (WEB | {"software_statement": "not.a.jwt"}, "invalid_software_statement", ""),
        (WEB | {"software_statement": 7}, "invalid_software_statement", ""),
    ],
)  # fmt: skip
async def test_invalid_metadata_gets_the_rfc_7591_error(
    dcr: httpx.AsyncClient, body: dict[str, Any], error: str, words: str
) -> None:
    response = await dcr.post("/register", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert words in response.json()["error_description"]


async def test_a_body_that_is_not_a_metadata_object_is_refused(dcr: httpx.AsyncClient) -> None:
    as_form = await dcr.post("/register", data={"client_name": "x"})
    assert as_form.json()["error"] == "invalid_request"
    for content in (b"[1]", b"{nope", b'"x"'):
        response = await dcr.post(
            "/register", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"


async def test_a_native_app_registers_loopback_and_private_use_redirects_as_public(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    data = await _register(
        dcr,
        secrets_seen,
        {
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/cb", "com.example.app:/cb"],
            "token_endpoint_auth_method": "none",
            "unknown_field": "ignored (RFC 7591 §2)",
        },
    )
    assert "client_secret" not in data
    assert "client_secret_expires_at" not in data
    assert "unknown_field" not in data
    view = (await dcr.get(f"/admin/clients/{data['client_id']}", headers=ADMIN)).json()
    assert view["public"] is True
    assert view["require_pkce"] is True
    assert view["scope"] == "openid"  # the policy's default scope


async def test_jwks_are_validated_and_stored(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    public = STATEMENT_KEY.as_dict(private=False) | {"kid": "k1", "use": "sig"}
    data = await _register(dcr, secrets_seen, WEB | {"jwks": {"keys": [public]}})
    assert data["jwks"] == {"keys": [public]}
    view = (await dcr.get(f"/admin/clients/{data['client_id']}", headers=ADMIN)).json()
    assert view["jwks"] == {"keys": [public]}
    assert view["jwks_uri"] is None


async def test_the_configuration_endpoint_rotates_the_registration_token(
    dcr: httpx.AsyncClient, dcr_app: FastAPI, secrets_seen: SecretsSeen
) -> None:
    data = await _register(dcr, secrets_seen, WEB)
    uri, first = (
        data["registration_client_uri"].removeprefix("http://testserver"),
        data["registration_access_token"],
    )
    read = await dcr.get(uri, headers=_bearer(first))
    assert read.status_code == 200, read.text
    second = read.json()["registration_access_token"]
    secrets_seen.add(second)
    assert read.json()["redirect_uris"] == WEB["redirect_uris"]
    assert "client_secret" not in read.json()
    # The token it replaced is void (RFC 7592 §3).
    stale = await dcr.get(uri, headers=_bearer(first))
    assert stale.status_code == 401
    assert stale.json()["error"] == "invalid_token"
    changed = WEB | {"client_id": data["client_id"], "redirect_uris": ["https://rp.example/new"]}
    updated = await dcr.put(uri, json=changed, headers=_bearer(second))
    assert updated.status_code == 200, updated.text
    third = updated.json()["registration_access_token"]
    secrets_seen.add(third)
    assert updated.json()["redirect_uris"] == ["https://rp.example/new"]
    after_rotation = await dcr.put(uri, json=changed, headers=_bearer(second))
    assert after_rotation.status_code == 401
    view = (await dcr.get(f"/admin/clients/{data['client_id']}", headers=ADMIN)).json()
    assert view["redirect_uris"] == ["https://rp.example/new"]
    # Only a hash of the current token is stored.
    database = dcr_app.state.resources.get().database
    async with database.sessions() as session:
        stored = await session.scalar(select(OidcRegistrationTokenRow.token_hash))
    assert stored is not None
    assert third not in stored
    assert stored.startswith("h1.")
    deleted = await dcr.delete(uri, headers=_bearer(third))
    assert deleted.status_code == 204
    assert (await dcr.get(uri, headers=_bearer(third))).status_code == 401
    gone = await dcr.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(data["client_id"], data["client_secret"]),
    )
    assert gone.json()["error"] == "invalid_client"


async def test_an_update_must_name_the_client_and_keep_its_kind(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    data = await _register(dcr, secrets_seen, WEB)
    uri = data["registration_client_uri"].removeprefix("http://testserver")
    token = data["registration_access_token"]
    cases = [
        (WEB, "client_id"),
        (WEB | {"client_id": "c_other"}, "client_id"),
        (WEB | {"client_id": data["client_id"], "registration_access_token": token},
         "server sets"),
        (WEB | {"client_id": data["client_id"], "client_secret": "wrong"}, "client_secret"),
        (WEB | {"client_id": data["client_id"], "token_endpoint_auth_method": "none"},
         "public and confidential"),
    ]  # fmt: skip
    for body, words in cases:
        response = await dcr.put(uri, json=body, headers=_bearer(token))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_client_metadata"
        assert words in response.json()["error_description"]
    # A refused update rotated nothing: the token still works.
    assert (await dcr.get(uri, headers=_bearer(token))).status_code == 200


async def test_another_clients_token_or_none_is_refused(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    one = await _register(dcr, secrets_seen, WEB)
    two = await _register(dcr, secrets_seen, WEB)
    response = await dcr.get(
        f"/register/{two['client_id']}", headers=_bearer(one["registration_access_token"])
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    bare = await dcr.get(f"/register/{two['client_id']}")
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer")
    unknown = await dcr.delete("/register/c_nobody", headers=_bearer("x" * 43))
    assert unknown.status_code == 401


async def test_initial_access_tokens_gate_registration_and_run_out(
    oidc_settings: Settings, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    application = create_app(_settings(oidc_settings, mode="initial_token"), clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            without = await http.post("/register", json=WEB)
            assert without.status_code == 401
            assert without.headers["www-authenticate"] == 'Bearer realm="tokend"'
            wrong = await http.post("/register", json=WEB, headers=_bearer("not-a-token"))
            assert wrong.json()["error"] == "invalid_token"
            resources = application.state.resources.get()
            store = SqlInitialAccessTokens(resources.database)
            token = await create_initial_access_token(
                store, resources.hasher, clock, ttl_s=60, max_uses=2
            )
            secrets_seen.add(token)
            async with resources.database.sessions() as session:
                row = await session.scalar(select(OidcInitialAccessTokenRow))
            assert row is not None
            assert token not in row.token_hash
            # Invalid metadata does not use the token up.
            refused = await http.post(
                "/register", json={"redirect_uris": 1}, headers=_bearer(token)
            )
            assert refused.json()["error"] == "invalid_client_metadata"
            for _ in range(2):
                await _register(http, secrets_seen, WEB, Authorization=f"Bearer {token}")
            used_up = await http.post("/register", json=WEB, headers=_bearer(token))
            assert used_up.status_code == 401
            short = await create_initial_access_token(
                store, resources.hasher, clock, ttl_s=60, max_uses=None
            )
            secrets_seen.add(short)
            clock.advance(61)
            expired = await http.post("/register", json=WEB, headers=_bearer(short))
            assert expired.status_code == 401


async def test_registrations_per_address_are_limited(
    oidc_settings: Settings, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    application = create_app(_settings(oidc_settings, per_ip="2/hour"), clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for _ in range(2):
                await _register(http, secrets_seen, WEB)
            third = await http.post("/register", json=WEB)
            assert third.status_code == 429
            assert int(third.headers["retry-after"]) > 0


def _statement(key: ECKey, kid: str, claims: dict[str, Any]) -> str:
    now = int(time.time())
    return mint({"iss": "vendor", "iat": now, **claims}, SigningKey(kid, "ES256", key))


async def test_a_signed_software_statement_takes_precedence(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    statement = _statement(
        STATEMENT_KEY, "vendor-1", {"client_name": "Vendor App", "software_id": "app-1"}
    )
    data = await _register(
        dcr, secrets_seen, WEB | {"client_name": "Spoofed", "software_statement": statement}
    )
    assert data["client_name"] == "Vendor App"
    assert data["software_id"] == "app-1"
    forged = _statement(OTHER_KEY, "vendor-1", {"client_name": "Vendor App"})
    refused = await dcr.post("/register", json=WEB | {"software_statement": forged})
    assert refused.json()["error"] == "unapproved_software_statement"
    unknown_kid = _statement(STATEMENT_KEY, "nobody", {})
    refused = await dcr.post("/register", json=WEB | {"software_statement": unknown_kid})
    assert refused.json()["error"] == "unapproved_software_statement"
    bad_claims = _statement(STATEMENT_KEY, "vendor-1", {"redirect_uris": ["http://evil.example"]})
    refused = await dcr.post("/register", json=WEB | {"software_statement": bad_claims})
    assert refused.json()["error"] == "invalid_redirect_uri"


async def test_a_statement_can_be_required(oidc_settings: Settings, clock: FrozenClock) -> None:
    application = create_app(_settings(oidc_settings, require_software_statement=True), clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post("/register", json=WEB)
            assert response.json()["error"] == "invalid_software_statement"


async def test_an_mcp_client_registers_then_gets_a_token_for_its_resource(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    """The MCP authorization flow: register (public, native), code + PKCE, resource (RFC 8707)."""
    data = await _register(dcr, secrets_seen, {**NATIVE_APP, "client_name": "MCP client"})
    tokens = await _native_user_tokens(dcr, data["client_id"], "mcp.user@example.org", MCP)
    assert read_unverified(tokens["access_token"])[1]["aud"] == MCP


async def test_deleting_a_registration_revokes_the_tokens_its_users_got(
    dcr: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    # RFC 7592 §2.3: the deleted client's grants and active tokens are invalidated.
    data = await _register(dcr, secrets_seen, NATIVE_APP)
    tokens = await _native_user_tokens(dcr, data["client_id"], "native.user@example.org")
    access = secrets_seen.add(tokens["access_token"])
    assert (await dcr.get("/userinfo", headers=_bearer(access))).status_code == 200
    deleted = await dcr.delete(
        f"/register/{data['client_id']}", headers=_bearer(data["registration_access_token"])
    )
    assert deleted.status_code == 204
    refused = await dcr.get("/userinfo", headers=_bearer(access))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


#: A public native client (RFC 8252) with the code flow and refresh tokens.
NATIVE_APP: Final = {
    "client_name": "Native app", "application_type": "native",
    "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1:33418/cb"],
    "grant_types": ["authorization_code", "refresh_token"], "scope": "openid offline_access",
}  # fmt: skip


async def _native_user_tokens(
    http: httpx.AsyncClient, client_id: str, email: str, resource: str | None = None
) -> dict[str, Any]:
    """A new user's tokens for the native client ``client_id``: code + PKCE (+ ``resource``)."""
    made = await http.post(
        "/admin/users",
        json={"email": email, "password": PASSWORD, "email_verified": True},
        headers=ADMIN,
    )
    assert made.status_code == 201
    verifier, challenge = pkce_pair()
    target = {"resource": resource} if resource is not None else {}
    params = {
        "response_type": "code", "client_id": client_id,
        "redirect_uri": "http://127.0.0.1:33418/cb", "scope": "openid offline_access",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", **target,
    }  # fmt: skip
    query = await sign_in_and_consent(http, params, email)
    form = {
        "grant_type": "authorization_code", "code": query["code"], "client_id": client_id,
        "redirect_uri": "http://127.0.0.1:33418/cb", "code_verifier": verifier, **target,
    }  # fmt: skip
    tokens = await http.post("/token", data=form)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body
