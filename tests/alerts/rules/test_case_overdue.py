"""`case_overdue`: an overdue case raises ONE alert, through the journal and incidents like every
rule, mailed to its team's lead; later checks stay quiet; waiting for the customer stops the clock;
a reopened case that passes its new deadline escalates again."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts import OutboxNotifier, build_rule, run_rules
from alerts.state import SEND_JOURNAL
from care.cases import CaseBook
from care.sla import WorkingCalendar
from core.record import Feedback, make_id

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 11, 3, 9, 0, tzinfo=TZ)


def check(store, outbox: Path, at: datetime, **kwargs):  # type: ignore[no-untyped-def]
    rule = build_rule({"name": "case_overdue", "type": "case_overdue"})
    notifier = OutboxNotifier(outbox, recipients_by_severity={"warning": ["pr-team@example.com"]})
    return run_rules([rule], store, [notifier], at, **kwargs)


def test_an_overdue_case_is_escalated_once_to_its_lead(store, tmp_path: Path) -> None:
    book = CaseBook(store, WorkingCalendar(("09:00-12:00", "13:00-17:00"), TZ),
                    {"info": 40, "warning": 16, "critical": 4}, ("fixed",),
                    {"电子银行部": ["ebank-lead@example.com"]})
    comment = Feedback(id=make_id("weibo", native_id="1"), source="weibo", kind="post",
                       text="转账失败，打客服电话13812345678没人管", created_at=MONDAY - timedelta(hours=1))
    store.upsert([comment])
    case = book.open("手机银行转账失败", team="电子银行部", severity="critical", by="li", now=MONDAY,
                     records=[comment.id])
    book.open("信用卡积分", team="信用卡中心", severity="info", by="li", now=MONDAY)  # due next week
    assert case.due_at == MONDAY.replace(hour=14)

    assert check(store, tmp_path / "out", MONDAY.replace(hour=13, minute=55)).fired == []
    # dry run: decides, writes nothing, so the real check after it still escalates
    assert len(check(store, tmp_path / "out", MONDAY.replace(hour=14, minute=5), dry_run=True).fired) == 1
    report = check(store, tmp_path / "out", MONDAY.replace(hour=14, minute=5))
    [alert] = report.fired
    assert alert.rule == "case_overdue" and alert.key == f"case={case.id}" and not alert.related
    assert "ebank-lead@example.com" in alert.details["recipients"] and alert.samples[0].id == comment.id
    assert alert.incident and report.sent == [alert.id]  # journaled, an incident, delivered
    [eml] = (tmp_path / "out").glob("*.eml")
    mail = message_from_bytes(eml.read_bytes())
    assert mail["To"] == "ebank-lead@example.com"  # the lead, not the PR list of its severity
    assert "13812345678" not in eml.read_text("utf-8", "replace")
    assert store.get_state(SEND_JOURNAL, alert.id)["status"] == "sent"

    # every later check, past the realert window too, is quiet: once per deadline
    for later in (timedelta(minutes=10), timedelta(hours=3), timedelta(days=1)):
        assert check(store, tmp_path / "out", MONDAY.replace(hour=14, minute=5) + later).fired == []
    assert len(store.alerts(rule="case_overdue")) == 1

    # waiting for the customer stops the clock; a reopened case gets a fresh deadline and, once
    # that passes too, a new escalation
    tuesday = MONDAY + timedelta(days=1)
    book.move(case.id, "waiting_customer", by="li", now=tuesday)
    assert check(store, tmp_path / "out", tuesday + timedelta(hours=5)).fired == []
    book.move(case.id, "resolved", by="li", now=tuesday + timedelta(hours=6))
    book.move(case.id, "open", by="li", now=tuesday + timedelta(hours=7), note="客户再次来电")  # 16:00
    assert check(store, tmp_path / "out", tuesday + timedelta(hours=8)).fired == []
    [again] = check(store, tmp_path / "out", tuesday + timedelta(days=1, hours=4)).fired  # Wed 13:00
    assert again.key == f"case={case.id}" and again.id != alert.id
