"""What a process imports: a one-capability server loads that capability only (issue 7).

Each check runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Libraries the settings must not pull in: a web framework, a database toolkit, HTTP, JOSE.
HEAVY = ("fastapi", "starlette", "sqlalchemy", "httpx", "joserfc", "alembic", "limits")
CAPABILITY_PACKAGES = (
    "tokend.oidc",
    "tokend.broker",
    "tokend.telco",
    "tokend.vault",
    "tokend.gateway",
    "tokend.guard",
)


def modules_after(code: str, cwd: Path) -> set[str]:
    """The names in ``sys.modules`` once ``code`` has run in a new interpreter (in ``cwd``, with
    no ``TOKEND_*`` variables, so no .env or deployment settings leak in)."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEND_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def runtime_modules(modules: set[str], package: str) -> set[str]:
    """``package``'s modules other than the package itself and its settings block."""
    return {m for m in modules if m.startswith(f"{package}.") and m != f"{package}.settings"}


def test_importing_the_settings_loads_no_framework_or_capability_code(tmp_path: Path) -> None:
    modules = modules_after("import tokend.config", tmp_path)
    top_level = {m.split(".")[0] for m in modules}
    assert not top_level & set(HEAVY)
    for package in CAPABILITY_PACKAGES:
        assert not runtime_modules(modules, package), package


def test_a_gateway_only_app_imports_no_other_capability(tmp_path: Path) -> None:
    modules = modules_after(
        """
        from tokend.app import create_app
        from tokend.config import Settings

        app = create_app(Settings(modules=["gateway"]))
        assert "/tokens" in app.openapi()["paths"]
        """,
        tmp_path,
    )
    assert "tokend.gateway.capability" in modules
    for package in ("tokend.oidc", "tokend.broker", "tokend.telco", "tokend.vault", "tokend.guard"):
        assert not runtime_modules(modules, package), package
    assert "alembic" not in modules  # only a demo server migrates itself


def test_every_module_the_settings_accept_has_a_mount() -> None:
    from tokend.app import MOUNTS
    from tokend.config import MODULE_NAMES

    assert tuple(MOUNTS) == MODULE_NAMES
    for name, mount in MOUNTS.items():
        assert mount.module == f"tokend.{name}.capability"


def test_the_cli_imports_a_sub_command_only_when_it_runs(tmp_path: Path) -> None:
    modules = modules_after("from tokend.cli.main import app", tmp_path)
    for module in ("tokend.oidc.cli", "tokend.gateway.cli", "tokend.vault.cli", "tokend.cli.keys"):
        assert module not in modules
    for package in CAPABILITY_PACKAGES:
        assert not runtime_modules(modules, package), package


def test_the_root_command_loads_no_web_framework_or_app(tmp_path: Path) -> None:
    # A command that serves nothing (migrate, a refused configuration, a capability's data
    # command) paid ~0.4 s of every run for FastAPI and the runtime contract it never used.
    modules = modules_after("from tokend.cli.main import app", tmp_path)
    assert not {m.split(".")[0] for m in modules} & {"fastapi", "uvicorn", "granian", "httpx"}
    assert not {"tokend.runtime", "tokend.app", "tokend.server.lean"} & modules


def test_cli_help_lists_every_command() -> None:
    from typer.testing import CliRunner

    from tokend.cli.main import app

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for command in ("serve", "migrate", "worker", "version", "config", "keys", "telco"):
        assert command in result.output
    for command in ("clients", "users", "gateway", "vault"):
        assert command in result.output


def test_the_guard_public_api_loads_on_first_use(tmp_path: Path) -> None:
    modules = modules_after("import tokend.guard", tmp_path)
    assert "tokend.guard.validator" not in modules
    import tokend.guard

    for name in tokend.guard.__all__:
        assert getattr(tokend.guard, name).__module__.startswith("tokend.guard.")
    assert set(tokend.guard.__all__) <= set(dir(tokend.guard))
    with pytest.raises(AttributeError, match="has no attribute 'not_a_public_name'"):
        tokend.guard.not_a_public_name  # noqa: B018  (the attribute access is the test)


def test_a_loaded_submodule_does_not_hide_the_public_name_it_shares(tmp_path: Path) -> None:
    # ``tokend.guard.envelope`` is a module and ``tokend.guard.envelope`` the public function.
    modules_after(
        """
        import inspect
        import tokend.guard.routes  # loads the envelope module before anyone asks for the name
        from tokend.guard import envelope, success_body

        assert inspect.isfunction(envelope) and inspect.isfunction(success_body)
        """,
        tmp_path,
    )


def test_the_rate_limit_defaults_the_settings_do_not_parse_are_valid() -> None:
    from limits import parse_many

    from tokend.oidc.settings import RateLimitSettings

    for name, field in RateLimitSettings.model_fields.items():
        if isinstance(field.default, str):
            assert parse_many(field.default), name
    with pytest.raises(ValueError, match="rate limit"):
        RateLimitSettings(login_per_ip="thirty per fortnight")


#: redis-py (with the OpenTelemetry SDK it loads), SAQ, and webauthn with its ASN.1 formats:
#: together about a fifth of a start (issue 18: start-up under 1.5 s), and a default process
#: (SQLite, no Redis) uses none of them. They are imported where they are used.
OPTIONAL = ("redis", "saq", "webauthn", "opentelemetry.sdk")


def test_a_default_app_is_built_without_redis_saq_or_webauthn(tmp_path: Path) -> None:
    modules = modules_after(
        """
        from tokend.app import create_app
        from tokend.config import Settings

        create_app(Settings())
        """,
        tmp_path,
    )
    assert not modules & set(OPTIONAL)


def test_jinja2_loads_with_the_first_page_not_with_the_app(tmp_path: Path) -> None:
    # The provider's pages and the console's: a server that serves none never imports it.
    modules = modules_after(
        """
        import sys
        from tokend.app import create_app
        from tokend.config import Settings
        from tokend.oidc.routes.html import Pages

        create_app(Settings())
        assert "jinja2" not in sys.modules
        assert "<form" in Pages().render("login.html", uid="u", error=None).body.decode()
        """,
        tmp_path,
    )
    assert "jinja2" in modules


def test_an_app_with_redis_imports_redis_and_saq_when_it_is_built(tmp_path: Path) -> None:
    # The other side of the lazy imports: configured, they are there (no connection is made).
    modules = modules_after(
        """
        from tokend.app import create_app
        from tokend.config import Settings

        create_app(Settings(redis={"url": "redis://127.0.0.1:1/0"}))
        """,
        tmp_path,
    )
    assert {"redis", "saq"} <= modules
    assert "webauthn" not in modules


def test_the_command_line_and_the_metrics_registry_import_no_optional_library(
    tmp_path: Path,
) -> None:
    modules = modules_after("import tokend.cli.main", tmp_path)
    assert not modules & set(OPTIONAL)
    # A command keeps a registry and serves nothing: the registry needs no web framework.
    assert "fastapi" not in modules_after("import tokend.obs.metrics", tmp_path)
