"""The guard as its trusted issuers grow: one against fifty.

The guard's public ``JWTValidator`` trusting ``n`` issuers, each with its own ES256 key (a
static JWKS), validating a token of the last one configured; validations per second in thread
CPU time (bench.guard_validate's clock), median of the rounds, the sizes alternating.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from joserfc.jwk import ECKey

from bench.guard_validate import guard_rate
from bench.run_log import Row
from tokend.core.jwt import SigningKey, mint
from tokend.guard import AuthServiceException, JWTValidator, TrustedIssuer

FAMILY = "guard_issuers"
SIZES = (1, 50)
WHY = "the token's iss picks its issuer with one dict lookup; the other issuers are never read"


def measure(*, smoke: bool) -> list[Row]:
    seconds, rounds = (0.2, 1) if smoke else (1.0, 3)
    return asyncio.run(_measure(seconds, rounds))


async def _measure(seconds: float, rounds: int) -> list[Row]:
    cases = {n: await _case(n) for n in SIZES}
    rates: dict[int, list[float]] = {n: [] for n in SIZES}
    for _ in range(rounds):
        for n, (validator, token) in cases.items():
            rates[n].append(await guard_rate(validator, token, seconds))
    return [
        {
            "scenario": f"{FAMILY}.validate",
            "variant": str(n),
            "family": FAMILY,
            "size": n,
            "size_label": f"{n} trusted issuer{'s' if n > 1 else ''}",
            "metric": "validations_per_s",
            "unit": "validations/s",
            "higher_is_better": True,
            "validations_per_s": round(statistics.median(rates[n])),
            "rounds": rounds,
            "seconds_per_run": seconds,
            "errors": 0,
            "why": WHY,
        }
        for n in SIZES
    ]


async def _case(issuers: int) -> tuple[JWTValidator, str]:
    """A validator trusting ``issuers`` issuers and a valid token of the last one."""
    trusted, key = [], None
    for i in range(issuers):
        key = ECKey.generate_key("P-256", parameters={"kid": f"iss-{i}", "alg": "ES256"})
        jwk = key.as_dict(private=False) | {"kid": f"iss-{i}", "alg": "ES256"}
        trusted.append(
            TrustedIssuer(
                f"https://issuer-{i}.bench.test",
                jwks={"keys": [jwk]},
                algorithms=frozenset({"ES256"}),
                audiences=frozenset({"api"}),
            )
        )
    assert key is not None
    claims: dict[str, object] = {
        "iss": f"https://issuer-{issuers - 1}.bench.test",
        "sub": "bench",
        "aud": "api",
    }
    token = mint(_timed(claims), SigningKey(f"iss-{issuers - 1}", "ES256", key))
    validator = JWTValidator(trusted)
    try:
        await validator.validate(token)  # warm-up, and proof the case is valid
    except AuthServiceException as exc:
        raise SystemExit(f"{FAMILY}: the bench token was refused ({exc})") from None
    return validator, token


def _timed(claims: dict[str, object]) -> dict[str, object]:
    now = int(time.time())
    return {**claims, "iat": now, "exp": now + 3600}
