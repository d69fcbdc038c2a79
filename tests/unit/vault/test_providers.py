"""The providers catalog: presets load, overrides merge, bad entries are all listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokend.vault.providers import CatalogError, load_catalog, parse_entries


def test_built_in_catalog_has_the_presets() -> None:
    catalog = load_catalog()
    assert catalog.names[:1] == ("google",)
    assert set(catalog.names) >= {"google", "microsoft", "github", "salesforce", "oidc"}


def test_google_business_profile_preset() -> None:
    google = load_catalog().get("google")
    assert google is not None
    assert google.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.revocation_url == "https://oauth2.googleapis.com/revoke"
    assert google.default_scopes == ("https://www.googleapis.com/auth/business.manage",)
    assert google.authorize_params["access_type"] == "offline"
    assert google.authorize_params["prompt"] == "consent"
    assert google.supports_pkce is True


def test_oidc_preset_uses_discovery() -> None:
    oidc = load_catalog().get("oidc")
    assert oidc is not None
    assert oidc.uses_discovery is True
    assert oidc.token_url is None


def test_override_file_adds_and_replaces_entries(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(
        """
acme:
  display_name: Acme
  authorization_url: https://id.acme.example/authorize
  token_url: https://id.acme.example/token
github:
  display_name: GitHub Enterprise
  authorization_url: https://github.acme.example/login/oauth/authorize
  token_url: https://github.acme.example/login/oauth/access_token
""",
        encoding="utf-8",
    )
    catalog = load_catalog(path)
    acme = catalog.get("acme")
    github = catalog.get("github")
    assert acme is not None
    assert acme.token_auth_method == "client_secret_post"
    assert github is not None
    assert github.display_name == "GitHub Enterprise"
    assert catalog.get("google") is not None


def test_every_problem_is_listed() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_entries(
            {
                "Bad Name": {"display_name": "x"},
                "plain-http": {
                    "display_name": "x",
                    "authorization_url": "http://id.example/authorize",
                    "token_url": "https://id.example/token",
                },
                "no-endpoints": {"display_name": "x"},
                "reserved": {
                    "display_name": "x",
                    "discovery": True,
                    "authorize_params": {"state": "fixed"},
                },
                "typo": {"display_name": "x", "discovery": True, "tokn_url": "https://a.example"},
            }
        )
    message = str(caught.value)
    for name in ("'Bad Name'", "plain-http", "no-endpoints", "reserved", "typo"):
        assert name in message


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="mapping"):
        load_catalog(bad)
