"""``tokend vault reencrypt``: after a key rotation every secret moves to the new key."""

from __future__ import annotations

import io
import re
import secrets

from sqlalchemy import text
from typer.testing import CliRunner

from tokend.cli.context import command_context_of
from tokend.commands import progress_bar
from tokend.config import Settings
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import Database
from tokend.vault.cli import app, reencrypt_all
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import NewClient
from tokend.vault.sql import SqlClients, SqlConnections


async def test_reencrypt_moves_every_secret_to_the_current_key(
    settings: Settings, database: Database
) -> None:
    old_key = settings.effective_secret_key()
    old_cipher = FieldCipher.from_secrets(old_key)
    client, _ = await SqlClients(database, old_cipher, SystemClock()).register(
        NewClient(
            client_id="rot-" + secrets.token_hex(6),
            client_secret="client-secret-" + secrets.token_hex(6),
            redirect_uri="https://app.example/cb",
            provider="google",
            webhook_url="https://hooks.example/in",
            webhook_secret="whsec-" + secrets.token_hex(12),
        ),
        None,
    )
    await SqlConnections(database, old_cipher, SystemClock()).store_connection(
        client.id, TokenSet("at-x", "rt-x", "Bearer", None, 3600)
    )

    new_key = "rotated-secret-key-" + secrets.token_hex(16)
    rotated = Settings.model_validate(
        {
            **settings.model_dump(mode="python"),
            "secret_key": new_key,
            "previous_secret_keys": [old_key],
        }
    )
    assert await reencrypt_all(command_context_of(rotated)) >= 4
    assert await reencrypt_all(command_context_of(rotated)) == 0  # nothing left under the old key

    new_cipher = FieldCipher.from_secrets(new_key)
    only_new = SqlClients(database, new_cipher, SystemClock())
    assert (await only_new.client(client.id)).client_secret == client.client_secret
    token = await SqlConnections(database, new_cipher, SystemClock()).current_token(client.id)
    assert token is not None
    assert token.refresh_token == "rt-x"
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT access_token_enc FROM vault_tokens WHERE client_id = :c"),
                {"c": client.id},
            )
        ).scalar_one()
    assert not FieldCipher.from_secrets(new_key).needs_reencryption(row)
    # Rotate back: the rest of the run shares this database and the original key.
    back = {**settings.model_dump(mode="python"), "previous_secret_keys": [new_key]}
    assert await reencrypt_all(command_context_of(Settings.model_validate(back))) >= 4


def test_the_command_reports_what_it_did(settings: Settings) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["reencrypt"], obj=command_context_of(settings))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("re-encrypted ")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_is_a_bar_on_a_terminal_and_silent_in_a_pipe(
    settings: Settings, database: Database
) -> None:
    cipher = FieldCipher.from_secrets(settings.effective_secret_key())
    clients = SqlClients(database, cipher, SystemClock())
    for n in range(3):
        await clients.register(
            NewClient(
                client_id=f"bar-{n}-" + secrets.token_hex(4),
                client_secret="client-secret-" + secrets.token_hex(6),
                redirect_uri="https://app.example/cb",
                provider="google",
            ),
            None,
        )
    terminal, pipe = _Terminal(), io.StringIO()
    with progress_bar("re-encrypting", terminal) as (progress, counted):
        await reencrypt_all(command_context_of(settings), progress)
    assert counted.total == counted.done >= 3
    assert "re-encrypting" in terminal.getvalue()
    assert "100%" in terminal.getvalue()
    with progress_bar("re-encrypting", pipe) as (progress, counted):
        await reencrypt_all(command_context_of(settings), progress)
    assert counted.done >= 3
    assert pipe.getvalue() == ""


def test_piped_the_command_prints_only_its_summary(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["reencrypt"], obj=command_context_of(settings))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    (summary,) = result.stdout.splitlines()
    assert re.fullmatch(
        r"re-encrypted \d+ value\(s\) in \d+ row\(s\) \(0 left\) in [\d.]+ s", summary
    )
