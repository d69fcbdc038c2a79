"""The audit trail is durable: stored in ``audit_events``, the same for every replica on the
database and after a restart, filtered and paged by the audit page, purged after its retention,
and a database that refuses the write does not fail the administrator's action."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import anyio
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.api.console.conftest import Console, provider_sign_in, serving_console
from tests.log_lines import LogLines
from tests.polling import eventually
from tokend.config import Settings
from tokend.jobs.inprocess import InProcessJobs
from tokend.store.audit import (
    PURGE_AUDIT_EVERY_S,
    PURGE_AUDIT_JOB,
    AuditQuery,
    AuditRecord,
    SqlAuditEvents,
)

ROW = re.compile(r"<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td><td>([^<]*)</td><td>([^<]*)</td>")


def _rows(page: str) -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3]) for m in ROW.finditer(page)]


def _link(page: str, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', page)
    return html.unescape(found[1]) if found else None


async def _store(console: Console, *records: AuditRecord) -> None:
    await SqlAuditEvents(console.slot.get().database).add(records)


async def test_two_replicas_on_one_database_show_each_others_events(settings: Settings) -> None:
    async with serving_console(settings) as one, serving_console(settings) as two:
        admin = await one.user("root@example.org", ["admin"])
        csrf = one.sign_in_as(admin)
        two.sign_in_as(admin)
        cleared = await one.client.post("/console/guard/clear", data={"csrf_token": csrf})
        assert cleared.status_code == 303
        # Written by the first replica's background writer, read by the second one.
        deadline = anyio.current_time() + 10
        while True:
            page = await two.client.get(f"/console/audit?actor={admin.id}")
            seen = [action for _, action, _ in _rows(page.text)]
            if seen or anyio.current_time() > deadline:
                break
            await anyio.sleep(0.1)
        assert seen == ["guard_jwks_cleared"]
    # And after both stopped (a restart), a new process still shows it.
    async with serving_console(settings) as again:
        again.sign_in_as(admin)
        page = await again.client.get(f"/console/audit?actor={admin.id}&action=guard_")
        assert [action for _, action, _ in _rows(page.text)] == ["guard_jwks_cleared"]


async def test_the_audit_page_filters_by_action_prefix_actor_target_time_and_text(
    console: Console,
) -> None:
    console.sign_in_as(await console.user("root@example.org", ["admin"]))
    actor = f"u_{uuid4().hex}"
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await _store(
        console,
        AuditRecord(uuid4().hex, base, "auth.login_failed", actor, "", "refused"),
        AuditRecord(uuid4().hex, base + timedelta(hours=1), "auth.code_issued", actor, "c1"),
        AuditRecord(uuid4().hex, base + timedelta(hours=2), "client_created", actor, "c1"),
        AuditRecord(uuid4().hex, base + timedelta(hours=3), "client_deleted", actor, "c2"),
        AuditRecord(uuid4().hex, base, "client_created", f"u_{uuid4().hex}", "c1"),
    )

    async def actions(query: str) -> list[str]:
        page = await console.client.get(f"/console/audit?actor={actor}&{query}")
        assert page.status_code == 200
        return [action for _, action, _ in _rows(page.text)]

    assert await actions("") == [
        "client_deleted", "client_created", "auth.code_issued", "auth.login_failed",
    ]  # fmt: skip
    assert await actions("action=auth.") == ["auth.code_issued", "auth.login_failed"]
    # A prefix is a prefix: "%" and "_" are not wildcards.
    assert await actions("action=auth%25") == []
    assert await actions("action=client_") == ["client_deleted", "client_created"]
    assert await actions("target=c1") == ["client_created", "auth.code_issued"]
    assert await actions("since=2026-03-01T13:00&until=2026-03-01T15:00") == [
        "client_created", "auth.code_issued",
    ]  # fmt: skip
    assert await actions("q=REFUSED") == ["auth.login_failed"]
    assert await actions("q=deleted") == ["client_deleted"]


async def test_the_audit_page_pages_by_keyset_newest_first(console: Console) -> None:
    console.sign_in_as(await console.user("root@example.org", ["admin"]))
    actor = f"u_{uuid4().hex}"
    at = datetime(2026, 4, 1, tzinfo=UTC)
    # 25 events, five of them at the very same instant: the id breaks the tie.
    records = [
        AuditRecord(uuid4().hex, at + timedelta(minutes=min(i, 20)), f"step_{i:02}", actor)
        for i in range(25)
    ]
    await _store(console, *records)
    first = await console.client.get(f"/console/audit?actor={actor}")
    shown = [action for _, action, _ in _rows(first.text)]
    assert len(shown) == 20
    assert _link(first.text, "Newest") is None
    older = _link(first.text, "Older")
    assert older is not None
    second = await console.client.get(f"/console/audit{older}")
    rest = [action for _, action, _ in _rows(second.text)]
    assert len(rest) == 5
    assert _link(second.text, "Older") is None
    assert _link(second.text, "Newest") == f"?actor={actor}"
    # Every event once, newest first.
    assert sorted(shown + rest) == sorted(r.action for r in records)
    assert set(shown).isdisjoint(rest)
    # The five at the latest instant come first (in id order), then the others newest first.
    assert set(shown[:5]) == {f"step_{i}" for i in range(20, 25)}
    assert shown[5:] == [f"step_{i:02}" for i in range(19, 4, -1)]
    assert rest == [f"step_{i:02}" for i in range(4, -1, -1)]
    # An event written meanwhile does not shift the older page.
    await _store(console, AuditRecord(uuid4().hex, at + timedelta(days=1), "newer", actor))
    again = await console.client.get(f"/console/audit{older}")
    assert [action for _, action, _ in _rows(again.text)] == rest


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("before=not-a-cursor", "The page link is malformed"),
        ("before=2026-01-01T00:00:00~zz", "The page link is malformed"),
        ("since=yesterday", "since: not a date and time"),
        ("until=2026-13-01", "until: not a date and time"),
    ],
)
async def test_a_malformed_filter_or_page_link_is_a_400_page(
    console: Console, query: str, message: str
) -> None:
    console.sign_in_as(await console.user("root@example.org", ["admin"]))
    page = await console.client.get(f"/console/audit?{query}")
    assert page.status_code == 400
    assert f'<p class="alert" role="alert">{message}' in page.text


@contextmanager
def audit_writes_fail(console: Console) -> Iterator[None]:
    """The database refuses every write to ``audit_events`` (a disk full, a failover)."""

    def refuse(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "audit_events" in statement and statement.lstrip().upper().startswith("INSERT"):
            raise OperationalError(statement, None, Exception("disk I/O error"))

    engine = console.slot.get().database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


async def test_a_failed_audit_write_does_not_fail_the_action_and_is_retried(
    console: Console, capfd: pytest.CaptureFixture[str]
) -> None:
    lines = LogLines(capfd)
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    registry = console.app.state.metrics_registry
    with audit_writes_fail(console):
        cleared = await console.client.post("/console/guard/clear", data={"csrf_token": csrf})
        assert cleared.status_code == 303  # the action happened
        page = await console.client.get(f"/console/audit?actor={admin.id}")
        assert page.status_code == 200
        assert _rows(page.text) == []
        await eventually(lambda: bool(lines.named("console.audit_write_failed")))
        failures = registry.get_sample_value("tokend_console_audit_write_failures_total")
        assert failures is not None
        assert failures >= 1
    # The database is back: the event kept waiting and is written now.
    page = await console.client.get(f"/console/audit?actor={admin.id}")
    assert [action for _, action, _ in _rows(page.text)] == ["guard_jwks_cleared"]
    assert registry.get_sample_value(
        "tokend_console_actions_total", {"action": "guard_jwks_cleared", "outcome": "ok"}
    )


async def test_the_purge_job_deletes_events_past_the_retention(settings: Settings) -> None:
    block = settings.console.model_copy(update={"audit_retention_days": 30})
    async with serving_console(settings.model_copy(update={"console": block})) as console:
        actor = f"u_{uuid4().hex}"
        now = datetime.now(UTC)
        old = AuditRecord(uuid4().hex, now - timedelta(days=31), "old", actor)
        kept = AuditRecord(uuid4().hex, now - timedelta(days=29), "kept", actor)
        await _store(console, old, kept)
        jobs = console.slot.get().jobs
        assert isinstance(jobs, InProcessJobs)
        purge = jobs.specs[PURGE_AUDIT_JOB]
        assert purge.every_s == PURGE_AUDIT_EVERY_S
        await purge.run()
        left = await SqlAuditEvents(console.slot.get().database).page(AuditQuery(actor=actor))
        assert [r.action for r in left] == ["kept"]


async def test_a_stored_event_holds_the_request_id_and_no_secret(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    made = await console.client.post(
        "/console/gateway", data={"csrf_token": csrf, "username": f"svc-{uuid4().hex[:8]}"}
    )
    assert made.status_code == 200
    api_key = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    assert api_key
    page = await console.client.get(f"/console/audit?actor={admin.id}&action=consumer_created")
    stored = await SqlAuditEvents(console.slot.get().database).page(
        AuditQuery(actor=admin.id, action_prefix="consumer_created")
    )
    assert len(stored) == 1
    assert stored[0].request_id == made.headers["x-request-id"]
    assert f"request {made.headers['x-request-id']}" in page.text
    assert api_key[1] not in page.text
    assert api_key[1] not in repr(stored)


async def test_a_batch_tried_again_keeps_each_event_once(console: Console) -> None:
    # A write that timed out may have committed: trying its batch again stores the rest only.
    actor = f"u_{uuid4().hex}"
    now = datetime.now(UTC)
    first = AuditRecord(uuid4().hex, now, "first", actor)
    second = AuditRecord(uuid4().hex, now, "second", actor)
    store = SqlAuditEvents(console.slot.get().database)
    await store.add([first])
    await store.add([first, second])
    stored = await store.page(AuditQuery(actor=actor))
    assert sorted(r.action for r in stored) == ["first", "second"]


@pytest.mark.parametrize("keep_all", [False, True], ids=["default", "keep-all"])
async def test_per_token_events_stay_out_of_the_trail_unless_configured(
    settings: Settings, keep_all: bool
) -> None:
    update: dict[str, object] = {"audit_skip": []} if keep_all else {}
    block = settings.console.model_copy(update=update)
    async with serving_console(settings.model_copy(update={"console": block})) as console:
        admin = await console.user("root@example.org", ["admin"])
        start = await console.client.get("/console/login")
        back = await provider_sign_in(console.client, start.headers["location"], admin.email)
        assert back.status_code == 303, back.text
        page = await console.client.get(f"/console/audit?actor={admin.id}")
        actions = {action for _, action, _ in _rows(page.text)}
    # A sign-in's security events are kept; one per code and token only when asked for.
    assert {"sign_in", "auth.login_succeeded"} <= actions
    per_token = {"auth.code_issued", "auth.token_issued"}
    assert (per_token <= actions) if keep_all else not (per_token & actions)
