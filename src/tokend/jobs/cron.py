"""Turn a job's ``every_s`` into a cron expression, for queues that schedule by cron (SAQ)."""

from __future__ import annotations

from dataclasses import dataclass

# Steps that divide their unit evenly, so ``*/step`` fires at a constant interval. A step that
# does not divide it (``*/7`` minutes) would fire at :56 and again at :00, four minutes apart.
_DIVISORS_OF_60 = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
_DIVISORS_OF_24 = (1, 2, 3, 4, 6, 8, 12)
_MINUTE_S = 60
_HOUR_S = 3600
_DAY_S = 86400


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expression: str
    #: The interval the expression really fires at; differs from the asked one when rounded.
    every_s: int


def _schedules() -> tuple[CronSchedule, ...]:
    # croniter reads a sixth field as seconds, which SAQ passes through unchanged.
    seconds = [
        CronSchedule(f"* * * * * */{s}" if s > 1 else "* * * * * *", s) for s in _DIVISORS_OF_60
    ]
    minutes = [
        CronSchedule(f"*/{m} * * * *" if m > 1 else "* * * * *", m * _MINUTE_S)
        for m in _DIVISORS_OF_60
    ]
    hours = [
        CronSchedule(f"0 */{h} * * *" if h > 1 else "0 * * * *", h * _HOUR_S)
        for h in _DIVISORS_OF_24
    ]
    return (*seconds, *minutes, *hours, CronSchedule("0 0 * * *", _DAY_S))


_SCHEDULES = _schedules()


def cron_schedule(every_s: float) -> CronSchedule:
    """The cron schedule for ``every_s``, rounded down to the nearest clean interval.

    Clean intervals divide a minute (1..30 s), an hour (1..30 min) or a day (1..12 h), plus
    once a day. Rounding goes down so a job runs at least as often as asked (a refresher must
    not fall behind); below one second it goes up to one second, SAQ's scheduling resolution,
    and above a day it runs daily.
    """
    if every_s <= 0:
        raise ValueError("every_s must be positive")
    fitting = [s for s in _SCHEDULES if s.every_s <= every_s]
    return fitting[-1] if fitting else _SCHEDULES[0]
