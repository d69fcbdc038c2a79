"""The one outbound HTTP client of a process, guarded (DESIGN "one guarded URL fetcher").

:class:`GuardedClient` is an ``httpx.AsyncClient`` whose every request passes the
:class:`~tokend.core.outbound.OutboundPolicy`, whoever makes it (the vault's providers and
webhooks, the guard's issuers and Keycloak, the broker's operators, the gateway's Kong):

- the URL first, in :class:`GuardedTransport`: scheme, credentials, the host's form, addresses
  written in the URL, plain http only to allowed hosts;
- then the connection, in :mod:`tokend.core.pinned_transport`: the host is resolved once,
  every address it resolved to is checked, and the socket is opened to one of those very
  addresses -- no second lookup, so no DNS-rebinding window between check and connect. TLS
  still verifies the certificate against the host name;
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

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import anyio
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
from tokend.core.pinned_transport import OutboundRefused, PinnedTransport, Resolve, resolve_host
from tokend.core.settings import HttpSettings

__all__ = [
    "GuardedClient",
    "GuardedTransport",
    "OutboundRefused",
    "OutboundTimeout",
    "Resolve",
    "ResponseLimits",
    "ResponseTooLarge",
    "open_http_client",
    "resolve_host",
]

log = structlog.get_logger("tokend.http")

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
#: How long :meth:`GuardedClient.refusal` waits for a name to resolve.
RESOLVE_TIMEOUT_S: Final = 5.0


class ResponseTooLarge(httpx.TransportError):
    """The answer is larger than ``max_response_bytes`` (or compressed)."""


class OutboundTimeout(httpx.TimeoutException):
    """The whole call took longer than ``max_duration_s``."""


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    max_bytes: int = 1024 * 1024
    max_duration_s: float = 60.0


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
        inner = transport or PinnedTransport(self.policy, resolve)
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
        host = url.raw_host.decode("ascii")  # what DNS and the socket see (IDNA A-labels)
        refusal = self._policy.url_refusal(url.scheme, host, url.port, userinfo=bool(url.userinfo))
        if refusal is not None:
            raise OutboundRefused(f"{url.scheme}://{host}: {refusal}", request=request)
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
