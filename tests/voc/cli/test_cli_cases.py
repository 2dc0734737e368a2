"""`voc cases ...` and `voc report weekly` on a real SQLite store: a case opened, assigned, noted,
moved, called back and closed from the command line, contacts masked in the list, a refused
transition is exit 2, and the weekly report's figures (computed here by hand) printed, as JSON and
mailed to the outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support.cli_env import cli_env

from care.cases import CaseBook
from core.record import DISPLAY_TZ
from core.settings import load_settings
from indexer import SqliteStore
from voc.cli import main

MONDAY = datetime(2025, 11, 3, 9, 0, tzinfo=DISPLAY_TZ)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cli_env(monkeypatch, tmp_path, tmp_path / "no-model")
    SqliteStore(tmp_path / "voc.db").close()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_case_from_the_command_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "cases", "open", "网点排队两小时", "--team", "网点运营部",
                       "--severity", "critical", "--contact-name", "张先生",
                       "--contact-phone", "13812345678", "--by", "li", "--json")
    assert code == 0
    case: dict[str, Any] = json.loads(out)
    assert case["contact"] == {"name": "张先生", "phone": "13812345678"}
    assert case["lead"] == ["branch-lead@example.com"]
    short = case["id"][:6]
    code, out, _ = run(capsys, "cases", "list")
    assert code == 0 and case["id"] in out and "待处理" in out and "13812345678" not in out
    listed = json.loads(run(capsys, "cases", "list", "--json")[1])
    assert listed[0]["contact"] == {"name": "张**", "phone": "138****5678"}
    for argv in (("assign", short, "--to", "wang"), ("note", short, "已联系网点主任"),
                 ("status", short, "in_progress"), ("status", short, "resolved", "--note", "已加开窗口"),
                 ("callback", short, "--channel", "phone", "--outcome", "reached", "--satisfaction", "4"),
                 ("close", short, "--code", "fixed")):
        code, out, err = run(capsys, "cases", *argv, "--by", "wang")
        assert code == 0, err
    code, out, _ = run(capsys, "cases", "show", short)
    assert "已关闭" in out and "13812345678" in out and "满意度 4" in out and "已联系网点主任" in out
    assert [line.split()[3] for line in out.splitlines() if line.startswith("    ")] == [
        "open", "assign", "note", "status", "status", "callback", "status"]
    code, _, err = run(capsys, "cases", "status", short, "waiting_customer")
    assert code == 2 and "can go to open" in err
    code, _, err = run(capsys, "cases", "show", "nope")
    assert code == 2 and "no case 'nope'" in err


def test_the_weekly_report(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    store = SqliteStore(env / "voc.db")
    book = CaseBook.from_settings(settings, store)
    a = book.open("转账失败", team="电子银行部", severity="critical", by="li", now=MONDAY, rating_before=2)
    book.move(a.id, "resolved", by="li", now=MONDAY + timedelta(hours=2))  # 2 h, due 14:00: met
    book.callback(a.id, channel="phone", outcome="reached", satisfaction=4, by="li",
                  now=MONDAY + timedelta(days=1))
    b = book.open("登录不上", team="电子银行部", severity="warning", by="li", now=MONDAY)  # due Wed 11:00
    book.move(b.id, "resolved", by="li", now=MONDAY + timedelta(days=3))  # Thu 09:00: 72 h, 21 working
    tuesday, next_monday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=7)
    book.open("盗刷", team="信用卡中心", severity="critical", by="li", now=tuesday)  # breached
    book.open("下周的", team="信用卡中心", severity="info", by="li", now=next_monday)  # not this week
    store.close()

    code, out, _ = run(capsys, "report", "weekly", "--at", "2025-11-12 10:00", "--send", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["week"] == "2025-11-03 – 2025-11-09" and report["sent"] == ["outbox"]
    total = report["total"]
    assert (total["opened"], total["resolved"]) == (3, 2)
    assert (total["median_hours"], total["median_working_hours"]) == (37, 11.5)
    assert (total["sla_met"], total["sla_counted"], total["called_back"]) == (1, 3, 1)
    assert (total["satisfaction_before"], total["satisfaction_after"], total["satisfaction_n"]) == (2, 4, 1)
    teams = {t["team"]: t for t in report["teams"]}
    assert (teams["电子银行部"]["opened"], teams["电子银行部"]["sla_met_share"]) == (2, 0.5)
    cards = teams["信用卡中心"]
    assert (cards["opened"], cards["sla_counted"], teams["客服中心"]["opened"]) == (1, 1, 0)
    code, out, _ = run(capsys, "report", "weekly", "--at", "2025-11-12 10:00")
    assert "SLA 达标 33%" in out and "电子银行部" in out and "合计" in out
    [eml] = (env / "outbox").glob("weekly-report-20251103.eml")
    mail = message_from_bytes(eml.read_bytes(), policy=default)
    assert "ebank-lead@example.com" in mail["To"] and "[周报]" in mail["Subject"]
    assert "电子银行部" in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_voc_run_routes_cases_and_sends_the_report(env: Path) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from core.record import Feedback
    from voc.scheduler import build_scheduler, cases_job, report_job

    settings = load_settings()
    sched = build_scheduler(settings, scheduler=BackgroundScheduler(timezone=settings.display_tz))
    assert {"cases:route", "cases:report"} <= {job.id for job in sched.get_jobs()}
    store = SqliteStore(env / "voc.db")
    bank = {"type": "bank", "text": "江南银行", "canonical": "江南银行", "ours": True}
    store.upsert([Feedback(id="r1", source="tousu", kind="complaint", text="江南银行卡被盗刷",
                           created_at=MONDAY, risk=[{"flag": "fraud_theft", "severity": "critical"}],
                           entities=[bank])])
    store.close()
    [case] = cases_job(settings, now=MONDAY + timedelta(minutes=5)).opened
    assert case.records == ["r1"] and case.team == "消费者权益保护部"  # the fraud route's team
    assert report_job(settings, now=MONDAY + timedelta(days=7)).sent == ["outbox"]
    assert (env / "outbox" / "weekly-report-20251103.eml").exists()
