"""Routing records into cases with the shipped [[cases.routes]]: a critical risk post about our bank
and its near-duplicate copies open ONE case, a survey response rated 1 whose respondent agreed to a
回访 opens one case for all its answers, the team comes from the routing table (fraud before
topics), and running the routes again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from care.cases import CaseBook
from care.routing import consented, open_routed_cases
from core.record import Feedback, make_id
from core.settings import load_settings
from indexer import SqliteStore

NOW = datetime(2025, 11, 4, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
OURS = [{"type": "bank", "text": "江南银行", "canonical": "江南银行", "ours": True, "start": 0, "end": 4}]
CRITICAL = [{"flag": "fraud_theft", "severity": "critical"}]


def post(key: str, text: str, minutes_ago: float, **extra: Any) -> Feedback:
    return Feedback(id=make_id("weibo", native_id=key), source="weibo", kind="post", text=text,
                    created_at=NOW - timedelta(minutes=minutes_ago), **extra)


def answer(respondent: str, question: str, text: str, rating: float, consent: str) -> Feedback:
    meta = {"survey_id": "s1", "question": question, "choices": {"5、是否愿意接受回访": consent}}
    return Feedback(id=make_id("survey:wjx", native_id=f"s1:{respondent}:{question}"), source="survey:wjx",
                    kind="survey", text=text, created_at=NOW - timedelta(hours=2), author=f"p-{respondent}",
                    rating=rating, meta=meta, topics=["ATM/网点"])


def test_a_cluster_of_copies_opens_one_case(tmp_path: Path) -> None:
    settings = load_settings(env={"VOC_STORE__PATH": str(tmp_path / "voc.db")})
    store = SqliteStore(tmp_path / "voc.db")
    first = post("p0", "江南银行信用卡被盗刷两万，客服不管！电话13812345678", 50,
                 topics=["信用卡", "安全/盗刷"], risk=CRITICAL, entities=OURS)
    copies = [post(f"p{i}", f"转发：{first.text}{'！' * i}", 40 - i, topics=first.topics, risk=CRITICAL,
                   entities=OURS, duplicate_of=first.id) for i in range(1, 6)]
    other_bank = post("x1", "某某银行信用卡被盗刷", 30, topics=["信用卡"], risk=CRITICAL,
                      entities=[{**OURS[0], "text": "某某银行", "canonical": "某某银行", "ours": False}])
    mild = post("m1", "江南银行手机银行有点慢", 20, topics=["手机银行"], entities=OURS)
    survey = [answer("7", "6、意见建议", "网点排队太久了", 1, "是，可以联系我"),
              answer("7", "7、经历", "等了两个小时", 1, "是，可以联系我"),
              answer("8", "6、意见建议", "不满意", 1, "否"),  # rated 1 but no 回访 wanted
              answer("9", "6、意见建议", "一般", 4, "是")]
    store.upsert([first, *copies, other_bank, mild, *survey])

    report = open_routed_cases(settings, store, NOW)

    assert len(report.opened) == 2, [c.title for c in report.opened]
    risk_case, rating_case = sorted(report.opened, key=lambda c: c.severity)
    assert (risk_case.severity, risk_case.route) == ("critical", "critical_risk")
    assert risk_case.team == "消费者权益保护部"  # the fraud route names it before the card topic
    assert sorted(risk_case.records) == sorted([first.id, *(c.id for c in copies)])  # one case, 6 records
    assert "13812345678" not in risk_case.title and "138****5678" in risk_case.title
    assert risk_case.lead == ["consumer-protection@example.com"]
    assert (rating_case.route, rating_case.team, rating_case.rating_before) == ("low_rating", "网点运营部", 1)
    assert sorted(rating_case.records) == sorted(r.id for r in survey[:2])  # one response, one case
    # the same records again, and a later copy: no new case, the copy joins the first
    assert open_routed_cases(settings, store, NOW + timedelta(minutes=5)).opened == []
    late = post("p9", f"再转：{first.text}", 1, topics=first.topics, risk=CRITICAL, entities=OURS,
                duplicate_of=first.id)
    store.upsert([late])
    again = open_routed_cases(settings, store, NOW + timedelta(minutes=10))
    assert again.opened == [] and again.linked == 1
    cases = CaseBook.from_settings(settings, store).all()
    assert len(cases) == 2 and late.id in next(c for c in cases if c.id == risk_case.id).records
    store.close()


def test_consent_is_read_from_the_survey_answer() -> None:
    assert consented(answer("1", "q", "t", 1, "是"))
    assert consented(answer("1", "q", "t", 1, "愿意接受回访"))
    assert not consented(answer("1", "q", "t", 1, "不愿意"))
    assert not consented(answer("1", "q", "t", 1, "否"))
    record = post("c", "t", 1, meta={"consent": True})
    assert consented(record)


def test_rating_max_is_on_five_whatever_the_scale_and_branches_match_with_or_without_the_bank() -> None:
    from care.routing import matches, on_five

    def rated(rating: float, scale: list[int] | None, branch: str = "江南银行鼓楼支行") -> Feedback:
        meta: dict[str, Any] = {"survey_id": "s9", "segments": {"branch": branch}}
        if scale:
            meta["scale"] = scale
        return Feedback(id=f"r{rating}{scale}", source="survey:wjx", kind="survey", text="x",
                        created_at=NOW, rating=rating, meta=meta)

    assert on_five(rated(2, [0, 10])) == 1.8 and on_five(rated(5, [0, 10])) == 3.0
    assert on_five(rated(2, None)) == 2 and on_five(rated(7, [1, 7])) == 5
    route = {"rating_max": 2}
    assert matches(route, rated(2, [0, 10])) and not matches(route, rated(5, [0, 10]))
    assert matches(route, rated(2, [1, 5])) and not matches(route, rated(3, [1, 5]))
    assert matches({"branch": ["鼓楼支行"]}, rated(1, None))
    assert matches({"branch": ["江南银行鼓楼支行"]}, rated(1, None))
    assert not matches({"branch": ["西湖支行"]}, rated(1, None))
