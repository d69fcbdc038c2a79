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

from tokend.commands import EXIT_FAILED, CommandContext, command_context, fail
from tokend.core.errors import TokendError
from tokend.gateway.consumers import Consumers
from tokend.gateway.credentials import credential_cache_key
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.sources.local import LocalSource
from tokend.gateway.sql import SqlConsumers

app = typer.Typer(help="The API-key → JWT gateway.", no_args_is_help=True)
consumers_app = typer.Typer(
    help="Standalone consumers and their API keys (gateway.source=local).", no_args_is_help=True
)
app.add_typer(consumers_app, name="consumers")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@asynccontextmanager
async def _consumers(context: CommandContext) -> AsyncIterator[Consumers]:
    async with context.open() as resources:

        async def forget(api_key_hash: str) -> None:
            await resources.cache.delete(credential_cache_key(LocalSource.name, api_key_hash))

        store = SqlConsumers(resources.database, resources.cipher, resources.clock)
        yield Consumers(store, resources.hasher, forget)


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
        async with _consumers(command_context(ctx)) as consumers:
            created = await consumers.create(username)
        return {
            "consumer_id": created.record.consumer_id,
            "username": created.record.username,
            "api_key": created.api_key,
        }

    try:
        result = asyncio.run(run())
    except TokendError as exc:
        raise fail(exc.description, EXIT_FAILED) from None
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"consumer {result['username']} ({result['consumer_id']})")
    typer.echo(f"api key  {result['api_key']}   (shown once: store it now)")


@consumers_app.command("list")
def list_consumers(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List standalone consumers (never their keys or secrets)."""

    async def run() -> list[ConsumerRecord]:
        async with _consumers(command_context(ctx)) as consumers:
            return await consumers.list_all()

    records = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([_row(r) for r in records], indent=2))
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
        async with _consumers(command_context(ctx)) as consumers:
            return await consumers.revoke(consumer_id)

    try:
        record = asyncio.run(run())
    except TokendError as exc:
        raise fail(exc.description, EXIT_FAILED) from None
    typer.echo(f"revoked {record.username} ({record.consumer_id})")
