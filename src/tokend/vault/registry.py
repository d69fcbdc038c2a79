"""Seed 001 clients and their branches: registering, reading, changing and deleting them.

A change to a client drops the cached answer of ``validate`` for it (``on_change``): its
credentials, provider or state may be what that answer rested on. A client's ``issuer`` and
``webhook_url`` are URLs tokend will call: one the outbound policy refuses (``url_refusal``,
security review item 8) is refused when registered or changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from tokend.core.errors import ValidationFailed
from tokend.vault.providers import Catalog
from tokend.vault.records import (
    BranchChanges,
    BranchRecord,
    ClientChanges,
    ClientRecord,
    NewBranch,
    NewClient,
)
from tokend.vault.stores import BranchStore, ClientStore


class Registry:
    def __init__(
        self,
        *,
        clients: ClientStore,
        branches: BranchStore,
        catalog: Catalog,
        on_change: Callable[[int], Awaitable[None]],
        url_refusal: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self._clients = clients
        self._branches = branches
        self._catalog = catalog
        self._on_change = on_change
        self._url_refusal = url_refusal

    # -- clients ---------------------------------------------------------------------------

    async def register(
        self, client: NewClient, first_branch: NewBranch | None = None
    ) -> tuple[ClientRecord, BranchRecord | None]:
        """A new client, with its first branch if given; 422 for a provider not in the catalog
        or a URL tokend must not call."""
        self._check_provider(client.provider)
        await self._check_urls(issuer=client.issuer, webhook_url=client.webhook_url)
        return await self._clients.register(client, first_branch)

    async def client(self, client_pk: int) -> ClientRecord:
        return await self._clients.client(client_pk)

    async def client_by_oauth_id(self, client_id: str) -> ClientRecord | None:
        return await self._clients.client_by_oauth_id(client_id)

    async def clients(self, skip: int, limit: int) -> list[ClientRecord]:
        return await self._clients.clients(skip, limit)

    async def update_client(self, client_pk: int, changes: ClientChanges) -> ClientRecord:
        if changes.provider is not None:
            self._check_provider(changes.provider)
        await self._check_urls(issuer=changes.issuer, webhook_url=changes.webhook_url)
        client = await self._clients.update_client(client_pk, changes)
        await self._on_change(client_pk)
        return client

    async def delete_client(self, client_pk: int) -> None:
        await self._clients.delete_client(client_pk)
        await self._on_change(client_pk)

    # -- branches --------------------------------------------------------------------------

    async def add_branch(self, client_pk: int, branch: NewBranch) -> BranchRecord:
        return await self._branches.add_branch(client_pk, branch)

    async def branch(self, branch_pk: int) -> BranchRecord:
        return await self._branches.branch(branch_pk)

    async def branch_by_identifier(self, branch_id: str) -> BranchRecord:
        return await self._branches.branch_by_identifier(branch_id)

    async def branches(
        self,
        skip: int,
        limit: int,
        *,
        client_pks: Sequence[int] | None = None,
        location_id: str | None = None,
    ) -> list[BranchRecord]:
        return await self._branches.branches(
            skip, limit, client_pks=client_pks, location_id=location_id
        )

    async def update_branch(self, branch_pk: int, changes: BranchChanges) -> BranchRecord:
        return await self._branches.update_branch(branch_pk, changes)

    async def delete_branch(self, branch_pk: int) -> None:
        await self._branches.delete_branch(branch_pk)

    def _check_provider(self, name: str) -> None:
        """422 for a provider name the catalog does not hold."""
        if self._catalog.get(name) is None:
            known = ", ".join(self._catalog.names)
            raise ValidationFailed(
                f"provider: unknown provider {name!r} (known: {known})",
                details={
                    "errors": [
                        {
                            "loc": ["body", "provider"],
                            "msg": "unknown provider",
                            "type": "value_error",
                        }
                    ]
                },
            )

    async def _check_urls(self, **urls: object) -> None:
        """422 for a URL the outbound policy refuses: neither may point inside unless allowed."""
        for name, url in urls.items():
            reason = await self._url_refusal(url) if isinstance(url, str) and url else None
            if reason is not None:
                error = {"loc": ["body", name], "msg": reason, "type": "value_error"}
                raise ValidationFailed(f"{name}: {reason}", details={"errors": [error]})
