"""A real SMTP server (aiosmtpd) for the mail tests, and filling the provider's forms."""

from __future__ import annotations

import email
import re
import threading
from email.message import Message
from typing import Any

import anyio
import httpx

LINK = re.compile(r"http://testserver(/[^\s]+)")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = threading.Semaphore(0)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content))
        self._arrived.release()
        return "250 OK"

    async def arrived(self, count: int) -> list[Message]:
        """The first ``count`` messages, once they have all arrived (10 s at most each)."""
        while len(self.messages) < count:
            came = await anyio.to_thread.run_sync(self._arrived.acquire, True, 10)
            assert came, f"{len(self.messages)} of {count} mails arrived"
        return self.messages[:count]

    async def next_link(self, count: int) -> str:
        # The SMTP server runs in its own thread: wait for its signal off the event loop.
        arrived = await anyio.to_thread.run_sync(self._arrived.acquire, True, 10)
        assert arrived, "no mail arrived"
        body = self.messages[count - 1].get_payload(decode=True)
        assert isinstance(body, bytes)
        match = LINK.search(body.decode())
        assert match is not None
        return match.group(1)


def link_of(message: Message) -> str:
    """The path and query of the provider's link in ``message``."""
    match = LINK.search(text_of(message))
    assert match is not None, text_of(message)
    return match.group(1)


def smtp_settings(port: int) -> dict[str, object]:
    """``oidc.email`` sending to the test SMTP server on ``port``."""
    return {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}


async def submit(http: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await http.get(path)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return await http.post(path.split("?")[0], data={"csrf_token": csrf.group(1), **fields})


def text_of(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body.decode()
