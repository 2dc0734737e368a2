"""The `FeedbackStore` contract, run against every backend (written against the protocol only).

SQLite always runs on a real file in tmp_path. Elasticsearch runs when VOC_TEST_ES_URL points at a
cluster (the backend must make an upsert visible to the next query, e.g. by refreshing)."""

from __future__ import annotations

import importlib
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from indexer import open_store
from indexer.errors import StoreQueryError
from indexer.store import NONE_KEY, FeedbackStore, Filters

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=SH)  # conftest's default `at` (no package to import from)


class Backend:
    """Opens (and re-opens, for the restart tests) one backend's store over the same data."""

    def __init__(self, name: str, tmp_path) -> None:
        self.name, self.opened = name, []
        if name == "elasticsearch":
            url = os.environ.get("VOC_TEST_ES_URL")
            if not url:
                pytest.skip("elasticsearch: set VOC_TEST_ES_URL to run the contract against a cluster")
            try:
                importlib.import_module("indexer.elastic")
            except ImportError:
                pytest.skip("elasticsearch store not implemented yet")
            self.options = {"hosts": [url], "index_prefix": f"voc-test-{uuid.uuid4().hex[:8]}"}
        else:
            self.options = {"path": tmp_path / "voc.db"}

    def open(self) -> FeedbackStore:
        store = open_store(self.name, **self.options)
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    for store in b.opened:
        store.close()


@pytest.fixture
def store(backend) -> FeedbackStore:
    return backend.open()


def ids(records) -> set[str]:
    return {r.id for r in records}


# -- upsert, get ------------------------------------------------------------------------------

def test_is_a_feedback_store(store):
    assert isinstance(store, FeedbackStore)


def test_same_batch_twice_is_stored_once(store, make):
    batch = [make("手机银行闪退"), make("转账很快", label="positive"), make("信用卡催收电话太多")]
    first, second = store.upsert(batch), store.upsert(batch)
    assert (first.received, first.stored, first.failed) == (3, 3, [])
    assert second.stored == 3
    assert store.total() == 3
    assert store.search("闪退").total == 1
    assert sum(r.count for r in store.counts(T0 - timedelta(days=1), T0 + timedelta(days=1))) == 3


def test_later_version_replaces(store, make):
    old = make("信用卡年费太贵了", key="k1", topics=["信用卡"], label="negative")
    store.upsert([old])
    new = make("贷款审批很快", key="k1", topics=["贷款"], label="positive")
    store.upsert([new])
    assert store.total() == 1
    assert store.get(old.id) == new
    assert store.search("年费太贵").total == 0
    assert store.search("审批很快").items == [new]
    assert store.total(Filters(topics=("信用卡",))) == 0
    assert [r.key for r in store.counts(T0, T0 + timedelta(hours=1), group_by=["topic"])] == [
        {"topic": "贷款"}]


def test_later_copy_in_one_batch_wins(store, make):
    a, b = make("第一版", key="same"), make("第二版", key="same")
    result = store.upsert([a, b])
    assert (result.received, result.stored) == (2, 1)
    assert store.get(a.id).text == "第二版"


def test_bad_record_is_reported_not_dropped_silently(store, make):
    good = make("好评")
    bad = make("坏数据", risk=[("欺诈", "fatal")])
    worse = make("更坏", meta={"raw": object()})
    result = store.upsert([good, bad, worse])
    assert (result.received, result.stored) == (3, 1)
    assert [i for i, _ in result.failed] == [bad.id, worse.id]
    assert "severity" in result.failed[0][1] and "object" in result.failed[1][1]
    assert store.get(good.id) == good and store.get(bad.id) is None


