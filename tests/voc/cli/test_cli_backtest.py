"""`voc alerts backtest` against a real SQLite store and a settings file of its own (the rules pinned
here, so tuning the shipped settings.toml does not move these numbers): the alerts it lists
(times, kinds, one alert per incident), that it matches a sequence of live checks, and that it
writes nothing (state, alert history, outbox)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.cli_env import cli_env

from core.record import DISPLAY_TZ, Feedback, Sentiment
from indexer import SqliteStore
from voc.cli import main

# Monday 2024-05-06 10:05 Beijing
AT = datetime(2024, 5, 6, 10, 5, tzinfo=DISPLAY_TZ)
NEG = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
NEU = {"negative": 0.1, "neutral": 0.8, "positive": 0.1}
KEY = "topic=手机银行"
RULES = """
[bank]
name = "江南银行"

[alerts]
interval_minutes = 5
realert_hours = 6
recovery = true

[[alerts.rules]]
name = "negative_spike_topic"
type = "negative_spike"
window = "1h"
group_by = ["topic"]
min_count = 10
min_ratio = 3.0
alpha = 0.01
severity = "warning"

[[alerts.rules]]
name = "negative_share"
type = "negative_share"
window = "1h"
group_by = []
min_total = 30
min_ratio = 1.5
alpha = 0.01
baseline_days = 7

[[alerts.rules]]
name = "risk_critical"
type = "risk_term"
min_severity = "critical"
window = "5m"
late = "6h"
severity = "critical"

[[alerts.rules]]
name = "source_silent"
type = "source_silent"
window = "3h"
min_expected = 5.0
severity = "warning"

[[alerts.rules]]
name = "emerging_term"
type = "emerging_term"
window = "1h"
min_support = 5
min_ratio = 4.0
alpha = 0.01
baseline_days = 7
max_terms = 3
"""
ALL_RULES = {"negative_spike_topic", "negative_share", "risk_critical", "source_silent", "emerging_term"}


def _rec(i: int, at: datetime, label: str = "negative", **extra: Any) -> Feedback:
    return Feedback(id=f"t{i:06d}", source="appstore", kind="review", text=f"第{i}条：手机银行登录不了 {i}",
                    created_at=at, sentiment=Sentiment(label, NEG if label == "negative" else NEU, "t"),
                    topics=["手机银行"], url=f"https://example.com/r/{i}", **extra)


def _baseline(until: datetime) -> list[Feedback]:
    """Two weeks before `until` of 1 negative + 2 neutral per hour on 手机银行."""
    records = []
    for h in range(1, 24 * 14):
        start = until - timedelta(hours=h + 1)
        for k, label in enumerate(("negative", "neutral", "neutral")):
            records.append(_rec(len(records), start + timedelta(minutes=10 + 15 * k), label))
    return records


def _store(path: Path, records: list[Feedback]) -> None:
    with SqliteStore(path) as s:
        assert s.upsert(records).stored == len(records)


def _t(at: datetime) -> str:
    return at.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


@pytest.fixture(autouse=True)
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, tiny_model_dir)
    (tmp_path / "settings.toml").write_text(RULES, encoding="utf-8")  # ./settings.toml is read first


@pytest.fixture
def one_hour_spike(tmp_path: Path) -> Path:
    """The baseline, then 40 negatives in the hour before AT (from 09:06 to 09:58)."""
    records = _baseline(AT)
    records += [_rec(len(records) + k, AT - timedelta(minutes=59) + timedelta(seconds=80 * k))
                for k in range(40)]
    _store(tmp_path / "voc.db", records)
    return tmp_path / "voc.db"


@pytest.fixture
def three_hour_spike(tmp_path: Path) -> Path:
    """The baseline (up to AT - 3 h), then 40 negatives an hour, evenly, from AT - 3 h to AT."""
    start = AT - timedelta(hours=3)
    records = _baseline(start)
    records += [_rec(len(records) + k, start + timedelta(seconds=90 * k + 30)) for k in range(120)]
    _store(tmp_path / "voc.db", records)
    return tmp_path / "voc.db"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def backtest(capsys, since: datetime, until: datetime, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "alerts", "backtest", "--since", _t(since), "--until", _t(until),
                         "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of the state and alert-history tables, all columns (updated_at included)."""
    conn = sqlite3.connect(path)
    try:
        return {"state": conn.execute("SELECT * FROM state ORDER BY namespace, key").fetchall(),
                "alerts": conn.execute("SELECT * FROM alerts ORDER BY id").fetchall()}
    finally:
        conn.close()


