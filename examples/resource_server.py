"""A third-party FastAPI service protected by tokend.guard.

GUARD_ISSUER=http://localhost:8080/realms/demo uvicorn examples.resource_server:app

The guard fetches keys under tokend's outbound policy: https to public addresses only, unless
allowed. The issuer here runs locally over plain http, so its host is allowed by name
(GUARD_ALLOW_HOSTS, comma-separated); a public https issuer needs nothing.
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from tokend.core.outbound import OutboundPolicy
from tokend.guard import Guard, JWTValidator, Principal, TrustedIssuer

issuer = TrustedIssuer(
    os.environ.get("GUARD_ISSUER", "http://localhost:8080/realms/demo"),  # discovery from here
    audiences=frozenset({"orders-api"}),
    role_clients=("orders-api",),  # Keycloak client roles that count as roles
)
local = os.environ.get("GUARD_ALLOW_HOSTS", "localhost,127.0.0.1").split(",")
validator = JWTValidator([issuer], outbound=OutboundPolicy.allowing(*local))
guard = Guard(validator, realm="orders")
app = FastAPI(lifespan=guard.lifespan)
guard.install(app)  # errors as the seed-002 envelope, RFC 6750 WWW-Authenticate


@app.get("/me")
async def me(user: Annotated[Principal, Depends(guard.require_auth)]) -> dict[str, object]:
    return {"sub": user.subject, "username": user.username, "roles": sorted(user.roles)}


@app.get("/orders", dependencies=[Depends(guard.require_scopes("orders:read"))])
async def orders() -> list[dict[str, str]]:
    return [{"id": "o-1"}]


@app.delete("/orders/{order_id}", dependencies=[Depends(guard.require_roles("admin", "manager"))])
async def cancel(order_id: str) -> dict[str, str]:
    return {"cancelled": order_id}
