"""Upstream identity providers through the admin API (issue 21): added, shown, changed and
removed at ``/admin/upstreams``, stored with their client secret sealed, offered on the login
page and signing in next to those of the settings (read-only here); removing one removes its
links and leaves the accounts to their other methods."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.api.oidc.upstream_fakes import CLIENT_ID, CLIENT_SECRET, Account, FakeUpstream
from tests.e2e.server import free_port
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.oidc.models import OidcUpstreamRow
from tokend.oidc.upstreams.catalog import MAX_STORED
from tokend.store.engine import Database


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream().running() as upstream:
        yield upstream


@pytest.fixture
def oidc_settings(
    oidc_settings: Settings, fake: FakeUpstream, secrets_seen: SecretsSeen
) -> Settings:
    secrets_seen.add(CLIENT_SECRET)
    data = oidc_settings.model_dump(mode="python")
    data["oidc"]["upstreams"] = [
        {"id": "fake", "name": "Fake ID", "issuer": fake.issuer, "client_id": CLIENT_ID,
         "client_secret": CLIENT_SECRET},
    ]  # fmt: skip
    return Settings.model_validate(data)


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    return await register(skip_consent=True)


@pytest.fixture(autouse=True)
async def _remove_added_upstreams(http: httpx.AsyncClient) -> AsyncIterator[None]:
    """The database lives for the session: what a test adds is gone before the next one."""
    yield
    for upstream in (await http.get("/admin/upstreams", headers=ADMIN)).json():
        if upstream["source"] == "admin":
            removed = await http.delete(f"/admin/upstreams/{upstream['id']}", headers=ADMIN)
            assert removed.status_code == 204


def new_id() -> str:
    """An id no other test uses (a test's upstreams are removed after it, its links too)."""
    return "a" + secrets.token_hex(6)


def spec(fake: FakeUpstream, **fields: Any) -> dict[str, Any]:
    upstream_id = fields.pop("id", new_id())
    return {
        "id": upstream_id,
        "name": f"Added {upstream_id}",
        "issuer": fake.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **fields,
    }


async def add(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/admin/upstreams", json=body, headers=ADMIN)


async def sign_in_with(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, upstream: str,
    account: Account,
) -> httpx.Response:  # fmt: skip
    """A sign-in at the RP through ``upstream`` in a new browser: the callback's answer."""
    http.cookies.clear()
    _, challenge = pkce_pair()
    response = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert response.status_code == 303, response.text
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    response = await http.post(
        f"/interaction/{uid}/upstream/{upstream}", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    code, state = fake.authorize(response.headers["location"], account)
    return await http.get(f"/upstream/{upstream}/callback", params={"code": code, "state": state})


async def login_page(http: httpx.AsyncClient, rp: RegisteredClient) -> str:
    http.cookies.clear()
    _, challenge = pkce_pair()
    response = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert response.status_code == 303, response.text
    return (await http.get(response.headers["location"])).text


def someone(email: str | None = None) -> Account:
    tag = secrets.token_hex(4)
    return Account(f"sub-{tag}", email or f"grace.{tag}@example.net")


async def test_an_added_upstream_is_listed_offered_and_signs_in_and_its_secret_is_never_shown(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, database: Database
) -> None:
    added = new_id()
    created = await add(http, spec(fake, id=added, scopes=["openid", "email"]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created_at"] is not None
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": added, "name": f"Added {added}", "kind": "oidc", "issuer": fake.issuer,
        "redirect_uri": f"http://testserver/upstream/{added}/callback",
        "link_by_verified_email": False, "create_accounts": True, "source": "admin",
        "client_id": CLIENT_ID, "api_url": None,
        "token_endpoint_auth_method": "client_secret_basic", "scopes": ["openid", "email"],
        "acr_map": {}, "amr_map": {}, "default_amr": ["pwd"],
    }  # fmt: skip
    listed = await http.get("/admin/upstreams", headers=ADMIN)
    assert [(u["id"], u["source"]) for u in listed.json()] == [
        ("fake", "settings"),
        (added, "admin"),
    ]
    shown = await http.get(f"/admin/upstreams/{added}", headers=ADMIN)
    assert shown.json() == body
    for text in (created.text, listed.text, shown.text):
        assert CLIENT_SECRET not in text
    # Sealed at rest: neither the JSON of the settings nor the ciphertext holds it.
    async with database.sessions() as session:
        row = await session.get(OidcUpstreamRow, added)
    assert row is not None
    assert "client_secret" not in row.spec
    assert CLIENT_SECRET not in row.client_secret_enc + json.dumps(row.spec)
    page = await login_page(http, rp)
    assert "Sign in with Fake ID" in page
    assert f"Sign in with Added {added}" in page
    # The stored secret authenticates tokend at the upstream (client_secret_basic, checked
    # by the fake), and the account is created and linked.
    account = someone()
    answer = await sign_in_with(http, rp, fake, added, account)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(REDIRECT)
    assert "code" in query_of(answer.headers["location"])
    users = (await http.get("/admin/users", headers=ADMIN)).json()
    user = next(u for u in users if u["email"] == account.email)
    links = await http.get(f"/admin/users/{user['id']}/upstream-links", headers=ADMIN)
    assert [link["upstream_id"] for link in links.json()] == [added]


async def test_the_admin_api_needs_the_admin_policy(
    http: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    assert (await http.post("/admin/upstreams", json=spec(fake))).status_code == 401
    assert (await http.get("/admin/upstreams/fake")).status_code == 401
    assert (await http.patch("/admin/upstreams/fake", json={"name": "X"})).status_code == 401
    assert (await http.delete("/admin/upstreams/fake")).status_code == 401
    assert (await http.get(f"/admin/upstreams/{new_id()}", headers=ADMIN)).status_code == 404


async def test_an_upstream_of_the_settings_is_read_only(
    http: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    shown = await http.get("/admin/upstreams/fake", headers=ADMIN)
    assert shown.status_code == 200
    assert shown.json()["source"] == "settings"
    assert shown.json()["created_at"] is None
    assert (await add(http, spec(fake, id="fake"))).status_code == 409
    changed = await http.patch("/admin/upstreams/fake", json={"name": "Other"}, headers=ADMIN)
    assert changed.status_code == 409
    assert "oidc.upstreams" in changed.json()["detail"]
    assert (await http.delete("/admin/upstreams/fake", headers=ADMIN)).status_code == 409
    assert (await http.get("/admin/upstreams/fake", headers=ADMIN)).json()["name"] == "Fake ID"


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("http://10.20.30.40", id="private-address"),
        pytest.param("http://169.254.169.254", id="metadata-address"),
        pytest.param("https://127.0.0.1:{port}", id="no-metadata-there"),
    ],
)
async def test_an_upstream_tokend_may_not_or_cannot_call_is_refused_and_not_stored(
    http: httpx.AsyncClient, fake: FakeUpstream, issuer: str
) -> None:
    body = spec(fake, issuer=issuer.format(port=free_port()))
    refused = await add(http, body)
    assert refused.status_code == 422, refused.text
    assert "tokend cannot use this upstream" in refused.json()["detail"]
    assert CLIENT_SECRET not in refused.text
    assert (await http.get(f"/admin/upstreams/{body['id']}", headers=ADMIN)).status_code == 404
    github = await add(
        http, spec(fake, kind="github", issuer=fake.issuer, api_url="http://10.20.30.40/api")
    )
    assert github.status_code == 422, github.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"unknown": 1}, id="unknown-field"),
        pytest.param({"id": "Not An Id"}, id="bad-id"),
        pytest.param({"scopes": ["email"]}, id="oidc-without-openid"),
        pytest.param({"client_secret": ""}, id="no-secret"),
        pytest.param({"name": "x" * 61}, id="long-name"),
        pytest.param({"amr_map": {"face_id": "not-rfc8176"}}, id="bad-amr"),
    ],
)
async def test_an_invalid_upstream_is_refused_without_echoing_the_secret(
    http: httpx.AsyncClient, fake: FakeUpstream, body: dict[str, Any]
) -> None:
    sent = spec(fake, **body)
    refused = await add(http, sent)
    assert refused.status_code == 422, refused.text
    assert CLIENT_SECRET not in refused.text
    listed = await http.get("/admin/upstreams", headers=ADMIN)
    assert sent["id"] not in [u["id"] for u in listed.json()]


