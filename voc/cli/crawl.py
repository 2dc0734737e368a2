"""`voc crawl NAME`: run one crawl now and say how it went.

    voc crawl appstore                              every app and storefront in settings
    voc crawl appstore -a app_id=1234567890 -a country=cn
    voc crawl tousu --since 2026-06-01              backfill (naive times mean the [app] timezone)
    voc crawl site:example_forum --json

NAME is a spider (appstore, weibo, tousu, rss, site) or `site:<profile>`. Prints new, updated,
duplicate and dropped counts (dropped with reasons) and the source's health status, which is also
stored as its crawl_health document. A second crawl of the same source while one runs is refused.

Exit codes: 0 ok; 3 blocked or layout_changed (the site banned us or changed: see the reason);
1 failed (the crawl broke; see the log named); 4 already running; 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from voc.cli.common import UsageError, cli_time, lazy, print_json, settings

EXIT_ALREADY_RUNNING = 4


def register(sub: Any) -> None:
    p = sub.add_parser("crawl", help="run one crawl now (appstore, weibo, tousu, rss, site:<profile>)",
                       description="Run one crawl now and print new/updated/duplicate/dropped counts. "
                                   "Exit 0 ok, 3 blocked or layout changed, 1 failed, 4 already running.")
    p.add_argument("name", help="spider name, or site:<profile>")
    p.add_argument("--since", help="backfill from this time (ISO date/time; naive = [app] timezone)")
    p.add_argument("--until", help="... up to this time (exclusive)")
    p.add_argument("-a", dest="args", action="append", default=[], metavar="KEY=VALUE",
                   help="spider argument, e.g. -a app_id=1234567890 (repeatable)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=lazy("voc.cli.crawl", "cmd_crawl"))


def spider_args(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-a {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawlers.runner import AlreadyRunning, run_crawl
    from crawlers.spiders import SPIDERS
    from indexer import open_settings_store

    conf = settings()
    if args.name.partition(":")[0] not in SPIDERS:
        raise UsageError(f"unknown crawl {args.name!r} (known: {', '.join(sorted(SPIDERS))}, site:<profile>)")
    extra = spider_args(args.args)
    spider, _, profile = args.name.partition(":")
    if spider == "site":  # the profile is a settings table: a missing one is a bad argument (exit 2)
        profiles = sorted(k for k, v in conf.crawl.get("site", {}).items() if isinstance(v, Mapping))
        profile = profile or extra.get("profile", "")
        if profile and profile not in profiles:
            raise UsageError(f"no site profile {profile!r} under [crawl.site] "
                             f"(known: {', '.join(profiles) or 'none'})")
        if not profile and len(profiles) != 1:
            raise UsageError(f"say which site: site:<profile> (known: {', '.join(profiles) or 'none'})")
    for key in ("since", "until"):
        value = cli_time(getattr(args, key), conf.display_tz)
        if value is not None:
            extra[key] = value.isoformat()
    store = open_settings_store(conf)
    try:
        result = run_crawl(args.name, extra, var_dir=conf.app.var_dir, timeout=args.timeout, store=store)
    except AlreadyRunning as exc:
        print(f"voc crawl: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    finally:
        store.close()
    if args.json:
        print_json(result.to_dict())
    else:
        print_result(result)
    return result.exit_code


def print_result(result: Any) -> None:
    doc = result.document
    print(f"{result.key}: {result.status} — {result.reason}")
    print(f"  pages {doc.get('pages', 0)}, items {doc.get('items', 0)}: new {doc.get('new', 0)}, "
          f"updated {doc.get('updated', 0)}, duplicate {doc.get('duplicates', 0)}, "
          f"dropped {doc.get('dropped', 0)}")
    for reason, count in sorted((doc.get("dropped_reasons") or {}).items()):
        print(f"    dropped {count}: {reason}")
    if doc.get("spooled"):
        print(f"  {doc['spooled']} record(s) spooled (the store refused them); run `voc index --retry-spool`")
    if result.status != "ok":
        print(f"  log: {result.log_path}", file=sys.stderr)
