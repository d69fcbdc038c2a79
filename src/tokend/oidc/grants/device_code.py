"""RFC 8628 §3.4 device access token request: the device polls until the user approved or
denied on the verification page, or the code expired."""

from __future__ import annotations

from typing import Final

from tokend.core.crypto import random_id
from tokend.core.errors import InvalidGrant, InvalidRequest, OAuthError, UnauthorizedClient
from tokend.oidc.audit import AuditEvent
from tokend.oidc.grants.protocol import GrantDeps, TokenRequest, TokenResponse
from tokend.oidc.grants.user_tokens import (
    UserGrant,
    access_token_for,
    active_user,
    new_refresh_token,
    wants_refresh_token,
)
from tokend.oidc.records import Client, DeviceStatus

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:device_code"
PARAMETERS: Final = frozenset({"device_code"})


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5."""

    code, status = "authorization_pending", 400
    default_description = "The user has not yet approved or denied the request."


class SlowDown(OAuthError):
    """RFC 8628 §3.5: polled before the interval passed; the interval grew by 5 seconds."""

    code, status = "slow_down", 400
    default_description = "Poll less often: the interval was increased by 5 seconds."


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5."""

    code, status = "expired_token", 400
    default_description = "The device code has expired; start again."


class DeviceAccessDenied(OAuthError):
    """RFC 8628 §3.5 ``access_denied``: a 400 here, like the section's other errors."""

    code, status = "access_denied", 400
    default_description = "The user denied the request."


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    if not client.allows_grant(GRANT_TYPE) or deps.devices is None:
        raise UnauthorizedClient("this client may not use the device authorization grant")
    device_code = req.get("device_code")
    if device_code is None:
        raise InvalidRequest("device_code is required")
    now = deps.clock.now()
    code_hash = deps.hasher.hash(device_code)
    poll = await deps.devices.poll(code_hash, client.client_id, now)
    if poll is None:
        raise InvalidGrant("the device code is invalid")
    device = poll.device
    if device.expires_at <= now:
        raise ExpiredToken
    if poll.too_soon:
        raise SlowDown
    if device.status is DeviceStatus.PENDING:
        raise AuthorizationPending
    if device.status is DeviceStatus.DENIED:
        raise DeviceAccessDenied
    # Approved: one token response per device code, however many replicas are polled.
    if (
        device.status is not DeviceStatus.APPROVED
        or device.user_id is None
        or device.auth_time is None
        or not await deps.devices.redeem(code_hash, now)
    ):
        raise InvalidGrant("the device code was already used")
    user = await active_user(deps, device.user_id)
    grant = UserGrant(random_id("g_"), client, user, device.scopes, device.auth_time, None)
    access = await access_token_for(grant, deps, req.resources)
    refresh_value = None
    if wants_refresh_token(grant):
        refresh, refresh_value = new_refresh_token(grant, deps)
        await deps.refresh.save(refresh, deps.hasher.hash(refresh_value))
    id_token = None
    if "openid" in device.scopes:
        id_token = deps.tokens.id_token(
            client=client,
            user=user,
            scopes=frozenset(),
            nonce=None,
            auth_time=device.auth_time,
            acr=None,
            access_token=access.value,
            ttl_s=client.id_token_ttl_s or deps.settings.id_token_ttl_s,
        )
    deps.audit.issued(GRANT_TYPE)
    deps.audit.record(AuditEvent.TOKEN_ISSUED, client_id=client.client_id, user_id=user.id)
    return TokenResponse(access, now, refresh_value, id_token)
