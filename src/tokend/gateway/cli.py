"""``tokend gateway consumers``: standalone consumers (create, list, revoke).

``create`` prints the API key once; only its hash is stored. ``revoke`` also drops the cached
credential from Redis (when configured), so every replica stops accepting the key within the
memory tier's few seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer

from tokend.cache import open_cache
from tokend.config import Settings
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import TokendError
from tokend.gateway.consumers import Consumers
from tokend.gateway.credentials import credential_cache_key
from tokend.gateway.sources.local import LocalSource
from tokend.gateway.sql import SqlConsumers
from tokend.gateway.stores import ConsumerRecord
from tokend.obs.metrics import new_registry
from tokend.store.engine import open_database

app = typer.Typer(help="The API-key → JWT gateway.", no_args_is_help=True)
consumers_app = typer.Typer(
    help="Standalone consumers and their API keys (gateway.source=local).", no_args_is_help=True
)
app.add_typer(consumers_app, name="consumers")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings the root command built (not imported from ``tokend.cli``: it imports us)."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise fail("settings were not loaded", code=2)
    return settings


def fail(message: str, *, code: int) -> typer.Exit:
    typer.secho(f"tokend: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@asynccontextmanager
async def _consumers(settings: Settings) -> AsyncIterator[Consumers]:
    secrets = [key.get_secret_value() for key in settings.previous_secret_keys]
    current = settings.effective_secret_key()
    database = open_database(settings.database)
    clock = SystemClock()
    cache = open_cache(settings.redis, settings.cache, new_registry(), clock)

    async def forget(api_key_hash: str) -> None:
        await cache.delete(credential_cache_key(LocalSource.name, api_key_hash))

    try:
        store = SqlConsumers(database, FieldCipher.from_secrets(current, secrets), clock)
        yield Consumers(store, SecretHasher.from_secrets(current, secrets), forget)
    finally:
        await cache.close()
        await database.close()


def _row(record: ConsumerRecord) -> dict[str, object]:
    return {
        "consumer_id": record.consumer_id,
        "username": record.username,
        "key": record.key,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@consumers_app.command("create")
def create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The consumer's name (the token's sub).")],
    as_json: JsonOption = False,
) -> None:
    """Create a consumer and print its API key (shown only this once)."""

    async def run() -> dict[str, str]:
        async with _consumers(settings_of(ctx)) as consumers:
            created = await consumers.create(username)
        return {
            "consumer_id": created.record.consumer_id,
            "username": created.record.username,
            "api_key": created.api_key,
        }

    try:
        result = asyncio.run(run())
    except TokendError as exc:
        raise fail(exc.description, code=1) from None
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"consumer {result['username']} ({result['consumer_id']})")
    typer.echo(f"api key  {result['api_key']}   (shown once: store it now)")


@consumers_app.command("list")
def list_consumers(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List standalone consumers (never their keys or secrets)."""

    async def run() -> list[ConsumerRecord]:
        async with _consumers(settings_of(ctx)) as consumers:
            return await consumers.list_all()

    records = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([_row(r) for r in records]))
        return
    for record in records:
        state = " [revoked]" if record.is_revoked else ""
        typer.echo(f"{record.consumer_id}  {record.username}{state}")


@consumers_app.command("revoke")
def revoke(
    ctx: typer.Context,
    consumer_id: Annotated[str, typer.Argument(help="The consumer id printed by create.")],
) -> None:
    """Revoke a consumer: its API key stops working."""

    async def run() -> ConsumerRecord:
        async with _consumers(settings_of(ctx)) as consumers:
            return await consumers.revoke(consumer_id)

    try:
        record = asyncio.run(run())
    except TokendError as exc:
        raise fail(exc.description, code=1) from None
    typer.echo(f"revoked {record.username} ({record.consumer_id})")
