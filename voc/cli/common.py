"""What every `voc` sub-command module shares: the usage error, common flags, lazy handlers, the
settings, command-line times, the printers, the tables and the upsert tally. Imports nothing of the
other command modules.

Tables line up by display width, not by code points: a Chinese character takes two terminal
columns (`wcwidth`), so `pad("手机银行", 10)` adds two spaces where `"手机银行".ljust(10)` adds six.
Every table the commands print goes through `pad` / `table`:

    for line in table([("source", "count"), ("微博", 3), ("appstore", 12)], align="<>"):
        print(line)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from wcwidth import wcswidth, wcwidth


class UsageError(Exception):
    """A command-line value is wrong (exit 2)."""


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--sentiment", action="append", default=[],
                   choices=["negative", "neutral", "positive"], help="only this label (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="only this topic and its sub-topics")
    p.add_argument("--min-negative", type=probability, metavar="P",
                   help="only records whose calibrated P(negative) >= P, whatever their label "
                        "(what a rule with negative_score counts)")
    p.add_argument("--since", help="from this time (naive = [app] timezone), e.g. 2025-06-01")
    p.add_argument("--until", help="before this time (naive = [app] timezone)")


def probability(value: str) -> float:
    """A number in [0, 1] (argparse turns the ValueError into exit 2 with one line)."""
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(value)
    return number


def lazy(module: str, name: str) -> Any:
    """Import a command's module only when it runs: `voc --help` must not wait for torch."""
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args) or 0)
    return run



def settings() -> Any:
    from core.settings import load_settings

    return load_settings()


def cli_time(value: str | None, tz: Any) -> datetime | None:
    """A command-line time; naive means the display timezone."""
    if value is None:
        return None
    from core.record import RecordError, parse_time

    try:
        return parse_time(value, naive_tz=tz)
    except RecordError as exc:
        raise UsageError(str(exc)) from exc


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def display_width(text: str) -> int:
    """Terminal columns `text` takes: 2 for a CJK character, 0 for a combining mark."""
    width = wcswidth(text)
    if width >= 0:
        return int(width)
    return sum(max(int(wcwidth(c)), 0) for c in text)  # a control character: counted as nothing


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded with spaces to `width` terminal columns (`<` left, `>` right); longer text is
    left as it is."""
    fill = " " * max(width - display_width(text), 0)
    return fill + text if align == ">" else text + fill


def clip(text: str, width: int) -> str:
    """`text` cut to at most `width` terminal columns, ending in `…` when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = max(int(wcwidth(char)), 0)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def table(rows: Iterable[Sequence[Any]], align: str = "", sep: str = "  ", indent: str = "") -> list[str]:
    """Lines of a table whose columns line up by display width; `align` gives each column's `<`
    or `>` (default `<`). The last column is not padded, so a long text there costs nothing."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        return []
    columns = max(len(row) for row in cells)
    widths = [max((display_width(row[i]) for row in cells if i < len(row)), default=0)
              for i in range(columns)]
    lines = []
    for row in cells:
        parts = [cell if i == len(row) - 1 and (align[i:i + 1] or "<") == "<"
                 else pad(cell, widths[i], align[i:i + 1] or "<") for i, cell in enumerate(row)]
        lines.append((indent + sep.join(parts)).rstrip())
    return lines


class UpsertTally:
    """A store that adds up what each `upsert` did (new, updated, unchanged), for a command's
    summary; everything else goes to the store it wraps (`store`)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.stored = self.created = self.updated = self.unchanged = 0
        self.counted = True  # False once a store could not tell new from updated

    def upsert(self, batch: Any) -> Any:
        result = self.store.upsert(batch)
        self.stored += result.stored
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.counted = self.counted and result.counted
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def as_dict(self) -> dict[str, int]:
        """{"new", "updated", "unchanged"} for JSON output."""
        return {"new": self.created, "updated": self.updated, "unchanged": self.unchanged}

    def summary(self) -> str:
        """`0 new, 0 updated, 6 unchanged` (or `stored N` from a store that cannot tell)."""
        if not self.counted:
            return f"stored {self.stored}"
        return f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"


def print_report(report: Any, tally: UpsertTally | None = None) -> None:
    """A pipeline run's summary; with the `tally` of its store, what was new, updated, unchanged."""
    stored = tally.summary() if tally is not None else f"stored {report.stored}"
    print(f"{report.received} record(s): {stored}; {report.duplicates} near-duplicate(s)")
    for rid, reason in report.rejected:
        print(f"  rejected {rid}: {reason}", file=sys.stderr)
    if report.spooled:
        print(f"  {len(report.spooled)} record(s) could not be stored and were spooled to "
              f"{', '.join(report.spool_files)}; run `voc index --retry-spool` later", file=sys.stderr)
