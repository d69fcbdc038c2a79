"""``tokend vault``: operator commands of the token vault.

``tokend vault reencrypt`` re-encrypts every stored secret (client secrets, webhook secrets,
access and refresh tokens) under the current ``TOKEND_SECRET_KEY`` after a rotation; run it while
the former key is still in ``TOKEND_PREVIOUS_SECRET_KEYS``, then drop that key.
"""

from __future__ import annotations

import anyio
import typer

from tokend.config import Settings
from tokend.core.crypto import FieldCipher
from tokend.core.errors import TokendError
from tokend.store.engine import open_database
from tokend.vault.reencrypt import reencrypt_secrets

app = typer.Typer(help="The token vault: re-encrypt stored secrets.", no_args_is_help=True)


@app.callback()
def vault() -> None:
    """The token vault's operator commands."""


@app.command()
def reencrypt(ctx: typer.Context) -> None:
    """Re-encrypt stored secrets made under a previous secret key with the current one."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise typer.Exit(2)
    try:
        changed = anyio.run(reencrypt_all, settings)
    except TokendError as exc:
        typer.secho(f"tokend: {exc.description}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    typer.echo(f"re-encrypted {changed} value(s)")


async def reencrypt_all(settings: Settings) -> int:
    """The number of values re-encrypted; one transaction, so a failure changes nothing."""
    cipher = FieldCipher.from_secrets(
        settings.effective_secret_key(),
        [key.get_secret_value() for key in settings.previous_secret_keys],
    )
    database = open_database(settings.database)
    try:
        return await reencrypt_secrets(database, cipher)
    finally:
        await database.close()
