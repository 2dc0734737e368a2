"""A case through every status on a real SQLite store: every transition recorded with who and when,
the SLA clock stopped while waiting for the customer, reopen, 回访 and the contact masked."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from care.cases import CaseBook, CaseError
from care.sla import WorkingCalendar
from indexer import SqliteStore

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 11, 3, 9, 0, tzinfo=TZ)  # an ordinary working Monday


@pytest.fixture
def book(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "voc.db")
    yield CaseBook(store, WorkingCalendar(("09:00-12:00", "13:00-17:00"), TZ),
                   {"info": 40, "warning": 16, "critical": 4},
                   ("fixed", "explained", "unreachable"), {"电子银行部": ["ebank-lead@example.com"]})
    store.close()


def test_a_case_walks_through_every_status(book: CaseBook) -> None:
    t = MONDAY
    case = book.open("手机银行转账失败 余额少了", team="电子银行部", severity="critical", by="li", now=t,
                     records=["r1"], contact={"name": "张先生", "phone": "13812345678"})
    assert case.status == "open" and case.lead == ["ebank-lead@example.com"]
    assert case.due_at == datetime(2025, 11, 3, 14, 0, tzinfo=TZ)  # 4 working hours, lunch skipped
    steps = [("in_progress", "wang", t + timedelta(minutes=30)),
             ("waiting_customer", "wang", t + timedelta(hours=1)),  # 3 working hours left then
             ("in_progress", "wang", t + timedelta(days=1)),  # Tuesday 09:00: clock runs again
             ("resolved", "wang", t + timedelta(days=1, hours=2)),
             ("closed", "zhao", t + timedelta(days=1, hours=3)),
             ("open", "zhao", t + timedelta(days=2)),  # reopened: the customer called again
             ("resolved", "wang", t + timedelta(days=2, hours=1)),
             ("closed", "wang", t + timedelta(days=2, hours=2))]
    for status, who, when in steps:
        code = "fixed" if status == "closed" else ""
        case = book.move(case.id, status, by=who, now=when, code=code)
        assert case.status == status
        if status == "in_progress" and when.day == 4:
            assert case.due_at == datetime(2025, 11, 4, 12, 0, tzinfo=TZ)  # 09:00 + the 3 h left
    stored = book.get(case.id)
    assert stored is not None
    moves = [(h["action"], h.get("from"), h.get("to"), h["by"], h["at"]) for h in stored.history]
    assert moves[0][:3] == ("open", None, "open")
    assert [(a, f, to, by) for a, f, to, by, _ in moves[1:]] == [
        ("status", "open", "in_progress", "wang"), ("status", "in_progress", "waiting_customer", "wang"),
        ("status", "waiting_customer", "in_progress", "wang"), ("status", "in_progress", "resolved", "wang"),
        ("status", "resolved", "closed", "zhao"), ("reopen", "closed", "open", "zhao"),
        ("status", "open", "resolved", "wang"), ("status", "resolved", "closed", "wang")]
    assert [at for *_, at in moves] == [t.isoformat()] + [w.isoformat() for *_, w in steps]
    # the first resolution decided the SLA (Tuesday 11:00, due 12:00): met
    assert stored.sla_met is True and stored.first_resolved_at == t + timedelta(days=1, hours=2)
    assert stored.resolution_code == "fixed" and stored.closed_at == t + timedelta(days=2, hours=2)


def test_transitions_that_are_not_allowed_say_why(book: CaseBook) -> None:
    case = book.open("信用卡年费", team="信用卡中心", severity="warning", by="li", now=MONDAY)
    with pytest.raises(CaseError, match="can go to"):
        book.move(case.id, "closed", by="li", now=MONDAY, code="fixed")
    book.move(case.id, "resolved", by="li", now=MONDAY)
    with pytest.raises(CaseError, match="resolution code"):
        book.move(case.id, "closed", by="li", now=MONDAY)
    with pytest.raises(CaseError, match="resolution code must be one of"):
        book.move(case.id, "closed", by="li", now=MONDAY, code="whatever")
    assert book.get(case.id).status == "resolved"  # type: ignore[union-attr]  # nothing half-done


def test_overdue_callbacks_notes_and_masking(book: CaseBook) -> None:
    case = book.open("网点排队两小时", team="网点运营部", severity="warning", by="li", now=MONDAY,
                     contact={"name": "李女士", "phone": "13912345678", "email": "li.na@example.com"},
                     rating_before=1)
    assert not case.overdue(MONDAY + timedelta(hours=1))
    assert case.overdue(MONDAY + timedelta(days=3))  # 16 working hours: Wednesday 09:00 is past it
    book.note(case.id, "客户来电 13912345678 要求回电", by="wang", now=MONDAY + timedelta(hours=1))
    book.close(case.id, code="explained", by="wang", now=MONDAY + timedelta(hours=2))
    done = book.callback(case.id, channel="phone", outcome="reached", satisfaction=4, by="wang",
                         now=MONDAY + timedelta(days=1), note="已致电解释")
    assert done.satisfaction_after == 4 and done.rating_before == 1
    with pytest.raises(CaseError):
        book.callback(case.id, channel="phone", outcome="no_answer", satisfaction=3, by="w", now=MONDAY)
    public, whole = done.to_dict(), done.to_dict(masked=False)
    assert public["contact"] == {"name": "李**", "phone": "139****5678", "email": "l***@example.com"}
    assert "13912345678" not in str(public) and whole["contact"]["phone"] == "13912345678"
    assert book.find(case.id[:6]).id == case.id
    with pytest.raises(CaseError, match="no case"):
        book.find("zzzz")
