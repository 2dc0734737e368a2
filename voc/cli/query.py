"""`voc search` and `voc stats`: the read side of the command line, over the configured store.

`search` prints one line per hit (time in the display timezone, source, label, topics, the text
as a person sees it) and under it the record's id and URL; the store matches the visible text,
folded as the query is (see `indexer.store`).

`stats --json` prints `{"total": N, "groups": [{"key": ..., "count": ...}]}`: `total` counts
distinct records matched; a multi-valued field (topic) counts a record once per value; records
without a value are under "(none)"; `day` buckets follow the display timezone and come in date
order; the other groups are sorted by count (then key).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from core.record import Feedback, to_display, zone_label
from indexer.store import FeedbackStore, Filters
from nlp.mask import mask_pii
from nlp.normalize import strip_controls, strip_html
from voc.cli.common import (
    UsageError,
    cli_time,
    clip,
    filter_flags,
    json_flag,
    lazy,
    print_json,
    settings,
    table,
)

# Without --since/--until, stats cover every stored record.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)



def register(sub: Any) -> None:
    p = sub.add_parser("search", help="search stored feedback",
                       description="Find stored feedback whose text, as a person sees it, contains "
                                   "every word of QUERY (traditional or full-width characters match "
                                   "their simplified, half-width forms), newest first; each hit "
                                   "with its id and URL. An empty query lists the newest.")
    p.add_argument("query", nargs="?", default="", help="text to look for, e.g. 闪退")
    filter_flags(p)
    p.add_argument("--limit", type=int, default=20, help="how many to show (default 20)")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.query", "cmd_search"))

    p = sub.add_parser("stats", help="counts of stored feedback by source, topic, sentiment or day",
                       description="Count stored feedback. JSON: {\"total\": N, \"groups\": "
                                   "[{\"key\": ..., \"count\": ...}]}, sorted by count; days "
                                   "([app] timezone) in date order.")
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
                   topics=tuple(args.topic), since=since, until=until,
                   min_negative_score=getattr(args, "min_negative", None))


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
        print_json({"total": page.total, "total_capped": page.total_capped,
                    "items": [_masked(r.to_dict()) for r in page.items]})
        return 0
    shown = f", showing {len(page.items)}" if page.total > len(page.items) else ""
    total = f"{page.total:,}+" if page.total_capped else str(page.total)  # the store stopped counting
    print(f"{total} match(es){shown}, newest first; times in {zone_label(tz)}")
    lines = table([_search_row(record, tz) for record in page.items])
    for line, record in zip(lines, page.items, strict=True):
        print(line)
        print(_where(record))
    return 0


def _masked(doc: dict[str, Any]) -> dict[str, Any]:
    """A record document as it may leave the store: phone, ID and card numbers masked."""
    for key in ("text", "title"):
        if isinstance(doc.get(key), str):
            doc[key] = mask_pii(doc[key])
    return doc


TEXT_COLUMNS = 72  # terminal columns of a hit's text (a Chinese character takes two)
WHERE_INDENT = " " * 18  # the id and URL line starts under the source column


def _search_row(record: Feedback, tz: Any) -> tuple[str, ...]:
    """A hit's cells: time, source, label, topics, text. Stored text must not drive the terminal
    (ANSI/OSC escapes), so every cell goes through `strip_controls`."""
    label = record.sentiment.label if record.sentiment else "-"
    topics = clip(strip_controls(",".join(record.topics)) or "-", 24)
    text = " ".join(strip_controls(mask_pii(strip_html(record.text))).split())  # Weibo HTML read as text
    dup = " (copy)" if record.duplicate_of else ""
    return (to_display(record.created_at, tz), clip(strip_controls(record.source), 16), label, topics,
            clip(text, TEXT_COLUMNS) + dup)


def _where(record: Feedback) -> str:
    """The line under a hit: its id (for `voc` commands and the store) and its URL."""
    url = strip_controls(record.url or "") or "(no URL)"
    return f"{WHERE_INDENT}id {strip_controls(record.id)}  {url}"


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
    # days read as a calendar (ISO dates sort as text); other groups from the largest down
    groups = sorted(merged.items(), key=(lambda kv: kv[0]) if by == "day" else (lambda kv: (-kv[1], kv[0])))
    return {"total": store.total(filters), "groups": [{"key": k, "count": n} for k, n in groups]}


def _stats(store: FeedbackStore, filters: Filters, args: argparse.Namespace, tz: Any) -> int:
    doc = stats(store, filters, args.by, tz)
    if args.json:
        print_json(doc)
        return 0
    when = f" ({zone_label(tz)})" if args.by == "day" else ""
    print(f"{doc['total']} record(s), by {args.by}{when}:")
    if not doc["groups"]:
        print("  (nothing stored in this range)", file=sys.stderr)
    rows = [(strip_controls(g["key"]), g["count"]) for g in doc["groups"]]
    for line in table(rows, align="<>", indent="  "):
        print(line)
    return 0
