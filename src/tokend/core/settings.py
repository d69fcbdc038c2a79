"""The core block's settings: signing keys (``TOKEND_KEYS__*``) and outbound HTTP
(``TOKEND_HTTP__*``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from tokend.core.outbound import origin_of, parse_allowed

SigningAlgorithm = Literal["ES256", "RS256", "EdDSA"]


class KeysSettings(BaseModel):
    access_token_alg: SigningAlgorithm = "ES256"  # noqa: S105  (an algorithm)
    id_token_alg: SigningAlgorithm = "RS256"  # noqa: S105  (an algorithm)
    #: Clock skew accepted on exp/nbf/iat.
    leeway_s: int = Field(default=30, ge=0, le=300)
    #: Cache-Control max-age of the JWKS document.
    jwks_max_age_s: int = Field(default=300, ge=0)
    #: How often each replica re-reads the keyring to pick up rotations made elsewhere.
    refresh_interval_s: float = Field(default=30.0, gt=0)
    #: How long a retired key stays published before an hourly job removes it (tokens it
    #: signed stop verifying). Unset: the shortest safe value, the longest lifetime of any token
    #: the keyring signs (oidc, broker, telco, gateway; 86400 for a client's own lifetime) +
    #: the largest leeway + the refresh interval. A shorter value is refused.
    retired_retention_s: int | None = Field(default=None, ge=1)
    #: How long each replica caches the database's "not revoked" answer for an access token
    #: (``core.revocations``, asked by every surface that takes tokend's tokens). A revocation
    #: is seen at once all the same: it is cached as revoked where it was made and in Redis.
    #: 0: ask the database for every token that was not found revoked in the cache.
    revocation_check_ttl_s: float = Field(default=5.0, ge=0)


class HttpSettings(BaseModel):
    """What the process's one outbound HTTP client may reach (``tokend.core.http``).

    By default: https only, to public unicast addresses only, no redirects followed. Nothing is
    allowed implicitly in production; demo mode alone adds its own server's address.
    """

    #: Hosts outbound calls may reach over plain http and at any address (``keycloak``,
    #: ``kong:8001``, ``127.0.0.1``, ``[::1]:8080``), and networks whose addresses any host
    #: may resolve to (``10.20.0.0/16``; plain http then only for an address written in the
    #: URL). Empty: https to public addresses only.
    allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Let every host resolve to RFC 1918, RFC 4193 (fc00::/7) and CGNAT (100.64.0.0/10)
    #: addresses (https still required). Loopback, link-local (cloud metadata), multicast and
    #: reserved addresses stay refused unless ``allow_hosts`` names them.
    allow_private_networks: bool = False
    #: Origins (``https://host[:port]``) an OpenID discovery document may name for its
    #: endpoints besides its issuer's own origin (Google: ``https://oauth2.googleapis.com``,
    #: ``https://www.googleapis.com``).
    endpoint_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Largest response body read from an upstream; a larger one fails the call.
    max_response_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Longest a whole call may take (connect, answer, body), whatever its own timeouts say.
    max_duration_s: float = Field(default=60.0, gt=0)

    @field_validator("allow_hosts", "endpoint_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _known_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allowed(entry)  # the one parser of these entries: ValueError naming it
        return value

    @field_validator("endpoint_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [origin_of(entry, strict=True) for entry in value]
