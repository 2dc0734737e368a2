"""Incidents (alerts/incidents.py) through `run_rules` on a real SQLite store and the outbox: the
firings of one check that share evidence make one message; an unrelated rise makes its own; a rise
escalates in the same mail thread; one recovery closes it; a crash between the journal and the
incident document neither loses the incident nor opens a second."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, spread

from alerts import Alert, OutboxNotifier, build_rule, run_rules
from alerts.incidents import INCIDENT, Firing, IncidentBook, group_firings
from alerts.state import SEND_JOURNAL


def topic_rules():
    return [build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                        "baseline_weeks": 1}),
            build_rule({"name": "volume", "type": "volume_spike", "group_by": ["topic"],
                        "baseline_weeks": 1}),
            build_rule({"name": "by_source", "type": "negative_spike", "group_by": ["source"],
                        "baseline_weeks": 1})]


@pytest.fixture
def history(store):
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))  # 4 negative 手机银行 app reviews an hour
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 3, topic="信用卡", source="tousu"))
    return store


def emls(path):
    return [message_from_bytes(p.read_bytes(), policy=default) for p in sorted(path.glob("*.eml"))]


def test_one_check_one_incident_one_message(history, tmp_path):
    """The topic spike, the topic's volume spike and its source's spike share their records: one
    message led by the topic spike, carrying the other two."""
    fill(history, spread(NOW - HOUR, 40))
    outbox = tmp_path / "outbox"
    report = run_rules(topic_rules(), history, [OutboxNotifier(outbox)], NOW)
    [message] = report.fired
    assert (message.rule, message.key) == ("spike", "topic=手机银行")
    assert {a.state_key for a in message.related} == {"volume:topic=手机银行", "by_source:source=appstore"}
    [mail] = emls(outbox)
    assert mail["X-VOC-Incident"] == message.incident and mail["In-Reply-To"] is None
    [incident] = IncidentBook(history).open()
    assert incident.id == message.incident and set(incident.keys) == {
        "spike:topic=手机银行", "volume:topic=手机银行", "by_source:source=appstore"}
    # every firing is in the history, with its incident
    assert {(a["rule"], a["incident"]) for a in history.alerts()} == {
        ("spike", incident.id), ("volume", incident.id), ("by_source", incident.id)}


def test_an_unrelated_rise_is_its_own_incident(history, tmp_path):
    fill(history, spread(NOW - HOUR, 40))
    fill(history, spread(NOW - HOUR, 30, topic="信用卡", source="tousu"))
    report = run_rules(topic_rules(), history, [OutboxNotifier(tmp_path / "outbox")], NOW)
    leads = sorted(m.key for m in report.fired)
    assert leads == ["topic=信用卡", "topic=手机银行"]
    assert len({m.incident for m in report.fired}) == 2
    for message in report.fired:  # each carries its own source's spike, not the other's
        topic = message.group["topic"]
        source = {"手机银行": "appstore", "信用卡": "tousu"}[topic]
        assert f"by_source:source={source}" in {a.state_key for a in message.related}


def test_escalation_in_the_thread_then_one_recovery(history, tmp_path):
    outbox = tmp_path / "outbox"
    notifiers = [OutboxNotifier(outbox)]
    rules = topic_rules()
    fill(history, spread(NOW - HOUR, 20))
    [first] = run_rules(rules, history, notifiers, NOW).fired
    fill(history, spread(NOW, 28))  # not double: the incident is updated, nobody is mailed
    report = run_rules(rules, history, notifiers, NOW + HOUR)
    assert report.fired == [] and report.merged
    fill(history, spread(NOW + HOUR, 60))  # 60 >= 2 x 20: an escalation, in the first mail's thread
    [rise] = run_rules(rules, history, notifiers, NOW + 2 * HOUR).fired
    assert rise.kind == "escalation" and rise.incident == first.incident and rise.thread == first.id
    mails = emls(outbox)
    assert len(mails) == 2 and "升级" in mails[1]["Subject"]
    assert mails[1]["In-Reply-To"] == mails[0]["Message-ID"] == mails[1]["References"]
    # the rise ends: the keys recover, one notice for the incident, in the same thread
    fill(history, hourly_history(NOW + 6 * HOUR, 3, 4))
    later = [run_rules(rules, history, notifiers, NOW + (3 + h) * HOUR) for h in range(4)]
    notices = [m for r in later for m in r.fired]
    [notice] = notices
    assert notice.kind == "recovery" and notice.incident == first.incident
    assert emls(outbox)[-1]["In-Reply-To"] == mails[0]["Message-ID"]
    assert IncidentBook(history).get(first.incident).status == "recovered"
    # a new rise is a new incident, told at once
    fill(history, spread(NOW + 8 * HOUR, 40))
    [again] = run_rules(rules, history, notifiers, NOW + 9 * HOUR).fired
    assert again.kind == "alert" and again.incident != first.incident and again.thread == ""


def test_a_crash_after_the_journal_mends_the_incident(history, tmp_path):
    """The message is journaled, then the process dies before the incident document is written:
    the next check delivers it, writes the incident, and a later firing joins it (no second alert)."""
    fill(history, spread(NOW - HOUR, 40))
    rules = topic_rules()
    report = run_rules(rules, history, [], NOW, dry_run=True)
    [message] = report.fired
    from alerts.state import SendJournal

    SendJournal(history).open(message, NOW)  # what the crashed check had written, and no more
    assert history.list_state(INCIDENT) == {}
    outbox = tmp_path / "outbox"
    report = run_rules(rules, history, [OutboxNotifier(outbox)], NOW + timedelta(minutes=5))
    assert message.id in report.sent and report.fired == []  # delivered from the journal, joined
    incident = IncidentBook(history).get(message.incident)
    assert incident is not None and incident.is_open and len(emls(outbox)) == 1
    assert history.get_state(SEND_JOURNAL, message.id)["status"] == "sent"


def _firing(key: str, ids: set[str], group: dict[str, str], severity: str = "warning",
            p: float = 1e-6, kind: str = "negative_spike") -> Firing:
    alert = Alert(rule=key.split(":")[0], key=key.split(":", 1)[1], severity=severity,
                  window_start=NOW - HOUR, window_end=NOW, count=len(ids), baseline=1.0,
                  ratio=float(len(ids)), p_value=p, title=key, fired_at=NOW, group=group,
                  details={"rule_type": kind})
    return Firing(alert, "alert", frozenset(ids))


def test_grouping_by_shared_records_topics_and_broad_cover():
    a = _firing("spike:topic=手机银行", {f"m{i}" for i in range(20)}, {"topic": "手机银行"})
    sub = _firing("spike:topic=手机银行/闪退", {f"x{i}" for i in range(5)}, {"topic": "手机银行/闪退"})
    term = _firing("term:term=闪退", {"m1", "m2", "m3", "t1"}, {"term": "闪退"}, kind="emerging_term")
    card = _firing("spike:topic=信用卡", {f"c{i}" for i in range(15)}, {"topic": "信用卡"})
    overall = _firing("share:", {f"m{i}" for i in range(20)} | {"c1"}, {}, kind="negative_share")
    lone = _firing("share_src:source=weibo", {"w1", "w2"}, {"source": "weibo"}, kind="negative_share")
    groups = group_firings([card, term, overall, sub, lone, a])
    keys = [[f.alert.state_key for f in g] for g in groups]
    # the topic and its sub-topic (same root), the term (3 of its 4 records are the topic's) and
    # the overall share (it covers all of the topic's records, 1 of the card's) are one group,
    # led by the topic spike; the card spike and the unrelated source stand alone
    assert keys[0][0] == "spike:topic=手机银行"
    assert set(keys[0]) == {"spike:topic=手机银行", "spike:topic=手机银行/闪退", "term:term=闪退", "share:"}
    assert ["spike:topic=信用卡"] in keys and ["share_src:source=weibo"] in keys


def test_a_source_health_alert_never_joins(history, tmp_path):
    health = _firing("silent:source=appstore", set(), {"source": "appstore"}, kind="source_silent")
    health.joins = False
    spike = _firing("spike:source=appstore", {"a1"}, {"source": "appstore"})
    assert len(group_firings([health, spike])) == 2



def test_the_incident_escalates_when_its_lead_rule_doubles_what_it_told(history, tmp_path):
    """One escalation per doubling of the incident's lead rule since its last message (a rise short
    of that is a quiet update), whatever each key's own history says."""
    outbox = tmp_path / "outbox"
    notifiers = [OutboxNotifier(outbox)]
    rules = topic_rules()
    fill(history, spread(NOW - HOUR, 24))
    [first] = run_rules(rules, history, notifiers, NOW).fired
    assert first.rule == "spike" and IncidentBook(history).get(first.incident).told == 24
    fill(history, spread(NOW, 30))  # the topic is not at 2 x 24; nobody is mailed
    assert run_rules(rules, history, notifiers, NOW + HOUR).fired == []
    fill(history, spread(NOW + HOUR, 50))  # 50 >= 2 x 24: one escalation
    [rise] = run_rules(rules, history, notifiers, NOW + 2 * HOUR).fired
    assert rise.kind == "escalation" and rise.details["previous_count"] == 24
    assert IncidentBook(history).get(first.incident).told == 50
    assert len(list(outbox.glob("*.eml"))) == 2


def test_the_recovery_of_a_scored_rule_links_to_what_it_counted(history, tmp_path):
    """A rule counting by calibrated P(negative) (negative_score): its incident's recovery notice
    carries the threshold, so the notice's command lists the records the alert counted."""
    from alerts.render.text import search_command

    outbox = tmp_path / "outbox"
    rules = [build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"],
                         "baseline_weeks": 1, "negative_score": 0.5})]
    fill(history, spread(NOW - HOUR, 40))
    [first] = run_rules(rules, history, [OutboxNotifier(outbox)], NOW).fired
    assert first.details["negative_score"] == 0.5
    assert IncidentBook(history).get(first.incident).keys["spike:topic=手机银行"]["negative_score"] == 0.5
    fill(history, hourly_history(NOW + 6 * HOUR, 5, 4))
    notices = [m for h in range(5)
               for m in run_rules(rules, history, [OutboxNotifier(outbox)], NOW + (1 + h) * HOUR).fired]
    [notice] = notices
    assert notice.kind == "recovery" and notice.details["negative_score"] == 0.5
    assert "--min-negative 0.5" in search_command(notice)
