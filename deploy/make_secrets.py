"""Write the compose stack's secrets: ``python3 deploy/make_secrets.py [FILE]`` (``make secrets``).

Production refuses published values (the placeholders once committed here among them), so the
stack's secret key and static tokens are made on the machine that runs it, into an env file git
ignores (default ``deploy/envs/secrets.env``), readable by its owner only. A value already in
the file is kept: a new ``TOKEND_SECRET_KEY`` would make everything encrypted under the old one
unreadable (rotate it as docs/operations.md says instead). Standard library only.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent / "envs" / "secrets.env"
#: Each variable and how many random bytes its value has (URL-safe base64: 4/3 characters each).
SECRETS = {
    "TOKEND_SECRET_KEY": 48,
    "TOKEND_ADMIN_TOKEN": 32,
    "TOKEND_BROKER__ADMIN_TOKEN": 32,
    "TOKEND_GATEWAY__ADMIN_TOKEN": 32,
    "TOKEND_VAULT__API_TOKEN": 32,
}


def existing(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def main(path: Path) -> None:
    values = existing(path)
    added = [name for name in SECRETS if not values.get(name)]
    for name in added:
        values[name] = secrets.token_urlsafe(SECRETS[name])
    lines = ["# Made by deploy/make_secrets.py for this machine's stack. Never commit it."]
    lines += [f"{name}={value}" for name, value in values.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a new 0600 file first, then moved over the old one: never readable by others.
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    staging.replace(path)
    kept = len(SECRETS) - len(added)
    print(f"{path}: {len(added)} secret(s) made, {kept} kept")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FILE)
