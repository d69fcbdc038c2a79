"""The OIDC scenarios' credentials, made against the running server like a real deployment's:
clients with ``tokend clients create``, a user with ``tokend users create``, refresh tokens minted
through the real sign-in, consent and code exchange."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from tests.e2e.server import tokend_json

from bench.client_proofs import SignedClient, SigningKey, signed_scenario
from bench.scenarios import Scenario
from tokend.core.crypto import sha256_b64url


def oidc_prepare(
    scenarios: list[Scenario], base_url: str, env: Mapping[str, str]
) -> list[Scenario]:
    """The OIDC scenarios with real credentials, like the peer's: a client made with
    ``tokend clients create`` against the running server's database for client_credentials
    (ES256 JWT access tokens), one with opaque tokens whose token it introspects, and a
    private_key_jwt client registered through the admin API (with and without DPoP)."""
    if not any(s.name.startswith("oidc_") for s in scenarios):
        return scenarios
    jwt_auth = bench_client(env, "bench-jwt")
    opaque_auth = bench_client(env, "bench-opaque", "--opaque")
    opaque_token = httpx.post(
        f"{base_url}/token",
        data={"grant_type": "client_credentials", "scope": "api:read"},
        headers=opaque_auth,
        timeout=10,
    ).json()["access_token"]
    signed_names = {"oidc_client_credentials_private_key_jwt", "oidc_client_credentials_dpop"}
    # Registered through the admin API, which a demo server (no admin token) does not offer.
    if any((s.variant_of or s.name) in signed_names for s in scenarios):
        signed = _signed_client(base_url, env)
    ready = []
    for scenario in scenarios:
        name = scenario.variant_of or scenario.name  # a variant is set up as its original
        if name == "oidc_client_credentials_private_key_jwt":
            scenario = signed_scenario(scenario, signed)
        elif name == "oidc_client_credentials_dpop":
            dpop_key = SigningKey.generate("bench-dpop")
            scenario = signed_scenario(scenario, dataclasses.replace(signed, dpop_key=dpop_key))
        elif name == "oidc_client_credentials":
            scenario = dataclasses.replace(scenario, headers={**scenario.headers, **jwt_auth})
        elif name == "oidc_introspect":
            scenario = dataclasses.replace(
                scenario,
                headers={**scenario.headers, **opaque_auth},
                body=urlencode({"token": opaque_token}),
            )
        elif name == "oidc_refresh":
            scenario = _refresh_scenario(scenario, base_url, env)
        ready.append(scenario)
    return ready


def _signed_client(base_url: str, env: Mapping[str, str]) -> SignedClient:
    """A private_key_jwt client_credentials client with a new ES256 key, registered through the
    admin API (``tokend clients create`` takes no keys), as node-oidc-provider's peer client."""
    key = SigningKey.generate("bench-client")
    response = httpx.post(
        f"{base_url}/admin/clients",
        json={"name": "bench-private-key-jwt", "grant_types": ["client_credentials"],
              "scope": "api:read", "token_endpoint_auth_method": "private_key_jwt",
              "token_endpoint_auth_signing_alg": "ES256", "jwks": {"keys": [key.public_jwk()]}},
        headers={"Authorization": f"Bearer {env['TOKEND_ADMIN_TOKEN']}"},
        timeout=10,
    )  # fmt: skip
    response.raise_for_status()
    issuer = env["TOKEND_ISSUER"]
    return SignedClient(response.json()["client_id"], key, issuer, f"{issuer}/token")


#: Refresh tokens minted per wrk run: twice the connections a run may use, so that the pool
#: never runs dry while every connection has one request in flight.
REFRESH_POOL = 128
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _refresh_scenario(scenario: Scenario, base_url: str, env: Mapping[str, str]) -> Scenario:
    """oidc_refresh with a web client and a user made with the CLI, and a fresh pool of refresh
    tokens for every run, minted through the real flow: one sign-in and consent, then
    /authorize answered from the session and remembered consent, and a code exchange each."""
    redirect = "http://127.0.0.1:9/cb"
    client = tokend_json(
        dict(env), "clients", "create", "--name", "bench-web",
        "--grant", "authorization_code", "--grant", "refresh_token",
        "--redirect-uri", redirect, "--scope", "openid offline_access",
    )  # fmt: skip
    password = secrets.token_urlsafe(16)
    tokend_json(dict(env), "users", "create", "--email", "bench@example.org",
                "--password", password, "--verified")  # fmt: skip
    auth = basic_auth(client["client_id"], client["client_secret"])
    http = httpx.Client(base_url=base_url, timeout=10)
    # The bench issuer is https, so the session cookie is Secure and httpx would not send it over
    # plain http: the cookie is carried by hand.
    session: dict[str, str] = {}

    def get_or_post(
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in session.items())
        headers = {"Cookie": cookie}
        response = http.request(method, url, headers=headers, params=params, data=data)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            session[name.strip()] = rest.split(";", 1)[0]
        return response

    def code() -> str:
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect,
            "scope": "openid offline_access", "state": secrets.token_urlsafe(8),
            "code_challenge": sha256_b64url(verifier), "code_challenge_method": "S256",
        }  # fmt: skip
        location = get_or_post("GET", "/authorize", params=params).headers["location"]
        while location.startswith("/interaction/"):
            page = get_or_post("GET", location)
            match = _CSRF.search(page.text)
            if match is None:
                raise SystemExit(f"oidc_refresh set-up: no form at {location}")
            form = {"csrf_token": match.group(1)}
            if "Sign in" in page.text:
                step = "login"
                form |= {"email": "bench@example.org", "password": password}
            else:
                step = "consent"
                form |= {"decision": "allow"}
            uid = location.rstrip("/").rsplit("/", 1)[1]
            location = get_or_post("POST", f"/interaction/{uid}/{step}", data=form).headers[
                "location"
            ]
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(location).query)["code"][0],
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            headers=auth,
        )
        tokens.raise_for_status()
        return str(tokens.json()["refresh_token"])

    def renew(duration_s: float) -> Scenario:
        # The pool refills itself (rotated tokens go back in), so its size does not depend on
        # the run's length.
        pool = ", ".join(json.dumps(code()) for _ in range(REFRESH_POOL))
        return dataclasses.replace(ready, lua_setup=f"pool = {{{pool}}}")

    ready = dataclasses.replace(scenario, headers={**scenario.headers, **auth}, renew=renew)
    return renew(0.0)


def bench_client(env: Mapping[str, str], name: str, *options: str) -> dict[str, str]:
    """HTTP Basic credentials of a new client_credentials client."""
    client = tokend_json(
        dict(env), "clients", "create", "--name", name,
        "--grant", "client_credentials", "--scope", "api:read", *options,
    )  # fmt: skip
    return basic_auth(client["client_id"], client["client_secret"])


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}
