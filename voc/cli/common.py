"""What every `voc` sub-command module shares: the usage error, common flags, lazy handlers, the
settings, command-line times and the printers. Imports nothing of the other command modules."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any


class UsageError(Exception):
    """A command-line value is wrong (exit 2)."""


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--sentiment", action="append", default=[],
                   choices=["negative", "neutral", "positive"], help="only this label (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="only this topic and its sub-topics")
    p.add_argument("--since", help="from this time (naive = [app] timezone), e.g. 2025-06-01")
    p.add_argument("--until", help="before this time (naive = [app] timezone)")


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


def print_report(report: Any) -> None:
    print(f"stored {report.stored} of {report.received} record(s); {report.duplicates} near-duplicate(s)")
    for rid, reason in report.rejected:
        print(f"  rejected {rid}: {reason}", file=sys.stderr)
    if report.spooled:
        print(f"  {len(report.spooled)} record(s) could not be stored and were spooled to "
              f"{', '.join(report.spool_files)}; run `voc index --retry-spool` later", file=sys.stderr)
