"""`risk_term` on a real SQLite store: new flagged records since the previous check, one alert per
check, the cursor in the store, late arrivals, replays and dry runs."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from support.alerts import NOW, fill, record

from alerts import build_rule, run_rules
from alerts.rules.risk_term import CURSOR
from indexer.errors import StoreUnavailable

MIN = timedelta(minutes=1)
RUN = {"flag": "挤兑", "severity": "critical"}
FRAUD = {"flag": "诈骗", "severity": "critical"}
COMPLAINT = {"flag": "投诉", "severity": "warning"}


def flagged(at, *flags, **kwargs):
    return record(at, **kwargs).with_(risk=list(flags))


def rule(**options):
    return build_rule({"name": "risk", "type": "risk_term", **options})


def checked(r, store, now):
    """What one check does with the rule alone: evaluate, then commit its cursor."""
    alerts = r.evaluate(store, now)
    r.commit(store)
    return alerts


def test_first_check_looks_back_one_window_and_groups_into_one_alert(store):
    old = flagged(NOW - 20 * MIN, RUN)
    a, b, c = flagged(NOW - 4 * MIN, RUN), flagged(NOW - 3 * MIN, RUN, COMPLAINT), flagged(NOW - MIN, FRAUD)
    quiet = flagged(NOW - 2 * MIN, COMPLAINT)  # below min_severity
    fill(store, [old, a, b, c, quiet])
    [alert] = checked(rule(), store, NOW)
    assert alert.key == "" and alert.count == 3
    assert {s.id for s in alert.samples} == {a.id, b.id, c.id}
    assert alert.details["flags"] == [{"flag": "挤兑", "severity": "critical", "count": 2},
                                      {"flag": "诈骗", "severity": "critical", "count": 1}]
    assert alert.title == "风险信号 3 条（挤兑 2、诈骗 1），5 分钟内新增"
    assert alert.window_start == NOW - 5 * MIN and alert.window_end == NOW
    assert len(alert.details["series"]) == 48 and alert.details["series"][-1]["count"] == 4
    assert store.get_state(CURSOR, "risk")["last_check"] == "2024-05-06T02:00:00+00:00"
    assert old.id in store.get_state(CURSOR, "risk")["seen"]  # read, so never reported as late


def test_next_check_reports_only_what_is_new(store):
    fill(store, [flagged(NOW - MIN, RUN)])
    assert len(checked(rule(), store, NOW)) == 1
    assert checked(rule(), store, NOW + 5 * MIN) == []  # nothing new
    later = flagged(NOW + 7 * MIN, FRAUD)
    fill(store, [later])
    # a 12-minute gap since the cursor: the window starts at the cursor, not 5 min back
    [alert] = checked(rule(), store, NOW + 17 * MIN)
    assert [s.id for s in alert.samples] == [later.id]
    assert alert.window_start == NOW + 5 * MIN


def test_the_first_check_does_not_turn_older_records_into_late_ones(store):
    fill(store, [flagged(NOW - 2 * timedelta(hours=1), RUN)])
    assert checked(rule(), store, NOW) == []
    assert checked(rule(), store, NOW + 5 * MIN) == []


def test_a_late_record_fires_once(store):
    fill(store, [flagged(NOW - MIN, RUN)])
    checked(rule(), store, NOW)
    late = flagged(NOW - 3 * MIN, FRAUD)  # written before the last check, crawled after it
    fill(store, [late])
    [alert] = checked(rule(), store, NOW + 5 * MIN)
    assert [s.id for s in alert.samples] == [late.id] and alert.details["late_records"] == 1
    assert checked(rule(), store, NOW + 10 * MIN) == []
    too_late = flagged(NOW - 7 * timedelta(hours=1), FRAUD)
    fill(store, [too_late])
    assert checked(rule(), store, NOW + 15 * MIN) == []  # beyond `late` (6 h)


def test_min_severity_and_source_filter(store):
    fill(store, [flagged(NOW - MIN, COMPLAINT), flagged(NOW - MIN, RUN, source="weibo")])
    [alert] = checked(rule(min_severity="warning"), store, NOW)
    assert alert.count == 2 and {f["flag"] for f in alert.details["flags"]} == {"投诉", "挤兑"}
    [only] = checked(rule(name="w", min_severity="warning", sources=["appstore"]), store, NOW)
    assert only.count == 1 and only.details["flags"][0]["flag"] == "投诉"


def test_cursor_survives_a_new_rule_object_and_replays_do_not_rewind_it(store):
    fill(store, [flagged(NOW - MIN, RUN)])
    assert len(checked(rule(), store, NOW)) == 1
    # a replay of an earlier time looks at its own window and leaves the cursor alone
    [replayed] = checked(rule(), store, NOW - MIN / 2)
    assert replayed.count == 1
    assert store.get_state(CURSOR, "risk")["last_check"] == "2024-05-06T02:00:00+00:00"
    assert checked(rule(), store, NOW + 5 * MIN) == []  # a restart (new object) does not repeat


def test_dry_run_flag_leaves_the_cursor(store):
    fill(store, [flagged(NOW - MIN, RUN)])
    dry = rule()
    dry.write_cursor = False
    assert len(checked(dry, store, NOW)) == 1
    assert store.get_state(CURSOR, "risk") is None
    assert len(checked(rule(), store, NOW)) == 1


def test_runs_through_the_runner(store):
    fill(store, [flagged(NOW - MIN, RUN)])
    report = run_rules([rule()], store, [], NOW)
    assert [a.rule for a in report.fired] == ["risk"] and report.ok


def test_banking_only_ignores_records_that_name_no_bank_and_no_banking_topic(store):
    stock = flagged(NOW - 3 * MIN, RUN, topic=None, text="这家公司要破产了，股票快跑")
    bank = flagged(NOW - 2 * MIN, RUN, topic=None, text="听说江南银行要倒闭，赶紧取钱").with_(
        entities=[{"type": "bank", "text": "江南银行", "canonical": "江南银行", "ours": True,
                   "start": 2, "end": 6}])
    card = flagged(NOW - MIN, FRAUD, topic="信用卡")
    fill(store, [stock, bank, card])
    [alert] = checked(rule(banking_only=True), store, NOW)
    assert {s.id for s in alert.samples} == {bank.id, card.id}
    store.delete_state(CURSOR, "risk")
    assert checked(rule(), store, NOW)[0].count == 3


class FailingJournal:
    """The real store, but the first write to the send journal fails ("database is locked")."""

    def __init__(self, store):
        self.store, self.failed = store, False

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put_state(self, namespace, key, value):
        if namespace == "send_journal" and not self.failed:
            self.failed = True
            raise StoreUnavailable("database is locked")
        return self.store.put_state(namespace, key, value)


def test_a_failure_between_rule_and_journal_loses_no_risk_record(store):
    """Issue 14, item 2: the cursor moves only with the journal entry that covers it."""
    assert checked(rule(), store, NOW - 5 * MIN) == []  # a running system: a cursor exists
    records = [flagged(NOW - (i + 1) * MIN / 2, RUN) for i in range(9)]
    fill(store, records)
    with pytest.raises(StoreUnavailable):
        run_rules([rule()], FailingJournal(store), [], NOW)
    # still "checked up to" the check before: the 9 records are not marked as seen
    assert store.get_state(CURSOR, "risk")["last_check"] == (NOW - 5 * MIN).astimezone(UTC).isoformat()
    report = run_rules([rule()], store, [], NOW + 5 * MIN)
    [alert] = report.fired
    assert {s.id for s in alert.samples} == {r.id for r in records} and len(report.sent) == 1
    assert store.get_state(CURSOR, "risk")["last_check"] == (NOW + 5 * MIN).astimezone(UTC).isoformat()
