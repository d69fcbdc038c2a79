"""Scenarios measured without wrk, in the same `make bench` run: the guard library's validations
against raw signature checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from bench import guard_validate
from bench.run_log import Row


def guard_rows(smoke: bool) -> list[Row]:
    seconds, rounds = (0.2, 1) if smoke else (2.0, 3)
    return [asyncio.run(guard_validate.measure(alg, seconds, rounds)) for alg in ("ES256", "RS256")]


#: By scenario name (``--scenarios``): what measures it, rows as written to bench/results.
IN_PROCESS: Mapping[str, Callable[[bool], list[Row]]] = {
    "guard_validate": guard_rows,
}


def lines(rows: list[Row]) -> list[str]:
    """One sentence per row, for the console and the README."""
    return [
        f"{row['scenario']}: {row['ratio']} of raw `cryptography` verifications/s "
        f"({row['guard_validations_per_s']}/s vs {row['raw_verifications_per_s']}/s, "
        f"{row['python_overhead_us']} µs of Python per token; target ≥ {row['target_ratio']})"
        for row in rows
        if str(row["scenario"]).startswith("guard_validate")
    ]
