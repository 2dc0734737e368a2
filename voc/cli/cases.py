"""`voc cases ...` (工单) and `voc report weekly`: the closed loop from a complaint to its 回访.

    voc cases list [--status S] [--team T] [--overdue] [--json]     newest first, contacts masked
    voc cases show ID [--json]                                      the whole case, its history
    voc cases open TITLE --team T [--severity S] [--record ID ...] [--incident ID]
                   [--assignee NAME] [--contact-name ..] [--contact-phone ..] [--contact-email ..]
    voc cases assign ID [--to NAME] [--team T]
    voc cases note ID TEXT
    voc cases status ID open|in_progress|waiting_customer|resolved|closed [--note ..] [--code ..]
    voc cases callback ID --channel phone --outcome reached [--satisfaction 1-5] [--note ..] [--at T]
    voc cases close ID --code fixed [--note ..]
    voc report weekly [--at T] [--send] [--json]                    the week before --at, per team

An ID may be shortened to any prefix only one case has. `--by` names who acts (default: the login
name). A case that cannot do what was asked (an unknown id, a transition its status does not
allow, a close without a resolution code) is one line and exit 2.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from typing import Any

from voc.cli.common import UsageError, cli_time, clip, json_flag, lazy, print_json, settings, table

STATUS_CHOICES = ("open", "in_progress", "waiting_customer", "resolved", "closed")


def register(sub: Any) -> None:
    p = sub.add_parser("cases", help="cases (工单): list, show, open, assign, note, status, callback, close",
                       description="Cases from a complaint to its 回访: who owns it, its SLA deadline "
                                   "(working hours, Chinese holidays), notes, 回访 and resolution.")
    csub = p.add_subparsers(dest="cases_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        ap: argparse.ArgumentParser = csub.add_parser(name, help=help_text, description=help_text)
        ap.add_argument("--by", default="", help="who does this (default: the login name)")
        json_flag(ap)
        ap.set_defaults(handler=lazy("voc.cli.cases", f"cmd_{name}"))
        return ap

    ap = action("list", "cases, newest first (contact data masked)")
    ap.add_argument("--status", action="append", choices=STATUS_CHOICES, help="only this status (repeatable)")
    ap.add_argument("--team", help="only this team")
    ap.add_argument("--overdue", action="store_true", help="only cases past their deadline")
    ap.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    ap = action("show", "one case: records, deadline, notes, 回访, every change with who and when")
    ap.add_argument("id")
    ap = action("open", "open a case by hand")
    ap.add_argument("title")
    ap.add_argument("--team", help="the team that owns it (default [cases] default_team)")
    ap.add_argument("--severity", default="warning", choices=["info", "warning", "critical"])
    ap.add_argument("--record", action="append", default=[], help="a record id it is about (repeatable)")
    ap.add_argument("--incident", default="", help="an incident id it is about")
    ap.add_argument("--assignee", default="")
    for field in ("name", "phone", "email"):
        ap.add_argument(f"--contact-{field}", default="", help=f"the customer's {field} (kept for 回访)")
    ap = action("assign", "give a case to a person and/or another team")
    ap.add_argument("id")
    ap.add_argument("--to", dest="assignee", help="the person who works it")
    ap.add_argument("--team")
    ap = action("note", "add a note")
    ap.add_argument("id")
    ap.add_argument("text")
    ap = action("status", "move a case: open (reopen), in_progress, waiting_customer, resolved, closed")
    ap.add_argument("id")
    ap.add_argument("status", choices=STATUS_CHOICES)
    ap.add_argument("--note", default="")
    ap.add_argument("--code", default="", help="resolution code (needed to close)")
    ap = action("callback", "record a 回访: how, its outcome, the customer's satisfaction afterwards")
    ap.add_argument("id")
    ap.add_argument("--channel", required=True,
                    choices=["phone", "sms", "wechat", "email", "visit", "branch"])
    ap.add_argument("--outcome", required=True, choices=["reached", "no_answer", "declined", "wrong_number"])
    ap.add_argument("--satisfaction", type=float, help="1-5, as the customer said (outcome reached)")
    ap.add_argument("--note", default="")
    ap.add_argument("--at", help="when it took place (default now; naive = [app] timezone)")
    ap = action("close", "resolve (if needed) and close with a resolution code")
    ap.add_argument("id")
    ap.add_argument("--code", default="", help="resolution code ([cases] resolution_codes)")
    ap.add_argument("--note", default="")

    p = sub.add_parser("report", help="the weekly service report", description="Service reports.")
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    ap = rsub.add_parser("weekly", help="per team: opened, resolved, median time to resolve, SLA met, "
                                        "回访 and satisfaction before and after",
                         description="The full week (Monday to Sunday, [app] timezone) before --at.")
    ap.add_argument("--at", help="as if now were this time (default now)")
    ap.add_argument("--send", action="store_true", help="also email it (outbox, and SMTP when set)")
    json_flag(ap)
    ap.set_defaults(handler=lazy("voc.cli.cases", "cmd_weekly"))


def _book(must_exist: bool = True) -> tuple[Any, Any, Any]:
    from care.cases import CaseBook
    from indexer import open_settings_store

    conf = settings()
    store = open_settings_store(conf, must_exist=must_exist)
    return conf, store, CaseBook.from_settings(conf, store)


def _who(args: argparse.Namespace) -> str:
    return str(args.by or getpass.getuser())


def _when(value: Any, tz: Any) -> str:
    if not value:
        return "-"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def cmd_list(args: argparse.Namespace) -> int:
    conf, store, book = _book()
    now = datetime.now(UTC)
    try:
        cases = [c for c in book.all() if (not args.status or c.status in args.status)
                 and (not args.team or c.team == args.team) and (not args.overdue or c.overdue(now))]
    finally:
        store.close()
    cases = cases[:args.limit]
    if args.json:
        print_json([{**c.to_dict(), "overdue": c.overdue(now)} for c in cases])
        return 0
    rows: list[list[str]] = [["id", "状态", "级别", "团队", "处理人", "截止", "", "标题"]]
    for c in cases:
        rows.append([c.id, c.status_name, c.severity, c.team, c.assignee or "-",
                     _when(c.due_at, conf.display_tz), "超时" if c.overdue(now) else "", clip(c.title, 50)])
    print(f"{len(cases)} case(s)")
    for line in table(rows):
        print(line)
    return 0


def show(case: Any, tz: Any, now: datetime) -> list[str]:
    """The case as `voc cases show` prints it (the contact whole: this is the case's own view)."""
    from care.cases import CHANNELS, OUTCOMES

    lines = [f"工单 {case.id}  {case.title}",
             f"  状态 {case.status_name} · 级别 {case.severity} · 团队 {case.team} · "
             f"处理人 {case.assignee or '-'}",
             f"  创建 {_when(case.created_at, tz)} 由 {case.created_by}"
             + (f"（路由 {case.route}）" if case.route else ""),
             f"  截止 {_when(case.due_at, tz)}" + ("  已超时" if case.overdue(now) else "")
             + (f" · SLA {'达标' if case.sla_met else '未达标'}" if case.sla_met is not None else "")]
    if case.contact:
        lines.append("  联系人 " + " · ".join(case.contact.values()))
    if case.rating_before is not None:
        lines.append(f"  原始评分 {case.rating_before:g}")
    if case.records or case.incident:
        lines.append(f"  记录 {', '.join(case.records[:10])}" + (" …" if len(case.records) > 10 else "")
                     + (f"  事件 {case.incident}" if case.incident else ""))
    if case.resolution_code:
        lines.append(f"  解决方式 {case.resolution_code}")
    for n in case.notes:
        lines.append(f"  备注 {_when(n['at'], tz)} {n['by']}: {n['text']}")
    for b in case.callbacks:
        said = f" 满意度 {b['satisfaction']:g}" if b.get("satisfaction") is not None else ""
        lines.append(f"  回访 {_when(b['at'], tz)} {b['by']} {CHANNELS.get(b['channel'], b['channel'])} "
                     f"{OUTCOMES.get(b['outcome'], b['outcome'])}{said} {b.get('note', '')}".rstrip())
    lines.append("  历史")
    for h in case.history:
        change = f"{h['from']} → {h['to']}" if h.get("to") and h.get("from") else ""
        for key, word in (("assignee", "处理人"), ("team", "团队")):
            if h.get(key):
                change += f" {word} {h[key][0] or '-'} → {h[key][1]}"
        extra = " ".join(str(h[k]) for k in ("outcome", "code", "note") if h.get(k))
        lines.append(f"    {_when(h['at'], tz)} {h['by']} {h['action']} {change} {extra}".rstrip())
    return lines


def _done(args: argparse.Namespace, case: Any, conf: Any) -> int:
    if args.json:
        print_json(case.to_dict(masked=False))
    else:
        for line in show(case, conf.display_tz, datetime.now(UTC)):
            print(line)
    return 0


def _run(args: argparse.Namespace, act: Any) -> int:
    conf, store, book = _book()
    try:
        case = act(book, datetime.now(UTC))
    finally:
        store.close()
    return _done(args, case, conf)


def cmd_show(args: argparse.Namespace) -> int:
    return _run(args, lambda book, now: book.find(args.id))


def cmd_open(args: argparse.Namespace) -> int:
    contact = {k: getattr(args, f"contact_{k}") for k in ("name", "phone", "email")}
    conf, store, book = _book(must_exist=False)
    try:
        found = store.get_many(args.record) if args.record else {}
        missing = [r for r in args.record if r not in found]
        if missing:
            raise UsageError(f"--record {missing[0]}: no such record in the store")
        rated = [found[r].rating for r in args.record if found[r].rating is not None]
        case = book.open(args.title, team=args.team or conf.cases.default_team, severity=args.severity,
                         by=_who(args), now=datetime.now(UTC), records=args.record, incident=args.incident,
                         assignee=args.assignee, contact=contact, rating_before=rated[0] if rated else None)
    finally:
        store.close()
    return _done(args, case, conf)


def cmd_assign(args: argparse.Namespace) -> int:
    if args.assignee is None and args.team is None:
        raise UsageError("give --to NAME and/or --team TEAM")
    return _run(args, lambda book, now: book.assign(args.id, by=_who(args), now=now, assignee=args.assignee,
                                                    team=args.team))


def cmd_note(args: argparse.Namespace) -> int:
    return _run(args, lambda book, now: book.note(args.id, args.text, by=_who(args), now=now))


def cmd_status(args: argparse.Namespace) -> int:
    return _run(args, lambda book, now: book.move(args.id, args.status, by=_who(args), now=now,
                                                  note=args.note, code=args.code))


def cmd_callback(args: argparse.Namespace) -> int:
    conf = settings()
    at = cli_time(args.at, conf.display_tz)
    return _run(args, lambda book, now: book.callback(args.id, channel=args.channel, outcome=args.outcome,
                                                      satisfaction=args.satisfaction, note=args.note,
                                                      by=_who(args), now=now, at=at))


def cmd_close(args: argparse.Namespace) -> int:
    return _run(args, lambda book, now: book.close(args.id, code=args.code, note=args.note, by=_who(args),
                                                   now=now))


def report_text(report: Any) -> list[str]:
    """The weekly report as printed and mailed: subject, the table (by display width), the note."""
    from care.report import NOTE, report_rows, report_subject

    return [report_subject(report), "", *table(report_rows(report), align="<>>>>>>>>"), "", NOTE]


def cmd_weekly(args: argparse.Namespace) -> int:
    from indexer import open_settings_store
    from voc.reporting import build_weekly_report, send_report

    conf = settings()
    now = cli_time(args.at, conf.display_tz) or datetime.now(UTC)
    store = open_settings_store(conf, must_exist=True)
    try:
        report = build_weekly_report(conf, store, now)
    finally:
        store.close()
    lines = report_text(report)
    delivery = send_report(conf, report, "\n".join(lines), now) if args.send else None
    if args.json:
        print_json({**report.to_dict(), "sent": delivery.sent if delivery else [],
                    "failed": delivery.failed if delivery else {}})
    else:
        for line in lines:
            print(line)
        if delivery is not None:
            print(f"sent: {', '.join(delivery.sent) or '-'}"
                  + (f"; failed: {delivery.failed}" if delivery.failed else ""))
    return 1 if delivery is not None and delivery.failed else 0