def test_round_trip_is_exact(store, make):
    record = make("招商银行的APP又闪退了，客服电话打不通", title="吐槽", neg=0.8734,
                  topics=["手机银行", "客服"], risk=[("投诉升级", "warning")],
                  entities=[("招商银行", True)], url="https://example.com/p/1", author="用户甲",
                  rating=1, fetched_at=datetime(2026, 1, 10, 5, 1, 2, 345678, tzinfo=UTC),
                  fingerprint="0123456789abcdef", meta={"likes": 3, "tags": ["a", "乙"]},
                  at=datetime(2026, 1, 10, 12, 0, 0, 123456, tzinfo=SH))
    store.upsert([record])
    got = store.get(record.id)
    assert got == record
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert dict(got.sentiment.scores) == dict(record.sentiment.scores)
    assert store.search("闪退").items == [record]
    assert store.samples() == [record]
    untitled = make("没有标题")
    store.upsert([untitled])
    assert store.get(untitled.id).title is None
    assert store.get("no-such-id") is None


def test_get_many_returns_the_stored_ones_by_id(store, make):
    records = [make(f"第{i}条：转账一直失败", at=T0 + timedelta(minutes=i)) for i in range(7)]
    store.upsert(records)
    asked = [records[3].id, "no-such-id", records[0].id, records[3].id, records[6].id]
    got = store.get_many(asked)
    assert got == {r.id: r for r in (records[0], records[3], records[6])}
    assert store.get_many([]) == {}
    assert store.get_many(["no-such-id"]) == {}
    assert store.get_many([r.id for r in records]) == {r.id: r for r in records}


# -- search -----------------------------------------------------------------------------------

@pytest.fixture
def corpus(store, make):
    records = [
        make("手机银行又闪退了", at=T0),
        make("房贷利率太高", at=T0 + timedelta(minutes=1)),
        make("信用卡额度提升了，点赞", at=T0 + timedelta(minutes=2), label="positive"),
        make("网点排队两个小时", title="贷款办理", at=T0 + timedelta(minutes=3)),
        make("转账到账 100% 及时", at=T0 + timedelta(minutes=4)),
    ]
    store.upsert(records)
    return records


@pytest.mark.parametrize(("query", "expected"), [
    ("贷", [3, 1]),              # one character, also in a title
    ("闪退", [0]),               # two characters
    ("信用卡", [2]),             # three: the trigram index
    ("手机银行又闪退", [0]),
    ("排队两个小时", [3]),
    ("贷款办理", [3]),           # title only
    ("100%", [4]),               # LIKE wildcards are literal
    ("%", [4]),
    ("_", []),
    ("房贷 太高", [1]),          # terms are AND-ed
    ("房贷 闪退", []),
    ("不存在的词", []),
])
def test_search_finds_substrings(store, corpus, query, expected):
    page = store.search(query)
    assert page.items == [corpus[i] for i in expected]  # newest first
    assert page.total == len(expected)


WEIBO = ('手机银行转账失败<img src="https://h5.sinaimg.cn/m/emoticon/d_xixi.png" alt="[嘻嘻]">'
         '<a href="https://m.weibo.cn/p/1">#转账#</a>')


@pytest.mark.parametrize(("query", "found"), [
    ("sinaimg", False), ("img", False), ("src", False), ("<a", False),  # the markup is not searched
    ("[嘻嘻]", True), ("失败[嘻嘻]#转账#", True), ("转账失败", True),     # what a person sees
    ("轉賬失敗", True), ("轉賬", True), ("ＡＴＭ", True), ("atm机", True),  # folded as the texts are
    ("贷", False),
])
def test_search_reads_the_visible_text_folded_like_the_query(store, make, query, found):
    """Issue 16, item 6: a Weibo record keeps its HTML in `text`; search matches what a person
    sees of it; a traditional or full-width query finds what its simplified, half-width form does."""
    post = make(WEIBO, source="weibo", kind="post")
    atm = make("ATM機吞卡", key="atm", at=T0 + timedelta(minutes=1))
    store.upsert([post, atm])
    expected = {"ＡＴＭ": [atm], "atm机": [atm]}.get(query, [post] if found else [])
    assert store.search(query).items == expected
    assert store.get(post.id).text == WEIBO  # the record keeps its text as written


