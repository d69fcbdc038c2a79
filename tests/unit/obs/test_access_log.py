"""The access log's own renderer, the line buffer, and the log format chosen per environment."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
import structlog

from tokend.core.environment import Environment
from tokend.obs.logging import (
    LATER_BYTES,
    LINES,
    AccessLog,
    LineBuffer,
    configure_logging,
    log_format,
)
from tokend.obs.settings import LogSettings


def test_the_json_access_line_has_the_keys_structlog_would_render(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(format="json"), Environment.PRODUCTION)
    AccessLog("json")("POST", '/a"b/{id}', 401, 0.00125, "0123abcd")
    structlog.get_logger("tokend.http").info(
        "http.request", method="POST", route='/a"b/{id}', status=401, duration_ms=1.25
    )
    LINES.flush()
    ours, theirs = (json.loads(line) for line in capfd.readouterr().err.splitlines()[-2:])
    keys = ["method", "route", "status", "duration_ms", "event", "level", "logger", "timestamp"]
    assert list(theirs) == keys
    assert list(ours) == [*keys[:5], "request_id", *keys[5:]]
    assert ours == {**theirs, "request_id": "0123abcd", "timestamp": ours["timestamp"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(ours["timestamp"]))


def test_the_console_access_line_is_for_people(capfd: pytest.CaptureFixture[str]) -> None:
    AccessLog("console")("GET", "/health", 200, 0.00031, "req-1")
    LINES.flush()
    line = capfd.readouterr().err.splitlines()[-1]
    assert "http.request" in line
    assert "[tokend.http] GET /health 200 0.31 ms" in line
    assert "request_id=req-1" in line
    assert not line.startswith("{")


def test_off_or_below_the_level_there_is_no_access_log() -> None:
    assert AccessLog.for_settings(LogSettings(access_log=False), Environment.DEMO) is None
    assert AccessLog.for_settings(LogSettings(level="warning"), Environment.DEMO) is None
    assert AccessLog.for_settings(LogSettings(), Environment.DEMO) is not None


def test_demo_logs_for_people_production_in_json_and_the_setting_wins() -> None:
    assert log_format(None, Environment.DEMO) == "console"
    assert log_format(None, Environment.PRODUCTION) == "json"
    assert log_format("json", Environment.DEMO) == "json"
    assert log_format("console", Environment.PRODUCTION) == "console"


class _Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def _stderr(monkeypatch: pytest.MonkeyPatch) -> _Writes:
    """Standard error, as the line buffer finds it, keeping each write apart (set in the test
    itself: pytest's capture puts its own back between a fixture's set-up and the test)."""
    out = _Writes()
    monkeypatch.setattr("sys.stderr", out)
    return out


async def test_lines_written_on_the_loop_go_out_in_one_write_after_the_iteration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer()
    lines.write("one\n")
    lines.write("two\n")
    assert out.writes == []  # not yet: the loop has not come round
    await asyncio.sleep(0)
    assert out.writes == ["one\ntwo\n"]


def test_lines_written_off_the_loop_go_out_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _stderr(monkeypatch)
    LineBuffer().write("now\n")
    assert out.writes == ["now\n"]


async def test_routine_lines_wait_for_the_hold_and_go_out_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer(hold_s=0.05)
    lines.write_later(str, "one\n")
    await asyncio.sleep(0)
    lines.write_later(str, "two\n")
    await asyncio.sleep(0)
    assert out.writes == []  # the loop came round twice: still held
    await asyncio.sleep(0.06)
    assert out.writes == ["one\ntwo\n"]


async def test_another_line_takes_the_held_ones_out_first_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer(hold_s=60)
    lines.write_later(str, "GET /a 200\n")
    lines.write("a warning\n")
    await asyncio.sleep(0)
    assert out.writes == ["GET /a 200\na warning\n"]


def test_routine_lines_off_the_loop_go_out_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _stderr(monkeypatch)
    LineBuffer(hold_s=60).write_later(str, "now\n")
    assert out.writes == ["now\n"]


async def test_a_server_error_line_is_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _stderr(monkeypatch)
    LINES.flush()
    out.writes.clear()
    log = AccessLog("json")
    log("GET", "/ok", 200, 0.001, "a")
    log("GET", "/crash", 500, 0.001, "b")
    await asyncio.sleep(0)
    written = "".join(out.writes).splitlines()
    assert [json.loads(line)["status"] for line in written] == [200, 500]


def test_lines_of_one_route_share_their_head_but_not_their_values(
    capfd: pytest.CaptureFixture[str],
) -> None:
    log = AccessLog("json")
    log("GET", "/health", 200, 0.0004, "first")
    log("GET", "/health", 200, 0.0123, "second")
    log("GET", "/health", 503, 0.0001, "third")
    LINES.flush()
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()[-3:]]
    assert [(line["status"], line["duration_ms"], line["request_id"]) for line in lines] == [
        (200, 0.4, "first"),
        (200, 12.3, "second"),
        (503, 0.1, "third"),
    ]


async def test_an_access_line_is_rendered_when_written_with_the_time_it_was_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    LINES.flush()
    out.writes.clear()
    log = AccessLog("json")
    answered = 1_800_000_000_123_456_789
    monkeypatch.setattr("tokend.obs.logging.time.time_ns", lambda: answered)
    rendered: list[tuple[str, str, int, float, str, int]] = []
    render = log.render

    def counted(line: tuple[str, str, int, float, str, int]) -> str:
        rendered.append(line)
        return render(line)

    monkeypatch.setattr(log, "render", counted)
    log("GET", "/health", 200, 0.0004, "held")
    assert rendered == []  # the request only recorded it
    monkeypatch.setattr("tokend.obs.logging.time.time_ns", lambda: answered + 10**9)
    LINES.write("a warning\n")  # takes the held line out first
    await asyncio.sleep(0)
    first, second = "".join(out.writes).splitlines()
    assert json.loads(first)["timestamp"] == "2027-01-15T08:00:00.123456Z"
    assert json.loads(first)["request_id"] == "held"
    assert second == "a warning"
    assert len(rendered) == 1


async def test_held_records_count_towards_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer(hold_s=60, hold_bytes=2 * LATER_BYTES)
    lines.write_later(str.upper, "one\n")
    await asyncio.sleep(0)
    assert out.writes == []
    lines.write_later(str.upper, "two\n")
    await asyncio.sleep(0)
    assert out.writes == ["ONE\nTWO\n"]


async def test_a_routine_line_joins_the_held_flush_without_looking_the_loop_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11 asks the kernel for the process id on every running-loop lookup."""
    out = _stderr(monkeypatch)
    lookups: list[object] = []
    lookup = asyncio._get_running_loop

    def counted() -> asyncio.AbstractEventLoop | None:
        loop = lookup()
        lookups.append(loop)
        return loop

    monkeypatch.setattr("tokend.obs.logging.asyncio._get_running_loop", counted)
    lines = LineBuffer(hold_s=0.05)
    for n in range(50):
        lines.write_later(str, f"{n}\n")
    assert lookups == [asyncio.get_running_loop()]  # the first line arms the hold
    await asyncio.sleep(0.06)
    assert out.writes == ["".join(f"{n}\n" for n in range(50))]
    lines.write_later(str, "next\n")  # the hold has passed: the next line arms another
    assert len(lookups) == 2
    await asyncio.sleep(0.06)
    assert out.writes[-1] == "next\n"


async def test_a_line_from_another_thread_goes_out_at_once_after_the_held_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer(hold_s=60)
    lines.write_later(str, "held\n")
    await asyncio.to_thread(lines.write_later, str, "from a worker\n")
    assert out.writes == ["held\nfrom a worker\n"]


def test_held_lines_of_a_loop_that_ended_go_out_with_the_next_loops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _stderr(monkeypatch)
    lines = LineBuffer(hold_s=0.01)

    async def first() -> None:
        lines.write_later(str, "one\n")  # its loop ends before the hold does

    async def second() -> None:
        lines.write_later(str, "two\n")
        await asyncio.sleep(0.03)

    asyncio.run(first())
    assert out.writes == []
    asyncio.run(second())
    assert out.writes == ["one\ntwo\n"]
