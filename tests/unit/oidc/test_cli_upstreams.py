"""``tokend upstreams`` against a real database and a fake upstream on loopback: the admin
API's catalog and checks, fields from a file, never a secret printed, the settings' upstreams
read-only."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api.oidc.upstream_fakes import CLIENT_ID, CLIENT_SECRET, FakeUpstream
from tests.secrets_seen import SecretsSeen
from tests.upstreams import LOOPBACK_ALLOW_HOSTS
from tokend.cli.main import app
from tokend.store.settings import DatabaseSettings


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream().running() as upstream:
        yield upstream


@pytest.fixture
def env(
    database_settings: DatabaseSettings, fake: FakeUpstream, secrets_seen: SecretsSeen
) -> dict[str, str]:
    secrets_seen.add(CLIENT_SECRET)
    settings_upstream = {"id": "from-settings", "name": "Settings ID", "issuer": fake.issuer,
                         "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}  # fmt: skip
    values = {
        "TOKEND_DATABASE__URL": database_settings.url,
        "TOKEND_HTTP__ALLOW_HOSTS": LOOPBACK_ALLOW_HOSTS,
        "TOKEND_OIDC__UPSTREAMS": json.dumps([settings_upstream]),
    }
    if database_settings.schema_name:
        values["TOKEND_DATABASE__SCHEMA_NAME"] = database_settings.schema_name
    return values


def upstream_file(tmp_path: Path, fields: Mapping[str, object]) -> str:
    path = tmp_path / f"{secrets.token_hex(4)}.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()))
    return str(path)


def test_an_upstream_is_added_shown_changed_and_deleted_without_printing_its_secret(
    env: dict[str, str], fake: FakeUpstream, tmp_path: Path
) -> None:
    runner = CliRunner()
    upstream_id = "cli-" + secrets.token_hex(4)
    spec = {"id": upstream_id, "name": "CLI ID", "issuer": fake.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET}  # fmt: skip
    added = runner.invoke(app, ["upstreams", "add", upstream_file(tmp_path, spec)], env=env)
    assert added.exit_code == 0, added.output
    assert "source                  admin" in added.stdout
    shown = json.loads(
        runner.invoke(app, ["upstreams", "show", upstream_id, "--json"], env=env).stdout
    )
    assert shown["source"] == "admin"
    assert shown["redirect_uri"].endswith(f"/upstream/{upstream_id}/callback")
    listed = runner.invoke(app, ["upstreams", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "from-settings  oidc   settings Settings ID" in listed.stdout
    assert f"{upstream_id}  oidc   admin    CLI ID" in listed.stdout
    changed = runner.invoke(
        app, ["upstreams", "update", upstream_id, upstream_file(tmp_path, {"name": "Renamed"})],
        env=env,
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert "Renamed" in runner.invoke(app, ["upstreams", "show", upstream_id], env=env).stdout
    for result in (added, listed, changed):
        assert CLIENT_SECRET not in result.output
    deleted = runner.invoke(app, ["upstreams", "delete", upstream_id], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert f"deleted {upstream_id} and 0 links to it\n" in deleted.stdout
    assert runner.invoke(app, ["upstreams", "show", upstream_id], env=env).exit_code == 1


def test_the_settings_upstream_is_read_only_and_a_refused_one_is_not_stored(
    env: dict[str, str], fake: FakeUpstream, tmp_path: Path
) -> None:
    runner = CliRunner()
    read_only = runner.invoke(app, ["upstreams", "delete", "from-settings"], env=env)
    assert read_only.exit_code == 1
    assert "oidc.upstreams" in read_only.output
    private = {"id": "cli-private", "name": "P", "issuer": "http://10.20.30.40",
               "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}  # fmt: skip
    refused = runner.invoke(app, ["upstreams", "add", upstream_file(tmp_path, private)], env=env)
    assert refused.exit_code == 1
    assert "tokend cannot use this upstream" in refused.output
    assert runner.invoke(app, ["upstreams", "show", "cli-private"], env=env).exit_code == 1
    invalid = runner.invoke(
        app,
        ["upstreams", "add", upstream_file(tmp_path, {**private, "scopes": ["email"], "x": 1})],
        env=env,
    )
    assert invalid.exit_code == 2
    assert CLIENT_SECRET not in invalid.output