async def test_a_change_keeps_the_secret_unless_given_and_is_checked_like_a_new_one(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    added = new_id()
    assert (await add(http, spec(fake, id=added))).status_code == 201
    changed = await http.patch(
        f"/admin/upstreams/{added}", json={"name": "Renamed ID", "create_accounts": True},
        headers=ADMIN,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Renamed ID"
    assert changed.json()["updated_at"] >= changed.json()["created_at"]
    assert "Sign in with Renamed ID" in await login_page(http, rp)
    # The secret was kept: the fake upstream still accepts tokend.
    answer = await sign_in_with(http, rp, fake, added, someone())
    assert answer.status_code == 303, answer.text
    bad = await http.patch(f"/admin/upstreams/{added}", json={"scopes": ["email"]}, headers=ADMIN)
    assert bad.status_code == 422, bad.text
    private = await http.patch(
        f"/admin/upstreams/{added}", json={"issuer": "http://10.20.30.40"}, headers=ADMIN
    )
    assert private.status_code == 422, private.text
    # A new secret replaces the stored one: the fake upstream now refuses tokend.
    other = "another-secret-" + secrets.token_hex(8)
    rotated = await http.patch(
        f"/admin/upstreams/{added}", json={"client_secret": other}, headers=ADMIN
    )
    assert rotated.status_code == 200, rotated.text
    assert other not in rotated.text
    refused = await sign_in_with(http, rp, fake, added, someone())
    assert refused.status_code == 502, refused.text
    assert other not in refused.text
    missing = await http.patch("/admin/upstreams/nobody", json={"name": "X"}, headers=ADMIN)
    assert missing.status_code == 404


async def test_removing_an_upstream_removes_its_links_and_the_account_keeps_its_password(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, user: dict[str, Any]
) -> None:
    added = new_id()
    created = await add(http, spec(fake, id=added, link_by_verified_email=True))
    assert created.status_code == 201, created.text
    account = someone(user["email"])
    answer = await sign_in_with(http, rp, fake, added, account)
    assert answer.status_code == 303, answer.text
    links_path = f"/admin/users/{user['id']}/upstream-links"
    assert [lk["upstream_id"] for lk in (await http.get(links_path, headers=ADMIN)).json()] == [
        added
    ]
    assert (await http.delete(f"/admin/upstreams/{added}", headers=ADMIN)).status_code == 204
    assert (await http.delete(f"/admin/upstreams/{added}", headers=ADMIN)).status_code == 404
    assert (await http.get(links_path, headers=ADMIN)).json() == []
    assert added not in await login_page(http, rp)
    gone = await http.get(f"/upstream/{added}/callback", params={"code": "c", "state": "s"})
    assert gone.status_code == 404
    # The same id again, maybe another provider: the old subject signs in to nobody's account.
    assert (await add(http, spec(fake, id=added))).status_code == 201
    again = await sign_in_with(http, rp, fake, added, account)
    assert again.status_code == 409, again.text
    # The account itself is untouched: its password signs in.
    http.cookies.clear()
    _, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    assert "code" in query


async def test_at_most_fifty_upstreams_are_added_through_the_api(
    http: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    github = {"kind": "github", "issuer": fake.issuer, "api_url": f"{fake.issuer}/api"}
    for _ in range(MAX_STORED):
        assert (await add(http, spec(fake, **github))).status_code == 201
    refused = await add(http, spec(fake, **github))
    assert refused.status_code == 409
    assert f"at most {MAX_STORED}" in refused.json()["detail"]


async def test_the_login_page_offers_stored_upstreams_without_opening_their_secrets(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, database: Database
) -> None:
    """The login page is rendered on every sign-in: it reads the upstreams' ids and names only.
    Proven with a sealed secret that cannot be opened (another row's ciphertext, whose AAD names
    that row): the page still offers both buttons."""
    first, second = new_id(), new_id()
    for upstream_id in (first, second):
        assert (await add(http, spec(fake, id=upstream_id))).status_code == 201
    async with database.sessions.begin() as session:
        rows = {u: await session.get(OidcUpstreamRow, u) for u in (first, second)}
        one, other = rows[first], rows[second]
        assert one is not None
        assert other is not None
        sealed, one.client_secret_enc = one.client_secret_enc, other.client_secret_enc
    try:
        page = await login_page(http, rp)
    finally:  # the admin API, which the next tests read, opens them
        async with database.sessions.begin() as session:
            row = await session.get(OidcUpstreamRow, first)
            assert row is not None
            row.client_secret_enc = sealed
    assert f"Sign in with Added {first}" in page
    assert f"Sign in with Added {second}" in page
