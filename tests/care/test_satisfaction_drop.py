"""`satisfaction_drop` (care/rules.py) through `run_rules` on a real SQLite store: a branch whose
CSAT fell this week is one message (its own incident, the low-rated answers as samples), a steady
branch and a thin week stay quiet; the rule type is registered beside the alerts package's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from alerts import OutboxNotifier, build_rule, run_rules
from core.record import Feedback, Sentiment, make_id
from core.registry import registry
from indexer.sqlite import SqliteStore

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def answers(branch: str, start: datetime, days: int, n: int, happy: float, seed: int, first: int) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        line = first + i
        rating = float(rng.choice([4, 5]) if rng.random() < happy else rng.choice([1, 2, 3]))
        out.append(Feedback(
            id=make_id("survey:wjx", native_id=f"s1:{line}"), source="survey:wjx", kind="survey",
            text="排队太久" if rating <= 2 else "还可以",
            created_at=start + timedelta(hours=i * 24 * days / n), rating=rating,
            sentiment=Sentiment("neutral", {"negative": .3, "neutral": .4, "positive": .3}, "t"),
            meta={"survey_id": "s1", "line": line, "choices": {"1、您办理业务的网点": branch,
                                                               "3、总体满意度（1-5分）": str(int(rating))}}))
    return out


def test_a_branch_whose_csat_fell_is_one_message(tmp_path):
    assert "satisfaction_drop" in registry("rule type").names()
    store = SqliteStore(tmp_path / "voc.db")
    try:
        week = timedelta(days=7)
        store.upsert(answers("鼓楼支行", NOW - 5 * week, 28, 160, 0.8, 1, 10_000)
                     + answers("鼓楼支行", NOW - week, 7, 60, 0.35, 2, 20_000)
                     + answers("西湖支行", NOW - 5 * week, 28, 160, 0.8, 3, 30_000)
                     + answers("西湖支行", NOW - week, 7, 60, 0.8, 4, 40_000)
                     + answers("江北支行", NOW - 5 * week, 28, 160, 0.8, 5, 50_000)
                     + answers("江北支行", NOW - week, 7, 10, 0.1, 6, 60_000))  # too thin to test
        rule = build_rule({"name": "satisfaction_drop_branch", "type": "satisfaction_drop"})
        report = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW)
        [message] = report.fired
        assert message.key == "branch=鼓楼支行" and message.incident
        assert message.details["csat"] < 0.5 < message.details["baseline_csat"]
        assert message.samples and all(r.rating is not None and r.rating <= 3 for r in message.samples)
        assert "满意度下降" in message.title and len(list((tmp_path / "outbox").glob("*.eml"))) == 1
        again = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW + timedelta(minutes=5))
        assert again.fired == []  # the same drop is not told twice
    finally:
        store.close()
