"""``receive_by``: a body read within the read deadline, or a 408 (``BodyLimitExceeded``);
``read_body``: the whole body up to a limit, as Starlette's stream gives it; and the
``BodyLimitMiddleware`` in front of both."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from tokend.core.body_limit import (
    BodyLimitExceeded,
    BodyLimitMiddleware,
    _Deadlines,
    read_body,
    receive_by,
)
from tokend.core.errors import PROBLEM, ContentTooLarge
from tokend.core.surfaces import SurfaceResolver

BODY: Message = {"type": "http.request", "body": b"grant_type=client_credentials"}


async def test_a_body_already_in_is_read_without_arming_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def arrived() -> Message:
        return BODY

    def armed(*_: object) -> None:
        raise AssertionError("a deadline was armed for a body already in")

    monkeypatch.setattr(_Deadlines, "add", armed)
    deadline = time.monotonic() - 1  # past: it would be a 408 if consulted
    assert await receive_by(arrived, deadline) is BODY


async def test_a_body_that_comes_in_time_is_read_after_waiting() -> None:
    arrived = asyncio.Event()

    async def slow() -> Message:
        await arrived.wait()
        await asyncio.sleep(0)
        return BODY

    asyncio.get_running_loop().call_later(0.05, arrived.set)
    deadline = time.monotonic() + 5
    assert await receive_by(slow, deadline) is BODY


class Endless:
    """A server's ``receive`` whose body never comes: it says when it is waiting and when the
    wait was cancelled."""

    def __init__(self) -> None:
        self.waiting, self.cancelled = asyncio.Event(), asyncio.Event()

    async def __call__(self) -> Message:
        self.waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


async def test_a_body_that_does_not_come_by_the_deadline_is_a_408() -> None:
    never = Endless()
    deadline = time.monotonic() + 0.05
    with pytest.raises(BodyLimitExceeded) as raised:
        await receive_by(never, deadline)
    assert raised.value.status_code == 408
    assert never.cancelled.is_set()  # the server's receive was woken with the cancellation


async def test_cancelling_the_request_cancels_the_wait_for_its_body() -> None:
    held = Endless()
    deadline = time.monotonic() + 60
    task = asyncio.create_task(receive_by(held, deadline))
    await held.waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.cancelled.is_set()


async def test_an_error_of_the_servers_receive_reaches_the_reader() -> None:
    async def broken() -> Message:
        await asyncio.sleep(0)
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        await receive_by(broken, time.monotonic() + 5)


async def test_a_receive_that_answers_a_future_of_its_own_is_bounded_too() -> None:
    # granian's receive returns an awaitable of its own, not a coroutine.
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Message] = loop.create_future()
    loop.call_later(0.02, ready.set_result, BODY)
    assert await receive_by(lambda: ready, time.monotonic() + 5) is BODY
    never: asyncio.Future[Message] = loop.create_future()
    with pytest.raises(BodyLimitExceeded):
        await receive_by(lambda: never, time.monotonic() + 0.05)


async def test_a_future_already_done_is_read_without_arming_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def armed(*_: object) -> None:
        raise AssertionError("a deadline was armed for a body already in")

    monkeypatch.setattr(_Deadlines, "add", armed)
    ready: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    ready.set_result(BODY)
    assert await receive_by(lambda: ready, time.monotonic() - 1) is BODY


async def test_reads_in_flight_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_later = loop.call_later

    def counted(delay: float, *args: Any) -> asyncio.TimerHandle:
        armed.append(delay)
        return call_later(delay, *args)

    monkeypatch.setattr(loop, "call_later", counted)
    bodies = [loop.create_future() for _ in range(50)]
    start = time.monotonic()
    reads = [
        asyncio.create_task(receive_by(lambda body=body: body, start + 60 + n))  # type: ignore[misc]
        for n, body in enumerate(bodies)
    ]
    for _ in range(3):
        await asyncio.sleep(0)  # every read is waiting (a sleep of 0 arms no timer)
    assert len(armed) == 1  # for the earliest deadline:
    assert 59 < armed[0] <= 60
    for body in bodies:
        body.set_result(BODY)
    assert await asyncio.gather(*reads) == [BODY] * 50


async def test_only_the_read_past_its_deadline_is_a_408() -> None:
    loop = asyncio.get_running_loop()
    late, slow = Endless(), loop.create_future()
    later = asyncio.create_task(receive_by(lambda: slow, time.monotonic() + 60))
    with pytest.raises(BodyLimitExceeded) as raised:
        await receive_by(late, time.monotonic() + 0.05)
    assert raised.value.status_code == 408
    assert late.cancelled.is_set()
    assert not later.done()
    slow.set_result(BODY)
    assert await later is BODY


async def test_a_read_that_joins_with_an_earlier_deadline_is_timed_by_it() -> None:
    loop = asyncio.get_running_loop()
    first = asyncio.create_task(receive_by(lambda: loop.create_future(), time.monotonic() + 60))
    await asyncio.sleep(0)
    with pytest.raises(BodyLimitExceeded):
        await asyncio.wait_for(receive_by(Endless(), time.monotonic() + 0.05), timeout=5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


def _request(messages: list[Message], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    async def receive() -> Message:
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": headers or []}, receive)


async def test_read_body_joins_the_chunks_of_a_streamed_body_as_starlette_does() -> None:
    chunks = [b"grant_type=", b"", b"client_credentials", b"&scope=a"]
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    starlette_messages = list(messages)
    assert await read_body(_request(messages), 1024) == b"".join(chunks)
    assert await _request(starlette_messages).body() == b"".join(chunks)
    assert messages == []  # nothing read past the last message


async def test_read_body_refuses_a_stream_past_the_limit_before_reading_the_rest() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
        {"type": "http.request", "body": b"x", "more_body": False},
    ]
    with pytest.raises(ContentTooLarge):
        await read_body(_request(messages), 10)
    assert len(messages) == 1


async def test_read_body_refuses_a_declared_length_past_the_limit_before_reading() -> None:
    messages: list[Message] = [{"type": "http.request", "body": b"x" * 20}]
    with pytest.raises(ContentTooLarge):
        await read_body(_request(messages, [(b"content-length", b"20")]), 10)
    assert len(messages) == 1


async def test_read_body_raises_starlettes_client_disconnect_when_the_client_goes() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"grant", "more_body": True},
        {"type": "http.disconnect"},
    ]
    with pytest.raises(ClientDisconnect):
        await read_body(_request(messages), 1024)


async def test_the_limiter_passes_a_body_already_in_without_looking_the_loop_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11's running-loop lookup is a ``getpid`` system call: a token request whose
    form is in its first packet makes none on its way through the limiter."""
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())

    async def receive() -> Message:
        return BODY

    async def send(message: Message) -> None:
        raise AssertionError("the app answered nothing")

    limiter = BodyLimitMiddleware(
        app, default_max_bytes=1024, read_timeout_s=5, resolver=SurfaceResolver(default=PROBLEM),
        version="test",
    )  # fmt: skip
    scope: Scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "path": "/token",
        "headers": [(b"content-length", str(len(BODY["body"])).encode())],
    }  # fmt: skip
    lookup = asyncio.get_running_loop

    def looked_up() -> asyncio.AbstractEventLoop:
        raise AssertionError("the running loop was looked up")

    monkeypatch.setattr(asyncio, "get_running_loop", looked_up)
    try:
        await limiter(scope, receive, send)
    finally:
        monkeypatch.setattr(asyncio, "get_running_loop", lookup)
    assert seen == [BODY]
