"""PostgreSQL and Redis for the scenarios that run on them, as a deployment does
(deploy/compose.yaml): their URLs, a schema and key prefix of a run's own, and clean-up."""

from __future__ import annotations

import asyncio
import os

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings


def service_urls(purpose: str) -> tuple[str, str]:
    """PostgreSQL and Redis URLs (TOKEND_BENCH_* or TOKEND_TEST_*), both reachable, or
    SystemExit saying what ``purpose`` needs."""
    db_url = os.environ.get("TOKEND_BENCH_DATABASE_URL") or os.environ.get(
        "TOKEND_TEST_DATABASE_URL"
    )
    redis_url = os.environ.get("TOKEND_BENCH_REDIS_URL") or os.environ.get("TOKEND_TEST_REDIS_URL")
    if not db_url or not db_url.startswith("postgresql") or not redis_url:
        raise SystemExit(
            f"{purpose} needs PostgreSQL and Redis: set TOKEND_BENCH_DATABASE_URL and "
            "TOKEND_BENCH_REDIS_URL (or the TOKEND_TEST_* ones), e.g. "
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379/0"
        )
    asyncio.run(_check_reachable(purpose, db_url, redis_url))
    return db_url, redis_url


async def _check_reachable(purpose: str, db_url: str, redis_url: str) -> None:
    database = open_database(DatabaseSettings(url=db_url, pool_timeout_s=5.0))
    try:
        with anyio.fail_after(10):
            await database.ping()
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise SystemExit(f"{purpose}: PostgreSQL is not reachable ({exc})") from None
    finally:
        await database.close()
    client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
    except RedisError as exc:
        raise SystemExit(f"{purpose}: Redis is not reachable ({exc})") from None
    finally:
        await client.aclose()


def provider_env(
    server: str, db_url: str, schema: str, redis_url: str, key_prefix: str
) -> dict[str, str]:
    """A ``tokend serve`` on ``server`` with PostgreSQL schema ``schema`` and Redis keys under
    ``key_prefix``: a run's own part of both."""
    return {
        "TOKEND_SERVER__SERVER": server,
        "TOKEND_DATABASE__URL": db_url,
        "TOKEND_DATABASE__SCHEMA_NAME": schema,
        "TOKEND_REDIS__URL": redis_url,
        "TOKEND_REDIS__KEY_PREFIX": key_prefix,
    }


def dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def drop(
    db_url: str, schemas: list[str], redis_url: str | None = None, key_pattern: str | None = None
) -> None:
    """Drop a run's PostgreSQL ``schemas`` and its Redis keys matching ``key_pattern``."""
    database = open_database(DatabaseSettings(url=db_url))
    try:
        async with database.engine.begin() as conn:
            for schema in schemas:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await database.close()
    if redis_url is None or key_pattern is None:
        return
    redis = Redis.from_url(redis_url)
    try:
        async for name in redis.scan_iter(match=key_pattern, count=1000):
            await redis.delete(name)
    finally:
        await redis.aclose()
