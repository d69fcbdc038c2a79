"""The start-up banner: where everything is and how to log in to the demo."""

from __future__ import annotations

import typer

from tokend import __version__
from tokend.config import Settings
from tokend.server.settings import ServerSettings


def banner_lines(settings: Settings, extra: tuple[str, ...] = ()) -> list[str]:
    base = settings.server.self_url
    lines = [
        f"tokend {__version__} — {settings.env.value} mode, modules: {', '.join(settings.modules)}",
        f"  issuer       {settings.issuer}",
    ]
    if settings.has_api_docs:
        lines.append(f"  API docs     {base}/docs")
    lines += [
        f"  JWKS         {base}/.well-known/jwks.json",
        f"  health       {base}/health   ready {base}/ready",
        f"  metrics      {_metrics_url(settings)}",
        f"  database     {settings.database.url.split('@')[-1]}",
        f"  cache        {'redis + memory' if settings.redis.url else 'memory (single process)'}",
    ]
    lines += [f"  {line}" for line in extra]
    return lines


def _metrics_url(settings: Settings) -> str:
    port = settings.metrics.port
    if port is not None:
        return ServerSettings(host=settings.server.host, port=port).self_url + "/metrics"
    token = "  (bearer TOKEND_METRICS__TOKEN)" if settings.metrics.token is not None else ""
    return f"{settings.server.self_url}/metrics{token}"


def print_banner(settings: Settings, extra: tuple[str, ...] = ()) -> None:
    width = max(len(line) for line in banner_lines(settings, extra)) + 2
    typer.echo("=" * width)
    for line in banner_lines(settings, extra):
        typer.echo(line)
    typer.echo("=" * width)
