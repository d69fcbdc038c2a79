"""The operator role (seed 000 telco service), and the demo operators under ``/telcos/<id>``.

``tokend serve --only telco --telco-id orange`` serves one operator at the root; in the
all-in-one app the configured operator sits under ``/telcos/<id>``, and in demo mode the seed's
three operators run there in-process so the broker's demo directory can point at them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from prometheus_client import Counter

from tokend.broker.demo import DEMO_CODES, DEMO_OPERATORS, demo_operator
from tokend.broker.telco.codes import OneTimeCodes
from tokend.broker.telco.operator import OperatorConfig, TelcoOperator
from tokend.broker.telco.routes import operator_router
from tokend.config import ConfigurationError, Settings
from tokend.core.jwt import SigningKey

if TYPE_CHECKING:
    from tokend.app import Capability, Runtime


def build(settings: Settings, runtime: Runtime) -> Capability:
    from tokend.app import Capability  # app imports this module: bind at call time

    issued = Counter(
        "tokend_telco_tokens",
        "Operator tokens the operator role answered, by operator and outcome.",
        ("operator", "outcome"),
        registry=runtime.metrics,
    )

    def signing_key() -> SigningKey:
        return runtime.keyring().signing_key(settings.keys.access_token_alg)

    def operator(config: OperatorConfig) -> TelcoOperator:
        codes = OneTimeCodes(
            config.operator_id, lambda: runtime.resources.cache, settings.telco.code_ttl_s
        )
        return TelcoOperator(config, signing_key, codes)

    issuer_token = settings.telco.code_issuer_token
    code_issuer = issuer_token.get_secret_value() if issuer_token is not None else None
    alone = settings.modules == ["telco"]
    if settings.telco.id is not None:
        config = operator_config(settings, settings.telco.id, alone=alone)
        router = operator_router(operator(config), runtime.clock, issued, code_issuer)
        return Capability(
            name="telco",
            router=router,
            prefix=f"/telcos/{config.operator_id}",
            banner=(f"operator role: {config.operator_id}",),
        )
    if not settings.demo_data:
        return Capability(name="telco")
    router = APIRouter()
    for op in DEMO_OPERATORS:
        config = operator_config(settings, op.operator_id, alone=False)
        router.include_router(
            operator_router(operator(config), runtime.clock, issued, code_issuer),
            prefix=f"/{op.operator_id}",
        )
    banner = "demo operators: " + ", ".join(f"/telcos/{op.operator_id}" for op in DEMO_OPERATORS)
    return Capability(name="telco", router=router, prefix="/telcos", banner=(banner,))


def operator_config(settings: Settings, operator_id: str, *, alone: bool) -> OperatorConfig:
    """The operator's clients and codes; outside production, a demo operator has the seed's."""
    telco = settings.telco
    clients = {k: v.get_secret_value() for k, v in telco.clients.items()}
    codes = frozenset(code.get_secret_value() for code in telco.valid_codes)
    demo = demo_operator(operator_id)
    if not settings.is_production:
        if not clients and demo is not None:
            clients = {demo.client_id: demo.client_secret}
        if not codes:
            codes = frozenset(DEMO_CODES)
    if not clients or not (codes or telco.code_issuer_token):
        raise ConfigurationError(
            f"operator {operator_id} needs telco.clients and telco.valid_codes or "
            "telco.code_issuer_token (TOKEND_TELCO__CLIENTS, TOKEND_TELCO__VALID_CODES, "
            "TOKEND_TELCO__CODE_ISSUER_TOKEN)"
        )
    issuer = settings.issuer if alone else f"{settings.issuer}/telcos/{operator_id}"
    return OperatorConfig(operator_id, clients, codes, telco.token_ttl_s, issuer)
