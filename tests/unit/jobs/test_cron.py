"""Periodic jobs become SAQ cron jobs: every_s -> a cron expression that fires that often."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from croniter import croniter

from tokend.jobs.cron import cron_schedule


@pytest.mark.parametrize(
    ("every_s", "expression"),
    [
        (1, "* * * * * *"),
        (5, "* * * * * */5"),
        (30, "* * * * * */30"),
        (60, "* * * * *"),
        (300, "*/5 * * * *"),
        (900, "*/15 * * * *"),
        (3600, "0 * * * *"),
        (6 * 3600, "0 */6 * * *"),
        (86400, "0 0 * * *"),
    ],
)
def test_an_interval_that_divides_its_unit_becomes_an_exact_cron(
    every_s: float, expression: str
) -> None:
    schedule = cron_schedule(every_s)
    assert (schedule.expression, schedule.every_s) == (expression, every_s)


@pytest.mark.parametrize(
    ("every_s", "rounded_s"),
    [
        (7, 6),  # */7 s would fire at :56 and again at :00
        (45, 30),
        (90, 60),
        (25 * 60, 20 * 60),
        (5 * 3600, 4 * 3600),
        (3 * 86400, 86400),
    ],
)
def test_any_other_interval_rounds_down_so_the_job_runs_at_least_as_often(
    every_s: float, rounded_s: int
) -> None:
    assert cron_schedule(every_s).every_s == rounded_s


def test_below_one_second_rounds_up_to_one_second() -> None:
    assert cron_schedule(0.05).every_s == 1


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        cron_schedule(0)


@pytest.mark.parametrize("every_s", [1, 2, 7, 45, 60, 150, 3600, 5 * 3600, 86400])
def test_the_expression_fires_at_its_stated_interval(every_s: float) -> None:
    schedule = cron_schedule(every_s)
    start = datetime(2024, 3, 1, 22, 59, 13, tzinfo=UTC)
    fires = croniter(schedule.expression, start)
    times = [fires.get_next(datetime) for _ in range(30)]
    gaps = {(later - earlier).total_seconds() for earlier, later in pairwise(times)}
    assert gaps == {schedule.every_s}
