"""The guard validates DPoP-bound tokens (RFC 9449 §7): proof, ath, cnf.jkt, its own replay
cache; a bound token sent as a bearer token is refused."""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.api.oidc.test_dpop import jkt_of, new_key, proof
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tests.unit.guard.test_dependencies import client  # noqa: F401  (the fixture)

URL = "http://app.test/me"


@pytest.fixture
def bound(issuer: FakeIssuer, secrets_seen: SecretsSeen) -> tuple[str, ECKey]:
    key = new_key()
    token = secrets_seen.add(issuer.token(cnf={"jkt": jkt_of(key)}))
    return token, key


async def test_a_bound_token_with_a_proof_of_its_key_reaches_the_route(
    client: httpx.AsyncClient,  # noqa: F811
    bound: tuple[str, ECKey],
) -> None:
    token, key = bound
    dpop = proof(key, "GET", URL, access_token=token)
    response = await client.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": dpop})
    assert response.status_code == 200, response.text
    replayed = await client.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": dpop})
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]


@pytest.mark.parametrize("case", ["as bearer", "other key", "no ath", "wrong htu", "no proof"])
async def test_a_bound_token_without_the_right_proof_is_refused(
    client: httpx.AsyncClient,  # noqa: F811
    bound: tuple[str, ECKey],
    case: str,
) -> None:
    token, key = bound
    headers = {"Authorization": f"DPoP {token}"}
    if case == "as bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif case == "other key":
        headers["DPoP"] = proof(new_key(), "GET", URL, access_token=token)
    elif case == "no ath":
        headers["DPoP"] = proof(key, "GET", URL)
    elif case == "wrong htu":
        headers["DPoP"] = proof(key, "GET", "http://app.test/other", access_token=token)
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("DPoP ")


async def test_an_unbound_token_is_not_a_dpop_token(
    client: httpx.AsyncClient,  # noqa: F811
    issuer: FakeIssuer,
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(issuer.token())
    dpop = proof(new_key(), "GET", URL, access_token=token)
    response = await client.get("/me", headers={"Authorization": f"DPoP {token}", "DPoP": dpop})
    assert response.status_code == 401
    ok = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
