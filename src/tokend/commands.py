"""What a capability's command-line commands get, below both ``tokend.cli`` and the capabilities.

The root command (``tokend.cli``) builds the settings once and leaves a :class:`CommandContext`
in click's shared ``meta``: a capability's command reads its own settings block and the site
from it, and opens the resources a command needs (database, cache, cipher, hasher, clock) with
:meth:`CommandContext.open` — never the settings root, which sits above the capabilities.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final, TypeVar

import typer
from pydantic import BaseModel

from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher
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
