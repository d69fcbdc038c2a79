"""TOTP second factor and recovery codes: enrolment on the account page, the code asked for
after the password, replay refused, recovery codes once each, backoff without lock-out, seeds
encrypted at rest, admin reset; ``amr`` in the ID token."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.api.oidc.accounts_helpers import account_sign_in, enrol_totp, totp_at
from tests.api.oidc.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
)
from tests.secrets_seen import SecretsSeen
from tokend.core.clock import FrozenClock
from tokend.core.crypto import DecryptionFailed
from tokend.oidc.models import OidcRecoveryCodeRow, OidcTotpRow


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register(skip_consent=True)
    return client


@pytest.fixture
async def enrolled(
    http: httpx.AsyncClient, user: dict[str, Any], clock: FrozenClock, secrets_seen: SecretsSeen
) -> tuple[str, list[str]]:
    """The user, signed in to /account in ``http``, with an authenticator: seed, codes."""
    signed = await account_sign_in(http, user["email"])
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/account"
    seed, codes = await enrol_totp(http, clock.now(), secrets_seen)
    clock.advance(30)  # the confirmation used this step's code
    return seed, codes


def browser(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """Another browser (its own cookies), from ``ip``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def password_step(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str, password: str = PASSWORD
) -> tuple[str, str, str, httpx.Response]:
    """/authorize and the password: (uid, csrf, verifier, the answer to the password)."""
    verifier, challenge = pkce_pair()
    started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
    assert started.status_code == 303, started.text
    uid = started.headers["location"].rsplit("/", 1)[1]
    page = await http.get(started.headers["location"])
    csrf = csrf_of(page.text)
    answer = await http.post(
        f"/interaction/{uid}/login", data={"csrf_token": csrf, "email": email, "password": password}
    )
    return uid, csrf, verifier, answer


async def tokens_after(
    http: httpx.AsyncClient, rp: RegisteredClient, answer: httpx.Response, verifier: str
) -> dict[str, Any]:
    """The token response for the code the sign-in's last answer redirected with."""
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(REDIRECT)
    code = query_of(answer.headers["location"])["code"]
    tokens = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
              "code_verifier": verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def claims_of(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


async def id_token_after(
    http: httpx.AsyncClient, rp: RegisteredClient, answer: httpx.Response, verifier: str
) -> dict[str, Any]:
    return claims_of((await tokens_after(http, rp, answer, verifier))["id_token"])


async def test_password_only_sign_in_has_amr_pwd(
    oidc_app: FastAPI, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    async with browser(oidc_app) as http:
        _, _, verifier, answer = await password_step(http, rp, user["email"])
        claims = await id_token_after(http, rp, answer, verifier)
    assert claims["amr"] == ["pwd"]


async def test_an_enrolled_user_is_asked_for_a_code_after_the_password(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    seed, _ = enrolled
    async with browser(oidc_app) as http:
        uid, csrf, verifier, answer = await password_step(http, rp, user["email"])
        assert answer.status_code == 200
        assert "Two-step verification" in answer.text
        assert "tokend_session" not in answer.cookies  # no session before the second factor
        # The interaction page asks for the code again, not for the password.
        again = await http.get(f"/interaction/{uid}")
        assert 'autocomplete="one-time-code"' in again.text
        wrong = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": "000000"}
        )
        assert wrong.status_code == 400
        assert "not correct" in wrong.text
        right = await http.post(
            f"/interaction/{uid}/second-factor",
            data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
        )
        claims = await id_token_after(http, rp, right, verifier)
    assert claims["amr"] == ["mfa", "otp", "pwd"]


async def tokens_with_totp(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str, seed: str, clock: FrozenClock
) -> dict[str, Any]:
    """The token response after a sign-in with the password and then a TOTP code."""
    uid, csrf, verifier, _ = await password_step(http, rp, email)
    right = await http.post(
        f"/interaction/{uid}/second-factor",
        data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
    )
    return await tokens_after(http, rp, right, verifier)


async def test_a_refreshed_id_token_keeps_the_sign_ins_methods_and_session(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    # OIDC Core §12.2: the ID token of a refresh describes the original authentication; its
    # amr (password and one-time code) and, for Back-Channel Logout §2.1, its session (sid).
    async with browser(oidc_app) as http:
        tokens = await tokens_with_totp(http, rp, user["email"], enrolled[0], clock)
        signed_in = claims_of(tokens["id_token"])
        assert isinstance(signed_in["sid"], str)
        refresh = tokens["refresh_token"]
        for _ in range(2):  # the family's successor keeps them too
            clock.advance(60)
            refreshed = await http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=rp.auth,
            )
            assert refreshed.status_code == 200, refreshed.text
            refresh = refreshed.json()["refresh_token"]
            claims = claims_of(refreshed.json()["id_token"])
            assert claims["amr"] == ["mfa", "otp", "pwd"]
            assert claims["sid"] == signed_in["sid"]
            assert claims["auth_time"] == signed_in["auth_time"]
            assert "nonce" not in claims


async def test_introspection_says_how_the_user_signed_in(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    # RFC 9068 §2.2.1 (and RFC 7662 §2.2's extension point): auth_time, acr and amr of the
    # sign-in, in the JWT access token and in what introspection answers for it and for the
    # refresh token, so a resource server can ask for a second factor (step-up).
    async with browser(oidc_app) as http:
        tokens = await tokens_with_totp(http, rp, user["email"], enrolled[0], clock)
        signed_in = claims_of(tokens["id_token"])
        access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert access["amr"] == ["mfa", "otp", "pwd"]
        assert access["acr"] == signed_in["acr"]
        for token in (tokens["access_token"], tokens["refresh_token"]):
            info = (await http.post("/introspect", data={"token": token}, auth=rp.auth)).json()
            assert info["active"] is True
            assert info["amr"] == ["mfa", "otp", "pwd"]
            assert info["acr"] == signed_in["acr"]
            assert info["auth_time"] == signed_in["auth_time"]


async def test_a_code_is_refused_when_replayed(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    seed, _ = enrolled
    code = totp_at(seed, clock.now())
    async with browser(oidc_app) as first:
        uid, csrf, _, _ = await password_step(first, rp, user["email"])
        used = await first.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": code}
        )
        assert used.status_code == 303
    async with browser(oidc_app, "10.0.0.9") as second:
        uid, csrf, _, _ = await password_step(second, rp, user["email"])
        replayed = await second.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": code}
        )
        assert replayed.status_code == 400  # RFC 6238 §5.2
        clock.advance(30)
        fresh = await second.post(
            f"/interaction/{uid}/second-factor",
            data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
        )
        assert fresh.status_code == 303


async def test_a_recovery_code_signs_in_once(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
) -> None:
    _, codes = enrolled
    assert len(codes) == 10
    assert len(set(codes)) == 10
    async with browser(oidc_app) as http:
        uid, csrf, verifier, _ = await password_step(http, rp, user["email"])
        typed = codes[0].upper().replace("-", " ")  # case, spaces, dashes do not matter
        answer = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": typed}
        )
        claims = await id_token_after(http, rp, answer, verifier)
        assert claims["amr"] == ["mfa", "otp", "pwd"]
    async with browser(oidc_app, "10.0.0.8") as http:
        uid, csrf, _, _ = await password_step(http, rp, user["email"])
        again = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": codes[0]}
        )
        assert again.status_code == 400
    factors = await http_admin_factors(oidc_app, user["id"])
    assert factors == {"totp": True, "recovery_codes_left": 9}


