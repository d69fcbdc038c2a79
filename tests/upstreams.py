"""The outbound policy tests run under: their fake upstreams (providers, issuers, operators,
Kong) are served on loopback, which tokend calls only when its settings allow it."""

from __future__ import annotations

from typing import Final

import httpx

from tokend.core.http import GuardedClient
from tokend.core.outbound import OutboundPolicy
from tokend.core.settings import HttpSettings

#: ``TOKEND_HTTP__ALLOW_HOSTS`` of the tests' settings.
LOOPBACK_UPSTREAMS: Final = ["127.0.0.1", "localhost"]
#: The same, as the environment of a ``tokend serve`` whose upstreams are test servers.
LOOPBACK_ALLOW_HOSTS: Final = ",".join(LOOPBACK_UPSTREAMS)


def loopback_http(
    transport: httpx.AsyncBaseTransport | None = None, *, timeout: float = 5.0
) -> GuardedClient:
    """The guarded client a test gives the code it drives: loopback allowed, nothing else."""
    policy = OutboundPolicy.of(HttpSettings(allow_hosts=LOOPBACK_UPSTREAMS))
    return GuardedClient(policy, transport=transport, timeout=httpx.Timeout(timeout))