def test_upsert_says_new_updated_and_unchanged(store, make):
    batch = [make("手机银行闪退", key="1"), make(WEIBO, key="2"), make("信用卡年费", key="3")]
    first = store.upsert(batch)
    assert (first.stored, first.created, first.updated, first.unchanged) == (3, 3, 0, 0)
    again = store.upsert(batch)
    assert (again.stored, again.created, again.updated, again.unchanged) == (3, 0, 0, 3)
    third = store.upsert([make("手机银行闪退", key="1", label="negative"), make(WEIBO, key="2"),
                          make("新的一条", key="4")])
    assert (third.stored, third.created, third.updated, third.unchanged) == (3, 1, 1, 1)
    assert store.total() == 4 and store.get(batch[0].id).sentiment.label == "negative"


def test_empty_query_lists_newest_first_and_pages(store, corpus):
    first = store.search("", page=1, size=2)
    assert first.total == 5 and first.items == [corpus[4], corpus[3]]
    third = store.search("", page=3, size=2)
    assert third.items == [corpus[0]] and (third.page, third.size) == (3, 2)
    assert store.search("", page=4, size=2).items == []


def test_search_with_filters(store, corpus):
    assert store.search("贷", Filters(since=T0 + timedelta(minutes=2))).items == [corpus[3]]
    assert store.search("", Filters(sentiment=("positive",))).items == [corpus[2]]


# -- filters ----------------------------------------------------------------------------------

@pytest.fixture
def tagged(store, make):
    r = {
        "a": make("A", source="appstore", kind="review", label="negative", topics=["信用卡/催收"],
                  risk=[("暴力催收", "critical")], entities=[("本行", True)], at=T0),
        "b": make("B", source="weibo", kind="post", label="neutral", topics=["信用卡"],
                  risk=[("投诉", "info")], entities=[("工商银行", False)], at=T0 + timedelta(hours=1)),
        "c": make("C", source="tousu", kind="complaint", label="negative", topics=["信用卡额度"],
                  risk=[("投诉", "warning")], at=T0 + timedelta(hours=2)),
        "d": make("D", source="weibo", kind="post", at=T0 + timedelta(hours=3)),
    }
    r["e"] = make("E", source="weibo", kind="post", label="negative", topics=["信用卡/催收"],
                  entities=[("本行", True), ("工商银行", False)], duplicate_of=r["a"].id,
                  at=T0 + timedelta(hours=4))
    store.upsert(list(r.values()))
    return r


