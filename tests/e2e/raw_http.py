"""HTTP/1.1 over a bare socket, for what an HTTP client library will not do: send a body the
server refuses half-way, trickle a request a byte at a time, or read the answer before the
request is complete. Test helpers only; no timing is asserted."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    #: None: the connection closed (or timed out) before a status line came.
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Whether the server closed the connection (EOF or reset) while we were talking.
    closed: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def connect(base_url: str, timeout_s: float = 10.0) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout_s)
    sock.settimeout(timeout_s)
    return sock


def request_head(
    method: str, path: str, headers: Mapping[str, str], host: str = "127.0.0.1"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """RFC 9112 §7.1 chunked transfer coding of ``chunks``."""
    for chunk in chunks:
        if chunk:
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def send(
    base_url: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Iterable[bytes] = (),
    *,
    timeout_s: float = 15.0,
) -> RawResponse:
    """Send the head, then ``body`` piece by piece, stopping as soon as the server answers or
    closes; then read the answer (status, headers and a Content-Length body)."""
    with connect(base_url, timeout_s) as sock:
        try:
            sock.sendall(request_head(method, path, headers))
            for piece in body:
                if _readable(sock):
                    break
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock)


def read_response(sock: socket.socket) -> RawResponse:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                return RawResponse(_status_of(data), closed=True)
            data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = _headers_of(head)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
        return RawResponse(_status_of(head), headers, rest[:length])
    except TimeoutError:  # still open, nothing (more) said
        return RawResponse(_status_of(data))
    except OSError:  # reset
        return RawResponse(_status_of(data), closed=True)


def trickle(
    base_url: str, data: bytes, *, pause_s: float, give_up_after_s: float
) -> tuple[RawResponse, int]:
    """Send ``data`` a byte per ``pause_s`` until the server answers or closes, or until
    ``give_up_after_s``; the answer and how many bytes were sent."""
    with connect(base_url, timeout_s=give_up_after_s) as sock:
        deadline = time.monotonic() + give_up_after_s
        sent = 0
        try:
            for byte in data:
                if time.monotonic() > deadline or _readable(sock):
                    break
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(pause_s)
        except (BrokenPipeError, ConnectionResetError):
            return RawResponse(None, closed=True), sent
        if not _readable(sock, timeout_s=max(0.0, deadline - time.monotonic())):
            return RawResponse(None), sent
        return read_response(sock), sent


def _readable(sock: socket.socket, timeout_s: float = 0.0) -> bool:
    ready, _, _ = select.select([sock], [], [], timeout_s)
    return bool(ready)


def _status_of(head: bytes) -> int | None:
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def _headers_of(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers
