"""``tokend vault``: operator commands of the token vault.

``tokend vault reencrypt`` re-encrypts every stored secret (client secrets, webhook secrets,
access and refresh tokens) under the current ``TOKEND_SECRET_KEY`` after a rotation; run it while
the former key is still in ``TOKEND_PREVIOUS_SECRET_KEYS``, then drop that key.
"""

from __future__ import annotations

import anyio
import typer

from tokend.commands import EXIT_FAILED, CommandContext, command_context, fail, progress_bar
from tokend.core.errors import TokendError
from tokend.core.progress import NO_PROGRESS, Progress
from tokend.vault.sql.reencrypt import reencrypt_secrets

app = typer.Typer(help="The token vault: re-encrypt stored secrets.", no_args_is_help=True)


@app.callback()
def vault() -> None:
    """The token vault's operator commands."""


@app.command()
def reencrypt(ctx: typer.Context) -> None:
    """Re-encrypt stored secrets made under a previous secret key with the current one (a
    progress bar on a terminal; one summary line on stdout)."""
    context = command_context(ctx)
    with progress_bar("re-encrypting") as (progress, counted):
        try:
            changed = anyio.run(reencrypt_all, context, progress)
        except TokendError as exc:
            raise fail(exc.description, EXIT_FAILED) from None
    typer.echo(
        f"re-encrypted {changed} value(s) in {counted.done} row(s) "
        f"({counted.total - counted.done} left) in {counted.elapsed_s:.1f} s"
    )


async def reencrypt_all(context: CommandContext, progress: Progress = NO_PROGRESS) -> int:
    """The number of values re-encrypted; one transaction, so a failure changes nothing."""
    async with context.open() as resources:
        return await reencrypt_secrets(resources.database, resources.cipher, progress)
