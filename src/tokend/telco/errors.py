"""The operator role's refusals, in the seed's words (seed 000 telco service).

    Unauthorized ── InvalidTelcoAuth (401 "Invalid telco auth": the broker's credentials)
                 └─ InvalidAuthCode (401 "Invalid auth code": the subscriber's code)

A malformed ``telco_auth`` is a core BadRequest (400 "Invalid telco_auth JSON format").
"""

from __future__ import annotations

from tokend.core.errors import Unauthorized


class InvalidTelcoAuth(Unauthorized):
    default_description = "Invalid telco auth"


class InvalidAuthCode(Unauthorized):
    default_description = "Invalid auth code"
