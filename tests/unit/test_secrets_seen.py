"""The secret-in-logs check holds when the tests run in several processes (make test-quick)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
from tests.secrets_seen import install_log_capture, pytest_sessionfinish, pytest_testnodedown

def pytest_configure(config):
    install_log_capture(config)
"""

LEAKY_TEST = """
import logging
from tests.secrets_seen import SecretsSeen

def test_quiet():
    pass

def test_logs_a_secret():
    secret = SecretsSeen.instance().add("s3cr3t-value-42")
    logging.getLogger("tokend.test").warning("the key is %s", secret)
"""


def test_a_secret_logged_by_a_worker_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_leak.py").write_text(LEAKY_TEST, encoding="utf-8")
    # Only xdist among the installed plugins: each of the run's three processes would otherwise
    # load them all (schemathesis, hypothesis, anyio: 3.5 s of CPU each, against 1 s).
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)  # this run may itself be a worker's
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "xdist", "-n", "2",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "2 passed" in done.stdout, done.stdout[-2000:]
    assert "SECRETS FOUND IN LOGS" in done.stdout
    assert "registered secret s3cr" in done.stdout
    assert done.returncode == pytest.ExitCode.TESTS_FAILED


def test_a_totp_enrolment_uri_in_a_log_is_a_leak_unregistered(tmp_path: Path) -> None:
    from tests.secrets_seen import SecretsSeen

    seen = SecretsSeen()
    log = tmp_path / "serve.log"
    log.write_text(
        '{"event": "x", "uri": "otpauth://totp/host:a%40b?secret=JBSWY3DPEHPK3PXP&issuer=host"}\n',
        encoding="utf-8",
    )
    seen.add_log_file(log)
    assert any("otpauth" in leak for leak in seen.leaks())
    log.write_text('{"event": "account.factor_enrolled", "user_id": "u_1"}\n', encoding="utf-8")
    assert seen.leaks() == []
