"""The demo consumer of ``tokend serve --demo``: standalone mode, a known API key."""

from __future__ import annotations

from typing import Final

from pydantic import SecretStr

from tokend.gateway.settings import StaticConsumer

DEMO_USERNAME: Final = "demo-consumer"
#: Printed in the banner; only ever loaded in demo mode (refused in production).
DEMO_API_KEY: Final = "tkd_demo_gateway_key_0123456789abcdef"

DEMO_CONSUMER: Final = StaticConsumer(username=DEMO_USERNAME, api_key=SecretStr(DEMO_API_KEY))


def demo_banner(base_url: str) -> tuple[str, ...]:
    return (
        f"gateway      {base_url}/tokens   (demo consumer {DEMO_USERNAME})",
        f"  try        curl -H 'apikey: {DEMO_API_KEY}' {base_url}/tokens",
    )
