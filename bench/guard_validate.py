"""`python -m bench.guard_validate`: the guard's in-process validation rate against the rate of
bare signature checks with ``cryptography``, measured in the same run (target >= 0.8).

Each round times one guard loop and one raw loop back to back; the result is the median of the
rounds, so drift on a shared machine hits both alike. Loops are timed in CPU time of the measuring
thread (``time.thread_time``): everything runs in that one thread, and on a shared machine wall
time also counts the moments the scheduler gave the core to someone else, which is noise here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import DictKey, ECKey, KeyParameters, RSAKey

from tokend.core.jwt import SigningKey, mint, verify
from tokend.guard import JWTValidator, TrustedIssuer

RESULTS = Path(__file__).resolve().parent / "results"
ISSUER = "https://bench.issuer.test"

#: The issuer the ``guard_protected_route`` HTTP scenario's token comes from: a static JWKS
#: the bench server trusts through ``guard_setup()``. Made once per bench process.
_ROUTE_KEY = ECKey.generate_key("P-256", parameters={"kid": "bench-route-1", "alg": "ES256"})


def guard_setup() -> dict[str, str]:
    """Environment for a bench server whose guard trusts the route scenario's issuer."""
    jwk = _ROUTE_KEY.as_dict(private=False) | {"kid": "bench-route-1", "alg": "ES256"}
    issuer = {
        "issuer": ISSUER,
        "jwks": {"keys": [jwk]},
        "algorithms": ["ES256"],
        "audiences": ["api"],
    }
    return {"TOKEND_GUARD__ISSUERS": json.dumps([issuer])}


def guard_route_headers() -> dict[str, str]:
    """A bearer token (valid for a day) with the admin role, for ``/guard/auth/me``."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "bench",
        "aud": "api",
        "iat": now,
        "exp": now + 86_400,
        "scope": "orders:read",
        "realm_access": {"roles": ["admin"]},
    }
    token = mint(claims, SigningKey("bench-route-1", "ES256", _ROUTE_KEY))
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True, slots=True)
class Case:
    alg: str
    token: str
    raw_verify: Callable[[], None]


def _pem(private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64decode(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def case(alg: str) -> tuple[Case, DictKey]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "bench",
        "aud": "api",
        "iat": now,
        "exp": now + 3600,
        "scope": "orders:read",
        "realm_access": {"roles": ["user"]},
    }
    params: KeyParameters = {"kid": f"{alg}-1", "alg": alg, "use": "sig"}
    key: ECKey | RSAKey
    if alg == "ES256":
        private_ec = ec.generate_private_key(ec.SECP256R1())
        key = ECKey.import_key(_pem(private_ec), parameters=params)
        token = mint(claims, SigningKey(f"{alg}-1", alg, key))
        head, body, sig = token.split(".")
        raw = _b64decode(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        ec_public = private_ec.public_key()
        data = f"{head}.{body}".encode()

        def verify_ec() -> None:
            ec_public.verify(der, data, ec.ECDSA(hashes.SHA256()))

        raw_verify = verify_ec
    else:
        private_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = RSAKey.import_key(_pem(private_rsa), parameters=params)
        token = mint(claims, SigningKey(f"{alg}-1", alg, key))
        head, body, sig = token.split(".")
        signature, data = _b64decode(sig), f"{head}.{body}".encode()
        rsa_public = private_rsa.public_key()

        def verify_rsa() -> None:
            rsa_public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())

        raw_verify = verify_rsa
    return Case(alg, token, raw_verify), key.as_dict(private=False)


#: CPU seconds of this thread; see the module docstring.
_cpu_time = time.thread_time


def raw_rate(verify: Callable[[], None], seconds: float) -> float:
    count, start = 0, _cpu_time()
    while (elapsed := _cpu_time() - start) < seconds:
        for _ in range(100):
            verify()
        count += 100
    return count / elapsed


async def guard_rate(validator: JWTValidator, token: str, seconds: float) -> float:
    count, start = 0, _cpu_time()
    while (elapsed := _cpu_time() - start) < seconds:
        for _ in range(100):
            await validator.validate(token)
        count += 100
    return count / elapsed


def core_rate(validator: JWTValidator, token: str, seconds: float) -> float:
    """The spine's ``verify`` alone, with the same issuer settings: where the time goes."""
    keys = next(iter(validator.issuers.values()))
    config = keys.config
    count, start = 0, _cpu_time()
    while (elapsed := _cpu_time() - start) < seconds:
        for _ in range(100):
            verify(
                token,
                keys,
                algorithms=config.algorithms,
                issuer=config.issuer,
                audience=config.audiences,
                typ=None,
                leeway_s=30,
                clock=validator.clock,
                required_claims=config.required_claims,
            )
        count += 100
    return count / elapsed


async def measure(alg: str, seconds: float, rounds: int) -> dict[str, object]:
    bench, jwk = case(alg)
    issuer = TrustedIssuer(
        ISSUER, jwks={"keys": [jwk]}, algorithms=frozenset({alg}), audiences=frozenset({"api"})
    )
    validator = JWTValidator([issuer])
    await validator.validate(bench.token)  # warm-up
    guard, core, raw = [], [], []
    for _ in range(rounds):
        guard.append(await guard_rate(validator, bench.token, seconds))
        core.append(core_rate(validator, bench.token, seconds))
        raw.append(raw_rate(bench.raw_verify, seconds))
    g, c, r = statistics.median(guard), statistics.median(core), statistics.median(raw)
    return {
        "scenario": f"guard_validate_{alg.lower()}",
        "family": "guard_validate",
        "metric": "ratio",
        "unit": "of raw verifications/s",
        "higher_is_better": True,
        "errors": 0,
        "guard_validations_per_s": round(g),
        "raw_verifications_per_s": round(r),
        "ratio": round(g / r, 3),
        "core_verify_per_s": round(c),
        "python_overhead_us": round((1 / g - 1 / r) * 1e6, 1),
        "of_which_core_verify_us": round((1 / c - 1 / r) * 1e6, 1),
        "of_which_guard_us": round((1 / g - 1 / c) * 1e6, 1),
        "target_ratio": 0.8,
        "rounds": rounds,
        "seconds_per_run": seconds,
        "clock": "thread_time",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.guard_validate")
    parser.add_argument("--smoke", action="store_true", help="0.2 s runs, nothing saved")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seconds, rounds = (0.2, 1) if args.smoke else (args.seconds, args.rounds)
    rows = [asyncio.run(measure(alg, seconds, rounds)) for alg in ("ES256", "RS256")]
    for row in rows:
        print(
            f"{row['scenario']:<24} guard {row['guard_validations_per_s']:>8}/s  raw "
            f"{row['raw_verifications_per_s']:>8}/s  ratio {row['ratio']:.2f}  "
            f"overhead {row['python_overhead_us']} us (core verify "
            f"{row['of_which_core_verify_us']}, guard {row['of_which_guard_us']})  (target >= 0.8)"
        )
    if not args.smoke:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for row in rows:  # the same files as `make bench` writes
            (RESULTS / f"{row['scenario']}.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
