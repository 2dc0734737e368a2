"""The rule registry and the one way to build rules from `[[alerts.rules]]` tables.

`RULE_TYPES` maps a settings `type` to its class; `build_rule(table)` validates one table and
`build_rules(tables)` all of them (names must be unique, because alert state and silences are
keyed by rule name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alerts.cluster_growth import ClusterGrowth
from alerts.emerging_term import EmergingTerm
from alerts.errors import RuleConfigError
from alerts.negative_share import NegativeShare
from alerts.negative_spike import NegativeSpike
from alerts.risk_term import RiskTerm
from alerts.rule import Rule
from alerts.source_silent import SourceSilent
from alerts.volume_spike import VolumeSpike
from core.registry import registry

# The `type` names of [[alerts.rules]]; the settings schema reads them from this registry.
RULE_TYPES = registry("rule type")
for _name, _rule in {"negative_spike": NegativeSpike, "negative_share": NegativeShare,
                     "risk_term": RiskTerm, "source_silent": SourceSilent,
                     "emerging_term": EmergingTerm, "cluster_growth": ClusterGrowth,
                     "volume_spike": VolumeSpike}.items():
    RULE_TYPES.add(_name, _rule)


def build_rule(table: Mapping[str, Any], label: str | None = None) -> Rule:
    """Build one rule from its settings table; RuleConfigError names the rule and the bad key."""
    rule = str(table.get("name") or label or "?")
    if "type" not in table:
        raise RuleConfigError(rule, "type", f"required; one of {sorted(RULE_TYPES.names())}")
    rule_type = table["type"]
    if rule_type not in RULE_TYPES:
        known = sorted(RULE_TYPES.names())
        raise RuleConfigError(rule, "type", f"unknown rule type {rule_type!r}; known: {known}")
    return RULE_TYPES[rule_type].from_table(table, label)


def build_rules(tables: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Build every rule; a rule without a name is labelled `#N` (its position) in errors."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        rule = build_rule(table, label=f"#{index}")
        if rule.name in seen:
            raise RuleConfigError(rule.name, "name", "duplicate rule name")
        seen.add(rule.name)
        rules.append(rule)
    return rules
