"""``/broker/admin/directory``: edits written back to the YAML, reloads, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.broker.conftest import Serve
from tests.secrets_seen import SecretsSeen

ADMIN = "/broker/admin/directory"
FILE = """\
prefixes:
  97205:
    base_url: http://telco-orange:8080
    client_id: ORANGE_DEMO_ID
    client_secret: ${TOKEND_TELCO_SECRET_TEST_ORANGE}
  972050:
    base_url: http://telco-vodafone:8081
    client_id: VF_DEMO_ID
    client_secret: VF_DEMO_SECRET
"""
ADMIN_TOKEN = "admin-token-for-tests-0123456789"


@pytest.fixture
async def admin(
    serve_tokend: Serve,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    secrets_seen: SecretsSeen,
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    secrets_seen.add(ADMIN_TOKEN)
    monkeypatch.setenv("TOKEND_TELCO_SECRET_TEST_ORANGE", "orange-secret-from-the-env")
    path = tmp_path / "telco.yaml"
    path.write_text(FILE)
    broker = {
        "directory_file": path,
        "admin_token": ADMIN_TOKEN,
        "watch_directory": False,
        # The seed's operators: plain-http hosts of an internal network.
        "allowed_upstream_hosts": ["telco-orange", "telco-vodafone"],
    }
    with serve_tokend(broker=broker) as base_url:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
            yield client, path


async def _operator_of(client: httpx.AsyncClient, number: str) -> str | None:
    response = await client.post("/broker/telco-finder/v1/search", json={"phoneNumber": number})
    return response.json()["operatorId"] if response.status_code == 200 else None


async def test_without_a_static_token_the_admin_api_wants_an_admin_bearer(
    demo: httpx.AsyncClient,
) -> None:
    # The one admin policy (core.admin_auth) takes tokend:admin access tokens whether or not a
    # static token is configured, so an anonymous caller gets 401, no longer 403 "disabled".
    response = await demo.get(ADMIN)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {ADMIN_TOKEN}"])
async def test_a_wrong_admin_token_is_a_401(
    admin: tuple[httpx.AsyncClient, Path], header: str | None
) -> None:
    client, _ = admin
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=client.base_url, headers=headers) as anonymous:
        response = await anonymous.get(ADMIN)
    assert response.status_code == 401
    assert response.json()["status"] == 401


async def test_entries_are_listed_without_their_secrets(
    admin: tuple[httpx.AsyncClient, Path],
) -> None:
    client, _ = admin
    response = await client.get(ADMIN)
    assert response.status_code == 200
    entries = {e["prefix"]: e for e in response.json()["entries"]}
    assert entries["97205"]["client_secret"] == "${TOKEND_TELCO_SECRET_TEST_ORANGE}"
    assert entries["972050"]["client_secret"] == "********"
    assert "orange-secret-from-the-env" not in response.text
    assert "VF_DEMO_SECRET" not in response.text
    assert (await client.get(f"{ADMIN}/972050")).json()["operator_id"] == "telco-vodafone"
    assert (await client.get(f"{ADMIN}/4477")).status_code == 404


async def test_put_and_delete_are_written_back_to_the_file(
    admin: tuple[httpx.AsyncClient, Path],
) -> None:
    client, path = admin
    entry = {
        "name": "Vodafone UK",
        "base_url": "http://telco-vodafone:8081",
        "client_id": "VF_UK_ID",
        "client_secret": "VF_UK_SECRET",
        "timeout_s": 2,
    }
    response = await client.put(f"{ADMIN}/4477", json=entry)
    assert response.status_code == 200, response.text
    assert response.json()["operator_id"] == "vodafone-uk"
    saved = yaml.safe_load(path.read_text())["prefixes"]
    assert saved["4477"]["timeout_s"] == 2
    assert saved["97205"]["client_secret"] == "${TOKEND_TELCO_SECRET_TEST_ORANGE}"
    assert await _operator_of(client, "+447700900123") == "vodafone-uk"
    assert (await client.delete(f"{ADMIN}/4477")).status_code == 204
    assert "4477" not in yaml.safe_load(path.read_text())["prefixes"]
    assert await _operator_of(client, "+447700900123") is None


async def test_an_invalid_entry_is_a_422_and_changes_nothing(
    admin: tuple[httpx.AsyncClient, Path],
) -> None:
    client, path = admin
    before = path.read_text()
    response = await client.put(
        f"{ADMIN}/4477", json={"base_url": "telco-uk", "client_id": "VF_UK_ID"}
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any("prefix 4477: base_url 'telco-uk' is not an absolute" in p for p in problems)
    assert any("prefix 4477: client_secret is missing" in p for p in problems)
    assert path.read_text() == before


async def test_reload_picks_up_the_file_and_refuses_a_broken_one(
    admin: tuple[httpx.AsyncClient, Path],
) -> None:
    client, path = admin
    assert await _operator_of(client, "+972501234567") == "telco-vodafone"
    path.write_text(FILE.split("  972050:")[0])
    response = await client.post(f"{ADMIN}/reload")
    assert response.status_code == 200
    assert response.json()["entries"] == 1
    assert await _operator_of(client, "+972501234567") == "telco-orange"
    path.write_text("prefixes:\n  97x:\n    base_url: http://a\n")
    response = await client.post(f"{ADMIN}/reload")
    assert response.status_code == 422
    assert "telco.yaml:2: prefix 97x" in response.json()["detail"]
    assert await _operator_of(client, "+972501234567") == "telco-orange"
