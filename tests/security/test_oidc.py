"""The OpenID provider as an attacker sees it: each case of the security review, reproduced
black-box against one real ``tokend serve`` process (SQLite, memory cache, console mail).

Every browser gets its own loopback source address (127.0.0.x), so the per-address limits of
one case never touch another's, and the throttling cases can play several attackers at once.
"""

from __future__ import annotations

import itertools
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import csrf_of, pkce_pair, query_of
from tests.conftest import TEST_ARGON2_ENV, TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, migrate, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "security-admin-" + secrets.token_hex(16)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "security password " + secrets.token_hex(4)
REDIRECT = "https://rp.example/cb"
BYE = "https://rp.example/bye"
SCOPE = "openid profile email offline_access"
#: The server's memory cache holds this many entries (the default is 50 000).
CACHE_ITEMS = 300
#: Throttling limits of the server under test, in hour windows: a case never straddles one.
FAILURES_PER_ADDRESS = 6
FAILURES_PER_ACCOUNT = 10
PENDING_LOGINS_PER_ADDRESS = 20
ALERT = re.compile(r'role="alert"[^>]*>([^<]*)<')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class OP:
    server: Server
    env: dict[str, str]
    addresses: Iterator[str]

    @property
    def url(self) -> str:
        return self.server.base_url

    def browser(self) -> httpx.Client:
        """A browser of its own: its own cookies and its own source address."""
        transport = httpx.HTTPTransport(local_address=next(self.addresses))
        return httpx.Client(base_url=self.url, transport=transport, timeout=20)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=20) as http:
            return http.request(method, path, headers=ADMIN, **kwargs)


@dataclass
class RP:
    client_id: str
    secret: str | None

    def basic(self) -> tuple[str, str]:
        assert self.secret is not None
        return (self.client_id, self.secret)


