"""The access log's own renderer, the line buffer, and the log format chosen per environment."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
import structlog

from tokend.core.environment import Environment
from tokend.obs.logging import LINES, AccessLog, LineBuffer, configure_logging, log_format
from tokend.obs.settings import LogSettings


def test_the_json_access_line_has_the_keys_structlog_would_render(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(format="json"), Environment.PRODUCTION)
    AccessLog("json")("POST", '/a"b/{id}', 401, 1.25, "0123abcd")
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
    AccessLog("console")("GET", "/health", 200, 0.31, "req-1")
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


async def test_lines_written_on_the_loop_go_out_in_one_write_after_the_iteration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    monkeypatch.setattr("sys.stderr", Recorder())
    lines = LineBuffer()
    lines.write("one\n")
    lines.write("two\n")
    assert writes == []  # not yet: the loop has not come round
    await asyncio.sleep(0)
    assert writes == ["one\ntwo\n"]


def test_lines_written_off_the_loop_go_out_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    LineBuffer().write("now\n")
    assert out.getvalue() == "now\n"
