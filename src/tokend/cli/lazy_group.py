"""Sub-command groups imported when they are run, not when ``tokend`` starts.

``tokend serve --only gateway`` should not import the OIDC provider's client registration or the
vault's re-encryption to parse its command line. This is click's documented lazy-loading group
(``get_command`` imports on demand, ``list_commands`` names every command without importing),
for Typer sub-apps: each is named ``"module:attribute"`` and converted the way ``add_typer``
would. ``tokend --help`` still lists (and so imports) them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import ClassVar

import typer

# Typer (0.2x) runs on its own copy of click: a TyperGroup's methods take that copy's types.
from typer import _click as click
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo


class LazyTyperGroup(TyperGroup):
    """A Typer group whose sub-apps in :attr:`lazy_subcommands` load on first use.

    Subclass it with the mapping and pass the subclass as ``typer.Typer(cls=...)``.
    """

    #: Command name -> ``"package.module:attribute"`` of a :class:`typer.Typer`, in help order.
    lazy_subcommands: ClassVar[Mapping[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + [name for name in self.lazy_subcommands if name not in eager]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_subcommands:
            return command
        command = self._load(cmd_name)
        self.commands[cmd_name] = command  # converted once
        return command

    def _load(self, cmd_name: str) -> click.Command:
        module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
        sub_app = getattr(import_module(module_name), attribute)
        if not isinstance(sub_app, typer.Typer):
            raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a typer.Typer")
        return get_group_from_info(
            TyperInfo(sub_app, name=cmd_name),
            # As ``add_typer`` does: the parent's help rendering, the sub-app's tracebacks.
            pretty_exceptions_short=sub_app.pretty_exceptions_short,
            rich_markup_mode=self.rich_markup_mode,
            suggest_commands=self.suggest_commands,
        )