@dataclass
class EndUser:
    id: str
    email: str
    password: str = PASSWORD


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen) -> Iterator[OP]:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(PASSWORD)
    tmp = tmp_path_factory.mktemp("security-oidc")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    limits = "TOKEND_OIDC__RATE_LIMITS__"
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'oidc.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_OIDC__EMAIL__BACKEND="console",
        TOKEND_CACHE__MEMORY_MAX_ITEMS=str(CACHE_ITEMS),
        TOKEND_LOG__ACCESS_LOG="false",
        TOKEND_CONSOLE__STEP_UP="true",
        # Its cases sign in (and fail to) by the hundred: the test costs, not production's
        # quarter second of CPU a check (the end-to-end flows keep those; how throttling and
        # look-alike answers behave does not depend on them).
        **TEST_ARGON2_ENV,
        **{
            f"{limits}LOGIN_PER_IP": "10000/minute",
            f"{limits}LOGIN_FAILURES_PER_IP_ACCOUNT": f"{FAILURES_PER_ADDRESS}/hour",
            f"{limits}LOGIN_FAILURES_PER_ACCOUNT": f"{FAILURES_PER_ACCOUNT}/hour",
            f"{limits}LOGIN_FAILURES_PER_IP_ACCOUNT_UNDER_ATTACK": "1/hour",
            f"{limits}INTERACTIONS_PER_IP": f"{PENDING_LOGINS_PER_ADDRESS}/hour",
        },
    )
    migrate(env)
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(2, 250)))
    try:
        yield OP(server, env, addresses)
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def new_client(op: OP, secrets_seen: SecretsSeen, **fields: Any) -> RP:
    body = {
        "name": "Security RP",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [BYE],
        "scope": SCOPE,
        **fields,
    }
    response = op.admin("POST", "/admin/clients", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    if data["client_secret"]:
        secrets_seen.add(data["client_secret"])
    return RP(data["client_id"], data["client_secret"])


def new_user(op: OP) -> EndUser:
    email = f"sec.{secrets.token_hex(4)}@example.org"
    response = op.admin(
        "POST", "/admin/users", json={"email": email, "password": PASSWORD, "email_verified": True}
    )
    assert response.status_code == 201, response.text
    return EndUser(response.json()["id"], email)


def code_params(rp: RP, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def login_page(browser: httpx.Client, rp: RP) -> tuple[str, str]:
    """Start a sign-in for ``rp``: the interaction's uid and the login form's CSRF token."""
    response = browser.get("/authorize", params=code_params(rp, pkce_pair()[1]))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/interaction/"), location
    page = browser.get(location)
    assert "Sign in" in page.text
    return location.rsplit("/", 1)[1], csrf_of(page.text)


def post_login(
    browser: httpx.Client, uid: str, csrf: str, email: str, password: str
) -> httpx.Response:
    return browser.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": email, "password": password},
    )


def authorize(browser: httpx.Client, rp: RP, user: EndUser, **extra: str) -> tuple[str, str]:
    """Sign in and consent like a browser; the code and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    params = code_params(rp, challenge, **extra)
    response = browser.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if location.startswith("/interaction/"):
        uid = location.rsplit("/", 1)[1]
        page = browser.get(location)
        if "Sign in" in page.text:
            response = post_login(browser, uid, csrf_of(page.text), user.email, user.password)
            assert response.status_code == 303, response.text
            location = response.headers["location"]
            if location.startswith("/interaction/"):
                page = browser.get(location)
        if location.startswith("/interaction/"):
            response = browser.post(
                f"/interaction/{uid}/consent",
                data={"csrf_token": csrf_of(page.text), "decision": "allow"},
            )
            location = response.headers["location"]
    assert location.startswith(REDIRECT), location
    return query_of(location)["code"], verifier


def exchange(op: OP, rp: RP, code: str, verifier: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    with httpx.Client(base_url=op.url, timeout=20) as http:
        if rp.secret is None:  # a public client: its client_id alone (RFC 6749 §2.3)
            return http.post("/token", data={**data, "client_id": rp.client_id})
        return http.post("/token", data=data, auth=rp.basic())


def tokens_for(op: OP, rp: RP, user: EndUser, **extra: str) -> dict[str, Any]:
    with op.browser() as browser:
        code, verifier = authorize(browser, rp, user, **extra)
    response = exchange(op, rp, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tokens_and_another_client(op: OP, secrets_seen: SecretsSeen) -> tuple[RP, RP, dict[str, Any]]:
    """A client, a new user's tokens from it, and a second client."""
    rp, other = new_client(op, secrets_seen), new_client(op, secrets_seen)
    tokens = tokens_for(op, rp, new_user(op))
    secrets_seen.add(tokens["refresh_token"])
    return rp, other, tokens


def refresh(op: OP, rp: RP, token: str) -> httpx.Response:
    with httpx.Client(base_url=op.url, timeout=20) as http:
        return http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=rp.basic(),
        )


def introspect(op: OP, caller: RP, token: str) -> dict[str, Any]:
    with httpx.Client(base_url=op.url, timeout=20) as http:
        response = http.post("/introspect", data={"token": token}, auth=caller.basic())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def alert_of(response: httpx.Response) -> str:
    match = ALERT.search(response.text)
    return match.group(1).strip() if match else ""


# 4. Account lockout was a denial of service and an enumeration oracle.


