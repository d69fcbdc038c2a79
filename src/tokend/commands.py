"""What a capability's command-line commands get, below both ``tokend.cli`` and the capabilities.

The root command (``tokend.cli``) builds the settings once and leaves a :class:`CommandContext`
in click's shared ``meta``: a capability's command reads its own settings block and the site
from it, and opens the resources a command needs (database, cache, cipher, hasher, clock) with
:meth:`CommandContext.open` — never the settings root, which sits above the capabilities.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TextIO, TypeVar

import typer
from pydantic import BaseModel

from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.progress import Progress
from tokend.site import Site
from tokend.store.engine import Database

B = TypeVar("B", bound=BaseModel)

#: Exit status of a command refused for its configuration or arguments.
EXIT_CONFIG: Final = 2
#: Exit status of a command that could not do its work.
EXIT_FAILED: Final = 1

_META_KEY: Final = "tokend.command_context"


@dataclass(frozen=True, slots=True)
class CommandResources:
    """What a command opens for as long as it runs."""

    database: Database
    cache: TieredCache
    cipher: FieldCipher
    hasher: SecretHasher
    clock: Clock


@dataclass(frozen=True, slots=True)
class CommandContext:
    site: Site
    #: Each capability's settings block, by capability name.
    blocks: Mapping[str, BaseModel]
    opener: Callable[[], AbstractAsyncContextManager[CommandResources]]

    def block(self, name: str, kind: type[B]) -> B:
        """Capability ``name``'s settings block."""
        block = self.blocks[name]
        if not isinstance(block, kind):
            raise TypeError(f"the {name} block is a {type(block).__name__}, not {kind.__name__}")
        return block

    @asynccontextmanager
    async def open(self) -> AsyncIterator[CommandResources]:
        """The database, cache, cipher, hasher and clock, closed when the command ends."""
        async with self.opener() as resources:
            yield resources


def install(ctx: typer.Context, make: Callable[[], CommandContext]) -> None:
    """Leave ``make`` where :func:`command_context` finds it (the root command does this); it
    runs when a command asks, so a command that needs no secret key never derives one."""
    ctx.meta[_META_KEY] = make


def command_context(ctx: typer.Context) -> CommandContext:
    """The context the root command installed; exit 2 when there is none or it is invalid.

    A capability's command group run on its own (a test's ``CliRunner.invoke(app, obj=...)``)
    finds its context as the root object instead."""
    root = ctx.find_root().obj
    if isinstance(root, CommandContext):
        return root
    make = ctx.meta.get(_META_KEY)
    if make is None:
        raise fail("settings were not loaded")
    try:
        context = make()
    except ValueError as exc:  # e.g. no secret key in production
        raise fail(str(exc)) from None
    if not isinstance(context, CommandContext):
        raise fail("settings were not loaded")
    return context


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    typer.secho(f"tokend: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@dataclass
class Counted:
    """What a :func:`progress_bar` saw: for the summary line a command prints at the end."""

    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


class _Bar:
    """A :class:`~tokend.core.progress.Progress` that counts, and draws click's progress bar
    on ``stream`` when it is a terminal (nothing at all when it is a pipe or a file)."""

    def __init__(self, label: str, stream: TextIO, counted: Counted) -> None:
        self._label = label
        self._stream = stream
        self._bar: Any = None  # click's ProgressBar, generic in a type it never uses here
        self.counted = counted

    def start(self, total: int) -> None:
        self.counted.total += total
        if total and self._bar is None and self._stream.isatty():
            self._bar = typer.progressbar(length=total, label=self._label, file=self._stream)
            self._bar.__enter__()

    def advance(self, steps: int = 1) -> None:
        self.counted.done += steps
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextmanager
def progress_bar(label: str, stream: TextIO | None = None) -> Iterator[tuple[Progress, Counted]]:
    """A progress bar on stderr for long work, quiet when stderr is not a terminal; and the
    counts, for the one-line summary the command prints on stdout when it is done."""
    counted = Counted()
    bar = _Bar(label, stream or sys.stderr, counted)
    try:
        yield bar, counted
    finally:
        bar.close()
