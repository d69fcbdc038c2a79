"""Seed 001 token endpoints: validate, refresh, metadata, revoke, and by branch."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Response
from starlette.requests import Request

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import JSONBody
from tokend.server.lean import lean_twin
from tokend.vault.access import ADMIN, READ, Caller, VaultAccess
from tokend.vault.errors import (
    BRANCH_NOT_FOUND,
    BranchNotFound,
    ClientNotFound,
    NoToken,
    ReauthorizationRequired,
)
from tokend.vault.registry import Registry
from tokend.vault.schemas import (
    MAX_ID,
    BranchToken,
    PathId,
    Refreshed,
    RefreshRequest,
    Revoked,
    TokenMetadata,
    Validation,
)
from tokend.vault.service import NOT_REFRESHED, REAUTHORIZATION_REQUIRED, VaultService


def add_token_routes(
    router: APIRouter,
    service: Callable[[], VaultService],
    registry: Callable[[], Registry],
    access: VaultAccess,
) -> None:
    """Register the token routes on ``router`` (a SEED-surface router)."""
    read = Depends(access.require(READ))
    admin = Depends(access.require(ADMIN))

    async def validation(client_id: int, caller: Caller) -> Response:
        caller.check_client(client_id)
        result = await service().validate(client_id)
        # A hot path: the body is written directly rather than through the response model.
        expires_at = result.expires_at
        body = {
            "is_valid": result.is_valid,
            "access_token": result.access_token,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z") if expires_at else None,
            "message": result.message,
        }
        return JSONBody(body, headers=NO_STORE)

    @router.get("/tokens/validate/{client_id}", response_model=Validation)
    async def validate(client_id: PathId, caller: Caller = read) -> Response:
        return await validation(client_id, caller)

    @lean_twin(validate)
    async def validate_lean(request: Request) -> Response | None:
        """``validate`` without FastAPI's dependency solving (half of its cost, py-spy): an id
        written as PathId reads it, else FastAPI answers (and refuses) the request."""
        written = request.path_params["client_id"]
        if not (written.isascii() and written.isdigit()) or written.startswith("0"):
            return None
        client_id = int(written)
        if client_id > MAX_ID:
            return None
        return await validation(client_id, await access.caller(READ, request))

    @router.post("/tokens/refresh", response_model=Refreshed)
    async def refresh(body: RefreshRequest, response: Response, caller: Caller = read) -> Refreshed:
        caller.check_client(body.client_pk)
        token = await service().refresh(body.client_pk)
        response.headers.update(NO_STORE)
        return Refreshed(
            client_id=body.client_pk,
            access_token=token.access_token,
            expires_at=token.expires_at,
            token_type=token.token_type,
        )

    @router.get("/tokens/client/{client_id}", response_model=TokenMetadata)
    async def metadata(client_id: PathId, caller: Caller = read) -> TokenMetadata:
        caller.check_client(client_id)
        token = await service().token_metadata(client_id)
        return TokenMetadata(
            client_id=client_id,
            token_type=token.token_type,
            scope=token.scope,
            expires_at=token.expires_at,
            is_valid=token.status.value == "active",
            is_revoked=token.status.value == "revoked",
            status=token.status.value,
            has_refresh_token=token.refresh_token is not None,
            failure_count=token.failure_count,
            last_error=token.last_error,
            last_refreshed_at=token.last_refreshed_at,
            created_at=token.created_at,
            updated_at=token.updated_at,
        )

    @router.delete("/tokens/{client_id}", response_model=Revoked)
    async def revoke(client_id: PathId, caller: Caller = admin) -> Revoked:
        caller.check_client(client_id)
        at_provider = await service().revoke(client_id)
        return Revoked(client_id=client_id, revoked_at_provider=at_provider)

    @router.get("/tokens/{branch_id}", response_model=BranchToken)
    async def by_branch(branch_id: str, response: Response, caller: Caller = read) -> BranchToken:
        """Seed 001 (code): the token of a branch's client, refreshed if due."""
        try:
            branch = await registry().branch_by_identifier(branch_id)
            # Another tenant's branch answers as a missing one: its existence is not revealed.
            caller.check_branch(branch.client_pk)
            result = await service().validate(branch.client_pk)
        except (BranchNotFound, ClientNotFound):
            raise BranchNotFound(BRANCH_NOT_FOUND) from None
        if result.reason == REAUTHORIZATION_REQUIRED:
            raise ReauthorizationRequired
        if not result.is_valid or result.access_token is None:
            raise NoToken("No valid token found. Please complete OAuth flow first.")
        response.headers.update(NO_STORE)
        # A token inside the refresh margin that could not be refreshed says so.
        message = (
            result.message
            if result.reason == NOT_REFRESHED
            else BranchToken.model_fields["message"].default
        )
        return BranchToken(
            message=message,
            client_id=branch.client_pk,
            branch_id=branch.branch_id,
            access_token=result.access_token,
            expires_at=result.expires_at,
            token_type=result.token_type,
        )
