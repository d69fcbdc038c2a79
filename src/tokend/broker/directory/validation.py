"""Turning one entry's fields into a TelcoEntry, with every problem named by file, line, prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, cast
from urllib.parse import urlsplit

from tokend.broker.directory.entry import (
    ADAPTER_NAMES,
    AUTH_METHODS,
    GRANT_TYPES,
    AdapterName,
    AuthMethod,
    GrantType,
    Secret,
    TelcoEntry,
)
from tokend.broker.settings import DIRECTORY_SECRET_PREFIX, BrokerSettings
from tokend.core.phone_numbers import MAX_DIGITS
from tokend.core.urls import AllowedHosts, upstream_url_problem

REQUIRED: Final = ("base_url", "client_id")
OPTIONAL: Final = (
    "client_secret",
    "name",
    "operator_id",
    "adapter",
    "token_url",
    "auth_method",
    "grant_type",
    "scopes",
    "timeout_s",
    "enabled",
    "private_key",
    "redirect_uri",
)
_ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OPERATOR_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: Seed 000 operators answer ``POST {base_url}/api/demo/token``.
SEED_TOKEN_PATH: Final = "/api/demo/token"  # noqa: S105  (a path)


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int | None
    prefix: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return (
            f"{where}: prefix {self.prefix}: {self.message}"
            if self.prefix
            else (f"{where}: {self.message}")
        )


@dataclass(frozen=True, slots=True)
class EntryRules:
    """What an entry may refer to, decided by who wrote it."""

    #: Values of the ``${TOKEND_TELCO_SECRET_*}`` references of the operator's file; None where
    #: references are not resolved at all (an admin API call).
    secrets: Mapping[str, str] | None = field(default=None, repr=False)
    #: Operator hosts allowed plain http and non-public addresses.
    allowed_hosts: AllowedHosts = field(default_factory=AllowedHosts)

    def for_admin_api(self) -> EntryRules:
        """The same rules for an entry sent over the admin API: no reference is resolved, so
        an admin can neither read a secret of the process nor move one to another operator."""
        return replace(self, secrets=None)


def entry_rules(settings: BrokerSettings, *, also_allowed: Iterable[str] = ()) -> EntryRules:
    """The rules of the operator's directory file under ``settings``."""
    return EntryRules(
        secrets={
            name: value.get_secret_value() for name, value in settings.directory_secrets.items()
        },
        allowed_hosts=AllowedHosts.of([*settings.allowed_upstream_hosts, *also_allowed]),
    )


class DirectoryInvalid(ValueError):
    """A directory that must not replace the loaded one; ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


class _Collector:
    def __init__(self, source: str, prefix: str, lines: Mapping[str, int], line: int | None):
        self.source, self.prefix, self.lines, self.line = source, prefix, lines, line
        self.problems: list[Problem] = []

    def add(self, name: str | None, message: str) -> None:
        line = self.lines.get(name, self.line) if name else self.line
        self.problems.append(Problem(self.source, line, self.prefix, message))


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` cannot be a directory key, or None."""
    if not prefix or not prefix.isascii() or not prefix.isdigit():
        return f"prefix {prefix!r} must be digits only (quote prefixes that start with 0)"
    if len(prefix) > MAX_DIGITS:
        return f"prefix {prefix} is longer than {MAX_DIGITS} digits"
    return None


