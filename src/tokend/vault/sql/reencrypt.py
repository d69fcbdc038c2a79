"""Re-encrypting the vault's secrets under the current key after a key rotation."""

from __future__ import annotations

from sqlalchemy import select

from tokend.core.crypto import FieldCipher
from tokend.core.progress import NO_PROGRESS, Progress
from tokend.store.engine import Database
from tokend.vault.models import VaultClient, VaultToken
from tokend.vault.sql.sealing import CLIENT_SECRETS, TOKEN_SECRETS, RowSealer


async def reencrypt_secrets(
    database: Database, cipher: FieldCipher, progress: Progress = NO_PROGRESS
) -> int:
    """Re-encrypt every secret made under an older key with the current one; the count.
    ``progress`` hears the number of rows, then each row done.

    One transaction with the rows locked, so a failure changes nothing and a concurrent
    refresh waits rather than writes a value this pass would then overwrite.
    """
    sealer = RowSealer(cipher)
    changed = 0
    async with database.sessions.begin() as session:
        clients = (await session.scalars(select(VaultClient).with_for_update())).all()
        tokens = (await session.scalars(select(VaultToken).with_for_update())).all()
        progress.start(len(clients) + len(tokens))
        for client in clients:
            for column, purpose in CLIENT_SECRETS:
                changed += sealer.reseal(client, column, client.id, purpose)
            progress.advance()
        for token in tokens:
            for column, purpose in TOKEN_SECRETS:
                changed += sealer.reseal(token, column, token.client_id, purpose)
            progress.advance()
    return changed
