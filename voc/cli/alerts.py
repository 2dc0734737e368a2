"""`voc alerts ...`: one check (now or replayed at a past time), a backtest over a period, the
history, silences, a test email and the daily digest.

    voc alerts check                          evaluate every rule now and deliver what fires
    voc alerts check --at "2025-06-14 10:05"  as if now were then (naive = [app] timezone)
    voc alerts check --dry-run --json         decide, write nothing, print the alerts as JSON
    voc alerts backtest --since 2025-05-01 --until 2025-06-01 [--rule NAME] [--step 1h] [--json]
                                              replay every check of a period (alerts/backtest.py):
                                              each rule's alerts per week, nothing sent or written
    voc alerts list [--since 2025-06-01]      alerts sent, and deliveries still pending or failed
    voc alerts silence negative_spike_topic:topic=信用卡 --for 24h --reason "known outage"
    voc alerts silence negative_spike_topic:topic=信用卡 --off
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

    ap = asub.add_parser("list", help="alert history, and deliveries pending or failed",
                         description="Alerts recorded (newest first) and deliveries that are still "
                                     "queued or gave up.")
    ap.add_argument("--since", metavar="TIME", help="only alerts since TIME (naive = [app] timezone)")
    ap.add_argument("--rule", help="only this rule")
    ap.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_list"))

    ap = asub.add_parser("silence", help="hold back alerts for RULE:KEY for a while",
                         description="Hold back alerts for one rule and group key, e.g. "
                                     "negative_spike_topic:topic=信用卡 (the key form of "
                                     "ARCHITECTURE.md). --off lifts a silence.")
    ap.add_argument("target", metavar="RULE:KEY")
    ap.add_argument("--for", dest="duration", default="24h", help="how long, e.g. 30m, 24h, 2d (default 24h)")
    ap.add_argument("--reason", default="", help="why (shown by `voc alerts list`)")
    ap.add_argument("--off", action="store_true", help="lift the silence instead")
    ap.set_defaults(handler=lazy("voc.cli.alerts", "cmd_silence"))

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
                    "suppressed": [a.state_key for a in report.suppressed],
                    "silenced": [a.state_key for a in report.silenced],
                    "pending": report.pending, "failed": report.failed, "errors": report.errors})
    else:
        when = now.astimezone(conf.display_tz).strftime("%Y-%m-%d %H:%M")
        print(f"alert check at {when}{' (dry run)' if args.dry_run else ''}: {len(fired)} fired, "
              f"{len(report.suppressed)} held back (realert window), {len(report.silenced)} silenced")
        for alert in fired:
            where = alert["eml"] or ("(not sent: dry run)" if args.dry_run else "(queued)")
            print(f"  [{alert['severity']}] {alert['kind']:<10} {alert['title']}  {where}")
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


def cmd_list(args: argparse.Namespace) -> int:
    from alerts.state import SEND_JOURNAL, SILENCE
    from indexer import open_settings_store

    conf = settings()
    since = cli_time(args.since, conf.display_tz)
    store = open_settings_store(conf, must_exist=True)
    try:
        history = store.alerts(since=since, rule=args.rule, limit=args.limit)
        journal = store.list_state(SEND_JOURNAL)
        silences = store.list_state(SILENCE)
    finally:
        store.close()
    undelivered = [{"id": k, "status": v.get("status"), "attempts": v.get("attempts", 0),
                    "last_error": v.get("last_error"), "next_attempt_at": v.get("next_attempt_at"),
                    "title": v.get("alert", {}).get("title")}
                   for k, v in journal.items() if v.get("status") in ("pending", "failed")]
    if args.json:
        print_json({"alerts": history, "undelivered": undelivered, "silences": silences})
        return 0
    tz = conf.display_tz
    print(f"{len(history)} alert(s)" + (f" since {args.since}" if args.since else ""))
    for entry in history:
        at = datetime.fromisoformat(entry["created_at"]).astimezone(tz).strftime("%m-%d %H:%M")
        print(f"  {at}  [{entry.get('severity', '?')}] {entry.get('kind', 'alert'):<10} "
              f"{entry['rule']}:{entry.get('key', '')}  {entry.get('title', '')}")
    for item in undelivered:
        print(f"  {item['status'].upper()}: {item['title']} (attempts {item['attempts']}; "
              f"{item['last_error']})")
    for key, doc in silences.items():
        print(f"  silenced {key} until {doc['until']}" + (f" — {doc['reason']}" if doc.get("reason") else ""))
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
    rules = {r.name: r for r in rules_from_settings(conf)}
    if rule not in rules:
        raise UsageError(f"no rule named {rule!r} in settings (rules: {', '.join(sorted(rules))})")
    _check_key(rules[rule], key)
    store = open_settings_store(conf)
    try:
        if args.off:
            store.delete_state(SILENCE, args.target)
            print(f"silence lifted: {args.target}")
            return 0
        try:
            length = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from exc
        until = datetime.now(UTC) + length
        silence(store, args.target, until, reason=args.reason)
    finally:
        store.close()
    print(f"silenced {args.target} until {until.astimezone(conf.display_tz):%Y-%m-%d %H:%M} "
          f"({conf.app.timezone})")
    return 0


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
