"""What a PR reader receives over the demo's incident: its last 12 hours and 5 hours after, one
alert check every 30 minutes, through the configured rules, incidents and the outbox.

    .venv/bin/python bench/incident_replay.py [--every 30] [--json OUT]

Runs the demo (offline, bundled data) into a temporary folder, clears the alert state its own check
wrote, and replays checks with `voc.alerting.run_configured_rules` (the live decision code) from
12 h before the incident's end to 5 h after. Prints every message (kind, incident, title, firings
carried) and the totals: messages per incident against the firings the rules decided.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.record import display_tz  # noqa: E402
from core.settings import load_settings  # noqa: E402
from indexer import SqliteStore  # noqa: E402
from voc.alerting import run_configured_rules  # noqa: E402
from voc.demo import run_demo  # noqa: E402

CLEARED = ("incident", "alert_state", "send_journal", "rule_cursor", "silence", "alert_feedback")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=30, help="minutes between checks")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        summary = run_demo(Path(tmp) / "demo", now=now, progress=False)
        settings = load_settings(env={"VOC_STORE__PATH": summary["store"],
                                      "VOC_APP__VAR_DIR": str(Path(tmp) / "var")})
        store = SqliteStore(summary["store"])
        try:
            for namespace in CLEARED:
                for key in store.list_state(namespace):
                    store.delete_state(namespace, key)
            at, end = now - timedelta(hours=12), now + timedelta(hours=5)
            messages, firings = [], 0
            while at <= end:
                report = run_configured_rules(settings, store, now=at, outbox=Path(tmp) / "outbox")
                firings += sum(1 for a in report.recorded if a.kind != "recovery")
                for m in report.fired:
                    messages.append({"at": at.astimezone(display_tz()).strftime("%m-%d %H:%M"),
                                     "kind": m.kind, "incident": m.incident, "title": m.title,
                                     "related": len(m.related)})
                    print(f"{messages[-1]['at']}  {m.kind:<10} 事件 {m.incident}  {m.title}"
                          f"（+{len(m.related)} 条相关信号）")
                at += timedelta(minutes=args.every)
        finally:
            store.close()
    incidents = len({m["incident"] for m in messages})
    print(f"\n{len(messages)} message(s) in {incidents} incident(s); the rules decided {firings} "
          f"firing(s) over {int(17 * 60 / args.every) + 1} checks")
    if args.json:
        Path(args.json).write_text(json.dumps({"messages": messages, "incidents": incidents,
                                               "firings": firings}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
