"""Tables of standalone gateway consumers (``source = local``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tokend.store.base import Base, UTCDateTime


class GatewayConsumerRow(Base):
    """A consumer, its API key (hashed only) and its JWT credential (secret encrypted)."""

    __tablename__ = "gateway_consumers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(256), unique=True)
    #: SecretHasher HMAC of the API key: the key itself is shown once and never stored.
    api_key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    jwt_key: Mapped[str] = mapped_column(String(64))
    #: FieldCipher ciphertext of the HS256 secret, bound to the consumer id.
    jwt_secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
