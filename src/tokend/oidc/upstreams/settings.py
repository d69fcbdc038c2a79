"""Settings of the upstream identity providers users may sign in with (``oidc.upstreams``):
OpenID Connect providers found by discovery, and GitHub (plain OAuth 2.0 plus its REST API).

Each upstream has tokend registered as a client with the redirect URI
``{issuer}/upstream/{id}/callback`` (``upstreams.brokering.callback_path``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from tokend.oidc.authn_context import ACR_MFA, ACR_PASSWORD

#: RFC 8176 §2: the registered Authentication Method Reference values. An upstream's ``amr``
#: values are kept only when they are (or map to, ``amr_map``) one of these.
RFC8176_AMR: Final = frozenset(
    {
        "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd",
        "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
    }
)  # fmt: skip
GITHUB: Final = "https://github.com"
GITHUB_API: Final = "https://api.github.com"
UpstreamKind = Literal["oidc", "github"]


class UpstreamSettings(BaseModel):
    """One upstream identity provider."""

    #: Its name in URLs and in the links table (``[a-z0-9_-]``, at most 32 characters).
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    #: What the buttons say: "Sign in with <name>".
    name: str = Field(min_length=1, max_length=60)
    kind: UpstreamKind = "oidc"
    #: ``oidc``: the issuer, whose metadata is fetched from
    #: ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery §4).
    #: ``github``: the web origin (default ``https://github.com``; GitHub Enterprise Server's own).
    issuer: str | None = None
    #: ``github``: the REST API's base URL (``https://HOST/api/v3`` for Enterprise Server).
    api_url: str = GITHUB_API
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr
    #: RFC 6749 §2.3.1: how tokend authenticates at the upstream's token endpoint.
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = (
        "client_secret_basic"  # noqa: S105  (a method name)
    )
    #: None: ``openid email profile`` (oidc), ``read:user user:email`` (github).
    scopes: list[str] | None = None
    #: Link a first sign-in to the existing account with the same e-mail address, when the
    #: upstream says the address is verified. Off by default: only for upstreams trusted to
    #: verify addresses (an upstream that lets anyone claim any address would hand accounts
    #: over). Without it, such a user signs in with their password and links on /account/linked.
    link_by_verified_email: bool = False
    #: Accounts created at a first sign-in (no account has the address): off refuses them.
    create_accounts: bool = True
    #: The upstream's ``acr`` values and the tokend ``acr`` each counts as
    #: (``urn:tokend:acr:password`` or ``urn:tokend:acr:mfa``); unlisted ones count as the
    #: password level.
    acr_map: dict[str, str] = Field(default_factory=dict)
    #: The upstream's own ``amr`` values and the RFC 8176 §2 value each stands for; values
    #: that are RFC 8176 names already are kept as they are, others are dropped.
    amr_map: dict[str, str] = Field(default_factory=dict)
    #: RFC 8176 values of a sign-in whose upstream names no usable method.
    default_amr: list[str] = Field(default_factory=lambda: ["pwd"], min_length=1)

    @field_validator("issuer", "api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            from tokend.core.outbound import outbound_url

            outbound_url(value)  # the guarded client checks its addresses when called
        return value

    @field_validator("acr_map")
    @classmethod
    def _acr_targets(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(set(value.values()) - {ACR_PASSWORD, ACR_MFA})
        if wrong:
            raise ValueError(f"acr_map maps to {wrong}: only {ACR_PASSWORD} or {ACR_MFA}")
        return value

    @field_validator("amr_map")
    @classmethod
    def _amr_targets(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(set(value.values()) - RFC8176_AMR)
        if wrong:
            raise ValueError(f"amr_map maps to {wrong}, which are not RFC 8176 §2 values")
        return value

    @field_validator("default_amr")
    @classmethod
    def _default_amr(cls, value: list[str]) -> list[str]:
        wrong = sorted(set(value) - RFC8176_AMR)
        if wrong:
            raise ValueError(f"default_amr has {wrong}, which are not RFC 8176 §2 values")
        return value

    @model_validator(mode="after")
    def _kind(self) -> UpstreamSettings:
        if self.kind == "oidc":
            if self.issuer is None:
                raise ValueError(f"upstream {self.id}: an oidc upstream needs its issuer")
            if self.scopes is not None and "openid" not in self.scopes:
                raise ValueError(f"upstream {self.id}: scopes must include openid")
        return self

    @property
    def requested_scopes(self) -> list[str]:
        if self.scopes is not None:
            return self.scopes
        if self.kind == "oidc":
            return ["openid", "email", "profile"]
        return ["read:user", "user:email"]

    @property
    def origin(self) -> str:
        """The issuer (oidc) or the web origin (github)."""
        return self.issuer or GITHUB


def unique_upstreams(upstreams: list[UpstreamSettings]) -> list[UpstreamSettings]:
    """The list, once no two upstreams share an id."""
    ids = [u.id for u in upstreams]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ValueError(f"upstream ids must be unique: {doubled}")
    return upstreams
