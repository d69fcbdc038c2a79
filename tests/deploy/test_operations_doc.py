"""docs/operations.md: its configuration reference is generated from Settings and up to date."""

from __future__ import annotations

from tests.deploy import settings_reference
from tokend.config import Settings


def test_the_configuration_reference_matches_the_settings() -> None:
    text = settings_reference.DOC.read_text(encoding="utf-8")
    assert settings_reference.current_block(text) == settings_reference.render(), (
        "docs/operations.md is out of date: run .venv/bin/python -m tests.deploy.settings_reference"
    )


def test_the_reference_lists_every_setting_by_its_environment_name() -> None:
    rendered = settings_reference.render()
    for variable in (
        "TOKEND_SECRET_KEY",
        "TOKEND_DATABASE__URL",
        "TOKEND_REDIS__URL",
        "TOKEND_BROKER__DIRECTORY_FILE",
        "TOKEND_TELCO__CLIENTS",
        "TOKEND_OIDC__RATE_LIMITS__LOGIN_PER_IP",
    ):
        assert f"| `{variable}` |" in rendered
    # Nested blocks are expanded, never listed as one opaque variable.
    assert "| `TOKEND_DATABASE` |" not in rendered
    rows = [line for line in rendered.splitlines()[2:] if line.startswith("| `TOKEND_")]
    assert len(rows) == len(set(rows))
    assert len(rows) > len(Settings.model_fields)


def test_field_comments_are_read_from_the_settings_source() -> None:
    comments = settings_reference.field_comments(Settings)
    assert comments["previous_secret_keys"].startswith("Former secret keys")
    assert "env" not in comments  # no `#:` comment above it
