"""`build_rule` / `build_rules`: a settings table becomes a rule, or an error naming rule and key."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

import pytest

from alerts import RULE_TYPES, NegativeSpike, Rule, RuleConfigError, build_rule, build_rules, rule_types
from alerts.rules.rule import register_rule
from core.registry import registry


def test_defaults_fill_in():
    rule = build_rule({"name": "spike", "type": "negative_spike"})
    assert isinstance(rule, NegativeSpike)
    assert RULE_TYPES["negative_spike"] is NegativeSpike
    assert rule.name == "spike" and rule.severity == "warning"
    assert rule.window == timedelta(hours=1)
    assert rule.group_by == ()
    assert rule.options["baseline_weeks"] == 4 and rule.options["baseline_days"] == 7
    assert NegativeSpike.required_options() == {"name", "type"}


def test_read_only_settings_mapping_with_tuples():
    # core.settings hands rules over as read-only mappings whose arrays may be tuples
    table = MappingProxyType({"name": "t", "type": "negative_spike", "group_by": ("source", "topic"),
                              "window": "30m", "alpha": 0.05, "min_ratio": 3, "severity": "critical"})
    rule = build_rule(table)
    assert rule.group_by == ("source", "topic")
    assert rule.window == timedelta(minutes=30)
    assert rule.options["min_ratio"] == 3.0 and rule.severity == "critical"


@pytest.mark.parametrize("table,key,words", [
    ({"name": "a", "type": "negative_spike", "windw": "1h"}, "windw", "unknown option"),
    ({"name": "a", "type": "negative_spike", "window": "soon"}, "window", "not a duration"),
    ({"name": "a", "type": "negative_spike", "window": 60}, "window", "expected str"),
    ({"name": "a", "type": "negative_spike", "min_count": "10"}, "min_count", "expected an integer"),
    ({"name": "a", "type": "negative_spike", "min_count": True}, "min_count", "expected an integer"),
    ({"name": "a", "type": "negative_spike", "min_count": 0}, "min_count", ">= 1"),
    ({"name": "a", "type": "negative_spike", "alpha": 1.5}, "alpha", "between"),
    ({"name": "a", "type": "negative_spike", "group_by": "topic"}, "group_by", "list of strings"),
    ({"name": "a", "type": "negative_spike", "group_by": ["product"]}, "group_by", "'product'"),
    ({"name": "a", "type": "negative_spike", "severity": "urgent"}, "severity", "'urgent'"),
    ({"name": "a", "type": "negative_spike", "baseline_weeks": 0, "baseline_days": 0},
     "baseline_weeks", "both 0"),
    ({"name": "a", "type": "volume_surge"}, "type", "unknown rule type"),
    ({"name": "a"}, "type", "required"),
    ({"type": "negative_spike"}, "name", "required"),
])
def test_errors_name_rule_and_key(table, key, words):
    with pytest.raises(RuleConfigError) as info:
        build_rule(table)
    assert info.value.key == key
    assert info.value.rule == table.get("name", "?")
    assert f"[{info.value.rule}].{key}" in str(info.value)
    assert words in str(info.value)


def test_build_rules_labels_unnamed_and_rejects_duplicates():
    with pytest.raises(RuleConfigError, match=r"alerts.rules\[#1\].name: required"):
        build_rules([{"name": "a", "type": "negative_spike"}, {"type": "negative_spike"}])
    with pytest.raises(RuleConfigError, match=r"\[a\].name: duplicate"):
        build_rules([{"name": "a", "type": "negative_spike"}, {"name": "a", "type": "negative_spike"}])
    rules = build_rules([{"name": "a", "type": "negative_spike"},
                         {"name": "b", "type": "negative_spike", "group_by": ["topic"]}])
    assert [r.name for r in rules] == ["a", "b"]


def test_rule_types_come_from_the_registry_the_rules_fill():
    # each rule module registers itself on import (@register_rule); the settings schema reads these
    assert rule_types() == ("negative_spike", "negative_share", "risk_term", "source_silent",
                            "emerging_term", "cluster_growth", "volume_spike", "case_overdue",
                            "satisfaction_drop")
    assert registry("rule type").names() == rule_types()
    assert all(RULE_TYPES[name].type_name == name for name in rule_types())


def test_a_rule_type_must_implement_evaluate_and_have_a_name():
    with pytest.raises(TypeError, match="evaluate"):
        Rule("r", "warning", {})  # abstract

    class Nameless(Rule):
        def evaluate(self, store, now):
            return []

    with pytest.raises(ValueError, match="no type_name"):
        register_rule(Nameless)
    assert "" not in RULE_TYPES
