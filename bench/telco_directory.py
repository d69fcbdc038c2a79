"""The broker's telco directory as it grows: 1k, 100k and 1M prefixes.

For each size, in a process of its own (so memory is that size's alone): the µs of a
longest-prefix lookup (``Directory.longest_prefix``, what the broker's token path calls) over
numbers half of which start with a known prefix, the time to build the directory from its
entries (each validated, then the trie) and the resident memory that adds; and, up to
``YAML_LOAD_MAX`` prefixes, the time to read the seed's YAML file (``read_directory``: the build
plus PyYAML's composer, which keeps every node with its line for the error messages). Every
lookup of a sample is checked against a brute-force answer: a wrong route is an error.

Above ``YAML_LOAD_MAX`` the file is not read: it took 1,093 s and 6 GB of memory for 1M
prefixes on this machine (about 0.5 ms per prefix, 50 s for 100k), longer than a benchmark run
should take.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run_log import Row
from tokend.broker.directory import Directory, read_directory
from tokend.broker.directory.validation import EntryRules, build_entry

FAMILY = "telco_lookup"
SIZES = (1_000, 100_000, 1_000_000)
SMOKE_SIZES = (1_000, 3_000)  # RSS grows by whole pages: 100 prefixes can read as 0.0 MB
#: Above this many prefixes the YAML file is not read (see the module docstring).
YAML_LOAD_MAX = 100_000
LOOKUPS = 20_000
SMOKE_LOOKUPS = 2_000
CHECKED = 2_000
#: The operator file's rules with no secret references and the default outbound policy: the
#: bench's operators are public https hosts that are never called.
RULES = EntryRules(secrets={})
WHY = {
    "build_s": "every entry is validated, sorted by prefix (n log n) and inserted in the trie: "
    "about linear by nature",
    "yaml_load_s": "every entry of the file is parsed (PyYAML's composer, pure Python) before "
    "the build: linear by nature, and the largest part of a reload",
    "lookup_us": "a trie walk: one dict step per digit until the number leaves the trie (at most "
    "15), never a scan of the prefixes; walks get deeper as prefixes fill the digit space (about "
    "log10 of their number) and a trie of millions of nodes no longer fits in the CPU caches",
    "rss_mb": "one entry object and its trie nodes per prefix: linear by nature",
}


def measure(*, smoke: bool) -> list[Row]:
    """A row per size and figure (lookup µs, load seconds, MB kept), each size measured in a
    process of its own."""
    rows: list[Row] = []
    for size in SMOKE_SIZES if smoke else SIZES:
        lookups = SMOKE_LOOKUPS if smoke else LOOKUPS
        done = subprocess.run(
            [sys.executable, "-m", "bench.telco_directory", "--prefixes", str(size),
             "--lookups", str(lookups)],
            capture_output=True, text=True, check=True, timeout=3600,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        rows.extend(_rows(size, figures))
    return rows


def _rows(size: int, figures: dict[str, object]) -> list[Row]:
    common: Row = {
        "family": FAMILY,
        "variant": str(size),
        "size": size,
        "size_label": f"{size:,} prefixes",
    }
    units = {
        "lookup_us": "µs per lookup",
        "build_s": "s to build from entries",
        "rss_mb": "MB of resident memory",
        "yaml_load_s": "s to read the YAML file",
    }
    out: list[Row] = []
    for metric, unit in units.items():
        if figures.get(metric) is None:
            continue  # the file is not read above YAML_LOAD_MAX
        out.append(
            {
                "scenario": f"{FAMILY}.{metric.rsplit('_', 1)[0]}",
                **common,
                "metric": metric,
                "unit": unit,
                "higher_is_better": False,
                metric: figures[metric],
                "errors": figures["wrong_routes"] if metric == "lookup_us" else 0,
                **({"peak_mb": figures["yaml_peak_mb"]} if metric == "yaml_load_s" else {}),
                "why": WHY[metric],
            }
        )
    return out


def _directory_file(path: Path, prefixes: list[str]) -> None:
    lines = ["prefixes:"]
    for prefix in prefixes:
        lines += [
            f"  {prefix}:",
            f"    base_url: https://op{int(prefix) % 97}.telco.example",
            "    client_id: bench",
            "    client_secret: bench-secret",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _built(prefixes: list[str]) -> Directory:
    """The directory of the same entries, validated and indexed like a loaded file, no YAML."""
    entries = [
        build_entry(
            prefix,
            {
                "base_url": f"https://op{int(prefix) % 97}.telco.example",
                "client_id": "bench",
                "client_secret": "bench-secret",
            },
            rules=RULES,
            source="bench",
        )
        for prefix in prefixes
    ]
    return Directory.of(entries, "bench")


def _prefixes(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct prefixes of 4 to 9 digits (country code and operator block)."""
    found: set[str] = set()
    while len(found) < size:
        number = str(rng.randrange(10**8, 10**9))
        found.add(number[: rng.randint(4, 9)])
    return sorted(found)


