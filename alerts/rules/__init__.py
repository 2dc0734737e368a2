"""Rule types: what to notice in the store, one class per `type` of `[[alerts.rules]]`.

    rule.py            the `Rule` base (options declared once, validated once), `RULE_TYPES`
                       (the registry) and `@register_rule`
    negative_spike.py  negative records far above a seasonal baseline
    volume_spike.py    the same tests on all records of a group (讨论量)
    negative_share.py  the share of negatives far above the trailing share
    risk_term.py       records flagged at or above a risk severity since the last check
    source_silent.py   a source that normally yields records went quiet, or its crawl is blocked
    emerging_term.py   a term in negative comments far above its own share of the last days
    cluster_growth.py  one post's near-copies spreading (viral_post)
    case_overdue.py    a case (工单) past its SLA deadline, told once to its team's lead
    groups.py          group keys and scope options as store filters (rule-side helper)
    terms.py           candidate terms of a comment for emerging_term (rule-side helper)

Every rule module registers itself when imported; this package imports them all, so importing
`alerts.rules` (or `alerts`, which `core.registry` does for "rule type") fills the registry.
`build_rule(table)` validates one table and `build_rules(tables)` all of them (names must be unique,
because alert state and silences are keyed by rule name); `rule_types()` gives the registered names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alerts.errors import RuleConfigError
from alerts.rules.rule import RULE_TYPES, Rule

# isort: off
# Each import registers its rule type; this order is the order the names are listed in (settings docs).
from alerts.rules.negative_spike import NegativeSpike
from alerts.rules.negative_share import NegativeShare
from alerts.rules.risk_term import RiskTerm
from alerts.rules.source_silent import SourceSilent
from alerts.rules.emerging_term import EmergingTerm
from alerts.rules.cluster_growth import ClusterGrowth
from alerts.rules.volume_spike import VolumeSpike
from alerts.rules.case_overdue import CaseOverdue
# isort: on

__all__ = ["RULE_TYPES", "CaseOverdue", "ClusterGrowth", "EmergingTerm", "NegativeShare", "NegativeSpike",
           "RiskTerm", "Rule", "SourceSilent", "VolumeSpike", "build_rule", "build_rules", "rule_types"]


def rule_types() -> tuple[str, ...]:
    """The registered rule `type` names, in registration order (what the settings schema accepts)."""
    return RULE_TYPES.names()


def build_rule(table: Mapping[str, Any], label: str | None = None) -> Rule:
    """Build one rule from its settings table; RuleConfigError names the rule and the bad key."""
    rule = str(table.get("name") or label or "?")
    if "type" not in table:
        raise RuleConfigError(rule, "type", f"required; one of {sorted(RULE_TYPES.names())}")
    rule_type = table["type"]
    if rule_type not in RULE_TYPES:
        known = sorted(RULE_TYPES.names())
        raise RuleConfigError(rule, "type", f"unknown rule type {rule_type!r}; known: {known}")
    built: Rule = RULE_TYPES[rule_type].from_table(table, label)
    return built


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
