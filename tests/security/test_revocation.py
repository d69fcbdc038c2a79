"""A revoked access token opens nothing, against one real ``tokend serve`` (OIDC, vault, guard
and gateway in one process, SQLite, memory cache).

Item 2: after RFC 7009 revocation, a replayed code or a reused refresh token, a token was
inactive at ``/introspect`` and refused at ``/userinfo`` and OIDC's ``/admin``, but the vault
API, its RFC 8693 exchange, the guard (``/guard/auth/me``, tokend's own issuer) and the other
admin surfaces (the gateway's) still took it until it expired: only OIDC read the deny-list.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port
from tests.secrets_seen import SecretsSeen
from tests.security.serve import server_env, tokend_serve
from tests.security.test_oidc import (
    ADMIN,
    ADMIN_TOKEN,
    OP,
    PASSWORD,
    RP,
    EndUser,
    authorize,
    exchange,
    introspect,
    new_client,
    refresh,
)

pytestmark = pytest.mark.e2e

#: The vault's demo connection (``TOKEND_VAULT__DEMO_PROVIDER``), its OAuth client id.
DEMO_VAULT_CLIENT = "tokend-demo-vault"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: What a token may do here: the vault (every connection), the admin surfaces, OIDC's user
#: scopes for the code flow.
SCOPE = "openid offline_access vault:admin tokend:admin"


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen) -> Iterator[OP]:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(PASSWORD)
    tmp: Path = tmp_path_factory.mktemp("security-revocation")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with tokend_serve(
        tmp,
        secrets_seen,
        port=port,
        TOKEND_ISSUER=issuer,
        TOKEND_MODULES="oidc,vault,guard,gateway",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_GATEWAY__SOURCE="local",
        # The vault's in-process provider connects its demo client at start-up: a connection to
        # exchange tokens for, with no outbound call.
        TOKEND_VAULT__DEMO_PROVIDER="true",
        TOKEND_OIDC__RATE_LIMITS__LOGIN_PER_IP="10000/minute",
    ) as server:
        addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(2, 250)))
        yield OP(server, server_env(tmp, TOKEND_ISSUER=issuer), addresses)


def connection_pk(op: OP) -> int:
    with httpx.Client(base_url=op.url, timeout=10) as http:
        clients = http.get("/vault/clients", params={"limit": 500}, headers=ADMIN).json()
    (demo,) = [c for c in clients if c["client_id"] == DEMO_VAULT_CLIENT]
    return int(demo["id"])


def where_it_works(op: OP, token: str) -> dict[str, int]:
    """The status of each surface that takes tokend's access tokens, for ``token``."""
    bearer = {"Authorization": f"Bearer {token}"}
    pk = connection_pk(op)
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": f"urn:tokend:vault:client:{pk}",
    }
    with httpx.Client(base_url=op.url, timeout=10) as http:
        return {
            "oidc admin": http.get("/admin/clients", headers=bearer).status_code,
            "gateway admin": http.get("/gateway/admin/consumers", headers=bearer).status_code,
            "vault api": http.get("/vault/clients", headers=bearer).status_code,
            "vault validate": http.get(f"/vault/tokens/validate/{pk}", headers=bearer).status_code,
            "vault exchange": http.post("/vault/token", data=form).status_code,
            "guard": http.get("/guard/auth/me", headers=bearer).status_code,
        }


EVERYWHERE = {
    "oidc admin": 200,
    "gateway admin": 200,
    "vault api": 200,
    "vault validate": 200,
    "vault exchange": 200,
    "guard": 200,
}
NOWHERE = dict.fromkeys(EVERYWHERE, 401)


def audiences(op: OP) -> list[str]:
    # The guard takes tokens for <issuer>/guard; the admin surfaces and the vault for the admin
    # audience <issuer>/admin.
    return [f"{op.url}/guard", f"{op.url}/admin"]


def new_admin(op: OP) -> EndUser:
    """A user holding the admin role: the provider grants tokend:admin in a user's grant only
    to such a user (oidc.admin_scope), so their tokens are taken everywhere."""
    email = f"sec.{secrets.token_hex(4)}@example.org"
    body = {"email": email, "password": PASSWORD, "email_verified": True, "roles": ["admin"]}
    response = op.admin("POST", "/admin/users", json=body)
    assert response.status_code == 201, response.text
    return EndUser(response.json()["id"], email)


def user_client(op: OP, secrets_seen: SecretsSeen) -> RP:
    return new_client(op, secrets_seen, scope=SCOPE, audiences=audiences(op))


def test_an_access_token_revoked_with_rfc7009_is_refused_everywhere(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    service = new_client(
        op,
        secrets_seen,
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
        scope="vault:admin tokend:admin",
        audiences=audiences(op),
    )
    with httpx.Client(base_url=op.url, timeout=10) as http:
        form = {"grant_type": "client_credentials"}
        issued = http.post("/token", data=form, auth=service.basic())
        assert issued.status_code == 200, issued.text
        token = secrets_seen.add(issued.json()["access_token"])
        assert where_it_works(op, token) == EVERYWHERE
        revoked = http.post("/revoke", data={"token": token}, auth=service.basic())
    assert revoked.status_code == 200
    assert introspect(op, service, token) == {"active": False}
    assert where_it_works(op, token) == NOWHERE


def test_the_tokens_of_a_replayed_code_are_refused_everywhere(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    rp, user = user_client(op, secrets_seen), new_admin(op)
    with op.browser() as browser:
        code, verifier = authorize(browser, rp, user, scope=SCOPE)
    first = exchange(op, rp, code, verifier)
    assert first.status_code == 200, first.text
    token = secrets_seen.add(first.json()["access_token"])
    secrets_seen.add(first.json()["refresh_token"])
    assert where_it_works(op, token) == EVERYWHERE
    # RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
    replay = exchange(op, rp, code, verifier)
    assert replay.json()["error"] == "invalid_grant"
    assert where_it_works(op, token) == NOWHERE


def test_the_tokens_of_a_reused_refresh_token_are_refused_everywhere(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    rp, user = user_client(op, secrets_seen), new_admin(op)
    tokens = signed_in(op, rp, user, secrets_seen)
    rotated = refresh(op, rp, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    token = secrets_seen.add(rotated.json()["access_token"])
    secrets_seen.add(rotated.json()["refresh_token"])
    assert where_it_works(op, token) == EVERYWHERE
    # RFC 9700 §4.14.2: the replaced refresh token came back, so it leaked: the grant goes.
    reused = refresh(op, rp, tokens["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    assert where_it_works(op, token) == NOWHERE


def signed_in(op: OP, rp: RP, user: EndUser, secrets_seen: SecretsSeen) -> dict[str, str]:
    with op.browser() as browser:
        code, verifier = authorize(browser, rp, user, scope=SCOPE, state=secrets.token_hex(4))
    answer = exchange(op, rp, code, verifier)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    secrets_seen.add(tokens["access_token"])
    secrets_seen.add(tokens["refresh_token"])
    return tokens
