"""Identity brokering (issue 21): signing in with an upstream OpenID provider or GitHub, served
on loopback by ``upstream_fakes``; the account it signs in to (linked, linked by a verified
address when allowed, created, or refused); every failure a page, never a 500; linking and
unlinking on the account page."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.oidc.accounts_helpers import account_sign_in, enrol_totp, totp_at
from tests.api.oidc.conftest import (
    ADMIN,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    replica,
)
from tests.api.oidc.test_with_redis import forget_everything_in_redis
from tests.api.oidc.upstream_fakes import CLIENT_ID, CLIENT_SECRET, Account, FakeUpstream
from tests.conftest import shared_redis
from tests.e2e.server import free_port
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jwt import read_unverified
from tokend.oidc.authn_context import ACR_MFA, ACR_PASSWORD


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream().running() as upstream:
        yield upstream


@pytest.fixture
def oidc_settings(
    oidc_settings: Settings, fake: FakeUpstream, secrets_seen: SecretsSeen
) -> Settings:
    secrets_seen.add(CLIENT_SECRET)
    common = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    data = oidc_settings.model_dump(mode="python")
    data["oidc"]["upstreams"] = [
        {"id": "fake", "name": "Fake ID", "issuer": fake.issuer, **common,
         "acr_map": {"urn:fake:strong": ACR_MFA}, "amr_map": {"face_id": "face"}},
        {"id": "trusting", "name": "Trusting ID", "issuer": fake.issuer, **common,
         "link_by_verified_email": True},
        {"id": "down", "name": "Down ID", "issuer": f"http://127.0.0.1:{free_port()}", **common},
        {"id": "gh", "name": "GitHub", "kind": "github", "issuer": fake.issuer,
         "api_url": f"{fake.issuer}/api", **common},
    ]  # fmt: skip
    data["oidc"]["upstreams"][0]["client_secret"] = CLIENT_SECRET
    return Settings.model_validate(data)


@dataclass
class Started:
    """A sign-in at the RP, sent on to the upstream."""

    params: dict[str, str]
    verifier: str
    uid: str
    #: The redirect to the upstream's authorization endpoint.
    location: str


async def start(http: httpx.AsyncClient, rp: RegisteredClient, upstream: str = "fake") -> Started:
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    assert "Sign in with Fake ID" in page.text
    assert "Sign in with GitHub" in page.text
    response = await http.post(
        f"/interaction/{uid}/upstream/{upstream}", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return Started(params, verifier, uid, response.headers["location"])


async def come_back(
    http: httpx.AsyncClient, fake: FakeUpstream, started: Started, account: Account,
    upstream: str = "fake",
) -> httpx.Response:  # fmt: skip
    code, state = fake.authorize(started.location, account)
    return await http.get(f"/upstream/{upstream}/callback", params={"code": code, "state": state})


async def id_token_at_rp(
    http: httpx.AsyncClient, rp: RegisteredClient, started: Started, answer: httpx.Response
) -> dict[str, Any]:
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT)
    assert query["state"] == started.params["state"]
    tokens = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
              "code_verifier": started.verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    _, claims = read_unverified(tokens.json()["id_token"])
    return dict(claims)


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    return await register(skip_consent=True)


def someone(claims: Mapping[str, object] | None = None, email_verified: bool = True) -> Account:
    """A new account at the upstream; ``claims`` change its ID token."""
    tag = secrets.token_hex(4)
    return Account(
        f"sub-{tag}", f"grace.{tag}@example.net", email_verified, id_token_claims=claims or {}
    )


async def user_by_email(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    users = await http.get("/admin/users", headers=ADMIN)
    assert users.status_code == 200, users.text
    found = [u for u in users.json() if u["email"] == email]
    assert len(found) == 1, users.text
    user: dict[str, Any] = found[0]
    return user


async def test_a_first_sign_in_creates_the_account_and_the_rp_gets_an_id_token_for_it(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    # RFC 7636 S256, a state and a nonce, and the documented redirect URI.
    sent = query_of(started.location)
    assert started.location.startswith(f"{fake.issuer}/authorize?")
    assert sent["redirect_uri"] == "http://testserver/upstream/fake/callback"
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 32
    assert len(sent["nonce"]) >= 24
    assert sent["scope"] == "openid email profile"
    account = someone()
    claims = await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    user = await user_by_email(http, account.email or "")
    assert claims["sub"] == user["id"]
    assert user["email_verified"] is True
    assert user["name"] == "Grace Hopper"
    # RFC 8176 has no "federated" value: nothing said upstream is the password level.
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == ACR_PASSWORD
    # The code was exchanged with client_secret_basic and the PKCE verifier (the fake checks).
    assert fake.token_requests[-1]["code_verifier"]


async def test_the_address_comes_from_userinfo_when_the_id_token_has_none(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    account = someone({"email": None, "email_verified": None})
    claims = await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    user = await user_by_email(http, account.email or "")
    assert claims["sub"] == user["id"]
    assert user["email_verified"] is True


async def test_an_unverified_address_makes_an_unverified_account(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    account = someone(email_verified=False)
    claims = await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    user = await user_by_email(http, account.email or "")
    assert claims["sub"] == user["id"]
    assert user["email_verified"] is False


async def test_the_upstreams_amr_and_mapped_acr_reach_the_id_token(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    account = someone({"amr": ["face_id", "otp", "custom"], "acr": "urn:fake:strong"})
    claims = await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    # face_id mapped to RFC 8176 face, otp kept, custom dropped; the mapped acr adds mfa.
    assert claims["amr"] == ["face", "mfa", "otp"]
    assert claims["acr"] == ACR_MFA


async def test_a_second_sign_in_reuses_the_link_whatever_the_address_says_now(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    account = someone()
    first = await start(http, rp)
    claims = await id_token_at_rp(http, rp, first, await come_back(http, fake, first, account))
    http.cookies.clear()
    second = await start(http, rp)
    renamed = Account(account.subject, "renamed@example.net", True)
    again = await id_token_at_rp(http, rp, second, await come_back(http, fake, second, renamed))
    assert again["sub"] == claims["sub"]


async def test_a_verified_address_links_to_the_existing_account_only_where_allowed(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, user: dict[str, Any]
) -> None:
    unverified = Account("sub-" + secrets.token_hex(4), user["email"], email_verified=False)
    started = await start(http, rp, "trusting")
    refused = await come_back(http, fake, started, unverified, "trusting")
    assert refused.status_code == 409
    assert "Sign in with your password" in refused.text
    verified = Account("sub-" + secrets.token_hex(4), user["email"], email_verified=True)
    started = await start(http, rp, "trusting")
    answer = await come_back(http, fake, started, verified, "trusting")
    assert (await id_token_at_rp(http, rp, started, answer))["sub"] == user["id"]


async def test_an_existing_address_is_refused_with_a_page_where_linking_is_not_allowed(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, user: dict[str, Any]
) -> None:
    started = await start(http, rp)
    answer = await come_back(http, fake, started, Account("sub-x", user["email"], True))
    assert answer.status_code == 409
    assert "Link your account first" in answer.text
    assert "link Fake ID on your account page" in answer.text
    assert (
        "set-cookie" not in answer.headers or "tokend_session" not in answer.headers["set-cookie"]
    )


async def test_unknown_replayed_foreign_and_expired_states_get_a_page(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, clock: FrozenClock
) -> None:
    unknown = await http.get("/upstream/fake/callback", params={"code": "c", "state": "nope"})
    assert unknown.status_code == 400
    assert "has expired, or was finished already" in unknown.text
    started = await start(http, rp)
    code, state = fake.authorize(started.location, someone())
    # Another browser (no binding cookie) cannot finish it, and the state is used up.
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as other:
        foreign = await other.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert foreign.status_code == 400
    assert "started in another browser" in foreign.text
    replay = await http.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert replay.status_code == 400
    assert "finished already" in replay.text
    # Another upstream's callback does not take it.
    started = await start(http, rp)
    code, state = fake.authorize(started.location, someone())
    wrong = await http.get("/upstream/trusting/callback", params={"code": code, "state": state})
    assert wrong.status_code == 400
    # Past upstream_state_ttl_s it is gone.
    started = await start(http, rp)
    code, state = fake.authorize(started.location, someone())
    clock.advance(601)
    expired = await http.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert expired.status_code == 400
    assert "Sign-in expired" in expired.text
    # RFC 9207: a response naming another issuer (mix-up) is refused.
    started = await start(http, rp)
    code, state = fake.authorize(started.location, someone())
    mixed = await http.get(
        "/upstream/fake/callback",
        params={"code": code, "state": state, "iss": "https://evil.example"},
    )
    assert mixed.status_code == 400
    assert "could not be verified" in mixed.text
    cancelled = await start(http, rp)
    _, state = fake.authorize(cancelled.location, someone())
    denied = await http.get(
        "/upstream/fake/callback", params={"error": "access_denied", "state": state}
    )
    assert denied.status_code == 400
    assert "Fake ID did not sign you in" in denied.text


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"nonce": "another-nonce"}, id="nonce"),
        pytest.param({"nonce": None}, id="no-nonce"),
        pytest.param({"aud": "someone-else"}, id="aud"),
        pytest.param({"aud": [CLIENT_ID, "other"]}, id="aud-without-azp"),
        pytest.param({"azp": "other"}, id="azp"),
        pytest.param({"iss": "https://evil.example"}, id="iss"),
        pytest.param({"exp": 1_000_000}, id="expired"),
    ],
)
async def test_an_id_token_that_does_not_check_out_signs_nobody_in(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, claims: dict[str, object]
) -> None:
    started = await start(http, rp)
    answer = await come_back(http, fake, started, someone(claims))
    assert answer.status_code == 502, answer.text
    assert "The answer from Fake ID could not be verified" in answer.text
    assert "tokend_session" not in answer.headers.get("set-cookie", "")


async def test_an_upstream_that_refuses_the_code_or_fails_or_is_down_gets_a_page(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    fake.token_status = 400
    refused = await come_back(http, fake, started, someone())
    assert refused.status_code == 502
    assert "could not be verified" in refused.text
    started = await start(http, rp)
    fake.token_status = 503
    failing = await come_back(http, fake, started, someone())
    assert failing.status_code == 502
    assert "Fake ID could not be reached" in failing.text
    assert CLIENT_SECRET not in refused.text + failing.text
    # Nothing listens where "down" is: discovery fails before the browser is sent anywhere.
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    down = await http.post(
        f"/interaction/{uid}/upstream/down", data={"csrf_token": csrf_of(page.text)}
    )
    assert down.status_code == 502
    assert "Down ID could not be reached" in down.text
    assert "Sign in" in down.text  # the login page again, with the other ways


async def test_github_signs_in_with_its_verified_primary_address(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp, "gh")
    assert started.location.startswith(f"{fake.issuer}/login/oauth/authorize?")
    assert "nonce" not in query_of(started.location)
    account = Account(str(secrets.randbelow(10**9)), f"gh.{secrets.token_hex(3)}@example.net")
    claims = await id_token_at_rp(
        http, rp, started, await come_back(http, fake, started, account, "gh")
    )
    user = await user_by_email(http, account.email or "")
    assert claims["sub"] == user["id"]
    assert user["email_verified"] is True
    assert claims["amr"] == ["pwd"]
    assert fake.token_requests[-1]["client_secret"] == CLIENT_SECRET  # client_secret_post


async def test_link_and_unlink_on_the_account_page(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream, user: dict[str, Any]
) -> None:
    assert (await account_sign_in(http, user["email"])).status_code == 303
    page = await http.get("/account/linked")
    assert page.status_code == 200
    assert "Link Fake ID" in page.text
    # The account pages' navigation is whole, and the section comes after it.
    nav = page.text.split('<nav class="nav" aria-label="Account">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'<a href="(/account[^"]*)"[^>]*>([^<]+)</a>', nav) == [
        ("/account", "Profile"), ("/account/security", "Security"),
        ("/account/sessions", "Sessions"), ("/account/apps", "Apps with access"),
        ("/account/linked", "Linked accounts"),
    ]  # fmt: skip
    assert page.text.index("</nav>") < page.text.index('<h2 id="linked">')
    csrf = csrf_of(page.text)
    forged = await http.post("/account/linked/fake/link", data={"csrf_token": "x"})
    assert forged.status_code == 403
    started = await http.post("/account/linked/fake/link", data={"csrf_token": csrf})
    assert started.status_code == 303
    assert started.headers["location"].startswith(fake.issuer)
    account = Account("sub-" + secrets.token_hex(4), "other.address@example.net", False)
    code, state = fake.authorize(started.headers["location"], account)
    linked = await http.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert linked.status_code == 303
    assert linked.headers["location"] == "/account/linked?done=linked"
    page = await http.get(linked.headers["location"])
    assert "The account was linked" in page.text
    assert "linked as other.address@example.net" in page.text
    # That upstream account now signs in to this user, whatever its address.
    http.cookies.clear()
    signed = await start(http, rp)
    claims = await id_token_at_rp(http, rp, signed, await come_back(http, fake, signed, account))
    assert claims["sub"] == user["id"]
    # It cannot be linked to someone else.
    email = f"x{secrets.token_hex(3)}@example.org"
    other = await http.post(
        "/admin/users", json={"email": email, "password": "p" * 12}, headers=ADMIN
    )
    assert other.status_code == 201
    http.cookies.clear()
    assert (await account_sign_in(http, other.json()["email"], "p" * 12)).status_code == 303
    csrf = csrf_of((await http.get("/account/linked")).text)
    started = await http.post("/account/linked/fake/link", data={"csrf_token": csrf})
    code, state = fake.authorize(started.headers["location"], account)
    taken = await http.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert taken.status_code == 409
    assert "linked to another account here" in taken.text
    # The owner unlinks it (a password is left to sign in with).
    http.cookies.clear()
    assert (await account_sign_in(http, user["email"])).status_code == 303
    csrf = csrf_of((await http.get("/account/linked")).text)
    unlinked = await http.post("/account/linked/fake/unlink", data={"csrf_token": csrf})
    assert unlinked.status_code == 303
    assert unlinked.headers["location"] == "/account/linked?done=unlinked"
    assert "Link Fake ID" in (await http.get("/account/linked")).text


async def test_the_last_way_to_sign_in_cannot_be_unlinked(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    await id_token_at_rp(http, rp, started, await come_back(http, fake, started, someone()))
    page = await http.get("/account/linked")  # the upstream sign-in's session
    assert page.status_code == 200
    assert "Unlink Fake ID" in page.text
    refused = await http.post(
        "/account/linked/fake/unlink", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 409
    assert "the only way you can sign in" in refused.text
    assert "Unlink Fake ID" in (await http.get("/account/linked")).text


async def test_a_jit_account_has_no_password_to_guess(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    started = await start(http, rp)
    account = someone()
    await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    http.cookies.clear()
    answer = await account_sign_in(http, account.email or "", "")
    assert answer.status_code == 400
    answer = await account_sign_in(http, account.email or "", "anything at all")
    assert answer.status_code == 400
    assert "not correct" in answer.text


async def test_a_user_with_two_step_verification_gives_a_code_after_the_upstream(
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    fake: FakeUpstream,
    user: dict[str, Any],
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    assert (await account_sign_in(http, user["email"])).status_code == 303
    seed, _ = await enrol_totp(http, clock.now(), secrets_seen)
    csrf = csrf_of((await http.get("/account/linked")).text)
    started = await http.post("/account/linked/fake/link", data={"csrf_token": csrf})
    account = Account("sub-" + secrets.token_hex(4), None)
    code, state = fake.authorize(started.headers["location"], account)
    linked = await http.get("/upstream/fake/callback", params={"code": code, "state": state})
    assert linked.status_code == 303
    http.cookies.clear()
    clock.advance(30)  # the next time step: the enrolment's code is used
    signing = await start(http, rp)
    asked = await come_back(http, fake, signing, account)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/interaction/{signing.uid}"
    page = await http.get(asked.headers["location"])
    assert "Two-step verification" in page.text
    answer = await http.post(
        f"/interaction/{signing.uid}/second-factor",
        data={"csrf_token": csrf_of(page.text), "code": totp_at(seed, clock.now())},
    )
    claims = await id_token_at_rp(http, rp, signing, answer)
    assert claims["sub"] == user["id"]
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    assert claims["acr"] == ACR_MFA


async def test_starting_upstream_sign_ins_counts_as_sign_in_attempts_per_address(
    oidc_settings: Settings, clock: FrozenClock, rp: RegisteredClient
) -> None:
    data = oidc_settings.model_dump(mode="python")
    data["oidc"]["rate_limits"]["login_per_ip"] = "2/minute"
    async with replica(Settings.model_validate(data), clock) as http:
        response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
        uid = response.headers["location"].rsplit("/", 1)[1]
        csrf = csrf_of((await http.get(response.headers["location"])).text)
        statuses = [
            (await http.post(f"/interaction/{uid}/upstream/fake", data={"csrf_token": csrf}))
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [303, 303, 429]
    assert "retry-after" in statuses[2].headers


async def test_the_admin_api_lists_upstreams_and_a_users_links_and_removes_one(
    http: httpx.AsyncClient, rp: RegisteredClient, fake: FakeUpstream
) -> None:
    listed = await http.get("/admin/upstreams", headers=ADMIN)
    assert listed.status_code == 200
    first = listed.json()[0]
    assert first == {
        "id": "fake", "name": "Fake ID", "kind": "oidc", "issuer": fake.issuer,
        "redirect_uri": "http://testserver/upstream/fake/callback",
        "link_by_verified_email": False, "create_accounts": True, "source": "settings",
        "client_id": CLIENT_ID, "api_url": None,
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "email", "profile"], "acr_map": {"urn:fake:strong": ACR_MFA},
        "amr_map": {"face_id": "face"}, "default_amr": ["pwd"], "created_at": None,
        "updated_at": None,
    }  # fmt: skip
    assert CLIENT_SECRET not in listed.text
    assert (await http.get("/admin/upstreams")).status_code == 401
    started = await start(http, rp)
    account = someone()
    claims = await id_token_at_rp(http, rp, started, await come_back(http, fake, started, account))
    links = await http.get(f"/admin/users/{claims['sub']}/upstream-links", headers=ADMIN)
    assert links.status_code == 200
    assert [(link["upstream_id"], link["subject"], link["email"]) for link in links.json()] == [
        ("fake", account.subject, account.email)
    ]
    path = f"/admin/users/{claims['sub']}/upstream-links/fake"
    assert (await http.delete(path, headers=ADMIN)).status_code == 204
    assert (await http.delete(path, headers=ADMIN)).status_code == 404
    unknown = await http.get("/admin/users/u_nobody/upstream-links", headers=ADMIN)
    assert unknown.status_code == 404


@pytest.mark.redis
async def test_a_redirect_started_on_one_replica_comes_back_to_another_once_through_redis(
    oidc_settings: Settings,
    clock: FrozenClock,
    rp: RegisteredClient,
    fake: FakeUpstream,
    redis_url: str,
    redis_prefix: str,
) -> None:
    data = oidc_settings.model_dump(mode="python")
    data.update(redis=shared_redis(redis_url, redis_prefix), jobs={"backend": "inprocess"})
    settings = Settings.model_validate(data)
    try:
        async with replica(settings, clock) as one, replica(settings, clock) as two:
            started = await start(one, rp)
            code, state = fake.authorize(started.location, someone())
            two.cookies = one.cookies  # the same browser, balanced to another replica
            answer = await two.get("/upstream/fake/callback", params={"code": code, "state": state})
            claims = await id_token_at_rp(two, rp, started, answer)
            assert claims["sub"].startswith("u_")
            replay = await one.get("/upstream/fake/callback", params={"code": code, "state": state})
            assert replay.status_code == 400
    finally:
        await forget_everything_in_redis(redis_url, redis_prefix)
