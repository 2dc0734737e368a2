"""The `voc` command's entry point: the argument parser (each command group registers its own
sub-commands from its module in this package) and the exit codes.

The `voc` command: import, classify, search, stats, alerts, crawl, worker, web, users, audit,
labels, cases, report, demo, run, index, es, kibana.

Each subcommand prints a short summary for people, or JSON with `--json`. The store and every
other part are chosen by settings (settings.toml, `VOC_SETTINGS`, `VOC_<SECTION>__<KEY>`), so
`VOC_STORE__PATH=/tmp/other.db voc stats` looks at another store. Times on the command line
without an offset mean the display timezone ([app] timezone, Asia/Shanghai by default).

Exit codes: 0 done; 1 done but something was rejected or failed, or the store failed; 2 unusable
input (a bad setting, an unreadable file, a bad argument, a missing model).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from core.errors import VocError
from voc.cli import alerts, cases, classify, crawl, csat, es, query, records, web, worker
from voc.cli.common import UsageError, json_flag, lazy

EPILOG = """examples:
  voc demo                                   run the bundled demo into var/demo/
  voc import export.csv --platform wjx       import a 问卷星 export
  voc classify "手机银行转账失败" "服务很好"
  voc classify --input posts.jsonl --output -
  voc search 闪退 --sentiment negative --since 2025-06-01
  voc stats --by topic --json
  voc alerts check --at "2025-06-14 10:05" --json
  voc alerts silence negative_spike_topic:topic=信用卡 --for 24h
  voc cases list --overdue                   cases (工单) past their SLA deadline
  voc report weekly --send                   the weekly service report, also emailed
  voc index --retry-spool
  voc run                                    the daemon (docker compose runs this)
"""



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
    for group in (records, classify, query, alerts, crawl, es, worker, web, cases, csat):
        group.register(sub)

    p = sub.add_parser("demo", help="run the bundled demo offline into var/demo/",
                       description="Import the bundled survey export and crawled posts into a fresh "
                                   "var/demo/voc.db, run the alert rules (emails in "
                                   "var/demo/outbox/) and print a summary.")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.demo", "cmd_demo"))

    p = sub.add_parser("run", help="the daemon: crawls, alert checks and the digest on a timetable",
                       description="Run the scheduler in the foreground (APScheduler): alert checks "
                                   "every [alerts] interval_minutes, the daily digest, and a crawl "
                                   "for each [crawl.<name>] with `every` or `cron`. One log line per "
                                   "job run. SIGTERM / Ctrl-C stop it cleanly.")
    p.add_argument("--check-now", action="store_true", help="run one alert check at start")
    p.set_defaults(handler=lazy("voc.scheduler", "cmd_run"))
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
