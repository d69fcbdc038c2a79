"""``tokend`` — serve, migrate, worker, keys, version, config."""

from __future__ import annotations

import functools
import gc
import json
import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import typer
from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError
from typer import _click as click  # the click copy Typer's objects are made of

from tokend import __version__
from tokend.cli.banner import print_banner
from tokend.cli.context import (
    build_settings,
    command_context_of,
    fail,
    require_production_ready,
    settings_of,
)
from tokend.cli.handoff import handed_off
from tokend.cli.lazy_group import LazyTyperGroup
from tokend.commands import install
from tokend.config import Settings
from tokend.server.settings import ServerSettings
from tokend.store.demo_mark import NotADemoDatabase, claim_for_demo
from tokend.store.engine import is_missing_schema, open_database


class TokendGroup(LazyTyperGroup):
    """The root command: each sub-app is imported when it runs (or ``--help`` lists it), so
    ``tokend serve`` loads no other capability's command-line code."""

    lazy_subcommands = {
        "keys": "tokend.cli.keys:app",
        "telco": "tokend.broker.cli:app",
        "clients": "tokend.oidc.cli:clients_app",
        "users": "tokend.oidc.cli:users_app",
        "upstreams": "tokend.oidc.upstreams.cli:app",
        "gateway": "tokend.gateway.cli:app",
        "vault": "tokend.vault.cli:app",
    }

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            # A command on a database `tokend migrate` has not brought up to date: one line
            # that says so, not SQLAlchemy's traceback (nor its statement, which may hold
            # secrets). Anything else goes on to main().
            if not is_missing_schema(exc):
                raise
            settings = ctx.obj
            where = _safe_url(settings.database.url) if isinstance(settings, Settings) else ""
            raise fail(
                f"the database {where} lacks tables or columns this tokend needs "
                f"({type(exc.orig).__name__}): run `tokend migrate`"
            ) from None


app = typer.Typer(
    cls=TokendGroup,
    name="tokend",
    help="tokend issues, brokers, stores and validates tokens.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    # Click's plain help: Rich's renderer shows a type metavar on every flag (``--help
    # <bool>``) and reads ``[default: …]`` in help text as markup, eating it.
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="YAML or TOML settings file.",
            envvar="TOKEND_CONFIG_FILE",
        ),
    ] = None,
) -> None:
    """Settings come from flags, TOKEND_* variables, .env and the config file, in that order."""
    settings = build_settings(config)
    ctx.obj = settings
    install(ctx, lambda: command_context_of(settings))


def _with(ctx: typer.Context, **changes: Any) -> Settings:
    """The root settings with flag values applied (flags win over every other source)."""
    settings = settings_of(ctx)
    updates = {k: v for k, v in changes.items() if v is not None}
    if not updates:
        return settings
    try:
        merged = Settings.model_validate(
            {**settings.model_dump(mode="python", exclude_unset=False), **updates}
        )
    except ValueError as exc:
        raise fail(str(exc).splitlines()[0]) from None
    return merged


#: ``--only``'s choices: the capabilities (``tokend.config.MODULE_NAMES``, checked by a test).
CapabilityName = Literal["oidc", "broker", "telco", "vault", "gateway", "guard"]
_SERVER_DEFAULTS = ServerSettings()


