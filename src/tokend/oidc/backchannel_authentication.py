"""OpenID Connect Client-Initiated Backchannel Authentication Core 1.0 (CIBA), poll and ping
modes: the backchannel authentication endpoint's logic (§7). It checks what the client asks,
finds the user its hint names, stores the request (its ``auth_req_id`` only as a hash) and
tells the user's authentication devices. The user decides there (``backchannel_decisions``);
the client polls the token endpoint (``grants/ciba.py``), in ping mode once it was pinged.

No HTTP here: ``routes/backchannel.py`` authenticates the client and calls :meth:`start`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Protocol

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher, random_id, random_secret
from tokend.core.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    OAuthError,
    UnauthorizedClient,
)
from tokend.core.jwt import KeySource, read_unverified, verify
from tokend.oidc.grants.ciba import GRANT_TYPE as CIBA_GRANT
from tokend.oidc.grants.protocol import narrow_scopes
from tokend.oidc.id_token_hints import IdTokenHints
from tokend.oidc.phone_numbers import e164_of_tel_uri
from tokend.oidc.records import (
    BackchannelRequest,
    BackchannelStatus,
    Client,
    TokenDeliveryMode,
    User,
)
from tokend.oidc.settings import CibaSettings
from tokend.oidc.stores import BackchannelRequestStore, UserPhones, UserStore

#: The parameters of an authentication request (§7.1) besides client authentication.
PARAMETERS: Final = frozenset(
    {
        "scope", "client_notification_token", "acr_values", "login_hint_token",
        "id_token_hint", "login_hint", "binding_message", "user_code", "requested_expiry",
    }
)  # fmt: skip
HINTS: Final = ("login_hint_token", "id_token_hint", "login_hint")
#: §7.1 binding_message: "relatively short"; shown on a phone's lock screen.
BINDING_MESSAGE_MAX: Final = 64
#: §7.1 client_notification_token: at most 1024 characters of RFC 6750 §2.1 b64token.
NOTIFICATION_TOKEN: Final = re.compile(r"^[A-Za-z0-9\-._~+/]{1,1024}=*$")
_EXPIRY: Final = re.compile(r"^[0-9]{1,9}$")
#: The associated data of a ping request's encrypted auth_req_id and notification token.
NOTIFICATION_AAD: Final = "oidc-ciba-notification:"


class UnknownUserId(OAuthError):
    """CIBA Core §13: the hint names no user the provider can authenticate."""

    code, status = "unknown_user_id", 400
    default_description = "The hint does not name a known, active user."


class InvalidBindingMessage(OAuthError):
    """CIBA Core §13: the binding message is invalid or unacceptable."""

    code, status = "invalid_binding_message", 400
    default_description = "The binding message is invalid."


class AuthenticationDevice(Protocol):
    """A channel to the user's authentication device (CIBA Core §1): told of each new request.

    Called on the request path: an implementation queues its work (a job), it does not call
    out. The approval page needs no telling: it lists what is pending when the user opens it.
    """

    async def request_started(self, request: BackchannelRequest) -> None: ...


@dataclass(frozen=True, slots=True)
class BackchannelStarted:
    """CIBA Core §7.3 successful authentication request acknowledgement."""

    auth_req_id: str = field(repr=False)
    expires_in: int
    interval: int

    def to_json(self) -> dict[str, object]:
        return {
            "auth_req_id": self.auth_req_id,
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


def delivery_mode_of(client: Client) -> TokenDeliveryMode:
    """§4: the mode the client registered; poll when it registered none."""
    mode = client.backchannel_token_delivery_mode
    return TokenDeliveryMode(mode) if mode is not None else TokenDeliveryMode.POLL


def notification_aad(request_id: str) -> str:
    return NOTIFICATION_AAD + request_id


@dataclass(frozen=True, slots=True)
class BackchannelAuthentication:
    store: BackchannelRequestStore
    users: UserStore
    phones: UserPhones
    hints: IdTokenHints
    hasher: SecretHasher = field(repr=False)
    cipher: FieldCipher = field(repr=False)
    clock: Clock
    settings: CibaSettings
    devices: Sequence[AuthenticationDevice] = ()
    #: The keys a client signs its ``login_hint_token`` with (its ``jwks`` or ``jwks_uri``).
    client_keys: ClientKeySource | None = None
    #: This provider's issuer identifier: a login_hint_token's ``aud``.
    issuer: str = ""
    leeway_s: int = 60

    async def start(self, client: Client, params: Mapping[str, str]) -> BackchannelStarted:
        """§7.1-§7.3: a new authentication request of ``client`` (authenticated already)."""
        if client.is_public:
            # §7.1: the client authenticates "as described in Section 9 of OIDC Core"; a
            # public client has no credentials, so "none" is an unsupported method here.
            raise InvalidClient("the backchannel authentication endpoint needs client credentials")
        if not client.allows_grant(CIBA_GRANT):
            raise UnauthorizedClient("this client may not use CIBA")
        scopes = _scopes(params.get("scope"), client)
        mode = delivery_mode_of(client)
        notification_token = params.get("client_notification_token")
        if mode is TokenDeliveryMode.PING:
            # §7.1: required when the client registered the ping mode.
            if not notification_token:
                raise InvalidRequest("client_notification_token is required in ping mode")
            if not NOTIFICATION_TOKEN.match(notification_token):
                raise InvalidRequest(
                    "client_notification_token must be a bearer token of at most 1024 characters"
                )
        if params.get("user_code"):
            # §7.1 / §4: backchannel_user_code_parameter_supported is false here.
            raise InvalidRequest("user_code is not supported by this provider")
        binding_message = _binding_message(params.get("binding_message"))
        ttl_s = self._ttl_s(params.get("requested_expiry"))
        # acr_values (§7.1) are accepted and not acted on: the device decides how it checks.
        user = await self._user(client, params)
        now = self.clock.now()
        request_id = random_id("cb_")
        auth_req_id = random_secret(32)  # §7.3: unguessable, 256 bits
        notification_enc = None
        if mode is TokenDeliveryMode.PING and notification_token is not None:
            secret = json.dumps({"auth_req_id": auth_req_id, "token": notification_token})
            notification_enc = self.cipher.encrypt_text(secret, aad=notification_aad(request_id))
        request = BackchannelRequest(
            id=request_id,
            auth_req_id_hash=self.hasher.hash(auth_req_id),
            client_id=client.client_id,
            user_id=user.id,
            scopes=scopes,
            binding_message=binding_message,
            delivery_mode=mode,
            notification_enc=notification_enc,
            status=BackchannelStatus.PENDING,
            interval_s=self.settings.interval_s,
            next_poll_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            created_at=now,
        )
        await self.store.add(request)
        for device in self.devices:
            await device.request_started(request)
        return BackchannelStarted(auth_req_id, ttl_s, self.settings.interval_s)

    async def purge(self) -> int:
        return await self.store.purge(self.clock.now())

    def _ttl_s(self, requested: str | None) -> int:
        """§7.1 requested_expiry: a positive integer of seconds, cut to the setting's most."""
        if requested is None:
            return self.settings.request_ttl_s
        if not _EXPIRY.match(requested) or int(requested) == 0:
            raise InvalidRequest("requested_expiry must be a positive integer of seconds")
        return min(int(requested), self.settings.max_request_ttl_s)

    async def _user(self, client: Client, params: Mapping[str, str]) -> User:
        """§7.1: exactly one hint names the user."""
        sent = [name for name in HINTS if params.get(name)]
        if len(sent) != 1:
            raise InvalidRequest(
                "send exactly one of login_hint, login_hint_token and id_token_hint"
            )
        # OIDC Core §8: a pairwise client's subjects cannot be turned back into users.
        public_subjects = client.subject_type != "pairwise"
        user: User | None = None
        if sent[0] == "login_hint_token":
            user = await self._by_login_hint_token(
                client, params["login_hint_token"], public_subjects
            )
        elif sent[0] == "id_token_hint":
            # §7.1: an ID token previously issued to this client, expired or not.
            subject = self.hints.subject(params["id_token_hint"], audience=client.client_id)
            user = await self.users.by_id(subject) if public_subjects else None
        else:
            user = await self._by_login_hint(params["login_hint"][:320], public_subjects)
        if user is None or user.disabled:
            raise UnknownUserId
        return user

    async def _by_login_hint_token(
        self, client: Client, token: str, public_subjects: bool
    ) -> User | None:
        """§7.1 leaves the login_hint_token's format to profiles; here it is a JWT the client
        signs with a key it registered (``jwks``/``jwks_uri``, as its RFC 7523 assertions):
        ``iss`` the client, ``aud`` this issuer, ``exp`` required, naming the user by an RFC
        9493 subject identifier in ``sub_id``: ``email``, ``phone_number`` (verified numbers
        only, as ``tel:`` login hints), or ``iss_sub`` of this issuer. InvalidRequest when it
        is not such a token."""
        if self.client_keys is None or len(token) > _MAX_HINT_TOKEN_CHARS:
            raise InvalidRequest("login_hint_token is not a valid token of this client")
        try:
            header, _payload = read_unverified(token)
            kid = header.get("kid")
            keys = await self.client_keys.for_client(client, kid if isinstance(kid, str) else None)
            claims = verify(
                token,
                keys,
                algorithms=_ASYMMETRIC,
                issuer=client.client_id,
                audience=self.issuer,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("exp",),
            )
        except (InvalidToken, InvalidClient):
            raise InvalidRequest(
                "login_hint_token must be a JWT signed with a key this client registered, for "
                "this issuer, not expired"
            ) from None
        sub_id = claims.payload.get("sub_id")
        if not isinstance(sub_id, dict):
            raise InvalidRequest("login_hint_token must name the user in sub_id (RFC 9493)")
        kind = sub_id.get("format")
        if kind == "email" and isinstance(sub_id.get("email"), str):
            return await self.users.by_email(str(sub_id["email"])[:320])
        if kind == "phone_number" and isinstance(sub_id.get("phone_number"), str):
            number = e164_of_tel_uri("tel:" + str(sub_id["phone_number"])[:40])
            return await self.phones.by_verified_phone(number) if number is not None else None
        if kind == "iss_sub":
            # Another issuer's subject names no account here (unknown_user_id).
            subject = sub_id.get("sub")
            if sub_id.get("iss") == self.issuer and isinstance(subject, str) and public_subjects:
                return await self.users.by_id(subject[:64])
            return None
        raise InvalidRequest("login_hint_token's sub_id format is not supported here")

    async def _by_login_hint(self, hint: str, public_subjects: bool) -> User | None:
        """An e-mail address, ``tel:+<E.164>`` (the user's verified phone number, as GSMA
        Open Gateway operators send it), or the user's subject."""
        if not hint.isprintable():
            return None  # no address, number or id has control characters
        if hint.lower().startswith("tel:"):
            number = e164_of_tel_uri(hint)
            return await self.phones.by_verified_phone(number) if number is not None else None
        if "@" in hint:
            return await self.users.by_email(hint)
        return await self.users.by_id(hint) if public_subjects else None


class ClientKeySource(Protocol):
    """``client_keys.ClientKeys``: a client's registered or published keys."""

    async def for_client(self, client: Client, kid: str | None) -> KeySource: ...


#: A login_hint_token is signed with the client's asymmetric keys (RFC 7518 §3.1 names).
_ASYMMETRIC: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_MAX_HINT_TOKEN_CHARS: Final = 8192


def _scopes(scope: str | None, client: Client) -> frozenset[str]:
    # §7.1: scope is required, and this is an OpenID request: openid must be in it.
    if scope is None:
        raise InvalidRequest("scope is required")
    requested = frozenset(scope.split())
    if "openid" not in requested:
        raise InvalidScope("scope must contain openid")
    return narrow_scopes(requested, client.scopes)


def _binding_message(message: str | None) -> str | None:
    """§7.1, §13: short and printable, or invalid_binding_message."""
    if message is None:
        return None
    if len(message) > BINDING_MESSAGE_MAX or not message.isprintable() or not message.strip():
        raise InvalidBindingMessage(
            f"binding_message must be printable text of at most {BINDING_MESSAGE_MAX} characters"
        )
    return message.strip()
