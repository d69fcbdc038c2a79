"""The one outbound HTTP client of a process, guarded (DESIGN "one guarded URL fetcher").

:class:`GuardedClient` is an ``httpx.AsyncClient`` whose every request passes the
:class:`~tokend.core.outbound.OutboundPolicy`, whoever makes it (the vault's providers and
webhooks, the guard's issuers and Keycloak, the broker's operators, the gateway's Kong):

- the URL first, in :class:`GuardedTransport`: scheme, credentials, the host's form, addresses
  written in the URL, plain http only to allowed hosts;
- then the connection, in :class:`_PinnedBackend` (an httpcore network backend): the host is
  resolved once, every address it resolved to is checked, and the socket is opened to one of
  those very addresses -- no second lookup, so no DNS-rebinding window between check and
  connect. TLS still verifies the certificate against the host name: httpcore hands the name,
  not the address, to the TLS layer, and keeps pooled connections per name;
- no redirect is ever followed (:meth:`GuardedClient.send`): a 3xx is the caller's answer;
- answers are bounded: ``max_response_bytes`` (Content-Length and the bytes actually read;
  compressed answers are refused, their decoded size being unbounded) and ``max_duration_s``
  for the whole call, whatever the per-call timeouts allow;
- environment proxies and .netrc are ignored (``trust_env=False``): a proxy resolves names itself.

A refused target raises :class:`OutboundRefused`, an ``httpx.TransportError``: callers that
treat an unreachable upstream as unavailable need nothing more. Tests pass ``transport`` (an
``httpx.MockTransport``) or ``resolve`` to stand in for the network; the checks stay on.
"""

from __future__ import annotations

import socket
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
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Final

import anyio
import httpcore
import httpx
import structlog

# The types of AsyncClient.send's parameters, which only httpx's private modules name.
from httpx._client import UseClientDefault
from httpx._types import AuthTypes

from tokend import __version__
from tokend.core.outbound import (
    DEFAULT_PORTS,
    Address,
    OutboundPolicy,
    canonical_host,
    split_url,
)
from tokend.core.settings import HttpSettings

log = structlog.get_logger("tokend.http")

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
#: How long :meth:`GuardedClient.refusal` waits for a name to resolve.
RESOLVE_TIMEOUT_S: Final = 5.0
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=200, max_keepalive_connections=50)

#: Resolves a host name to its addresses (``getaddrinfo`` unless a test stands in for DNS).
Resolve = Callable[[str, int], Awaitable[Sequence[Address]]]


class OutboundRefused(httpx.TransportError):
    """The policy refused the target: tokend does not call it."""


class ResponseTooLarge(httpx.TransportError):
    """The answer is larger than ``max_response_bytes`` (or compressed)."""


class OutboundTimeout(httpx.TimeoutException):
    """The whole call took longer than ``max_duration_s``."""


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    max_bytes: int = 1024 * 1024
    max_duration_s: float = 60.0


