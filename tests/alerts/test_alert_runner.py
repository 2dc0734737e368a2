"""`run_rules` on a real SQLite store: realert suppression, escalation, silences, the send journal
(retry after a failed delivery, and after a crash between "decided" and "sent"), restarts."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, spread
from support.smtp import free_port, start_server

from alerts import (
    Alert,
    DeliveryError,
    EmailNotifier,
    OutboxNotifier,
    SendJournal,
    build_rule,
    run_rules,
    silence,
)
from alerts.notify import Notifier
from alerts.state import ALERT_STATE, SEND_JOURNAL
from core.record import parse_time
from indexer.sqlite import SqliteStore

KEY = "spike:topic=手机银行"


@pytest.fixture
def history(store):
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    return store


def spike_rule():
    return build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                       "baseline_weeks": 1})


def emls(path):
    return sorted(path.glob("*.eml"))


def test_first_alert_is_journaled_recorded_and_delivered(history, tmp_path):
    fill(history, spread(NOW - HOUR, 37))
    outbox = tmp_path / "outbox"
    report = run_rules([spike_rule()], history, [OutboxNotifier(outbox)], NOW)
    assert [a.key for a in report.fired] == ["topic=手机银行"] and report.ok
    alert = report.fired[0]
    assert report.sent == [alert.id] and report.pending == []
    assert history.get_state(SEND_JOURNAL, alert.id)["status"] == "sent"
    assert history.get_state(ALERT_STATE, KEY)["count"] == 37
    [entry] = history.alerts()
    assert entry["rule"] == "spike" and entry["key"] == "topic=手机银行" and entry["count"] == 37
    assert len(entry["sample_ids"]) == 5
    [path] = emls(outbox)
    assert "手机银行 负面 1 小时 37 条" in message_from_bytes(path.read_bytes(), policy=default)["Subject"]


def test_repeat_is_suppressed_then_escalates_then_realerts(history, tmp_path):
    outbox = tmp_path / "outbox"
    notifiers = [OutboxNotifier(outbox)]
    fill(history, spread(NOW - HOUR, 20))
    assert len(run_rules([spike_rule()], history, notifiers, NOW).fired) == 1

    fill(history, spread(NOW, 30))  # next hour: 30, not double 20
    report = run_rules([spike_rule()], history, notifiers, NOW + HOUR)
    assert report.fired == [] and [a.count for a in report.suppressed] == [30]

    fill(history, spread(NOW + HOUR, 45))  # 45 >= 2 * 20: escalation inside the realert window
    report = run_rules([spike_rule()], history, notifiers, NOW + 2 * HOUR)
    assert [(a.kind, a.count) for a in report.fired] == [("escalation", 45)]
    assert "[警告·升级]" in message_from_bytes(emls(outbox)[-1].read_bytes(), policy=default)["Subject"]

    fill(history, spread(NOW + 8 * HOUR, 50))  # 6 h after the escalation: a plain alert again
    report = run_rules([spike_rule()], history, notifiers, NOW + 9 * HOUR)
    assert [(a.kind, a.count) for a in report.fired] == [("alert", 50)]
    assert len(emls(outbox)) == 3 and len(history.alerts()) == 3


def test_silence_holds_alerts_until_it_ends(history, tmp_path):
    outbox = tmp_path / "outbox"
    fill(history, spread(NOW - HOUR, 37))
    silence(history, KEY, NOW + timedelta(minutes=30), reason="known outage")
    report = run_rules([spike_rule()], history, [OutboxNotifier(outbox)], NOW)
    assert report.fired == [] and [a.key for a in report.silenced] == ["topic=手机银行"]
    assert emls(outbox) == [] and history.alerts() == []
    fill(history, spread(NOW, 37))
    report = run_rules([spike_rule()], history, [OutboxNotifier(outbox)], NOW + HOUR)
    assert len(report.fired) == 1 and len(emls(outbox)) == 1


def test_failed_delivery_stays_pending_and_is_retried_once(history, tmp_path):
    fill(history, spread(NOW - HOUR, 37))
    routes = {"warning": ["pr@bank.example"]}
    dead = EmailNotifier("127.0.0.1", free_port(), "voc@bank.example", routes, security="none", timeout=2)
    report = run_rules([spike_rule()], history, [dead], NOW)
    [alert_id] = report.pending
    entry = history.get_state(SEND_JOURNAL, alert_id)
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert "ConnectionRefusedError" in entry["last_error"]
    assert len(history.alerts()) == 1  # decided and recorded once, whatever delivery does

    controller, collector = start_server()
    try:
        live = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", routes, security="none")
        # a rerun at once: the alert backs off (next try in a minute) and the rule does not fire twice
        report = run_rules([spike_rule()], history, [live], NOW)
        assert report.sent == [] and report.pending == [alert_id] and report.fired == []
        assert parse_time(entry["next_attempt_at"]) == NOW + timedelta(minutes=1)
        # two minutes later the pending alert goes out
        report = run_rules([spike_rule()], history, [live], NOW + timedelta(minutes=2))
        assert report.sent == [alert_id] and report.fired == [] and len(report.suppressed) == 1
        report = run_rules([spike_rule()], history, [live], NOW + timedelta(minutes=10))
        assert report.sent == [] and report.fired == []
    finally:
        controller.stop()
    assert len(collector.messages) == 1 and collector.messages[0].rcpt_tos == ["pr@bank.example"]
    assert history.get_state(SEND_JOURNAL, alert_id)["status"] == "sent"
    assert len(history.alerts()) == 1


def test_delivery_gives_up_after_max_attempts(history):
    fill(history, spread(NOW - HOUR, 37))
    dead = EmailNotifier("127.0.0.1", free_port(), "v@b.example", {"default": ["a@b.example"]},
                         security="none", timeout=2)
    run_rules([spike_rule()], history, [dead], NOW, max_attempts=2)
    report = run_rules([], history, [dead], NOW + HOUR, max_attempts=2)
    [alert_id] = report.failed
    assert history.get_state(SEND_JOURNAL, alert_id)["status"] == "failed"
    assert SendJournal(history).pending() == {}


class Crash(BaseException):
    """Stands in for the process dying (not an Exception, so nothing on the way catches it)."""


class CrashingNotifier(Notifier):
    name = "webhook"

    def send(self, alert: Alert) -> None:
        raise Crash


def test_crash_between_decided_and_sent_neither_loses_nor_duplicates(tmp_path):
    path, outbox = tmp_path / "voc.db", tmp_path / "outbox"
    first = SqliteStore(path)
    fill(first, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(first, spread(NOW - HOUR, 37))
    with pytest.raises(Crash):
        run_rules([spike_rule()], first, [OutboxNotifier(outbox), CrashingNotifier()], NOW)
    first.close()
    assert len(emls(outbox)) == 1  # the outbox got it before the crash

    restarted = SqliteStore(path)
    try:
        [(alert_id, entry)] = SendJournal(restarted).pending().items()
        assert entry["delivered"] == ["outbox"]

        class Healed(Notifier):
            name = "webhook"
            got: list[str] = []

            def send(self, alert: Alert) -> None:
                self.got.append(alert.id)

        healed = Healed()
        report = run_rules([spike_rule()], restarted, [OutboxNotifier(outbox), healed],
                           NOW + timedelta(minutes=5))
        assert report.sent == [alert_id] and report.fired == []
        assert healed.got == [alert_id] and len(emls(outbox)) == 1  # outbox not written twice
        assert len(restarted.alerts()) == 1
    finally:
        restarted.close()


def test_restart_between_checks_does_not_repeat(tmp_path):
    path, outbox = tmp_path / "voc.db", tmp_path / "outbox"
    first = SqliteStore(path)
    fill(first, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(first, spread(NOW - HOUR, 37))
    assert len(run_rules([spike_rule()], first, [OutboxNotifier(outbox)], NOW).fired) == 1
    first.close()
    second = SqliteStore(path)
    try:
        report = run_rules([spike_rule()], second, [OutboxNotifier(outbox)], NOW + timedelta(minutes=5))
        assert report.fired == [] and len(report.suppressed) == 1 and len(emls(outbox)) == 1
    finally:
        second.close()


def test_dry_run_writes_nothing(history, tmp_path):
    fill(history, spread(NOW - HOUR, 37))
    report = run_rules([spike_rule()], history, [OutboxNotifier(tmp_path / "o")], NOW, dry_run=True)
    assert len(report.fired) == 1
    assert history.list_state(SEND_JOURNAL) == {} and history.list_state(ALERT_STATE) == {}
    assert history.alerts() == [] and not (tmp_path / "o").exists()


def test_a_broken_rule_is_reported_and_others_still_run(history, tmp_path):
    class Broken:
        name = "broken"

        def evaluate(self, store, now):
            raise RuntimeError("boom")

    fill(history, spread(NOW - HOUR, 37))
    report = run_rules([Broken(), spike_rule()], history, [OutboxNotifier(tmp_path / "o")], NOW)
    assert not report.ok and report.errors == ["broken: RuntimeError: boom"]
    assert len(report.fired) == 1


def test_delivery_error_type_is_the_alerts_one():
    dead = EmailNotifier("127.0.0.1", free_port(), "v@b.example", {"default": ["a@b.example"]},
                         security="none", timeout=2)
    alert_table = {"rule": "r", "key": "", "severity": "info", "window_start": NOW.isoformat(),
                   "window_end": NOW.isoformat(), "count": 1, "baseline": 1, "ratio": 1,
                   "p_value": 1, "title": "t", "fired_at": NOW.isoformat()}
    with pytest.raises(DeliveryError, match="notifier=email host=127.0.0.1"):
        dead.send(Alert.from_dict(alert_table))
