"""The `voc` command: import, classify, search, stats, alerts, demo, index, es, kibana.

Each subcommand prints a short summary for people, or JSON with `--json`. The store and every
other part are chosen by settings (settings.toml, `VOC_SETTINGS`, `VOC_<SECTION>__<KEY>`), so
`VOC_STORE__PATH=/tmp/other.db voc stats` looks at another store. Times on the command line
without an offset mean the display timezone (Asia/Shanghai).

Exit codes: 0 done; 1 done but something was rejected or failed, or the store failed; 2 unusable
input (a bad setting, an unreadable file, a bad argument, a missing model).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.errors import VocError

EPILOG = """examples:
  voc demo                                   run the bundled demo into var/demo/
  voc import export.csv --platform wjx       import a 问卷星 export
  voc classify "手机银行转账失败" "服务很好"
  voc classify --input posts.jsonl --output -
  voc search 闪退 --sentiment negative --since 2025-06-01
  voc stats --by topic --json
  voc alerts check --at "2025-06-14 10:05" --json
  voc alerts silence negative_spike_topic:topic=信用卡 --for 24h
  voc index --retry-spool
  voc run                                    the daemon (docker compose runs this)
"""


class UsageError(Exception):
    """A command-line value is wrong (exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    # The ES client logs each failed attempt with a traceback (167 lines for one unreachable node);
    # the store turns the final failure into one line that names the host, so only -v shows them.
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    from crawlers.errors import ImportFileError
    from indexer.errors import StoreError
    from nlp.errors import NlpError

    try:
        return int(args.handler(args) or 0)
    except (VocError, UsageError, ImportFileError, NlpError) as exc:  # ConfigError is a VocError
        print(f"voc {args.command}: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"voc {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `voc search ... | head`
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voc", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="voc-monitor: gather, understand, search and alert on customer voice.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("import", help="import a survey export or a JSONL file of records",
                       description="Import a file, run it through the pipeline and store it. "
                                   "Re-importing the same file adds nothing new.")
    p.add_argument("path", help="the file (CSV, XLS, XLSX or JSONL)")
    p.add_argument("--platform", choices=["wjx", "tencent", "csv", "records"],
                   help="file layout (default: detected from the file)")
    p.add_argument("--source", help="source name for the records (default survey:<platform>)")
    p.add_argument("--map", dest="mapping", metavar="FIELD=COLUMN,...",
                   help="column mapping, e.g. text=意见建议,rating=满意度 (overrides detection)")
    p.add_argument("--survey-id", help="survey id when the file name does not carry one")
    _json_flag(p)
    p.set_defaults(handler=_cmd_import)

    p = sub.add_parser("classify", help="sentiment, topics and risk for texts or a JSONL file",
                       description="Classify texts given as arguments (a table), or every line of "
                                   "a JSONL file (--input/--output, '-' = stdin/stdout).")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", "-i", metavar="FILE", help="JSONL input, each line with a 'text' field")
    p.add_argument("--output", "-o", metavar="FILE", default="-", help="JSONL output (default -)")
    _json_flag(p)
    p.set_defaults(handler=_lazy("voc.cli_classify", "cmd_classify"))

    p = sub.add_parser("search", help="search stored feedback",
                       description="Find stored feedback containing QUERY (an empty query lists "
                                   "the newest).")
    p.add_argument("query", nargs="?", default="", help="text to look for, e.g. 闪退")
    _filter_flags(p)
    p.add_argument("--limit", type=int, default=20, help="how many to show (default 20)")
    _json_flag(p)
    p.set_defaults(handler=_lazy("voc.cli_query", "cmd_search"))

    p = sub.add_parser("stats", help="counts of stored feedback by source, topic, sentiment or day",
                       description="Count stored feedback. JSON: {\"total\": N, \"groups\": "
                                   "[{\"key\": ..., \"count\": ...}]}, sorted by count.")
    _filter_flags(p)
    p.add_argument("--by", choices=["source", "topic", "sentiment", "day"], default="source",
                   help="group by (default source)")
    _json_flag(p)
    p.set_defaults(handler=_lazy("voc.cli_query", "cmd_stats"))

    from voc import cli_alerts, cli_crawl, cli_es

    cli_alerts.register(sub)

    p = sub.add_parser("demo", help="run the bundled demo offline into var/demo/",
                       description="Import the bundled survey export and crawled posts into a fresh "
                                   "var/demo/voc.db, run the alert rules (emails in "
                                   "var/demo/outbox/) and print a summary.")
    _json_flag(p)
    p.set_defaults(handler=_lazy("voc.demo", "cmd_demo"))

    p = sub.add_parser("index", help="store maintenance", description="Store maintenance.")
    p.add_argument("--retry-spool", action="store_true", required=True,
                   help="store again the records spooled when the store failed")
    _json_flag(p)
    p.set_defaults(handler=_cmd_index)

    cli_crawl.register(sub)
    cli_es.register(sub)

    p = sub.add_parser("run", help="the daemon: crawls, alert checks and the digest on a timetable",
                       description="Run the scheduler in the foreground (APScheduler): alert checks "
                                   "every [alerts] interval_minutes, the daily digest, and a crawl "
                                   "for each [crawl.<name>] with `every` or `cron`. One log line per "
                                   "job run. SIGTERM / Ctrl-C stop it cleanly.")
    p.add_argument("--check-now", action="store_true", help="run one alert check at start")
    p.set_defaults(handler=_lazy("voc.scheduler", "cmd_run"))
    return parser


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def _filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--sentiment", action="append", default=[],
                   choices=["negative", "neutral", "positive"], help="only this label (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="only this topic and its sub-topics")
    p.add_argument("--since", help="from this time (naive = Asia/Shanghai), e.g. 2025-06-01")
    p.add_argument("--until", help="before this time (naive = Asia/Shanghai)")


def _lazy(module: str, name: str) -> Any:
    """Import a command's module only when it runs: `voc --help` must not wait for torch."""
    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)
    return run


# --- shared helpers for the command modules ---------------------------------------------------

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


# --- small commands ---------------------------------------------------------------------------

def _cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crawlers.importers import import_file
    from voc.pipeline import build_pipeline

    conf = settings()
    result = import_file(Path(args.path), platform=args.platform, source=args.source,
                         mapping=args.mapping, survey_id=args.survey_id,
                         salt=conf.pseudonym_salt())
    pipeline = build_pipeline(conf, progress=not args.json)
    try:
        report = pipeline.run(result.records)
    finally:
        pipeline.store.close()
    errors = [{"line": e.line, "reason": e.reason} for e in result.errors]
    if args.json:
        print_json({"file": args.path, "platform": result.platform, "survey_id": result.survey_id,
                    "rows_read": result.rows_read, "records": len(result.records),
                    "personal_columns": result.personal_columns, "row_errors": errors,
                    "message": result.message, "pipeline": report.to_dict()})
    else:
        print(f"{args.path}: {result.platform or 'file'}, {result.rows_read} row(s) read, "
              f"{len(result.records)} record(s)" + (f" — {result.message}" if result.message else ""))
        if result.personal_columns:
            print("  left out as personal data: " + ", ".join(
                f"{title} ({why})" for title, why in result.personal_columns.items()))
        for e in result.errors:
            print(f"  line {e.line}: {e.reason}", file=sys.stderr)
        print_report(report)
    return 1 if (result.errors or report.rejected or report.spooled) else 0


def _cmd_index(args: argparse.Namespace) -> int:
    from indexer import open_settings_store
    from voc.spool import retry_spool

    conf = settings()
    store = open_settings_store(conf)
    try:
        report = retry_spool(store, conf.app.var_dir / "spool")
    finally:
        store.close()
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"spool: {report.files} file(s), {report.replayed} record(s) stored, "
              f"{report.remaining} still waiting, {report.dead} refused for good")
        for err in report.errors:
            print(f"  {err}", file=sys.stderr)
        if report.dead_total:
            print(f"  dead letter: {report.dead_total} record(s) the store will not take as they are, "
                  f"kept with the store's reason in {', '.join(report.dead_files)} (not retried)",
                  file=sys.stderr)
    return 1 if report.remaining or report.errors or report.dead else 0


if __name__ == "__main__":
    raise SystemExit(main())
