"""The one request-body limit: how many bytes a route reads, and for how long it waits.

Every body reaches the app through :class:`BodyLimitMiddleware`'s ``receive``. On the first
read it takes the matched route's limit (``max_body_bytes`` on the route class, see
``core.surfaces.surface_router``; the configured default otherwise), refuses a
``Content-Length`` above it with a 413 before one byte is read, counts what a chunked body
streams and stops at the limit, and gives up on a body that has not arrived by the read
deadline (408). A route that never reads its body (an admin route refusing the caller) costs
nothing. Both answers are rendered by the route's surface and close the connection.

FastAPI's own ``AppBodyLimitMiddleware`` stays a pass-through (``max_body_size`` is never set):
Starlette's limiter under it answers a plain-text 413 that replaces whatever the route was
answering, in no surface's shape.
"""

from __future__ import annotations

import asyncio
import math
import time
import types
from collections.abc import Coroutine, Generator
from typing import Any, ClassVar, Final

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokend.core.errors import ContentTooLarge, RequestTimeout, TokendError
from tokend.core.surfaces import SurfaceResolver, render_error

#: Token, introspection and other form endpoints: their parameters fit in a few kilobytes.
FORM_MAX_BYTES: Final = 64 * 1024
#: Admin JSON bodies (a client, a user, a directory entry).
ADMIN_JSON_MAX_BYTES: Final = 1024 * 1024

_CLOSE: Final = {"Connection": "close"}


