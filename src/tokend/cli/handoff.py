"""How ``tokend serve`` hands its Settings to its worker processes: a file only it can read.

Worker processes (uvicorn's ``--workers N``, every granian worker) import the app afresh and
rebuild the Settings the parent built, flags included. They used to get them, secrets and all,
in an environment variable: visible to whatever can read a process's environment (``/proc``,
crash reporters, every child process) and to anything that expands ``${…}`` from it. Now the
environment names only a file, created 0600 in a fresh 0700 directory and deleted, with the
directory, when the server stops. A worker the server restarts reads it again, so it lasts as
long as the server; a server killed with SIGKILL leaves it in the temporary directory, readable
by its user only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tokend.config import HANDOFF_FILE_VARIABLE, Settings, dump_handoff


@contextmanager
def handed_off(settings: Settings) -> Iterator[Path]:
    """``settings`` written for this server's workers, named in the environment they inherit."""
    directory = Path(tempfile.mkdtemp(prefix="tokend-"))  # mode 0700
    path = directory / "settings.json"
    try:
        # O_EXCL: a file someone else planted is never written to; 0600 from the start.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(dump_handoff(settings))
        os.environ[HANDOFF_FILE_VARIABLE] = str(path)
        yield path
    finally:
        os.environ.pop(HANDOFF_FILE_VARIABLE, None)
        path.unlink(missing_ok=True)
        directory.rmdir()
