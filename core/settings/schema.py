"""The settings schema: every section and key, its type, default, check and meaning, in one place.

Each section is a frozen pydantic model; `load_settings` validates the parsed settings.toml (plus
`VOC_*` overrides) against them, in strict mode: `"64"` is not an integer, `true` is not a number.
The default of a key lives only here (a key left out of the file means its default); its
description is what the README's settings table prints (`python -m core.settings.doc`), and a test
checks that the shipped settings.toml sets every key to its default (bar the keys marked `example`:
values that show how to fill in a deployment's own, such as the bank's name).

Free-form parts are validated by their owners: `[crawl.<spider>]` options by the spider, rule
options in `[[alerts.rules]]` by the rule type. Names that come from a registry (store backends,
rule types, webhook robots) are read from `core.registry`, never copied here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator

from core.record import SEVERITIES
from core.registry import registry
from core.settings.secrets import secret_hint
from core.settings.source import resolve_path

__all__ = ["SECTIONS", "SEVERITIES", "SMTP_SECURITY", "KeyProblem", "freeze", "kind_of", "secret_hint",
           "suggest"]

SMTP_SECURITY = ("starttls", "ssl", "none")


class KeyProblem(ValueError):
    """What is wrong with a value; `subkey` names the part inside it (`urgent` in
    `notify.recipients.urgent`, `[1].name` in `alerts.rules[1].name`)."""

    def __init__(self, message: str, subkey: str = "") -> None:
        super().__init__(message)
        self.message, self.subkey = message, subkey


def kind_of(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table",
             tuple: "array"}
    return names.get(type(value), type(value).__name__)


# -- value types -------------------------------------------------------------------------------

def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise KeyProblem(f"must be an array of strings, got {kind_of(value)} {value!r}")


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return resolve_path(str(value))
    if isinstance(value, str) and value.strip():
        return resolve_path(value)
    raise KeyProblem(f"must be a non-empty path string, got {kind_of(value)} {value!r}")


def _optional_path(value: Any) -> Path | None:
    if value is None:
        return None
    if isinstance(value, Path):
        return resolve_path(str(value))
    if isinstance(value, str):
        return resolve_path(value) if value.strip() else None
    raise KeyProblem(f'must be a path string ("" for the default), got {kind_of(value)} {value!r}')


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise KeyProblem(f"must be a number, got {kind_of(value)} {value!r}")


def _check(test: Any) -> AfterValidator:
    """An AfterValidator from a function returning a problem (str) or None."""
    def run(value: Any) -> Any:
        problem = test(value)
        if problem:
            raise KeyProblem(problem)
        return value
    return AfterValidator(run)


def _one_of(choices: Iterable[str]) -> AfterValidator:
    return _check(lambda value: _not_in(value, tuple(choices)))


def _not_in(value: str, choices: tuple[str, ...]) -> str | None:
    return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"


def _registered(kind: str) -> AfterValidator:
    return _check(lambda value: _not_in(value, registry(kind).names()))


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
    return None


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be an http(s) URL, got {value!r}"
    if parts.password is not None:
        return "must not carry a password: credentials come from environment variables (VOC_ES_PASSWORD, ...)"
    return None


LIFETIME = re.compile(r"(\d+(?:\.\d+)?)\s*(m|h|d)")
LIFETIME_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0}


def lifetime_seconds(value: str) -> float:
    """"8h" -> 28800.0 (a `session_lifetime` the schema accepted)."""
    found = LIFETIME.fullmatch(value.strip())
    if found is None:
        raise ValueError(f"not a duration such as 30m, 8h or 7d: {value!r}")
    return float(found.group(1)) * LIFETIME_UNITS[found.group(2)]


def _lifetime(value: str) -> str | None:
    try:
        seconds = lifetime_seconds(value)
    except ValueError as exc:
        return str(exc)
    return None if seconds > 0 else f"must be longer than 0, got {value!r}"


def _address(value: str) -> str | None:
    _, address = parseaddr(value)
    return None if re.fullmatch(r"[^@\s]+@[^@\s]+", address) else f"must be an email address, got {value!r}"


def _first(problems: Iterable[str | None]) -> str | None:
    return next(filter(None, problems), None)


def _regex(pattern: str, problem: str) -> AfterValidator:
    return _check(lambda value: None if re.fullmatch(pattern, value) else f"{problem}, got {value!r}")


Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
PathValue = Annotated[Path, BeforeValidator(_path)]
OptionalPath = Annotated[Path | None, BeforeValidator(_optional_path)]
Number = Annotated[float, BeforeValidator(_number)]
Positive = _check(lambda value: None if value > 0 else f"must be greater than 0, got {value!r}")
NotNegative = _check(lambda value: None if value >= 0 else f"must be 0 or more, got {value!r}")
Url = _check(lambda value: _url(value) if value else None)
Addresses = _check(lambda value: _first(_address(v) for v in value))
Severities = _check(lambda value: _first(f"unknown severity {v!r}; use {', '.join(SEVERITIES)}"
                                         for v in value if v not in SEVERITIES))


def _key(default: Any, description: str, *, example: bool = False, names: str = "") -> Any:
    """A key's default and meaning; `example` marks a shipped value that a deployment replaces;
    `names` the registry its values (or its table's keys) come from, listed in the README table.
    A callable default is a factory (made anew per load: registries may have grown)."""
    extra: dict[str, Any] = {"example": example, "registry": names}
    if callable(default):
        return Field(default_factory=default, description=description, json_schema_extra=extra)
    return Field(default=default, description=description, json_schema_extra=extra)


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, validate_default=True)


# -- the sections --------------------------------------------------------------------------------

class AppSettings(Section):
    """[app]"""

    timezone: Annotated[str, _check(_timezone)] = _key(
        "Asia/Shanghai", "display time zone and day buckets (alert windows, digests); naive times mean it")
    var_dir: PathValue = _key("var", "working state: pseudonym salt, spool, logs (git-ignored)")


class BankSettings(Section):
    """[bank]"""

    name: str = _key("", "our bank: its mentions are tagged ours=true", example=True)
    aliases: Strings = _key((), "other ways customers write our bank's name", example=True)


class StoreSettings(Section):
    """[store]"""

    backend: Annotated[str, _registered("store backend")] = _key(
        "sqlite", "where records are kept: the embedded SQLite file, or a cluster (then see "
                  "[elasticsearch])", names="store backend")
    path: PathValue = _key("var/voc.db", "the SQLite file (backend = sqlite)")


class ElasticsearchSettings(Section):
    """[elasticsearch]"""

    hosts: Annotated[Strings, _check(lambda value: "must list at least one URL" if not value
                                     else _first(_url(v) for v in value))] = _key(
        ("http://localhost:9200",), "cluster URLs, without credentials (VOC_ES_API_KEY / VOC_ES_PASSWORD)")
    ca_certs: OptionalPath = _key("", 'CA bundle for https hosts; "" = the system trust store')
    index_prefix: Annotated[str, _regex(r"[a-z0-9][a-z0-9_-]*", "must be an index name (lowercase "
                                        "letters, digits, - or _)")] = _key(
        "voc", "indices <prefix>-feedback-YYYY.MM behind the alias <prefix>-feedback")
    username: str = _key("elastic", "user for VOC_ES_PASSWORD when no VOC_ES_API_KEY is set")
    auto_setup: bool = _key(True, "create templates and alias on first use; false for an account with "
                                  "index privileges only (an admin runs `voc es setup` once)")


class KibanaSettings(Section):
    """[kibana]"""

    url: Annotated[str, Url] = _key("http://localhost:5601",
                                    'alert emails link to Discover here; "" = no links')


class WebSettings(Section):
    """[web]"""

    host: str = _key("127.0.0.1", "the console listens here (`voc web`); 0.0.0.0 only behind the "
                                  "bank's proxy or firewall")
    port: Annotated[int, _check(lambda v: None if 0 < v < 65536 else
                                f"must be a TCP port (1-65535), got {v!r}")] = _key(8080, "console port")
    url: Annotated[str, Url] = _key(
        "", 'the web console\'s base URL: alert messages link to its incident pages and 有用 / 误报 '
            'feedback; "" = no console links (Kibana on Elasticsearch, else the voc search command)')
    session_lifetime: Annotated[str, _check(_lifetime)] = _key(
        "8h", "a login lasts this long: minutes, hours or days, e.g. 30m, 8h, 7d")
    https: bool = _key(False, "the console is reached over https (the session cookie is then Secure)")
    trusted_user_header: str = _key(
        "", 'a header set by the bank\'s SSO proxy naming the logged-in user (e.g. X-Remote-User); '
            '"" = off. Risky: whoever reaches the console without that proxy can send it')
    login_attempts: Annotated[int, Positive] = _key(
        5, "failed logins per user (and 4x that per address) in 15 minutes before logins wait")


class NlpSettings(Section):
    """[nlp]"""

    model_path: OptionalPath = _key("", 'sentiment model directory; "" = the model shipped in nlp/model/')
    batch_size: Annotated[int, Positive] = _key(64, "texts per model call")
    device: Annotated[str, _regex(r"cpu|mps|cuda(:\d+)?", "must be cpu, cuda, cuda:N or mps")] = _key(
        "cpu", "cpu, cuda, cuda:N or mps")
    taxonomy: OptionalPath = _key("", 'topics and risk terms; "" = the shipped nlp/taxonomy.toml')
    dedup_window_hours: Annotated[Number, Positive] = _key(
        72.0, "near-duplicates are looked for within this many hours")


def _rules(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, Mapping) for item in value):
        raise KeyProblem(f"must be an array of tables ([[alerts.rules]]), got {kind_of(value)}")
    names: set[str] = set()
    for index, table in enumerate(value):
        for required in ("name", "type"):
            if not isinstance(table.get(required), str) or not table[required].strip():
                raise KeyProblem("is required and must be a non-empty string", f"[{index}].{required}")
        if table["name"] in names:
            raise KeyProblem(f"duplicate rule name {table['name']!r}", f"[{index}].name")
        names.add(table["name"])
        if "severity" in table and table["severity"] not in SEVERITIES:
            raise KeyProblem(f"must be one of {', '.join(SEVERITIES)}, got {table['severity']!r}",
                             f"[{index}].severity")
    types = registry("rule type")
    for index, table in enumerate(value):
        if types.names() and table["type"] not in types.names():
            raise KeyProblem(f"unknown rule type {table['type']!r}{suggest(table['type'], types.names())}",
                             f"[{index}].type")
    return tuple(freeze(table) for table in value)


class AlertsSettings(Section):
    """[alerts]"""

    interval_minutes: Annotated[int, Positive] = _key(5, "how often the rules run under `voc run`")
    realert_hours: Annotated[Number, NotNegative] = _key(
        6.0, "the same rule and group alert again only after this long (unless the count doubles)")
    recovery: bool = _key(True, 'send a "back to normal" notice when a group that alerted calms down')
    digest: bool = _key(True, "a daily summary under `voc run` (also `voc alerts digest`)")
    digest_time: Annotated[str, _regex(r"([01]\d|2[0-3]):[0-5]\d", "must be a time of day HH:MM "
                                       "(display timezone)")] = _key(
        "09:00", "when the digest goes out ([app] timezone); it covers the day before")
    rules: Annotated[tuple[Mapping[str, Any], ...], PlainValidator(_rules)] = _key(
        (), "[[alerts.rules]]: each has name and type; the rule type validates its other options",
        example=True, names="rule type")


def _recipients(value: Any) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise KeyProblem(f"must be a table of severity = [addresses], got {kind_of(value)}")
    out: dict[str, tuple[str, ...]] = {severity: () for severity in SEVERITIES}
    for severity, addresses in value.items():
        if severity not in SEVERITIES:
            raise KeyProblem(f"unknown severity{suggest(severity, SEVERITIES)}", f".{severity}")
        try:
            out[severity] = _strings(addresses)
        except KeyProblem as exc:
            raise KeyProblem(exc.message, f".{severity}") from None
        problem = _first(_address(a) for a in out[severity])
        if problem:
            raise KeyProblem(problem, f".{severity}")
    return MappingProxyType(out)


def _webhooks(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise KeyProblem(f"must be a table of name = URL, got {kind_of(value)}")
    known = registry("webhook").names()
    out = dict.fromkeys(known, "")
    for name, url in value.items():
        if name not in known:
            raise KeyProblem(f"unknown webhook{suggest(name, known)}", f".{name}")
        if not isinstance(url, str):
            raise KeyProblem(f"must be a string, got {kind_of(url)} {url!r}", f".{name}")
        problem = _url(url) if url else None
        if problem:
            raise KeyProblem(problem, f".{name}")
        out[name] = url
    return MappingProxyType(out)


class NotifySettings(Section):
    """[notify]"""

    outbox: PathValue = _key("var/outbox", "every alert is also written here as an .eml file")
    smtp_host: str = _key("", '"" = outbox only; the password comes from VOC_SMTP_PASSWORD')
    smtp_port: Annotated[int, _check(lambda v: None if 0 < v < 65536 else
                                     f"must be a TCP port (1-65535), got {v!r}")] = _key(587, "SMTP port")
    smtp_from: Annotated[str, _check(lambda v: _address(v) if v else None)] = _key(
        "voc-monitor@localhost", "the From address of alert emails")
    smtp_user: str = _key("", 'SMTP login; "" = no login')
    smtp_security: Annotated[str, _one_of(SMTP_SECURITY)] = _key("starttls", "starttls, ssl or none")
    smtp_timeout: Annotated[Number, Positive] = _key(
        30.0, "seconds per SMTP command; a slower server is retried later (at least once, see README)")
    recipients: Annotated[Mapping[str, tuple[str, ...]], PlainValidator(_recipients)] = _key(
        lambda: _recipients({}), "who gets alerts of each severity", example=True)
    webhooks: Annotated[Mapping[str, str], PlainValidator(_webhooks)] = _key(
        lambda: _webhooks({}), 'chat robots, name = URL; "" = off; signing secret and key come from '
                               "the environment", names="webhook")
    webhook_severities: Annotated[Strings, Severities] = _key(
        ("warning", "critical"), "which alert severities the chat robots get")
    webhook_timeout: Annotated[Number, Positive] = _key(10.0, "seconds per robot request")
    operators: Annotated[Strings, Addresses] = _key(
        (), "who hears that a source went silent or is blocked ([] = by severity)")
    digest_recipients: Annotated[Strings, Addresses] = _key(
        (), "who gets the daily digest ([] = everyone in recipients)")


class PrivacySettings(Section):
    """[privacy]"""

    keep_original: bool = _key(True, "the store keeps comments as written; false = phone, ID and card "
                                     "numbers masked before storing (output is masked either way)")


def _spans(value: tuple[str, ...]) -> str | None:
    """A problem with `[cases] working_hours` ("09:00-12:00", "13:00-17:00"), or None."""
    if not value:
        return 'must give at least one span such as "09:00-17:00"'
    clock = r"([01]\d|2[0-3]):[0-5]\d"
    spans = [span.strip() for span in value]
    for span in spans:
        if not re.fullmatch(f"{clock}-{clock}", span):
            return f'must be spans of the day such as "09:00-12:00", got {span!r}'
        if span.split("-")[1] <= span.split("-")[0]:
            return f"span {span!r} ends before it starts"
    for a, b in zip(spans, spans[1:], strict=False):
        if b.split("-")[0] < a.split("-")[1]:
            return f"spans must be in order and not overlap: {a!r} then {b!r}"
    return None


def _sla_hours(value: Any) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise KeyProblem(f"must be a table of severity = working hours, got {kind_of(value)}")
    out = {"info": 40.0, "warning": 16.0, "critical": 4.0}
    for severity, hours in value.items():
        if severity not in SEVERITIES:
            raise KeyProblem(f"unknown severity{suggest(severity, SEVERITIES)}", f".{severity}")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
            raise KeyProblem(f"must be a number of working hours > 0, got {hours!r}", f".{severity}")
        out[severity] = float(hours)
    return MappingProxyType(out)


# What a `[[cases.routes]]` table may say: the record's side (any key left out matches every
# record; values in one list are OR-ed) and the team it goes to.
ROUTE_KEYS: dict[str, str] = {
    "name": "the route's name (shown on the case)",
    "topic": "topics (a topic matches its sub-topics)", "product": "product entities",
    "branch": "branch entities or the survey's branch segment", "source": "sources", "kind": "kinds",
    "risk": "lowest risk flag severity (info, warning, critical)", "flag": "risk flags",
    "rating_max": "a survey rating at or below this, on 1-5 (a 0-10 or 1-7 answer is put on 1-5 first)",
    "consent": "the respondent agreed to be contacted",
    "ours": "the record names our bank, or is our own survey answer or app review",
    "opens": "a matching record opens a case (true), or the route only names the team (false)",
    "team": "the team that owns the case (an opening route without one: the first team route "
            "matching, else default_team)",
    "severity": "the case's severity (default: the record's highest risk, else warning)",
}


def _routes(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, Mapping) for item in value):
        raise KeyProblem(f"must be an array of tables ([[cases.routes]]), got {kind_of(value)}")
    out = []
    for index, table in enumerate(value):
        where = f"[{index}]"
        for key, item in table.items():
            if key not in ROUTE_KEYS:
                raise KeyProblem(f"unknown key{suggest(key, ROUTE_KEYS)}", f"{where}.{key}")
            if key in ("topic", "product", "branch", "source", "kind", "flag"):
                try:
                    _strings(item)
                except KeyProblem as exc:
                    raise KeyProblem(exc.message, f"{where}.{key}") from None
            elif key in ("risk", "severity") and item not in SEVERITIES:
                raise KeyProblem(f"must be one of {', '.join(SEVERITIES)}, got {item!r}", f"{where}.{key}")
            elif key == "rating_max" and (isinstance(item, bool) or not isinstance(item, int | float)):
                raise KeyProblem(f"must be a number, got {kind_of(item)} {item!r}", f"{where}.{key}")
            elif key in ("consent", "opens", "ours") and not isinstance(item, bool):
                raise KeyProblem(f"must be true or false, got {kind_of(item)} {item!r}", f"{where}.{key}")
            elif key in ("name", "team") and (not isinstance(item, str) or not item.strip()):
                raise KeyProblem("must be a non-empty string", f"{where}.{key}")
        if "team" not in table and not table.get("opens"):
            raise KeyProblem("is required unless opens = true: the team that owns the case", f"{where}.team")
        out.append(freeze({"name": f"route{index + 1}", "opens": False, **table}))
    return tuple(out)


def _teams(value: Any) -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    if not isinstance(value, Mapping):
        raise KeyProblem(f"must be a table of team tables ([cases.teams.NAME]), got {kind_of(value)}")
    out: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for team, table in value.items():
        if not isinstance(table, Mapping):
            raise KeyProblem(f"must be a table with lead = [addresses], got {kind_of(table)}", f".{team}")
        unknown = [k for k in table if k not in ("lead",)]
        if unknown:
            raise KeyProblem(f"unknown key{suggest(unknown[0], ['lead'])}", f".{team}.{unknown[0]}")
        try:
            lead = _strings(table.get("lead", ()))
        except KeyProblem as exc:
            raise KeyProblem(exc.message, f".{team}.lead") from None
        problem = _first(_address(a) for a in lead)
        if problem:
            raise KeyProblem(problem, f".{team}.lead")
        out[team] = MappingProxyType({"lead": lead})
    return MappingProxyType(out)


class CasesSettings(Section):
    """[cases]"""

    sla_hours: Annotated[Mapping[str, float], PlainValidator(_sla_hours)] = _key(
        lambda: _sla_hours({}), "working hours from opening to the deadline, per case severity "
                                "(info 40, warning 16, critical 4)")
    working_hours: Annotated[Strings, _check(_spans)] = _key(
        ("09:00-12:00", "13:00-17:00"), "the working hours of a working day ([app] timezone); "
        "working days, public holidays and make-up days come from chinesecalendar")
    default_team: str = _key("客服中心", "the team of a case no route names")
    resolution_codes: Annotated[Strings, _check(lambda v: None if v else "must list a code")] = _key(
        ("fixed", "explained", "compensated", "duplicate", "no_action", "unreachable"),
        "the resolution codes a case may close with")
    lookback: Annotated[str, _regex(r"\d+(\.\d+)?\s*(m|h|d)", "must be a duration such as 6h or 1d")] = _key(
        "6h", "records routed each run look back this far (a record late by this much still opens its case)")
    routes: Annotated[tuple[Mapping[str, Any], ...], PlainValidator(_routes)] = _key(
        (), "[[cases.routes]]: records matching topic / product / branch / source / kind / risk / flag "
            "/ rating_max / consent go to team; opens = true also opens a case (first match wins)",
        example=True)
    teams: Annotated[Mapping[str, Mapping[str, tuple[str, ...]]], PlainValidator(_teams)] = _key(
        lambda: _teams({}), "[cases.teams.NAME]: lead = [addresses] hear of the team's overdue cases",
        example=True)


class SatisfactionSettings(Section):
    """[satisfaction]"""

    min_n: Annotated[int, Positive] = _key(
        30, "a group with fewer survey responses is flagged, not ranked (voc csat, drivers)")


SECTIONS: dict[str, type[Section]] = {
    "app": AppSettings, "bank": BankSettings, "store": StoreSettings,
    "elasticsearch": ElasticsearchSettings, "kibana": KibanaSettings, "web": WebSettings,
    "nlp": NlpSettings,
    "alerts": AlertsSettings, "notify": NotifySettings, "privacy": PrivacySettings,
    "cases": CasesSettings, "satisfaction": SatisfactionSettings}


def freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def suggest(key: str, known: Iterable[str]) -> str:
    """' (did you mean x?)' or ' (known: a, b, c)' for an error message."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    return f" {key!r} (did you mean {close[0]!r}?)" if close else f" {key!r} (known: {', '.join(known)})"