def test_backtest_lists_the_spike_at_its_time(one_hour_spike, capsys):
    data = backtest(capsys, AT - timedelta(hours=3), AT, "--step", "1h", "--rule", "negative_spike_topic")
    assert data["checks"] == 4 and list(data["rules"]) == ["negative_spike_topic"]
    assert data["since"] == "2024-05-06T07:05:00+08:00" and data["until"] == "2024-05-06T10:05:00+08:00"
    rule = data["rules"]["negative_spike_topic"]
    [item] = rule["items"]
    assert item["at"] == "2024-05-06T10:05:00+08:00" and item["key"] == KEY
    assert item["kind"] == "new" and item["count"] == 40 and "手机银行" in item["title"]
    assert rule["alerts"] == 1 and rule["kinds"] == {"new": 1, "escalation": 0, "recovery": 0}
    assert [w["alerts"] for w in rule["per_week"]] == [1]
    assert rule["error"] is None


def test_a_three_hour_spike_is_one_alert_plus_escalations(three_hour_spike, capsys):
    data = backtest(capsys, AT - timedelta(hours=3), AT + timedelta(hours=2), "--step", "5m",
                    "--rule", "negative_spike_topic")
    assert data["checks"] == 61
    rule = data["rules"]["negative_spike_topic"]
    kinds = [i["kind"] for i in rule["items"]]
    # the window fills over the first hour (count 10, 20, 40: each doubling escalates), then stays
    # at ~40 for two hours (held back), then the spike ends and one recovery follows
    assert kinds[0] == "new" and kinds.count("new") == 1 and kinds[-1] == "recovery"
    assert kinds.count("recovery") == 1 and 1 <= kinds.count("escalation") <= 3
    raised = [i for i in rule["items"] if i["kind"] != "recovery"]
    assert all(b["count"] >= 2 * a["count"] for a, b in zip(raised, raised[1:], strict=False))
    first = datetime.fromisoformat(raised[0]["at"])
    assert AT - timedelta(hours=3) < first < AT - timedelta(hours=2)
    assert datetime.fromisoformat(raised[-1]["at"]) <= AT - timedelta(hours=1)
    assert datetime.fromisoformat(rule["items"][-1]["at"]) > AT
    assert rule["suppressed"] >= 30  # every other check inside the spike was a held-back repeat
    assert {i["key"] for i in rule["items"]} == {KEY}


def test_backtest_matches_live_checks_at_the_same_times(three_hour_spike, tmp_path, monkeypatch, capsys):
    """Every rule, every 15 minutes: the backtest lists what a sequence of live `alerts check --at`
    runs records in the alert history of a copy of the store."""
    since, until, step = AT - timedelta(hours=3), AT + timedelta(hours=2), timedelta(minutes=15)
    live_db = tmp_path / "live.db"
    shutil.copy(three_hour_spike, live_db)
    data = backtest(capsys, since, until, "--step", "15m")
    assert data["checks"] == 21
    got = sorted((i["at"], name, i["key"], i["kind"], i["title"])
                 for name, rule in data["rules"].items() for i in rule["items"])

    monkeypatch.setenv("VOC_STORE__PATH", str(live_db))
    monkeypatch.setenv("VOC_NOTIFY__OUTBOX", str(tmp_path / "live-outbox"))
    at = since
    while at <= until:
        assert run(capsys, "alerts", "check", "--at", _t(at), "--json")[0] == 0
        at += step
    with SqliteStore(live_db) as live:
        history = live.alerts(limit=1000)
    want = sorted((datetime.fromisoformat(a["created_at"]).astimezone(DISPLAY_TZ).isoformat(), a["rule"],
                   a["key"], {"alert": "new"}.get(a["kind"], a["kind"]), a["title"]) for a in history)
    kinds = {kind for *_, kind, _ in want}
    assert {"new", "escalation", "recovery"} <= kinds
    assert got == want


def test_backtest_writes_nothing_and_ignores_live_state(one_hour_spike, tmp_path, capsys):
    """Live state from *after* the period (a last alert, a silence, a risk cursor) neither holds
    the backtest back nor is changed by it; nothing reaches the outbox."""
    with SqliteStore(one_hour_spike) as s:
        later = (AT + timedelta(hours=1)).isoformat()
        s.put_state("alert_state", f"negative_spike_topic:{KEY}",
                    {"fired_at": later, "count": 80, "alert_id": "x", "kind": "alert", "key": KEY})
        s.put_state("silence", f"negative_spike_topic:{KEY}", {"until": "2100-01-01T00:00:00+00:00",
                                                               "reason": "已知故障"})
        s.put_state("rule_cursor", "risk_critical", {"last_check": later, "seen": {}})
        s.put_state("send_journal", "old", {"status": "pending", "decided_at": later, "alert": {}})
        s.put_state("crawl_health", "appstore", {"status": "ok", "finished_at": later})
        s.add_alert({"rule": "negative_spike_topic", "key": KEY, "kind": "alert", "created_at": later})
    before = _rows(one_hour_spike)
    assert len(before["state"]) == 5 and len(before["alerts"]) == 1

    data = backtest(capsys, AT - timedelta(hours=2), AT + timedelta(hours=1), "--step", "15m")
    [first, *rest] = data["rules"]["negative_spike_topic"]["items"]
    assert first["kind"] == "new" and first["key"] == KEY
    assert AT - timedelta(hours=1) < datetime.fromisoformat(first["at"]) <= AT
    assert set(data["rules"]) == ALL_RULES

    assert _rows(one_hour_spike) == before
    with SqliteStore(one_hour_spike) as s:
        assert s.list_state("send_journal") == {"old": {"status": "pending", "decided_at": later,
                                                        "alert": {}}}
        assert len(s.alerts()) == 1
    outbox = tmp_path / "outbox"
    assert not outbox.exists() or list(outbox.iterdir()) == []


