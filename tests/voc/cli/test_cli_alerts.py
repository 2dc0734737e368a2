"""`voc alerts check/list/silence/test-email/digest` and `voc run` against real SQLite stores, a real
SMTP server and the repo's settings.toml rules; time is injected with --at, never slept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support.cli_env import cli_env
from support.smtp import start_server

from core.record import DISPLAY_TZ, Feedback, Sentiment
from indexer import SqliteStore
from voc.cli import main

REPO = Path(__file__).resolve().parents[3]

# Monday 2024-05-06 10:05 Beijing: the incident hour is 09:05-10:05.
AT = datetime(2024, 5, 6, 10, 5, tzinfo=DISPLAY_TZ)
NEG = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
NEU = {"negative": 0.1, "neutral": 0.8, "positive": 0.1}


def _rec(i: int, at: datetime, label: str = "negative", topic: str = "手机银行") -> Feedback:
    return Feedback(id=f"t{i:06d}", source="appstore", kind="review", text=f"第{i}条：手机银行登录不了 {i}",
                    created_at=at, sentiment=Sentiment(label, NEG if label == "negative" else NEU, "t"),
                    topics=[topic], url=f"https://example.com/r/{i}")


def _history(store: SqliteStore, spike: int = 40) -> None:
    """Two weeks of 1 negative + 2 neutral per hour on 手机银行, then `spike` negatives in the last hour."""
    records, n = [], 0
    for h in range(1, 24 * 14):
        start = AT - timedelta(hours=h + 1)
        for k, label in enumerate(("negative", "neutral", "neutral")):
            records.append(_rec(n, start + timedelta(minutes=10 + 15 * k), label))
            n += 1
    for k in range(spike):
        records.append(_rec(n, AT - timedelta(minutes=59) + timedelta(seconds=80 * k)))
        n += 1
    assert store.upsert(records).stored == len(records)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, tiny_model_dir)


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(tmp_path / "voc.db")
    _history(s)
    s.close()
    return SqliteStore(tmp_path / "voc.db")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys, at: datetime, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "alerts", "check", "--at", at.strftime("%Y-%m-%d %H:%M"), "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_check_at_replays_history_and_does_not_repeat(store, tmp_path, capsys):
    first = check(capsys, AT)
    [alert] = [a for a in first["fired"] if a["rule"] == "negative_spike_topic"]
    assert alert["key"] == "topic=手机银行" and alert["count"] == 40 and alert["kind"] == "alert"
    assert alert["baseline"] < 5 and len(alert["sample_ids"]) >= 3
    assert Path(alert["eml"]).is_file() and alert["eml"].startswith(str(tmp_path / "outbox"))
    again = check(capsys, AT + timedelta(minutes=5))
    assert [a for a in again["fired"] if a["rule"] == "negative_spike_topic"] == []
    assert "negative_spike_topic:topic=手机银行" in again["suppressed"]
    assert len(store.alerts(rule="negative_spike_topic")) == 1


def test_dry_run_decides_but_writes_nothing(store, tmp_path, capsys):
    result = check(capsys, AT, "--dry-run")
    assert [a["key"] for a in result["fired"] if a["rule"] == "negative_spike_topic"] == ["topic=手机银行"]
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    assert store.alerts() == []


def test_recovery_notice_after_the_rise_ends(store, capsys):
    check(capsys, AT)
    # the shipped topic rule also tests a 3 h window: still elevated 2 h later, calm after 3 h
    assert [a for a in check(capsys, AT + timedelta(hours=2))["fired"]
            if a["rule"] == "negative_spike_topic" and a["kind"] == "recovery"] == []
    later = check(capsys, AT + timedelta(hours=4))
    [notice] = [a for a in later["fired"] if a["rule"] == "negative_spike_topic"]
    assert notice["kind"] == "recovery" and "已恢复正常" in notice["title"] and notice["eml"]
    assert [a for a in check(capsys, AT + timedelta(hours=5))["fired"]
            if a["rule"] == "negative_spike_topic"] == []


def test_silence_list_and_lift(store, capsys):
    target = "negative_spike_topic:topic=手机银行"
    code, out, _ = run(capsys, "alerts", "silence", target, "--for", "100000h", "--reason", "已知故障")
    assert code == 0 and "silenced" in out
    assert "negative_spike_topic:topic=手机银行" in check(capsys, AT)["silenced"]
    code, out, _ = run(capsys, "alerts", "list", "--json")
    assert json.loads(out)["silences"][target]["reason"] == "已知故障"
    assert run(capsys, "alerts", "silence", target, "--off")[0] == 0
    # the other rules' firings already told the incident; the lifted key now joins it, quietly
    again = check(capsys, AT)
    assert again["fired"] == [] and target in [m["state_key"] for m in again["merged"]]
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0 and "negative_spike_topic:topic=手机银行" in out


def test_silence_a_whole_incident(store, capsys):
    [message] = check(capsys, AT)["fired"]
    incident = message["incident"]
    keys = [message["rule"] + ":" + message["key"], *message["related_keys"]]
    code, out, _ = run(capsys, "alerts", "silence", f"incident:{incident}", "--for", "2h")
    assert code == 0 and all(f"silenced {key} until" in out for key in keys)
    code, out, _ = run(capsys, "alerts", "list", "--json")
    assert set(json.loads(out)["silences"]) == set(keys)
    code, _, err = run(capsys, "alerts", "silence", "incident:nope")
    assert code == 2 and "no incident 'nope'" in err


def test_feedback_per_alert_and_precision_per_rule(store, capsys):
    [message] = check(capsys, AT)["fired"]
    code, out, _ = run(capsys, "alerts", "feedback", message["id"], "useful", "--by", "pr-wang")
    assert code == 0 and "有用" in out
    code, out, _ = run(capsys, "alerts", "list", "--stats")
    assert code == 0 and f"{message['rule']}" in out and "1/1 有用  precision 100%" in out
    code, _, _ = run(capsys, "alerts", "feedback", message["id"], "false-alarm", "--by", "pr-wang")
    code, out, _ = run(capsys, "alerts", "list", "--json")
    data = json.loads(out)
    assert data["feedback"][message["id"]]["verdict"] == "false_alarm"  # the later verdict stands
    assert data["precision"][message["rule"]] == {"judged": 1, "useful": 0, "precision": 0.0}
    code, _, err = run(capsys, "alerts", "feedback", "no-such-id", "useful")
    assert code == 2 and "no alert 'no-such-id'" in err


def test_silence_needs_a_known_rule(store, capsys):
    code, _, err = run(capsys, "alerts", "silence", "no_such_rule:topic=x")
    assert code == 2 and "no rule named 'no_such_rule'" in err


def test_test_email_through_a_real_smtp_server(monkeypatch, capsys):
    controller, collector = start_server()
    try:
        monkeypatch.setenv("VOC_NOTIFY__SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("VOC_NOTIFY__SMTP_PORT", str(controller.port))
        monkeypatch.setenv("VOC_NOTIFY__SMTP_SECURITY", "none")
        code, out, err = run(capsys, "alerts", "test-email")
    finally:
        controller.stop()
    assert code == 0, err
    [envelope] = collector.messages
    msg = message_from_bytes(envelope.data, policy=default)
    assert "测试邮件" in msg["subject"] and envelope.rcpt_tos == ["pr-team@example.com"]


def test_digest_of_the_day_before_goes_to_the_outbox(store, tmp_path, capsys):
    check(capsys, AT)
    code, out, err = run(capsys, "alerts", "digest", "--at", "2024-05-07 09:00", "--json")
    assert code == 0, err
    assert "outbox" in json.loads(out)["sent"]
    [digest] = list((tmp_path / "outbox").glob("digest-*.eml"))
    msg = message_from_bytes(digest.read_bytes(), policy=default)
    assert "2024-05-06" in msg["subject"] or "05-06" in msg["subject"]


def test_voc_run_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "VOC_STORE__PATH": str(tmp_path / "run.db"),
           "VOC_APP__VAR_DIR": str(tmp_path / "var"), "VOC_NOTIFY__OUTBOX": str(tmp_path / "outbox"),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "voc.cli", "run", "--check-now"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "job=alerts:check status=" in line or not line:
                break
        assert any("scheduler started" in line for line in lines), "".join(lines)
        assert any("job=alerts:check scheduled" in line for line in lines)
        assert any("job=alerts:check status=ok fired=0" in line for line in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "signal=SIGTERM stopping" in rest and "scheduler stopped" in rest


def test_scheduler_jobs_log_failures_and_skip_a_running_crawl(tmp_path, monkeypatch, caplog):
    """A job never raises into the scheduler: an unusable store and a crawl already running are
    one log line each."""
    import logging

    from core.settings import load_settings
    from crawlers.runner import crawl_lock
    from voc.scheduler import alert_check_job, crawl_job

    (tmp_path / "not-a-db").mkdir()
    monkeypatch.setenv("VOC_STORE__PATH", str(tmp_path / "not-a-db"))
    caplog.set_level(logging.INFO, logger="voc.scheduler")
    conf = load_settings()
    assert alert_check_job(conf, now=AT) is None
    assert "job=alerts:check status=failed error=StoreUnavailable" in caplog.text
    monkeypatch.setenv("VOC_STORE__PATH", str(tmp_path / "ok.db"))
    conf = load_settings()
    with crawl_lock(conf.app.var_dir, "appstore"):
        assert crawl_job(conf, "appstore") is None
    assert "job=crawl:appstore status=skipped reason=already_running" in caplog.text


def test_silence_key_must_fit_the_rules_fields(store, capsys):
    """A typo in the key (topc=) would silence nothing; it is refused with the form the keys take."""
    code, _, err = run(capsys, "alerts", "silence", "negative_spike_topic:topc=信用卡", "--for", "1h")
    assert code == 2 and "does not fit rule 'negative_spike_topic'" in err and "topic=<value>" in err
    code, _, err = run(capsys, "alerts", "silence", "source_silent:topic=信用卡", "--for", "1h")
    assert code == 2 and "source=<value>" in err
    assert run(capsys, "alerts", "silence", "source_silent:source=tousu", "--for", "1h")[0] == 0
    assert run(capsys, "alerts", "silence", "risk_critical:", "--for", "1h")[0] == 0


@pytest.mark.parametrize("command", [["run"], ["stats", "--json"]])
def test_an_unknown_rule_type_stops_the_scheduler_and_the_health_check(tmp_path, monkeypatch, capsys,
                                                                        command):
    """Issue 14, item 10: `voc run` used to start and log a failed job every 5 minutes, and
    `voc stats` (the Docker health check) passed with the same file."""
    shipped = (REPO / "settings.toml").read_text("utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped + '\n[[alerts.rules]]\nname = "typo"\ntype = "negative_spkie"\n', "utf-8")
    monkeypatch.setenv("VOC_SETTINGS", str(bad))
    code, out, err = run(capsys, *command)
    assert code == 2 and "unknown rule type 'negative_spkie'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_check_while_another_process_holds_the_lock_is_skipped(store, tmp_path, capsys):
    """Issue 14, item 4: two checks at once delivered twice. The lock lives in the store, so any
    process sees it; the second check exits 4 and sends nothing."""
    from voc.alerting import CHECK_LOCK

    assert store.lock(CHECK_LOCK, "other-host:4242:1", timedelta(minutes=15))
    code, _, err = run(capsys, "alerts", "check", "--at", AT.strftime("%Y-%m-%d %H:%M"))
    assert code == 4 and "another alert check is running" in err
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    assert store.alerts() == []
    store.unlock(CHECK_LOCK, "other-host:4242:1")
    assert [a["key"] for a in check(capsys, AT)["fired"] if a["rule"] == "negative_spike_topic"] == [
        "topic=手机银行"]
    assert store.list_state("lock") == {}  # released after the check


def test_list_shows_incidents_and_display_times(store, capsys, monkeypatch):
    """`voc alerts list` shows the incident with its firings and messages, every time in the
    display timezone (the check ran at 10:05 Beijing = 02:05 UTC), never a UTC ISO stamp."""
    [message] = check(capsys, AT)["fired"]
    code, out, _ = run(capsys, "alerts", "silence", f"{message['rule']}:{message['key']}", "--for", "2h")
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0
    assert f"事件 {message['incident']}  进行中  05-06 10:05 – 05-06 10:05" in out
    assert f"消息 05-06 10:05  首次通知  {message['id']}" in out
    assert f"{message['rule']}:{message['key']}  触发中" in out
    assert "05-06 10:05  [warning] 首次通知" in out and "(Asia/Shanghai)" in out
    assert "T02:05" not in out and "+00:00" not in out
    monkeypatch.setenv("VOC_APP__TIMEZONE", "America/New_York")
    code, out, _ = run(capsys, "alerts", "list")
    assert "05-05 22:05" in out and "(America/New_York)" in out
