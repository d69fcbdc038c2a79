"""Secrets of the vault's rows, sealed with the spine's FieldCipher.

Each ciphertext is bound (AES-GCM AAD) to its client and purpose, so one copied to another row
or column does not decrypt. Rows become records here, decrypted only in memory.
"""

from __future__ import annotations

from tokend.core.crypto import FieldCipher
from tokend.vault.models import VaultClient, VaultToken
from tokend.vault.records import ClientRecord, ConnectionStatus, TokenRecord

#: The encrypted columns, by table: (column, purpose).
CLIENT_SECRETS = (("client_secret_enc", "client_secret"), ("webhook_secret_enc", "webhook_secret"))
TOKEN_SECRETS = (("access_token_enc", "access_token"), ("refresh_token_enc", "refresh_token"))


def secret_aad(client_pk: int, purpose: str) -> str:
    return f"vault:{client_pk}:{purpose}"


class RowSealer:
    __slots__ = ("_cipher",)

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def seal(self, client_pk: int, purpose: str, value: str) -> str:
        return self._cipher.encrypt_text(value, aad=secret_aad(client_pk, purpose))

    def open(self, client_pk: int, purpose: str, value: str) -> str:
        return self._cipher.decrypt_text(value, aad=secret_aad(client_pk, purpose))

    def reseal(self, row: object, column: str, client_pk: int, purpose: str) -> bool:
        """Re-encrypt ``row.column`` under the current key if an older one made it."""
        value = getattr(row, column)
        if not value or not self._cipher.needs_reencryption(value):
            return False
        setattr(row, column, self.seal(client_pk, purpose, self.open(client_pk, purpose, value)))
        return True

    def client(self, row: VaultClient) -> ClientRecord:
        return ClientRecord(
            id=row.id,
            provider=row.provider,
            issuer=row.issuer,
            client_id=row.client_id,
            client_secret=self.open(row.id, "client_secret", row.client_secret_enc),
            redirect_uri=row.redirect_uri,
            scopes=tuple(row.scopes.split()) if row.scopes else (),
            webhook_url=row.webhook_url,
            webhook_secret=self.open(row.id, "webhook_secret", row.webhook_secret_enc)
            if row.webhook_secret_enc
            else None,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def token(self, row: VaultToken) -> TokenRecord:
        return TokenRecord(
            id=row.id,
            client_pk=row.client_id,
            access_token=self.open(row.client_id, "access_token", row.access_token_enc),
            refresh_token=self.open(row.client_id, "refresh_token", row.refresh_token_enc)
            if row.refresh_token_enc
            else None,
            token_type=row.token_type,
            scope=row.scope,
            expires_at=row.expires_at,
            status=ConnectionStatus(row.status),
            generation=row.generation,
            failure_count=row.failure_count,
            last_error=row.last_error,
            last_refreshed_at=row.last_refreshed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
