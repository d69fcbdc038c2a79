"""CIBA Core §10.1 / §11: the token request of the CIBA grant. In poll mode the client polls
until the user decided or the request expired; in ping mode it asks once it was pinged
(§10.2). Either way one token response per ``auth_req_id``."""

from __future__ import annotations

from typing import Final

from tokend.core.crypto import random_id
from tokend.core.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from tokend.oidc.audit import AuditEvent
from tokend.oidc.authn_context import acr_of
from tokend.oidc.grants.device_code import (  # CIBA Core §11: RFC 8628 §3.5's errors
    AuthorizationPending,
    DeviceAccessDenied,
    ExpiredToken,
    SlowDown,
)
from tokend.oidc.grants.protocol import GrantDeps, TokenRequest, TokenResponse
from tokend.oidc.grants.user_tokens import (
    UserGrant,
    access_token_for,
    active_user,
    new_refresh_token,
    wants_refresh_token,
)
from tokend.oidc.records import BackchannelStatus, Client

GRANT_TYPE: Final = "urn:openid:params:grant-type:ciba"
PARAMETERS: Final = frozenset({"auth_req_id"})


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    if not client.allows_grant(GRANT_TYPE) or client.is_public or deps.backchannel is None:
        raise UnauthorizedClient("this client may not use CIBA")
    auth_req_id = req.get("auth_req_id")
    if auth_req_id is None:
        raise InvalidRequest("auth_req_id is required")
    now = deps.clock.now()
    id_hash = deps.hasher.hash(auth_req_id)
    poll = await deps.backchannel.poll(id_hash, client.client_id, now)
    if poll is None:
        # §11: unknown, or another client's: invalid_grant.
        raise InvalidGrant("the auth_req_id is invalid")
    request = poll.request
    if request.status is BackchannelStatus.REDEEMED:
        raise InvalidGrant("the auth_req_id was already used")
    if request.expires_at <= now:
        raise ExpiredToken("The authentication request has expired; start a new one.")
    if poll.too_soon:
        raise SlowDown
    if request.status is BackchannelStatus.PENDING:
        raise AuthorizationPending
    if request.status is BackchannelStatus.DENIED:
        raise DeviceAccessDenied
    # Approved: one token response per auth_req_id, however many replicas are polled.
    if request.auth_time is None or not await deps.backchannel.redeem(id_hash, now):
        raise InvalidGrant("the auth_req_id was already used")
    user = await active_user(deps, request.user_id)
    grant = UserGrant(
        random_id("g_"),
        client,
        user,
        request.scopes,
        request.auth_time,
        acr_of(request.amr) if request.amr else None,
        req.dpop_jkt,
        amr=request.amr,
    )
    access = await access_token_for(grant, deps, req.resources)
    refresh_value = None
    if wants_refresh_token(grant):
        refresh, refresh_value = new_refresh_token(grant, deps)
        await deps.refresh.save(refresh, deps.hasher.hash(refresh_value))
    # §10.1.1: an ID token always (scope has openid, §7.1).
    id_token = deps.tokens.id_token(
        client=client,
        user=user,
        scopes=frozenset(),  # claims go to userinfo (OIDC Core §5.4)
        nonce=None,
        auth_time=request.auth_time,
        acr=grant.acr,
        access_token=access.value,
        ttl_s=client.id_token_ttl_s or deps.settings.id_token_ttl_s,
        subject=deps.subjects.of(client, user.id),
        amr=request.amr,
    )
    deps.audit.issued(GRANT_TYPE)
    deps.audit.record(AuditEvent.TOKEN_ISSUED, client_id=client.client_id, user_id=user.id)
    return TokenResponse(access, now, refresh_value, id_token)
