"""tokend's one OAuth client, discovery fetcher and PKCE against ``httpx.MockTransport`` peers:
each client authentication method as the server sees it, answers mapped to one error set, the
breaker counting outages only, and discovery documents checked and cached."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest

from tokend.core.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker
from tokend.core.clock import FrozenClock
from tokend.core.discovery import Discovery, DiscoveryFailed
from tokend.core.http import GuardedClient
from tokend.core.oauth_client import (
    CLIENT_ASSERTION_TYPE,
    ClientAuth,
    ErrorResponse,
    MalformedResponse,
    OAuthClient,
)
from tokend.core.outbound import OutboundPolicy
from tokend.core.pkce import S256, new_verifier, s256, verifier_matches

TOKEN_URL = "https://as.example/token"
ISSUER = "https://as.example/realms/r"
TOKENS = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300}

Handler = Callable[[httpx.Request], httpx.Response]


class Peer:
    """An authorization server behind MockTransport; keeps every request it got."""

    def __init__(self, answer: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._answer = answer or (lambda _request: httpx.Response(200, json=TOKENS))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._answer(request)

    def client(self, policy: OutboundPolicy | None = None) -> GuardedClient:
        return GuardedClient(policy, transport=httpx.MockTransport(self))

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.requests[-1].content.decode()))


async def test_client_secret_basic_sends_both_parts_form_encoded_in_the_header() -> None:
    peer = Peer()
    auth = ClientAuth("app:1 é", "client_secret_basic", "s3cr:et/+%")
    await OAuthClient(peer.client(), auth).token(TOKEN_URL, {"grant_type": "client_credentials"})
    header = peer.requests[-1].headers["authorization"]
    assert header.startswith("Basic ")
    # RFC 6749 §2.3.1: each part form-urlencoded, then joined by ":" and base64-encoded.
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    assert (unquote_plus(user), unquote_plus(password)) == ("app:1 é", "s3cr:et/+%")
    assert peer.form == {"grant_type": "client_credentials"}


async def test_client_secret_post_sends_both_in_the_form() -> None:
    peer = Peer()
    auth = ClientAuth("app", "client_secret_post", "secret-1")
    await OAuthClient(peer.client(), auth).token(TOKEN_URL, {"grant_type": "client_credentials"})
    assert "authorization" not in peer.requests[-1].headers
    assert peer.form == {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": "secret-1",
    }


async def test_a_public_client_sends_its_id_and_no_secret() -> None:
    peer = Peer()
    grant = {"grant_type": "authorization_code", "code": "c", "code_verifier": "v" * 43}
    await OAuthClient(peer.client(), ClientAuth("spa", "none")).token(TOKEN_URL, grant)
    assert "authorization" not in peer.requests[-1].headers
    assert peer.form == {**grant, "client_id": "spa"}


async def test_private_key_jwt_signs_an_assertion_for_the_endpoint_it_calls() -> None:
    peer = Peer()
    audiences: list[str] = []

    def assertion(audience: str) -> str:
        audiences.append(audience)
        return f"signed-for-{len(audiences)}"

    auth = ClientAuth("app", "private_key_jwt", assertion=assertion)
    client = OAuthClient(peer.client(), auth)
    await client.token(TOKEN_URL, {"grant_type": "client_credentials"})
    await client.revoke("https://as.example/revoke", "rt-1", "refresh_token")
    # RFC 7523 §3: the audience is the endpoint; a fresh assertion per request.
    assert audiences == [TOKEN_URL, "https://as.example/revoke"]
    assert peer.form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert peer.form["client_assertion"] == "signed-for-2"
    assert peer.form["client_id"] == "app"


async def test_a_token_response_is_read_as_rfc_6749_section_5_1() -> None:
    body = {**TOKENS, "expires_in": "3600", "refresh_token": "rt-2", "id_token": "x.y.z"}
    peer = Peer(lambda _r: httpx.Response(200, json=body))
    answer = await OAuthClient(peer.client(), ClientAuth("app", "none")).refresh(TOKEN_URL, "rt-1")
    assert peer.form == {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "app"}
    assert (answer.access_token, answer.expires_in_s) == ("at-1", 3600)
    assert (answer.refresh_token, answer.id_token) == ("rt-2", "x.y.z")


@pytest.mark.parametrize(
    ("status", "body", "error", "transient"),
    [
        (400, {"error": "invalid_grant", "error_description": "used"}, "invalid_grant", False),
        (401, {"error": "invalid_client"}, "invalid_client", False),
        (200, {"error": "bad_verification_code"}, "bad_verification_code", False),  # GitHub
        (429, {"error": "slow_down"}, "slow_down", True),
        (503, "down for maintenance", None, True),
    ],
)
async def test_error_answers_are_one_exception_with_the_servers_code(
    status: int, body: object, error: str | None, transient: bool
) -> None:
    content = json.dumps(body) if isinstance(body, dict) else str(body)
    peer = Peer(lambda _r: httpx.Response(status, text=content))
    with pytest.raises(ErrorResponse) as caught:
        await OAuthClient(peer.client(), ClientAuth("app", "none")).token(TOKEN_URL, {})
    assert (caught.value.status, caught.value.error) == (status, error)
    assert caught.value.is_transient is transient


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"token_type": "Bearer"}), json.dumps({**TOKENS, "expires_in": -5})],
)
async def test_an_unusable_success_is_malformed(body: str) -> None:
    peer = Peer(lambda _r: httpx.Response(200, text=body))
    with pytest.raises(MalformedResponse):
        await OAuthClient(peer.client(), ClientAuth("app", "none")).token(TOKEN_URL, {})


async def test_the_breaker_counts_outages_and_not_refusals() -> None:
    clock = FrozenClock()
    breaker = CircuitBreaker("as", BreakerPolicy(min_calls=2, failure_ratio=0.5), clock)
    refusing = OAuthClient(
        Peer(lambda _r: httpx.Response(400, json={"error": "invalid_grant"})).client(),
        ClientAuth("app", "none"),
        breaker=breaker,
    )
    for _ in range(3):
        with pytest.raises(ErrorResponse):
            await refusing.token(TOKEN_URL, {})
    down = Peer(lambda _r: httpx.Response(503))
    failing = OAuthClient(down.client(), ClientAuth("app", "none"), breaker=breaker)
    for _ in range(3):
        with pytest.raises(ErrorResponse):
            await failing.token(TOKEN_URL, {})
    with pytest.raises(BreakerOpen):
        await failing.token(TOKEN_URL, {})
    assert len(down.requests) == 3  # the open breaker sent nothing


async def test_revocation_and_introspection_post_the_token_with_a_hint() -> None:
    peer = Peer(lambda _r: httpx.Response(200, json={"active": True, "sub": "u1"}))
    client = OAuthClient(peer.client(), ClientAuth("rs", "client_secret_basic", "pw-12345"))
    assert await client.introspect("https://as.example/introspect", "tok", "access_token") == {
        "active": True,
        "sub": "u1",
    }
    assert peer.form == {"token": "tok", "token_type_hint": "access_token"}
    await client.revoke("https://as.example/revoke", "rt", "refresh_token")
    assert peer.form == {"token": "rt", "token_type_hint": "refresh_token"}
    assert all("authorization" in r.headers for r in peer.requests)


async def test_the_oauth_client_calls_only_what_the_outbound_policy_allows() -> None:
    peer = Peer()
    client = OAuthClient(peer.client(), ClientAuth("app", "client_secret_post", "s-123456"))
    with pytest.raises(httpx.TransportError):
        await client.token("http://10.0.0.8/token", {"grant_type": "client_credentials"})
    assert peer.requests == []


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verifier_matches(verifier, s256(verifier), S256)
    assert not verifier_matches(verifier, s256(verifier + "x"), S256)


def test_new_verifiers_are_rfc_7636_verifiers_and_never_repeat() -> None:
    verifiers = {new_verifier() for _ in range(100)}
    assert len(verifiers) == 100
    for verifier in verifiers:
        # §4.1: 43..128 unreserved characters; the server side accepts what the client makes.
        assert 43 <= len(verifier) <= 128
        assert verifier_matches(verifier, s256(verifier), S256)


# -- discovery -----------------------------------------------------------------------------


def metadata(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/certs",
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def discovery_peer(document: dict[str, object]) -> Peer:
    return Peer(lambda _r: httpx.Response(200, json=document))


async def test_discovery_is_fetched_once_per_max_age_and_on_demand() -> None:
    peer, clock = discovery_peer(metadata()), FrozenClock()
    http = peer.client()
    discovery = Discovery(lambda: http, clock, max_age_s=60)
    first = await discovery.metadata(ISSUER)
    assert await discovery.metadata(ISSUER) == first
    assert [str(r.url) for r in peer.requests] == [f"{ISSUER}/.well-known/openid-configuration"]
    clock.advance(61)
    await discovery.metadata(ISSUER)
    discovery.forget(ISSUER)
    await discovery.metadata(ISSUER)
    assert len(peer.requests) == 3
    assert first.token_endpoint == f"{ISSUER}/token"


@pytest.mark.parametrize(
    "document",
    [
        metadata(issuer="https://evil.example/realms/r"),  # OIDC Discovery §4.3
        metadata(authorization_endpoint="javascript:alert(document.cookie)//"),
        metadata(authorization_endpoint="data:text/html,<script>alert(1)</script>"),
        metadata(token_endpoint="https://evil.example/token"),
        metadata(token_endpoint="http://as.example/token"),  # same host, another origin
        metadata(jwks_uri="https://as.example:8443/certs"),
        metadata(revocation_endpoint=f"{ISSUER}/revoke#frag"),
        metadata(end_session_endpoint=42),
    ],
)
async def test_a_discovery_document_pointing_elsewhere_is_refused(
    document: dict[str, object],
) -> None:
    http = discovery_peer(document).client()
    with pytest.raises(DiscoveryFailed):
        await Discovery(lambda: http, FrozenClock()).metadata(ISSUER)


async def test_endpoints_on_a_listed_origin_are_taken() -> None:
    document = metadata(token_endpoint="https://oauth2.googleapis.com/token")
    listed = OutboundPolicy.allowing(endpoint_origins=["https://oauth2.googleapis.com"])
    http = discovery_peer(document).client(listed)
    found = await Discovery(lambda: http, FrozenClock()).metadata(ISSUER)
    assert found.token_endpoint == "https://oauth2.googleapis.com/token"


async def test_a_redirected_discovery_is_not_followed() -> None:
    peer = Peer(
        lambda r: (
            httpx.Response(302, headers={"Location": "https://evil.example/doc"})
            if r.url.host == "as.example"
            else httpx.Response(200, json=metadata())
        )
    )
    http = peer.client()
    with pytest.raises(DiscoveryFailed, match="HTTP 302"):
        await Discovery(lambda: http, FrozenClock()).metadata(ISSUER)
    assert [r.url.host for r in peer.requests] == ["as.example"]
