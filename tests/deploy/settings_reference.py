"""The configuration reference of docs/operations.md, generated from ``tokend.config.Settings``.

    .venv/bin/python -m tests.deploy.settings_reference   # rewrite the block in the doc

The block between the markers is never edited by hand; test_operations_doc.py fails when it
differs from what this renders, so a new setting cannot ship undocumented. Descriptions come
from the ``#:`` comments above each field in the settings classes.
"""

from __future__ import annotations

import enum
import inspect
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import NoDecode

from tokend.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
PREFIX = "TOKEND_"
_FIELD_LINE = re.compile(r"^(\s+)([a-z_][a-z0-9_]*)\s*:")

#: Meanings of the spine's settings that carry no ``#:`` comment in tokend/config.py.
FALLBACK: dict[str, str] = {
    "TOKEND_ENV": "`production` refuses published or weak secrets and tokens, http issuers, an "
    'open vault, unprotected `/metrics` and demo data (README, "Security model")',
    "TOKEND_ISSUER": "Issuer URL (`iss`, discovery); https in production except on localhost",
    "TOKEND_SECRET_KEY": "At least 32 random characters: derives the AES-GCM key-encryption key "
    "and the HMAC pepper; required in production",
    "TOKEND_MODULES": "Capabilities to mount (`tokend serve --only NAME` sets one)",
    "TOKEND_DEMO_DATA": "Demo clients, users and operators, auto-migrate (`tokend serve --demo`), "
    "only into a database a demo run created",
    "TOKEND_CONFIG_FILE": "YAML or TOML settings file (`--config`)",
    "TOKEND_SERVER__HOST": "Bind address (the image sets `0.0.0.0`)",
    "TOKEND_SERVER__PORT": "Bind port",
    "TOKEND_SERVER__WORKERS": "Worker processes of one server",
    "TOKEND_DATABASE__URL": "`sqlite+aiosqlite:///FILE` or `postgresql+asyncpg://USER:PASS@HOST/DB`",
    "TOKEND_DATABASE__POOL_SIZE": "PostgreSQL connections kept open per process",
    "TOKEND_DATABASE__MAX_OVERFLOW": "Extra PostgreSQL connections allowed under load",
    "TOKEND_DATABASE__POOL_TIMEOUT_S": "Wait for a free connection before failing",
    "TOKEND_DATABASE__POOL_RECYCLE_S": "Reopen connections older than this (-1: never)",
    "TOKEND_DATABASE__ECHO": "Log every SQL statement (development only)",
    "TOKEND_REDIS__KEY_PREFIX": "Prefix of every Redis key (roles sharing a Redis keep apart)",
    "TOKEND_REDIS__SOCKET_TIMEOUT_S": "Redis call timeout; past it the memory tier serves",
    "TOKEND_CACHE__MEMORY_MAX_ITEMS": "Bound of the in-process LRU tier",
    "TOKEND_KEYS__ACCESS_TOKEN_ALG": "Access-token signing algorithm",
    "TOKEND_KEYS__ID_TOKEN_ALG": "ID-token signing algorithm",
    "TOKEND_LOG__LEVEL": "Log level",
    "TOKEND_LOG__ACCESS_LOG": "One JSON access-log line per request (tokens redacted)",
    "TOKEND_OTEL__SERVICE_NAME": "`service.name` of the traces",
    "TOKEND_JOBS__QUEUE_NAME": "Redis queue name (SAQ)",
    "TOKEND_JOBS__CONCURRENCY": "Jobs one worker runs at once",
    "TOKEND_JOBS__MAX_RETRIES": "Attempts after the first for a failing job",
    "TOKEND_JOBS__RETRY_BACKOFF_S": "First retry delay (doubles each attempt)",
}


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """``#:`` comment lines directly above each field of ``model``, joined."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD_LINE.match(line)
        if match and match.group(2) in model.model_fields and pending:
            comments[match.group(2)] = " ".join(pending)
        if stripped:
            pending = []
    return comments


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_optional(annotation: Any) -> tuple[bool, Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            return True, args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
    return False, annotation


def type_text(annotation: Any) -> str:
    optional, inner = _is_optional(annotation)
    origin = get_origin(inner)
    if get_origin(inner) is not None and str(origin).endswith("Annotated"):
        inner = get_args(inner)[0]
        origin = get_origin(inner)
    if origin is Literal:
        text = " \\| ".join(f"`{a}`" for a in get_args(inner))
    elif origin in (list, tuple, set, frozenset):
        (item,) = get_args(inner)[:1] or (str,)
        text = "JSON list" if _nested_model(item) else f"JSON list of {type_text(item)}"
    elif origin is dict:
        text = "JSON object"
    elif inspect.isclass(inner) and issubclass(inner, enum.Enum):
        text = " \\| ".join(f"`{m.value}`" for m in inner)
    elif inner is SecretStr:
        text = "secret"
    elif origin in (Union, types.UnionType):
        text = " or ".join(type_text(a) for a in get_args(inner))
    else:
        text = getattr(inner, "__name__", str(inner))
    return f"{text}, optional" if optional else text


def default_text(field: FieldInfo) -> str:
    if field.default_factory is None and field.default is PydanticUndefined:
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        return "`" + ",".join(str(v) for v in value) + "`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _aliases(field: FieldInfo, name: str) -> list[str]:
    alias = field.validation_alias
    if not isinstance(alias, AliasChoices):
        return []
    names = {str(choice).upper() for choice in alias.choices if isinstance(choice, str)}
    return sorted(names - {name.upper()})


def rows(model: type[BaseModel] = Settings, prefix: str = PREFIX) -> Iterator[tuple[str, ...]]:
    comments = field_comments(model)
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        variable = f"{prefix}{name.upper()}"
        if nested is not None:
            yield from rows(nested, f"{variable}__")
            continue
        meaning = comments.get(name) or FALLBACK.get(variable, "")
        meaning = meaning.replace("``", "`").replace("|", "\\|")
        aliases = _aliases(field, name)
        if aliases:
            also = ", ".join(f"`{prefix}{a}`" for a in aliases)
            meaning = f"{meaning} (also {also})".strip()
        kind = type_text(field.annotation)
        if any(isinstance(m, NoDecode) or m is NoDecode for m in field.metadata):
            kind = "comma-separated list"
        yield (f"`{variable}`", kind, default_text(field), meaning)


def render() -> str:
    lines = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for row in rows():
        lines.append("| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def current_block(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write(doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    doc.write_text(text[:start] + "\n" + render() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    write()
    sys.stdout.write(f"updated {DOC}\n")
