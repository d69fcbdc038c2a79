"""The code and commands of the recipes in docs/, for the tests that follow them: a recipe is
tested as written, so it cannot drift from what tokend does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
RECIPES = DOCS / "recipes"

#: A fenced block, also one indented inside a list item.
_FENCE = re.compile(
    r"^[ \t]*```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^[ \t]*```", re.MULTILINE | re.DOTALL
)


def code_blocks(path: Path, lang: str) -> list[str]:
    """The bodies of the fenced blocks of ``path`` in language ``lang``, in order."""
    return [m["body"] for m in _FENCE.finditer(path.read_text()) if m["lang"] == lang]


def shell_commands(path: Path, program: str) -> list[list[str]]:
    """Each ``program …`` command line of the sh/bash/console blocks of ``path``, split as the
    shell would (continuation lines joined, comments dropped, ``$`` prompts removed)."""
    commands: list[list[str]] = []
    for lang in ("sh", "bash", "console", "shell"):
        for block in code_blocks(path, lang):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line.removeprefix("$ "), comments=True)
                if words and words[0] == program:
                    commands.append(words[1:])
    return commands
