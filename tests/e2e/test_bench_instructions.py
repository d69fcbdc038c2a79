"""``python -m bench.instructions --callgrind``: instructions per request, counted by valgrind
(which ``.ci/components`` installs) over the measured requests only."""

from __future__ import annotations

import pytest
from bench import instructions

pytestmark = pytest.mark.e2e


def test_callgrind_counts_the_instructions_of_the_measured_requests() -> None:
    counted = instructions.instructions("health", 20)
    # /health is about 120k instructions here; start-up (billions) must not be counted.
    assert 10_000 < counted < 2_000_000
