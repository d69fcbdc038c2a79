"""The seed 000 demo directory: Orange, Vodafone and Vodafone UK and the broker's credentials.

In ``tokend serve --demo`` these operators run in-process under ``/telcos/<id>`` (the operator
role, ``tokend.telco.demo``, holds their side) and the demo directory points at them, so the
two-phase flow works with no other process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokend.broker.directory.entry import Secret, TelcoEntry
from tokend.broker.directory.lookup import Directory


@dataclass(frozen=True, slots=True)
class DemoOperator:
    operator_id: str
    prefix: str
    name: str
    client_id: str
    client_secret: str


# Seed 000 deployment/data/telco_data.yaml and the telcos' TELECOM_AUTH_CLIENT_CERTS.
DEMO_OPERATORS: Final = (
    DemoOperator("orange", "97205", "Orange", "ORANGE_DEMO_ID", "ORANGE_DEMO_SECRET"),
    DemoOperator("vodafone", "972050", "Vodafone", "VF_DEMO_ID", "VF_DEMO_SECRET"),
    DemoOperator("vodafone-uk", "4477", "Vodafone UK", "VF_UK_ID", "VF_UK_SECRET"),
)


def demo_directory(self_url: str) -> Directory:
    """The seed directory, pointing at the in-process operators of the server at ``self_url``."""
    entries = [
        TelcoEntry(
            prefix=op.prefix,
            operator_id=op.operator_id,
            name=op.name,
            base_url=f"{self_url}/telcos/{op.operator_id}",
            token_url=f"{self_url}/telcos/{op.operator_id}/api/demo/token",
            client_id=op.client_id,
            client_secret=Secret(op.client_secret, op.client_secret),
            declared=frozenset({"name", "operator_id"}),
        )
        for op in DEMO_OPERATORS
    ]
    return Directory.of(entries, "demo")
