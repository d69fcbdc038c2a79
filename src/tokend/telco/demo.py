"""The seed 000 demo operators as the operators themselves know them: the broker each one
accepts and the example codes. The broker's demo directory (``tokend.broker.demo``) names the
same operators and credentials from the broker's side, as the seed's two services each had
their own configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class DemoOperator:
    operator_id: str
    #: The broker this operator accepts (seed ``TELECOM_AUTH_CLIENT_CERTS``).
    client_id: str
    client_secret: str


# Seed 000 telcos' TELECOM_AUTH_CLIENT_CERTS.
DEMO_OPERATORS: Final = (
    DemoOperator("orange", "ORANGE_DEMO_ID", "ORANGE_DEMO_SECRET"),
    DemoOperator("vodafone", "VF_DEMO_ID", "VF_DEMO_SECRET"),
    DemoOperator("vodafone-uk", "VF_UK_ID", "VF_UK_SECRET"),
)
#: The seed's example codes; the demo operators refuse every other code.
DEMO_CODES: Final = ("best_auth_code_123", "best_auth_demo")


def demo_operator(operator_id: str) -> DemoOperator | None:
    return next((op for op in DEMO_OPERATORS if op.operator_id == operator_id), None)
