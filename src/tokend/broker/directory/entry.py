"""One directory entry: where a prefix's operator is and how the broker authenticates to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

AdapterName = Literal["seed", "oauth2"]
#: ``telco_auth``: the seed's form field holding ``{client_id, client_secret}`` JSON.
AuthMethod = Literal["telco_auth", "client_secret_basic", "client_secret_post", "private_key_jwt"]
#: ``jwt_bearer``: RFC 7523 §2.1 assertion grant with the phone number as subject. Only
#: ``authorization_code`` lets the operator check the subscriber (see TelcoEntry.checks_subscriber).
GrantType = Literal["authorization_code", "client_credentials", "jwt_bearer"]

ADAPTER_NAMES: Final[tuple[str, ...]] = get_args(AdapterName)
AUTH_METHODS: Final[tuple[str, ...]] = get_args(AuthMethod)
GRANT_TYPES: Final[tuple[str, ...]] = get_args(GrantType)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret and the way the file wrote it: a literal or a ``${ENV_VAR}`` reference."""

    value: str = field(repr=False)
    #: Written back to the file as-is, so a reference stays a reference.
    source: str = field(repr=False)

    @property
    def env_name(self) -> str | None:
        if self.source.startswith("${") and self.source.endswith("}"):
            return self.source[2:-1]
        return None


@dataclass(frozen=True, slots=True)
class TelcoEntry:
    prefix: str
    operator_id: str
    base_url: str
    client_id: str
    client_secret: Secret | None
    adapter: AdapterName = "seed"
    token_url: str = ""
    auth_method: AuthMethod = "telco_auth"
    grant_type: GrantType = "authorization_code"
    scopes: tuple[str, ...] = ()
    timeout_s: float | None = None
    enabled: bool = True
    name: str | None = None
    #: PEM private key (or ``${ENV}``) for ``private_key_jwt`` / RFC 7523 assertions.
    private_key: Secret | None = None
    redirect_uri: str | None = None
    #: The optional fields the file or admin call set; only these are written back.
    declared: frozenset[str] = frozenset()

    @property
    def checks_subscriber(self) -> bool:
        """Whether the operator sees the subscriber's code, which is what proves the subscriber.

        Seed 000: "Telco service validates authorization code", and the broker token's ``sub``
        is the number that code was issued for. ``client_credentials`` (RFC 6749 §4.4) sends no
        code and ``jwt_bearer`` (RFC 7523 §2.1) has the broker assert the number itself: the
        operator then authenticates only the broker, so the broker would mint a subscriber
        token for any number anyone asks for. Such entries are refused.
        """
        return self.grant_type == "authorization_code"
