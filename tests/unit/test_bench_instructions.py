"""``python -m bench.instructions``: each scenario is driven through the production app and
answers 200 (under callgrind: tests/e2e/test_bench_instructions.py)."""

from __future__ import annotations

import os

import pytest
from bench import instructions


@pytest.mark.parametrize("scenario", instructions.SCENARIOS)
def test_each_scenario_runs_in_process_and_prints_its_cpu_time(
    scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dict(os.environ)
    instructions.main([scenario, "--requests", "20"])
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed.startswith(f"{scenario}: ")
    assert float(printed.split()[1]) > 0
    assert dict(os.environ) == before  # the app's settings did not leak into this process
