"""RFC 8693 token exchange at the provider's token endpoint.

A client presents a ``subject_token`` (this provider's access or ID token, or a JWT of a
trusted external issuer) and gets a new token for it: downscoped (``scope``), for another
audience (``resource``/``audience``), as an access token, a JWT or an ID token. With an
``actor_token`` the new token names the actor in a nested ``act`` claim (delegation, §4.1);
without one it is the subject's own (impersonation), allowed only for the client's own tokens
or where the subject token's ``may_act`` names the client (§4.4). The client's
``token_exchange`` policy says whose tokens, of which types, for which audiences.

Not the vault's ``/vault/token``: that one exchanges a caller's token for a *connection's*
provider token (a third party's); this one mints the provider's own tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from tokend.core.admin_auth import ADMIN_SCOPE
from tokend.core.crypto import random_id
from tokend.core.errors import InvalidRequest, InvalidTarget, UnauthorizedClient
from tokend.oidc.admin_scope import AdminScopeRule
from tokend.oidc.audit import AuditEvent
from tokend.oidc.exchange_tokens import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    JWT_TYPE,
    PresentedToken,
)
from tokend.oidc.grants.protocol import (
    GrantDeps,
    TokenRequest,
    TokenResponse,
    access_ttl_s,
    narrow_scopes,
)
from tokend.oidc.records import Client, TokenExchangePolicy
from tokend.oidc.tokens import AccessGrant, IssuedToken

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
PARAMETERS: Final = frozenset(
    {"subject_token", "subject_token_type", "actor_token", "actor_token_type",
     "requested_token_type", "scope"}
)  # fmt: skip
ANY_CLIENT: Final = "*"


def _may_act_names(may_act: Mapping[str, object], subject: str, issuer: str) -> bool:
    # §4.4: the claims in may_act identify the party allowed to act (sub, and iss if given).
    named_issuer = may_act.get("iss")
    return may_act.get("sub") == subject and (named_issuer is None or named_issuer == issuer)


async def _allowed_scopes(
    subject: PresentedToken, client: Client, deps: GrantDeps
) -> frozenset[str]:
    """RFC 8693 §2.1 ``scope``: what the subject holds and the client may have, but
    ``tokend:admin`` only where this provider would grant it (``oidc.admin_scope``): a client's
    own token of this issuer, or a local user who may hold it at this client. Another issuer's
    token claiming it makes nobody an administrator here."""
    allowed = subject.scopes & client.scopes
    if ADMIN_SCOPE not in allowed or subject.issuer != deps.issuer:
        return allowed - {ADMIN_SCOPE}
    if subject.user_id is None:
        return allowed
    user = await deps.users.by_id(subject.user_id)
    rule = AdminScopeRule(deps.settings.admin_scope_role)
    if user is not None and rule.allows(user, client.client_id):
        return allowed
    return allowed - {ADMIN_SCOPE}


def _whose(token: PresentedToken, client: Client, policy: TokenExchangePolicy) -> None:
    owner = token.client_id or token.issuer
    if owner == client.client_id or ANY_CLIENT in policy.subject_clients:
        return
    if owner not in policy.subject_clients:
        raise InvalidRequest("this client may not exchange tokens issued to another party")


def _act(
    subject: PresentedToken, actor: PresentedToken | None, client: Client, issuer: str
) -> Mapping[str, object] | None:
    if actor is None:
        # Impersonation: the new token is the subject's own, so only for the client's own
        # tokens, or where the subject token names the client in may_act (§4.4).
        own = subject.client_id == client.client_id
        named = subject.may_act is not None and _may_act_names(
            subject.may_act, client.client_id, issuer
        )
        if not (own or named):
            raise InvalidRequest(
                "impersonation is allowed only where the subject token's may_act names this "
                "client; send an actor_token for delegation"
            )
        return subject.act
    if subject.may_act is not None and not _may_act_names(
        subject.may_act, actor.subject, actor.issuer
    ):
        raise InvalidRequest("the subject token's may_act does not name this actor")
    # §4.1: the current actor outermost, the earlier ones nested inside.
    act: dict[str, object] = {"sub": actor.subject}
    if actor.issuer != issuer:
        act["iss"] = actor.issuer
    if subject.act is not None:
        act["act"] = dict(subject.act)
    return act


def _audience(
    client: Client, policy: TokenExchangePolicy, req: TokenRequest, issuer: str
) -> tuple[str, ...]:
    allowed = policy.audiences or client.audiences
    if req.resources:
        # §2.2.2: invalid_target when a requested audience is not one it may have.
        if any(r not in allowed for r in req.resources):
            raise InvalidTarget("the requested resource or audience is not allowed")
        return tuple(dict.fromkeys(req.resources))
    return tuple(allowed) or (issuer,)


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    policy = client.token_exchange
    if not client.allows_grant(GRANT_TYPE) or policy is None or deps.exchange is None:
        raise UnauthorizedClient("this client may not use token exchange")
    subject_token, subject_type = req.get("subject_token"), req.get("subject_token_type")
    if subject_token is None or subject_type is None:
        raise InvalidRequest("subject_token and subject_token_type are required")
    if subject_type not in policy.subject_token_types:
        raise InvalidRequest("this client may not exchange tokens of that type")
    actor_token, actor_type = req.get("actor_token"), req.get("actor_token_type")
    if (actor_token is None) != (actor_type is None):
        # §2.1: actor_token_type is required with actor_token, and only with it.
        raise InvalidRequest("send actor_token and actor_token_type together")
    subject = await deps.exchange.read(subject_token, subject_type)
    _whose(subject, client, policy)
    actor = (
        await deps.exchange.read(actor_token, actor_type) if actor_token and actor_type else None
    )
    act = _act(subject, actor, client, deps.issuer)
    scopes = narrow_scopes(req.scopes, await _allowed_scopes(subject, client, deps))
    audience = _audience(client, policy, req, deps.issuer)
    requested = req.get("requested_token_type") or ACCESS_TOKEN_TYPE
    now = deps.clock.now()
    ttl_s = access_ttl_s(client, deps)
    if subject.expires_at is not None:
        # The new token never outlives the one it was exchanged for.
        ttl_s = max(1, min(ttl_s, int((subject.expires_at - now).total_seconds())))
    if requested in (ACCESS_TOKEN_TYPE, JWT_TYPE):
        # Always a JWT: the act claim travels in it (an opaque token has nowhere to keep it).
        token = await deps.tokens.jwt.issue(
            AccessGrant(
                client_id=client.client_id,
                subject=subject.subject,
                user_id=subject.user_id,
                scopes=scopes,
                audience=audience,
                ttl_s=ttl_s,
                # The subject's grant: revoking it revokes what was exchanged for it too.
                grant_id=subject.grant_id,
                auth_time=subject.auth_time,
                act=act,
            )
        )
        token_type = "Bearer"  # noqa: S105  (a token type)
    elif requested == ID_TOKEN_TYPE:
        token, token_type = await _id_token(subject, client, deps, scopes, ttl_s), "N_A"
    else:
        raise InvalidRequest("requested_token_type is not supported")
    deps.audit.issued(GRANT_TYPE)
    deps.audit.record(AuditEvent.TOKEN_ISSUED, client_id=client.client_id, user_id=subject.user_id)
    return TokenResponse(token, now, issued_token_type=requested, token_type=token_type)


async def _id_token(
    subject: PresentedToken, client: Client, deps: GrantDeps, scopes: frozenset[str], ttl_s: int
) -> IssuedToken:
    """An ID token for the requesting client about the subject, a user of this provider."""
    user = await deps.users.by_id(subject.user_id) if subject.user_id else None
    if user is None or user.disabled or subject.auth_time is None:
        raise InvalidRequest("an ID token needs a subject token of an active, signed-in user")
    value = deps.tokens.id_token(
        client=client,
        user=user,
        scopes=scopes,
        nonce=None,
        auth_time=subject.auth_time,
        acr=None,
        access_token=None,
        ttl_s=ttl_s,
    )
    return IssuedToken(value, random_id(), deps.clock.now() + timedelta(seconds=ttl_s), scopes)
