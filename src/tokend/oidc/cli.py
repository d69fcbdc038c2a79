"""``tokend clients`` and ``tokend users``: manage the provider's clients and users."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, TypeVar

import anyio
import typer
from pydantic import BaseModel, ValidationError

from tokend.commands import EXIT_FAILED, CommandResources, command_context, fail
from tokend.core.crypto import PasswordHasher
from tokend.core.errors import NotFound, TokendError
from tokend.core.http import GuardedClient
from tokend.core.revocations import Revocations
from tokend.obs.metrics import new_registry
from tokend.oidc.audit import Audit
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.dynamic_registration import create_initial_access_token
from tokend.oidc.records import Client, ClientSource, RoleClaimShape, TokenFormat, User
from tokend.oidc.registration import (
    create_client,
    create_user,
    update_client,
)
from tokend.oidc.registry import Registry
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.schemas import Address, ClientCreate, ClientView, UserCreate, UserUpdate, UserView
from tokend.oidc.settings import OidcSettings, password_hasher
from tokend.oidc.sql import (
    SqlClients,
    SqlFactors,
    SqlInitialAccessTokens,
    SqlRefreshTokens,
    SqlUsers,
)
from tokend.oidc.subjects import check_sector
from tokend.store.revocations import SqlRevocations

T = TypeVar("T")

clients_app = typer.Typer(
    help="OpenID Connect clients: create, list, show, update, disable, enable, delete, "
    "rotate-secret.",
    no_args_is_help=True,
)
users_app = typer.Typer(
    help="End users of the OpenID provider: create, list, show, update, disable, enable, "
    "delete, set-password.",
    no_args_is_help=True,
)
initial_token_app = typer.Typer(
    help="Initial access tokens that allow dynamic client registration (RFC 7591 §3)."
)
clients_app.add_typer(initial_token_app, name="initial-token")
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ClientIdArgument = Annotated[str, typer.Argument(metavar="CLIENT_ID", help="The client's id.")]
UserIdArgument = Annotated[
    str, typer.Argument(metavar="USER", help="The user's id (u_…) or email address.")
]
VaultClientOption = Annotated[
    list[int] | None,
    typer.Option(
        "--vault-client",
        metavar="ID",
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


class SubjectType(StrEnum):
    PUBLIC = "public"
    PAIRWISE = "pairwise"


@clients_app.command("create")
def clients_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Display name.")],
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", metavar="GRANT", help="Grant type (repeatable)."),
    ] = None,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option("--redirect-uri", metavar="URI", help="Redirect URI (repeatable)."),
    ] = None,
    post_logout_redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--post-logout-redirect-uri",
            metavar="URI",
            help="Post-logout redirect URI (repeatable).",
        ),
    ] = None,
    scope: Annotated[
        str, typer.Option("--scope", metavar="SCOPES", help="Allowed scopes, space-separated.")
    ] = "openid profile email",
    audience: Annotated[
        list[str] | None,
        typer.Option("--audience", metavar="AUDIENCE", help="Allowed audience (repeatable)."),
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="Public client (PKCE, no secret).")] = (
        False
    ),
    auth_method: Annotated[
        str | None,
        typer.Option(
            "--auth-method", metavar="METHOD", help="client_secret_basic or client_secret_post."
        ),
    ] = None,
    opaque: Annotated[bool, typer.Option("--opaque", help="Opaque access tokens.")] = False,
    refresh_grace_s: Annotated[
        int | None,
        typer.Option(
            "--refresh-grace-s",
            metavar="SECONDS",
            help="Seconds a rotated refresh token still returns its successor (confidential "
            "clients; default: oidc.refresh_grace_s, 0: a reuse revokes the family).",
        ),
    ] = None,
    vault_client: VaultClientOption = None,
    role_claims: Annotated[
        RoleClaimShape,
        typer.Option(
            "--role-claims",
            help="How tokens granted the roles scope carry roles and groups: roles (flat "
            "claims) or keycloak (realm_access/resource_access).",
        ),
    ] = RoleClaimShape.FLAT,
    web_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--web-origin",
            metavar="ORIGIN",
            help="A browser origin allowed to call /token etc. (CORS), or + for the redirect "
            "URIs' origins (repeatable).",
        ),
    ] = None,
    ciba_mode: Annotated[
        str | None,
        typer.Option(
            "--ciba-mode",
            metavar="MODE",
            help="CIBA token delivery mode: poll or ping (with --grant "
            "urn:openid:params:grant-type:ciba; default poll).",
        ),
    ] = None,
    ciba_notification_endpoint: Annotated[
        str | None,
        typer.Option(
            "--ciba-notification-endpoint",
            metavar="URL",
            help="Where CIBA pings are posted (--ciba-mode ping).",
        ),
    ] = None,
    subject_type: Annotated[
        SubjectType,
        typer.Option(
            "--subject-type",
            help="public: one sub for every client; pairwise: a sub per sector (OIDC Core §8; "
            "needs TOKEND_OIDC__PAIRWISE_SALT).",
        ),
    ] = SubjectType.PUBLIC,
    sector_identifier_uri: Annotated[
        str | None,
        typer.Option(
            "--sector-identifier-uri",
            metavar="URL",
            help="An https URL listing the client's redirect URIs (a JSON array), fetched now "
            "and checked; its host is the pairwise sector (OIDC Registration §5).",
        ),
    ] = None,
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
                "role_claims": role_claims,
                "web_origins": web_origin or [],
                "backchannel_token_delivery_mode": ciba_mode,
                "backchannel_client_notification_endpoint": ciba_notification_endpoint,
                "subject_type": subject_type.value,
                "sector_identifier_uri": sector_identifier_uri,
            }
        )
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    context = command_context(ctx)
    salt_set = context.block("oidc", OidcSettings).pairwise_salt is not None

    async def create(r: CommandResources) -> tuple[Client, str | None]:
        # The admin API's checks (registry.add_client): the salt, and the sector document
        # fetched through the outbound policy of TOKEND_HTTP__* like every URL tokend fetches.
        async with GuardedClient(context.site.outbound) as http:
            await check_sector(spec.to_client("", None), http, salt_set)
        clients = SqlClients(r.database, r.clock)
        return await create_client(
            clients, r.hasher, spec, cipher=r.cipher, source=ClientSource.CLI
        )

    client, secret = _run(ctx, create)
    if as_json:
        typer.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
        return
    typer.echo(f"client_id      {client.client_id}")
    if secret is not None:
        typer.echo(f"client_secret  {secret}   (shown once: store it now)")


def _passwords(ctx: typer.Context) -> PasswordHasher:
    """The password hasher with the costs the server uses (``oidc.accounts.argon2_*``)."""
    return password_hasher(command_context(ctx).block("oidc", OidcSettings).accounts)


def _registry(r: CommandResources, ctx: typer.Context) -> Registry:
    """The admin API's registry on the command's resources: the same rules, the servers' client
    cache (in Redis) dropped at once, a user's grants revoked when the account changes."""
    registered = SqlClients(r.database, r.clock)
    # A command is a short process: the deny-list is written through, never cached here.
    revocations = Revocations(SqlRevocations(r.database), r.cache, r.clock, checked_ttl_s=0)
    return Registry(
        clients=registered,
        cached=CachedClients(registered, r.cache, ttl_s=0),
        users=SqlUsers(r.database, r.clock),
        hasher=r.hasher,
        passwords=_passwords(ctx),
        grants=GrantRevoker(SqlRefreshTokens(r.database), revocations, r.clock),
        audit=Audit.register(new_registry()),
    )


