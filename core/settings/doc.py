"""The README's settings table, made from the schema: `python -m core.settings.doc` prints it, and a
test fails when the README's copy (between the `settings-table` markers) differs.

    python -m core.settings.doc            # the table (markdown)
    python -m core.settings.doc --write    # replace the table in README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.registry import registry
from core.settings.schema import SECTIONS


def extra(field: Any) -> dict[str, Any]:
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def _shown(value: Any) -> str:
    if isinstance(value, Path):
        return f'"{value}"'
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("collections.abc.", "")
    for word, shown in (("Mapping", "table"), ("tuple", "array"), ("Path", "path"), ("float", "number"),
                        ("int", "integer"), ("bool", "boolean"), ("str", "string")):
        if word in text:
            return shown
    return text


def table() -> str:
    """One row per key: the key, its type, its default and what it means."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            default = field.default_factory if field.default_factory is not None else field.default
            shown = "{}" if field.default_factory is not None else _shown(default)
            kind = "array of tables" if key in ("rules", "routes") else _type(field.annotation)
            meaning = field.description or ""
            names = extra(field).get("registry")
            if names:
                meaning += f" (registered {names}s: {', '.join(registry(names).names())})"
            meaning = meaning.replace("|", "\\|")
            rows.append(f"| `{name}.{key}` | {kind} | `{shown}` | {meaning} |")
    return "\n".join(rows) + "\n"


def readme_table(text: str) -> str:
    """The table between the markers in the README's text."""
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        text = README.read_text("utf-8")
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(f"{head}{START}\n{table()}{END}{tail}", "utf-8")
        return 0
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
