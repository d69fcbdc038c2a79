"""SVG charts of the results log: one per scenario family, bars at the median of the last
comparable runs with whiskers from their minimum to their maximum.

Hand-written SVG rather than matplotlib: tokend does not depend on matplotlib (it would bring
numpy, fonts and a rendering backend into the dev install for a few bars), and a horizontal
bar chart with error bars is a few rectangles, lines and labels. The files are plain text, so
they diff and render on GitHub and in any browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from bench.run_log import Row, Run, spread, values
from bench.scenarios import FLOORS, SCENARIOS

#: The figure each HTTP family is drawn with (rps unless named here).
FAMILY_METRIC = {"broker_miss": ("p50_ms", "p50 ms (1 connection)"), "paced": ("p99_ms", "p99 ms")}
TITLES = {
    "capabilities": "tokend serve: hot paths against its floor and a raw ASGI ping",
    "oidc": "OIDC: tokend against node-oidc-provider and the floor",
    "gateway": "tokend serve --only gateway: GET /tokens against its own floor",
    "broker_miss": "Broker cache miss against the operator called directly",
    "paced": "Paced load: p99 at a fixed rate",
    "workers": "tokend serve --workers 2 against one worker",
    "oidc_scale": "OIDC on PostgreSQL as clients and revoked ids grow",
    "telco_lookup": "Telco directory as prefixes grow",
    "vault_refresh_sweep": "Vault refresh sweep as due connections grow",
    "guard_issuers": "Guard validation as trusted issuers grow",
    "jwks_keys": "JWKS as published keys grow",
}
COLORS = {"tokend": "#2f6fb0", "peer": "#d9822b", "reference": "#8c8c8c"}
WIDTH, LABEL_W, VALUE_W, BAR_H, GAP = 760, 300, 150, 18, 6


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    low: float
    median: float
    high: float
    kind: str  # tokend, peer or reference
    runs: int


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    bars: Sequence[Bar]


def draw(runs: Sequence[Run], folder: Path) -> list[Path]:
    """Write a chart per family of the latest run's rows into ``folder``; the files written.
    Charts of families no longer measured are removed, so the folder matches the log."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if runs:
        for family, panels in _families(runs).items():
            path = folder / f"{family}.svg"
            path.write_text(svg(TITLES.get(family, family), panels), encoding="utf-8")
            written.append(path)
    for stale in set(folder.glob("*.svg")) - set(written):
        stale.unlink()
    return sorted(written)


def _families(runs: Sequence[Run]) -> dict[str, list[Panel]]:
    latest = runs[-1].rows
    families: dict[str, list[str]] = {}
    for name, row in latest.items():
        if row.get("scenario") == "process" or str(row.get("family", "")).startswith("guard_val"):
            continue
        families.setdefault(str(row.get("family")), []).append(name)
    out: dict[str, list[Panel]] = {}
    for family, names in families.items():
        if "size" in latest[names[0]]:
            out[family] = _growth_panels(runs, names)
        else:
            out[family] = [_http_panel(runs, family, names)]
    return out


def _http_panel(runs: Sequence[Run], family: str, names: Sequence[str]) -> Panel:
    metric, unit = FAMILY_METRIC.get(family, ("rps", "requests/s"))
    latest = runs[-1].rows
    shown = list(names)
    if metric == "rps":  # the floor of the family's process first, as the reference
        scenario = SCENARIOS.get(names[0].split("@", 1)[0])
        floor = FLOORS[scenario.process] if scenario is not None else "floor"
        shown = [floor, *(n for n in names if n != floor)] if floor in latest else shown
    # A scenario repeated on another process (--workers) is drawn beside the original.
    beside: list[str] = []
    for name in shown:
        variant = _variant_of(name)
        if variant is not None and variant in latest:
            beside.append(variant)
        beside.append(name)
    shown = beside
    bars = [
        bar
        for name in shown
        if (bar := _bar(runs, name, metric, name, _kind(name, latest[name]))) is not None
    ]
    return Panel(unit, bars)


