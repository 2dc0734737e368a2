"""`voc csat`: satisfaction from the survey answers in the store (care/satisfaction.py).

    voc csat [--by branch|channel|product|customer_type|city|question|week|month ...] [--since T]
             [--until T] [--min-n 30] [--json]
    voc csat drivers [--since T] [--until T] [--json]       what pulls satisfaction down
    voc csat topics [--json]                                survey and social side by side

More than one `--by` makes a cross table. Groups under `--min-n` ([satisfaction] min_n) are
flagged with `*`, not ranked. The table is counted in the store (`FeedbackStore.rating_counts`), so
it reads no response documents; drivers and topics read the responses.
"""

from __future__ import annotations

import argparse
from typing import Any

from voc.cli.common import cli_time, lazy, pad, print_json, settings


def register(sub: Any) -> None:
    p = sub.add_parser("csat", help="satisfaction (CSAT, NPS) by segment from survey answers",
                       description="CSAT (top-2-box on 1-5, the top 30 %% of other scales) with its "
                                   "Wilson interval, NPS on 0-10 with a bootstrap interval, per group.")
    p.add_argument("what", nargs="?", choices=["table", "drivers", "topics"], default="table",
                   help="the table (default), the drivers, or topics: survey and social side by side")
    p.add_argument("--by", action="append", default=[], metavar="FIELD",
                   help="branch, channel, product, customer_type, city, question, week or month (repeatable)")
    p.add_argument("--since", metavar="TIME", help="responses from (naive = [app] timezone)")
    p.add_argument("--until", metavar="TIME", help="responses before")
    p.add_argument("--min-n", type=int,
                   help="flag groups with fewer responses (default [satisfaction] min_n)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("voc.cli.csat", "cmd_csat"))


def cmd_csat(args: argparse.Namespace) -> int:
    from care.satisfaction import BY, csat_table, drivers, key_drivers, responses, survey_and_social
    from indexer import open_settings_store
    from voc.cli.common import UsageError

    conf = settings()
    for name in args.by:
        if name not in BY:
            raise UsageError(f"--by {name!r}: use one of {', '.join(BY)}")
    min_n = args.min_n if args.min_n is not None else conf.satisfaction.min_n
    if min_n < 1:
        raise UsageError("--min-n must be at least 1")
    since, until = cli_time(args.since, conf.display_tz), cli_time(args.until, conf.display_tz)
    store = open_settings_store(conf, must_exist=True)
    try:
        if args.what == "table":
            table = csat_table(store, args.by, since=since, until=until, min_n=min_n, tz=conf.display_tz)
        else:
            rs = responses(store, since=since, until=until)
            side = survey_and_social(store, rs, since=since, until=until, min_n=min_n) \
                if args.what == "topics" else []
    finally:
        store.close()
    if args.what == "topics":
        if args.json:
            print_json({"responses": len(rs), "topics": side})
            return 0
        print(f"{len(rs)} response(s); per topic: negative share on social sources, rating gap in surveys")
        for t in side:
            share = f"{t['social_negative_share']:.0%}" if t["social_negative_share"] is not None else "-"
            gap = f"{t['survey_gap']:+.3f}" if t["survey_gap"] is not None else "-"
            print(f"  {pad(t['topic'], 20)} social {t['social_total']:>6} negative {share:>4}   "
                  f"surveys {t['survey_mentions']:>5} gap {gap}")
        return 0
    if args.what == "drivers":
        found = drivers(rs, min_n=min_n)
        kda = key_drivers(rs)
        if args.json:
            print_json({"responses": len(rs), "drivers": found, "key_drivers": kda})
            return 0
        if kda["drivers"]:
            parts = "、".join(f"{d['question']} {d['of_r2']:.0%}" for d in kda["drivers"])
            print(f"key drivers of the overall rating ({kda['method']}, n {kda['n']}, R² {kda['r2']}): "
                  f"{parts}")
        print(f"{len(rs)} response(s); drivers ranked by gap x share (ratings on 0-1), * under {min_n}")
        for d in found:
            mark = "*" if d["small"] else " "
            print(f" {mark}{pad(d['kind'] + ':' + d['name'], 28)} mentions {d['mentions']:>5} "
                  f"({d['share']:.0%})  gap {d['gap']:+.3f} [{d['gap_ci'][0]:+.3f}, {d['gap_ci'][1]:+.3f}]")
        return 0
    if args.json:
        print_json(table.to_dict())
        return 0
    print(f"{table.responses} response(s); scale {table.scale}; CSAT = {table.rule}; "
          f"* under {min_n} responses")
    for g in table.groups:
        label = " · ".join(g["key"].values()) or "全部"
        nps = (f"  NPS {g['nps']:+.0f} [{g['nps_ci'][0]:+.0f}, {g['nps_ci'][1]:+.0f}]"
               if g["nps"] is not None else "")
        mark = "*" if g["small"] else " "
        print(f" {mark}{pad(label, 28)} n {g['n']:>6}  mean {g['mean']:.2f}  CSAT {g['csat']:.0%} "
              f"[{g['csat_ci'][0]:.0%}, {g['csat_ci'][1]:.0%}]{nps}")
    return 0
