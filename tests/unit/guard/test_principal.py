"""Claim mapping for tokend's, Keycloak's and other issuers' tokens."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokend.guard.principal import principal_from_claims

ISSUER = "https://kc.test/realms/demo"


def test_tokend_rfc9068_claims() -> None:
    p = principal_from_claims(
        {
            "sub": "svc",
            "client_id": "orders",
            "scope": "a b",
            "roles": ["admin"],
            "exp": 10,
            "groups": ["/ops"],
        },
        issuer=ISSUER,
    )
    assert (p.subject, p.client, p.scopes, p.roles, p.groups) == (
        "svc",
        "orders",
        frozenset({"a", "b"}),
        frozenset({"admin"}),
        ("/ops",),
    )
    assert p.expires_at is not None
    assert p.expires_at.timestamp() == 10


def test_keycloak_claims_with_role_clients() -> None:
    claims = {
        "sub": "u1",
        "azp": "web",
        "preferred_username": "alice",
        "email": "a@x.test",
        "name": "Alice",
        "realm_access": {"roles": ["user"]},
        "resource_access": {"web": {"roles": ["editor"]}, "other": {"roles": ["boss"]}},
    }
    p = principal_from_claims(claims, issuer=ISSUER, role_clients=("web",))
    assert p.roles == {"user", "editor"}
    assert p.client_roles == {"web": {"editor"}, "other": {"boss"}}
    assert (p.username, p.email, p.name, p.client) == ("alice", "a@x.test", "Alice", "web")
    assert p.has_roles(["boss"], client="other")
    assert not p.has_roles(["boss"])
    assert p.has_roles(["user", "editor"], mode="all")
    assert not p.has_roles(["user", "boss"], mode="all")
    assert p.has_roles([])


@pytest.mark.parametrize(
    "claims",
    [
        {"realm_access": ["admin"]},
        {"realm_access": {"roles": "admin"}},
        {"realm_access": {"roles": [1, None, {"x": "admin"}]}},
        {"resource_access": {"web": "admin"}},
        {"roles": "admin", "scope": ["admin"], "exp": "soon", "azp": 5},
        {"exp": True},
        {"exp": 1e300},
    ],
)
def test_ill_typed_claims_grant_nothing(claims: dict[str, Any]) -> None:
    p = principal_from_claims({"sub": "u1", **claims}, issuer=ISSUER, role_clients=("web",))
    assert p.roles == frozenset()
    assert p.scopes == frozenset()
    assert p.client is None
    assert p.expires_at is None


def test_principal_is_read_only_and_maps_each_view_once() -> None:
    claims = {"sub": "u1", "realm_access": {"roles": ["user"]}, "scope": "a"}
    p = principal_from_claims(claims, issuer=ISSUER)
    # A view read before and one never read: neither can be replaced.
    assert p.roles == {"user"}
    for name in ("roles", "scopes", "subject"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(p, name, frozenset({"admin"}))
    assert p.roles is p.roles
    assert p.roles == {"user"}
    assert p.scopes == {"a"}
    assert p.subject == "u1"
    with pytest.raises(TypeError, match="does not support item assignment"):
        # The Mapping type already forbids this; the test proves run time does too.
        p.client_roles["web"] = frozenset({"admin"})  # type: ignore[index]
    assert repr(p) == f"Principal(subject='u1', issuer={ISSUER!r}, via='bearer')"
