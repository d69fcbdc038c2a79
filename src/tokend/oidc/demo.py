"""Demo data (``tokend serve --demo``): one user and three clients, with credentials made
fresh at every start and printed in the banner."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tokend.core.crypto import PasswordHasher, SecretHasher, random_secret
from tokend.oidc.records import ClientSource, User
from tokend.oidc.schemas import ClientCreate
from tokend.oidc.stores import ClientRegistry, UserRegistry

DEMO_EMAIL = "demo@tokend.dev"
DEMO_USER_ID = "u_demo"
WEB_CLIENT_ID = "demo-web"
SPA_CLIENT_ID = "demo-spa"
SERVICE_CLIENT_ID = "demo-service"


@dataclass(frozen=True, slots=True)
class DemoData:
    base_url: str
    password: str = field(repr=False)
    web_secret: str = field(repr=False)
    service_secret: str = field(repr=False)

    @classmethod
    def generate(cls, base_url: str) -> DemoData:
        return cls(base_url, random_secret(9), random_secret(24), random_secret(24))

    def clients(self) -> dict[str, tuple[ClientCreate, str | None]]:
        callbacks = list(
            dict.fromkeys([f"{self.base_url}/demo/callback", "http://127.0.0.1:8000/demo/callback"])
        )
        return {
            WEB_CLIENT_ID: (
                ClientCreate(
                    name="Demo web app",
                    grant_types=["authorization_code", "refresh_token"],
                    redirect_uris=callbacks,
                    post_logout_redirect_uris=[f"{self.base_url}/demo"],
                    scope="openid profile email offline_access",
                ),
                self.web_secret,
            ),
            SPA_CLIENT_ID: (
                ClientCreate(
                    name="Demo single-page app",
                    grant_types=["authorization_code", "refresh_token"],
                    redirect_uris=[f"{self.base_url}/demo/spa"],
                    post_logout_redirect_uris=[f"{self.base_url}/demo"],
                    scope="openid profile email offline_access",
                    public=True,
                ),
                None,
            ),
            SERVICE_CLIENT_ID: (
                ClientCreate(
                    name="Demo service",
                    grant_types=["client_credentials"],
                    scope="api:read api:write tokend:admin",
                ),
                self.service_secret,
            ),
        }

    def banner(self) -> tuple[str, ...]:
        return (
            f"oidc demo user  {DEMO_EMAIL} / {self.password}",
            f"oidc web client {WEB_CLIENT_ID} / {self.web_secret}  (code + PKCE)",
            f"oidc SPA client {SPA_CLIENT_ID}  (public, PKCE S256)",
            f"oidc service    {SERVICE_CLIENT_ID} / {self.service_secret}  (client_credentials)",
            f"oidc discovery  {self.base_url}/.well-known/openid-configuration",
        )


async def seed_demo(
    demo: DemoData,
    clients: ClientRegistry,
    users: UserRegistry,
    hasher: SecretHasher,
    passwords: PasswordHasher,
) -> None:
    """Create or refresh the demo rows so the banner's credentials work."""
    for client_id, (spec, secret) in demo.clients().items():
        secret_hash = hasher.hash(secret) if secret is not None else None
        client = spec.to_client(client_id, secret_hash, ClientSource.DEMO)
        if await clients.get(client_id) is None:
            await clients.add(client)
        else:
            await clients.replace(client)
    password_hash = await passwords.hash(demo.password)
    existing = await users.by_email(DEMO_EMAIL)
    if existing is None:
        await users.add(
            User(
                id=DEMO_USER_ID,
                email=DEMO_EMAIL,
                email_verified=True,
                name="Dee Mo",
                given_name="Dee",
                family_name="Mo",
                locale="en",
                password_hash=password_hash,
            )
        )
    else:
        await users.replace(dataclasses.replace(existing, password_hash=password_hash))
