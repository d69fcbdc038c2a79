""".ci/components on a machine where it can install nothing: one line per missing tool, and
``make test`` stops there (exit 1) instead of running a suite that would fail test by test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What the script itself runs; every tool the suite drives is left out of PATH.
SHELL_TOOLS = (
    "bash", "id", "seq", "sleep", "sed", "cat", "timeout", "ls", "sort", "tail", "mkdir", "env",
    "dirname",
)  # fmt: skip


def test_without_root_or_tools_it_names_each_missing_tool_and_fails() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # not under pytest's tmp: nobody must enter it
        bin_dir = Path(tmp)
        bin_dir.chmod(0o755)
        for tool in SHELL_TOOLS:
            found = shutil.which(tool)
            assert found is not None, tool
            (bin_dir / tool).symlink_to(found)
        done = _run_components(bin_dir)
    assert done.returncode == 1
    assert done.stdout == ""
    header, *lines = done.stderr.splitlines()
    assert header == "tokend's tests need what this machine does not have (nothing was run):"
    named = [line.strip().split(":", 1)[0] for line in lines]
    expected = [
        "PostgreSQL",
        "Redis",
        "wrk",
        "node",
        "promtool",
        "prometheus",
        "valgrind",
        "kubectl",
    ]
    if not Path("/usr/bin/chromium").exists():
        expected.insert(4, "chromium")
    assert named == expected
    assert "apt-get install postgresql" in lines[0]


def _run_components(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    command = ["env", "-i", f"PATH={bin_dir}", "bash", str(REPO / ".ci" / "components")]
    if os.geteuid() == 0:  # as a user who may not install anything
        command = ["runuser", "-u", "nobody", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
