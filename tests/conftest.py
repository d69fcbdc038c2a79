"""Shared fixtures: settings, a fresh database per test run on SQLite and PostgreSQL, Redis.

When ``TOKEND_TEST_DATABASE_URL`` / ``TOKEND_TEST_REDIS_URL`` are set (CI sets them), the tests
that need them run and *fail* if the service is unreachable; when unset, those tests are skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.file_times import (  # noqa: F401  (the hooks must live here)
    pytest_runtest_logreport,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)
from tests.secrets_seen import (
    SecretsSeen,
    install_log_capture,
    pytest_sessionfinish,  # noqa: F401  (the hooks must live here)
    pytest_testnodedown,  # noqa: F401
)
from tests.upstreams import LOOPBACK_UPSTREAMS
from tokend.config import Settings
from tokend.store import migrate
from tokend.store.engine import Database, open_database
from tokend.store.settings import DatabaseSettings

TEST_SECRET_KEY = "test-secret-key-" + secrets.token_hex(24)
RUN_ID = secrets.token_hex(4)

#: Argon2id at its cheapest for the in-process tests, which hash and check passwords by the
#: thousand: what they prove does not depend on the cost, which production sets high
#: (``AccountSettings.argon2_problems``). The servers the end-to-end tests start keep the
#: defaults, but for the security cases that sign in by the hundred (``tests/security/test_oidc``).
TEST_ARGON2: Final = {"argon2_memory_kib": 64, "argon2_time_cost": 1, "argon2_parallelism": 1}
#: The same costs as the environment of a ``tokend`` process (a server or a CLI command).
TEST_ARGON2_ENV: Final = {
    f"TOKEND_OIDC__ACCOUNTS__{k.upper()}": str(v) for k, v in TEST_ARGON2.items()
}


POSTGRES_URL = os.environ.get("TOKEND_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TOKEND_TEST_REDIS_URL")


def pytest_configure(config: pytest.Config) -> None:
    install_log_capture(config)


#: The files that take longest (real servers, browsers, the bench harness), by measured runs.
#: ``make test`` hands each file to one of three processes (``--dist loadfile``) in collection
#: order; a long file handed out last keeps one core busy while the other has nothing left, so
#: the longest go first (the LPT rule), then the rest by how long their kind takes.
LONGEST_FIRST: Final = (
    "tests/e2e/test_bench_smoke.py",
    "tests/security/test_platform.py",
    "tests/e2e/test_serve.py",
    "tests/security/test_oidc.py",
    "tests/e2e/test_fuzz_openapi.py",
    "tests/e2e/test_replicas.py",
    "tests/e2e/test_workers_metrics.py",
    "tests/e2e/test_oidc_fuzz.py",
    "tests/e2e/test_console_browser.py",
    "tests/security/test_vault.py",
    "tests/e2e/test_accounts_browser.py",
    "tests/e2e/test_upstream_browser.py",
    "tests/e2e/test_oidc_flow.py",
    "tests/api/console/test_console.py",
    "tests/e2e/test_oidc_modern.py",
)
_KIND_ORDER: Final = {"e2e": 0, "security": 1, "deploy": 2, "faults": 3, "api": 4, "unit": 5}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        if path in rank:
            return (0, rank[path])
        kind = path.split("/")[1] if path.count("/") > 1 else ""
        return (1, _KIND_ORDER.get(kind, len(_KIND_ORDER)))

    items.sort(key=order)  # stable: each file's tests stay together and in their order


@pytest.fixture(scope="session")
def secrets_seen() -> SecretsSeen:
    """Register every secret a test handles; the session ends red if a log line holds one."""
    return SecretsSeen.instance()


@pytest.fixture(scope="session", autouse=True)
def _register_test_secret_key(secrets_seen: SecretsSeen) -> None:
    secrets_seen.add(TEST_SECRET_KEY)


@pytest.fixture(scope="session")
def tmp_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


def _engine_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgres",
            id="postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(POSTGRES_URL is None, reason="TOKEND_TEST_DATABASE_URL unset"),
            ],
        )
    )
    return params


@pytest.fixture(scope="session", params=_engine_params())
def database_settings(request: pytest.FixtureRequest, tmp_var: Path) -> Iterator[DatabaseSettings]:
    """A migrated, empty database for this test run: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_var / 'tokend.db'}")
        migrate.upgrade(settings)
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_{RUN_ID}"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema, pool_size=5)
    migrate.upgrade(settings)  # fails loudly when PostgreSQL is unreachable
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


async def _drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture(scope="session")
def demo_database_settings(
    database_settings: DatabaseSettings, tmp_var: Path
) -> Iterator[DatabaseSettings]:
    """A database for demo-data apps, on the run's engine: a demo run writes only into one a
    demo run created (``tokend.store.demo_mark``), never into the migrated test database. The
    first demo app of the session creates it; the others reuse it, as repeated demo runs do."""
    if database_settings.url.startswith("sqlite"):
        yield DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_var / 'demo.db'}")
        return
    assert POSTGRES_URL is not None
    schema = f"demo_{RUN_ID}"
    yield database_settings.model_copy(update={"schema_name": schema})
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture
async def database(database_settings: DatabaseSettings) -> AsyncIterator[Database]:
    db = open_database(database_settings)
    yield db
    await db.close()


@pytest.fixture
def settings(database_settings: DatabaseSettings) -> Settings:
    """Development settings on the run's database, memory cache, no demo data; outbound calls
    may reach loopback, where the tests serve their fake providers, issuers and operators."""
    return Settings(
        env="development",
        issuer="http://testserver",
        secret_key=TEST_SECRET_KEY,
        database=database_settings,
        log={"format": "json", "level": "info"},
        http={"allow_hosts": LOOPBACK_UPSTREAMS},
        oidc={"accounts": TEST_ARGON2},
    )


@pytest.fixture
def redis_url() -> str:
    if REDIS_URL is None:
        pytest.skip("TOKEND_TEST_REDIS_URL unset")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, cleaned up by the tests that use Redis."""
    return f"tokend-test:{RUN_ID}:{secrets.token_hex(3)}:"


def shared_redis(url: str, key_prefix: str) -> dict[str, object]:
    """The ``redis`` settings of replicas that share a Redis in a test. The shipping socket
    timeout (0.5 s, for a Redis that answers within a millisecond) counts a slow answer as an
    outage, and a replica then falls back to its own memory, so the other replica does not see
    what it wrote; with three test processes on two cores an answer can take that long."""
    return {"url": url, "key_prefix": key_prefix, "socket_timeout_s": 2.0}


async def inside_one_rate_window(window_s: float = 60.0, needed_s: float = 10.0) -> None:
    """Wait, if need be, so the next ``needed_s`` seconds fall in one rate-limit window.

    The limiter (limits' sliding-window counter) weighs the previous window's count and floors
    the sum, so attempts that straddle a window boundary may let one more through: counting
    tests start where their attempts fit in one window.
    """
    left = window_s - (time.time() % window_s)
    if left < needed_s:
        await asyncio.sleep(left + 0.05)
