"""``tokend keys``: list, rotate, retire and remove the signing keys.

Running replicas pick a change up on their next keyring refresh (``keys.refresh_interval_s``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import anyio
import typer
from sqlalchemy.exc import SQLAlchemyError

from tokend.cli.context import EXIT_CONFIG, fail, settings_of
from tokend.config import Settings
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.errors import TokendError
from tokend.core.keys import KeyInfo, KeyNotRetired, Keyring
from tokend.core.settings import SigningAlgorithm
from tokend.obs.logging import configure_logging
from tokend.store.engine import is_missing_schema, open_database

EXIT_FAILED = 1

app = typer.Typer(
    help="Signing keys: list them, rotate an algorithm, retire or remove a key.",
    no_args_is_help=True,
)

T = TypeVar("T")


def _run(
    settings: Settings, action: Callable[[Keyring], Awaitable[T]], *, create_missing: bool = True
) -> T:
    """Open the database and keyring, run ``action``, close the database.

    ``create_missing`` creates the configured algorithms' keys like a starting server does.
    """

    configure_logging(settings.log, settings.env)

    async def main() -> T:
        database = open_database(settings.database)
        try:
            cipher = FieldCipher.from_secrets(
                settings.effective_secret_key(),
                [key.get_secret_value() for key in settings.previous_secret_keys],
            )
            if create_missing:
                keyring = await Keyring.open(database, cipher, settings.keys, SystemClock())
            else:
                keyring = Keyring(database, cipher, settings.keys, SystemClock())
                await keyring.refresh()
            return await action(keyring)
        finally:
            await database.close()

    try:
        return anyio.run(main)
    except KeyNotRetired as exc:  # a request that can never succeed, like a bad argument
        raise fail(exc.description, EXIT_CONFIG) from None
    except TokendError as exc:
        raise fail(exc.description, EXIT_FAILED) from None
    except SQLAlchemyError as exc:
        if is_missing_schema(exc):
            raise fail(
                f"the database lacks tables this tokend needs ({type(exc).__name__}): "
                "run `tokend migrate`",
                EXIT_CONFIG,
            ) from None
        raise fail(
            f"database error ({type(exc).__name__}); has `tokend migrate` been run?", EXIT_FAILED
        ) from None


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def _as_json(info: KeyInfo) -> dict[str, str | None]:
    return {
        "kid": info.kid,
        "alg": info.alg,
        "state": info.state.value,
        "created_at": info.created_at.isoformat(),
        "activated_at": info.activated_at.isoformat() if info.activated_at else None,
        "retired_at": info.retired_at.isoformat() if info.retired_at else None,
    }


@app.command("list")
def list_keys(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Show every key: active first, then next, then retired."""

    async def read(keyring: Keyring) -> tuple[KeyInfo, ...]:
        return keyring.list()

    infos = _run(settings_of(ctx), read, create_missing=False)
    if as_json:
        typer.echo(json.dumps([_as_json(info) for info in infos], indent=2))
        return
    typer.echo(f"{'KID':<36} {'ALG':<6} {'STATE':<8} {'CREATED':<25} {'ACTIVATED':<25} RETIRED")
    for i in infos:
        typer.echo(
            f"{i.kid:<36} {i.alg:<6} {i.state.value:<8} {_when(i.created_at):<25} "
            f"{_when(i.activated_at):<25} {_when(i.retired_at)}"
        )


@app.command()
def rotate(
    ctx: typer.Context,
    alg: Annotated[
        SigningAlgorithm | None,
        typer.Option("--alg", help="Algorithm to rotate [default: the access token algorithm]."),
    ] = None,
) -> None:
    """Activate the pre-published next key, retire the active one, publish a fresh next."""
    settings = settings_of(ctx)
    chosen: SigningAlgorithm = alg or settings.keys.access_token_alg

    async def rotate_alg(keyring: Keyring) -> str:
        return await keyring.rotate(chosen)

    kid = _run(settings, rotate_alg)
    typer.echo(f"{chosen}: {kid} is now active")


@app.command()
def retire(
    ctx: typer.Context,
    kid: Annotated[str, typer.Argument(help="The key id, as `tokend keys list` shows it.")],
) -> None:
    """Stop signing with KID (an active key is rotated first); it stays published until removed."""

    async def retire_kid(keyring: Keyring) -> None:
        await keyring.retire(kid)

    _run(settings_of(ctx), retire_kid)
    typer.echo(f"{kid} is retired")


@app.command()
def remove(
    ctx: typer.Context,
    kid: Annotated[str, typer.Argument(help="A retired key id, as `tokend keys list` shows it.")],
) -> None:
    """Delete the retired key KID: tokens it signed stop verifying once replicas refresh.

    Keys retired longer than keys.retired_retention_s are removed by a periodic job anyway;
    an active or next key is refused (retire it first).
    """

    async def remove_kid(keyring: Keyring) -> None:
        await keyring.remove(kid)

    _run(settings_of(ctx), remove_kid, create_missing=False)
    typer.echo(f"{kid} is removed")
