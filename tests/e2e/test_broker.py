"""The broker and two operators as real processes (``tokend serve --only broker|telco``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
import redis

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

TIMEOUT_S = 2
ORANGE_SECRET = "orange-secret-from-broker-env-0123"
#: Seed 000 telco ``JWT_KID`` of both sample operators.
ORANGE_KID = "orange_rsa_key_2025"


@dataclass
class Fleet:
    tmp: Path
    broker: Server
    orange: Server
    orange_port: int
    vodafone: Server
    logs: list[Path]

    def start_orange(self) -> Server:
        self.orange = _operator(self.tmp, "orange", self.orange_port, self.logs)
        return self.orange


def _operator(tmp: Path, operator_id: str, port: int, logs: list[Path]) -> Server:
    log_path = tmp / f"{operator_id}-{len(logs)}.log"
    logs.append(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / operator_id}.db",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DEMO_DATA="true",  # migrates its own database
        TOKEND_TELCO__CLIENTS=json.dumps(
            {"ORANGE_DEMO_ID": ORANGE_SECRET}
            if operator_id == "orange"
            else {"VF_DEMO_ID": "VF_DEMO_SECRET"}
        ),
        **({"TOKEND_TELCO__JWKS_KID": ORANGE_KID} if operator_id == "orange" else {}),
    )
    command = [*TOKEND, "serve", "--only", "telco", "--telco-id", operator_id, "--port", str(port)]
    return start(command, env, port, log_path)


@pytest.fixture
def fleet(
    tmp_path: Path, redis_url: str, redis_prefix: str, secrets_seen: SecretsSeen
) -> Iterator[Fleet]:
    secrets_seen.add(ORANGE_SECRET)
    logs: list[Path] = []
    orange_port, vodafone_port, broker_port = free_port(), free_port(), free_port()
    orange = _operator(tmp_path, "orange", orange_port, logs)
    vodafone = _operator(tmp_path, "vodafone", vodafone_port, logs)
    directory = tmp_path / "telco.yaml"
    directory.write_text(
        f"""\
prefixes:
  97205:
    name: Orange
    operator_id: orange
    base_url: http://127.0.0.1:{orange_port}
    client_id: ORANGE_DEMO_ID
    client_secret: ${{TOKEND_TELCO_SECRET_ORANGE}}
    timeout_s: {TIMEOUT_S}
  972050:
    name: Vodafone
    operator_id: vodafone
    base_url: http://127.0.0.1:{vodafone_port}
    client_id: VF_DEMO_ID
    client_secret: VF_DEMO_SECRET
    auth_method: client_secret_basic
