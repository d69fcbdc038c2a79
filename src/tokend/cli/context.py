"""How commands get their Settings: built once in the root callback, kept on the Typer context;
capabilities' commands get a :class:`~tokend.commands.CommandContext` made from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from tokend.cache.tiered import open_cache
from tokend.commands import EXIT_CONFIG, CommandContext, CommandResources, fail
from tokend.config import MODULE_NAMES, Settings
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.obs.metrics import new_registry
from tokend.store.engine import open_database

__all__ = ["EXIT_CONFIG", "build_settings", "command_context_of", "fail", "settings_of"]


def command_context_of(settings: Settings) -> CommandContext:
    """What a capability's command may see of ``settings``: its block, the site, resources."""

    @asynccontextmanager
    async def opener() -> AsyncIterator[CommandResources]:
        secrets = settings.secret_keys()
        previous = list(secrets.previous)
        clock = SystemClock()
        database = open_database(settings.database)
        cache = open_cache(settings.redis, settings.cache, new_registry(), clock)
        try:
            yield CommandResources(
                database=database,
                cache=cache,
                cipher=FieldCipher.from_secrets(secrets.current, previous),
                hasher=SecretHasher.from_secrets(secrets.current, previous),
                clock=clock,
            )
        finally:
            await cache.close()
            await database.close()

    blocks = {name: getattr(settings, name) for name in MODULE_NAMES}
    return CommandContext(settings.site(), blocks, opener)


def build_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Settings from flags, environment and config file; exit 2 with one line per problem."""
    init: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if config_file is not None:
        init["config_file"] = config_file
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            typer.secho(f"tokend: invalid setting {where}: {err['msg']}", err=True, fg="red")
        raise typer.Exit(EXIT_CONFIG) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    return settings


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise fail("settings were not loaded")
    return settings


def require_production_ready(settings: Settings) -> None:
    problems = settings.production_problems()
    for problem in problems:
        typer.secho(f"tokend: {problem}", err=True, fg=typer.colors.RED)
    if problems:
        raise typer.Exit(EXIT_CONFIG)
