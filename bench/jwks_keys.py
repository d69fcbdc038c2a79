"""The JWKS as the keyring grows: a fresh deployment's keys against 50 keys.

A fresh keyring holds an active and a next key for each configured algorithm (ES256 access
tokens, RS256 ID tokens: 4 keys). The larger size is reached by rotating both algorithms in
turn before the server starts (through tokend's Keyring, as ``tokend keys rotate`` does), so
the JWKS publishes their retired keys too, as it does after rotations until the retention
passes. Each size gets its own production-like server; the sizes alternate within each round,
each with its own server's floor, so the rows say what a larger document costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx

from bench.measure import alternate
from bench.process import Running, production_server
from bench.run_log import Row
from bench.scenarios import FLOOR, Scenario
from bench.vault_seed import database_of
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.environment import Environment
from tokend.core.keys import Keyring
from tokend.core.settings import KeysSettings, SigningAlgorithm
from tokend.obs.logging import configure_logging
from tokend.obs.settings import LogSettings
from tokend.store.engine import open_database

FAMILY = "jwks_keys"
#: Published keys per size; None: as a fresh deployment has them.
SIZES: tuple[int | None, ...] = (None, 50)
SMOKE_SIZES: tuple[int | None, ...] = (None, 8)
JWKS_PATH = "/.well-known/jwks.json"
WHY = (
    "the document is serialised once per keyring change, so a request copies ready bytes: "
    "the cost per request grows only with the bytes sent (about 0.4 kB per RSA key, 0.2 kB "
    "per EC key)"
)


@dataclass(slots=True)
class Keys:
    wanted: int | None
    published: int = 0
    document_bytes: int = 0


def measure(
    *, smoke: bool, server: str, duration_s: float, rounds: int, connections: int
) -> list[Row]:
    sizes = [Keys(n) for n in (SMOKE_SIZES if smoke else SIZES)]
    with ExitStack() as stack:
        plan = []
        for keys in sizes:
            running = stack.enter_context(_serving(keys, server))
            document = httpx.get(running.base_url + JWKS_PATH, timeout=10)
            document.raise_for_status()
            keys.published = len(document.json()["keys"])
            keys.document_bytes = len(document.content)
            for scenario in (FLOOR, Scenario("jwks", JWKS_PATH)):
                name = f"{FAMILY}.{scenario.name}@{keys.published}"
                plan.append((running.base_url, Scenario(name, scenario.path, family=FAMILY)))
        results = alternate(plan, duration_s, rounds, connections, smoke=smoke)
    rows: list[Row] = []
    for keys in sizes:
        jwks = results[f"{FAMILY}.jwks@{keys.published}"]
        floor = results[f"{FAMILY}.floor@{keys.published}"]
        rows.append(
            {
                "scenario": f"{FAMILY}.jwks",
                "variant": str(keys.published),
                "family": FAMILY,
                "size": keys.published,
                "size_label": f"{keys.published} keys"
                + (" (fresh deployment)" if keys.wanted is None else ""),
                "metric": "rps",
                "unit": "requests/s",
                "higher_is_better": True,
                "rps": round(jwks.rps, 1),
                "p50_ms": round(jwks.p50_ms, 3),
                "p99_ms": round(jwks.p99_ms, 3),
                "floor_rps": round(floor.rps, 1),
                "ratio_to_floor": round(jwks.rps / floor.rps, 3) if floor.rps else None,
                "document_bytes": keys.document_bytes,
                "errors": jwks.errors + floor.errors,
                "error_kinds": {**floor.error_kinds, **jwks.error_kinds},
                "why": WHY,
            }
        )
    return rows


@contextmanager
def _serving(keys: Keys, server: str) -> Iterator[Running]:
    def prepare(env: dict[str, str]) -> None:
        if keys.wanted is not None:
            asyncio.run(_rotate_until(env, keys.wanted))

    with production_server((), {"TOKEND_SERVER__SERVER": server}, prepare=prepare) as running:
        yield running


async def _rotate_until(env: dict[str, str], wanted: int) -> None:
    """Rotate ES256 and RS256 in turn until the keyring holds ``wanted`` keys."""
    # The keyring logs each key it makes; the bench's console is for figures.
    configure_logging(LogSettings(level="warning", format="json"), Environment.PRODUCTION)
    database = open_database(database_of(env))
    try:
        keyring = await Keyring.open(
            database,
            FieldCipher.from_secrets(env["TOKEND_SECRET_KEY"]),
            KeysSettings(),
            SystemClock(),
        )
        algorithms: tuple[SigningAlgorithm, ...] = ("ES256", "RS256")
        turn = 0
        while len(keyring.list()) < wanted:
            await keyring.rotate(algorithms[turn % 2])
            turn += 1
    finally:
        await database.close()
