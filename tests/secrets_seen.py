"""Proof that no secret reaches a log: every log record of the test run is written to a file,
every secret a test handles is registered, and the session fails if one shows up in the file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import ClassVar

import pytest

from tokend.obs.logging import log_formatter

# Shapes that are secret whatever the test registered: compact JWS/JWT, PEM private keys, and
# TOTP enrolment URIs (they carry the seed). Tests register each TOTP seed and recovery code
# they see (tests/api/oidc/accounts_helpers.py, the e2e account tests) as values.
SECRET_SHAPES = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"otpauth://[^\s\"']*secret=", re.IGNORECASE),
)


class SecretsSeen:
    _instance: ClassVar[SecretsSeen | None] = None

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.log_files: list[Path] = []
        #: What the pytest-xdist workers found, reported to the controller as they finish.
        self.worker_leaks: list[str] = []

    @classmethod
    def instance(cls) -> SecretsSeen:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def add(self, value: str) -> str:
        if len(value) >= 8:  # shorter strings would match by chance
            self.values.add(value)
        return value

    def add_log_file(self, path: Path) -> None:
        self.log_files.append(path)

    def leaks(self) -> list[str]:
        found: list[str] = []
        for path in self.log_files:
            if not path.exists():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.name}: registered secret {v[:4]}…" for v in self.values if v in text]
            found += [f"{path.name}: {p.pattern[:24]}…" for p in SECRET_SHAPES if p.search(text)]
        return found


def install_log_capture(config: pytest.Config) -> None:
    """Send every log record of this process, at every level, to a file the session checks."""
    # One file per pytest-xdist worker (gw0, gw1, ...): each empties its own when it starts.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = f"pytest-{worker}.log" if worker else "pytest.log"
    path = Path(config.rootpath) / "var" / "test-logs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    # The production formatter: the file holds exactly what tokend would print.
    handler.setFormatter(log_formatter("json"))
    handler.set_name("tokend-test-capture")
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    for noisy in ("aiosqlite", "asyncio", "httpcore", "hpack", "hypothesis", "filelock"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    SecretsSeen.instance().add_log_file(path)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "tokend-test-capture":
            handler.flush()
    seen = SecretsSeen.instance()
    leaks = seen.leaks() + seen.worker_leaks
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports and fails the run
        workeroutput["secret_leaks"] = leaks
        return
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  {leak}" for leak in leaks)
        if reporter is not None:
            reporter.write_line(f"SECRETS FOUND IN LOGS:\n{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist, on the controller: a worker finished; keep the leaks it found."""
    output: dict[str, object] = getattr(node, "workeroutput", {})
    leaks = output.get("secret_leaks", [])
    assert isinstance(leaks, list)
    SecretsSeen.instance().worker_leaks.extend(str(leak) for leak in leaks)
