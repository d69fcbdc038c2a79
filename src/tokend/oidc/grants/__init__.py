"""The grant types of the token endpoint: one module each, registered here explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tokend.oidc.grants import (
    authorization_code,
    ciba,
    client_credentials,
    device_code,
    refresh_token,
    token_exchange,
)
from tokend.oidc.grants.protocol import Grant, GrantDeps, TokenRequest, TokenResponse

GRANTS: Final[Mapping[str, Grant]] = {
    module.GRANT_TYPE: Grant(module.GRANT_TYPE, module.PARAMETERS, module.handle)
    for module in (
        authorization_code,
        refresh_token,
        client_credentials,
        device_code,
        token_exchange,
        ciba,
    )
}

__all__ = ["GRANTS", "Grant", "GrantDeps", "TokenRequest", "TokenResponse"]
