"""Progress of long work as the work reports it: a total, then steps.

The work (re-encrypting every stored secret, say) takes a :class:`Progress` and knows nothing of
terminals; the command line gives it a bar on a terminal (``tokend.commands.progress_bar``),
a test or a server gives it :data:`NO_PROGRESS`.
"""

from __future__ import annotations

from typing import Final, Protocol


class Progress(Protocol):
    def start(self, total: int) -> None:
        """``total`` steps are coming."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more are done."""


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


NO_PROGRESS: Final[Progress] = _NoProgress()
