"""Passkeys (WebAuthn Level 3) with the ``webauthn`` library: registration from the account
page, and passwordless sign-in with a discoverable credential.

The relying-party id is the issuer's host, the only accepted origin the issuer's origin (§7.1
step 9 and 12 checks, done by the library). User verification is required (a passkey alone
signs in, so the authenticator must have checked a PIN or biometric: §7.2 step 17), resident
keys are required (discoverable: the user need not type a name), attestation is ``none`` (no
authenticator model is trusted or refused). The sign count is stored and must grow when the
authenticator keeps one (§7.2 step 22: a count that does not grow betrays a cloned key).
Each ceremony's challenge is random, kept server-side, and used once.

The library is imported by the ceremonies, not with this module: its attestation formats
(pyasn1's ASN.1 classes) are a tenth of a second of every tokend start, and most processes
never see a passkey.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from tokend.core.clock import Clock
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.records import Passkey, User
from tokend.oidc.stores import PasskeyStore

#: What a browser sends back is at most a few kilobytes; anything longer is not looked at.
MAX_CREDENTIAL_JSON: Final = 16_384
TIMEOUT_MS: Final = 120_000


class PasskeyRejected(Exception):
    """The browser's answer did not verify (the reason is logged, never shown)."""


@dataclass(frozen=True, slots=True)
class Ceremony:
    """Options for ``navigator.credentials`` (JSON) and the challenge to keep."""

    options_json: str
    challenge: str


@dataclass(frozen=True, slots=True)
class SignedInWithPasskey:
    user_id: str
    user_verified: bool


def relying_party(issuer: str) -> tuple[str, str]:
    """(rp id, origin) of the issuer: its host, and scheme://host[:port]."""
    parts = urlsplit(issuer)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class Passkeys:
    store: PasskeyStore
    rp_id: str
    origin: str
    rp_name: str
    audit: Audit
    clock: Clock

    async def of_user(self, user_id: str) -> list[Passkey]:
        return list(await self.store.of_user(user_id))

    async def registration(self, user: User) -> Ceremony:
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
        from webauthn.helpers.structs import (
            AttestationConveyancePreference,
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        existing = await self.store.of_user(user.id)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_name=user.email,
            user_id=user.id.encode("utf-8"),
            user_display_name=user.name or user.email,
            timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
                for p in existing
            ],
        )
        return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))

    async def register(self, user: User, challenge: str, credential: str, name: str) -> Passkey:
        """Verify the browser's new credential against ``challenge`` and keep it. Raises
        PasskeyRejected, or Conflict (the store) for a credential registered already."""
        from webauthn import verify_registration_response
        from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
        from webauthn.helpers.exceptions import WebAuthnException

        try:
            verified = verify_registration_response(
                credential=_parsed(credential),
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyRejected(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        passkey = Passkey(
            credential_id=bytes_to_base64url(verified.credential_id),
            user_id=user.id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            name=name.strip()[:100] or "Passkey",
            created_at=self.clock.now(),
            device_type=str(verified.credential_device_type.value),
            backed_up=verified.credential_backed_up,
        )
        await self.store.add(passkey)
        await self.audit.account_event(
            AuditEvent.FACTOR_ENROLLED, user.id, "passkey", factor="passkey"
        )
        return passkey

    def authentication(self) -> Ceremony:
        """Options for a username-less sign-in: any discoverable credential for this rp id."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers import bytes_to_base64url
        from webauthn.helpers.structs import UserVerificationRequirement

        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))

    async def second_factor(self, user_id: str) -> Ceremony | None:
        """Options for one of the user's passkeys as the second factor after their password
        (listed in ``allowCredentials``, so a security key without a resident credential works
        too; user verification preferred, not required: the password is the first factor);
        None when the user has no passkey."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
        from webauthn.helpers.structs import (
            PublicKeyCredentialDescriptor,
            UserVerificationRequirement,
        )

        keys = await self.of_user(user_id)
        if not keys:
            return None
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=TIMEOUT_MS,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id))
                for key in keys
            ],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return Ceremony(options_to_json(options), bytes_to_base64url(options.challenge))

    async def authenticate(
        self, challenge: str, credential: str, *, require_user_verification: bool = True
    ) -> SignedInWithPasskey:
        """Verify an assertion against ``challenge``; whose passkey it was. Raises
        PasskeyRejected (unknown credential, bad signature, wrong origin or rp id, no user
        verification where required, a sign count that did not grow, a replay racing
        another)."""
        from webauthn import verify_authentication_response
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.exceptions import WebAuthnException

        parsed = _parsed(credential)
        credential_id = parsed.get("id")
        passkey = await self.store.get(credential_id) if isinstance(credential_id, str) else None
        if passkey is None:
            raise PasskeyRejected("unknown credential")
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=base64url_to_bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=require_user_verification,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyRejected(type(exc).__name__) from None
        response = parsed.get("response")
        user_handle = response.get("userHandle") if isinstance(response, dict) else None
        if user_handle and _user_id_of(user_handle) != passkey.user_id:
            raise PasskeyRejected("user handle of another user")
        if not await self.store.used(
            passkey.credential_id, passkey.sign_count, verified.new_sign_count, self.clock.now()
        ):
            raise PasskeyRejected("sign count changed meanwhile")
        return SignedInWithPasskey(passkey.user_id, verified.user_verified)

    async def remove(self, user_id: str, credential_id: str) -> bool:
        removed = await self.store.remove(user_id, credential_id[:700])
        if removed:
            await self.audit.account_event(
                AuditEvent.FACTOR_REMOVED, user_id, "passkey", reason="passkey"
            )
        return removed


def script_json(options_json: str) -> str:
    """Options JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&``
    escaped as JSON unicode escapes (a display name could otherwise close the element)."""
    return options_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _parsed(credential: str) -> dict[str, object]:
    if len(credential) > MAX_CREDENTIAL_JSON:
        raise PasskeyRejected("too long")
    try:
        parsed = json.loads(credential)
    except ValueError:
        raise PasskeyRejected("not JSON") from None
    if not isinstance(parsed, dict):
        raise PasskeyRejected("not an object")
    return parsed


def _user_id_of(user_handle: object) -> str | None:
    from webauthn.helpers import base64url_to_bytes

    try:
        return base64url_to_bytes(str(user_handle)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
