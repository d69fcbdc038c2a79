"""``tokend gateway consumers create|list|revoke`` against the run's database."""

from __future__ import annotations

import json
import secrets

import anyio
import typer
from typer.testing import CliRunner, Result

from tests.api.gateway.conftest import OpenGateway
from tests.secrets_seen import SecretsSeen
from tokend.cli.context import command_context_of
from tokend.config import Settings
from tokend.gateway import cli as gateway_cli


def _cli(settings: Settings) -> typer.Typer:
    """The gateway commands under a root that hands them ``settings``, as ``tokend`` does."""
    root = typer.Typer()

    @root.callback()
    def load(ctx: typer.Context) -> None:
        ctx.obj = command_context_of(settings)

    root.add_typer(gateway_cli.app, name="gateway")
    return root


async def _run(settings: Settings, *args: str) -> Result:
    # The commands run their own event loop, so they go to a worker thread here.
    return await anyio.to_thread.run_sync(CliRunner().invoke, _cli(settings), list(args))


async def test_a_created_consumer_gets_tokens_until_it_is_revoked(
    settings: Settings, open_gateway: OpenGateway, secrets_seen: SecretsSeen
) -> None:
    username = "cli-" + secrets.token_hex(4)
    created = await _run(settings, "gateway", "consumers", "create", username, "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    assert set(body) == {"consumer_id", "username", "api_key"}
    api_key = secrets_seen.add(body["api_key"])
    listed = await _run(settings, "gateway", "consumers", "list", "--json")
    (row,) = [r for r in json.loads(listed.stdout) if r["username"] == username]
    assert row["revoked_at"] is None
    assert api_key not in listed.stdout
    async with open_gateway(source="local") as gw:
        before = await gw.client.get("/tokens", headers={"apikey": api_key})
        revoked = await _run(settings, "gateway", "consumers", "revoke", body["consumer_id"])
        gw.clock.advance(31)  # another process revoked it: this replica re-reads within 30 s
        after = await gw.client.get("/tokens", headers={"apikey": api_key})
    assert before.status_code == 200, before.text
    assert revoked.exit_code == 0, revoked.output
    assert after.status_code == 401


async def test_revoking_an_unknown_consumer_exits_1(settings: Settings) -> None:
    result = await _run(settings, "gateway", "consumers", "revoke", "no-such-id")
    assert result.exit_code == 1
    assert "no consumer" in result.output
