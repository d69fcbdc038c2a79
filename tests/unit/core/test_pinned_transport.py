"""The outbound client's connection pool is made when it is first used."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.server import free_port
from tokend.core.http import GuardedClient
from tokend.core.outbound import OutboundPolicy
from tokend.core.pinned_transport import _tls_context


async def test_a_client_loads_the_tls_roots_on_its_first_request_not_when_it_is_made() -> None:
    # Loading the CA bundle was 2.5 % of a server's start, for a client it may never use.
    _tls_context.cache_clear()
    closed_port = free_port()
    async with GuardedClient(OutboundPolicy.allowing("127.0.0.1")) as http:
        assert _tls_context.cache_info().currsize == 0
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{closed_port}/")
        assert _tls_context.cache_info().currsize == 1


async def test_a_client_that_never_sent_a_request_closes() -> None:
    async with GuardedClient() as http:
        assert not http.is_closed
    assert http.is_closed
