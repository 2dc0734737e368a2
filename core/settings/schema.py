"""The settings schema: every known key, its type, its default and the check its value must pass.

`core.settings` walks this table to validate settings.toml; the defaults here are what a key means
when a settings file leaves it out (settings.toml at the repo root documents the same values).
Free-form parts (`[crawl.<spider>]` options, rule options in `[[alerts.rules]]`) are validated by
the spider or rule that reads them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.record import SEVERITIES
from core.settings.secrets import SECRET_ENV

__all__ = ["SCHEMA", "SEVERITIES", "BACKENDS", "SMTP_SECURITY", "WEBHOOKS", "Key", "check_value",
           "secret_hint", "suggest"]

BACKENDS = ("sqlite", "elasticsearch")
SMTP_SECURITY = ("starttls", "ssl", "none")
WEBHOOKS = ("dingtalk", "wecom")


@dataclass(frozen=True)
class Key:
    """kind: str | int | float | bool | strs | path | opt_path, or a special table
    (rules | recipients | webhooks); check: the name of a check in `check_value`, if any."""

    kind: str
    default: Any
    check: str | None = None


SCHEMA: dict[str, dict[str, Key]] = {
    "app": {"timezone": Key("str", "Asia/Shanghai", "timezone"), "var_dir": Key("path", "var")},
    "bank": {"name": Key("str", ""), "aliases": Key("strs", ())},
    "store": {"backend": Key("str", "sqlite", "backend"), "path": Key("path", "var/voc.db")},
    "elasticsearch": {
        "hosts": Key("strs", ("http://localhost:9200",), "urls"),
        "ca_certs": Key("opt_path", ""),
        "index_prefix": Key("str", "voc", "index_prefix"),
        "username": Key("str", "elastic"),
        "auto_setup": Key("bool", True),
    },
    "kibana": {"url": Key("str", "http://localhost:5601", "url_or_empty")},
    "nlp": {
        "model_path": Key("opt_path", ""),
        "batch_size": Key("int", 64, "positive"),
        "device": Key("str", "cpu", "device"),
        "taxonomy": Key("opt_path", ""),
        "dedup_window_hours": Key("float", 72.0, "positive"),
    },
    "alerts": {
        "interval_minutes": Key("int", 5, "positive"),
        "realert_hours": Key("float", 6.0, "not_negative"),
        "recovery": Key("bool", True),
        "digest": Key("bool", True),
        "digest_time": Key("str", "09:00", "clock"),
        "rules": Key("rules", []),
    },
    "privacy": {
        "keep_original": Key("bool", True),
    },
    "notify": {
        "outbox": Key("path", "var/outbox"),
        "smtp_host": Key("str", ""),
        "smtp_port": Key("int", 587, "port"),
        "smtp_from": Key("str", "voc-monitor@localhost", "address_or_empty"),
        "smtp_user": Key("str", ""),
        "smtp_security": Key("str", "starttls", "smtp_security"),
        "smtp_timeout": Key("float", 30.0, "positive"),
        "recipients": Key("recipients", {}),
        "webhooks": Key("webhooks", {}),
        "webhook_severities": Key("strs", ("warning", "critical"), "severities"),
        "webhook_timeout": Key("float", 10.0, "positive"),
        "operators": Key("strs", (), "addresses"),
        "digest_recipients": Key("strs", (), "addresses"),
    },
}


def check_value(key: Key, value: Any) -> str | None:
    """What is wrong with an already type-checked value, or None."""
    match key.check:
        case None:
            return None
        case "backend":
            return _one_of(value, BACKENDS)
        case "smtp_security":
            return _one_of(value, SMTP_SECURITY)
        case "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                return f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            return None
        case "positive":
            return None if value > 0 else f"must be greater than 0, got {value!r}"
        case "not_negative":
            return None if value >= 0 else f"must be 0 or more, got {value!r}"
        case "port":
            return None if 0 < value < 65536 else f"must be a TCP port (1-65535), got {value!r}"
        case "device":
            ok = re.fullmatch(r"cpu|mps|cuda(:\d+)?", value)
            return None if ok else f"must be cpu, cuda, cuda:N or mps, got {value!r}"
        case "index_prefix":
            ok = re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value)
            return None if ok else f"must be an index name (lowercase letters, digits, - or _), got {value!r}"
        case "urls":
            if not value:
                return "must list at least one URL"
            return next(filter(None, (_url(item) for item in value)), None)
        case "url_or_empty":
            return _url(value) if value else None
        case "address_or_empty":
            return _address(value) if value else None
        case "severities":
            bad = [item for item in value if item not in SEVERITIES]
            return f"unknown severity {bad[0]!r}; use {', '.join(SEVERITIES)}" if bad else None
        case "clock":
            ok = re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value)
            return None if ok else f"must be a time of day HH:MM (display timezone), got {value!r}"
        case "addresses":
            return next(filter(None, (_address(item) for item in value)), None)
    raise AssertionError(f"schema names an unknown check {key.check!r}")


def _one_of(value: str, choices: Iterable[str]) -> str | None:
    choices = tuple(choices)
    return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http(s) URL, got {value!r}"
    if parts.password is not None:
        return "must not carry a password: credentials come from environment variables (VOC_ES_PASSWORD, ...)"
    return None


def _address(value: str) -> str | None:
    _, address = parseaddr(value)
    ok = re.fullmatch(r"[^@\s]+@[^@\s]+", address)
    return None if ok else f"must be an email address, got {value!r}"


# A key whose name ends like one of these holds a secret, wherever it sits in the file.
_SECRET_SUFFIXES = {
    "password": "VOC_SMTP_PASSWORD or VOC_ES_PASSWORD",
    "passwd": "VOC_SMTP_PASSWORD or VOC_ES_PASSWORD",
    "api_key": "VOC_ES_API_KEY",
    "apikey": "VOC_ES_API_KEY",
    "cookie": "VOC_WEIBO_COOKIE or VOC_TOUSU_COOKIE",
    "cookies": "VOC_WEIBO_COOKIE or VOC_TOUSU_COOKIE",
    "secret": "VOC_DINGTALK_SECRET",
    "salt": "VOC_PSEUDONYM_SALT",
}


def secret_hint(key: str) -> str | None:
    """The environment variable(s) to use instead, when `key` names a secret; else None."""
    name = key.lower()
    if name in SECRET_ENV:
        return SECRET_ENV[name]
    return next((var for suffix, var in _SECRET_SUFFIXES.items() if name.endswith(suffix)), None)


def suggest(key: str, known: Iterable[str]) -> str:
    """' (did you mean x?)' or ' (known: a, b, c)' for an error message."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    return f" {key!r} (did you mean {close[0]!r}?)" if close else f" {key!r} (known: {', '.join(known)})"
