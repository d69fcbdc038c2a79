from __future__ import annotations

import asyncio
import base64

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.api.oidc.conftest import ADMIN, Register, RegisteredClient
from tests.queries import selects_from
from tokend.core.clock import FrozenClock
from tokend.oidc.schemas import CLIENT_READ_ONLY


@pytest.fixture
async def service(register: Register) -> RegisteredClient:
    client = await register(
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="api:read api:write",
        audiences=["https://api.example"],
    )
    return client


async def jwks_client(http: httpx.AsyncClient) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())


async def test_basic_auth_issues_an_rfc9068_jwt_that_verifies_with_the_jwks_alone(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    response = await http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "api:read"}, auth=service.auth
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api:read"
    assert "refresh_token" not in body
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    key = (await jwks_client(http))[header["kid"]]
    claims = jwt.decode(
        body["access_token"],
        key=key.key,
        algorithms=["ES256"],
        audience="https://api.example",
        issuer="http://testserver",
    )
    assert claims["sub"] == service.client_id
    assert claims["client_id"] == service.client_id
    assert claims["scope"] == "api:read"
    assert {"exp", "iat", "jti"} <= set(claims)


async def test_client_secret_post_is_refused_for_a_basic_client(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    assert service.client_secret is not None
    response = await http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": service.client_id,
            "client_secret": service.client_secret,
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_client_secret_post_client_authenticates_in_the_body(
    http: httpx.AsyncClient, register: Register
) -> None:
    client = await register(
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="api:read",
        token_endpoint_auth_method="client_secret_post",
    )
    assert client.client_secret is not None
    response = await http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "api:read"


async def test_wrong_secret_is_401_invalid_client_with_www_authenticate(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    response = await http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(service.client_id, "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="tokend"'  # RFC 6749 §5.2


async def test_unknown_client_and_malformed_basic_are_invalid_client(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")
    )
    assert response.status_code == 401
    garbage = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    response = await http.post("/token", data={"grant_type": "client_credentials"}, headers=garbage)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_scope_beyond_the_clients_allowance_is_invalid_scope(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    response = await http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "api:admin"}, auth=service.auth
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_resource_outside_the_allowed_audiences_is_invalid_target(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    response = await http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": "https://evil.example"},
        auth=service.auth,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


async def test_public_client_cannot_use_client_credentials(
    http: httpx.AsyncClient, register: Register
) -> None:
    spa = await register(public=True)
    response = await http.post(
        "/token", data={"grant_type": "client_credentials", "client_id": spa.client_id}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    refused = await http.post(
        "/admin/clients",
        json={"name": "x", "public": True, "grant_types": ["client_credentials"]},
        headers=ADMIN,
    )
    assert refused.status_code == 422


async def test_bad_requests_get_oauth_errors_never_500(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    missing = await http.post("/token", data={}, auth=service.auth)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    unknown = await http.post("/token", data={"grant_type": "password"}, auth=service.auth)
    assert unknown.json()["error"] == "unsupported_grant_type"
    as_json = await http.post("/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    twice = await http.post(
        "/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=service.auth,
    )
    assert twice.json()["error"] == "invalid_request"


async def test_opaque_client_gets_an_opaque_token_that_introspects(
    http: httpx.AsyncClient, register: Register
) -> None:
    client = await register(
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="api:read",
        access_token_format="opaque",
    )
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=client.auth)
    ).json()["access_token"]
    assert token.count(".") != 2
    info = (await http.post("/introspect", data={"token": token}, auth=client.auth)).json()
    assert info["active"] is True
    assert info["client_id"] == client.client_id
    await http.post("/revoke", data={"token": token}, auth=client.auth)
    info = (await http.post("/introspect", data={"token": token}, auth=client.auth)).json()
    assert info == {"active": False}


async def test_concurrent_introspections_of_an_expired_cache_entry_share_one_query(
    http: httpx.AsyncClient, register: Register, oidc_app: FastAPI, clock: FrozenClock
) -> None:
    client = await register(
        grant_types=["client_credentials"], redirect_uris=[], access_token_format="opaque"
    )
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=client.auth)
    ).json()["access_token"]
    assert (await http.post("/introspect", data={"token": token}, auth=client.auth)).json()[
        "active"
    ]
    clock.advance(60)  # past the introspection cache's lifetime: the next lookups miss it
    with selects_from(oidc_app, "oidc_access_tokens") as queries:
        answers = await asyncio.gather(
            *(http.post("/introspect", data={"token": token}, auth=client.auth) for _ in range(20))
        )
    assert all(answer.json()["active"] for answer in answers)
    assert len(queries) == 1


async def test_concurrent_token_requests_after_the_client_cache_expired_share_one_lookup(
    http: httpx.AsyncClient, service: RegisteredClient, oidc_app: FastAPI, clock: FrozenClock
) -> None:
    data = {"grant_type": "client_credentials", "scope": "api:read"}
    assert (await http.post("/token", data=data, auth=service.auth)).status_code == 200
    clock.advance(60)  # past oidc.client_cache_ttl_s
    with selects_from(oidc_app, "oidc_clients") as queries:
        answers = await asyncio.gather(
            *(http.post("/token", data=data, auth=service.auth) for _ in range(20))
        )
    assert [answer.status_code for answer in answers] == [200] * 20
    assert len(queries) == 1


async def test_a_clients_vault_tenants_are_in_its_tokens_also_when_it_comes_from_the_cache(
    http: httpx.AsyncClient, register: Register, oidc_app: FastAPI
) -> None:
    tenant = await register(
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="vault:exchange",
        vault_clients=[7, 3, 7],
    )
    none = await register(grant_types=["client_credentials"], redirect_uris=[], scope="api:read")
    form = {"grant_type": "client_credentials"}
    with selects_from(oidc_app, "oidc_clients") as queries:
        first, cached = [
            (await http.post("/token", data=form, auth=tenant.auth)).json()["access_token"]
            for _ in range(2)
        ]
    assert len(queries) == 1  # the second token's client came from the cache
    for token in (first, cached):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["vault_clients"] == [3, 7]
    other = (await http.post("/token", data=form, auth=none.auth)).json()["access_token"]
    assert "vault_clients" not in jwt.decode(other, options={"verify_signature": False})


async def test_a_public_client_cannot_be_given_vault_tenants(http: httpx.AsyncClient) -> None:
    body = {
        "name": "SPA",
        "public": True,
        "redirect_uris": ["https://spa.example/cb"],
        "vault_clients": [1],
    }
    response = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert "a public client cannot have vault_clients" in response.text


async def test_a_disabled_client_cannot_authenticate_until_enabled(
    http: httpx.AsyncClient, service: RegisteredClient
) -> None:
    form = {"grant_type": "client_credentials", "scope": "api:read"}
    assert (await http.post("/token", data=form, auth=service.auth)).status_code == 200
    view = (await http.get(f"/admin/clients/{service.client_id}", headers=ADMIN)).json()
    settings = {k: v for k, v in view.items() if k not in CLIENT_READ_ONLY}
    disabled = await http.put(
        f"/admin/clients/{service.client_id}", json={**settings, "disabled": True}, headers=ADMIN
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True
    refused = await http.post("/token", data=form, auth=service.auth)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    await http.put(
        f"/admin/clients/{service.client_id}", json={**settings, "disabled": False}, headers=ADMIN
    )
    assert (await http.post("/token", data=form, auth=service.auth)).status_code == 200


async def test_deleting_a_client_revokes_its_own_tokens_jwt_and_opaque(
    http: httpx.AsyncClient, register: Register
) -> None:
    # RFC 7592 §2.3: a deleted client's active tokens are invalidated, its own
    # client_credentials tokens too (one grant per client on the deny-list).
    operator = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="tokend:admin"
    )
    grant = {"grant_type": "client_credentials"}
    jwt_token = (await http.post("/token", data=grant, auth=operator.auth)).json()["access_token"]
    as_admin = {"Authorization": f"Bearer {jwt_token}"}
    assert (await http.get("/admin/users", headers=as_admin)).status_code == 200
    api = await register(grant_types=["client_credentials"], redirect_uris=[], scope="api:read")
    worker = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read",
        access_token_format="opaque", audiences=[api.client_id],
    )  # fmt: skip
    issued = await http.post("/token", data={**grant, "resource": api.client_id}, auth=worker.auth)
    opaque = issued.json()["access_token"]
    assert (await http.post("/introspect", data={"token": opaque}, auth=api.auth)).json()[
        "active"
    ] is True
    survivor = await http.post("/token", data=grant, auth=api.auth)
    survivor_token = survivor.json()["access_token"]

    for gone in (operator, worker):
        deleted = await http.delete(f"/admin/clients/{gone.client_id}", headers=ADMIN)
        assert deleted.status_code == 204
    refused = await http.get("/admin/users", headers=as_admin)
    assert refused.status_code == 401
    assert (await http.post("/introspect", data={"token": opaque}, auth=api.auth)).json() == {
        "active": False
    }
    # Another client's tokens are untouched.
    info = await http.post("/introspect", data={"token": survivor_token}, auth=api.auth)
    assert info.json()["active"] is True