def _growth_panels(runs: Sequence[Run], names: Sequence[str]) -> list[Panel]:
    latest = runs[-1].rows
    by_scenario: dict[str, list[str]] = {}
    for name in names:
        by_scenario.setdefault(str(latest[name].get("scenario")), []).append(name)
    panels = []
    for scenario, group in by_scenario.items():
        first = latest[group[0]]
        metric = str(first.get("metric"))
        bars = [
            bar
            for name in sorted(group, key=lambda n: float(str(latest[n].get("size", 0))))
            if (bar := _bar(runs, name, metric, str(latest[name].get("size_label")), "tokend"))
        ]
        panels.append(Panel(f"{scenario}: {first.get('unit')}", bars))
    return panels


def _variant_of(name: str) -> str | None:
    scenario = SCENARIOS.get(name)
    return scenario.variant_of if scenario is not None else None


def _kind(name: str, row: Row) -> str:
    if "@" in name:
        return "peer"
    scenario = SCENARIOS.get(name)
    if name in ("floor", "gateway_floor") or (scenario is not None and scenario.process == "raw"):
        return "reference"
    return "tokend"


def _bar(runs: Sequence[Run], name: str, metric: str, label: str, kind: str) -> Bar | None:
    found = spread(values(runs, name, metric))
    if found is None:
        return None
    return Bar(label, found.low, found.median, found.high, kind, found.count)


def svg(title: str, panels: Sequence[Panel]) -> str:
    """A standalone SVG document: ``title``, then each panel's bars on its own scale."""
    parts: list[str] = []
    y = 28
    parts.append(_text(10, 18, title, size=15, weight="bold"))
    for panel in panels:
        y += 8
        parts.append(_text(10, y + 12, panel.title, size=12, weight="bold"))
        y += 20
        top = max((bar.high for bar in panel.bars), default=0.0) or 1.0
        scale = (WIDTH - LABEL_W - VALUE_W) / top
        for bar in panel.bars:
            parts.extend(_bar_svg(bar, y, scale))
            y += BAR_H + GAP
    kinds = {bar.kind for panel in panels for bar in panel.bars}
    legend = [
        (kind, label)
        for kind, label in (
            ("tokend", "tokend"),
            ("peer", "node-oidc-provider"),
            ("reference", "floor / raw ASGI app"),
        )
        if kind in kinds
    ]
    x = 10
    y += 6
    for kind, label in legend:
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLORS[kind]}"/>')
        parts.append(_text(x + 14, y + 9, label, size=11))
        x += 24 + 7 * len(label)
    height = y + 20
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">\n'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


def _bar_svg(bar: Bar, y: float, scale: float) -> list[str]:
    x0 = LABEL_W
    width = max(1.0, bar.median * scale)
    middle = y + BAR_H / 2
    low, high = x0 + bar.low * scale, x0 + bar.high * scale
    digits = 0 if bar.median >= 100 else 2 if bar.median >= 1 else 3
    value = f"{bar.median:,.{digits}f}"
    runs = f" ({bar.runs} runs)" if bar.runs > 1 else " (1 run)"
    out = [
        _text(LABEL_W - 6, middle + 4, bar.label, size=11, anchor="end"),
        f'<rect x="{x0}" y="{y}" width="{width:.1f}" height="{BAR_H}" fill="{COLORS[bar.kind]}"/>',
    ]
    if bar.runs > 1:
        out += [
            f'<line x1="{low:.1f}" y1="{middle}" x2="{high:.1f}" y2="{middle}" stroke="#222"/>',
            *(
                f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{y + BAR_H - 4}" stroke="#222"/>'
                for x in (low, high)
            ),
        ]
    out.append(_text(max(high, x0 + width) + 6, middle + 4, value + runs, size=11))
    return out


def _text(
    x: float, y: float, text: str, *, size: int, weight: str = "normal", anchor: str = "start"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )
