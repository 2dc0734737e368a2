"""`voc alerts ...`: one check (now or replayed at a past time), a backtest over a period, the
history, silences, a test email and the daily digest.

    voc alerts check                          evaluate every rule now and deliver what fires
    voc alerts check --at "2025-06-14 10:05"  as if now were then (naive = [app] timezone)
    voc alerts check --dry-run --json         decide, write nothing, print the alerts as JSON
    voc alerts backtest --since 2025-05-01 --until 2025-06-01 [--rule NAME] [--step 1h] [--json]
                                              replay every check of a period (alerts/backtest.py):
                                              each rule's alerts per week, nothing sent or written
    voc alerts list [--since 2025-06-01]      incidents and their firings, the alert history, and
                                              deliveries still pending or failed
    voc alerts list --stats                   each rule's precision from readers' 有用 / 误报
    voc alerts silence negative_spike_topic:topic=信用卡 --for 24h --reason "known outage"
    voc alerts silence incident:afea05fa542e --for 24h   every key of one incident
    voc alerts silence negative_spike_topic:topic=信用卡 --off
    voc alerts feedback ALERT_ID useful|false-alarm [--note ...]   a reader's verdict on an alert
    voc alerts test-email                     a sample alert through the configured email / outbox
    voc alerts digest [--at ...]              the digest of the day before, now

`check` exits 0 whether or not anything fired; 1 when a rule could not be evaluated or a delivery
is still pending or failed; 2 on a bad setting or argument; 4 when another check holds the store's
lock (two checks at once would both deliver). `backtest` exits 0, or 1 when a rule
could not be evaluated (it is left out of the later checks).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from voc.cli.common import UsageError, cli_time, lazy, print_json, settings


def register(sub: Any) -> None:
    """Add `voc alerts` and its actions to the `voc` subparsers."""

    p = sub.add_parser("alerts", help="alert rules: check, backtest, list, silence, test-email, digest",
                       description="Alert rules from settings.toml ([[alerts.rules]]).")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    for name, help_text in (("check", "evaluate every rule once and deliver what fires"),
                            ("run", "the same as `check` (kept for scripts)")):
        ap = asub.add_parser(name, help=help_text,
                             description="Evaluate every rule once, every window ending at --at "
                                         "(default now), and deliver what fires. Exit 0 whether or "
                                         "not anything fired.")
        ap.add_argument("--at", metavar="TIME", help="evaluate as if now were TIME (ISO 8601; "
                                                     "naive = [app] timezone), to replay history")
        ap.add_argument("--dry-run", action="store_true",
                        help="decide only: no alert state, history or delivery is written")
        ap.add_argument("--json", action="store_true", help="print the alerts fired as JSON")
        ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_check"))

    ap = asub.add_parser("backtest", help="replay every check of a period; nothing sent or written",
                         description="Run the alert checks of --since..--until, one every --step, over "
                                     "the stored history with the live decision code (realert window, "
                                     "escalations, recoveries, rule cursors kept in memory, starting "
                                     "empty; live silences are not applied). Prints each rule's alerts "
                                     "per week and their times. Nothing is sent and no state is "
                                     "written.")
    ap.add_argument("--since", metavar="TIME", required=True,
                    help="first check (ISO 8601; naive = [app] timezone), e.g. 2025-05-01")
    ap.add_argument("--until", metavar="TIME", help="last check (default now)")
    ap.add_argument("--rule", action="append", metavar="NAME",
                    help="only this rule (repeatable; default every configured rule)")
    ap.add_argument("--step", metavar="DURATION",
                    help="time between checks, e.g. 5m, 1h (default [alerts] interval_minutes)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_backtest"))

    ap = asub.add_parser("list", help="incidents, alert history, and deliveries pending or failed",
                         description="Incidents with their firings (newest first), the alerts "
                                     "recorded, and deliveries that are still queued or gave up. "
                                     "Times in the [app] timezone.")
    ap.add_argument("--stats", action="store_true",
                    help="each rule's precision from readers' feedback (voc alerts feedback)")
    ap.add_argument("--since", metavar="TIME", help="only alerts since TIME (naive = [app] timezone)")
    ap.add_argument("--rule", help="only this rule")
    ap.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_list"))

    ap = asub.add_parser("silence", help="hold back alerts for RULE:KEY (or a whole incident) for a while",
                         description="Hold back alerts for one rule and group key, e.g. "
                                     "negative_spike_topic:topic=信用卡 (the keys `voc alerts list` "
                                     "shows), or for every key of an incident: incident:ID (the id "
                                     "in the message). --off lifts a silence.")
    ap.add_argument("target", metavar="RULE:KEY|incident:ID")
    ap.add_argument("--for", dest="duration", default="24h", help="how long, e.g. 30m, 24h, 2d (default 24h)")
    ap.add_argument("--reason", default="", help="why (shown by `voc alerts list`)")
    ap.add_argument("--off", action="store_true", help="lift the silence instead")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_silence"))

    ap = asub.add_parser("feedback", help="say whether an alert was useful or a false alarm",
                         description="Store a reader's verdict on one alert (the id in its message; "
                                     "`voc alerts list` shows them). `voc alerts list --stats` "
                                     "shows each rule's precision from these.")
    ap.add_argument("alert_id", metavar="ALERT_ID")
    ap.add_argument("verdict", choices=["useful", "false-alarm"], help="有用 (useful) or 误报 (false-alarm)")
    ap.add_argument("--note", default="", help="why, in a few words")
    ap.add_argument("--by", default="", help="who says so (default: the login name)")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_feedback"))

    ap = asub.add_parser("test-email", help="send a sample alert through the configured email",
                         description="Build a sample alert and hand it to the email notifier (or "
                                     "write it to the outbox when no SMTP host is set), to check "
                                     "the mail settings and VOC_SMTP_PASSWORD.")
    ap.add_argument("--severity", default="warning", choices=["info", "warning", "critical"],
                    help="route it like an alert of this severity (default warning)")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_test_email"))

    ap = asub.add_parser("digest", help="send the daily digest of the day before now (or --at)",
                         description="Summarise the alerts and negative feedback of the day before "
                                     "--at (display timezone) and send it to every notifier.")
    ap.add_argument("--at", metavar="TIME", help="as if now were TIME (naive = [app] timezone)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_digest"))


def cmd_check(args: argparse.Namespace) -> int:
    from indexer import open_settings_store
    from voc.alerting import describe_fired, run_configured_rules

    conf = settings()
    now = cli_time(args.at, conf.display_tz) or datetime.now(UTC)
    from alerts.errors import CheckInProgress

    store = open_settings_store(conf, must_exist=True)
    try:
        report = run_configured_rules(conf, store, now=now, dry_run=args.dry_run)
    except CheckInProgress as exc:
        print(f"voc alerts check: {exc}", file=sys.stderr)
        return 4
    finally:
        store.close()
    fired = describe_fired(report, conf.notify.outbox)
    if args.json:
        print_json({"at": now.isoformat(), "dry_run": args.dry_run, "fired": fired,
                    "merged": [{"state_key": a.state_key, "kind": a.kind, "count": a.count,
                                "incident": a.incident} for a in report.merged],
                    "incidents": [{"id": i.id, "status": i.status, "title": i.title,
                                   "keys": sorted(i.keys)} for i in report.incidents],
                    "suppressed": [a.state_key for a in report.suppressed],
                    "silenced": [a.state_key for a in report.silenced],
                    "pending": report.pending, "failed": report.failed, "errors": report.errors})
    else:
        when = now.astimezone(conf.display_tz).strftime("%Y-%m-%d %H:%M")
        print(f"alert check at {when}{' (dry run)' if args.dry_run else ''}: {len(fired)} message(s), "
              f"{len(report.merged)} firing(s) carried in incidents, "
              f"{len(report.suppressed)} held back (realert window), {len(report.silenced)} silenced")
        for alert in fired:
            where = alert["eml"] or ("(not sent: dry run)" if args.dry_run else "(queued)")
            incident = f"事件 {alert['incident']} " if alert.get("incident") else ""
            print(f"  [{alert['severity']}] {alert['kind']:<10} {incident}{alert['title']}"
                  f"（+{alert['related']} 条相关信号）  {where}")
        for alert_id in report.pending:
            print(f"  delivery pending for alert {alert_id}; retried with backoff", file=sys.stderr)
        for alert_id in report.failed:
            print(f"  delivery failed for alert {alert_id}; see `voc alerts list`", file=sys.stderr)
        for err in report.errors:
            print(f"  rule error: {err}", file=sys.stderr)
    return 1 if report.errors or report.pending or report.failed else 0


KIND_WORDS = {"new": "新告警", "escalation": "升级", "recovery": "恢复"}


def cmd_backtest(args: argparse.Namespace) -> int:
    from alerts import parse_duration
    from alerts.backtest import MAX_CHECKS, backtest, count_checks
    from indexer import open_settings_store
    from voc.alerting import rules_from_settings

    conf = settings()
    tz = conf.display_tz
    since = cli_time(args.since, tz) or datetime.now(UTC)  # --since is required by the parser
    until = cli_time(args.until, tz) or datetime.now(UTC)
    if since >= until:
        raise UsageError(f"--since ({args.since}) must be before --until ({args.until or 'now'})")
    if args.step is None:
        step = timedelta(minutes=conf.alerts.interval_minutes)
    else:
        try:
            step = parse_duration(args.step)
        except ValueError as exc:
            raise UsageError(f"--step: {exc}") from exc
    checks = count_checks(since, until, step)
    if checks > MAX_CHECKS:
        raise UsageError(f"--step {args.step or step}: {checks} checks is more than {MAX_CHECKS}; "
                         "use a larger --step (e.g. 1h) or a shorter period")
    rules = rules_from_settings(conf)
    if args.rule:
        known = [r.name for r in rules]
        unknown = [name for name in args.rule if name not in known]
        if unknown:
            raise UsageError(f"no rule named {unknown[0]!r} in settings (rules: {', '.join(known)})")
        rules = [r for r in rules if r.name in args.rule]

    def progress(done: int, total: int, at: datetime) -> None:
        print(f"backtest: {done}/{total} checks ({done * 100 // total}%), at "
              f"{at.astimezone(tz):%Y-%m-%d %H:%M}", file=sys.stderr, flush=True)

    store = open_settings_store(conf)
    try:
        report = backtest(rules, store, since, until, step,
                          realert=timedelta(hours=conf.alerts.realert_hours),
                          recovery=conf.alerts.recovery, progress=progress if checks >= 20 else None)
    finally:
        store.close()
    if args.json:
        print_json(report.to_dict(tz))
        return 0 if report.ok else 1
    minutes = step / timedelta(minutes=1)
    every = f"{minutes:g} 分钟" if minutes < 60 else f"{minutes / 60:g} 小时"
    print(f"告警回测 backtest {since.astimezone(tz):%Y-%m-%d %H:%M} → {until.astimezone(tz):%Y-%m-%d %H:%M}"
          f"（{conf.app.timezone}），每 {every}一次，共 {report.checks} 次检查；未发送、未写入任何状态")
    print(f"读者会收到 {len(report.messages)} 条消息，共 {report.incidents} 个事件")
    weeks = report.weeks()
    for name, result in report.rules.items():
        kinds = result.kinds()
        print(f"\n{name} [{result.severity}]：{len(result.items)} 条（新告警 {kinds['new']}，"
              f"升级 {kinds['escalation']}，恢复 {kinds['recovery']}；重复被压下 {result.suppressed} 次）")
        for k, ((start, end), n) in enumerate(zip(weeks, report.per_week(name), strict=True), start=1):
            last = end - timedelta(seconds=1) if end > start else end
            print(f"  第 {k} 周 {start.astimezone(tz):%m-%d} 至 {last.astimezone(tz):%m-%d}：{n} 条")
        for item in result.items:
            print(f"  {item.at.astimezone(tz):%Y-%m-%d %H:%M}  {KIND_WORDS.get(item.kind, item.kind)}  "
                  f"{item.key or '-'}  {item.title}")
        if result.error:
            at = result.error_at.astimezone(tz) if result.error_at else None
            print(f"  rule error at {at:%Y-%m-%d %H:%M}, left out of later checks: {result.error}",
                  file=sys.stderr)
    return 0 if report.ok else 1


def _when(value: str | None, tz: Any) -> str:
    """An ISO time from the store as a person reads it: display timezone, minutes."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(tz).strftime("%m-%d %H:%M")


INCIDENT_WORDS = {"open": "进行中", "recovered": "已恢复", "closed": "已结束"}
KIND_LABELS = {"alert": "首次通知", "escalation": "升级", "recovery": "恢复", "update": "更新"}


def cmd_list(args: argparse.Namespace) -> int:
    from alerts.feedback import FEEDBACK, rule_precision
    from alerts.incidents import IncidentBook
    from alerts.state import SEND_JOURNAL, SILENCE
    from indexer import open_settings_store

    conf = settings()
    tz = conf.display_tz
    since = cli_time(args.since, conf.display_tz)
    store = open_settings_store(conf, must_exist=True)
    try:
        history = store.alerts(since=since, rule=args.rule, limit=args.limit)
        journal = store.list_state(SEND_JOURNAL)
        silences = store.list_state(SILENCE)
        incidents = [i for i in IncidentBook(store).all() if since is None or i.updated_at >= since]
        incidents = [i for i in incidents if args.rule is None
                     or any(k.get("rule") == args.rule for k in i.keys.values())][:args.limit]
        verdicts = store.list_state(FEEDBACK)
        precision = rule_precision(store)
    finally:
        store.close()
    undelivered = [{"id": k, "status": v.get("status"), "attempts": v.get("attempts", 0),
                    "last_error": v.get("last_error"), "next_attempt_at": v.get("next_attempt_at"),
                    "title": v.get("alert", {}).get("title")}
                   for k, v in journal.items() if v.get("status") in ("pending", "failed")]
    stats = {rule: {"judged": p.judged, "useful": p.useful, "precision": p.precision}
             for rule, p in precision.items()}
    if args.json:
        print_json({"incidents": [i.to_dict() for i in incidents], "alerts": history,
                    "undelivered": undelivered, "silences": silences, "feedback": verdicts,
                    "precision": stats})
        return 0
    if args.stats:
        return _print_stats(precision)
    print(f"{len(incidents)} incident(s)" + (f" since {args.since}" if args.since else ""))
    for incident in incidents:
        print(f"  事件 {incident.id}  {INCIDENT_WORDS.get(incident.status, incident.status)}  "
              f"{_when(incident.opened_at.isoformat(), tz)} – {_when(incident.updated_at.isoformat(), tz)}"
              f"  {incident.title}")
        for message in incident.messages:
            print(f"    消息 {_when(message['at'], tz)}  {KIND_LABELS.get(message['kind'], message['kind'])}"
                  f"  {message['id']}")
        for state_key, entry in incident.keys.items():
            status = "已恢复" if entry.get("status") == "recovered" else "触发中"
            print(f"    {state_key}  {status}  最近 {entry.get('count', 0)} 条（峰值 {entry.get('peak', 0)}）"
                  f"  首次 {_when(entry.get('first_fired'), tz)}  最近 {_when(entry.get('last_fired'), tz)}")
    print(f"{len(history)} alert(s)" + (f" since {args.since}" if args.since else ""))
    for entry in history:
        verdict = verdicts.get(entry.get("id", ""), {}).get("verdict")
        mark = {"useful": "  [有用]", "false_alarm": "  [误报]"}.get(verdict or "", "")
        where = f"  事件 {entry['incident']}" if entry.get("incident") else ""
        print(f"  {_when(entry['created_at'], tz)}  [{entry.get('severity', '?')}] "
              f"{KIND_LABELS.get(entry.get('kind', 'alert'), entry.get('kind', 'alert'))}  "
              f"{entry['rule']}:{entry.get('key', '')}  {entry.get('title', '')}  id {entry.get('id', '-')}"
              f"{where}{mark}")
    for item in undelivered:
        retry = f"; next try {_when(item['next_attempt_at'], tz)}" if item.get("next_attempt_at") else ""
        print(f"  {item['status'].upper()}: {item['title']} (attempts {item['attempts']}{retry}; "
              f"{item['last_error']})")
    for key, doc in silences.items():
        print(f"  silenced {key} until {_when(doc['until'], tz)} ({conf.app.timezone})"
              + (f" — {doc['reason']}" if doc.get("reason") else ""))
    return 0


def _print_stats(precision: dict[str, Any]) -> int:
    if not precision:
        print("no feedback yet: `voc alerts feedback ALERT_ID useful|false-alarm` records a verdict")
        return 0
    print("rule precision from readers' feedback (有用 / 已评价)")
    width = max(len(rule) for rule in precision)
    for rule, p in precision.items():
        share = f"{p.precision:.0%}" if p.precision is not None else "-"
        print(f"  {rule:<{width}}  {p.useful}/{p.judged} 有用  precision {share}")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    import getpass

    from alerts.feedback import VERDICTS, UnknownAlert, give_feedback
    from indexer import open_settings_store

    conf = settings()
    verdict = args.verdict.replace("-", "_")
    store = open_settings_store(conf, must_exist=True)
    try:
        doc = give_feedback(store, args.alert_id, verdict, by=args.by or getpass.getuser(),
                            now=datetime.now(UTC), note=args.note)
    except UnknownAlert as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
    print(f"feedback stored: {args.alert_id} ({doc['rule']}:{doc['key']}) {VERDICTS[verdict]}")
    return 0


def _check_key(rule: Any, key: str) -> None:
    """A silence that names fields the rule never keys on silences nothing: refuse it (exit 2)."""
    want = rule.key_fields()
    got = tuple(part.split("=", 1)[0] for part in key.split(",")) if key else ()
    if got != want or any("=" not in part for part in (key.split(",") if key else [])):
        form = ",".join(f"{f}=<value>" for f in want) or "nothing (the rule has one overall key)"
        raise UsageError(f"key {key!r} does not fit rule {rule.name!r}: its keys read {form}")


def cmd_silence(args: argparse.Namespace) -> int:
    from alerts import parse_duration, silence
    from alerts.state import SILENCE
    from indexer import open_settings_store
    from voc.alerting import rules_from_settings

    if ":" not in args.target:
        raise UsageError(f"{args.target!r} is not RULE:KEY, e.g. negative_spike_topic:topic=信用卡")
    conf = settings()
    rule, key = args.target.split(":", 1)
    try:
        length = parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from exc
    store = open_settings_store(conf)
    try:
        if rule == "incident":
            targets = _incident_keys(store, key)
        else:
            rules = {r.name: r for r in rules_from_settings(conf)}
            if rule not in rules:
                raise UsageError(f"no rule named {rule!r} in settings (rules: {', '.join(sorted(rules))})")
            _check_key(rules[rule], key)
            targets = [args.target]
        if args.off:
            for target in targets:
                store.delete_state(SILENCE, target)
                print(f"silence lifted: {target}")
            return 0
        until = datetime.now(UTC) + length
        for target in targets:
            silence(store, target, until, reason=args.reason)
    finally:
        store.close()
    for target in targets:
        print(f"silenced {target} until {until.astimezone(conf.display_tz):%Y-%m-%d %H:%M} "
              f"({conf.app.timezone})")
    return 0


def _incident_keys(store: Any, incident_id: str) -> list[str]:
    from alerts.incidents import IncidentBook

    incident = IncidentBook(store).get(incident_id)
    if incident is None:
        raise UsageError(f"no incident {incident_id!r} (`voc alerts list` shows the incidents)")
    return sorted(incident.keys)


def cmd_test_email(args: argparse.Namespace) -> int:
    from alerts import Alert, DeliveryError, EmailNotifier, Notifier, OutboxNotifier
    from voc.alerting import notifiers_from_settings

    conf = settings()
    now = datetime.now(UTC)
    alert = Alert(rule="test-email", key="", severity=args.severity, window_start=now - timedelta(hours=1),
                  window_end=now, count=0, baseline=0.0, ratio=0.0, p_value=1.0,
                  title="voc-monitor 测试邮件：邮件设置可用", fired_at=now)
    notifiers = notifiers_from_settings(conf)
    email = [n for n in notifiers if isinstance(n, EmailNotifier)]
    outbox = next(n for n in notifiers if isinstance(n, OutboxNotifier))  # always configured
    target: Notifier = email[0] if email else outbox  # the outbox when no SMTP host is set
    if not target.wants(alert):
        print(f"no recipients for severity {args.severity} in [notify.recipients]", file=sys.stderr)
        return 1
    try:
        target.send(alert)
    except DeliveryError as exc:
        print(f"test email failed: {exc}", file=sys.stderr)
        return 1
    if email:
        print(f"test email sent through {conf.notify.smtp_host}:{conf.notify.smtp_port}")
    else:
        print(f"no [notify] smtp_host set: the test email was written to {outbox.path_for(alert)}")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from indexer import open_settings_store
    from voc.alerting import send_daily_digest

    conf = settings()
    now = cli_time(args.at, conf.display_tz) or datetime.now(UTC)
    store = open_settings_store(conf)
    try:
        report = send_daily_digest(conf, store, now=now)
    finally:
        store.close()
    if args.json:
        print_json({"sent": report.sent, "failed": report.failed, "skipped": report.skipped})
    else:
        print(f"digest: sent to {', '.join(report.sent) or 'nobody'}"
              + (f"; failed: {', '.join(report.failed)}" if report.failed else ""))
    return 1 if report.failed else 0
