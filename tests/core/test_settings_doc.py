"""The README's settings table is the schema's: `python -m core.settings.doc` makes it, and this
test fails when the README's copy, the schema or the registries it lists drift apart."""

from __future__ import annotations

import pytest

from core.registry import registry
from core.settings.doc import README, readme_table, table
from core.settings.schema import SECTIONS


def test_readme_table_is_the_schemas() -> None:
    assert readme_table(README.read_text("utf-8")) == table(), (
        "README settings table is stale: run `python -m core.settings.doc --write`")


def test_every_schema_key_has_a_row_with_its_meaning() -> None:
    rows = table().splitlines()[2:]
    keys = [row.split("`")[1] for row in rows]
    assert keys == [f"{name}.{key}" for name, model in SECTIONS.items() for key in model.model_fields]
    assert all(row.rstrip("| ").split("|")[-1].strip() for row in rows)  # no empty meaning


def test_registry_names_come_from_the_packages_that_register_them() -> None:
    assert "sqlite" in registry("store backend").names()
    assert {"negative_spike", "risk_term"} <= set(registry("rule type").names())
    assert set(registry("webhook").names()) == {"wecom", "dingtalk"}
    assert "registered rule types: negative_spike" in table()


def test_a_registry_refuses_one_name_twice() -> None:
    kinds = registry("test kind")
    kinds.add("a", object)
    kinds.add("a", object)  # the same entry again is fine (a module imported twice)
    with pytest.raises(ValueError, match="registered twice"):
        kinds.add("a", int)
