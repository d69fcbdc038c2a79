"""``tokend telco``: look a number up in the broker directory, list it, validate a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tokend.broker.demo import demo_directory
from tokend.broker.directory import (
    Directory,
    DirectoryInvalid,
    TelcoEntry,
    entry_rules,
    read_directory,
)
from tokend.broker.schemas import EntryView
from tokend.broker.settings import BrokerSettings
from tokend.commands import command_context, fail, progress_bar
from tokend.core.phone_numbers import MalformedNumber, digits_of_number, digits_of_query

EXIT_NO_MATCH = 1

app = typer.Typer(
    help="The broker's telco directory: lookup, list, validate.", no_args_is_help=True
)

FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Directory YAML (default: broker.directory_file)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DemoOption = Annotated[
    bool,
    typer.Option(
        "--demo",
        help="Read the demo directory, the one `tokend serve --demo` (make run) routes by; "
        "read anyway, outside production, when no file is configured.",
    ),
]


def _settings(ctx: typer.Context) -> BrokerSettings:
    return command_context(ctx).block("broker", BrokerSettings)


def _load(ctx: typer.Context, file: Path | None, demo: bool = False) -> Directory:
    settings = _settings(ctx)
    site = command_context(ctx).site
    path = file or settings.directory_file
    if demo and file is not None:
        raise fail("give --file or --demo, not both")
    if demo or (path is None and not site.is_production):
        # The demo server builds its directory in memory (broker.demo), from the same
        # settings: this is the directory it routes by, its operators under this site's URL.
        typer.secho(
            "tokend: reading the demo directory (the one `tokend serve --demo` routes by); "
            "--file or TOKEND_BROKER__DIRECTORY_FILE reads another",
            err=True,
            fg=typer.colors.YELLOW,
        )
        return demo_directory(site.self_url)
    if path is None:
        raise fail("no directory file: pass --file or set TOKEND_BROKER__DIRECTORY_FILE")
    try:
        return read_directory(path, entry_rules(settings, site.outbound))
    except DirectoryInvalid as exc:
        for problem in exc.problems:
            typer.secho(f"tokend: {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _line(entry: TelcoEntry) -> str:
    name = f" ({entry.name})" if entry.name else ""
    state = "" if entry.enabled else " [disabled]"
    return f"{entry.prefix:<16}{entry.operator_id}{name}  {entry.adapter}  {entry.token_url}{state}"


@app.command()
def lookup(
    ctx: typer.Context,
    mcc: Annotated[str, typer.Argument(help="Mobile country code, or an E.164 number (+972...).")],
    sn: Annotated[str | None, typer.Argument(help="Subscriber number digits.")] = None,
    file: FileOption = None,
    demo: DemoOption = False,
    as_json: JsonOption = False,
) -> None:
    """Which operator serves MCC+SN (longest prefix); exit 1 when none does."""
    try:
        directory = _load(ctx, file, demo)
        if sn is None:
            digits = digits_of_number(mcc)
            entry = directory.operator_for_number(digits)
        else:
            digits = digits_of_query(mcc, sn)
            entry = directory.longest_prefix(digits)
    except MalformedNumber as exc:
        raise fail(exc.description) from None
    if entry is None:
        typer.echo("null" if as_json else f"no operator for {digits}", err=not as_json)
        raise typer.Exit(EXIT_NO_MATCH)
    view = EntryView.of(entry)
    typer.echo(view.model_dump_json(indent=2) if as_json else _line(entry))


@app.command("list")
def list_entries(
    ctx: typer.Context,
    file: FileOption = None,
    demo: DemoOption = False,
    as_json: JsonOption = False,
) -> None:
    """Every prefix of the directory, shortest first."""
    directory = _load(ctx, file, demo)
    if as_json:
        views = [EntryView.of(e).model_dump(mode="json") for e in directory.entries.values()]
        typer.echo(json.dumps(views, indent=2))
        return
    for entry in directory.entries.values():
        typer.echo(_line(entry))


@app.command()
def validate(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Directory YAML to check.")]
) -> None:
    """Check a directory file against the broker's settings (secret references, allowed
    hosts); exit 1 with one line per problem (file:line: prefix: why). A progress bar on a
    terminal; one summary line at the end."""
    rules = entry_rules(_settings(ctx), command_context(ctx).site.outbound)
    invalid: DirectoryInvalid | None = None
    with progress_bar(f"checking {file.name}") as (progress, counted):
        try:
            directory = read_directory(file, rules, progress)
        except DirectoryInvalid as exc:
            invalid = exc
    if invalid is not None:
        for problem in invalid.problems:
            typer.echo(str(problem), err=True)
        typer.echo(
            f"{file}: {len(invalid.problems)} problem(s) in {counted.total} prefixes", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"{file}: ok, {len(directory.entries)} prefixes")
