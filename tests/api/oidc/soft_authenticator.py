"""A software WebAuthn authenticator for API tests: makes the ``none``-attested P-256 passkeys
and the assertions a browser would post (WebAuthn Level 3 §6.1 authenticator data, §5.8.1
client data), so passkey flows run without a browser. tests/e2e drives Chromium's virtual
authenticator for the same ceremonies."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

#: Authenticator data flags (WebAuthn §6.1): user present, user verified, attested data.
UP, UV, AT = 0x01, 0x04, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    user_handle: bytes | None = None
    sign_count: int = 0

    def create(self, options: dict[str, Any]) -> str:
        """The registration response (``navigator.credentials.create``) as posted: JSON."""
        self.user_handle = unb64u(options["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big")}  # fmt: skip
        attested = (
            bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + cbor2.dumps(cose)
        )
        auth_data = self._auth_data(UP | UV | AT) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
            "response": {"clientDataJSON": b64u(client_data),
                         "attestationObject": b64u(attestation), "transports": ["internal"]},
        })  # fmt: skip

    def get(self, options: dict[str, Any], *, user_verified: bool = True) -> str:
        """An assertion (``navigator.credentials.get``) for ``options`` as posted: JSON."""
        self.sign_count += 1
        auth_data = self._auth_data(UP | (UV if user_verified else 0))
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps({
            "id": b64u(self.credential_id), "rawId": b64u(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
            "response": {"clientDataJSON": b64u(client_data),
                         "authenticatorData": b64u(auth_data), "signature": b64u(signature),
                         "userHandle": b64u(self.user_handle) if self.user_handle else None},
        })  # fmt: skip

    def _auth_data(self, flags: int) -> bytes:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big")

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()
