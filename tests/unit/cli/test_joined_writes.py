"""``JoinedWrites``: a response's head and body leave in one write, nothing is lost or reordered."""

from __future__ import annotations

import asyncio
import socket

from tokend.cli.http_protocol import JoinedWrites

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorded(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


async def _next_iteration() -> None:
    await asyncio.sleep(0)


async def test_a_head_and_its_body_are_one_write() -> None:
    inner = Recorded()
    joined = JoinedWrites(inner, asyncio.get_running_loop())
    joined.write(HEAD)
    assert inner.writes == []
    assert joined.get_write_buffer_size() == len(HEAD)
    joined.write(memoryview(b"{}"))
    assert inner.writes == [HEAD + b"{}"]
    await _next_iteration()
    assert inner.writes == [HEAD + b"{}"]  # the end of the iteration has nothing left to send


async def test_a_head_without_a_body_leaves_at_the_end_of_the_iteration() -> None:
    inner = Recorded()
    joined = JoinedWrites(inner, asyncio.get_running_loop())
    joined.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    await _next_iteration()
    assert inner.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    joined.write(HEAD)  # the next response on the connection is held again
    joined.writelines([b"{", b"}"])
    assert inner.writes[1:] == [HEAD + b"{}"]


async def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    inner = Recorded()
    joined = JoinedWrites(inner, asyncio.get_running_loop())
    joined.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    joined.close()
    assert inner.writes == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"]
    assert inner.closed
    aborted = Recorded()
    dropped = JoinedWrites(aborted, asyncio.get_running_loop())
    dropped.write(HEAD)
    dropped.abort()
    await _next_iteration()
    assert (aborted.writes, aborted.aborted) == ([], True)


async def test_through_a_socket_the_bytes_arrive_whole_and_in_order() -> None:
    loop = asyncio.get_running_loop()
    server, client = socket.socketpair()
    received = bytearray()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server)
    joined = JoinedWrites(transport, loop)
    for n in range(3):
        joined.write(HEAD)
        joined.write(b"%02d" % n)
    joined.write(b"tail")
    await _next_iteration()
    joined.close()
    client.setblocking(False)
    while len(received) < 3 * (len(HEAD) + 2) + 4:
        try:
            received += client.recv(4096)
        except BlockingIOError:
            await asyncio.sleep(0.01)
    client.close()
    assert bytes(received) == b"".join(HEAD + b"%02d" % n for n in range(3)) + b"tail"
