"""``id_token_hint`` at the authorization endpoint (OIDC Core §3.1.2.1): an ID token this
provider issued, naming the user the client expects. Expired tokens are still good hints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from tokend.core.clock import Clock
from tokend.core.errors import InvalidRequest, InvalidToken
from tokend.core.jwt import KeySource, verify

#: An expired ID token still says whom the client expects (§3.1.2.1: "previously issued").
HINT_LEEWAY_S: Final = int(timedelta(days=365).total_seconds())


@dataclass(frozen=True, slots=True)
class IdTokenHints:
    keys: KeySource
    id_token_alg: str
    issuer: str
    clock: Clock

    def subject(self, hint: str, audience: str | None = None) -> str:
        """The user the hint names; InvalidRequest when it is not an ID token of ours (issued
        to ``audience``, when given: CIBA Core §7.1 takes only the client's own)."""
        try:
            claims = verify(
                hint,
                self.keys,
                algorithms=frozenset({self.id_token_alg}),
                issuer=self.issuer,
                audience=audience,
                typ="JWT",
                leeway_s=HINT_LEEWAY_S,
                clock=self.clock,
                required_claims=("sub", "aud"),
            )
        except InvalidToken:
            raise InvalidRequest("id_token_hint is not a valid ID token of this provider") from None
        if claims.subject is None:
            raise InvalidRequest("id_token_hint names no subject")
        return claims.subject
