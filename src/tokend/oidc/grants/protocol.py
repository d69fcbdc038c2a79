"""What every grant handler receives and returns; no HTTP, no SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import InvalidScope, InvalidTarget
from tokend.oidc.audit import Audit
from tokend.oidc.backchannel_logout import BackchannelLogout
from tokend.oidc.exchange_tokens import SubjectTokens
from tokend.oidc.records import Client
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.settings import OidcSettings
from tokend.oidc.stores import (
    BackchannelRequestStore,
    CodeStore,
    ConsentStore,
    DeviceCodeStore,
    GrantClaimsStore,
    RefreshStore,
    UserStore,
)
from tokend.oidc.subjects import Subjects
from tokend.oidc.tokens import IssuedToken, TokenIssuer


@dataclass(frozen=True, slots=True)
class TokenRequest:
    grant_type: str
    #: Only the parameters the grant declares; everything else was dropped.
    params: Mapping[str, str] = field(repr=False)
    #: ``resource`` (RFC 8707) and ``audience`` values, in order.
    resources: tuple[str, ...] = ()
    #: RFC 9449: the thumbprint of the key the request's DPoP proof was made with.
    dpop_jkt: str | None = None

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    @property
    def scopes(self) -> frozenset[str] | None:
        """The requested scopes, or None when ``scope`` was not sent."""
        scope = self.params.get("scope")
        return frozenset(scope.split()) if scope is not None else None


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1 successful response."""

    access_token: IssuedToken
    issued_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    #: RFC 8693 §2.2.1: the type of the token in ``access_token``, for token exchange.
    issued_token_type: str | None = None
    #: ``N_A`` when the issued token is not an access token (RFC 8693 §2.2.1).
    token_type: str = "Bearer"  # noqa: S105  (a token type)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token.value,
            # RFC 9449 §5.1: a DPoP-bound token's type is DPoP.
            "token_type": "DPoP" if self.access_token.jkt is not None else self.token_type,
            "expires_in": max(
                0, int((self.access_token.expires_at - self.issued_at).total_seconds())
            ),
            "scope": " ".join(sorted(self.access_token.scopes)),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.id_token is not None:
            body["id_token"] = self.id_token
        if self.issued_token_type is not None:
            body["issued_token_type"] = self.issued_token_type
        return body


@dataclass(frozen=True, slots=True)
class GrantDeps:
    settings: OidcSettings
    issuer: str
    clock: Clock
    hasher: SecretHasher
    cipher: FieldCipher = field(repr=False)
    tokens: TokenIssuer
    codes: CodeStore
    refresh: RefreshStore
    users: UserStore
    consents: ConsentStore
    #: Revokes a whole grant (code replay, refresh-token reuse).
    grants: GrantRevoker
    audit: Audit
    #: OIDC Core §8: the ``sub`` each client sees (public or pairwise).
    subjects: Subjects = field(default_factory=Subjects)
    #: RFC 8628 device authorizations; None: the device grant is not served.
    devices: DeviceCodeStore | None = None
    #: Reads RFC 8693 subject and actor tokens; None: token exchange is not served.
    exchange: SubjectTokens | None = None
    #: OpenID Back-Channel Logout: remembers which clients got ID tokens in which session.
    logout: BackchannelLogout | None = None
    #: CIBA authentication requests; None: the CIBA grant is not served.
    backchannel: BackchannelRequestStore | None = None
    #: The UserInfo claims a ``claims`` request asked for, kept per grant (OIDC Core §5.5).
    grant_claims: GrantClaimsStore | None = None


GrantHandler = Callable[[TokenRequest, Client, GrantDeps], Awaitable[TokenResponse]]


@dataclass(frozen=True, slots=True)
class Grant:
    grant_type: str
    parameters: frozenset[str]
    handle: GrantHandler


def narrow_scopes(requested: frozenset[str] | None, allowed: frozenset[str]) -> frozenset[str]:
    """RFC 6749 §3.3: the requested scopes if all are allowed; all allowed when none asked."""
    if requested is None:
        return allowed
    extra = requested - allowed
    if extra:
        raise InvalidScope(f"scope not allowed: {' '.join(sorted(extra))}")
    return requested


def access_ttl_s(client: Client, deps: GrantDeps) -> int:
    return client.access_token_ttl_s or deps.settings.access_token_ttl_s


def audience_for(
    client: Client, resources: tuple[str, ...], issuer: str, also: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """RFC 8707: the requested resources if the client may use them; its defaults otherwise.
    ``also``: audiences this grant adds to the defaults and allows as resources."""
    if resources:
        extra = [r for r in resources if r not in client.audiences and r not in also]
        if extra:
            raise InvalidTarget("the requested resource or audience is not allowed")
        return tuple(dict.fromkeys(resources))
    return tuple(dict.fromkeys((*(client.audiences or (issuer,)), *also)))
