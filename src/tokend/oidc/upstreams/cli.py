"""``tokend upstreams``: the upstream identity providers, as ``/admin/upstreams`` manages them
(the same checks: the outbound policy of ``TOKEND_HTTP__*`` and, for an OpenID provider, its
discovery document fetched now). An upstream's fields come from a JSON or YAML file in the shape
of one ``oidc.upstreams`` entry, so its client secret never goes on a command line. The settings'
upstreams are listed and shown, never changed here. No client secret is ever printed. A change
is an audit event (``admin.upstream_*``) like the admin API's; ``--json`` is for list and show."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer
import yaml
from pydantic import ValidationError

from tokend.commands import EXIT_FAILED, CommandResources, command_context, fail
from tokend.core.discovery import Discovery
from tokend.core.errors import NotFound, TokendError
from tokend.core.http import GuardedClient
from tokend.obs.metrics import new_registry
from tokend.oidc.audit import Audit
from tokend.oidc.settings import OidcSettings, UpstreamSettings
from tokend.oidc.sql import SqlUpstreams
from tokend.oidc.upstreams.brokering import callback_path
from tokend.oidc.upstreams.catalog import CatalogEntry, UpstreamCatalog, upstream_refusal
from tokend.oidc.upstreams.schemas import UpstreamChanges, UpstreamCreate, changed_upstream

T = TypeVar("T")
#: A file of one upstream is small; anything larger is not one.
MAX_FILE_BYTES = 64 * 1024

app = typer.Typer(
    help="Upstream identity providers (sign in with an OpenID provider or GitHub): list, show, "
    "add, update, delete. The settings' (oidc.upstreams) are read-only here.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The upstream's id.")]
FileArgument = Annotated[
    Path,
    typer.Argument(
        metavar="FILE",
        help="JSON or YAML: one upstream as in oidc.upstreams (id, name, kind, issuer, "
        "client_id, client_secret, ...).",
        exists=True,
        dir_okay=False,
    ),
]


def _run(ctx: typer.Context, action: Callable[[UpstreamCatalog], Awaitable[T]]) -> T:
    context = command_context(ctx)
    oidc = context.block("oidc", OidcSettings)

    async def main() -> T:
        async with context.open() as r, GuardedClient(context.site.outbound) as http:
            return await action(_catalog(oidc, r, http))

    try:
        return anyio.run(main)
    except TokendError as exc:
        raise fail(exc.description, EXIT_FAILED) from None


def _catalog(oidc: OidcSettings, r: CommandResources, http: GuardedClient) -> UpstreamCatalog:
    """The admin API's catalog on the command's resources (no adapter: nothing signs in)."""
    discovery = Discovery(lambda: http, r.clock, timeout_s=oidc.upstream_timeout_s)
    return UpstreamCatalog(
        configured={u.id: u for u in oidc.upstreams},
        store=SqlUpstreams(r.database, r.cipher),
        kinds={},
        refusal=upstream_refusal(http, discovery),
        audit=Audit.register(new_registry()),
        clock=r.clock,
    )


def _read(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise fail(f"{path}: larger than {MAX_FILE_BYTES} bytes", 2)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise fail(f"{path}: not JSON or YAML ({type(exc).__name__})", 2) from None
    if not isinstance(data, dict):
        raise fail(f"{path}: one upstream, a mapping of its fields", 2)
    return data


def _invalid(exc: ValidationError) -> typer.Exit:
    # Field names and rules only: the input (the client secret, maybe) is never echoed.
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "upstream"
        typer.secho(f"tokend: {where}: {err['msg']}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def _shown(ctx: typer.Context, entry: CatalogEntry) -> dict[str, Any]:
    u = entry.settings
    issuer = command_context(ctx).site.issuer
    return {
        "id": u.id,
        "name": u.name,
        "kind": u.kind,
        "issuer": u.origin,
        "redirect_uri": issuer.rstrip("/") + callback_path(u.id),
        "source": entry.source,
        "client_id": u.client_id,
        "scopes": u.requested_scopes,
        "link_by_verified_email": u.link_by_verified_email,
        "create_accounts": u.create_accounts,
    }


def _echo(ctx: typer.Context, entry: CatalogEntry, as_json: bool) -> None:
    shown = _shown(ctx, entry)
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    width = max(len(name) for name in shown)
    for name, value in shown.items():
        text = " ".join(value) if isinstance(value, list) else str(value)
        typer.echo(f"{name:<{width}}  {text.lower() if isinstance(value, bool) else text}")


@app.command("list")
def upstreams_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every upstream: the settings', then those added here or through the admin API."""
    entries = _run(ctx, lambda catalog: catalog.entries())
    if as_json:
        typer.echo(json.dumps([_shown(ctx, e) for e in entries], indent=2))
        return
    for e in entries:
        typer.echo(f"{e.settings.id}  {e.settings.kind:<6} {e.source:<8} {e.settings.name}")


@app.command("show")
def upstreams_show(
    ctx: typer.Context, upstream_id: IdArgument, as_json: JsonOption = False
) -> None:
    """One upstream, with the redirect URI to register at it."""

    async def show(catalog: UpstreamCatalog) -> CatalogEntry:
        entry = await catalog.entry(upstream_id)
        if entry is None:
            raise NotFound(f"no upstream {upstream_id}")
        return entry

    _echo(ctx, _run(ctx, show), as_json)


@app.command("add")
def upstreams_add(ctx: typer.Context, path: FileArgument) -> None:
    """Add an upstream from FILE, once tokend may call it (its metadata fetched now)."""
    try:
        spec = UpstreamCreate.model_validate(_read(path))
    except ValidationError as exc:
        raise _invalid(exc) from None
    settings = UpstreamSettings.model_validate(spec.model_dump())
    _echo(ctx, _run(ctx, lambda catalog: catalog.add(settings)), as_json=False)


@app.command("update")
def upstreams_update(ctx: typer.Context, upstream_id: IdArgument, path: FileArgument) -> None:
    """Change an upstream added here or through the admin API with the fields in FILE (a
    client_secret left out keeps the stored one)."""
    try:
        changes = UpstreamChanges.model_validate(_read(path))
    except ValidationError as exc:
        raise _invalid(exc) from None

    async def update(catalog: UpstreamCatalog) -> CatalogEntry:
        entry = await catalog.entry(upstream_id)
        if entry is None:
            raise NotFound(f"no upstream {upstream_id}")
        return await catalog.replace(changed_upstream(entry.settings, changes))

    _echo(ctx, _run(ctx, update), as_json=False)


@app.command("delete")
def upstreams_delete(ctx: typer.Context, upstream_id: IdArgument) -> None:
    """Delete an upstream added here or through the admin API, and every link to it (the
    accounts keep their other ways to sign in)."""
    links = _run(ctx, lambda catalog: catalog.remove(upstream_id))
    typer.echo(f"deleted {upstream_id} and {links} link{'' if links == 1 else 's'} to it")