def _numbers(prefixes: list[str], count: int, rng: random.Random) -> list[str]:
    """12-digit numbers, every other one starting with a known prefix."""
    numbers = []
    for i in range(count):
        head = rng.choice(prefixes) if i % 2 == 0 else ""
        tail = "".join(rng.choices("0123456789", k=12 - len(head)))
        numbers.append(head + tail)
    return numbers


def _wrong_routes(directory: Directory, known: set[str], numbers: list[str]) -> int:
    """Lookups whose answer differs from the longest known prefix found by brute force."""
    wrong = 0
    for number in numbers:
        expected = None
        for length in range(1, len(number) + 1):
            if number[:length] in known:
                expected = number[:length]
        entry = directory.longest_prefix(number)
        if (entry.prefix if entry is not None else None) != expected:
            wrong += 1
    return wrong


def _rss_mb() -> float:
    return _status_mb("VmRSS:")


def _peak_mb() -> float:
    return _status_mb("VmHWM:")


def _reset_peak() -> None:
    """Start VmHWM (peak resident memory) again from the current RSS (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def run(size: int, lookups: int) -> dict[str, object]:
    """One size's figures (this process should measure nothing else: memory is its RSS)."""
    rng = random.Random(size)
    prefixes = _prefixes(size, rng)
    numbers = _numbers(prefixes, lookups, rng)
    gc.collect()
    before_mb = _rss_mb()
    started = time.perf_counter()
    directory = _built(prefixes)
    build_s = time.perf_counter() - started
    gc.collect()
    rss_mb = _rss_mb() - before_mb
    lookup = directory.longest_prefix
    per_call = []
    for _ in range(5):
        started = time.thread_time()
        for number in numbers:
            lookup(number)
        per_call.append((time.thread_time() - started) / len(numbers))
    figures: dict[str, object] = {
        "prefixes": size,
        "lookup_us": round(statistics.median(per_call) * 1e6, 3),
        "build_s": round(build_s, 3),
        "rss_mb": round(rss_mb, 1),
        "wrong_routes": _wrong_routes(directory, set(prefixes), numbers[:CHECKED]),
        "yaml_load_s": None,
        "yaml_peak_mb": None,
    }
    if size <= YAML_LOAD_MAX:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "telco.yaml"
            _directory_file(path, prefixes)
            gc.collect()
            _reset_peak()
            resident_mb = _rss_mb()
            started = time.perf_counter()
            from_file = read_directory(path, RULES)
            figures["yaml_load_s"] = round(time.perf_counter() - started, 3)
            figures["yaml_peak_mb"] = round(_peak_mb() - resident_mb, 1)
        if from_file.entries.keys() != directory.entries.keys():
            figures["wrong_routes"] = int(str(figures["wrong_routes"])) + 1
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.telco_directory")
    parser.add_argument("--prefixes", type=int, required=True)
    parser.add_argument("--lookups", type=int, default=LOOKUPS)
    args = parser.parse_args()
    print(json.dumps(run(args.prefixes, args.lookups)))


if __name__ == "__main__":
    main()
