"""ForwardedHeaders: the client as a trusted proxy forwards it, the TCP peer as it connected."""

from __future__ import annotations

from ipaddress import ip_network

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokend.server.peer import ForwardedHeaders, tcp_peer


async def who(request: Request) -> JSONResponse:
    client = request.client
    return JSONResponse(
        {
            "client": client.host if client else None,
            "peer": tcp_peer(request.scope),
            "scheme": request.url.scheme,
        }
    )


def app() -> ForwardedHeaders:
    return ForwardedHeaders(Starlette(routes=[Route("/", who)]), [ip_network("127.0.0.1/32")])


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("127.0.0.1", {"client": "203.0.113.7", "peer": "127.0.0.1", "scheme": "https"}),
        ("198.51.100.2", {"client": "198.51.100.2", "peer": "198.51.100.2", "scheme": "http"}),
    ],
    ids=["from-a-trusted-proxy", "from-anyone-else"],
)
async def test_forwarding_headers_move_the_client_never_the_peer(
    peer: str, expected: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=app(), client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tokend") as client:
        response = await client.get(
            "/", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        )
    assert response.json() == expected


async def test_a_scope_that_did_not_pass_through_it_has_no_peer() -> None:
    transport = httpx.ASGITransport(app=Starlette(routes=[Route("/", who)]))
    async with httpx.AsyncClient(transport=transport, base_url="http://tokend") as client:
        assert (await client.get("/")).json()["peer"] is None
