"""`voc demo`: the whole pipeline, offline, on the data bundled in demo/, into a fresh var/demo/.

It imports the bundled 问卷星 export (GBK, text layout) and ~3 weeks of crawled posts
(demo/posts.jsonl, written by demo/make_posts.py), shifted in time so the posts' 手机银行 incident
ends now; runs them through the pipeline with the shipped sentiment model into var/demo/voc.db
(deleted first, whatever the store settings say); runs the configured alert rules with the alert
emails written to var/demo/outbox/; and prints what it found and where to look next.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts import build_rules
from core.errors import VocError
from core.record import Feedback, display_tz
from core.settings import Settings, load_settings
from core.settings.secrets import pseudonym_salt
from crawlers.importers import import_file
from indexer import open_store
from indexer.store import NONE_KEY, Filters
from voc.alerting import describe_fired, rules_from_settings, run_configured_rules
from voc.cli.common import display_width, pad
from voc.cli.query import stats
from voc.pipeline import branch_namer, build_pipeline

DEMO_DIR = Path("var/demo")
SURVEY_FILE = Path("survey/331954276_按文本_江南银行手机银行满意度调查_60_60.csv")
# branches, channels, an overall rating and three sub-ratings (demo/make_survey.py): `voc csat`
BRANCH_SURVEY_FILE = Path("survey/418220517_按文本_江南银行网点服务满意度调查_240_240.csv")
POSTS_FILE = Path("posts.jsonl")
# Used only when the settings define no rule, so the demo always has its incident check.
FALLBACK_RULES = ({"name": "negative_spike_topic", "type": "negative_spike", "window": "1h",
                   "group_by": ["topic"], "min_count": 10, "min_ratio": 3.0, "severity": "warning"},)


def demo_data_dir() -> Path:
    """demo/ beside the package (a checkout), else ./demo (the Docker image's working dir)."""
    for candidate in (Path(__file__).resolve().parents[1] / "demo", Path.cwd() / "demo"):
        if (candidate / POSTS_FILE).is_file():
            return candidate
    raise VocError("demo data not found (demo/posts.jsonl beside the voc package or in the "
                   "working directory); run `python demo/make_posts.py` in a checkout")


def shift(records: Sequence[Feedback], latest: datetime) -> timedelta:
    """Move all records by one offset so the newest is at `latest`; returns the offset."""
    if not records:
        return timedelta(0)
    delta = latest - max(r.created_at for r in records)
    for record in records:
        record.created_at += delta
    return delta


def _fresh(base: Path) -> tuple[Path, Path, Path]:
    base.mkdir(parents=True, exist_ok=True)
    db = base / "voc.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    outbox, spool = base / "outbox", base / "spool"
    for folder in (outbox, spool):
        shutil.rmtree(folder, ignore_errors=True)
    return db, outbox, spool


def run_demo(base: Path = DEMO_DIR, *, settings: Settings | None = None, now: datetime | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Run the demo; returns the summary document that `voc demo --json` prints."""
    started = time.perf_counter()
    conf = settings if settings is not None else load_settings()
    now = now or datetime.now(UTC)
    data = demo_data_dir()
    db, outbox, spool = _fresh(base)
    salt = conf.secrets.value("pseudonym_salt") or pseudonym_salt(base, env={})
    name = branch_namer(conf)
    survey = import_file(data / SURVEY_FILE, platform="wjx", salt=salt, branch_name=name)
    branch = import_file(data / BRANCH_SURVEY_FILE, platform="wjx", salt=salt, branch_name=name)
    posts = import_file(data / POSTS_FILE, platform="records")
    # The posts' incident ends a minute ago; the surveys closed the day before.
    shift(posts.records, now - timedelta(minutes=1))
    moved = {id(survey): shift(survey.records, now - timedelta(days=1)),
             id(branch): shift(branch.records, now - timedelta(days=1))}
    for result in (survey, branch):  # the response documents move with their records
        for doc in result.responses:
            doc["created_at"] = (datetime.fromisoformat(doc["created_at"]) + moved[id(result)]).isoformat()
    records = sorted(survey.records + branch.records + posts.records, key=lambda r: r.created_at)
    rules = rules_from_settings(conf) or build_rules(FALLBACK_RULES)
    store = open_store("sqlite", path=str(db), timezone=conf.app.timezone)
    try:
        pipeline = build_pipeline(conf, store=store, progress=progress, spool_dir=spool)
        report = pipeline.run(records)
        alert_report = run_configured_rules(conf, store, now=now, outbox=outbox, rules=rules)
        tz = conf.display_tz
        summary: dict[str, Any] = {
            "store": str(db), "outbox": str(outbox),
            "imported": {"survey": {"file": str(data / SURVEY_FILE), "rows": survey.rows_read,
                                    "records": len(survey.records),
                                    "row_errors": [str(e) for e in survey.errors]},
                         "branch_survey": {"file": str(data / BRANCH_SURVEY_FILE), "rows": branch.rows_read,
                                           "records": len(branch.records),
                                           "row_errors": [str(e) for e in branch.errors]},
                         "posts": {"file": str(data / POSTS_FILE), "rows": posts.rows_read,
                                   "records": len(posts.records),
                                   "row_errors": [str(e) for e in posts.errors]}},
            "pipeline": report.to_dict(),
            "by_source": stats(store, Filters(), "source", tz),
            "sentiment": stats(store, Filters(), "sentiment", tz),
            "topics": stats(store, Filters(), "topic", tz),
            "risk": stats(store, Filters(), "risk", tz),
            "alerts": describe_fired(alert_report, outbox),
            "alert_errors": list(alert_report.errors),
        }
        from care.satisfaction import keep_responses

        keep_responses(store, survey.responses + branch.responses)
        summary["satisfaction"] = demo_satisfaction(conf, store)
        summary["cases"] = demo_cases(conf, store, now, since=records[0].created_at if records else now)
    finally:
        store.close()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def demo_satisfaction(conf: Settings, store: Any) -> dict[str, Any]:
    """The branch survey's CSAT by branch and its key drivers, as `voc csat` computes them."""
    from care.satisfaction import key_drivers, responses, summarize

    rs = [r for r in responses(store) if r.key.split(":")[2] == "418220517"]
    return {"by_branch": summarize(rs, ["branch"], min_n=conf.satisfaction.min_n,
                                   tz=conf.display_tz).to_dict(),
            "key_drivers": key_drivers(rs)}


def demo_cases(conf: Settings, store: Any, now: datetime, since: datetime) -> dict[str, Any]:
    """Route the demo's records into cases ([[cases.routes]]), as `voc run` does every check."""
    from care.routing import open_routed_cases

    report = open_routed_cases(conf, store, now, since=since)
    teams: dict[str, int] = {}
    for case in report.opened:
        teams[case.team] = teams.get(case.team, 0) + 1
    return {"opened": len(report.opened), "linked": report.linked,
            "by_team": dict(sorted(teams.items(), key=lambda kv: -kv[1])),
            "cases": [{"id": c.id, "team": c.team, "severity": c.severity, "route": c.route,
                       "records": len(c.records), "title": c.title} for c in report.opened]}


def _line(doc: dict[str, Any], top: int | None = None, total: int | None = None,
          skip_none: bool = False) -> str:
    groups = [g for g in doc["groups"] if not (skip_none and g["key"] == NONE_KEY)]
    groups = groups[:top] if top else groups
    if total:
        return " · ".join(f"{g['key']} {g['count']} ({100 * g['count'] / total:.0f}%)" for g in groups)
    return " · ".join(f"{g['key']} {g['count']}" for g in groups) or "-"


def print_summary(s: dict[str, Any]) -> None:
    total = s["by_source"]["total"]
    imp, rep = s["imported"], s["pipeline"]
    print(f"voc demo: {total} records in {s['store']} ({s['seconds']} s)")
    surveys = [imp["survey"], imp.get("branch_survey") or {"records": 0, "rows": 0, "row_errors": []}]
    print(f"  imported     surveys {sum(v['records'] for v in surveys)} answers from "
          f"{sum(v['rows'] for v in surveys)} responses; posts {imp['posts']['records']}; row errors "
          f"{sum(len(v['row_errors']) for v in surveys) + len(imp['posts']['row_errors'])}")
    print(f"  pipeline     stored {rep['stored']}, near-duplicates {rep['duplicates']}, "
          f"rejected {len(rep['rejected'])}, spooled {len(rep['spooled'])}")
    print(f"  by source    {_line(s['by_source'])}")
    print(f"  sentiment    {_line(s['sentiment'], total=total)}")
    print(f"  top topics   {_line(s['topics'], top=8, skip_none=True)}")
    print(f"  risk flags   {_line(s['risk'], top=6, skip_none=True)}")
    incidents = {a["incident"] or a["id"] for a in s["alerts"]}
    firings = sum(1 + a["related"] for a in s["alerts"])
    print(f"  incidents    {len(incidents)} ({len(s['alerts'])} message(s) carrying {firings} "
          f"rule firing(s))")
    for alert in s["alerts"]:
        incident = f"事件 {alert['incident']} " if alert["incident"] else ""
        print(f"    [{alert['severity']}] {incident}{alert['title']}（+{alert['related']} 条相关信号）")
        print(f"        {alert['eml'] or '(delivery queued)'}")
    for err in s["alert_errors"]:
        print(f"    rule error: {err}")
    sat = s.get("satisfaction")
    if sat:
        table = sat["by_branch"]
        print("  satisfaction 网点服务满意度 by branch (CSAT = top-2-box of 1-5, 95 % Wilson; * under min_n)")
        width = max((display_width(g["key"]["branch"]) for g in table["groups"]), default=10)
        for g in table["groups"]:
            lo, hi = g["csat_ci"]
            print(f"    {'*' if g['small'] else ' '}{pad(g['key']['branch'], width)} n {g['n']:>3}  "
                  f"mean {g['mean']:.2f}  CSAT {g['csat']:.0%} [{lo:.0%}, {hi:.0%}]")
        drivers = "、".join(f"{d['question'].split('、', 1)[-1].split('（')[0]} {d['of_r2']:.0%}"
                            for d in sat["key_drivers"]["drivers"])
        print(f"    key drivers ({sat['key_drivers']['method']}, R² {sat['key_drivers']['r2']}): {drivers}")
    cases = s.get("cases") or {"opened": 0, "linked": 0, "by_team": {}, "cases": []}
    teams = " · ".join(f"{team} {n}" for team, n in cases["by_team"].items()) or "-"
    print(f"  cases        {cases['opened']} opened ({teams}); {cases['linked']} more copies linked")
    for case in sorted(cases["cases"], key=lambda c: (c["severity"] != "critical", -c["records"]))[:3]:
        print(f"    [{case['severity']}] {case['id']} {case['team']}  {case['title']}"
              f"（{case['records']} 条记录）")
    env = f"VOC_STORE__PATH={s['store']}"
    voc = voc_command()
    print("  look next")
    print(f"    {env} {voc} alerts list          (the incident, its firings and messages)")
    print(f"    {env} {voc} search 转账失败 --sentiment negative")
    print(f"    {env} {voc} stats --by topic      (or --by day, --by sentiment, --json)")
    print(f"    {env} {voc} search --source tousu --since {_since_hint()}")
    print(f"    {env} {voc} cases list          (the cases opened, their teams and deadlines)")
    print(f"    the alert emails: {s['outbox']}/*.eml (open them in any mail client)")
    print("  the web console (http://127.0.0.1:8080/)")
    print(f"    {env} {voc} users add admin --role admin   (asks for a password: the first admin)")
    print(f"    {env} {voc} web")


def voc_command() -> str:
    """How to call `voc` from here: `voc` when it is on PATH, else the path of the one running
    (e.g. `.venv/bin/voc` after `make demo`, which does not activate the venv)."""
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    on_path = shutil.which("voc")
    if on_path and (running is None or Path(on_path).resolve() == running.resolve()):
        return "voc"
    if running is not None and running.name == "voc":
        try:
            return str(running.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(running)
    return ".venv/bin/voc"


def _since_hint() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).astimezone(display_tz()).strftime("%Y-%m-%d")


def cmd_demo(args: argparse.Namespace) -> int:
    from voc.cli.common import print_json

    summary = run_demo(progress=not args.json)
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    failed = summary["pipeline"]["rejected"] or summary["pipeline"]["spooled"] or summary["alert_errors"]
    return 1 if failed else 0
