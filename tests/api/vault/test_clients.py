"""Seed 001 clients and branches: CRUD, pagination, 422 field errors, cascade on delete."""

from __future__ import annotations

import secrets

import httpx

from tests.api.vault.conftest import CALLBACK, Connector


def _client_body(**extra: object) -> dict[str, object]:
    return {
        "client_id": "c-" + secrets.token_hex(6),
        "client_secret": "secret-" + secrets.token_hex(8),
        "redirect_uri": CALLBACK,
        **extra,
    }


async def test_create_client_with_branch_answers_the_seed_shape(api: httpx.AsyncClient) -> None:
    body = _client_body(
        branch_id="b-" + secrets.token_hex(6),
        workspace_email="owner@example.com",
        workspace_name="Main street",
    )
    response = await api.post("/clients", json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["success"] is True
    assert created["message"] == "Client created successfully"
    assert created["client_oauth_id"] == body["client_id"]
    assert created["branch_identifier"] == body["branch_id"]
    assert created["email"] == "owner@example.com"
    assert created["workspace_name"] == "Main street"
    assert created["redirect_uri"] == CALLBACK
    assert created["provider"] == "google"
    assert isinstance(created["client_id"], int)
    assert isinstance(created["branch_id"], int)
    assert "client_secret" not in response.text
    assert str(body["client_secret"]) not in response.text


async def test_duplicate_client_and_branch_are_400_with_seed_texts(api: httpx.AsyncClient) -> None:
    body = _client_body(branch_id="b-" + secrets.token_hex(6))
    assert (await api.post("/clients", json=body)).status_code == 201
    again = await api.post("/clients", json=body)
    assert again.status_code == 400
    assert again.json() == {"detail": "Client already registered"}
    other = _client_body(branch_id=body["branch_id"])
    clash = await api.post("/clients", json=other)
    assert clash.status_code == 400
    assert clash.json() == {"detail": "Branch ID already exists"}


async def test_invalid_client_fields_are_422_with_field_messages(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/clients", json={"client_id": "", "redirect_uri": "not a url", "client_secret": "s3cr3t!"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    fields = {tuple(err["loc"]) for err in detail}
    assert ("body", "client_id") in fields
    assert ("body", "redirect_uri") in fields
    assert all("input" not in err for err in detail)
    assert "s3cr3t!" not in response.text


async def test_unknown_provider_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/clients", json=_client_body(provider="nope"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "provider"]


async def test_get_patch_and_list_clients(api: httpx.AsyncClient) -> None:
    created = (await api.post("/clients", json=_client_body())).json()
    pk = created["client_id"]
    got = await api.get(f"/clients/{pk}")
    assert got.status_code == 200
    assert got.json()["client_id"] == created["client_oauth_id"]
    assert "client_secret" not in got.json()
    patched = await api.patch(f"/clients/{pk}", json={"is_active": False, "scopes": ["a", "b"]})
    assert patched.status_code == 200
    assert patched.json()["is_active"] is False
    assert patched.json()["scopes"] == ["a", "b"]
    page = await api.get("/clients", params={"skip": 0, "limit": 1})
    assert page.status_code == 200
    assert len(page.json()) == 1
    everything = (await api.get("/clients", params={"limit": 500})).json()
    assert pk in [c["id"] for c in everything]


async def test_a_client_patch_keeps_absent_fields_and_clears_nulled_ones(
    api: httpx.AsyncClient,
) -> None:
    body = _client_body(
        issuer="https://issuer.example",
        scopes=["a"],
        webhook_url="https://hooks.example/in",
        webhook_secret="whsec-" + secrets.token_hex(12),
    )
    pk = (await api.post("/clients", json=body)).json()["client_id"]
    kept = await api.patch(f"/clients/{pk}", json={"redirect_uri": "https://tenant.example/new"})
    assert kept.status_code == 200
    assert {k: kept.json()[k] for k in ("issuer", "scopes", "webhook_url", "redirect_uri")} == {
        "issuer": "https://issuer.example",
        "scopes": ["a"],
        "webhook_url": "https://hooks.example/in",
        "redirect_uri": "https://tenant.example/new",
    }
    nulls = dict.fromkeys(("issuer", "scopes", "webhook_url", "redirect_uri", "is_active"))
    cleared = await api.patch(f"/clients/{pk}", json=nulls)
    assert cleared.status_code == 200
    # A null empties what may be empty and keeps what may not (redirect URI, activity).
    assert {k: cleared.json()[k] for k in nulls} == {
        "issuer": None,
        "scopes": [],
        "webhook_url": None,
        "redirect_uri": "https://tenant.example/new",
        "is_active": True,
    }


async def test_bad_pagination_and_ids_are_422(api: httpx.AsyncClient) -> None:
    assert (await api.get("/clients", params={"limit": 0})).status_code == 422
    assert (await api.get("/clients", params={"skip": -1})).status_code == 422
    assert (await api.get("/clients/abc")).status_code == 422


async def test_missing_client_is_404(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/clients/987654"),
        ("PATCH", "/clients/987654"),
        ("DELETE", "/clients/987654"),
    ):
        response = await api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404
        assert response.json() == {"detail": "Client not found"}


async def test_branches_crud_and_filters(api: httpx.AsyncClient) -> None:
    pk = (await api.post("/clients", json=_client_body())).json()["client_id"]
    location = "loc-" + secrets.token_hex(4)
    identifier = "b-" + secrets.token_hex(6)
    created = await api.post(
        "/branches",
        json={"branch_id": identifier, "client_id": pk, "location_id": location, "email": "x@y.io"},
    )
    assert created.status_code == 201
    branch = created.json()
    assert branch["branch_id"] == identifier
    by_identifier = await api.get(f"/branches/by-branch-id/{identifier}")
    assert by_identifier.json()["id"] == branch["id"]
    assert (await api.get(f"/branches/{branch['id']}")).json()["location_id"] == location
    by_location = (await api.get("/branches", params={"location_id": location})).json()
    assert [b["id"] for b in by_location] == [branch["id"]]
    by_client = (await api.get("/branches", params={"client_id": pk})).json()
    assert [b["id"] for b in by_client] == [branch["id"]]
    patched = await api.patch(f"/branches/{branch['id']}", json={"branch_name": "Renamed"})
    assert patched.json()["branch_name"] == "Renamed"
    assert patched.json()["email"] == "x@y.io"
    nulled = await api.patch(f"/branches/{branch['id']}", json={"email": None, "is_active": None})
    assert (nulled.json()["email"], nulled.json()["is_active"]) == (None, True)
    assert nulled.json()["branch_name"] == "Renamed"
    deleted = await api.delete(f"/branches/{branch['id']}")
    assert deleted.status_code == 200
    assert (await api.get(f"/branches/{branch['id']}")).status_code == 404


async def test_branch_for_unknown_client_is_404_and_bad_email_422(api: httpx.AsyncClient) -> None:
    missing = await api.post("/branches", json={"branch_id": "b-x", "client_id": 987654})
    assert missing.status_code == 404
    pk = (await api.post("/clients", json=_client_body())).json()["client_id"]
    bad = await api.post(
        "/branches", json={"branch_id": "b-" + secrets.token_hex(4), "client_id": pk, "email": "no"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "email"]


async def test_deleting_a_client_cascades_to_branches_and_tokens(
    connector: Connector, api: httpx.AsyncClient
) -> None:
    identifier = "b-" + secrets.token_hex(6)
    pk = await connector.connect(branch_id=identifier)
    assert (await api.get(f"/tokens/client/{pk}")).status_code == 200
    assert (await api.delete(f"/clients/{pk}")).status_code == 200
    assert (await api.get(f"/branches/by-branch-id/{identifier}")).status_code == 404
    assert (await api.get(f"/tokens/client/{pk}")).status_code == 404
    assert (await api.get(f"/tokens/validate/{pk}")).status_code == 404
