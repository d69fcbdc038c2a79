"""The tokend-guard distribution on its own: its wheel, built from packages/guard, installed into
a clean virtualenv with nothing but requirements/guard.txt, protects a small FastAPI app with
tokens from a real ``tokend serve`` (keys by discovery and JWKS over HTTP)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import (
    REPO,
    TOKEND,
    Server,
    free_port,
    migrate,
    start,
    tokend_env,
    tokend_json,
)
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

AUDIENCE = "https://orders.example"
UV = Path(sys.executable).with_name("uv")


@pytest.fixture(scope="module")
def guard_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the tokend-guard wheel and the locked versions of its dependencies."""
    tmp = tmp_path_factory.mktemp("guard-package")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp / "wheels"), str(REPO / "packages" / "guard")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp / "wheels").glob("tokend_guard-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(UV), "pip", "install", "--quiet", "--python", str(python)]
    requirements = str(REPO / "requirements" / "guard.txt")
    subprocess.run([*install, "--require-hashes", "-r", requirements], check=True, timeout=600)
    subprocess.run([*install, "--no-deps", str(wheel)], check=True, timeout=120)
    return python


@pytest.fixture(scope="module")
def issuer(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("guard-issuer")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'issuer.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
    )
    migrate(env)
    client = tokend_json(env, "clients", "create", "--name", "orders client",
                         "--grant", "client_credentials", "--scope", "orders:read",
                         "--audience", AUDIENCE)  # fmt: skip
    secrets_seen.add(client["client_secret"])
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server, client
    finally:
        assert server.stop() == 0


def test_the_guard_wheel_alone_protects_an_app_with_tokens_from_tokend_serve(
    guard_python: Path, issuer: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    server, client = issuer
    token = httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials", "scope": "orders:read", "resource": AUDIENCE},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    # Run from a folder of its own in isolated mode: src/ and tests/ are not on its path.
    script = shutil.copy(Path(__file__).with_name("guarded_app.py"), tmp_path)
    done = subprocess.run(
        [str(guard_python), "-I", str(script), server.base_url, AUDIENCE],
        input=token + "\n", cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    answers = report["answers"]

    assert answers["me"]["status"] == 200, answers["me"]
    assert answers["me"]["body"] == {"sub": client["client_id"], "scopes": ["orders:read"]}
    assert answers["orders"]["status"] == 200
    # RFC 6750 §3.1: a token without the scope is refused with insufficient_scope ...
    assert answers["cancel"]["status"] == 403
    assert 'error="insufficient_scope"' in answers["cancel"]["challenge"]
    # ... no token gets a bare challenge, a forged signature invalid_token.
    assert answers["anonymous"]["status"] == 401
    assert answers["anonymous"]["challenge"].startswith("Bearer")
    assert "error=" not in answers["anonymous"]["challenge"]
    assert answers["forged"]["status"] == 401
    assert 'error="invalid_token"' in answers["forged"]["challenge"]

    # The guard came from the wheel, and nothing of the server was installed with it.
    assert "/site-packages/tokend/guard/" in report["guard_file"]
    assert report["importable"] == []
    locked = set(_pins(REPO / "requirements" / "guard.txt"))
    assert set(report["distributions"]) == locked | {"tokend-guard"}


def _pins(path: Path) -> list[str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", path.read_text(encoding="utf-8"), re.M)
    return [re.sub(r"[-_.]+", "-", name).lower() for name in pins]
