"""`voc import` (a survey export or a JSONL of records, through the pipeline into the store) and
`voc index --retry-spool` (store again what the store could not take).

Both say what the store did with each record: new, updated (a changed version replaced the stored
one) or unchanged (stored exactly so already), so a re-import of the same file says
`0 new, 0 updated, 6 unchanged`; `--json` gives the same as "new", "updated" and "unchanged"."""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from voc.cli.common import UpsertTally, json_flag, lazy, print_json, print_report, settings


def register(sub: Any) -> None:
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
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.records", "cmd_import"))

    p = sub.add_parser("index", help="store maintenance", description="Store maintenance.")
    p.add_argument("--retry-spool", action="store_true", required=True,
                   help="store again the records spooled when the store failed")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.records", "cmd_index"))


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crawlers.importers import import_file
    from indexer import open_settings_store
    from indexer.store import FeedbackStore
    from voc.pipeline import branch_namer, build_pipeline

    conf = settings()
    result = import_file(Path(args.path), platform=args.platform, source=args.source,
                         mapping=args.mapping, survey_id=args.survey_id,
                         salt=conf.pseudonym_salt(), branch_name=branch_namer(conf))
    tally = UpsertTally(open_settings_store(conf))
    try:
        pipeline = build_pipeline(conf, store=cast(FeedbackStore, tally), progress=not args.json)
        report = pipeline.run(result.records)
        from care.satisfaction import keep_responses

        keep_responses(tally, result.responses)  # a response without an open answer counts too
    finally:
        tally.close()
    errors = [{"line": e.line, "reason": e.reason} for e in result.errors]
    if args.json:
        print_json({"file": args.path, "platform": result.platform, "survey_id": result.survey_id,
                    "rows_read": result.rows_read, "records": len(result.records),
                    "personal_columns": result.personal_columns, "row_errors": errors,
                    "message": result.message, **tally.as_dict(), "pipeline": report.to_dict()})
    else:
        print(f"{args.path}: {result.platform or 'file'}, {result.rows_read} row(s) read, "
              f"{len(result.records)} record(s)" + (f" — {result.message}" if result.message else ""))
        if result.personal_columns:
            print("  left out as personal data: " + ", ".join(
                f"{title} ({why})" for title, why in result.personal_columns.items()))
        for e in result.errors:
            print(f"  line {e.line}: {e.reason}", file=sys.stderr)
        print_report(report, tally)
    return 1 if (result.errors or report.rejected or report.spooled) else 0


def cmd_index(args: argparse.Namespace) -> int:
    from indexer import open_settings_store
    from indexer.store import FeedbackStore
    from voc.spool import retry_spool

    conf = settings()
    tally = UpsertTally(open_settings_store(conf))
    try:
        report = retry_spool(cast(FeedbackStore, tally), conf.app.var_dir / "spool")
    finally:
        tally.close()
    if args.json:
        print_json({**report.to_dict(), **tally.as_dict()})
    else:
        stored = f" ({tally.summary()})" if report.replayed else ""
        print(f"spool: {report.files} file(s), {report.replayed} record(s) stored{stored}, "
              f"{report.remaining} still waiting, {report.dead} refused for good")
        for err in report.errors:
            print(f"  {err}", file=sys.stderr)
        if report.dead_total:
            print(f"  dead letter: {report.dead_total} record(s) the store will not take as they are, "
                  f"kept with the store's reason in {', '.join(report.dead_files)} (not retried)",
                  file=sys.stderr)
    return 1 if report.remaining or report.errors or report.dead else 0
