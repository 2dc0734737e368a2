"""What a `negative_spike` rule saw of one group, check by check, on a kept store.

    python -m alerts.probe STORE --at "2026-09-26 11:00" [--minutes 60] [--group topic=信用卡]
        [--rule negative_spike_topic] [--negative-score 0.2] [--settings settings.toml]

STORE is a SQLite file: the live one, or one `bench/alerts_real.py --keep DIR` wrote. Dry: it
reads counts and writes nothing. Every 10 minutes from
--at for --minutes, for the configured `negative_spike_topic` rule (or its `negative_score`
overridden), it prints per window (window and long_window) the group's count, the expectation the
rule tests it against (its baseline with the volume adjustment, floored), the tail and the
threshold it must beat: the rule's own `group_tests`, so nothing is computed twice.
Naive times mean the display timezone.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from alerts.duration import describe_duration
from alerts.rules import build_rule
from alerts.rules.negative_spike import NegativeSpike
from core.record import RecordError, display_tz, parse_time
from core.settings import load_settings
from indexer.sqlite import SqliteStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--at", required=True, help="first check (naive = display timezone)")
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--group", default="topic=信用卡", help="FIELD=VALUE of the rule's group_by")
    parser.add_argument("--rule", default="negative_spike_topic")
    parser.add_argument("--negative-score", type=float, help="override the rule's negative_score")
    parser.add_argument("--settings")
    args = parser.parse_args(argv)
    if not args.store.is_file():
        parser.error(f"{args.store} is not a file")
    try:
        start = parse_time(args.at, naive_tz=display_tz())
    except (RecordError, ValueError) as exc:
        parser.error(f"--at: {exc}")
    settings = load_settings(args.settings, env={})
    specs: list[dict[str, Any]] = [dict(r) for r in settings.alerts.rules if r.get("name") == args.rule]
    if not specs:
        parser.error(f"no rule {args.rule!r} in the settings")
    spec = specs[0]
    if args.negative_score is not None:
        spec["negative_score"] = args.negative_score
    rule = build_rule(spec)
    if not isinstance(rule, NegativeSpike):
        parser.error(f"{args.rule!r} is a {rule.type_name} rule, not negative_spike or volume_spike")
    o = rule.options
    windows = [o["window"]] + ([o["long_window"]] if o["long_window"] else [])
    store = SqliteStore(args.store)
    try:
        for step in range(0, args.minutes + 1, 10):
            now = start + timedelta(minutes=step)
            cells = []
            for window in windows:
                tests = rule.group_tests(store, now, window, len(windows))
                if tests is None:
                    cells.append(f"{describe_duration(window)} no history")
                    continue
                found = next((t for t in tests.rows if t.key == args.group), None)
                count, used, tail = (found.count, found.used, found.p_value) if found else (0, 0.0, 1.0)
                cells.append(f"{describe_duration(window)} {count} vs {used:.2f} p={tail:.1e} "
                             f"(needs <= {tests.threshold:.1e})")
            print(now.astimezone(display_tz()).strftime("%m-%d %H:%M"), " | ".join(cells))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
