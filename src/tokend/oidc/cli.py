"""``tokend clients`` and ``tokend users``: manage the provider's clients and users."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
import typer
from pydantic import ValidationError

from tokend.commands import EXIT_FAILED, CommandResources, command_context, fail
from tokend.core.crypto import PasswordHasher
from tokend.core.errors import TokendError
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.records import Client, TokenFormat
from tokend.oidc.registration import (
    create_client,
    create_user,
    rotate_client_secret,
    update_client,
)
from tokend.oidc.schemas import Address, ClientCreate, ClientView, UserCreate, UserView
from tokend.oidc.sql import SqlClients, SqlUsers

T = TypeVar("T")

clients_app = typer.Typer(
    help="OpenID Connect clients: create, list, show, update, delete, rotate."
)
users_app = typer.Typer(help="End users of the OpenID provider.")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
VaultClientOption = Annotated[
    list[int] | None,
    typer.Option(
        "--vault-client",
        help="A vault client (tenant) id whose connections the client's access tokens may "
        "reach, as their vault_clients claim (repeatable). None: no connection at all, unless "
        "a token carries vault:admin.",
    ),
]


def _run(ctx: typer.Context, action: Callable[[CommandResources], Awaitable[T]]) -> T:
    context = command_context(ctx)

    async def main() -> T:
        async with context.open() as resources:
            return await action(resources)

    try:
        return anyio.run(main)
    except TokendError as exc:
        raise fail(exc.description, EXIT_FAILED) from None


def _fail_invalid(exc: ValidationError) -> typer.Exit:
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "client"
        typer.secho(f"tokend: {where}: {err['msg']}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


@clients_app.command("create")
def clients_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="Grant type (repeatable).")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Redirect URI (repeatable).")
    ] = None,
    post_logout_redirect_uri: Annotated[
        list[str] | None,
        typer.Option("--post-logout-redirect-uri", help="Post-logout redirect URI (repeatable)."),
    ] = None,
    scope: Annotated[str, typer.Option("--scope", help="Allowed scopes.")] = "openid profile email",
    audience: Annotated[
        list[str] | None, typer.Option("--audience", help="Allowed audience (repeatable).")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="Public client (PKCE, no secret).")] = (
        False
    ),
    auth_method: Annotated[
        str | None, typer.Option("--auth-method", help="client_secret_basic or client_secret_post.")
    ] = None,
    opaque: Annotated[bool, typer.Option("--opaque", help="Opaque access tokens.")] = False,
    refresh_grace_s: Annotated[
        int | None,
        typer.Option(
            "--refresh-grace-s",
            help="Seconds a rotated refresh token still returns its successor (confidential "
            "clients; default: oidc.refresh_grace_s, 0: a reuse revokes the family).",
        ),
    ] = None,
    vault_client: VaultClientOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a client; its secret is printed once and stored only hashed."""
    try:
        spec = ClientCreate.model_validate(
            {
                "name": name,
                "grant_types": grant or ["authorization_code"],
                "redirect_uris": redirect_uri or [],
                "post_logout_redirect_uris": post_logout_redirect_uri or [],
                "scope": scope,
                "audiences": audience or [],
                "public": public,
                "token_endpoint_auth_method": auth_method,
                "access_token_format": TokenFormat.OPAQUE if opaque else TokenFormat.JWT,
                "refresh_grace_s": refresh_grace_s,
                "vault_clients": vault_client or [],
            }
        )
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    client, secret = _run(
        ctx,
        lambda r: create_client(SqlClients(r.database, r.clock), r.hasher, spec, cipher=r.cipher),
    )
    if as_json:
        typer.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
        return
    typer.echo(f"client_id      {client.client_id}")
    if secret is not None:
        typer.echo(f"client_secret  {secret}   (shown once: store it now)")


@clients_app.command("list")
def clients_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every client."""
    clients = _run(ctx, lambda r: SqlClients(r.database, r.clock).all())
    if as_json:
        typer.echo(json.dumps([ClientView.of(c).model_dump() for c in clients], indent=2))
        return
    for c in clients:
        kind = "public" if c.is_public else "confidential"
        typer.echo(f"{c.client_id}  {kind:<12} {' '.join(sorted(c.grant_types))}  {c.name}")


@clients_app.command("show")
def clients_show(ctx: typer.Context, client_id: str) -> None:
    """One client as JSON (never its secret)."""
    client = _run(ctx, lambda r: SqlClients(r.database, r.clock).get(client_id))
    if client is None:
        typer.secho(f"tokend: no client {client_id}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(ClientView.of(client).model_dump_json(indent=2))


@clients_app.command("update")
def clients_update(
    ctx: typer.Context,
    client_id: str,
    vault_client: VaultClientOption = None,
    no_vault_clients: Annotated[
        bool, typer.Option("--no-vault-clients", help="Take every vault tenant away.")
    ] = False,
) -> None:
    """Change a client's settings: only the options given; its secret stays. A running server
    sees the change once its cached copy expires (oidc.client_cache_ttl_s; with Redis, within
    cache.memory_ttl_s)."""
    changes: dict[str, object] = {}
    if vault_client and no_vault_clients:
        raise fail("give --vault-client or --no-vault-clients, not both")
    if vault_client or no_vault_clients:
        changes["vault_clients"] = vault_client or []
    if not changes:
        raise fail("nothing to change: give an option (--help lists them)")

    async def update(r: CommandResources) -> Client:
        registered = SqlClients(r.database, r.clock)
        client = await update_client(registered, client_id, changes)
        # Redis is shared with the servers: drop their copy there at once.
        await CachedClients(registered, r.cache, ttl_s=0).forget(client_id)
        return client

    try:
        client = _run(ctx, update)
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    typer.echo(ClientView.of(client).model_dump_json(indent=2))


@clients_app.command("delete")
def clients_delete(ctx: typer.Context, client_id: str) -> None:
    """Delete a client."""
    removed = _run(ctx, lambda r: SqlClients(r.database, r.clock).remove(client_id))
    if not removed:
        typer.secho(f"tokend: no client {client_id}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"deleted {client_id}")


@clients_app.command("rotate-secret")
def clients_rotate_secret(ctx: typer.Context, client_id: str, as_json: JsonOption = False) -> None:
    """Replace a confidential client's secret; the new one is printed once."""
    secret = _run(
        ctx,
        lambda r: rotate_client_secret(
            SqlClients(r.database, r.clock), r.hasher, client_id, r.cipher
        ),
    )
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        typer.echo(f"client_secret  {secret}   (shown once: store it now)")


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email")],
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True)],
    verified: Annotated[bool, typer.Option("--verified", help="Mark the email verified.")] = False,
    name: Annotated[str | None, typer.Option("--name")] = None,
    phone_number: Annotated[
        str | None, typer.Option("--phone-number", help="The phone_number claim (E.164).")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="The address claim's formatted member.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an end user (argon2id password)."""
    try:
        spec = UserCreate(
            email=email,
            password=password,
            email_verified=verified,
            name=name,
            phone_number=phone_number,
            address=Address(formatted=address) if address is not None else None,
        )
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    user = _run(ctx, lambda r: create_user(SqlUsers(r.database, r.clock), PasswordHasher(), spec))
    if as_json:
        typer.echo(UserView.of(user).model_dump_json())
    else:
        typer.echo(f"user {user.id} <{user.email}> created")