def build_entry(
    prefix: str,
    fields: Mapping[str, object],
    *,
    rules: EntryRules,
    source: str,
    line: int | None = None,
    lines: Mapping[str, int] | None = None,
) -> TelcoEntry:
    """The entry for ``fields`` or DirectoryInvalid listing every problem found."""
    c = _Collector(source, prefix, lines or {}, line)
    if (why := check_prefix(prefix)) is not None:
        c.add(None, why)
    for name in fields:
        if name not in REQUIRED and name not in OPTIONAL:
            c.add(name, f"unknown field {name!r}")
    for name in REQUIRED:
        if not _text(fields.get(name)):
            c.add(name, f"{name} is missing")
    base_url = _text(fields.get("base_url"))
    if base_url and (why := _check_upstream(base_url, rules)):
        c.add("base_url", f"base_url {why}")
    adapter = _choice(c, fields, "adapter", ADAPTER_NAMES, "seed")
    auth_method = _choice(c, fields, "auth_method", AUTH_METHODS, _default_auth(adapter))
    grant_type = _choice(c, fields, "grant_type", GRANT_TYPES, "authorization_code")
    if grant_type != "authorization_code":
        # TelcoEntry.checks_subscriber: without the code the operator cannot check who asks.
        c.add(
            "grant_type",
            f"grant_type {grant_type} sends the operator no subscriber code, so the broker "
            "would mint a token for any number: use authorization_code",
        )
    token_url = _text(fields.get("token_url")) or _default_token_url(adapter, base_url)
    if "token_url" in fields and (why := _check_upstream(token_url, rules)):
        c.add("token_url", f"token_url {why}")
    client_secret = _secret(c, fields, "client_secret", rules)
    private_key = _secret(c, fields, "private_key", rules)
    if auth_method == "private_key_jwt" or grant_type == "jwt_bearer":
        if private_key is None and "private_key" not in fields:
            c.add(None, "private_key is missing (needed for private_key_jwt / jwt_bearer)")
    elif client_secret is None and "client_secret" not in fields:
        c.add(None, "client_secret is missing")
    operator_id = _text(fields.get("operator_id")) or _default_operator_id(fields, base_url)
    if not _OPERATOR_ID.fullmatch(operator_id):
        c.add(
            "operator_id", f"operator_id {operator_id!r} must be lowercase letters, digits, - or _"
        )
    timeout_s = _timeout(c, fields.get("timeout_s"))
    scopes = fields.get("scopes", ())
    if isinstance(scopes, str):
        scopes = tuple(scopes.split())
    if not isinstance(scopes, (list, tuple)) or not all(isinstance(s, str) for s in scopes):
        c.add("scopes", "scopes must be a list of strings or a space-separated string")
        scopes = ()
    enabled = fields.get("enabled", True)
    if not isinstance(enabled, bool):
        c.add("enabled", "enabled must be true or false")
        enabled = True
    redirect_uri = _text(fields.get("redirect_uri")) or None
    if redirect_uri and (why := _check_url(redirect_uri)):
        c.add("redirect_uri", f"redirect_uri {why}")
    if c.problems:
        raise DirectoryInvalid(c.problems)
    return TelcoEntry(
        prefix=prefix,
        operator_id=operator_id,
        base_url=base_url.rstrip("/"),
        client_id=_text(fields.get("client_id")),
        client_secret=client_secret,
        adapter=cast("AdapterName", adapter),
        token_url=token_url,
        auth_method=cast("AuthMethod", auth_method),
        grant_type=cast("GrantType", grant_type),
        scopes=tuple(scopes),
        timeout_s=timeout_s,
        enabled=enabled,
        name=_text(fields.get("name")) or None,
        private_key=private_key,
        redirect_uri=redirect_uri,
        declared=frozenset(name for name in fields if name in OPTIONAL),
    )


def _text(value: object) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip() if isinstance(value, (str, int, float)) else ""


def _check_url(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"{url!r} must not carry credentials, a query or a fragment"
    return None


def _check_upstream(url: str, rules: EntryRules) -> str | None:
    """An operator URL: well formed, then https at a public address unless its host is allowed."""
    if (why := _check_url(url)) is not None:
        return why
    if (why := upstream_url_problem(url, rules.allowed_hosts)) is not None:
        return f"{why}; allowed hosts: TOKEND_BROKER__ALLOWED_UPSTREAM_HOSTS"
    return None


def _choice(
    c: _Collector, fields: Mapping[str, object], name: str, allowed: tuple[str, ...], default: str
) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        c.add(name, f"{name} {value!r} is not one of {', '.join(allowed)}")
        return default
    return str(value)


def _default_auth(adapter: str) -> str:
    return "telco_auth" if adapter == "seed" else "client_secret_basic"


def _default_token_url(adapter: str, base_url: str) -> str:
    return base_url.rstrip("/") + (SEED_TOKEN_PATH if adapter == "seed" else "/token")


def _default_operator_id(fields: Mapping[str, object], base_url: str) -> str:
    name = _text(fields.get("name"))
    if name:
        return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "operator"
    return (urlsplit(base_url).hostname or "operator").lower().replace(".", "-")


def _secret(
    c: _Collector, fields: Mapping[str, object], name: str, rules: EntryRules
) -> Secret | None:
    if name not in fields:
        return None
    raw = _text(fields.get(name))
    if not raw:
        c.add(name, f"{name} is empty")
        return None
    ref = _ENV_REF.fullmatch(raw)
    if ref is None:
        return Secret(raw, raw)
    variable = ref.group(1)
    if rules.secrets is None:
        # Resolved from the API, a reference would hand an admin any secret of the process (an
        # upstream of theirs receives it as client_secret); written to the file as is, it would
        # be resolved at the next reload. So the API takes secrets only as values.
        c.add(name, f"{name}: ${{…}} references are resolved only from the directory file")
        return None
    if not variable.startswith(DIRECTORY_SECRET_PREFIX):
        c.add(
            name,
            f"{name} refers to ${{{variable}}}: only {DIRECTORY_SECRET_PREFIX}* variables "
            "can be referenced",
        )
        return None
    value = rules.secrets.get(variable, "")
    if not value:
        c.add(name, f"{name} refers to ${{{variable}}}, which is not set")
        return None
    return Secret(value, raw)


def _timeout(c: _Collector, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 120:
        c.add("timeout_s", "timeout_s must be a number of seconds in (0, 120]")
        return None
    return float(value)