@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(), "abcde"),
    (Filters(sources=("weibo",)), "bde"),
    (Filters(sources=("weibo", "tousu")), "bcde"),
    (Filters(kinds=("complaint",)), "c"),
    (Filters(sentiment=("negative",)), "ace"),
    (Filters(sentiment=(NONE_KEY,)), "d"),
    (Filters(topics=("信用卡",)), "abe"),          # sub-topics by prefix, not 信用卡额度
    (Filters(topics=("信用卡/催收",)), "ae"),
    (Filters(topics=("信用卡额度", "不存在")), "c"),
    (Filters(risk=("投诉",)), "bc"),
    (Filters(min_severity="warning"), "ac"),
    (Filters(min_severity="critical"), "a"),
    (Filters(min_severity="info"), "abc"),
    (Filters(entities=("工商银行",)), "be"),
    (Filters(ours=True), "ae"),
    (Filters(ours=False), "bcd"),
    (Filters(since=T0 + timedelta(hours=1)), "bcde"),  # since inclusive
    (Filters(until=T0 + timedelta(hours=1)), "a"),     # until exclusive
    (Filters(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)), "bc"),
    (Filters(distinct_clusters=True), "abcd"),
    (Filters(sources=("weibo",), sentiment=("negative",), topics=("信用卡",)), "e"),
    (Filters(min_negative_score=0.5), "ace"),          # calibrated P(negative), whatever the label
    (Filters(min_negative_score=0.1), "abce"),         # b is neutral at 0.1; d has no sentiment
    (Filters(min_negative_score=0.1, sentiment=("neutral",)), "b"),
])
def test_each_filter(store, tagged, filters, expected):
    want = {tagged[k].id for k in expected}
    assert store.total(filters) == len(want)
    assert ids(store.search("", filters, size=50).items) == want
    assert ids(store.samples(filters, n=50)) == want
    if filters.since is None and filters.until is None:  # the same inside a time window
        windowed = replace(filters, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
        assert ids(store.search("", windowed, size=50).items) == want
        assert sum(r.count for r in store.counts(T0, T0 + timedelta(days=1), filters=filters)) == len(want)


def test_naive_or_bad_arguments_are_refused(store, tagged):
    with pytest.raises(StoreQueryError, match="since"):
        store.total(Filters(since=datetime(2026, 1, 1)))
    with pytest.raises(StoreQueryError, match="min_severity"):
        store.total(Filters(min_severity="fatal"))
    with pytest.raises(StoreQueryError, match="group_by"):
        store.counts(T0, T0 + timedelta(days=1), group_by=["colour"])
    with pytest.raises(StoreQueryError, match="interval"):
        store.counts(T0, T0 + timedelta(days=1), interval=timedelta(0))


# -- counts -----------------------------------------------------------------------------------

def rows(result):
    return [(r.bucket, r.key_str(), r.count) for r in result]


def test_counts_grouped_with_none_and_multi_values(store, tagged):
    start, end = T0, T0 + timedelta(days=1)
    by_source = rows(store.counts(start, end, group_by=["source"]))
    assert by_source == [(start, "source=weibo", 3), (start, "source=appstore", 1),
                         (start, "source=tousu", 1)]
    by_entity = {k: n for _, k, n in rows(store.counts(start, end, group_by=["entity"]))}
    assert by_entity == {"entity=本行": 2, "entity=工商银行": 2, f"entity={NONE_KEY}": 2}
    by_risk = {k: n for _, k, n in rows(store.counts(start, end, group_by=["risk"]))}
    assert by_risk == {"risk=投诉": 2, "risk=暴力催收": 1, f"risk={NONE_KEY}": 2}
    by_two = {k: n for _, k, n in rows(store.counts(start, end, group_by=["sentiment", "topic"]))}
    assert by_two == {"sentiment=negative,topic=信用卡/催收": 2, "sentiment=neutral,topic=信用卡": 1,
                      "sentiment=negative,topic=信用卡额度": 1,
                      f"sentiment={NONE_KEY},topic={NONE_KEY}": 1}
    kinds = {k: n for _, k, n in rows(store.counts(start, end, group_by=["kind"]))}
    assert kinds == {"kind=post": 3, "kind=review": 1, "kind=complaint": 1}


def test_counts_window_filters_and_distinct_clusters(store, tagged):
    assert rows(store.counts(T0 + timedelta(hours=1), T0 + timedelta(hours=4))) == [
        (T0 + timedelta(hours=1), "", 3)]
    negative = Filters(sentiment=("negative",))
    topic = store.counts(T0, T0 + timedelta(days=1), group_by=["topic"], filters=negative)
    assert {r.key["topic"]: r.count for r in topic} == {"信用卡/催收": 2, "信用卡额度": 1}
    distinct = Filters(sentiment=("negative",), distinct_clusters=True)
    topic = store.counts(T0, T0 + timedelta(days=1), group_by=["topic"], filters=distinct)
    assert {r.key["topic"]: r.count for r in topic} == {"信用卡/催收": 1, "信用卡额度": 1}
    assert store.counts(T0 - timedelta(days=2), T0) == []


def test_distinct_clusters_count_a_repost_wave_of_an_old_post_once(store, make):
    """Copies of a first post older than the range count once for their cluster, not zero times;
    a cluster whose first post is in the range counts once with all its copies."""
    old = make("两天前的老帖子：信用卡被盗刷没人管", label="negative", at=T0 - timedelta(days=2))
    fresh = make("今天新帖：客服电话打不通", label="negative", at=T0 + timedelta(minutes=10))
    copies = [make(f"转发 {i}", key=f"copy-old-{i}", label="negative", duplicate_of=old.id,
                   at=T0 + timedelta(minutes=5 + 10 * i)) for i in range(4)]
    copies += [make(f"再转 {i}", key=f"copy-new-{i}", label="negative", duplicate_of=fresh.id,
                    at=T0 + timedelta(minutes=20 + 10 * i)) for i in range(3)]
    store.upsert([old, fresh, *copies])
    clusters = Filters(sentiment=("negative",), distinct_clusters=True)
    window = (T0, T0 + timedelta(hours=1))
    assert rows(store.counts(*window, filters=clusters)) == [(T0, "", 2)]
    assert rows(store.counts(*window)) == [(T0, "", 8)]
    assert store.total(replace(clusters, since=window[0], until=window[1])) == 2
    # per bucket: the old cluster has members in both halves of the hour, so each half counts it
    halves = rows(store.counts(*window, interval=timedelta(minutes=30), filters=clusters))
    assert halves == [(T0, "", 2), (T0 + timedelta(minutes=30), "", 2)]
    # the first post alone, in its own day
    assert rows(store.counts(T0 - timedelta(days=2), T0 - timedelta(days=1), filters=clusters)) == [
        (T0 - timedelta(days=2), "", 1)]


def test_day_buckets_follow_shanghai(store, make):
    late = make("跨年夜还在排队", at=datetime(2026, 1, 1, 23, 30, tzinfo=SH))   # 15:30 UTC, Jan 1
    early = make("元旦一早转账失败", at=datetime(2026, 1, 1, 0, 10, tzinfo=SH))  # 16:10 UTC, Dec 31
    before = make("除夕", at=datetime(2025, 12, 31, 23, 59, tzinfo=SH))
    store.upsert([late, early, before])
    start = datetime(2025, 12, 31, 0, 0, tzinfo=SH)
    got = rows(store.counts(start, start + timedelta(days=3), interval=timedelta(days=1)))
    assert got == [(datetime(2025, 12, 31, tzinfo=SH), "", 1), (datetime(2026, 1, 1, tzinfo=SH), "", 2)]


def test_hour_buckets_grouped(store, make):
    base = datetime(2026, 1, 5, 9, 0, tzinfo=SH)
    store.upsert([make("一", at=base + timedelta(minutes=5), source="weibo"),
                  make("二", at=base + timedelta(minutes=59), source="weibo"),
                  make("三", at=base + timedelta(minutes=60), source="weibo"),
                  make("四", at=base + timedelta(minutes=61), source="tousu")])
    got = rows(store.counts(base, base + timedelta(hours=2), interval=timedelta(hours=1),
                            group_by=["source"]))
    assert got == [(base, "source=weibo", 2), (base + timedelta(hours=1), "source=tousu", 1),
                   (base + timedelta(hours=1), "source=weibo", 1)]


# -- samples ----------------------------------------------------------------------------------

def test_samples_most_negative_then_newest(store, make):
    mild = make("还行吧", neg=0.6, at=T0 + timedelta(hours=5))
    worst_old = make("太差了", neg=0.95, at=T0)
    worst_new = make("垃圾银行", neg=0.95, at=T0 + timedelta(hours=1))
    happy = make("很好", label="positive", at=T0 + timedelta(hours=9))
    unscored = make("未分类", at=T0 + timedelta(hours=10))
    store.upsert([mild, happy, worst_old, unscored, worst_new])
    assert store.samples(n=5) == [worst_new, worst_old, mild, happy, unscored]
    assert store.samples(n=2) == [worst_new, worst_old]
    assert store.samples(Filters(since=T0 + timedelta(hours=2)), n=1) == [mild]


# -- state and alert history ------------------------------------------------------------------

def test_state_round_trip_and_survives_reopen(backend, make):
    store = backend.open()
    store.put_state("cursor", "tousu", {"page": 3, "last_id": "x1", "seen": ["a", "乙"]})
    store.put_state("cursor", "weibo", {"since": "2026-01-01T00:00:00+00:00"})
    store.put_state("silence", "negative_spike:topic=信用卡", {"until": "2026-01-02T00:00:00+00:00"})
    store.put_state("cursor", "weibo", {"since": "2026-01-03T00:00:00+00:00"})  # replaces
    store.put_state("cursor", "gone", {"x": 1})
    store.delete_state("cursor", "gone")
    store.upsert([make("重启之后还在")])
    store.close()
    again = backend.open()
    assert again.get_state("cursor", "tousu") == {"page": 3, "last_id": "x1", "seen": ["a", "乙"]}
    assert again.list_state("cursor") == {"tousu": {"page": 3, "last_id": "x1", "seen": ["a", "乙"]},
                                          "weibo": {"since": "2026-01-03T00:00:00+00:00"}}
    assert again.get_state("cursor", "gone") is None
    assert again.list_state("nothing") == {}
    assert again.search("重启").total == 1


def test_alert_history_newest_first(backend):
    store = backend.open()
    for hour, rule in [(1, "negative_spike"), (3, "risk_term"), (2, "negative_spike")]:
        store.add_alert({"rule": rule, "group": "topic=信用卡", "count": 37 + hour,
                         "created_at": T0 + timedelta(hours=hour)})
    store.close()
    store = backend.open()
    history = store.alerts()
    assert [a["count"] for a in history] == [40, 39, 38]
    assert datetime.fromisoformat(history[0]["created_at"]) == T0 + timedelta(hours=3)
    assert [a["count"] for a in store.alerts(rule="negative_spike")] == [39, 38]
    assert [a["count"] for a in store.alerts(since=T0 + timedelta(hours=2))] == [40, 39]
    assert len(store.alerts(limit=1)) == 1
    with pytest.raises(StoreQueryError, match="rule"):
        store.add_alert({"count": 1})


def test_lock_is_held_by_one_owner_until_it_expires_or_is_released(store):
    ttl = timedelta(minutes=10)
    assert store.lock("alerts:check", "host-a:1", ttl)
    assert not store.lock("alerts:check", "host-b:2", ttl)  # another process
    assert store.lock("alerts:check", "host-a:1", ttl)      # the owner renews
    store.unlock("alerts:check", "host-b:2")                 # not the owner: nothing happens
    assert not store.lock("alerts:check", "host-b:2", ttl)
    store.unlock("alerts:check", "host-a:1")
    assert store.lock("alerts:check", "host-b:2", timedelta(0))  # expires at once
    assert store.lock("alerts:check", "host-a:1", ttl)           # an expired lock is free
    assert store.lock("other", "host-b:2", ttl)                  # locks are by name


def test_a_score_threshold_counts_whole_hours_from_the_records(store, make):
    """The roll-ups know labels, not scores: whole hours under a score threshold are read from the
    records (a neutral record at 0.35 counts at 0.3, not at 0.4)."""
    start = T0.replace(minute=0)
    batch = [make(f"犹豫 {i}", label="neutral", neg=0.35, at=start + timedelta(minutes=7 * i))
             for i in range(5)]
    batch += [make(f"负面 {i}", label="negative", at=start + timedelta(hours=1, minutes=i)) for i in range(2)]
    store.upsert(batch)
    end = start + timedelta(hours=3)  # whole hours: the roll-ups would answer a label filter
    assert sum(r.count for r in store.counts(start, end, filters=Filters(min_negative_score=0.3))) == 7
    assert sum(r.count for r in store.counts(start, end, filters=Filters(min_negative_score=0.4))) == 2
    hourly = store.counts(start, end, timedelta(hours=1), filters=Filters(min_negative_score=0.3))
    assert [(r.bucket, r.count) for r in hourly] == [(start, 5), (start + timedelta(hours=1), 2)]
    assert store.search("", Filters(min_negative_score=0.3)).total == 7
    assert store.search("", Filters(min_negative_score=0.4)).total == 2  # not the roll-ups' 7