class BodyLimitExceeded(StarletteHTTPException):
    """Raised out of ``receive``: an HTTPException, the one kind FastAPI lets out of its body
    reading unchanged (it turns any other into a 400). The app's handler renders it as a
    :class:`ContentTooLarge` or :class:`RequestTimeout` of the route's surface."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code, headers=_CLOSE)


def route_limit(scope: Scope) -> int | None:
    """The matched route's own body limit, if it declares one."""
    limit = getattr(scope.get("route"), "max_body_bytes", None)
    return limit if isinstance(limit, int) else None


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``; None when absent (chunked) or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _may_have_body(scope: Scope) -> bool:
    # HTTP/1.x frames a body with one of these two headers (RFC 9112 §6); HTTP/2 needs neither.
    if scope.get("http_version") not in ("1.1", "1.0"):
        return True
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class BodyLimitMiddleware:
    """Bounds every request body by the route's limit and the read deadline."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_max_bytes: int,
        read_timeout_s: float,
        resolver: SurfaceResolver,
        version: str,
    ) -> None:
        self.app = app
        self.default_max_bytes = default_max_bytes
        self.read_timeout_s = read_timeout_s
        self.resolver = resolver
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_have_body(scope):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        # On the monotonic clock rather than the loop's: looking the loop up asks the kernel
        # for the process id in Python 3.11 (a system call), and a body already in needs none.
        deadline = time.monotonic() + self.read_timeout_s
        limit: int | None = None
        received = 0
        finished = False

        async def bounded_receive() -> Message:
            nonlocal limit, received, finished
            if finished:
                # The body is in; what is left is waiting for the disconnect (streaming
                # responses do), which no deadline bounds.
                return await receive()
            if limit is None:
                # The route is known by the time the app reads.
                own = route_limit(scope)
                limit = self.default_max_bytes if own is None else own
                if declared is not None and declared > limit:
                    raise BodyLimitExceeded(ContentTooLarge.status)
            message = await receive_by(receive, deadline)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyLimitExceeded(ContentTooLarge.status)
                finished = not message.get("more_body", False)
            return message

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyLimitExceeded as exc:
            # Out of an app that does not render HTTP errors itself (a mounted one).
            if started:
                raise
            error: TokendError = (
                ContentTooLarge() if exc.status_code == ContentTooLarge.status else RequestTimeout()
            )
            await render_error(error, scope, self.resolver, self.version)(scope, receive, send)


async def receive_by(receive: Receive, deadline: float) -> Message:
    """``receive()``, given until ``deadline`` (``time.monotonic()``'s clock), else a 408.

    A body that has arrived is answered at once, with no timer: uvicorn's ``receive`` is run by
    hand up to the first thing it would wait on (:func:`_resume`), and granian's future is
    asked whether it is done. A read that waits joins its loop's :class:`_Deadlines`, whose one
    timer serves every read in flight. asyncio's own timeout armed a timer per read (a uvloop
    timer made, started and stopped, a ``Timeout`` object, the running loop and current task
    looked up): 4-6% of a token request's CPU on uvicorn when it was armed for every read, and
    on granian, whose body always comes one loop iteration after the head, introspection ran
    at 6,800 requests/s with it and 8,500-9,300 with the shared timer (uvicorn and granian
    alternated in each run, ``python -m bench.servers``). (asyncio's
    cancellation rather than anyio's: the servers tokend runs on are asyncio, and anyio's
    cancel scope cost 2.5 times as much.)
    """
    reading = receive()
    if isinstance(reading, types.CoroutineType):  # uvicorn's
        try:
            waiting = reading.send(None)
        except StopIteration as done:
            message: Message = done.value
            return message
        loop = _loop_of(waiting)
        reading = _resume(reading, waiting)
    else:
        if asyncio.isfuture(reading) and reading.done():  # granian's: a future of its own
            return reading.result()  # type: ignore[no-any-return]
        loop = _loop_of(reading)
    task = asyncio.current_task(loop)
    if task is None:
        raise RuntimeError("receive_by runs in a task")
    deadlines = _Deadlines.of(loop)
    cancelling = task.cancelling()
    deadlines.add(task, deadline)
    try:
        return await reading
    except asyncio.CancelledError:
        # Ours when the deadline cancelled it and nothing else asked to (asyncio.timeout's
        # rule: Python docs, "Task Cancellation", uncancel()).
        if deadlines.expired(task) and task.uncancel() <= cancelling:
            raise BodyLimitExceeded(RequestTimeout.status) from None
        raise
    finally:
        deadlines.discard(task)


def _loop_of(waiting: object) -> asyncio.AbstractEventLoop:
    """The loop of what a read waits on: a future knows it (without the running-loop lookup,
    which asks the kernel for the process id in Python 3.11)."""
    if asyncio.isfuture(waiting):
        return waiting.get_loop()
    return asyncio.get_running_loop()


class _Deadlines:
    """The body reads waiting on one event loop, and one timer for them all, due at the
    earliest of their deadlines: when it fires it cancels the reads past theirs and is armed
    again for the next. A read costs a dict entry made and dropped; the timer fires about
    once per read timeout."""

    _by_loop: ClassVar[dict[asyncio.AbstractEventLoop, _Deadlines]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._due = math.inf

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        deadlines = cls._by_loop.get(loop)
        if deadlines is None:
            # A server has one loop; tests make many, and a closed one leaves here.
            cls._by_loop = {
                other: kept for other, kept in cls._by_loop.items() if not other.is_closed()
            }
            deadlines = cls._by_loop[loop] = cls(loop)
        return deadlines

    def add(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._waiting[task] = deadline
        if deadline < self._due:
            self._arm(deadline)

    def discard(self, task: asyncio.Task[Any]) -> None:
        self._waiting.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        return task in self._expired

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._due = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer, self._due = None, math.inf
        now = time.monotonic()
        earliest = math.inf
        for task, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()
            else:
                earliest = min(earliest, deadline)
        if earliest < math.inf:
            self._arm(earliest)


@types.coroutine
def _resume(steps: Coroutine[Any, Any, Message], waiting: object) -> Generator[Any, Any, Message]:
    """What ``yield from steps`` does for an awaitable already run up to ``waiting``, the first
    thing it waits on (PEP 380's expansion, less its first step): the task's wake-ups and
    cancellations go in, what it waits on next comes out."""
    while True:
        try:
            sent = yield waiting
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # a cancellation, the timeout's included
            try:
                waiting = steps.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waiting = steps.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body of ``request``, refused with a 413 once it exceeds ``max_bytes``: before
    reading when ``Content-Length`` says so, else as soon as the stream passes the limit."""
    declared = declared_length(request.scope)
    if declared is not None and declared > max_bytes:
        raise ContentTooLarge
    # The messages as Request.stream() reads them, without its async generator (made,
    # registered with the loop and finalised per request: a third of this function's cost
    # in a token request). Like a consumed stream, the body cannot be read a second time.
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise ContentTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
