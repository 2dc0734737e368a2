"""Settings: settings.toml plus VOC_* environment overrides, read once into frozen dataclasses.

    settings = load_settings()            # ./settings.toml, else the one shipped at the repo root
    settings.store.backend, settings.notify.recipients["critical"], settings.display_tz

`VOC_SETTINGS=path` picks another file. `VOC_<SECTION>__<KEY>=value` overrides one key (nested
tables join with `__`: `VOC_CRAWL__APPSTORE__DELAY=2`); the value is read as a TOML literal when it
parses (`5`, `true`, `["a"]`) and as a plain string otherwise. Arrays of tables (`[[alerts.rules]]`)
cannot be overridden. Secrets never come from here: see `core.settings.secrets`.

Everything is validated at start-up: an unknown key, a wrong type or a bad value raises
`ConfigError` naming the key and the file (or the environment variable it came from). Relative
paths resolve against the working directory. Components receive plain values taken from these
dataclasses, never the whole `Settings`. The schema (keys, types, defaults, checks) lives in
`core.settings.schema`; finding the file and applying overrides in `core.settings.source`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from core.errors import ConfigError
from core.settings.schema import SCHEMA, SEVERITIES, WEBHOOKS, Key, check_value, suggest
from core.settings.secrets import Secrets, pseudonym_salt
from core.settings.source import (
    SHIPPED_SETTINGS,
    Origin,
    apply_overrides,
    locate,
    read_settings,
    refuse_secrets,
    resolve_path,
)

__all__ = ["Settings", "Secrets", "load_settings", "pseudonym_salt", "ConfigError", "SHIPPED_SETTINGS"]



@dataclass(frozen=True)
class AppSettings:
    timezone: str
    var_dir: Path


@dataclass(frozen=True)
class BankSettings:
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class StoreSettings:
    backend: str
    path: Path


@dataclass(frozen=True)
class ElasticsearchSettings:
    hosts: tuple[str, ...]
    ca_certs: Path | None
    index_prefix: str
    username: str
    auto_setup: bool  # false for an account without cluster privileges: an admin runs `voc es setup`


@dataclass(frozen=True)
class KibanaSettings:
    url: str


@dataclass(frozen=True)
class NlpSettings:
    model_path: Path | None  # None: the model shipped in nlp/model/
    batch_size: int
    device: str
    taxonomy: Path | None  # None: the shipped nlp/taxonomy.toml
    dedup_window_hours: float


@dataclass(frozen=True)
class AlertsSettings:
    interval_minutes: int
    realert_hours: float
    recovery: bool  # send a notice when a key that alerted is back to normal
    digest: bool  # a daily summary under `voc run`
    digest_time: str  # HH:MM in the display timezone; the digest covers the day before
    rules: tuple[Mapping[str, Any], ...]  # each has name and type; alerts.build_rule validates the rest


@dataclass(frozen=True)
class NotifySettings:
    outbox: Path
    smtp_host: str  # "" means outbox only
    smtp_port: int
    smtp_from: str
    smtp_user: str
    smtp_security: str
    smtp_timeout: float  # seconds per SMTP command: a slow server must answer before a retry
    recipients: Mapping[str, tuple[str, ...]]  # every severity present, possibly ()
    webhooks: Mapping[str, str]  # dingtalk / wecom URL, "" when unused
    webhook_severities: tuple[str, ...]  # which alert tiers the chat robots get
    webhook_timeout: float
    operators: tuple[str, ...]  # who hears that a source went silent or is blocked ("" = recipients)
    digest_recipients: tuple[str, ...]  # () = everyone in recipients


@dataclass(frozen=True)
class PrivacySettings:
    # Whether the store keeps comment text as written (true) or with phone, ID and card numbers
    # masked (false). Everything that leaves the store (messages, console, CLI) is masked either way.
    keep_original: bool


_SECTIONS = {"app": AppSettings, "bank": BankSettings, "store": StoreSettings,
             "elasticsearch": ElasticsearchSettings, "kibana": KibanaSettings, "nlp": NlpSettings,
             "alerts": AlertsSettings, "notify": NotifySettings, "privacy": PrivacySettings}


@dataclass(frozen=True)
class Settings:
    app: AppSettings
    bank: BankSettings
    store: StoreSettings
    elasticsearch: ElasticsearchSettings
    kibana: KibanaSettings
    nlp: NlpSettings
    crawl: Mapping[str, Mapping[str, Any]]  # spider name -> its options (validated by the spider)
    alerts: AlertsSettings
    notify: NotifySettings
    privacy: PrivacySettings
    secrets: Secrets
    source_path: Path

    @property
    def display_tz(self) -> ZoneInfo:
        return ZoneInfo(self.app.timezone)

    def pseudonym_salt(self) -> str:
        """VOC_PSEUDONYM_SALT as read at load time, else the salt kept under [app] var_dir."""
        return self.secrets.pseudonym_salt or pseudonym_salt(self.app.var_dir, env={})

    def describe(self) -> dict[str, Any]:
        """Plain nested dict of the effective settings, safe to print: secrets show only
        whether they are set, and webhook URLs lose their query (it may carry a token)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "secrets"}
        out["notify"]["webhooks"] = {name: _mask_query(url) for name, url in self.notify.webhooks.items()}
        out["secrets"] = {name: "set" if on else "unset" for name, on in self.secrets.is_set().items()}
        return out


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, override from `env` (default: os.environ) and validate the settings once."""
    env = dict(os.environ) if env is None else env
    file = locate(path, env)
    origin = Origin(file)
    raw = read_settings(file)
    refuse_secrets(raw, "", origin)
    apply_overrides(raw, env, origin)
    unknown = [name for name in raw if name not in _SECTIONS and name != "crawl"]
    if unknown:
        origin.fail(unknown[0], f"unknown section{suggest(unknown[0], [*_SECTIONS, 'crawl'])}")
    sections = {name: cls(**_section(name, raw.get(name, {}), origin)) for name, cls in _SECTIONS.items()}
    return Settings(**sections, crawl=_crawl(raw.get("crawl", {}), origin),
                    secrets=Secrets.from_env(env), source_path=file)


def _section(name: str, table: Any, origin: Origin) -> dict[str, Any]:
    if not isinstance(table, dict):
        origin.fail(name, f"must be a table ([{name}]), got {_kind(table)}")
    spec = SCHEMA[name]
    for key in table:
        if key not in spec:
            origin.fail(f"{name}.{key}", f"unknown key{suggest(key, spec)}")
    return {key: _value(f"{name}.{key}", rule, table.get(key, rule.default), origin)
            for key, rule in spec.items()}


def _value(key: str, rule: Key, value: Any, origin: Origin) -> Any:
    special = {"rules": _rules, "recipients": _recipients, "webhooks": _webhooks}.get(rule.kind)
    if special:
        return special(key, value, origin)
    if rule.kind in ("str", "path", "opt_path") and not isinstance(value, str) and key in origin.env_text:
        value = origin.env_text[key]  # VOC_BANK__NAME=123 is a name, not a number
    converted = _convert(rule.kind, value)
    if converted is _WRONG:
        origin.fail(key, f"must be {_EXPECTED[rule.kind]}, got {_kind(value)} {value!r}")
    problem = check_value(rule, converted)
    if problem:
        origin.fail(key, problem)
    return converted


_WRONG = object()
_EXPECTED = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
             "strs": "an array of strings", "path": "a non-empty path string",
             "opt_path": 'a path string ("" for the default)'}


def _convert(kind: str, value: Any) -> Any:
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "strs" and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind == "path" and isinstance(value, str) and value.strip():
        return resolve_path(value)
    if kind == "opt_path" and isinstance(value, str):
        return resolve_path(value) if value.strip() else None
    return _WRONG


def _rules(key: str, value: Any, origin: Origin) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        origin.fail(key, f"must be an array of tables ([[alerts.rules]]), got {_kind(value)}")
    names: set[str] = set()
    for index, table in enumerate(value):
        where = f"{key}[{index}]"
        for required in ("name", "type"):
            if not isinstance(table.get(required), str) or not table[required].strip():
                origin.fail(f"{where}.{required}", "is required and must be a non-empty string")
        if table["name"] in names:
            origin.fail(f"{where}.name", f"duplicate rule name {table['name']!r}")
        names.add(table["name"])
        if "severity" in table and table["severity"] not in SEVERITIES:
            origin.fail(f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}, "
                                             f"got {table['severity']!r}")
    return tuple(_freeze(table) for table in value)


def _recipients(key: str, value: Any, origin: Origin) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        origin.fail(key, f"must be a table of severity = [addresses], got {_kind(value)}")
    out = {severity: () for severity in SEVERITIES}
    for severity, addresses in value.items():
        if severity not in SEVERITIES:
            origin.fail(f"{key}.{severity}", f"unknown severity{suggest(severity, SEVERITIES)}")
        out[severity] = _value(f"{key}.{severity}", Key("strs", (), "addresses"), addresses, origin)
    return MappingProxyType(out)


def _webhooks(key: str, value: Any, origin: Origin) -> Mapping[str, str]:
    if not isinstance(value, dict):
        origin.fail(key, f"must be a table of name = URL, got {_kind(value)}")
    out = dict.fromkeys(WEBHOOKS, "")
    for name, url in value.items():
        if name not in WEBHOOKS:
            origin.fail(f"{key}.{name}", f"unknown webhook{suggest(name, WEBHOOKS)}")
        out[name] = _value(f"{key}.{name}", Key("str", "", "url_or_empty"), url, origin)
    return MappingProxyType(out)


def _crawl(value: Any, origin: Origin) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, dict):
        origin.fail("crawl", f"must be a table of spider tables such as [crawl.appstore], got {_kind(value)}")
    for name, options in value.items():
        if not isinstance(options, dict):
            origin.fail(f"crawl.{name}", f"must be a table ([crawl.{name}]) of that spider's options, "
                                         f"got {_kind(options)}")
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def _kind(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _mask_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="***")) if parts.query else url
