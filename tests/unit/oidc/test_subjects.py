"""Pairwise subjects (OIDC Core §8.1) and the sector_identifier_uri check (Registration §5)."""

from __future__ import annotations

import httpx
import pytest

from tokend.core.errors import ValidationFailed
from tokend.core.http import GuardedClient
from tokend.oidc.records import AuthMethod, Client, TokenFormat
from tokend.oidc.subjects import Subjects, check_sector

SECTOR = "https://sector.example/uris.json"


def client(**changes: object) -> Client:
    fields: dict[str, object] = dict(
        client_id="c_1", name="c", is_public=False, redirect_uris=("https://a.example/cb",),
        post_logout_redirect_uris=(), grant_types=frozenset({"authorization_code"}),
        response_types=frozenset({"code"}), scopes=frozenset({"openid"}), audiences=(),
        auth_method=AuthMethod.CLIENT_SECRET_BASIC, token_format=TokenFormat.JWT,
        require_pkce=False, skip_consent=False, subject_type="pairwise",
    )  # fmt: skip
    fields.update(changes)
    return Client(**fields)  # type: ignore[arg-type]


def test_pairwise_subjects_differ_by_sector_and_salt() -> None:
    subjects = Subjects(b"salt")
    one = subjects.of(client(), "u_1")
    assert one != "u_1"
    assert subjects.of(client(client_id="c_2"), "u_1") == one  # same sector
    assert subjects.of(client(redirect_uris=("https://b.example/cb",)), "u_1") != one
    assert Subjects(b"other").of(client(), "u_1") != one
    assert subjects.of(client(subject_type="public"), "u_1") == "u_1"
    assert subjects.matches(client(), "u_1", one)


def http_serving(body: bytes, status: int = 200) -> GuardedClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    return GuardedClient(transport=httpx.MockTransport(answer))


async def test_sector_identifier_uri_must_list_every_redirect_uri() -> None:
    sectored = client(sector_identifier_uri=SECTOR)
    await check_sector(sectored, http_serving(b'["https://a.example/cb"]'), True)
    for body, status in ((b'["https://other.example/cb"]', 200), (b"{}", 200), (b"x", 200),
                         (b'["https://a.example/cb"]', 404)):  # fmt: skip
        with pytest.raises(ValidationFailed):
            await check_sector(sectored, http_serving(body, status), True)
    with pytest.raises(ValidationFailed):
        await check_sector(client(), None, False)  # no salt configured