""",
        encoding="utf-8",
    )
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'broker.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DEMO_DATA="true",
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the operators run on loopback
        TOKEND_REDIS__URL=redis_url,
        TOKEND_REDIS__KEY_PREFIX=redis_prefix,
        TOKEND_BROKER__DIRECTORY_FILE=str(directory),
        TOKEND_TELCO_SECRET_ORANGE=ORANGE_SECRET,
    )
    broker_log = tmp_path / "broker.log"
    logs.append(broker_log)
    command = [*TOKEND, "serve", "--only", "broker", "--port", str(broker_port)]
    broker = start(command, env, broker_port, broker_log)
    fleet = Fleet(tmp_path, broker, orange, orange_port, vodafone, logs)
    try:
        yield fleet
    finally:
        for server in (fleet.broker, fleet.orange, fleet.vodafone):
            server.stop()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{redis_prefix}*"):
            client.delete(key)
        client.close()
        for path in logs:
            secrets_seen.add_log_file(path)
            assert "Traceback" not in path.read_text(encoding="utf-8", errors="replace")


def _issued(operator: Server, operator_id: str) -> float:
    text = httpx.get(f"{operator.base_url}/metrics").text
    needle = f'tokend_telco_tokens_total{{operator="{operator_id}",outcome="issued"}} '
    for line in text.splitlines():
        if line.startswith(needle):
            return float(line.split()[-1])
    return 0.0


def _token(broker: Server, sn: str, code: str) -> httpx.Response:
    return httpx.post(
        f"{broker.base_url}/api/demo/token",
        params={"mcc": "972", "sn": sn},
        data={"auth_code": code},
        timeout=10,
    )


def test_broker_and_two_operators_as_real_processes(
    fleet: Fleet, redis_url: str, redis_prefix: str, secrets_seen: SecretsSeen
) -> None:
    # 200 with a broker JWT that PyJWT verifies from the broker's JWKS.
    response = _token(fleet.broker, "0527464600", "best_auth_code_123")
    assert response.status_code == 200, response.text
    token = secrets_seen.add(response.json()["access_token"])
    keys = jwt.PyJWKClient(f"{fleet.broker.base_url}/.well-known/jwks.json")
    claims = jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token).key,
        algorithms=["ES256"],
        audience=f"{fleet.broker.base_url}/broker",  # item 22: the broker's own audience
    )
    assert (claims["operator"], claims["mcc"], claims["sn"]) == ("orange", "972", "0527464600")

    # Redis holds it, under a hashed key, with TTL = operator lifetime (600 s) - margin (30 s).
    # The cache write runs after the answer, so it is waited for.
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while not (keys_found := list(client.scan_iter(f"{redis_prefix}broker:broker:*"))):
        assert time.monotonic() < deadline, "the broker token was not cached within 10 s"
        time.sleep(0.02)
    assert len(keys_found) == 1
    assert 540 < client.ttl(keys_found[0]) <= 570
    assert not [k for k in client.scan_iter(f"{redis_prefix}*") if b"best_auth" in k]
    client.close()

    # Second identical request: served from the cache, the operator is not called.
    issued = _issued(fleet.orange, "orange")
    again = _token(fleet.broker, "0527464600", "best_auth_code_123")
    assert again.json()["access_token"] == token
    assert _issued(fleet.orange, "orange") == issued

    # The longer prefix goes to the other process, which takes HTTP Basic.
    vodafone = _token(fleet.broker, "0501234567", "best_auth_demo")
    assert vodafone.status_code == 200, vodafone.text

    # A code the operator refuses: its status and raw body, as seed 000 relayed them (issue 24).
    refused = _token(fleet.broker, "0527464600", "not_a_good_code")
    assert refused.status_code == 401
    assert refused.json() == {"detail": 'Telco service error: {"detail":"Invalid auth code"}'}

    # Seed 000 validation: 422 with FastAPI's body, every invalid field listed.
    invalid = httpx.post(
        f"{fleet.broker.base_url}/api/demo/token",
        params={"mcc": "", "sn": ""},
        data={"auth_code": "best_auth_demo"},
    )
    assert invalid.status_code == 422
    assert [(e["loc"], e["msg"]) for e in invalid.json()["detail"]] == [
        (["query", "mcc"], "Value error, MCC must be between 1 to 3 digits"),
        (["query", "sn"], "Value error, SN cannot be empty"),
    ]

    # The operator publishes its keys at the seed telco's path too, under its JWT_KID.
    operator_token = httpx.post(
        f"{fleet.orange.base_url}/api/demo/token",
        params={"mcc": "972", "sn": "0527464600"},
        data={
            "telco_auth": json.dumps(
                {"client_id": "ORANGE_DEMO_ID", "client_secret": ORANGE_SECRET}
            ),
            "auth_code": "best_auth_demo",
        },
    ).json()["access_token"]
    assert jwt.get_unverified_header(operator_token)["kid"] == ORANGE_KID
    keys = jwt.PyJWKClient(f"{fleet.orange.base_url}/api/demo/.well-known/jwks.json")
    signing = keys.get_signing_key_from_jwt(operator_token)
    claims = jwt.decode(
        operator_token, signing.key, algorithms=[signing.algorithm_name], audience="ORANGE_DEMO_ID"
    )
    assert (claims["operator"], claims["sn"]) == ("orange", "0527464600")

    # The operator stopped: 503 within the configured timeout; after a restart, success again.
    fleet.orange.stop()
    started = time.monotonic()
    down = _token(fleet.broker, "0527464600", "best_auth_demo")
    assert down.status_code == 503
    assert time.monotonic() - started < TIMEOUT_S + 1
    # Seed 000's exact text; which operator failed is in the broker's log and metrics.
    assert down.json() == {"detail": "Failed to contact telco service"}
    fleet.start_orange()
    back = _token(fleet.broker, "0527464600", "best_auth_demo")
    assert back.status_code == 200, back.text
