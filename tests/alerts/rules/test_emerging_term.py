"""`emerging_term` on a real SQLite store, and the n-gram helpers it rests on.

The terms used as "new" (页面乱码, 暴雷) are in no topic of the shipped taxonomy: a topic's words
(转账失败, 闪退, 手机银行) are the topic rules' business and never reported (`drop` "known")."""

from __future__ import annotations

import random

from support.alerts import HOUR, NOW, fill, spread

from alerts import build_rule
from alerts.rules.emerging_term import NAMESPACE
from alerts.rules.terms import extend, strongest, terms

PHRASES = ["登录不了一直转圈", "客服电话打不通", "信用卡额度降低", "排队时间太长", "理财收益太低",
           "验证码收不到", "网点服务态度差", "手续费乱收", "贷款审批太慢", "更新以后闪退"]
_pick = random.Random(7)


def ordinary(start, n):
    """`n` negative comments over the hour, each two everyday complaints drawn at random."""
    return [r.with_(text="，".join(_pick.sample(PHRASES, 2))) for r in spread(start, n)]


def history(store, days=3, per_hour=6):
    batch = []
    for h in range(1, days * 24 + 11):  # whole Asia/Shanghai days before NOW (10:00)
        batch += ordinary(NOW - h * HOUR, per_hour)
    fill(store, batch)


def rule(**options):
    return build_rule({"name": "terms", "type": "emerging_term", "baseline_days": 3, **options})


def test_a_new_term_fires_named_whole(store):
    history(store)
    burst = [r.with_(text=f"页面乱码，钱扣了没到账{i}次") for i, r in enumerate(spread(NOW - HOUR, 7))]
    fill(store, [*ordinary(NOW - HOUR, 6), *burst])
    [alert] = rule().evaluate(store, NOW)  # two new phrases in the same comments: one alert
    term = alert.details["term"]
    assert {term, *alert.details["related_terms"]} == {"页面乱码", "钱扣了没到账"}
    assert alert.key == f"term={term}" and alert.group == {"term": term}
    assert alert.count == 7 and alert.baseline == 0.5  # never seen: the floor
    assert len(alert.samples) == 5 and all(term in s.text for s in alert.samples)
    assert alert.title == f"新词「{term}」负面 1 小时 7 条，基线 0.5"
    series = alert.details["series"]
    assert len(series) == 48 and series[-1]["count"] == 7 and sum(p["count"] for p in series) == 7


def test_common_words_do_not_fire_when_volume_rises(store):
    history(store)
    fill(store, ordinary(NOW - HOUR, 30))  # five times the usual volume, the usual words
    assert rule().evaluate(store, NOW) == []


def test_min_support_and_positive_comments(store):
    history(store)
    fill(store, [r.with_(text="理财产品暴雷了") for r in spread(NOW - HOUR, 4)])
    fill(store, [r.with_(text="理财产品暴雷了") for r in spread(NOW - HOUR, 9, label="positive")])
    assert rule().evaluate(store, NOW) == []  # 4 negative comments < min_support 5
    fill(store, [r.with_(text="理财产品暴雷了") for r in spread(NOW - HOUR / 2, 1)])
    [alert] = rule().evaluate(store, NOW)
    assert "暴雷" in alert.details["term"] and alert.count == 5


def test_day_tables_are_kept_and_reused(store):
    history(store)
    fill(store, [r.with_(text="页面乱码") for r in spread(NOW - HOUR, 6)])
    assert len(rule().evaluate(store, NOW)) == 1
    tables = store.list_state(NAMESPACE)
    assert sorted(tables) == ["terms:2024-05-03", "terms:2024-05-04", "terms:2024-05-05"]
    assert tables["terms:2024-05-05"]["n"] == 6 * 24 and tables["terms:2024-05-05"]["df"]["客服"] > 0
    assert len(rule().evaluate(store, NOW + HOUR / 12)) == 1
    assert store.list_state(NAMESPACE) == tables  # not recomputed within SETTLE of the day's end


def test_no_history_no_alert(store):
    fill(store, [r.with_(text="页面乱码") for r in spread(NOW - HOUR, 20)])
    assert rule().evaluate(store, NOW) == []


def test_terms_are_bigrams_trigrams_and_words():
    found = terms("app更新后转账失败了")
    assert {"app", "转账", "账失", "失败", "转账失", "账失败", "更新后"} <= found
    assert "败了" not in found and "失败了" not in found  # particles at an edge
    assert terms("我们 怎么") == set()  # stop bigrams and pronoun edges


def test_extend_and_strongest():
    texts = ["转账失败了", "今天转账失败", "转账失败，钱没到", "转账成功"]
    assert extend("账失", texts) == "转账失败"
    assert extend("转账", texts) == "转账"  # only 3 of 4 go on the same way: below 80 %
    assert strongest([("转账失", 5), ("转账失败", 5), ("暴雷", 4), ("理财暴雷", 2)]) == ["转账失败", "暴雷"]


def test_ignored_words_are_cut_out_of_terms(store):
    """Our bank's own name in every angry comment is not the news; what follows it is."""
    history(store)
    burst = [r.with_(text=f"江南银行手机银行崩了第{i}回") for i, r in enumerate(spread(NOW - HOUR, 8))]
    fill(store, [*ordinary(NOW - HOUR, 6), *burst])
    named = {a.details["term"] for a in rule().evaluate(store, NOW)}
    assert any("南银行" in term for term in named)  # without ignore the name is part of the term
    named = {a.details["term"] for a in rule(ignore=["江南银行"]).evaluate(store, NOW)}
    assert named and not any("江南" in t or "南银" in t or "银行手" in t for t in named)
    assert any("手机银行" in t for t in named)
