"""``receive_by``: a body read within the read deadline, or a 408 (``BodyLimitExceeded``);
``read_body``: the whole body up to a limit, as Starlette's stream gives it."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from tokend.core.body_limit import BodyLimitExceeded, read_body, receive_by
from tokend.core.errors import ContentTooLarge

BODY: Message = {"type": "http.request", "body": b"grant_type=client_credentials"}


async def test_a_body_already_in_is_read_without_arming_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def arrived() -> Message:
        return BODY

    def armed(*_: object) -> None:
        raise AssertionError("a timeout was armed for a body already in")

    monkeypatch.setattr(asyncio, "timeout_at", armed)
    deadline = asyncio.get_running_loop().time() - 1  # past: it would be a 408 if consulted
    assert await receive_by(arrived, deadline) is BODY


async def test_a_body_that_comes_in_time_is_read_after_waiting() -> None:
    arrived = asyncio.Event()

    async def slow() -> Message:
        await arrived.wait()
        await asyncio.sleep(0)
        return BODY

    asyncio.get_running_loop().call_later(0.05, arrived.set)
    deadline = asyncio.get_running_loop().time() + 5
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
    deadline = asyncio.get_running_loop().time() + 0.05
    with pytest.raises(BodyLimitExceeded) as raised:
        await receive_by(never, deadline)
    assert raised.value.status_code == 408
    assert never.cancelled.is_set()  # the server's receive was woken with the cancellation


async def test_cancelling_the_request_cancels_the_wait_for_its_body() -> None:
    held = Endless()
    deadline = asyncio.get_running_loop().time() + 60
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
        await receive_by(broken, asyncio.get_running_loop().time() + 5)


async def test_a_receive_that_answers_a_future_of_its_own_is_bounded_too() -> None:
    # granian's receive returns an awaitable of its own, not a coroutine.
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Message] = loop.create_future()
    loop.call_later(0.02, ready.set_result, BODY)
    assert await receive_by(lambda: ready, loop.time() + 5) is BODY
    never: asyncio.Future[Message] = loop.create_future()
    with pytest.raises(BodyLimitExceeded):
        await receive_by(lambda: never, loop.time() + 0.05)


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