def _echo_view(view: BaseModel, as_json: bool) -> None:
    """One record: JSON with ``--json``, else one ``field  value`` line per field."""
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    fields = view.model_dump(mode="json")
    width = max(len(name) for name in fields)
    for name, value in fields.items():
        if isinstance(value, list):
            shown = " ".join(str(v) for v in value) or "-"
        elif value is None:
            shown = "-"
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        typer.echo(f"{name:<{width}}  {shown}")


@clients_app.command("list")
def clients_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every client."""
    clients = _run(ctx, lambda r: SqlClients(r.database, r.clock).all())
    if as_json:
        typer.echo(json.dumps([ClientView.of(c).model_dump() for c in clients], indent=2))
        return
    for c in clients:
        kind = "public" if c.is_public else "confidential"
        state = " [disabled]" if c.disabled else ""
        grants = " ".join(sorted(c.grant_types))
        typer.echo(f"{c.client_id}  {kind:<12} {c.source.value:<8} {grants}  {c.name}{state}")


@clients_app.command("show")
def clients_show(
    ctx: typer.Context, client_id: ClientIdArgument, as_json: JsonOption = False
) -> None:
    """One client's settings (never its secret); exit 1 when there is no such client."""
    client = _run(ctx, lambda r: _registry(r, ctx).client(client_id))
    _echo_view(ClientView.of(client), as_json)


