"""What a process imports to start decides how long it takes (issue: start-up under 1.5 s):
libraries only some deployments use are imported when they are used. A fresh interpreter per
case, since this one has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Final

from tests.conftest import TEST_SECRET_KEY

#: redis-py (and the OpenTelemetry SDK it loads), SAQ, and webauthn with its ASN.1 formats:
#: together about a fifth of a start, and a default process (SQLite, no Redis) uses none.
OPTIONAL: Final = ("redis", "saq", "webauthn", "opentelemetry.sdk")

_BUILD_APP: Final = """
import json, sys
from tokend.app import create_app
from tokend.config import Settings
create_app(Settings(env="development", secret_key={key!r},
                    database={{"url": "sqlite+aiosqlite:///:memory:"}}, redis={redis}))
print(json.dumps(sorted(name for name in {optional!r} if name in sys.modules)))
"""


def imported_by(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    names: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return names


def build_app(redis: dict[str, str]) -> str:
    return _BUILD_APP.format(key=TEST_SECRET_KEY, redis=redis, optional=OPTIONAL)


def test_a_default_app_is_built_without_redis_saq_or_webauthn() -> None:
    assert imported_by(build_app({})) == []


def test_an_app_with_redis_imports_redis_and_saq_when_it_is_built() -> None:
    # The other side of the lazy imports: configured, they are there (no connection is made).
    imported = imported_by(build_app({"url": "redis://127.0.0.1:1/0"}))
    assert {"redis", "saq"} <= set(imported)
    assert "webauthn" not in imported


def test_the_command_line_imports_no_optional_library_nor_fastapi_for_its_registry() -> None:
    code = (
        "import json, sys\nimport tokend.cli.main\nimport tokend.obs.metrics\n"
        f"print(json.dumps(sorted(n for n in {OPTIONAL!r} if n in sys.modules)))"
    )
    assert imported_by(code) == []
    registry_only = (
        "import json, sys\nimport tokend.obs.metrics\n"
        "print(json.dumps(['fastapi'] if 'fastapi' in sys.modules else []))"
    )
    assert imported_by(registry_only) == []