async def resolve_host(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order, once each."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(info[4][0])) for info in infos))


class GuardedClient(httpx.AsyncClient):
    """An httpx client every request of which the outbound policy checks (module docstring)."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        limits: ResponseLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolve = resolve_host,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.policy = policy or OutboundPolicy()
        self._resolve = resolve
        limits = limits or ResponseLimits()
        inner = transport or _PinnedTransport(self.policy, resolve)
        super().__init__(
            transport=GuardedTransport(self.policy, limits, inner),
            timeout=timeout,
            headers={"User-Agent": f"tokend/{__version__}", "Accept-Encoding": "identity"},
            follow_redirects=False,
            trust_env=False,
        )

    async def refusal(self, url: str) -> str | None:
        """Why this client would refuse to call ``url``, or None: the URL checks, then the
        addresses its host resolves to now (a name that does not resolve is not refused here:
        the call itself will tell). For URLs given to tokend to store (a vault client's)."""
        reason = self.policy.refusal(url)
        if reason is not None:
            return reason
        parts = split_url(url)
        host = canonical_host(parts.hostname or "")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        if self.policy.names_host(host, port):
            return None
        addresses: Sequence[Address] = ()
        with anyio.move_on_after(RESOLVE_TIMEOUT_S):
            try:
                addresses = await self._resolve(host, port)
            except OSError:
                return None
        return self.policy.addresses_refusal(host, port, addresses)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send without ever following a redirect: each hop would be a target of its own,
        chosen by the upstream."""
        return await super().send(request, stream=stream, auth=auth, follow_redirects=False)


def open_http_client(settings: HttpSettings, also_allow: Iterable[str] = ()) -> GuardedClient:
    """The process's one outbound client; the app's lifespan closes it. Calls may pass a
    tighter timeout. What the policy allows beyond public https is logged once, so that
    nothing is allowed silently."""
    policy = OutboundPolicy.of(settings, also_allow)
    allowed = [*settings.allow_hosts, *also_allow]
    if allowed or settings.allow_private_networks:
        log.info(
            "http.outbound_allowed",
            allow_hosts=allowed,
            allow_private_networks=settings.allow_private_networks,
        )
    return GuardedClient(
        policy, limits=ResponseLimits(settings.max_response_bytes, settings.max_duration_s)
    )


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL, bounds the answer; ``inner`` does the network part."""

    def __init__(
        self, policy: OutboundPolicy, limits: ResponseLimits, inner: httpx.AsyncBaseTransport
    ) -> None:
        self._policy = policy
        self._limits = limits
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        refusal = self._policy.url_refusal(
            url.scheme, url.host, url.port, userinfo=bool(url.userinfo)
        )
        if refusal is not None:
            raise OutboundRefused(f"{url.scheme}://{url.host}: {refusal}", request=request)
        limits = self._limits
        deadline = anyio.current_time() + limits.max_duration_s
        with _within(deadline, request):
            response = await self._inner.handle_async_request(request)
        length = response.headers.get("Content-Length", "")
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if (length.isdigit() and int(length) > limits.max_bytes) or encoding != "identity":
            await response.aclose()
            raise ResponseTooLarge(
                f"{url.host} answered more than {limits.max_bytes} bytes or compressed",
                request=request,
            )
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_BoundedStream(response.stream, limits.max_bytes, deadline, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def _within(deadline: float, request: httpx.Request) -> Iterator[None]:
    try:
        with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
            yield
    except TimeoutError:
        raise OutboundTimeout(f"{request.url.host} took too long", request=request) from None


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(
        self, inner: httpx.AsyncByteStream, max_bytes: int, deadline: float, request: httpx.Request
    ) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        chunks = self._inner.__aiter__()
        while True:
            with _within(self._deadline, self._request):
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return
            seen += len(chunk)
            if seen > self._max_bytes:
                raise ResponseTooLarge(
                    f"{self._request.url.host} answered more than {self._max_bytes} bytes",
                    request=self._request,
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _PinnedTransport(httpx.AsyncBaseTransport):
    """An httpcore connection pool on :class:`_PinnedBackend`.

    httpx's own ``AsyncHTTPTransport`` takes no network backend, so this is its request and
    error translation, kept to what a pool without proxies needs.
    """

    def __init__(self, policy: OutboundPolicy, resolve: Resolve) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=DEFAULT_LIMITS.max_connections,
            max_keepalive_connections=DEFAULT_LIMITS.max_keepalive_connections,
            keepalive_expiry=DEFAULT_LIMITS.keepalive_expiry,
            network_backend=_PinnedBackend(policy, resolve),
        )

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
            answer = await self._pool.handle_async_request(core_request)
        assert isinstance(answer.stream, AsyncIterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_CoreStream(answer.stream, request),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
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
    """Resolves once, checks every address, connects to a checked address (module docstring)."""

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
