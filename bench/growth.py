"""How cost grows as work grows: scenarios measured at several sizes, a row per size.

Each family runs its sizes side by side in the same run (servers of their own, or processes
of their own) and reports one figure per size; :func:`verdict` says how the cost grew against
the data (flat, sub-linear, linear, super-linear) and each row carries why (``why``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench import guard_issuers, jwks_keys, oidc_scale, telco_directory, vault_sweep
from bench.run_log import Row


@dataclass(frozen=True, slots=True)
class Options:
    smoke: bool
    server: str
    duration_s: float
    rounds: int
    connections: int


def _oidc(o: Options) -> list[Row]:
    return oidc_scale.measure(smoke=o.smoke, server=o.server, duration_s=o.duration_s,
                              rounds=o.rounds, connections=o.connections)  # fmt: skip


def _jwks(o: Options) -> list[Row]:
    return jwks_keys.measure(smoke=o.smoke, server=o.server, duration_s=o.duration_s,
                             rounds=o.rounds, connections=o.connections)  # fmt: skip


#: Due connections per size of the vault sweep.
SWEEP_SIZES = (10_000, 100_000)
SMOKE_SWEEP_SIZES = (100, 300)


def _sweep(o: Options) -> list[Row]:
    sizes = SMOKE_SWEEP_SIZES if o.smoke else SWEEP_SIZES
    return [vault_sweep.run_sweep(connections=size, workers=2) for size in sizes]


#: By scenario name (``--scenarios``).
GROWTH: Mapping[str, Callable[[Options], list[Row]]] = {
    "oidc_scale": _oidc,
    "telco_lookup": lambda o: telco_directory.measure(smoke=o.smoke),
    "vault_refresh_sweep": _sweep,
    "guard_issuers": lambda o: guard_issuers.measure(smoke=o.smoke),
    "jwks_keys": _jwks,
}
#: Those that need PostgreSQL and Redis (TOKEND_BENCH_* or TOKEND_TEST_* URLs).
NEEDS_POSTGRES = frozenset({"oidc_scale", "vault_refresh_sweep"})


@dataclass(frozen=True, slots=True)
class Growth:
    """How one figure changed from the smallest size to the largest."""

    scenario: str
    size_ratio: float
    cost_ratio: float
    label: str
    why: str

    @property
    def exponent(self) -> float:
        """``cost ∝ size^exponent`` between the two ends (0: flat, 1: linear)."""
        if self.size_ratio <= 1 or self.cost_ratio <= 0:
            return 0.0
        return math.log(self.cost_ratio) / math.log(self.size_ratio)

    def text(self) -> str:
        return (
            f"{self.scenario}: \u00d7{self.size_ratio:,.0f} data, cost \u00d7{self.cost_ratio:.2f} "
            f"({self.label}, exponent {self.exponent:.2f}): {self.why}"
        )


def verdict(scenario: str, points: Sequence[tuple[float, float]], row: Row) -> Growth | None:
    """The growth of ``scenario``'s cost between its smallest and largest size; ``points`` are
    (size, headline value), ``row`` one of its rows (for the metric's direction and why).
    A throughput's cost is its inverse."""
    known = sorted((s, v) for s, v in points if s > 0 and v > 0)
    if len(known) < 2 or known[0][0] == known[-1][0]:
        return None
    (small, first), (large, last) = known[0], known[-1]
    higher_is_better = bool(row.get("higher_is_better"))
    cost_ratio = first / last if higher_is_better else last / first
    growth = Growth(scenario, large / small, cost_ratio, "", str(row.get("why", "")))
    exponent = growth.exponent
    if exponent < 0.1:
        label = "flat"
    elif exponent < 0.8:
        label = "sub-linear"
    elif exponent <= 1.2:
        label = "linear"
    else:
        label = "super-linear"
    return Growth(scenario, growth.size_ratio, cost_ratio, label, growth.why)


def lines(rows: Sequence[Row]) -> list[str]:
    """One line per size and figure, then how each figure grew (one run: the console)."""
    out = []
    by_scenario: dict[str, list[Row]] = {}
    for row in rows:
        by_scenario.setdefault(str(row["scenario"]), []).append(row)
        metric = str(row["metric"])
        extra = ""
        if "p99_ms" in row:
            extra = f", p99 {row['p99_ms']} ms"
        if row.get("errors"):
            extra += f", {row['errors']} ERRORS"
        out.append(f"{row['scenario']} @ {row['size_label']}: {row[metric]} {row['unit']}{extra}")
    for scenario, group in by_scenario.items():
        points = [(_number(r.get("size")), _number(r.get(str(r["metric"])))) for r in group]
        found = verdict(scenario, points, group[0])
        if found is not None:
            out.append(found.text())
    return out


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