@clients_app.command("update")
def clients_update(
    ctx: typer.Context,
    client_id: ClientIdArgument,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="New display name.")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            metavar="URI",
            help="Redirect URI (repeatable): the given ones replace the registered ones.",
        ),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option("--scope", metavar="SCOPES", help="Allowed scopes, space-separated."),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            metavar="AUDIENCE",
            help="Allowed audience (repeatable): the given ones replace the registered ones.",
        ),
    ] = None,
    vault_client: VaultClientOption = None,
    no_vault_clients: Annotated[
        bool, typer.Option("--no-vault-clients", help="Take every vault tenant away.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a client's settings: only the options given; its secret stays. A running server
    sees the change once its cached copy expires (oidc.client_cache_ttl_s; with Redis, within
    cache.memory_ttl_s)."""
    changes: dict[str, object] = {}
    if vault_client and no_vault_clients:
        raise fail("give --vault-client or --no-vault-clients, not both")
    if vault_client or no_vault_clients:
        changes["vault_clients"] = vault_client or []
    if name is not None:
        changes["name"] = name
    if redirect_uri:
        changes["redirect_uris"] = redirect_uri
    if scope is not None:
        changes["scope"] = scope
    if audience:
        changes["audiences"] = audience
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
    _echo_view(ClientView.of(client), as_json)


def _set_disabled(ctx: typer.Context, client_id: str, disabled: bool) -> Client:
    async def change(r: CommandResources) -> Client:
        registered = SqlClients(r.database, r.clock)
        client = await update_client(registered, client_id, {"disabled": disabled})
        # Redis is shared with the servers: their copy goes at once (memory tiers within
        # cache.memory_ttl_s).
        await CachedClients(registered, r.cache, ttl_s=0).forget(client_id)
        return client

    return _run(ctx, change)


@clients_app.command("disable")
def clients_disable(ctx: typer.Context, client_id: ClientIdArgument) -> None:
    """Turn a client off: it can no longer authenticate, start a sign-in or refresh tokens; its
    access tokens already issued live out their lifetime. `enable` turns it back on."""
    client = _set_disabled(ctx, client_id, True)
    typer.echo(f"client {client.client_id} ({client.name}) disabled")


@clients_app.command("enable")
def clients_enable(ctx: typer.Context, client_id: ClientIdArgument) -> None:
    """Turn a disabled client back on."""
    client = _set_disabled(ctx, client_id, False)
    typer.echo(f"client {client.client_id} ({client.name}) enabled")


@clients_app.command("delete")
def clients_delete(ctx: typer.Context, client_id: ClientIdArgument) -> None:
    """Delete a client; exit 1 when there is no such client."""
    _run(ctx, lambda r: _registry(r, ctx).remove_client(client_id))
    typer.echo(f"deleted {client_id}")


@clients_app.command("rotate-secret")
def clients_rotate_secret(
    ctx: typer.Context, client_id: ClientIdArgument, as_json: JsonOption = False
) -> None:
    """Replace a confidential client's secret; the new one is printed once."""
    secret = _run(ctx, lambda r: _registry(r, ctx).rotate_secret(client_id))
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        typer.echo(f"client_secret  {secret}   (shown once: store it now)")


RoleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        metavar="ROLE",
        help="A realm-wide role (repeatable); in tokens with the roles scope.",
    ),
]
GroupOption = Annotated[
    list[str] | None, typer.Option("--group", metavar="GROUP", help="A group (repeatable).")
]
ClientRoleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--client-role",
        metavar="CLIENT_ID:ROLE",
        help="CLIENT_ID:ROLE, a role at one client (repeatable).",
    ),
]


