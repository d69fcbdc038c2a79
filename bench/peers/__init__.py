"""Peers measured in the same run as tokend: node-oidc-provider.

The peer's sources (``package.json``, ``server.mjs``) are committed under
``bench/peers/node-oidc-provider``; ``make bench`` copies them into ``.cache/bench-peers`` (ignored)
and installs them with npm when missing or changed, then runs the peer on a spare port.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from tests.components import spare_port, wait_for_port
from tests.e2e.server import REPO

from bench.client_proofs import SignedClient, SigningKey, signed_scenario
from bench.oidc_setup import REFRESH_POOL
from bench.scenarios import SCENARIOS, Scenario

SOURCE = REPO / "bench" / "peers" / "node-oidc-provider"
INSTALL = REPO / ".cache" / "bench-peers" / "node-oidc-provider"
CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-0123456789"  # noqa: S105  (a throw-away benchmark client)
OPAQUE_RESOURCE = "urn:bench:opaque"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PKJWT_CLIENT_ID = "bench-pkjwt"
WEB_CLIENT_ID = "bench-web"
#: tokend's rps over the peer's, measured in the same run: the target, or None where the issue
#: asks for the ratio alone.
PEER_TARGETS: dict[str, float | None] = {
    "oidc_client_credentials": 2.0,
    "oidc_introspect": 2.0,
    "oidc_client_credentials_private_key_jwt": None,
    "oidc_client_credentials_dpop": None,
    # The target is PostgreSQL's against the peer's default (in-memory) adapter.
    "oidc_refresh_postgres": 1.0,
    # `tokend serve --demo` (make run's server) against the same peer.
    "oidc_client_credentials_demo": 1.5,
    "oidc_introspect_demo": 1.5,
}


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    base_url: str
    #: The peer's version of tokend scenarios, by tokend scenario name.
    scenarios: dict[str, Scenario]


def install() -> Path:
    """The peer installed (npm, pinned major) in the ignored cache folder; a no-op when current."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed for the node-oidc-provider peer")
    INSTALL.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name in ("package.json", "server.mjs"):
        data = (SOURCE / name).read_bytes()
        digest.update(data)
        (INSTALL / name).write_bytes(data)
    stamp = INSTALL / ".installed"
    if not stamp.exists() or stamp.read_text() != digest.hexdigest():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INSTALL,
            check=True,
            timeout=600,
        )
        stamp.write_text(digest.hexdigest())
    return INSTALL


@contextmanager
def node_oidc_provider() -> Iterator[Peer]:
    """node-oidc-provider running on a spare loopback port, stopped at the end."""
    directory = install()
    port = spare_port()
    key = SigningKey.generate("bench-peer-client")
    env = {
        **os.environ,
        "PORT": str(port),
        "NODE_ENV": "production",
        "PEER_PKJWT_CLIENT_ID": PKJWT_CLIENT_ID,
        "PEER_WEB_CLIENT_ID": WEB_CLIENT_ID,
        "PEER_PKJWT_JWKS": json.dumps({"keys": [key.public_jwk()]}),
    }
    process = subprocess.Popen(
        ["node", "server.mjs"],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, within_s=30)
        base_url = f"http://127.0.0.1:{port}"
        signed = SignedClient(PKJWT_CLIENT_ID, key, base_url, f"{base_url}/token")
        yield Peer("node-oidc-provider", base_url, _scenarios(base_url, signed))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _scenarios(base_url: str, signed: SignedClient) -> dict[str, Scenario]:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    headers = {**FORM, "Authorization": f"Basic {basic}"}
    opaque = _token(base_url, headers, resource=OPAQUE_RESOURCE)
    scenarios = {
        "oidc_client_credentials": Scenario(
            "oidc_client_credentials",
            "/token",
            method="POST",
            headers=headers,
            body="grant_type=client_credentials&scope=api%3Aread",
            description="node-oidc-provider: client_credentials, ES256 JWT access token",
        ),
        "oidc_introspect": Scenario(
            "oidc_introspect",
            "/token/introspection",
            method="POST",
            headers=headers,
            body=urllib.parse.urlencode({"token": opaque}),
            description="node-oidc-provider: introspection of an opaque access token",
        ),
        "oidc_refresh_postgres": _refresh_scenario(base_url, headers),
        "oidc_client_credentials_private_key_jwt": signed_scenario(
            Scenario(
                "oidc_client_credentials_private_key_jwt",
                "/token",
                method="POST",
                headers=FORM,
                body="grant_type=client_credentials&scope=api%3Aread",
                description="node-oidc-provider: client_credentials with private_key_jwt (ES256 "
                "assertions signed before the run), ES256 JWT access token",
            ),
            signed,
        ),
        "oidc_client_credentials_dpop": signed_scenario(
            Scenario(
                "oidc_client_credentials_dpop",
                "/token",
                method="POST",
                headers=FORM,
                body="grant_type=client_credentials&scope=api%3Aread",
                description="node-oidc-provider: the same with an ES256 DPoP proof per request, "
                "a DPoP-bound JWT access token",
            ),
            replace(signed, dpop_key=SigningKey.generate("bench-peer-dpop")),
        ),
    }
    # tokend's demo rows are set against the same requests to the same peer.
    for name in ("oidc_client_credentials", "oidc_introspect"):
        scenarios[f"{name}_demo"] = scenarios[name]
    return scenarios


def _refresh_scenario(base_url: str, headers: dict[str, str]) -> Scenario:
    """tokend's refresh scenario (rotated tokens go back in the pool) against the peer's web
    client, each run with a fresh pool minted by the peer's bench route (server.mjs)."""
    basic = base64.b64encode(f"{WEB_CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    def renew(duration_s: float) -> Scenario:
        request = urllib.request.Request(  # noqa: S310  (loopback URL we built)
            f"{base_url}/bench/refresh-tokens?count={REFRESH_POOL}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            values = json.load(response)["refresh_tokens"]
        pool = ", ".join(json.dumps(value) for value in values)
        return replace(ready, lua_setup=f"pool = {{{pool}}}")

    ready = replace(
        SCENARIOS["oidc_refresh"],
        headers={**headers, "Authorization": f"Basic {basic}"},
        renew=renew,
        description="node-oidc-provider: refresh_token grant, rotated on every use (in-memory "
        "adapter), an ES256 JWT access token and an RS256 ID token",
    )
    return renew(0.0)


def _token(base_url: str, headers: dict[str, str], *, resource: str) -> str:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource})
    request = urllib.request.Request(  # noqa: S310  (loopback URL we built)
        f"{base_url}/token", data=body.encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.load(response)["access_token"])


def as_peer(scenario: Scenario, peer: Peer) -> Scenario | None:
    """The peer's counterpart of ``scenario``, named for the results, or None."""
    counterpart = peer.scenarios.get(scenario.name)
    if counterpart is None:
        return None
    return replace(counterpart, name=f"{scenario.name}@{peer.name}", target_ratio=None)
