"""Wiring of the operator role: one configured operator, or the seed's demo operators."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from prometheus_client import Counter

from tokend.core.jwt import SigningKey
from tokend.core.routing import api_router, merge
from tokend.runtime import Capability, ConfigurationError, Runtime
from tokend.telco.codes import OneTimeCodes
from tokend.telco.demo import DEMO_CODES, DEMO_OPERATORS, demo_operator
from tokend.telco.routes import operator_router, seed_jwks, seed_jwks_router
from tokend.telco.service import OperatorConfig, TelcoOperator
from tokend.telco.settings import TelcoSettings


def build(settings: TelcoSettings, runtime: Runtime) -> Capability:
    issued = Counter(
        "tokend_telco_tokens",
        "Operator tokens the operator role answered, by operator and outcome.",
        ("operator", "outcome"),
        registry=runtime.metrics,
    )
    algorithm = runtime.site.keys.access_token_alg

    def signing_key() -> SigningKey:
        key = runtime.resources.keyring.signing_key(algorithm)
        return key if settings.jwks_kid is None else replace(key, kid=settings.jwks_kid)

    def jwks() -> bytes:
        keyring = runtime.resources.keyring
        return seed_jwks(keyring.jwks().body, keyring.signing_key(algorithm).kid, settings.jwks_kid)

    def operator(config: OperatorConfig) -> TelcoOperator:
        codes = OneTimeCodes(
            config.operator_id, lambda: runtime.resources.cache, settings.code_ttl_s
        )
        return TelcoOperator(config, signing_key, codes)

    issuer_token = settings.code_issuer_token
    code_issuer = issuer_token.get_secret_value() if issuer_token is not None else None
    if settings.id is not None:
        config = operator_config(settings, runtime, settings.id, alone=runtime.alone)
        router = operator_router(operator(config), runtime.clock, issued, code_issuer)
        merge(router, seed_jwks_router(jwks))
        if not runtime.alone:  # in the all-in-one app: /telcos/<id>
            router = _under(router, f"/{config.operator_id}")
        return Capability(
            name="telco", router=router, banner=(f"operator role: {config.operator_id}",)
        )
    if not runtime.site.demo:
        return Capability(name="telco")
    router = api_router()
    for op in DEMO_OPERATORS:
        config = operator_config(settings, runtime, op.operator_id, alone=False)
        router.include_router(
            operator_router(operator(config), runtime.clock, issued, code_issuer),
            prefix=f"/{op.operator_id}",
        )
        router.include_router(seed_jwks_router(jwks), prefix=f"/{op.operator_id}")
    banner = "demo operators: " + ", ".join(
        f"{runtime.prefix}/{op.operator_id}" for op in DEMO_OPERATORS
    )
    return Capability(name="telco", router=router, banner=(banner,))


def _under(router: APIRouter, prefix: str) -> APIRouter:
    outer = api_router()
    outer.include_router(router, prefix=prefix)
    return outer


def operator_config(
    settings: TelcoSettings, runtime: Runtime, operator_id: str, *, alone: bool
) -> OperatorConfig:
    """The operator's clients and codes; outside production, a demo operator has the seed's."""
    clients = {k: v.get_secret_value() for k, v in settings.clients.items()}
    codes = frozenset(code.get_secret_value() for code in settings.valid_codes)
    demo = demo_operator(operator_id)
    if not runtime.site.is_production:
        if not clients and demo is not None:
            clients = {demo.client_id: demo.client_secret}
        if not codes:
            codes = frozenset(DEMO_CODES)
    if not clients or not (codes or settings.code_issuer_token):
        raise ConfigurationError(
            f"operator {operator_id} needs telco.clients and telco.valid_codes or "
            "telco.code_issuer_token (TOKEND_TELCO__CLIENTS, TOKEND_TELCO__VALID_CODES, "
            "TOKEND_TELCO__CODE_ISSUER_TOKEN)"
        )
    issuer = runtime.site.issuer if alone else f"{runtime.site.issuer}/telcos/{operator_id}"
    return OperatorConfig(operator_id, clients, codes, settings.token_ttl_s, issuer)
