"""``python -m bench.servers``: its medians and its table (the run itself, with both servers
serving: tests/e2e/test_bench_servers.py)."""

from __future__ import annotations

import pytest
from bench import servers
from bench.servers import Figure, Run


def test_each_figure_is_the_median_of_its_own_runs() -> None:
    runs = [Run(100.0, 9.0, 300.0), Run(300.0, 1.0, 100.0), Run(200.0, 5.0, 200.0)]
    assert servers.figure("floor", "granian", runs) == Figure(
        "floor", "granian", 200.0, 5.0, 200.0, 3
    )


def test_a_bare_app_has_no_cpu_figure() -> None:
    runs = [Run(100.0, 2.0, None), Run(120.0, 1.0, None)]
    assert servers.figure("raw_asgi_ping", "uvicorn", runs).cpu_us is None


def test_the_table_has_a_line_a_scenario_with_both_servers_and_their_ratio() -> None:
    figures = [
        Figure("floor", "uvicorn", 20_000.0, 3.5, 45.0, 3),
        Figure("floor", "granian", 25_000.0, 3.0, 52.0, 3),
        Figure("raw_asgi_ping", "uvicorn", 30_000.0, 2.0, None, 3),
        Figure("raw_asgi_ping", "granian", 45_000.0, 1.5, None, 3),
    ]
    header, floor, raw = servers.table(figures).splitlines()
    assert "CPU µs/req" in header
    assert floor.split() == ["floor", "20000", "25000", "1.25", "3.5/3.0", "45/52"]
    assert raw.split() == ["raw_asgi_ping", "30000", "45000", "1.50", "2.0/1.5", "-"]


def test_an_unknown_scenario_is_refused_before_any_server_starts() -> None:
    with pytest.raises(SystemExit, match="unknown scenarios: nope"):
        servers.compare(["floor", "nope"], 1, 1, 4)
