"""The test servers' ports: one block per pytest-xdist worker, outside the kernel's own range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e import server
from tests.e2e.server import free_port, port_block


def test_each_worker_has_its_own_block_below_the_ephemeral_range() -> None:
    blocks = [set(port_block(worker)) for worker in ("", "gw0", "gw1", "gw2", "gw3")]
    for index, block in enumerate(blocks):
        for other in blocks[index + 1 :]:
            assert not block & other
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    lowest = int(ranges.read_text().split()[0]) if ranges.exists() else 32_768
    assert max(max(block) for block in blocks) < lowest


def test_free_port_is_in_this_workers_block_and_not_handed_out_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setattr(server, "_next_port", [])
    ports = [free_port() for _ in range(5)]
    assert set(ports) <= set(port_block("gw1"))
    assert len(set(ports)) == len(ports)


def _bind_in(sock: socket.socket, block: range) -> int:
    """Bind ``sock`` to the first port of ``block`` it can; that port's place in the block."""
    for place, port in enumerate(block):
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return place
    raise AssertionError(f"no port of {block} could be bound")


def test_free_port_skips_a_port_something_listens_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    block = port_block("gw2")
    with socket.socket() as listening:
        place = _bind_in(listening, block)
        listening.listen()
        monkeypatch.setattr(server, "_next_port", [place])
        assert free_port() != block[place]
