"""The seed 000 directory file: ``prefixes: {<digits>: {base_url, client_id, client_secret, ...}}``.

Prefixes are read as the text written in the file, not as YAML numbers: PyYAML would read an
unquoted ``0123`` as octal 83 and ``972_05`` as 97205 (seed 000 compat note), so tokend keeps
``0123`` as written and rejects ``972_05`` with its line instead of routing to a surprise.
Admin API changes rewrite the file atomically; comments in it are not preserved.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.directory.lookup import Directory
from tokend.broker.directory.validation import DirectoryInvalid, EntryRules, Problem, build_entry
from tokend.core.progress import NO_PROGRESS, Progress


def parse_directory(
    text: str, *, source: str, rules: EntryRules, progress: Progress = NO_PROGRESS
) -> Directory:
    """A validated Directory, or DirectoryInvalid naming file, line and prefix of each problem;
    ``progress`` hears the number of prefixes, then each one checked."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DirectoryInvalid([Problem(source, line, None, f"not valid YAML: {exc}")]) from None
    prefixes = _prefixes_node(root, source)
    problems: list[Problem] = []
    entries: list[TelcoEntry] = []
    seen: dict[str, int] = {}
    progress.start(len(prefixes.value))
    for key_node, value_node in prefixes.value:
        progress.advance()
        line = key_node.start_mark.line + 1
        prefix = key_node.value if isinstance(key_node, ScalarNode) else "?"
        if prefix in seen:
            problems.append(
                Problem(source, line, prefix, f"duplicate prefix (first at line {seen[prefix]})")
            )
            continue
        seen[prefix] = line
        if not isinstance(value_node, MappingNode):
            problems.append(Problem(source, line, prefix, "entry must be a mapping of fields"))
            continue
        fields, lines = _fields(value_node)
        try:
            entries.append(
                build_entry(prefix, fields, rules=rules, source=source, line=line, lines=lines)
            )
        except DirectoryInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise DirectoryInvalid(problems)
    return Directory.of(entries, source)


def read_directory(path: Path, rules: EntryRules, progress: Progress = NO_PROGRESS) -> Directory:
    """Blocking read; callers on the event loop run it in a worker thread."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DirectoryInvalid(
            [Problem(str(path), None, None, f"cannot read: {exc.strerror}")]
        ) from None
    return parse_directory(text, source=str(path), rules=rules, progress=progress)


def render_directory(directory: Directory) -> str:
    """The YAML text of ``directory``: required fields plus the optional ones each entry set."""
    prefixes = {prefix: _entry_fields(entry) for prefix, entry in directory.entries.items()}
    return yaml.safe_dump({"prefixes": prefixes}, sort_keys=False, allow_unicode=True)


def write_directory(path: Path, directory: Directory) -> None:
    """Replace ``path`` atomically (temp file in the same folder, fsync, rename). Blocking."""
    text = render_directory(directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # it may hold literal client secrets
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prefixes_node(root: Node | None, source: str) -> MappingNode:
    if not isinstance(root, MappingNode):
        raise DirectoryInvalid([Problem(source, 1, None, "top level must be a mapping")])
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "prefixes":
            if isinstance(value, ScalarNode) and value.tag.endswith(":null"):
                return MappingNode("tag:yaml.org,2002:map", [])
            if not isinstance(value, MappingNode):
                line = value.start_mark.line + 1
                raise DirectoryInvalid([Problem(source, line, None, "prefixes must be a mapping")])
            return value
    raise DirectoryInvalid([Problem(source, 1, None, "no 'prefixes' mapping")])


def _fields(node: MappingNode) -> tuple[dict[str, object], dict[str, int]]:
    constructor = yaml.SafeLoader("")
    fields: dict[str, object] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        name = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
        fields[name] = constructor.construct_object(value_node, deep=True)
        lines[name] = key_node.start_mark.line + 1
    return fields, lines


def _entry_fields(entry: TelcoEntry) -> dict[str, object]:
    fields: dict[str, object] = {"base_url": entry.base_url, "client_id": entry.client_id}
    if entry.client_secret is not None:
        fields["client_secret"] = entry.client_secret.source
    optional: dict[str, object] = {
        "name": entry.name,
        "operator_id": entry.operator_id,
        "adapter": entry.adapter,
        "token_url": entry.token_url,
        "auth_method": entry.auth_method,
        "grant_type": entry.grant_type,
        "scopes": list(entry.scopes),
        "timeout_s": entry.timeout_s,
        "enabled": entry.enabled,
        "private_key": entry.private_key.source if entry.private_key else None,
        "redirect_uri": entry.redirect_uri,
    }
    fields.update({k: v for k, v in optional.items() if k in entry.declared and v is not None})
    return fields
