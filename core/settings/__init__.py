"""Settings: settings.toml plus VOC_* environment overrides, read once and validated against the
schema (`core.settings.schema`, pydantic models: every key's type, default, check and meaning).

    settings = load_settings()            # ./settings.toml, else the one shipped at the repo root
    settings.store.backend, settings.notify.recipients["critical"], settings.display_tz

`VOC_SETTINGS=path` picks another file. `VOC_<SECTION>__<KEY>=value` overrides one key (nested
tables join with `__`: `VOC_CRAWL__APPSTORE__DELAY=2`); the value is read as a TOML literal when it
parses (`5`, `true`, `["a"]`) and as a plain string otherwise. Arrays of tables (`[[alerts.rules]]`)
cannot be overridden. Secrets never come from the file: `Settings.secrets` reads them from the
environment (`core.settings.secrets`).

Everything is validated at start-up: an unknown key, a wrong type or a bad value raises
`ConfigError` naming the key and the file (or the environment variable it came from). Relative
paths resolve against the working directory. Loading makes `[app] timezone` the process's display
timezone (`core.record.display_tz()`), which every window, digest and shown time follows.
Functions take the typed section they read (`StoreSettings`, `NotifySettings`, ...), or `Settings`
when they wire several.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.record import use_display_tz
from core.settings.schema import (
    SECTIONS,
    AlertsSettings,
    AppSettings,
    BankSettings,
    CasesSettings,
    ElasticsearchSettings,
    KeyProblem,
    KibanaSettings,
    NlpSettings,
    NotifySettings,
    PrivacySettings,
    SatisfactionSettings,
    StoreSettings,
    WebSettings,
    freeze,
    kind_of,
    suggest,
)
from core.settings.secrets import Secrets, pseudonym_salt
from core.settings.source import (
    SHIPPED_SETTINGS,
    Origin,
    apply_overrides,
    locate,
    read_settings,
    refuse_secrets,
)

__all__ = ["AlertsSettings", "AppSettings", "BankSettings", "CasesSettings", "ConfigError",
           "ElasticsearchSettings", "KibanaSettings", "NlpSettings", "NotifySettings", "PrivacySettings",
           "SHIPPED_SETTINGS", "Secrets", "Settings", "StoreSettings", "WebSettings", "load_settings",
           "pseudonym_salt"]


@dataclass(frozen=True)
class Settings:
    app: AppSettings
    bank: BankSettings
    store: StoreSettings
    elasticsearch: ElasticsearchSettings
    kibana: KibanaSettings
    web: WebSettings
    nlp: NlpSettings
    crawl: Mapping[str, Mapping[str, Any]]  # spider name -> its options (validated by the spider)
    alerts: AlertsSettings
    notify: NotifySettings
    privacy: PrivacySettings
    cases: CasesSettings
    satisfaction: SatisfactionSettings
    secrets: Secrets
    source_path: Path

    @property
    def display_tz(self) -> ZoneInfo:
        return ZoneInfo(self.app.timezone)

    def pseudonym_salt(self) -> str:
        """VOC_PSEUDONYM_SALT as read at load time, else the salt kept under [app] var_dir."""
        return self.secrets.value("pseudonym_salt") or pseudonym_salt(self.app.var_dir, env={})

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
    apply_overrides(raw, env, origin, SECTIONS)
    unknown = [name for name in raw if name not in SECTIONS and name != "crawl"]
    if unknown:
        origin.fail(unknown[0], f"unknown section{suggest(unknown[0], [*SECTIONS, 'crawl'])}")
    sections = {name: _section(name, model, raw.get(name, {}), origin) for name, model in SECTIONS.items()}
    use_display_tz(sections["app"].timezone)  # type: ignore[attr-defined]  # AppSettings
    return Settings(**sections, crawl=_crawl(raw.get("crawl", {}), origin),  # type: ignore[arg-type]
                    secrets=Secrets.from_env(env), source_path=file)


def _section(name: str, model: type[BaseModel], table: Any, origin: Origin) -> BaseModel:
    if not isinstance(table, dict):
        origin.fail(name, f"must be a table ([{name}]), got {kind_of(table)}")
    for key, rule in model.model_fields.items():
        # VOC_BANK__NAME=123 is a name, not a number: a string key keeps the variable's text
        text = origin.env_text.get(f"{name}.{key}")
        if rule.annotation is str and text is not None and not isinstance(table.get(key), str):
            table[key] = text
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        key, problem = _first_problem(name, model, exc)
        origin.fail(key, problem)


_TYPE_ERRORS = {"int_type": "an integer", "int_from_float": "an integer", "string_type": "a string",
                "bool_type": "true or false", "float_type": "a number"}


def _first_problem(name: str, model: type[BaseModel], exc: ValidationError) -> tuple[str, str]:
    """The dotted key and the one-line problem of the first error pydantic found."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    key = f"{name}.{field}" if field else name
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyProblem):
        return key + cause.subkey, cause.message
    if error["type"] == "extra_forbidden":
        return key, f"unknown key{suggest(field, model.model_fields)}"
    value = error.get("input")
    if error["type"] in _TYPE_ERRORS:
        return key, f"must be {_TYPE_ERRORS[error['type']]}, got {kind_of(value)} {value!r}"
    return key, str(cause) if cause else error["msg"]


def _crawl(value: Any, origin: Origin) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, dict):
        origin.fail("crawl", "must be a table of spider tables such as [crawl.appstore], "
                             f"got {kind_of(value)}")
    for name, options in value.items():
        if not isinstance(options, dict):
            origin.fail(f"crawl.{name}", f"must be a table ([crawl.{name}]) of that spider's options, "
                                         f"got {kind_of(options)}")
    return freeze(value)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
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