def _client_roles(pairs: list[str] | None) -> dict[str, list[str]]:
    by_client: dict[str, list[str]] = {}
    for pair in pairs or ():
        client_id, sep, role = pair.partition(":")
        if not sep or not client_id or not role:
            raise fail(f"--client-role {pair!r}: write CLIENT_ID:ROLE")
        by_client.setdefault(client_id, []).append(role)
    return by_client


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", metavar="EMAIL", help="Sign-in address.")],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            metavar="PASSWORD",
            prompt=True,
            hide_input=True,
            help="Prompted for when not given (keeps it out of the shell history).",
        ),
    ],
    verified: Annotated[bool, typer.Option("--verified", help="Mark the email verified.")] = False,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Full name.")] = None,
    role: RoleOption = None,
    group: GroupOption = None,
    client_role: ClientRoleOption = None,
    admin: Annotated[
        bool,
        typer.Option("--admin", help="Give the user the admin role: they may sign in to /console."),
    ] = False,
    phone_number: Annotated[
        str | None,
        typer.Option("--phone-number", metavar="PHONE", help="The phone_number claim (E.164)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", metavar="ADDRESS", help="The address claim's formatted member."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an end user (argon2id password)."""
    roles = list(dict.fromkeys([*(role or []), *(["admin"] if admin else [])]))
    try:
        spec = UserCreate(
            email=email, password=password, email_verified=verified, name=name,
            roles=roles, groups=group or [], client_roles=_client_roles(client_role),
            phone_number=phone_number,
            address=Address(formatted=address) if address is not None else None,
        )  # fmt: skip
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    user = _run(ctx, lambda r: create_user(SqlUsers(r.database, r.clock), _passwords(ctx), spec))
    if as_json:
        typer.echo(UserView.of(user).model_dump_json())
    else:
        typer.echo(f"user {user.id} <{user.email}> created")


async def _user(registry: Registry, user: str) -> User:
    """``user`` by id or, with an ``@``, by email; raises NotFound."""
    if "@" in user:
        found = await registry.users.by_email(user)
        if found is None:
            raise NotFound(f"no user {user}")
        return found
    return await registry.user(user)


def _change_user(ctx: typer.Context, user: str, changes: UserUpdate) -> User:
    async def change(r: CommandResources) -> User:
        registry = _registry(r, ctx)
        found = await _user(registry, user)
        return await registry.update_user(found.id, changes)

    return _run(ctx, change)


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every user (never a password hash)."""
    users = _run(ctx, lambda r: _registry(r, ctx).all_users())
    if as_json:
        typer.echo(json.dumps([UserView.of(u).model_dump() for u in users], indent=2))
        return
    for u in users:
        state = " [disabled]" if u.disabled else ""
        verified = "verified" if u.email_verified else "unverified"
        typer.echo(f"{u.id}  {u.email}  {verified}  {' '.join(u.roles) or '-'}{state}")


@users_app.command("show")
def users_show(ctx: typer.Context, user: UserIdArgument, as_json: JsonOption = False) -> None:
    """One user; exit 1 when there is no such user."""
    found = _run(ctx, lambda r: _user(_registry(r, ctx), user))
    _echo_view(UserView.of(found), as_json)


@users_app.command("update")
def users_update(
    ctx: typer.Context,
    user: UserIdArgument,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Full name.")] = None,
    role: RoleOption = None,
    group: GroupOption = None,
    client_role: ClientRoleOption = None,
    no_roles: Annotated[bool, typer.Option("--no-roles", help="Take every role away.")] = False,
    verified: Annotated[
        bool | None,
        typer.Option("--verified/--unverified", help="Mark the email verified or not."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a user's profile: only the options given; each of --role, --group and
    --client-role given replaces that whole list."""
    if role and no_roles:
        raise fail("give --role or --no-roles, not both")
    fields: dict[str, object] = {}
    if name is not None:
        fields["name"] = name
    if role or no_roles:
        fields["roles"] = role or []
    if group is not None:
        fields["groups"] = group
    if client_role is not None:
        fields["client_roles"] = _client_roles(client_role)
    if verified is not None:
        fields["email_verified"] = verified
    if not fields:
        raise fail("nothing to change: give an option (--help lists them)")
    try:
        changes = UserUpdate.model_validate(fields)
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    _echo_view(UserView.of(_change_user(ctx, user, changes)), as_json)


@users_app.command("disable")
def users_disable(ctx: typer.Context, user: UserIdArgument) -> None:
    """Refuse the user's sign-in and revoke every grant (refresh and access tokens) they hold."""
    found = _change_user(ctx, user, UserUpdate(disabled=True))
    typer.echo(f"user {found.id} <{found.email}> disabled; their grants are revoked")


@users_app.command("enable")
def users_enable(ctx: typer.Context, user: UserIdArgument) -> None:
    """Let a disabled user sign in again."""
    found = _change_user(ctx, user, UserUpdate(disabled=False))
    typer.echo(f"user {found.id} <{found.email}> enabled")


@users_app.command("delete")
def users_delete(ctx: typer.Context, user: UserIdArgument) -> None:
    """Delete a user and revoke every grant they hold; exit 1 when there is no such user."""

    async def delete(r: CommandResources) -> User:
        registry = _registry(r, ctx)
        found = await _user(registry, user)
        await registry.remove_user(found.id)
        return found

    found = _run(ctx, delete)
    typer.echo(f"deleted {found.id} <{found.email}>")


@users_app.command("set-password")
def users_set_password(
    ctx: typer.Context,
    user: UserIdArgument,
    password: Annotated[
        str,
        typer.Option(
            "--password",
            metavar="PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="Prompted for (twice) when not given.",
        ),
    ],
) -> None:
    """Set a new password: the user's sessions end and their grants are revoked (RFC 9700
    §4.14.2)."""
    try:
        changes = UserUpdate(password=password)
    except ValidationError as exc:
        raise _fail_invalid(exc) from None
    found = _change_user(ctx, user, changes)
    typer.echo(f"password of {found.id} <{found.email}> changed; their grants are revoked")


@users_app.command("reset-factors")
def users_reset_factors(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user's id or email address.")],
) -> None:
    """Remove a user's second factors (authenticator app and recovery codes), e.g. after a
    lost phone: the next sign-in asks for the password alone."""

    async def reset(r: CommandResources) -> tuple[User, bool]:
        users = SqlUsers(r.database, r.clock)
        found = await users.by_email(user) if "@" in user else await users.by_id(user)
        if found is None:
            raise NotFound(f"no user {user}")
        return found, await SqlFactors(r.database).forget(found.id)

    found, removed = _run(ctx, reset)
    what = "second factors removed" if removed else "had no second factor"
    typer.echo(f"user {found.id} <{found.email}>: {what}")


def _duration_s(text: str) -> int:
    match = _DURATION.match(text.strip().lower())
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not 0 < seconds <= 366 * 86_400:
        raise fail(
            f"--expires: give a duration such as 3600, 30m, 12h or 7d (at most 366d): {text}"
        )
    return seconds


@initial_token_app.command("create")
def initial_token_create(
    ctx: typer.Context,
    expires: Annotated[
        str, typer.Option("--expires", help="How long it is valid: seconds, or 30m, 12h, 7d.")
    ] = "1d",
    max_uses: Annotated[
        int | None,
        typer.Option("--max-uses", min=1, help="How many registrations it allows (default: any)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make an initial access token for POST /register; printed once, stored only hashed."""
    ttl_s = _duration_s(expires)
    token = _run(
        ctx,
        lambda r: create_initial_access_token(
            SqlInitialAccessTokens(r.database), r.hasher, r.clock, ttl_s, max_uses
        ),
    )
    if as_json:
        typer.echo(json.dumps({"initial_access_token": token, "expires_in": ttl_s}))
    else:
        typer.echo(f"initial_access_token  {token}   (shown once: hand it to the client)")
