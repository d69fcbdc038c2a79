"""Scenarios measured without wrk, in the same `make bench` run: the guard library's validations
against raw signature checks, and the vault's refresh sweep (worker processes, no HTTP server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from bench import guard_validate, vault_sweep

Row = dict[str, object]


def guard_rows(smoke: bool) -> list[Row]:
    seconds, rounds = (0.2, 1) if smoke else (2.0, 3)
    return [asyncio.run(guard_validate.measure(alg, seconds, rounds)) for alg in ("ES256", "RS256")]


def sweep_rows(smoke: bool) -> list[Row]:
    return [vault_sweep.run_sweep(connections=300 if smoke else 10_000, workers=2)]


#: By scenario name (``--scenarios``): what measures it, rows as written to bench/results.
IN_PROCESS: Mapping[str, Callable[[bool], list[Row]]] = {
    "guard_validate": guard_rows,
    "vault_refresh_sweep": sweep_rows,
}


def lines(rows: list[Row]) -> list[str]:
    """One sentence per row, for the console and the README."""
    out = []
    for row in rows:
        name = str(row["scenario"])
        if name.startswith("guard_validate"):
            out.append(
                f"{name}: {row['ratio']} of raw `cryptography` verifications/s "
                f"({row['guard_validations_per_s']}/s vs {row['raw_verifications_per_s']}/s, "
                f"{row['python_overhead_us']} µs of Python per token; target ≥ "
                f"{row['target_ratio']})"
            )
        elif name == "vault_refresh_sweep":
            out.append(
                f"{name}: {row['refreshes_per_s']} refreshes/s, {row['duplicates']} duplicate "
                f"refreshes ({row['connections']} due connections, {row['workers']} worker "
                f"processes, local provider; target ≥ 500/s, 0 duplicates)"
            )
    return out