async def http_admin_factors(app: FastAPI, user_id: str) -> dict[str, Any]:
    async with browser(app) as admin:
        response = await admin.get(f"/admin/users/{user_id}/factors", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_wrong_codes_back_off_one_address_not_the_owner(
    oidc_app: FastAPI,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    seed, _ = enrolled
    async with browser(oidc_app, "203.0.113.7") as attacker:
        uid, csrf, _, _ = await password_step(attacker, rp, user["email"])
        statuses = []
        for _ in range(6):
            answer = await attacker.post(
                f"/interaction/{uid}/second-factor", data={"csrf_token": csrf, "code": "123456"}
            )
            statuses.append(answer.status_code)
        assert statuses == [400] * 5 + [429]
        assert "retry-after" in answer.headers
        # Even the right code waits: the address is backing off, not guessing.
        right = await attacker.post(
            f"/interaction/{uid}/second-factor",
            data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
        )
        assert right.status_code == 429
    async with browser(oidc_app, "198.51.100.4") as owner:
        uid, csrf, _, _ = await password_step(owner, rp, user["email"])
        answer = await owner.post(
            f"/interaction/{uid}/second-factor",
            data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
        )
        assert answer.status_code == 303  # no lock-out of the owner


async def test_seeds_are_encrypted_bound_to_the_user_and_codes_hashed(
    oidc_app: FastAPI, user: dict[str, Any], enrolled: tuple[str, list[str]]
) -> None:
    seed, codes = enrolled
    resources = oidc_app.state.resources.get()
    async with resources.database.sessions() as session:
        row = await session.get(OidcTotpRow, user["id"])
        stored = list(
            await session.scalars(
                select(OidcRecoveryCodeRow.code_hash).where(
                    OidcRecoveryCodeRow.user_id == user["id"]
                )
            )
        )
    assert row is not None
    assert seed not in row.seed_enc
    cipher = resources.cipher
    assert cipher.decrypt_text(row.seed_enc, aad=f"oidc_totp:{user['id']}") == seed
    with pytest.raises(DecryptionFailed):  # copied to another user's row, it does not decrypt
        cipher.decrypt_text(row.seed_enc, aad="oidc_totp:u_someone_else")
    assert len(stored) == 10
    assert not set(codes) & set(stored)


async def test_an_admin_resets_the_factors(
    oidc_app: FastAPI,
    http: httpx.AsyncClient,
    rp: RegisteredClient,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
) -> None:
    reset = await http.delete(f"/admin/users/{user['id']}/factors", headers=ADMIN)
    assert reset.status_code == 204
    assert await http_admin_factors(oidc_app, user["id"]) == {
        "totp": False,
        "recovery_codes_left": 0,
    }
    async with browser(oidc_app) as other:
        _, _, _, answer = await password_step(other, rp, user["email"])
        assert answer.status_code == 303  # the password alone again
    missing = await http.delete("/admin/users/u_nobody/factors", headers=ADMIN)
    assert missing.status_code == 404


async def test_the_second_factor_step_needs_the_password_step_first(
    oidc_app: FastAPI, rp: RegisteredClient, user: dict[str, Any], enrolled: tuple[str, list[str]]
) -> None:
    async with browser(oidc_app) as http:
        _, challenge = pkce_pair()
        started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
        uid = started.headers["location"].rsplit("/", 1)[1]
        page = await http.get(started.headers["location"])
        answer = await http.post(
            f"/interaction/{uid}/second-factor",
            data={"csrf_token": csrf_of(page.text), "code": "123456"},
        )
        assert answer.status_code == 403
        forged = await http.post(
            f"/interaction/{uid}/second-factor", data={"csrf_token": "x" * 32, "code": "123456"}
        )
        assert forged.status_code == 403


MFA = "urn:tokend:acr:mfa"


async def test_a_client_that_requires_mfa_steps_a_password_session_up(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    enrolled: tuple[str, list[str]],
    clock: FrozenClock,
) -> None:
    # ``enrolled`` signed in to /account with the password alone, then added an authenticator:
    # the session's sign-in is single-factor, which a require_mfa client does not take.
    seed, _ = enrolled
    strict: RegisteredClient = await register(require_mfa=True, skip_consent=True)
    shown = await http.get(f"/admin/clients/{strict.client_id}", headers=ADMIN)
    assert shown.json()["require_mfa"] is True
    verifier, challenge = pkce_pair()
    started = await http.get("/authorize", params=code_params(strict.client_id, challenge))
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith("/interaction/")  # not a code: sign in again
    uid = started.headers["location"].rsplit("/", 1)[1]
    page = await http.get(started.headers["location"])
    assert 'name="password"' in page.text
    csrf = csrf_of(page.text)
    answer = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": user["email"], "password": PASSWORD},
    )
    assert "Two-step verification" in answer.text
    right = await http.post(
        f"/interaction/{uid}/second-factor",
        data={"csrf_token": csrf, "code": totp_at(seed, clock.now())},
    )
    claims = await id_token_after(http, strict, right, verifier)
    assert claims["acr"] == MFA
    assert claims["amr"] == ["mfa", "otp", "pwd"]


async def test_a_user_without_a_second_factor_is_refused_by_an_mfa_client(
    oidc_app: FastAPI, register: Register, user: dict[str, Any]
) -> None:
    strict: RegisteredClient = await register(require_mfa=True, skip_consent=True)
    lenient: RegisteredClient = await register(skip_consent=True)
    async with browser(oidc_app) as http:
        _, _, _, answer = await password_step(http, strict, user["email"])
        assert answer.status_code == 303
        refused = query_of(answer.headers["location"])
        # OpenID Connect Core Unmet Authentication Requirements 1.0 §2.
        assert refused["error"] == "unmet_authentication_requirements"
        assert "code" not in refused
        # An essential acr asks the same of one request (OIDC Core §5.5.1.1).
        essential = json.dumps({"id_token": {"acr": {"essential": True, "values": [MFA]}}})
        params = code_params(lenient.client_id, pkce_pair()[1], claims=essential)
        again = await http.get("/authorize", params=params)
        assert again.status_code == 303
        assert again.headers["location"].startswith("/interaction/"), again.headers["location"]
        uid = again.headers["location"].rsplit("/", 1)[1]
        page = await http.get(again.headers["location"])
        answered = await http.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": PASSWORD},
        )
        assert (
            query_of(answered.headers["location"])["error"] == "unmet_authentication_requirements"
        )
        # Without the requirement the session's password sign-in does, and the ID token says so.
        verifier, challenge = pkce_pair()
        plain = await http.get("/authorize", params=code_params(lenient.client_id, challenge))
        claims = await id_token_after(http, lenient, plain, verifier)
    assert claims["acr"] == "urn:tokend:acr:password"
    assert claims["amr"] == ["pwd"]
