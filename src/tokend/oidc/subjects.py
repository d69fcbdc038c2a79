"""Subject identifiers (OIDC Core §8): ``public`` (the user's id, the same for every client)
or ``pairwise`` (one per sector: a client cannot correlate its users with another sector's).

§8.1: ``sub = base64url(SHA-256(sector_identifier || local_account_id || salt))``; the sector is
the host of the client's ``sector_identifier_uri``, or of its one redirect URI host. Access
tokens keep the user's id (their audience is a resource server, which looks users up); ID
tokens and userinfo answers carry the client's subject.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from tokend.core.errors import ValidationFailed
from tokend.core.http import GuardedClient
from tokend.oidc.records import Client


def sector_of(client: Client) -> str:
    uri = client.sector_identifier_uri or (client.redirect_uris[0] if client.redirect_uris else "")
    return urlsplit(uri).hostname or client.client_id


@dataclass(frozen=True, slots=True)
class Subjects:
    salt: bytes | None = field(default=None, repr=False)

    @property
    def pairwise_supported(self) -> bool:
        return self.salt is not None

    def of(self, client: Client, user_id: str) -> str:
        """The ``sub`` this client sees for the user."""
        if client.subject_type != "pairwise" or self.salt is None:
            return user_id
        digest = hashlib.sha256(
            sector_of(client).encode() + b"\x00" + user_id.encode() + b"\x00" + self.salt
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def matches(self, client: Client, user_id: str, sub: str) -> bool:
        return hmac.compare_digest(self.of(client, user_id).encode(), sub.encode())


async def check_sector(client: Client, http: GuardedClient | None, salt_set: bool) -> None:
    """OIDC Registration §5 / Core §8.1: a pairwise client needs the salt, and its
    ``sector_identifier_uri`` must list every redirect URI; ValidationFailed otherwise."""
    if client.subject_type == "pairwise" and not salt_set:
        raise ValidationFailed("pairwise subjects need TOKEND_OIDC__PAIRWISE_SALT")
    uri = client.sector_identifier_uri
    if uri is None:
        return
    if http is None:
        raise ValidationFailed("sector_identifier_uri cannot be checked here")
    try:
        response = await http.get(uri, timeout=5.0)
        listed = json.loads(response.content) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        raise ValidationFailed("sector_identifier_uri could not be fetched") from None
    if not isinstance(listed, list) or not set(client.redirect_uris) <= set(listed):
        raise ValidationFailed("sector_identifier_uri must list every redirect URI (JSON array)")
