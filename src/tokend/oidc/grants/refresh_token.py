"""RFC 6749 §6 refresh with rotation on every use and reuse detection (RFC 9700 §4.14.2),
and a new ID token when the grant holds ``openid`` (OIDC Core §12.2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Final

from tokend.core.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from tokend.oidc.audit import AuditEvent
from tokend.oidc.grants.protocol import (
    GrantDeps,
    TokenRequest,
    TokenResponse,
    audience_for,
    narrow_scopes,
)
from tokend.oidc.grants.user_tokens import (
    UserGrant,
    access_token_for,
    active,
    claims_until,
    new_refresh_token,
)
from tokend.oidc.records import Client, RefreshInGrant, RefreshToken, Rotation
from tokend.oidc.role_claims import role_claims
from tokend.oidc.tokens import IssuedToken

GRANT_TYPE: Final = "refresh_token"
PARAMETERS: Final = frozenset({"refresh_token", "scope"})


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    if not client.allows_grant(GRANT_TYPE):
        raise UnauthorizedClient("this client may not use refresh_token")
    value = req.get("refresh_token")
    if value is None:
        raise InvalidRequest("refresh_token is required")
    # RFC 8707 §2.2: a refresh may ask for a token for fewer resources (downscoping), never
    # for one the client may not reach; checked before the token is rotated.
    audience_for(client, req.resources, deps.issuer)
    now = deps.clock.now()
    # One read: the token, its user, the user's consent and the grant's kept claims.
    found = await deps.refresh.find_in_grant(deps.hasher.hash(value))
    # RFC 6749 §6: bound to the client it was issued to.
    if found is None or found.token.client_id != client.client_id:
        raise InvalidGrant("the refresh token is invalid")
    old = found.token
    if old.revoked_at is not None or old.expires_at <= now:
        raise InvalidGrant("the refresh token is expired or revoked")
    # RFC 9449 §5: a refresh token bound to a DPoP key is used with a proof of that key.
    if old.dpop_jkt is not None and req.dpop_jkt != old.dpop_jkt:
        raise InvalidGrant("the refresh token is bound to another DPoP key")
    held = _still_allowed(found, client)
    # RFC 6749 §6: the new scope must not exceed what the grant holds.
    scopes = narrow_scopes(req.scopes, held)
    user = active(found.user)
    grant = UserGrant(
        old.grant_id,
        client,
        user,
        scopes,
        old.auth_time,
        old.acr,
        old.dpop_jkt or req.dpop_jkt,
        amr=old.amr,
        sid=old.sid,
    )
    successor, successor_value = new_refresh_token(grant, deps)
    # The successor keeps the family's scope (as still allowed), so a narrower request now
    # does not shrink what later refreshes may ask for.
    successor = replace(successor, scopes=held)
    grace = client.refresh_grace(deps.settings.refresh_grace_s)
    # The successor is kept (encrypted) only for a client with a grace period to answer from.
    sealed = (
        deps.cipher.encrypt_text(successor_value, aad=f"oidc-refresh/{old.id}")
        if grace > timedelta(0)
        else None
    )
    # An opaque access token is written before the rotation commits, and the grant's
    # UserInfo claims (OIDC Core §5.5) are kept as long as its newest tokens in the rotation's
    # own transaction. After it, the client holds only the successor: a failure then (a 503 as
    # the database goes away) would make the client retry the rotated token, which is reuse
    # and revokes the whole grant (RFC 9700 §4.14.2).
    access = await access_token_for(grant, deps, req.resources)
    until = claims_until(access, successor)
    # No statement for a grant that keeps no claims, or keeps them long enough already.
    extend = found.claims_until is not None and found.claims_until < until
    rotation = await deps.refresh.rotate(
        old,
        successor,
        deps.hasher.hash(successor_value),
        sealed,
        now,
        until if extend else None,
    )
    if not rotation.won:
        successor_value = await _reused(old, rotation, grace, deps)
    id_token = _id_token(grant, access, deps) if "openid" in scopes else None
    deps.audit.issued(GRANT_TYPE)
    deps.audit.record(AuditEvent.TOKEN_REFRESHED, client_id=client.client_id, user_id=user.id)
    return TokenResponse(access, now, successor_value, id_token)


def _still_allowed(found: RefreshInGrant, client: Client) -> frozenset[str]:
    """The family's scopes that the client may still ask for and the user still allows.

    A scope removed from the client, or a consent no longer remembered, is gone from the next
    refresh of families issued before, not only from new authorizations (RFC 6749 §6: never
    more than the grant holds; RFC 9700 §4.14: refresh tokens bound to the authorization).
    A client that skips consent has none remembered; its registration alone decides.
    """
    held = found.token.scopes & client.scopes
    if not client.skip_consent:
        held &= found.consented
    # OIDC Core §11: offline access is what the refresh token stands for.
    if "offline_access" not in held:
        raise InvalidGrant("the grant no longer allows offline access")
    return held


def _id_token(grant: UserGrant, access: IssuedToken, deps: GrantDeps) -> str:
    """OIDC Core §12.2: a fresh ID token for the same authentication.

    ``iss`` and ``sub`` are the original's, ``auth_time``, ``acr`` and ``amr`` those of the
    original authentication and ``sid`` its browser session (kept with the refresh-token
    family: OpenID Back-Channel Logout §2.1, a relying party matches the logout token's
    ``sid`` against the ID tokens it holds), ``iat`` is new; no ``nonce``, which belongs to an
    authentication request and there is none here.
    """
    return deps.tokens.id_token(
        client=grant.client,
        user=grant.user,
        scopes=frozenset(),  # claims go to userinfo, as in the code exchange (OIDC Core §5.4)
        nonce=None,
        auth_time=grant.auth_time,
        acr=grant.acr,
        access_token=access.value,
        ttl_s=grant.client.id_token_ttl_s or deps.settings.id_token_ttl_s,
        subject=deps.subjects.of(grant.client, grant.user.id),
        # The user's roles as they are now: a refresh carries the current ones.
        role_claims=role_claims(grant.user, grant.client, grant.scopes),
        amr=grant.amr,
        sid=grant.sid,
    )


async def _reused(old: RefreshToken, rotation: Rotation, grace: timedelta, deps: GrantDeps) -> str:
    """A token that was rotated already: by default it leaked, and the whole family is
    revoked; a confidential client that opted into a grace period gets the same successor
    within it (two of its own requests raced)."""
    now = deps.clock.now()
    if (
        grace > timedelta(0)
        and rotation.rotated_at is not None
        and rotation.successor_enc is not None
        and now - rotation.rotated_at <= grace
    ):
        return deps.cipher.decrypt_text(rotation.successor_enc, aad=f"oidc-refresh/{old.id}")
    # RFC 9700 §4.14.2: a rotated refresh token was reused, so it leaked; revoke the grant.
    await deps.grants.revoke(old.grant_id)
    deps.audit.record(
        AuditEvent.REFRESH_REUSE_DETECTED, client_id=old.client_id, user_id=old.user_id
    )
    raise InvalidGrant("the refresh token was already used")
