"""Every table tokend owns, gathered into one metadata for Alembic and the tests.

This sits beside app.py, above the capabilities, so the store never imports a capability:
adding a table module means adding its import here.
"""

import tokend.core.keys
import tokend.gateway.models
import tokend.oidc.models
import tokend.store.audit
import tokend.store.revocations
import tokend.vault.models  # noqa: F401  (vault_*)
from tokend.store.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