@app.command()
def serve(
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option("--demo", help="Demo data, SQLite, memory cache, auto-migrate.")
    ] = False,
    only: Annotated[
        CapabilityName | None,
        typer.Option("--only", help="Serve one capability (default: every one in modules)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help=f"Bind address (server.host)  [default: {_SERVER_DEFAULTS.host}]",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", help=f"Bind port (server.port)  [default: {_SERVER_DEFAULTS.port}]"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help=f"Worker processes (server.workers)  [default: {_SERVER_DEFAULTS.workers}]",
        ),
    ] = None,
    telco_id: Annotated[
        str | None,
        typer.Option("--telco-id", metavar="ID", help="Operator id served by --only telco."),
    ] = None,
) -> None:
    """Run the HTTP server."""
    base = settings_of(ctx)
    # Before --demo makes the environment "demo": a demo prints its credentials and runs on a
    # public development key, and must never stand in for a production server.
    if demo and base.is_production:
        raise fail(
            "--demo is refused: the settings say production (TOKEND_ENV, .env or the config "
            "file); run the demo with a development environment and a database of its own"
        )
    server = base.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v}
    )
    settings = _with(
        ctx,
        server=server,
        # Unconfigured, the issuer is where this server answers: with ``--port 9000`` discovery
        # must not name port 8000 (OpenID Connect Discovery §4.3 has clients refuse that).
        issuer=None if "issuer" in base.model_fields_set else server.self_url,
        modules=[only] if only else None,
        env="demo" if demo else None,
        demo_data=True if demo else None,
        telco=base.telco.model_copy(update={"id": telco_id}) if telco_id else None,
    )
    require_production_ready(settings)
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Serve ``settings`` with the configured ASGI server until SIGINT/SIGTERM.

    The garbage collector waits while the app is built: start-up makes objects that live as
    long as the process, which each collection meanwhile only walked again. The started
    server freezes them and turns it back on (``tokend.app.freeze_startup_objects``); a
    process that hands the app to workers, or fails first, turns it back on here."""
    gc.disable()
    try:
        _build_and_serve(settings)
    finally:
        gc.enable()


def _build_and_serve(settings: Settings) -> None:
    from tokend.app import create_app
    from tokend.runtime import ConfigurationError

    try:
        app = create_app(settings)  # no I/O: builds routes, and knows the capabilities' banner
        app.freeze_gc_after_start = True
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    # One clear line (from main) instead of the server's start-up traceback when the database
    # cannot be reached; a replica then exits and its supervisor retries.
    anyio.run(_ping_database, settings)
    require_demo_database(settings)
    require_schema(settings)
    print_banner(settings, app.state.banner)
    server = settings.server
    if server.server == "granian":
        from tokend.cli import granian_server

        if server.workers == 1:
            granian_server.serve_embedded(app, server)
            return
        gc.enable()  # this process supervises the workers, which build their own app
        with handed_off(settings), _worker_metrics(server.workers):
            granian_server.serve_workers(server, "tokend.app:app_from_environment")
        return
    import uvicorn

    if server.workers == 1:
        uvicorn.run(app, **uvicorn_options(server))
        return
    gc.enable()  # as above: the workers build their own app
    with handed_off(settings), _worker_metrics(server.workers):
        uvicorn.run(
            "tokend.app:app_from_environment",
            factory=True,
            workers=server.workers,
            **uvicorn_options(server),
        )


def require_schema(settings: Settings) -> None:
    """Exit 2 with one line when the database's schema is missing or older than this tokend's
    (a demo server migrates itself instead)."""
    if settings.demo_data:
        return
    from tokend.store.schema_head import at_head

    if anyio.run(at_head, settings.database):
        return  # the usual case, known without loading Alembic
    # Alembic's start-up chatter (plugins, dialect) says nothing to whoever starts a server.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        from tokend.store.migrate import schema_behind  # Alembic: only a starting process

        problem = anyio.run(schema_behind, settings.database)
    finally:
        alembic_log.setLevel(level)
    if problem is not None:
        raise fail(f"{problem} ({_safe_url(settings.database.url)}): run `tokend migrate`")


def _worker_metrics(workers: int) -> AbstractContextManager[object]:
    """With several workers, a metrics directory they share, so ``/metrics`` counts them all."""
    if workers == 1:
        return nullcontext()
    from tokend.obs.metrics import shared_metrics_directory

    return shared_metrics_directory()


def require_demo_database(settings: Settings) -> None:
    """With demo data on, mark a new database as the demo's, or exit 2 (one line) when the
    database was not created by a demo run: demo clients and their printed secrets must never
    land in a real one (``tokend.store.demo_mark``)."""
    if not settings.demo_data:
        return
    try:
        anyio.run(claim_for_demo, settings.database)
    except NotADemoDatabase:
        raise fail(
            f"demo data is refused: the database at {_safe_url(settings.database.url)} was not "
            "created by a demo run (point TOKEND_DATABASE__URL at a new one, or drop --demo)"
        ) from None


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """What ``tokend serve`` runs uvicorn with (but the app and its workers)."""
    from tokend.cli.http_protocol import BoundedHttpToolsProtocol

    return {
        "host": server.host,
        "port": server.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # The app applies X-Forwarded-* itself, from server.forwarded_allow_ips only, after
        # keeping the TCP peer (tokend.server.peer); uvicorn's own handling would trust
        # loopback and lose the peer.
        "proxy_headers": False,
        "lifespan": "on",
        # uvicorn calls the protocol factory with its config and state (Server.startup); a
        # partial of a module-level class pickles, so spawned workers get it too.
        "http": functools.partial(
            BoundedHttpToolsProtocol,
            header_timeout_s=server.header_timeout_s,
            max_header_bytes=server.max_header_bytes,
        ),
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "timeout_graceful_shutdown": server.shutdown_timeout_s,
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_bytes,
    }


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema up to date."""
    from tokend.store import migrate as store_migrate  # Alembic: only this command needs it

    settings = settings_of(ctx)
    before = anyio.run(store_migrate.current_revisions, settings.database)
    store_migrate.upgrade(settings.database)  # Alembic logs a line per migration it runs
    after = anyio.run(store_migrate.current_revisions, settings.database)
    steps = store_migrate.steps_between(settings.database, before, after)
    where = _safe_url(settings.database.url)
    if steps == 0:
        typer.echo(f"database at {where} is up to date (revision {', '.join(after) or '-'})")
    else:
        was = ", ".join(before) or "empty"
        typer.echo(
            f"database at {where} migrated: {steps} migration{'s' if steps > 1 else ''}, "
            f"revision {was} -> {', '.join(after)}"
        )


