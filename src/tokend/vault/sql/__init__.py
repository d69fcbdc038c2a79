"""SQLAlchemy implementations of the vault's stores (SQLite and PostgreSQL), one per table.

Secrets are sealed (:mod:`tokend.vault.sql.sealing`) on the way in and opened on the way out;
ORM rows never leave this package.
"""

from tokend.vault.sql.branches import SqlBranches
from tokend.vault.sql.clients import SqlClients
from tokend.vault.sql.connections import SqlConnections
from tokend.vault.sql.deliveries import SqlWebhookDeliveries
from tokend.vault.sql.states import SqlStates

__all__ = ["SqlBranches", "SqlClients", "SqlConnections", "SqlStates", "SqlWebhookDeliveries"]
