"""`voc search` and `voc stats`: the read side of the command line, over the configured store.

`stats --json` prints `{"total": N, "groups": [{"key": ..., "count": ...}]}`: `total` counts
distinct records matched; a multi-valued field (topic) counts a record once per value; records
without a value are under "(none)"; `day` buckets follow the display timezone; groups are sorted
by count (then key).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from core.record import Feedback, to_display
from indexer.store import FeedbackStore, Filters
from nlp.mask import mask_pii
from nlp.normalize import strip_controls, strip_html
from voc.cli.common import UsageError, cli_time, filter_flags, json_flag, lazy, print_json, settings

# Without --since/--until, stats cover every stored record.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)



def register(sub: Any) -> None:
    p = sub.add_parser("search", help="search stored feedback",
                       description="Find stored feedback containing QUERY (an empty query lists "
                                   "the newest).")
    p.add_argument("query", nargs="?", default="", help="text to look for, e.g. 闪退")
    filter_flags(p)
    p.add_argument("--limit", type=int, default=20, help="how many to show (default 20)")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.query", "cmd_search"))

    p = sub.add_parser("stats", help="counts of stored feedback by source, topic, sentiment or day",
                       description="Count stored feedback. JSON: {\"total\": N, \"groups\": "
                                   "[{\"key\": ..., \"count\": ...}]}, sorted by count.")
    filter_flags(p)
    p.add_argument("--by", choices=["source", "topic", "sentiment", "day"], default="source",
                   help="group by (default source)")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.query", "cmd_stats"))


def filters_from(args: argparse.Namespace, tz: Any) -> Filters:
    since, until = cli_time(args.since, tz), cli_time(args.until, tz)
    if since and until and since >= until:
        raise UsageError(f"--since {args.since} is not before --until {args.until}")
    return Filters(sources=tuple(args.source), sentiment=tuple(args.sentiment),
                   topics=tuple(args.topic), since=since, until=until)


def _with_store(fn: Any, args: argparse.Namespace) -> int:
    from indexer import open_settings_store

    conf = settings()
    filters = filters_from(args, conf.display_tz)
    store = open_settings_store(conf, must_exist=True)
    try:
        return int(fn(store, filters, args, conf.display_tz))
    finally:
        store.close()


def cmd_search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    return _with_store(_search, args)


def _search(store: FeedbackStore, filters: Filters, args: argparse.Namespace, tz: Any) -> int:
    page = store.search(args.query, filters, page=1, size=args.limit)
    if args.json:
        print_json({"total": page.total, "items": [_masked(r.to_dict()) for r in page.items]})
        return 0
    shown = f", showing {len(page.items)}" if page.total > len(page.items) else ""
    print(f"{page.total} match(es){shown}")
    for record in page.items:
        print(_search_line(record, tz))
    return 0


def _masked(doc: dict[str, Any]) -> dict[str, Any]:
    """A record document as it may leave the store: phone, ID and card numbers masked."""
    for key in ("text", "title"):
        if isinstance(doc.get(key), str):
            doc[key] = mask_pii(doc[key])
    return doc


def _search_line(record: Feedback, tz: Any) -> str:
    label = record.sentiment.label if record.sentiment else "-"
    topics = ",".join(record.topics) or "-"
    text = " ".join(mask_pii(strip_html(record.text)).split())  # Weibo HTML read as text
    text = text if len(text) <= 60 else text[:59] + "…"
    dup = " (copy)" if record.duplicate_of else ""
    line = f"{to_display(record.created_at, tz)}  {record.source:<10} {label:<8} {topics:<16} {text}{dup}"
    return strip_controls(line)  # stored text must not drive the terminal (ANSI/OSC escapes)


def cmd_stats(args: argparse.Namespace) -> int:
    # `voc stats` is the container's health check: settings the scheduler would refuse fail it too.
    from voc.alerting import rules_from_settings

    rules_from_settings(settings())
    return _with_store(_stats, args)


def stats(store: FeedbackStore, filters: Filters, by: str, tz: Any) -> dict[str, Any]:
    """The `voc stats --json` document (also used by `voc demo`)."""
    start, end = filters.since or EARLIEST, filters.until or LATEST
    if by == "day":
        rows = store.counts(start, end, interval=timedelta(days=1), filters=filters)
        pairs = [(row.bucket.astimezone(tz).date().isoformat(), row.count) for row in rows]
    else:
        rows = store.counts(start, end, group_by=(by,), filters=filters)
        pairs = [(row.key[by], row.count) for row in rows]
    merged: dict[str, int] = {}
    for key, count in pairs:
        merged[key] = merged.get(key, 0) + count
    groups = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"total": store.total(filters), "groups": [{"key": k, "count": n} for k, n in groups]}


def _stats(store: FeedbackStore, filters: Filters, args: argparse.Namespace, tz: Any) -> int:
    doc = stats(store, filters, args.by, tz)
    if args.json:
        print_json(doc)
        return 0
    print(f"{doc['total']} record(s), by {args.by}:")
    if not doc["groups"]:
        print("  (nothing stored in this range)", file=sys.stderr)
    width = max((len(g["key"]) for g in doc["groups"]), default=0)
    for group in doc["groups"]:
        print(f"  {group['key']:<{width}}  {group['count']:>7}")
    return 0