@app.command()
def worker(ctx: typer.Context) -> None:
    """Process queued and periodic jobs (needs Redis)."""
    from tokend.app import worker_resources
    from tokend.cli.worker import run_worker_command

    settings = settings_of(ctx)
    require_demo_database(settings)
    require_schema(settings)
    run_worker_command(settings, lambda jobs: worker_resources(settings, jobs))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings, secrets masked: one ``name = value`` line per setting
    (the TOKEND_ variable is that name, upper-cased, with ``__`` for each dot)."""
    settings = _masked(settings_of(ctx).model_dump(mode="python"))
    if as_json:
        typer.echo(json.dumps(settings, indent=2, default=str))
        return
    for name, value in _flattened(settings):
        typer.echo(f"{name} = {json.dumps(value, default=str)}")


def _flattened(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [
            item
            for key, inner in value.items()
            for item in _flattened(inner, f"{prefix}.{key}" if prefix else str(key))
        ]
    return [(prefix, value)]


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, dict):
        return {
            k: _safe_url(v) if k == "url" and isinstance(v, str) else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


async def _ping_database(settings: Settings) -> None:
    database = open_database(settings.database)
    try:
        await database.ping()
    finally:
        await database.close()


def _safe_url(url: str) -> str:
    """A database URL with its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show nothing of it rather than a secret
        return "<unparsable url>"


def main() -> None:
    gc.enable()  # off while the modules loaded (tokend.__main__); serve keeps it off longer
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except DBAPIError as exc:
        # The driver's own message only: SQLAlchemy's text carries the statement and its
        # parameters, which may hold secrets.
        raise SystemExit(_unreachable(exc.orig if exc.orig is not None else exc)) from None
    except (OSError, TimeoutError) as exc:
        raise SystemExit(_unreachable(exc)) from None


def _unreachable(exc: BaseException) -> int:
    reason = str(exc).splitlines()[0] if str(exc) else ""
    typer.secho(
        f"tokend: the database or cache cannot be reached ({type(exc).__name__}: {reason})",
        err=True,
        fg=typer.colors.RED,
    )
    return 1