def test_a_correct_password_signs_in_after_repeated_failures(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    with op.browser() as browser:
        uid, csrf = login_page(browser, rp)
        for _ in range(5):
            assert post_login(browser, uid, csrf, user.email, "wrong password").status_code == 400
        right = post_login(browser, uid, csrf, user.email, PASSWORD)
    assert right.status_code == 303, alert_of(right)


def test_guessing_from_one_address_throttles_that_address_not_the_owner(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    with op.browser() as attacker:
        uid, csrf = login_page(attacker, rp)
        statuses = [
            post_login(attacker, uid, csrf, user.email, f"guess {n}").status_code
            for n in range(FAILURES_PER_ADDRESS + 2)
        ]
        throttled = post_login(attacker, uid, csrf, user.email, PASSWORD)
    assert statuses == [400] * FAILURES_PER_ADDRESS + [429, 429]
    # The attacker's address waits even with the right password: it is the attacker's.
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers
    with op.browser() as owner:
        uid, csrf = login_page(owner, rp)
        assert post_login(owner, uid, csrf, user.email, PASSWORD).status_code == 303


def test_an_account_under_attack_from_many_addresses_still_admits_its_owner(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    for _ in range(FAILURES_PER_ACCOUNT // 2):  # a botnet: two guesses from each address
        with op.browser() as bot:
            uid, csrf = login_page(bot, rp)
            for _ in range(2):
                assert post_login(bot, uid, csrf, user.email, "botnet").status_code == 400
    with op.browser() as bot:  # a fresh address now gets one guess, not a full allowance
        uid, csrf = login_page(bot, rp)
        assert post_login(bot, uid, csrf, user.email, "botnet").status_code == 400
        assert post_login(bot, uid, csrf, user.email, "botnet").status_code == 429
    with op.browser() as owner:
        uid, csrf = login_page(owner, rp)
        assert post_login(owner, uid, csrf, user.email, PASSWORD).status_code == 303


def test_unknown_and_throttled_accounts_answer_alike(op: OP, secrets_seen: SecretsSeen) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)

    def answers(email: str) -> list[tuple[int, str, bool]]:
        with op.browser() as browser:
            uid, csrf = login_page(browser, rp)
            seen = []
            for _ in range(FAILURES_PER_ADDRESS + 2):
                response = post_login(browser, uid, csrf, email, "wrong password")
                seen.append(
                    (response.status_code, alert_of(response), "retry-after" in response.headers)
                )
            return seen

    known = answers(user.email)
    unknown = answers(f"nobody.{secrets.token_hex(4)}@example.org")
    assert known == unknown
    assert not any("lock" in text.lower() for _, text, _ in known)


# 10. Introspection answered every confidential client about every token.


def test_a_client_cannot_introspect_another_clients_tokens(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    rp, other, tokens = tokens_and_another_client(op, secrets_seen)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(op, rp, token)["active"] is True
        assert introspect(op, other, token) == {"active": False}


def test_a_resource_server_named_in_the_audience_may_introspect(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    api = new_client(op, secrets_seen, grant_types=["client_credentials"], scope="api:read")
    service = new_client(
        op, secrets_seen, grant_types=["client_credentials"], scope="api:read",
        audiences=[api.client_id],
    )  # fmt: skip
    bystander = new_client(op, secrets_seen, grant_types=["client_credentials"], scope="api:read")
    with httpx.Client(base_url=op.url, timeout=20) as http:
        token = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "api:read"},
            auth=service.basic(),
        ).json()["access_token"]
    assert introspect(op, api, token)["active"] is True
    assert introspect(op, bystander, token) == {"active": False}


# 11. A new password left the user's refresh tokens and grants alive.


def assert_grants_revoked(op: OP, rp: RP, grants: list[dict[str, Any]]) -> None:
    for tokens in grants:
        assert introspect(op, rp, tokens["access_token"]) == {"active": False}
        if "refresh_token" in tokens:
            assert refresh(op, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_an_admin_password_change_revokes_the_users_grants(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    offline = tokens_for(op, rp, user)
    online = tokens_for(op, rp, user, scope="openid email")  # a JWT access token, no refresh
    new_password = secrets_seen.add("admin-set password " + secrets.token_hex(4))
    response = op.admin("PATCH", f"/admin/users/{user.id}", json={"password": new_password})
    assert response.status_code == 200, response.text
    assert_grants_revoked(op, rp, [offline, online])


def test_a_password_reset_revokes_the_users_grants(op: OP, secrets_seen: SecretsSeen) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    offline = tokens_for(op, rp, user)
    online = tokens_for(op, rp, user, scope="openid email")
    with op.browser() as browser:
        link = reset_link(op, browser, user)
        page = browser.get(link)
        assert page.status_code == 200, page.text
        new_password = secrets_seen.add("reset password " + secrets.token_hex(4))
        done = browser.post(
            "/password/reset",
            data={
                "csrf_token": csrf_of(page.text),
                "token": link.split("token=", 1)[1],
                "password": new_password,
            },
        )
        assert done.status_code == 200, done.text
        assert "Password changed" in done.text
    assert_grants_revoked(op, rp, [offline, online])


def reset_link(op: OP, browser: httpx.Client, user: EndUser) -> str:
    """Ask for a password-reset mail for ``user`` and read the link from the console mailer."""
    form = browser.get("/password/forgot")
    sent = browser.post(
        "/password/forgot", data={"csrf_token": csrf_of(form.text), "email": user.email}
    )
    assert sent.status_code == 200, sent.text
    mail = re.compile(
        rf"--- mail to {re.escape(user.email)}: Reset your password\n.*?(http://\S+/password/"
        r"reset\?token=\S+)",
        re.DOTALL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = mail.search(op.server.log())
        if found is not None:
            return found.group(1).replace(op.url, "")
        time.sleep(0.1)
    raise AssertionError("no reset mail was printed")


# 12. A scope removed from a client survived in the refresh-token families issued before.


def test_a_scope_removed_from_the_client_is_gone_at_the_next_refresh(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    tokens = tokens_for(op, rp, user)
    narrowed = op.admin(
        "PUT",
        f"/admin/clients/{rp.client_id}",
        json={
            "name": "Security RP", "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [BYE],
            "scope": "openid offline_access",
        },
    )  # fmt: skip
    assert narrowed.status_code == 200, narrowed.text
    response = refresh(op, rp, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "offline_access openid"
    with httpx.Client(base_url=op.url, timeout=20) as http:
        claims = http.get(
            "/userinfo", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
        ).json()
    assert "email" not in claims


# A refresh reads its token, the token's user and the user's consent in one statement
# (RefreshStore.find_in_grant): each end of a grant must still stop its refresh tokens.


@pytest.mark.parametrize("end", ["disabled", "deleted", "consent withdrawn"])
def test_a_refresh_token_dies_with_its_user_or_the_users_consent(
    op: OP, secrets_seen: SecretsSeen, end: str
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    tokens = tokens_for(op, rp, user)
    secrets_seen.add(tokens["refresh_token"])
    if end == "disabled":
        ended = op.admin("PATCH", f"/admin/users/{user.id}", json={"disabled": True})
    elif end == "deleted":
        ended = op.admin("DELETE", f"/admin/users/{user.id}")
    else:
        ended = op.admin("DELETE", f"/admin/users/{user.id}/consents/{rp.client_id}")
    assert ended.is_success, ended.text
    answer = refresh(op, rp, tokens["refresh_token"])
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    assert "refresh_token" not in answer.json()


def test_a_refresh_token_is_refused_to_another_client_and_stays_its_own(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    rp, other, tokens = tokens_and_another_client(op, secrets_seen)
    stolen = refresh(op, other, tokens["refresh_token"])
    assert stolen.status_code == 400, stolen.text
    assert stolen.json()["error"] == "invalid_grant"
    # The other client's attempt rotated nothing: the token still works for its own client.
    assert refresh(op, rp, tokens["refresh_token"]).status_code == 200


# 13. Grant revocations are kept 24 h: no access token may live longer.


def test_the_access_token_lifetime_cannot_outlive_grant_revocations() -> None:
    checked = subprocess.run(
        [*TOKEND, "config", "show"],
        env=tokend_env(TOKEND_OIDC__ACCESS_TOKEN_TTL_S=str(2 * 86_400)),
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 2, checked.stdout
    assert "oidc.access_token_ttl_s" in checked.stderr


# 16. Logout CSRF: any page could sign the user out.


def is_signed_in(browser: httpx.Client, rp: RP) -> bool:
    response = browser.get("/authorize", params=code_params(rp, pkce_pair()[1], prompt="none"))
    assert response.status_code == 303, response.text
    query = query_of(response.headers["location"])
    assert "code" in query or query.get("error") == "login_required", query
    return "code" in query


def test_logout_without_a_hint_or_with_another_users_asks_first(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user, someone_else = new_user(op), new_user(op)
    rp = new_client(op, secrets_seen)
    their_hint = tokens_for(op, rp, someone_else)["id_token"]
    with op.browser() as browser:
        code, verifier = authorize(browser, rp, user)
        own_hint = exchange(op, rp, code, verifier).json()["id_token"]
        for params in ({}, {"id_token_hint": their_hint, "post_logout_redirect_uri": BYE}):
            asked = browser.get("/logout", params=params)
            assert asked.status_code == 200, asked.text
            assert "Sign out?" in asked.text
            assert is_signed_in(browser, rp)
        form = {**dict(HIDDEN.findall(asked.text)), "decision": "logout"}
        assert form["post_logout_redirect_uri"] == BYE
        forged = browser.post("/logout/confirm", data={**form, "csrf_token": "forged"})
        assert forged.status_code == 403
        assert is_signed_in(browser, rp)
        confirmed = browser.post("/logout/confirm", data=form)
        assert confirmed.status_code == 303
        assert confirmed.headers["location"].startswith(BYE)
        assert not is_signed_in(browser, rp)
        # With a valid hint for the signed-in user, RP-initiated logout stays one step.
        authorize(browser, rp, user)
        direct = browser.get(
            "/logout", params={"id_token_hint": own_hint, "post_logout_redirect_uri": BYE}
        )
        assert direct.status_code == 303
        assert direct.headers["location"].startswith(BYE)
        assert not is_signed_in(browser, rp)


# 17. Another client could redeem (and so burn) a client's authorization code.


def test_a_code_presented_by_another_client_is_refused_and_stays_redeemable(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    public = new_client(op, secrets_seen, public=True)
    confidential = new_client(op, secrets_seen)
    with op.browser() as browser:
        code, verifier = authorize(browser, rp, user)
    for thief in (public, confidential):
        stolen = exchange(op, thief, code, verifier)
        assert stolen.status_code == 400
        assert stolen.json()["error"] == "invalid_grant"
    redeemed = exchange(op, rp, code, verifier)
    assert redeemed.status_code == 200, redeemed.text
    assert exchange(op, public, code, verifier).json()["error"] == "invalid_grant"
    assert introspect(op, rp, redeemed.json()["access_token"])["active"] is True


# 20. javascript: and data: redirect URIs were accepted at client creation.

REFUSED_URIS = (
    "javascript:alert(document.domain)",
    "JavaScript://rp.example/%0Aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "myapp:/callback",  # a private-use scheme must be a reverse domain name (RFC 8252 §7.1)
    "https://rp.example/cb#fragment",
    "http://rp.example/cb",
    "https:///no-host",
    " https://rp.example/cb",
)
ACCEPTED_URIS = (
    "https://rp.example/cb",
    "http://127.0.0.1:51004/cb",
    "http://localhost:3000/cb",
    "http://[::1]:8080/cb",
    "com.example.app:/oauth2redirect",
)


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_only_safe_redirect_uris_are_registered(op: OP, field: str) -> None:
    for uri in REFUSED_URIS:
        response = op.admin("POST", "/admin/clients", json={
            "name": "x", "redirect_uris": [REDIRECT], field: [uri], "public": True,
        })  # fmt: skip
        assert response.status_code == 422, uri
    response = op.admin("POST", "/admin/clients", json={
        "name": "x", "redirect_uris": [REDIRECT], field: list(ACCEPTED_URIS), "public": True,
    })  # fmt: skip
    assert response.status_code == 201, response.text


def test_the_cli_refuses_a_javascript_redirect_uri(op: OP) -> None:
    for option in ("--redirect-uri", "--post-logout-redirect-uri"):
        created = subprocess.run(
            [*TOKEND, "clients", "create", "--name", "x", "--public",
             "--redirect-uri", REDIRECT, option, "javascript:alert(1)"],
            env=op.env, cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 2, created.stdout
        assert "redirect" in created.stderr


# 24. A rotated refresh token kept working for 10 s: a thief racing the client won.


def test_a_reused_refresh_token_revokes_its_family_at_once_by_default(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    first = tokens_for(op, rp, user)
    second = refresh(op, rp, first["refresh_token"])
    assert second.status_code == 200, second.text
    reuse = refresh(op, rp, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert refresh(op, rp, second.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_only_a_confidential_client_may_opt_into_a_reuse_grace_period(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    refused = op.admin("POST", "/admin/clients", json={
        "name": "x", "redirect_uris": [REDIRECT], "public": True, "refresh_grace_s": 5,
    })  # fmt: skip
    assert refused.status_code == 422
    user = new_user(op)
    rp = new_client(op, secrets_seen, refresh_grace_s=30)
    first = tokens_for(op, rp, user)
    second = refresh(op, rp, first["refresh_token"]).json()
    again = refresh(op, rp, first["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] == second["refresh_token"]


# Suspicion: unauthenticated traffic flooding the memory cache evicts security state.


def test_flooding_the_cache_evicts_no_reset_link_and_no_pending_login(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    with op.browser() as browser:
        link = reset_link(op, browser, user)
        uid, csrf = login_page(browser, rp)
        with op.browser() as flood:
            for _ in range(2 * CACHE_ITEMS):  # each unknown client id is a cached "missing"
                miss = flood.get("/authorize", params={"client_id": secrets.token_hex(8)})
                assert miss.status_code == 400
        assert browser.get(link).status_code == 200
        assert post_login(browser, uid, csrf, user.email, PASSWORD).status_code == 303


def test_one_address_can_start_only_so_many_pending_logins(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    rp = new_client(op, secrets_seen)
    with op.browser() as flood:
        statuses = [
            flood.get("/authorize", params=code_params(rp, pkce_pair()[1])).status_code
            for _ in range(PENDING_LOGINS_PER_ADDRESS + 1)
        ]
    assert statuses == [303] * PENDING_LOGINS_PER_ADDRESS + [429]
    with op.browser() as someone_else:
        login_page(someone_else, rp)


# 9. What a client was given must end with the client; what a client demands must hold.


def bearer(op: OP, access_token: str) -> httpx.Response:
    with httpx.Client(base_url=op.url, timeout=20) as http:
        return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_deleting_a_client_revokes_what_its_users_gave_it(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen)
    tokens = tokens_for(op, rp, user)
    secrets_seen.add(tokens["refresh_token"])
    assert bearer(op, tokens["access_token"]).status_code == 200
    assert op.admin("DELETE", f"/admin/clients/{rp.client_id}").status_code == 204
    assert bearer(op, tokens["access_token"]).status_code == 401
    answer = refresh(op, rp, tokens["refresh_token"])
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_a_client_that_requires_mfa_gets_no_code_for_a_password_only_sign_in(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    rp = new_client(op, secrets_seen, require_mfa=True)
    with op.browser() as browser:
        started = browser.get("/authorize", params=code_params(rp, pkce_pair()[1]))
        location = started.headers["location"]
        page = browser.get(location)
        answer = post_login(
            browser, location.rsplit("/", 1)[1], csrf_of(page.text), user.email, user.password
        )
        assert answer.status_code == 303, answer.text
        back = answer.headers["location"]
    assert back.startswith(REDIRECT), back
    query = query_of(back)
    assert query["error"] == "unmet_authentication_requirements"
    assert "code" not in query


def test_a_console_admin_signed_in_with_a_password_alone_changes_nothing(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    user = new_user(op)
    assert op.admin("PATCH", f"/admin/users/{user.id}", json={"roles": ["admin"]}).is_success
    with op.browser() as browser:
        login = browser.get("/console/login?next=/console/users")
        started = browser.get(login.headers["location"])
        location = started.headers["location"]
        page = browser.get(location)
        answer = post_login(
            browser, location.rsplit("/", 1)[1], csrf_of(page.text), user.email, user.password
        )
        assert answer.status_code == 303, answer.text
        signed_in = browser.get(answer.headers["location"])  # the console's callback
        assert signed_in.status_code == 303, signed_in.text
        users = browser.get("/console/users")
        assert users.status_code == 200  # looking needs no second factor
        email = f"made-by-console.{secrets.token_hex(4)}@example.org"
        refused = browser.post(
            "/console/users",
            data={"csrf_token": csrf_of(users.text), "email": email, "password": PASSWORD},
        )
        assert refused.status_code == 403
        assert "second factor" in refused.text
        forged = browser.post("/console/users", data={"email": email, "password": PASSWORD})
        assert forged.status_code == 403
    listed = op.admin("GET", "/admin/users")
    assert listed.status_code == 200
    emails = {row["email"] for row in listed.json()}
    assert user.email in emails
    assert email not in emails


# HTTP Basic credentials are form-urlencoded before they are Base64-encoded (RFC 6749 §2.3.1).


def every_character_escaped(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def test_basic_credentials_are_form_decoded_before_they_are_compared(
    op: OP, secrets_seen: SecretsSeen
) -> None:
    """RFC 6749 §2.3.1: the client id and secret are form-urlencoded (RFC 6749 Appendix B)
    and then used as the Basic user and password, so ``%61`` is ``a`` and ``+`` a space."""
    rp = new_client(op, secrets_seen, grant_types=["client_credentials"], scope="api:read")
    assert rp.secret is not None
    escaped_id, escaped_secret = (
        every_character_escaped(rp.client_id),
        every_character_escaped(rp.secret),
    )
    secrets_seen.add(escaped_secret)
    form = {"grant_type": "client_credentials", "scope": "api:read"}
    accepted = [
        (rp.client_id, rp.secret),
        (escaped_id, escaped_secret),
        (escaped_id, rp.secret),
        (rp.client_id, rp.secret[:3] + every_character_escaped(rp.secret[3:6]) + rp.secret[6:]),
        (rp.client_id, escaped_secret.lower()),  # escapes in lower-case hex
    ]
    refused = [
        (rp.client_id, rp.secret + "+"),  # a space once decoded
        (rp.client_id, rp.secret + "%2B"),  # a literal plus
        (rp.client_id, rp.secret + "%20"),
        (rp.client_id, rp.secret + "%"),  # not an escape: kept as it is
        (rp.client_id, rp.secret[:-2] + "%zz"),
        (rp.client_id, rp.secret[:-1] + "%FF"),  # not UTF-8
        (rp.client_id, escaped_secret[:-3]),
        (escaped_id + "%00", escaped_secret),
        (rp.client_id + "+", rp.secret),
    ]
    with httpx.Client(base_url=op.url, timeout=20) as http:
        for user, password in accepted:
            answer = http.post("/token", data=form, auth=(user, password))
            assert answer.status_code == 200, (user, answer.text)
            assert introspect(op, rp, answer.json()["access_token"])["active"] is True
        for user, password in refused:
            answer = http.post("/token", data=form, auth=(user, password))
            assert answer.status_code == 401, (user, answer.text)
            assert answer.json()["error"] == "invalid_client"
            assert answer.headers["www-authenticate"] == 'Basic realm="tokend"'
            assert rp.secret not in answer.text
