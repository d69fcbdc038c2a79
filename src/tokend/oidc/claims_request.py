"""The ``claims`` authorization request parameter (OIDC Core §5.5).

Parsed into what the provider acts on: the claims asked for in the ID token (released there
when a granted scope covers them: the parameter moves claims, never widens consent), the
claims asked for at the UserInfo endpoint (released there beyond the scopes, once the user
consented to them: ``Interaction.consent_scopes``), and the ``acr`` values asked for as
essential (§5.5.1.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from tokend.core.errors import InvalidRequest
from tokend.oidc.records import CLAIM_SCOPE

MAX_CLAIMS_LENGTH: Final = 4000
MAX_MEMBERS: Final = 50


@dataclass(frozen=True, slots=True)
class ClaimsRequest:
    #: Standard claims asked for in the ID token (§5.5: ``id_token`` member).
    id_token: tuple[str, ...] = ()
    #: Standard claims asked for at the UserInfo endpoint (§5.5: ``userinfo`` member). Null,
    #: ``essential``, ``value`` and ``values`` all ask for the claim (§5.5.1): the user's own
    #: value is returned, never the one asked for.
    userinfo: tuple[str, ...] = ()
    #: §5.5.1.1: ``acr`` requested as essential with these values; the sign-in must meet one.
    essential_acr: tuple[str, ...] = ()


def parse_claims(raw: str | None) -> ClaimsRequest:
    """The request's ``claims`` parameter; InvalidRequest when it is not the §5.5 shape."""
    if raw is None:
        return ClaimsRequest()
    if len(raw) > MAX_CLAIMS_LENGTH:
        raise InvalidRequest("claims is too long")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("claims is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("claims must be a JSON object")
    id_token = _member(value, "id_token")
    userinfo = _member(value, "userinfo")
    # §5.5: claims the provider does not know are ignored, not an error.
    return ClaimsRequest(
        id_token=_standard(id_token),
        userinfo=_standard(userinfo),
        essential_acr=_essential_acr(id_token.get("acr")),
    )


def _standard(member: dict[str, object]) -> tuple[str, ...]:
    return tuple(sorted(name for name in member if name in CLAIM_SCOPE))


def _member(value: dict[str, object], name: str) -> dict[str, object]:
    member = value.get(name)
    if member is None:
        return {}
    if not isinstance(member, dict) or len(member) > MAX_MEMBERS:
        raise InvalidRequest(f"claims.{name} must be a JSON object of claims")
    for claim, request in member.items():
        # §5.5.1: each claim is null or an object with essential/value/values.
        if request is not None and not isinstance(request, dict):
            raise InvalidRequest(f"claims.{name}.{claim[:40]} must be null or an object")
    return member


def claim_scopes(names: tuple[str, ...]) -> frozenset[str]:
    """The scopes whose consent covers releasing ``names`` (OIDC Core §5.4)."""
    return frozenset(CLAIM_SCOPE[name] for name in names if name in CLAIM_SCOPE)


def _essential_acr(request: object) -> tuple[str, ...]:
    if not isinstance(request, dict) or request.get("essential") is not True:
        return ()
    values = request.get("values")
    if "value" in request:
        values = [request["value"]]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return ()
    return tuple(values)