def test_risk_term_cursor_advances_in_memory(tmp_path, capsys):
    """Each flagged record is reported once, at the first check after it; with a 15-minute step the
    cursor (not the 5-minute first-check look-back) decides what is new."""
    records = _baseline(AT)
    flag = [{"flag": "挤兑", "severity": "critical"}]
    for minutes in (52, 40, 38):  # 09:13, 09:25, 09:27
        records.append(_rec(len(records), AT - timedelta(minutes=minutes), risk=flag))
    _store(tmp_path / "voc.db", records)
    with SqliteStore(tmp_path / "voc.db") as s:  # a live cursor from the next day: not used, not moved
        s.put_state("rule_cursor", "risk_critical",
                    {"last_check": (AT + timedelta(days=1)).isoformat(), "seen": {}})
    before = _rows(tmp_path / "voc.db")
    data = backtest(capsys, AT - timedelta(hours=1), AT, "--step", "15m", "--rule", "risk_critical")
    items = data["rules"]["risk_critical"]["items"]
    assert [(i["at"], i["count"], i["kind"]) for i in items] == [
        ("2024-05-06T09:20:00+08:00", 1, "new"), ("2024-05-06T09:35:00+08:00", 2, "new")]
    assert _rows(tmp_path / "voc.db") == before


def test_human_output_and_progress(three_hour_spike, capsys):
    code, out, err = run(capsys, "alerts", "backtest", "--since", _t(AT - timedelta(hours=3)),
                         "--until", _t(AT + timedelta(hours=2)), "--rule", "negative_spike_topic")
    assert code == 0, err
    assert "共 61 次检查" in out and "每 5 分钟一次" in out  # default step: [alerts] interval_minutes
    assert "negative_spike_topic [warning]" in out and "新告警 1" in out
    assert "第 1 周 05-06 至 05-06：" in out
    assert f"  新告警  {KEY}" in out and "恢复  " + KEY in out
    progress = [line for line in err.splitlines() if line.startswith("backtest: ")]
    assert 9 <= len(progress) <= 11 and progress[-1].startswith("backtest: 61/61 checks (100%)")


def test_per_week_slices_from_since(one_hour_spike, capsys):
    data = backtest(capsys, AT - timedelta(days=8), AT, "--step", "1d", "--rule", "negative_spike_topic")
    weeks = data["rules"]["negative_spike_topic"]["per_week"]
    assert [(w["start"], w["end"], w["alerts"]) for w in weeks] == [
        ("2024-04-28T10:05:00+08:00", "2024-05-05T10:05:00+08:00", 0),
        ("2024-05-05T10:05:00+08:00", "2024-05-06T10:05:00+08:00", 1)]


def test_until_defaults_to_now(tmp_path, capsys):
    _store(tmp_path / "voc.db", [])
    code, out, err = run(capsys, "alerts", "backtest", "--since", "2024-05-06", "--step", "30d",
                         "--rule", "risk_critical", "--json")
    assert code == 0, err
    data = json.loads(out)
    backtest_now = datetime.fromisoformat(data["until"])
    assert abs(backtest_now - datetime.now(UTC)) < timedelta(minutes=5)
    assert data["rules"]["risk_critical"]["alerts"] == 0 and data["checks"] >= 2


@pytest.mark.parametrize(("argv", "message"), [
    (["--since", "2024-05-06 10:00", "--until", "2024-05-06 09:00"], "must be before --until"),
    (["--since", "2024-05-06 10:00", "--until", "2024-05-06 10:00"], "must be before --until"),
    (["--since", "2024-05-06", "--until", "2024-05-07", "--rule", "no_such_rule"],
     "no rule named 'no_such_rule'"),
    (["--since", "2024-05-06", "--until", "2024-05-07", "--step", "5x"], "--step: not a duration"),
    (["--since", "2024-05-06", "--until", "2024-05-07", "--step", "0m"], "--step: duration must be positive"),
    (["--since", "2020-01-01", "--until", "2024-05-07", "--step", "1m"], "use a larger --step"),
    (["--since", "last tuesday", "--until", "2024-05-07"], ""),
])
def test_bad_arguments_exit_2_with_one_line(one_hour_spike, capsys, argv, message):
    before = _rows(one_hour_spike)
    code, out, err = run(capsys, "alerts", "backtest", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("voc alerts: ") and message in err
    assert "Traceback" not in err
    assert _rows(one_hour_spike) == before


def test_since_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["alerts", "backtest", "--until", "2024-05-07"])
    assert exc.value.code == 2 and "--since" in capsys.readouterr().err
