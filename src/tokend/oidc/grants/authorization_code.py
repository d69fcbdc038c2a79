"""RFC 6749 §4.1.3 authorization code exchange, with PKCE (RFC 7636) and OIDC ID tokens."""

from __future__ import annotations

from typing import Final

from tokend.core.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from tokend.core.pkce import verifier_matches
from tokend.oidc.audit import AuditEvent
from tokend.oidc.grants.protocol import GrantDeps, TokenRequest, TokenResponse, audience_for
from tokend.oidc.grants.user_tokens import (
    UserGrant,
    access_token_for,
    active_user,
    keep_grant_claims,
    new_refresh_token,
    wants_refresh_token,
)
from tokend.oidc.records import CLAIM_SCOPE, Client, User
from tokend.oidc.role_claims import role_claims

GRANT_TYPE: Final = "authorization_code"
PARAMETERS: Final = frozenset({"code", "redirect_uri", "code_verifier"})


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    if not client.allows_grant(GRANT_TYPE):
        raise UnauthorizedClient("this client may not use authorization_code")
    code_value = req.get("code")
    if code_value is None:
        raise InvalidRequest("code is required")
    # RFC 8707 §2.2: the resources the access token is for, checked before the code is used.
    audience_for(client, req.resources, deps.issuer)
    now = deps.clock.now()
    # RFC 6749 §4.1.3: a code presented by another client than its own is invalid_grant, and
    # the store leaves it untouched: a thief cannot burn it, nor make its redemption a replay.
    consumed = await deps.codes.consume(deps.hasher.hash(code_value), client.client_id, now)
    if consumed is None:
        raise InvalidGrant("the authorization code is invalid")
    code = consumed.code
    if consumed.was_used:
        # RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code revokes what it issued.
        await deps.grants.revoke(code.grant_id)
        deps.audit.record(
            AuditEvent.CODE_REPLAY_DETECTED, client_id=client.client_id, user_id=code.user_id
        )
        raise InvalidGrant("the authorization code was already used")
    if code.expires_at <= now:
        raise InvalidGrant("the authorization code has expired")
    # RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request.
    if req.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    verifier = req.get("code_verifier")
    if code.code_challenge is not None:
        if verifier is None:
            raise InvalidGrant("code_verifier is required")
        method = code.code_challenge_method or "plain"
        if not verifier_matches(verifier, code.code_challenge, method):
            raise InvalidGrant("code_verifier does not match the code_challenge")
    elif verifier is not None:
        # RFC 9700 §4.8.2: a verifier without a challenge signals a downgrade attack.
        raise InvalidGrant("code_verifier sent but no code_challenge was used")
    # RFC 9449 §10.1: a code bound to a DPoP key (dpop_jkt) is redeemed with a proof of it.
    if code.dpop_jkt is not None and req.dpop_jkt != code.dpop_jkt:
        raise InvalidGrant("the authorization code is bound to another DPoP key")
    user = await active_user(deps, code.user_id)
    grant = UserGrant(
        code.grant_id,
        client,
        user,
        code.scopes,
        code.auth_time,
        code.acr,
        req.dpop_jkt,
        amr=code.amr,
        sid=code.sid,
    )
    # RFC 8707 §2.2: resource at the token request narrows the token's audience.
    access = await access_token_for(grant, deps, req.resources)
    refresh, refresh_value = None, None
    if wants_refresh_token(grant):
        refresh, refresh_value = new_refresh_token(grant, deps)
        await deps.refresh.save(refresh, deps.hasher.hash(refresh_value))
    await keep_grant_claims(grant, deps, access, refresh)
    id_token = None
    if "openid" in code.scopes:
        id_token = deps.tokens.id_token(
            client=client,
            user=user,
            scopes=frozenset(),  # claims go to userinfo (OIDC Core §5.4)
            nonce=code.nonce,
            auth_time=code.auth_time,
            acr=code.acr,
            access_token=access.value,
            ttl_s=client.id_token_ttl_s or deps.settings.id_token_ttl_s,
            requested=requested_claims(user, code.id_token_claims, code.scopes),
            subject=deps.subjects.of(client, user.id),
            role_claims=role_claims(user, client, code.scopes),
            amr=code.amr,
            sid=code.sid,
        )
        if deps.logout is not None and client.backchannel_logout_uri is not None:
            await deps.logout.remember(code.sid, client.client_id, user.id)
    deps.audit.issued(GRANT_TYPE)
    deps.audit.record(AuditEvent.TOKEN_ISSUED, client_id=client.client_id, user_id=user.id)
    return TokenResponse(access, now, refresh_value, id_token)


def requested_claims(
    user: User, names: tuple[str, ...], scopes: frozenset[str]
) -> dict[str, object]:
    """OIDC Core §5.5: the claims a ``claims`` request asked for in the ID token, each only
    when a granted scope releases it (the parameter moves claims, consent still decides)."""
    found = {name: user.claim(name) for name in names if CLAIM_SCOPE.get(name) in scopes}
    return {name: value for name, value in found.items() if value is not None}
