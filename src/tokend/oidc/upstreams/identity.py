"""What an upstream says about the user once the callback checked out, and the small interface
each upstream kind implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class UpstreamFailed(Exception):
    """The upstream could not sign the user in: unreachable, refused the code, or answered
    something that does not verify. ``shown`` is the page's text (no secret, no upstream
    answer); ``internal`` goes to logs only."""

    def __init__(self, shown: str, *, internal: str = "") -> None:
        super().__init__(internal or shown)
        self.shown = shown
        self.internal = internal


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """The upstream account that signed in."""

    upstream_id: str
    #: The upstream's stable identifier of the account (OIDC ``sub``, GitHub's numeric id).
    subject: str
    email: str | None = None
    #: Only what the upstream asserted: OIDC ``email_verified`` true, GitHub's verified flag.
    email_verified: bool = False
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    picture: str | None = None
    locale: str | None = None
    #: The upstream's own ``acr`` and ``amr`` (OIDC Core §2), unmapped.
    acr: str | None = None
    amr: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What goes into the redirect to the upstream's authorization endpoint."""

    redirect_uri: str
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    #: RFC 7636 §4.2: the S256 challenge of the verifier kept with the state.
    code_challenge: str


class Upstream(Protocol):
    """One upstream kind's two steps of the authorization code flow."""

    async def authorization_url(self, start: AuthorizationStart) -> str:
        """Where to send the browser (RFC 6749 §4.1.1). Raises UpstreamFailed."""
        ...

    async def identity(
        self, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> UpstreamIdentity:
        """The account behind ``code``, once checked (RFC 6749 §4.1.3 and the kind's own
        checks). Raises UpstreamFailed."""
        ...
