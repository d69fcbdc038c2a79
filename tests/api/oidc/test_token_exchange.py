"""Token exchange (RFC 8693) at /token: delegation with nested act, impersonation only where
allowed, downscoping, per-client policy, and JWTs of trusted external issuers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.api.oidc.conftest import Register, RegisteredClient
from tests.api.oidc.test_authorization_code import tokens_for
from tests.api.oidc.test_client_assertions import JwksServer
from tests.unit.broker.servers import serving
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jws_keys import SigningKey
from tokend.core.jwt import mint, read_unverified

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
IDT = "urn:ietf:params:oauth:token-type:id_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
API = "https://api.example"
EXTERNAL = "https://idp.partner.example"
EXTERNAL_KEY = ECKey.generate_key("P-256", parameters={"kid": "partner-1", "alg": "ES256"})


#: A trusted issuer whose keys are published at a jwks_uri (rotating) rather than configured.
PUBLISHING = "https://idp.publishing.example"


@pytest.fixture(scope="module")
def published_keys() -> Iterator[tuple[JwksServer, str]]:
    server = JwksServer()
    with serving(server.app()) as base:
        yield server, f"{base}/jwks"


@pytest.fixture
def oidc_settings(oidc_settings: Settings, published_keys: tuple[JwksServer, str]) -> Settings:
    data = oidc_settings.model_dump(mode="python")
    jwks = {"keys": [EXTERNAL_KEY.as_dict(private=False) | {"kid": "partner-1"}]}
    data["oidc"]["token_exchange"] = {
        "trusted_issuers": [
            {"issuer": EXTERNAL, "jwks": json.dumps(jwks)},
            {"issuer": PUBLISHING, "jwks_uri": published_keys[1]},
        ]
    }
    return Settings.model_validate(data)


async def agent(register: Register, subject_clients: list[str], **policy: Any) -> RegisteredClient:
    return await register(
        name="Agent",
        grant_types=["client_credentials", EXCHANGE],
        redirect_uris=[],
        audiences=[API, "https://other.example"],
        scope="openid profile email offline_access agent",
        token_exchange={
            "subject_token_types": [AT, IDT, JWT],
            "subject_clients": subject_clients,
            "audiences": [API],
            **policy,
        },
    )


async def client_token(http: httpx.AsyncClient, rp: RegisteredClient) -> str:
    response = await http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "agent"}, auth=rp.auth
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def exchange(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    subject: str,
    subject_type: str = AT,
    **extra: str,
) -> httpx.Response:
    return await http.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": subject_type,
            **extra,
        },
        auth=rp.auth,
    )


def claims_of(token: str) -> dict[str, Any]:
    return dict(read_unverified(token)[1])


async def test_an_agent_gets_a_delegated_token_with_act_for_the_user(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    bot = await agent(register, [rp.client_id])
    response = await exchange(
        http, bot, tokens["access_token"], actor_token=await client_token(http, bot),
        actor_token_type=AT, scope="openid email", resource=API,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == AT
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "email openid"
    assert "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["sub"] == user["id"]
    assert claims["act"] == {"sub": bot.client_id}
    assert claims["aud"] == API
    assert claims["client_id"] == bot.client_id
    info = await http.post("/introspect", data={"token": body["access_token"]}, auth=bot.auth)
    assert info.json()["active"] is True
    assert info.json()["sub"] == user["id"]
    assert info.json()["act"] == {"sub": bot.client_id}
    # The user's scopes bound the exchange: nothing the subject token did not have.
    wider = await exchange(http, bot, tokens["access_token"], actor_token=await client_token(
        http, bot), actor_token_type=AT, scope="agent")  # fmt: skip
    assert wider.json()["error"] == "invalid_scope"


async def test_a_second_delegation_nests_the_first_actor(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    first = await agent(register, [rp.client_id])
    delegated = await exchange(
        http, first, tokens["access_token"], actor_token=await client_token(http, first),
        actor_token_type=AT,
    )  # fmt: skip
    second = await agent(register, [first.client_id])
    nested = await exchange(
        http, second, delegated.json()["access_token"],
        actor_token=await client_token(http, second), actor_token_type=AT,
    )  # fmt: skip
    assert nested.status_code == 200, nested.text
    assert claims_of(nested.json()["access_token"])["act"] == {
        "sub": second.client_id,
        "act": {"sub": first.client_id},
    }


async def test_impersonation_needs_the_clients_own_token_or_may_act(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(
        grant_types=["authorization_code", "refresh_token", EXCHANGE],
        audiences=[API],
        token_exchange={"subject_token_types": [AT], "audiences": [API]},
    )
    tokens = await tokens_for(http, rp, user)
    own = await exchange(http, rp, tokens["access_token"], audience=API)
    assert own.status_code == 200, own.text
    assert "act" not in claims_of(own.json()["access_token"])
    assert claims_of(own.json()["access_token"])["aud"] == API
    bot = await agent(register, [rp.client_id])
    refused = await exchange(http, bot, tokens["access_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert "may_act" in refused.json()["error_description"]


@pytest.mark.parametrize(
    ("policy", "extra", "error"),
    [
        ({"subject_token_types": [IDT]}, {}, "invalid_request"),
        ({}, {"resource": "https://other.example"}, "invalid_target"),
        ({}, {"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"},
         "invalid_request"),
        ({}, {"actor_token": "x"}, "invalid_request"),
        ({}, {"actor_token": "not-a-token", "actor_token_type": AT}, "invalid_request"),
    ],
)  # fmt: skip
async def test_the_policy_and_bad_parameters_are_refused(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    policy: dict[str, Any],
    extra: dict[str, str],
    error: str,
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    bot = await agent(register, [rp.client_id], **policy)
    actor = {"actor_token": await client_token(http, bot), "actor_token_type": AT}
    response = await exchange(http, bot, tokens["access_token"], **(actor | extra))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_tokens_of_other_clients_revoked_tokens_and_clients_without_policy_are_refused(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    stranger = await agent(register, ["c_someone_else"])
    actor = {"actor_token": await client_token(http, stranger), "actor_token_type": AT}
    foreign = await exchange(http, stranger, tokens["access_token"], **actor)
    assert foreign.json()["error"] == "invalid_request"
    plain = await register(grant_types=["client_credentials"], redirect_uris=[])
    refused = await exchange(http, plain, tokens["access_token"])
    assert refused.json()["error"] == "unauthorized_client"
    bot = await agent(register, [rp.client_id])
    await http.post("/revoke", data={"token": tokens["access_token"]}, auth=rp.auth)
    revoked = await exchange(
        http, bot, tokens["access_token"], actor_token=await client_token(http, bot),
        actor_token_type=AT,
    )  # fmt: skip
    assert revoked.json()["error"] == "invalid_request"


async def test_revoking_the_users_grant_ends_what_was_exchanged_for_it(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    bot = await agent(register, [rp.client_id])
    delegated = await exchange(
        http, bot, tokens["access_token"], actor_token=await client_token(http, bot),
        actor_token_type=AT,
    )  # fmt: skip
    exchanged = delegated.json()["access_token"]
    await http.post("/revoke", data={"token": tokens["refresh_token"]}, auth=rp.auth)
    info = await http.post("/introspect", data={"token": exchanged}, auth=bot.auth)
    assert info.json() == {"active": False}


async def test_an_id_token_can_be_asked_for(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    tokens = await tokens_for(http, rp, user)
    bot = await agent(register, [rp.client_id])
    response = await exchange(
        http, bot, tokens["id_token"], IDT, requested_token_type=IDT,
        actor_token=await client_token(http, bot), actor_token_type=AT,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "N_A"
    assert response.json()["issued_token_type"] == IDT
    claims = claims_of(response.json()["access_token"])
    assert claims["sub"] == user["id"]
    assert claims["aud"] == bot.client_id
    # An access token is not an ID token.
    wrong = await exchange(http, bot, tokens["access_token"], IDT)
    assert wrong.json()["error"] == "invalid_request"


def external_jwt(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": EXTERNAL, "sub": "partner-user-7", "aud": "http://testserver",
               "iat": now, "exp": now + 300, "scope": "openid email", **claims}  # fmt: skip
    return mint(payload, SigningKey("partner-1", "ES256", EXTERNAL_KEY))


async def test_a_trusted_issuers_jwt_is_exchanged_where_may_act_allows(
    http: httpx.AsyncClient, register: Register
) -> None:
    bot = await agent(register, [EXTERNAL])
    allowed = await exchange(http, bot, external_jwt(may_act={"sub": bot.client_id}), JWT)
    assert allowed.status_code == 200, allowed.text
    claims = claims_of(allowed.json()["access_token"])
    assert claims["sub"] == "partner-user-7"
    assert "act" not in claims
    someone_else = external_jwt(may_act={"sub": "another-agent"})
    refused = await exchange(
        http, bot, someone_else, JWT, actor_token=await client_token(http, bot),
        actor_token_type=AT,
    )  # fmt: skip
    assert refused.json()["error"] == "invalid_request"
    assert "may_act" in refused.json()["error_description"]
    untrusted = mint(
        {"iss": "https://evil.example", "sub": "x", "iat": int(time.time()),
         "exp": int(time.time()) + 60},
        SigningKey("partner-1", "ES256", EXTERNAL_KEY),
    )  # fmt: skip
    assert (await exchange(http, bot, untrusted, JWT)).json()["error"] == "invalid_request"
    wrong_audience = external_jwt(aud="https://elsewhere.example", may_act={"sub": bot.client_id})
    assert (await exchange(http, bot, wrong_audience, JWT)).json()["error"] == "invalid_request"


async def test_a_trusted_issuers_keys_are_fetched_from_its_jwks_uri_and_refetched_once_rotated(
    http: httpx.AsyncClient,
    register: Register,
    clock: FrozenClock,
    published_keys: tuple[JwksServer, str],
) -> None:
    server, _uri = published_keys
    first = ECKey.generate_key("P-256", parameters={"kid": "pub-1", "alg": "ES256"})
    second = ECKey.generate_key("P-256", parameters={"kid": "pub-2", "alg": "ES256"})
    server.jwks = {"keys": [first.as_dict(private=False) | {"kid": "pub-1", "alg": "ES256"}]}
    server.calls = 0
    bot = await agent(register, [PUBLISHING])

    def published_jwt(key: ECKey, kid: str, **claims: Any) -> str:
        now = int(clock.timestamp())
        payload = {"iss": PUBLISHING, "sub": "published-user-3", "aud": "http://testserver",
                   "iat": now, "exp": now + 300, "may_act": {"sub": bot.client_id},
                   **claims}  # fmt: skip
        return mint(payload, SigningKey(kid, "ES256", key))

    allowed = await exchange(http, bot, published_jwt(first, "pub-1"), JWT)
    assert allowed.status_code == 200, allowed.text
    assert claims_of(allowed.json()["access_token"])["sub"] == "published-user-3"
    assert (await exchange(http, bot, published_jwt(first, "pub-1"), JWT)).status_code == 200
    assert server.calls == 1  # cached
    # Signed by a key the issuer does not publish (yet): refused, and no second fetch within
    # the refetch interval however many unknown kids arrive.
    server.jwks["keys"].append(second.as_dict(private=False) | {"kid": "pub-2", "alg": "ES256"})
    rotated = published_jwt(second, "pub-2")
    assert (await exchange(http, bot, rotated, JWT)).json()["error"] == "invalid_request"
    forged = ECKey.generate_key("P-256")
    assert (await exchange(http, bot, published_jwt(forged, "nope"), JWT)).status_code == 400
    assert server.calls == 1
    clock.advance(61)
    rotated = published_jwt(second, "pub-2")
    assert (await exchange(http, bot, rotated, JWT)).status_code == 200
    assert server.calls == 2
    # A key another issuer published proves nothing for this one.
    assert (await exchange(http, bot, published_jwt(EXTERNAL_KEY, "partner-1"), JWT)).json()[
        "error"
    ] == "invalid_request"


async def test_discovery_advertises_token_exchange(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert EXCHANGE in metadata["grant_types_supported"]


async def test_a_trusted_issuers_jwt_never_brings_the_admin_scope(
    http: httpx.AsyncClient, register: Register
) -> None:
    # The agent may hold tokend:admin itself; a partner's token claiming it makes nobody an
    # administrator here (oidc.admin_scope: only this provider grants it, to its admin users).
    bot = await register(
        name="Admin agent",
        grant_types=["client_credentials", EXCHANGE],
        redirect_uris=[],
        audiences=[API],
        scope="openid email tokend:admin",
        token_exchange={"subject_token_types": [JWT], "subject_clients": [EXTERNAL],
                        "audiences": [API]},
    )  # fmt: skip
    subject = external_jwt(scope="openid tokend:admin", may_act={"sub": bot.client_id})
    answer = await exchange(http, bot, subject, JWT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "openid"
    assert "tokend:admin" not in claims_of(answer.json()["access_token"])["scope"].split()
    asked = await exchange(http, bot, subject, JWT, scope="openid tokend:admin")
    assert asked.json()["error"] == "invalid_scope"
