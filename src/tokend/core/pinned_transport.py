"""The network part of the guarded client: connections made to the addresses that were checked.

httpx resolves names inside httpcore's network backend, after any check a transport could make
on the URL; an attacker's DNS could then answer one address to the check and another to the
connection (DNS rebinding). Here the backend itself resolves the host once, has the outbound
policy check every address it got, and opens the socket to one of those very addresses. TLS is
unaffected: httpcore hands the host name, not the address, to the TLS layer (SNI and certificate
verification) and keys its pooled connections by name.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from functools import cache
from ipaddress import ip_address
from typing import Final

import anyio
import httpcore
import httpx

from tokend.core.outbound import Address, OutboundPolicy, canonical_host

#: Resolves a host name to its addresses (``getaddrinfo`` unless a test stands in for DNS).
Resolve = Callable[[str, int], Awaitable[Sequence[Address]]]
MAX_CONNECTIONS: Final = 200
MAX_KEEPALIVE_CONNECTIONS: Final = 50
KEEPALIVE_EXPIRY_S: Final = 5.0


class OutboundRefused(httpx.TransportError):
    """The policy refused the target: tokend does not call it."""


@cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context (certifi's roots) for every pool of the process: building one
    loads and parses the whole CA bundle (~10 ms), and each app, test app and CLI command opens
    a client. An SSLContext is meant to be shared by the connections it configures."""
    return httpx.create_ssl_context()


async def resolve_host(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order, once each."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(info[4][0])) for info in infos))


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpcore connection pool on :class:`_PinnedBackend`.

    httpx's own ``AsyncHTTPTransport`` takes no network backend, so this is its request and
    error translation, kept to what a pool without proxies needs.
    """

    def __init__(self, policy: OutboundPolicy, resolve: Resolve) -> None:
        self._backend = _PinnedBackend(policy, resolve)
        self._pool: httpcore.AsyncConnectionPool | None = None

    def _connections(self) -> httpcore.AsyncConnectionPool:
        # Made on the first request: its TLS context loads the CA bundle (2.5 % of a server's
        # start on the 2-core machine), which a process that never calls out does not need.
        if self._pool is None:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=_tls_context(),
                max_connections=MAX_CONNECTIONS,
                max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
                network_backend=self._backend,
            )
        return self._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors(request):
            answer = await self._connections().handle_async_request(core_request)
        assert isinstance(answer.stream, AsyncIterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_CoreStream(answer.stream, request),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


class _CoreStream(httpx.AsyncByteStream):
    def __init__(self, inner: AsyncIterable[bytes], request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


#: httpcore's errors as httpx's, most specific first (httpx's AsyncHTTPTransport does the same).
_HTTPX_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _HTTPX_ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc), request=request) from exc
        raise


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks every address, connects to a checked address."""

    def __init__(self, policy: OutboundPolicy, resolve: Resolve) -> None:
        self._policy = policy
        self._resolve = resolve
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        refusal = self._policy.addresses_refusal(canonical_host(host), port, addresses)
        if refusal is not None:
            raise OutboundRefused(refusal)
        error: Exception = httpcore.ConnectError(f"cannot connect to {host}")
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    address.compressed,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not outbound targets")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)
