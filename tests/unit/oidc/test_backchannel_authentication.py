"""CIBA Core §7: the backchannel authentication endpoint's logic on in-memory stores."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.oidc.memory_stores import MemoryBackchannelRequests, MemoryDatabase, MemoryUsers
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import InvalidClient, InvalidRequest, InvalidScope, UnauthorizedClient
from tokend.core.jws_keys import VerificationKey
from tokend.oidc.backchannel_authentication import (
    BackchannelAuthentication,
    InvalidBindingMessage,
    UnknownUserId,
    notification_aad,
)
from tokend.oidc.id_token_hints import IdTokenHints
from tokend.oidc.records import (
    AuthMethod,
    BackchannelRequest,
    BackchannelStatus,
    Client,
    TokenDeliveryMode,
    TokenFormat,
    User,
)
from tokend.oidc.settings import CibaSettings

SECRET = "unit-test-secret-key-" + "c" * 24
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CIBA = "urn:openid:params:grant-type:ciba"
CLIENT = Client(
    client_id="kiosk",
    name="Kiosk",
    is_public=False,
    redirect_uris=(),
    post_logout_redirect_uris=(),
    grant_types=frozenset({CIBA}),
    response_types=frozenset(),
    scopes=frozenset({"openid", "profile"}),
    audiences=(),
    auth_method=AuthMethod.CLIENT_SECRET_BASIC,
    token_format=TokenFormat.JWT,
    require_pkce=False,
    skip_consent=False,
)
ADA = User(
    id="u_ada", email="ada@example.org", email_verified=True,
    phone_number="+49 151 1234 5678", phone_number_verified=True,
)  # fmt: skip


class NoKeys:
    """No ID token verifies: every id_token_hint is refused."""

    def find(self, kid: str) -> VerificationKey | None:
        return None


@dataclass
class Device:
    told: list[BackchannelRequest] = field(default_factory=list)

    async def request_started(self, request: BackchannelRequest) -> None:
        self.told.append(request)


@dataclass
class World:
    ciba: BackchannelAuthentication
    db: MemoryDatabase
    device: Device


@pytest.fixture
def world() -> World:
    db = MemoryDatabase(users={ADA.id: ADA})
    users, device, clock = MemoryUsers(db), Device(), FrozenClock(NOW)
    ciba = BackchannelAuthentication(
        store=MemoryBackchannelRequests(db),
        users=users,
        phones=users,
        hints=IdTokenHints(NoKeys(), "RS256", "https://op.example", clock),
        hasher=SecretHasher.from_secrets(SECRET),
        cipher=FieldCipher.from_secrets(SECRET),
        clock=clock,
        settings=CibaSettings(max_request_ttl_s=600),
        devices=(device,),
    )
    return World(ciba, db, device)


async def test_a_request_is_stored_by_hash_and_its_devices_are_told(world: World) -> None:
    started = await world.ciba.start(
        CLIENT, {"scope": "openid profile", "login_hint": "ADA@example.org",
                 "binding_message": "W4SCT"}
    )  # fmt: skip
    assert (started.expires_in, started.interval) == (300, 5)
    [stored] = world.db.backchannel.values()
    assert stored.auth_req_id_hash == world.ciba.hasher.hash(started.auth_req_id)
    assert started.auth_req_id not in repr(stored)
    assert stored.user_id == ADA.id
    assert stored.status is BackchannelStatus.PENDING
    assert stored.delivery_mode is TokenDeliveryMode.POLL
    assert stored.notification_enc is None
    assert stored.binding_message == "W4SCT"
    assert stored.expires_at == NOW + timedelta(seconds=300)
    assert world.device.told == [stored]


async def test_ping_mode_keeps_the_auth_req_id_and_bearer_token_encrypted(world: World) -> None:
    ping = dataclasses.replace(
        CLIENT,
        backchannel_token_delivery_mode="ping",
        backchannel_client_notification_endpoint="https://kiosk.example/ciba",
    )
    with pytest.raises(InvalidRequest, match="client_notification_token is required"):
        await world.ciba.start(ping, {"scope": "openid", "login_hint": ADA.id})
    started = await world.ciba.start(
        ping, {"scope": "openid", "login_hint": ADA.id, "client_notification_token": "tok-123"}
    )
    [stored] = world.db.backchannel.values()
    assert stored.notification_enc is not None
    assert "tok-123" not in stored.notification_enc
    secret = world.ciba.cipher.decrypt_text(
        stored.notification_enc, aad=notification_aad(stored.id)
    )
    assert json.loads(secret) == {"auth_req_id": started.auth_req_id, "token": "tok-123"}


async def test_tel_hints_and_expiry_caps(world: World) -> None:
    started = await world.ciba.start(
        CLIENT,
        {"scope": "openid", "login_hint": "tel:+49-151-1234-5678", "requested_expiry": "9999"},
    )
    assert started.expires_in == 600
    with pytest.raises(UnknownUserId):
        await world.ciba.start(CLIENT, {"scope": "openid", "login_hint": "tel:+4915100000000"})


@pytest.mark.parametrize(
    ("client", "params", "error"),
    [
        (dataclasses.replace(CLIENT, is_public=True), {}, InvalidClient),
        (dataclasses.replace(CLIENT, grant_types=frozenset({"refresh_token"})), {},
         UnauthorizedClient),
        (CLIENT, {"scope": "profile"}, InvalidScope),
        (CLIENT, {"scope": "openid email"}, InvalidScope),
        (CLIENT, {"login_hint": "ada@example.org", "id_token_hint": "a.b.c"}, InvalidRequest),
        (CLIENT, {"login_hint_token": "x"}, InvalidRequest),
        (CLIENT, {"id_token_hint": "a.b.c"}, InvalidRequest),
        (CLIENT, {"login_hint": "ada@example.org", "binding_message": "é" * 65},
         InvalidBindingMessage),
        (CLIENT, {"login_hint": "ada@example.org", "binding_message": "\u0007"},
         InvalidBindingMessage),
        (CLIENT, {"login_hint": "ada@example.org", "requested_expiry": "0"}, InvalidRequest),
        (CLIENT, {"login_hint": "ada@example.org", "user_code": "1234"}, InvalidRequest),
        (CLIENT, {"login_hint": "ada\x00@example.org"}, UnknownUserId),
        (dataclasses.replace(CLIENT, subject_type="pairwise"), {"login_hint": "u_ada"},
         UnknownUserId),
    ],
)  # fmt: skip
async def test_bad_requests_raise_the_precise_error(
    world: World, client: Client, params: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await world.ciba.start(client, {"scope": "openid", **params})
    assert not world.db.backchannel
