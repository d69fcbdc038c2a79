"""``python -m bench.servers``: uvicorn and granian serving at once, a scenario alternated
between them, with each server process's CPU time per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import servers

pytestmark = pytest.mark.e2e


def test_both_servers_answer_the_alternated_runs_and_their_cpu_is_read(tmp_path: Path) -> None:
    out = tmp_path / "servers.json"
    servers.main(["--scenarios", "floor", "--duration", "1", "--rounds", "1", "--out", str(out)])
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["settings"] == {"duration_s": 1.0, "rounds": 1, "connections": 32}
    assert document["git_sha"]
    figures = {f["server"]: f for f in document["figures"]}
    assert set(figures) == {"uvicorn", "granian"}
    for figure in figures.values():
        assert figure["scenario"] == "floor"
        assert figure["rps"] > 0
        # A /health costs tens of microseconds of CPU; neither zero nor milliseconds.
        assert 1 < figure["cpu_us"] < 5_000
