"""What to measure. A capability adds its scenarios here: one entry, no other edits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    #: The ratio to the floor this scenario should reach (None: no target).
    target_ratio: float | None = None
    description: str = ""


FLOOR = Scenario("floor", "/health", description="trivial endpoint of the same app: the HTTP floor")

SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        FLOOR,
        Scenario(
            "jwks",
            "/.well-known/jwks.json",
            target_ratio=0.8,
            description="JWKS document served from memory",
        ),
        Scenario(
            "broker_token_cached",
            "/broker/api/demo/token?mcc=972&sn=0527464600",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="auth_code=best_auth_code_123",
            target_ratio=0.5,
            description="seed 000 broker token, second and later requests served from the cache",
        ),
    )
}


def broker_setup(tmp: Path, port: int) -> dict[str, str]:
    """Settings for broker scenarios: an operator in the same server and a directory to it."""
    directory = tmp / "telco.yaml"
    directory.write_text(
        "prefixes:\n  97205:\n    operator_id: bench\n"
        f"    base_url: http://127.0.0.1:{port}/telcos/bench\n"
        "    client_id: BENCH_ID\n    client_secret: BENCH_SECRET\n",
        encoding="utf-8",
    )
    return {
        "TOKEND_BROKER__DIRECTORY_FILE": str(directory),
        "TOKEND_TELCO__ID": "bench",
        "TOKEND_TELCO__CLIENTS": json.dumps({"BENCH_ID": "BENCH_SECRET"}),
        "TOKEND_TELCO__VALID_CODES": json.dumps(["best_auth_code_123"]),
    }
