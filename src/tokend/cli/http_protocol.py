"""The HTTP/1.1 protocol ``tokend serve`` runs uvicorn with: httptools, with a bounded head.

uvicorn bounds neither how long a request head may take nor (with httptools) how large it may
grow: a client sending its headers a byte at a time held a connection, and a task slot, for as
long as it liked. Here the head (request line and headers) must arrive within
``header_timeout_s`` of the connection (or of the request's first byte on a kept-alive one), or
the connection gets a 408 and closes; a head past ``max_header_bytes`` gets a 431 and closes.
The body's own deadline and size are the app's (``core.body_limit``), the same on granian; and
when the app has answered before the body is in, the connection closes rather than keep
reading the rest from a slow or endless sender.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout_s: float,
        max_header_bytes: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timeout_s = header_timeout_s
        self._max_header_bytes = max_header_bytes
        self._head_deadline: asyncio.TimerHandle | None = None
        #: True between requests and inside a request head; False inside a body.
        self._in_head = True
        #: Bytes received while in a head (a bound for a head still arriving) ...
        self._head_bytes = 0
        #: ... and the parsed head's own size (for a head that arrived in one read).
        self._parsed_head_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        # The responses' writes; reading (flow control) stays on the transport itself.
        self.transport = JoinedWrites(transport, self.loop)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after all of that: the head alone is at least this long.
        if self._in_head and self._head_bytes > self._max_header_bytes:
            self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head_bytes = 0
        if self._head_deadline is None:  # a kept-alive connection's next request
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._parsed_head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._parsed_head_bytes += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_deadline()
        if self._parsed_head_bytes > self._max_header_bytes:
            self._refuse(431)  # before the app sees the request
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _arm_head_deadline(self) -> None:
        self._head_deadline = self.loop.call_later(self._header_timeout_s, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._in_head:
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        """RFC 9110 §15.5.9 / RFC 6585 §5: answer ``status`` and close; nothing more is read."""
        if self.transport.is_closing():
            return
        self._refused = True
        self._disarm_head_deadline()
        # Only when no response is on its way: its bytes must not be interleaved.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                STATUS_LINE[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()


class JoinedWrites(asyncio.Transport):
    """A connection's transport that writes a response's head and body together.

    uvicorn writes a response's head (status line and headers) and then its body with two
    ``transport.write`` calls; asyncio sends each at once, two ``send`` system calls and, with
    TCP_NODELAY (asyncio sets it), two TCP segments for the client and both kernels to handle.
    Here a write is held until the next one, which takes it along, or until the end of the
    event-loop iteration (a head without a body to follow: HEAD, 204, 304), so an answer that
    fits in one segment goes out in one. Everything else is the transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        held, self._held = self._held, None
        self._transport.write(held + data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        held = len(self._held) if self._held is not None else 0
        return self._transport.get_write_buffer_size() + held

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()
