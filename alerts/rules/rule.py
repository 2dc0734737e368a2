"""The base of every rule type: options declared once, validated once, then `evaluate(store, now)`.

A rule type is a small class (ElastAlert's shape) that declares its `OPTIONS`, each an `Option` with a
type, an optional default (no default = required) and an optional check. `Rule.from_table(table)`
validates a `[[alerts.rules]]` table against them; an unknown key, a missing required key, a wrong
type or a failed check raises `RuleConfigError` naming the rule and the key. Subclasses read their
options from `self.options` after validation and implement `evaluate` (abstract).

`RULE_TYPES` is the registry of rule types: the one place their `type` names are listed. Each rule
module registers its class with `@register_rule` when it is imported (`alerts/rules/__init__.py`
imports them all); the settings schema reads the names through `core.registry("rule type")`, i.e.
`alerts.rules.rule_types()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from alerts.alert import Alert
from alerts.errors import RuleConfigError
from core.record import SEVERITIES
from core.registry import registry
from indexer.store import NONE_KEY, FeedbackStore, Filters

_REQUIRED = object()

# Alert group fields the store can filter on, and the `Filters` field each one narrows.
GROUP_FILTER_FIELDS = {"source": "sources", "kind": "kinds", "topic": "topics", "entity": "entities"}

# The `type` names of [[alerts.rules]], in registration order; the settings schema reads them.
RULE_TYPES = registry("rule type")


@dataclass(frozen=True)
class Option:
    """One rule option: `kind` is str, int, float, bool or list (of str); `check` converts or raises
    ValueError with a short reason (e.g. parse a duration); `help` is shown in error messages."""

    kind: type
    default: Any = _REQUIRED
    check: Callable[[Any], Any] | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def one_of(*allowed: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item not in allowed:
                raise ValueError(f"{item!r} is not one of {list(allowed)}")
        return value
    return check


def at_least(low: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value < low:
            raise ValueError(f"must be >= {low}, got {value}")
        return value
    return check


def between_open(low: float, high: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not low < value < high:
            raise ValueError(f"must be strictly between {low} and {high}, got {value}")
        return value
    return check


class Rule(ABC):
    """Base of all rule types. `name`, `type` and `severity` are common to every rule."""

    type_name: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Option]] = {}
    COMMON: ClassVar[dict[str, Option]] = {
        "name": Option(str, help="unique rule name, used in alert keys and silences"),
        "type": Option(str, help="rule type"),
        "severity": Option(str, "warning", one_of(*SEVERITIES), help="info | warning | critical"),
    }

    def __init__(self, name: str, severity: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.severity = severity
        self.options = dict(options)

    @classmethod
    def all_options(cls) -> dict[str, Option]:
        return {**cls.COMMON, **cls.OPTIONS}

    @classmethod
    def required_options(cls) -> frozenset[str]:
        return frozenset(key for key, opt in cls.all_options().items() if opt.required)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], label: str | None = None) -> Rule:
        """Validate a settings table and build the rule; errors name the rule and the key."""
        rule = str(table.get("name") or label or "?")
        spec = cls.all_options()
        for key in table:
            if key not in spec:
                raise RuleConfigError(rule, key, f"unknown option for type {cls.type_name!r}; "
                                                 f"known: {sorted(spec)}")
        values: dict[str, Any] = {}
        for key, opt in spec.items():
            if key not in table:
                if opt.required:
                    raise RuleConfigError(rule, key, f"required ({opt.help})" if opt.help else "required")
                values[key] = list(opt.default) if isinstance(opt.default, list) else opt.default
                if opt.check is not None and values[key] is not None:
                    values[key] = opt.check(values[key])
                continue
            values[key] = _validate(rule, key, opt, table[key])
        if not values["name"].strip():
            raise RuleConfigError(rule, "name", "must not be empty")
        name = values.pop("name")
        values.pop("type")
        severity = values.pop("severity")
        return cls(name, severity, values)

    # Whether a key that alerted gets a recovery notice once it no longer fires (a level that came
    # back down); rules that report events (risk_term, emerging_term) set this False.
    recovers: ClassVar[bool] = True
    # Whether a repeat for the same key inside the realert window is held back; rules whose every
    # alert carries only records never reported before (risk_term) set this False.
    suppress_repeats: ClassVar[bool] = True
    # Rules that keep a cursor in the store (risk_term) prepare it only when this is True; the
    # runner clears it for a dry run, which must write nothing.
    write_cursor: bool = True

    def quiet_period(self) -> timedelta:
        """How long a key must have been quiet after its last alert before it counts as recovered:
        the rule's window (the alerting window has then fully passed), else one hour."""
        window = self.options.get("window")
        return window if isinstance(window, timedelta) else timedelta(hours=1)

    def commit(self, store: FeedbackStore) -> None:
        """Write what the last `evaluate` decided to remember (risk_term's cursor). The runner calls
        it once every alert of that evaluation is in the send journal, so a failure in between
        finds the same records again instead of losing them; a dry run never calls it. Most rules
        keep nothing: the default writes nothing."""
        return None

    # Whether this rule's firings may share an incident with other rules' firings (alerts.incidents).
    # A source's crawl health is the operators' own matter: it is shown as coverage in the other
    # messages, never merged into a complaint incident.
    joins_incidents: ClassVar[bool] = True

    def evidence_query(self, alert: Alert) -> tuple[str, Filters] | None:
        """What `alert` counted, as a store search (query, filters): the rule's scope (`self.filters`
        where the rule has one) narrowed to the alert's window and group, copies included; a `term`
        group is the text query. None when the group cannot be expressed (a cluster): the alert's
        samples are then its evidence. Incidents group firings by the records these find."""
        if "cluster" in alert.group:
            return None
        scope = getattr(self, "filters", None)
        scope = scope if isinstance(scope, Filters) else Filters()
        narrowed: dict[str, Any] = {GROUP_FILTER_FIELDS[f]: (v,) for f, v in alert.group.items()
                    if f in GROUP_FILTER_FIELDS and v != NONE_KEY}
        filters = replace(scope, since=alert.window_start, until=alert.window_end,
                          distinct_clusters=False, **narrowed)
        return alert.group.get("term", ""), filters

    def key_fields(self) -> tuple[str, ...]:
        """The fields of this rule's alert keys, in order (`topic` for `topic=信用卡`; () for the one
        overall key ""): what a silence `RULE:KEY` must name."""
        return tuple(self.options.get("group_by", ()))

    @abstractmethod
    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        """Look at the store as of `now` (every window ends there) and return the alerts that fire."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, severity={self.severity!r})"


RuleType = TypeVar("RuleType", bound=type[Rule])


def register_rule(cls: RuleType) -> RuleType:
    """Class decorator: register a rule type under its `type_name` in `RULE_TYPES`."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name to register")
    RULE_TYPES.add(cls.type_name, cls)
    return cls


def _validate(rule: str, key: str, opt: Option, value: Any) -> Any:
    if opt.kind is list:
        # settings may hand arrays over as tuples (read-only); a bare string is a common slip
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise RuleConfigError(rule, key, f"expected a list of strings, got {value!r}")
        if not all(isinstance(item, str) for item in value):
            raise RuleConfigError(rule, key, f"expected a list of strings, got {value!r}")
        value = list(value)
    elif opt.kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleConfigError(rule, key, f"expected a number, got {value!r}")
        value = float(value)
    elif opt.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuleConfigError(rule, key, f"expected an integer, got {value!r}")
    elif not isinstance(value, opt.kind):
        raise RuleConfigError(rule, key, f"expected {opt.kind.__name__}, got {value!r}")
    if opt.check is not None:
        try:
            value = opt.check(value)
        except ValueError as exc:
            raise RuleConfigError(rule, key, str(exc)) from exc
    return value
