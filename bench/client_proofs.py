"""Single-use signed requests for wrk: private_key_jwt client assertions (RFC 7523) and DPoP
proofs (RFC 9449), signed here before each run so that wrk measures the server's work alone.

Each assertion and proof carries its own ``jti`` and a server refuses a second use, so wrk cannot
send one request over and over: a run gets a pool of fresh ones (``iat`` a moment before it
starts, well inside both servers' windows: tokend's 60 s for a proof, node-oidc-provider's
300 s) which its Lua script takes one request at a time. The pool is sized for
:data:`POOL_RPS` over the run's duration; a server faster than that runs it dry, and the
requests after that are refused and counted as errors, so the run fails instead of reading low.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from bench.scenarios import Scenario

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The rate a pool is made for: above the fastest either server reached on client_credentials
#: with a client secret on a 2-core machine (about 7,000 rps), which a signature check only slows.
POOL_RPS: Final = 8_000
#: Requests in a pool beyond the rate: wrk's connections each have one in flight at the end.
POOL_SLACK: Final = 256

#: Takes one request from the pools (lua_setup fills them): the body with its client assertion,
#: and with a DPoP proof, the proof in a header.
_LUA_REQUEST: Final = """\
local body = table.remove(bodies) or "pool-exhausted"
local proof = table.remove(proofs)
if proof then wrk.headers["DPoP"] = proof end
return wrk.format(nil, nil, nil, body)"""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An ES256 key pair with its ``kid``: a client's, or the one its DPoP proofs carry."""

    kid: str
    private: ec.EllipticCurvePrivateKey = dataclasses.field(repr=False)

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, str]:
        jwk: dict[str, str] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}


@dataclass(frozen=True, slots=True)
class SignedClient:
    """What a client_credentials request of a private_key_jwt client needs: its id, its key,
    the ``aud`` of its assertions (the issuer), the token endpoint's URL as the server names it
    (a DPoP proof's ``htu``) and, with DPoP, the key its proofs are signed with."""

    client_id: str
    key: SigningKey
    audience: str
    token_url: str
    dpop_key: SigningKey | None = None


def client_assertion(client: SignedClient, now: int) -> str:
    """RFC 7523 §3: a client assertion for one request."""
    claims = {
        "iss": client.client_id, "sub": client.client_id, "aud": client.audience,
        "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 120,
    }  # fmt: skip
    key = client.key
    return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid})


def dpop_proof(key: SigningKey, htu: str, now: int) -> str:
    """RFC 9449 §4.2: a proof of ``key`` for one POST to ``htu``."""
    claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": htu, "iat": now}
    jwk = {k: v for k, v in key.public_jwk().items() if k in ("kty", "crv", "x", "y")}
    return jwt.encode(
        claims, key.private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk}
    )


def pool_size(duration_s: float) -> int:
    return math.ceil(POOL_RPS * max(1.0, duration_s)) + POOL_SLACK


def signed_requests(
    client: SignedClient, form: dict[str, str], count: int, now: int
) -> tuple[list[str], list[str]]:
    """``count`` single-use requests of ``client`` sending ``form``: their bodies (each with its
    own client assertion) and, when the client has a DPoP key, their proofs (else none)."""
    bodies = [
        urlencode({**form, "client_assertion_type": ASSERTION_TYPE,
                   "client_assertion": client_assertion(client, now)})
        for _ in range(count)
    ]  # fmt: skip
    proofs = []
    if client.dpop_key is not None:
        proofs = [dpop_proof(client.dpop_key, client.token_url, now) for _ in range(count)]
    return bodies, proofs


def signed_scenario(scenario: Scenario, client: SignedClient) -> Scenario:
    """``scenario``'s form sent as ``client`` (private_key_jwt, and DPoP when the client has a
    DPoP key), with a fresh pool of single-use requests before every wrk run."""
    form = dict(parse_qsl(scenario.body or ""))

    def renew(duration_s: float) -> Scenario:
        bodies, proofs = signed_requests(client, form, pool_size(duration_s), int(time.time()))
        setup = f"bodies = {_lua_list(bodies)}\nproofs = {_lua_list(proofs)}"
        return dataclasses.replace(ready, lua_setup=setup)

    ready = dataclasses.replace(scenario, body=None, lua_request=_LUA_REQUEST, renew=renew)
    return ready


def _lua_list(values: list[str]) -> str:
    # JSON string literals are Lua string literals for these characters (URL-safe, no escapes).
    return "{" + ",".join(json.dumps(v) for v in values) + "}"
