"""Survey responses on Elasticsearch (`indexer._es_responses`): the index `voc-responses` setup
makes, the bulk documents `put_responses` and `upsert` send, the composite aggregation of
`rating_counts` and how its pages are read, and `iter_responses`' search_after pages; request-level,
against the local ES-like server (es_server.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.es_server import empty_search
from support.store_records import SH, build_record

from core.response import check, from_record
from indexer import _es_responses as er
from indexer.elastic import ElasticStore
from indexer.errors import StoreQueryError, StoreUnavailable
from indexer.store import NONE_KEY, Filters, RatingCount

AT = datetime(2026, 5, 1, 10, 0, tzinfo=SH)
QUESTION = "3、总体满意度（1-5分）"


@pytest.fixture
def store(elastic):  # type: ignore[no-untyped-def]
    return elastic


def response(key: str = "survey:wjx:418220517:r7c1f", **extra):
    doc = {"key": key, "source": "survey:wjx", "survey_id": "418220517", "line": 12,
           "respondent": "7c1f", "created_at": AT, "rating": 4, "scale": [1, 5], "question": QUESTION,
           "segments": {"branch": "江南银行鼓楼支行", "channel": "营业网点"},
           "ratings": {QUESTION: 4.0, "4、等候时间": 3.0}, "choices": {"1、您的性别": "女"}}
    doc.update(extra)
    return doc


def survey_record(text: str, line: int = 12, rating: float | None = 4.0):
    choices = {"1、办理业务的网点": "江南银行鼓楼支行", QUESTION: str(rating)}
    return build_record(text, at=AT, source="survey:wjx", kind="survey", rating=rating,
                        key=f"418220517:{line}:{text}",
                        meta={"survey_id": "418220517", "line": line, "respondent": None,
                              "response": f"survey:wjx:418220517:{line}", "scale": [1, 5],
                              "rating_question": QUESTION, "choices": choices,
                              "ratings": {QUESTION: rating}})


def bulks(es, index="voc-responses"):
    """The (action, source) pairs of every bulk request sent to `index`."""
    out = []
    for req in es.seen("PUT", r"^/_bulk$"):
        lines = req.ndjson()
        out.extend((a, s) for a, s in zip(lines[0::2], lines[1::2], strict=True)
                   if a["index"]["_index"] == index)
    return out


# -- setup --------------------------------------------------------------------------------------

def test_setup_creates_the_responses_index_with_its_mapping(es, store):
    report = store.setup(analyzer="cjk")
    assert store.names["responses"] == "voc-responses"
    assert "voc-responses" in report["created"] and "voc-responses" in report["indices"]
    mappings = es.indices["voc-responses"]["body"]["mappings"]
    props = mappings["properties"]
    assert mappings["dynamic"] is False
    for name in ("key", "source", "survey_id", "respondent", "question"):
        assert props[name]["type"] == "keyword", name
    assert props["created_at"] == {"type": "date"} and props["rating"] == {"type": "double"}
    assert props["scale_low"] == props["scale_high"] == {"type": "integer"}
    assert {k: v["type"] for k, v in props["segments"]["properties"].items()} == dict.fromkeys(
        ("branch", "channel", "product", "customer_type", "city"), "keyword")
    assert props["ratings"] == props["choices"] == {"type": "object", "enabled": False}
    assert "voc-responses" not in store.setup(analyzer="cjk")["created"]  # idempotent
    assert es.seen("PUT", r"^/voc-responses/_mapping$")  # an existing one gets the mapping again


def test_a_cluster_set_up_before_responses_gets_the_index_on_first_use(es, store):
    """The template exists (an older release's setup) but voc-responses does not: the first use
    runs setup, so no bulk request creates the index with dynamic mappings."""
    es.templates["voc-feedback"] = {}
    for name in ("voc-alerts", "voc-state", "voc-cases"):
        es.indices[name] = {"body": {}, "docs": {}}
    store.total()
    assert es.indices["voc-responses"]["body"]["mappings"]["dynamic"] is False
    store.total()
    assert len(es.seen("PUT", r"^/voc-responses$")) == 1


# -- put_responses -------------------------------------------------------------------------------

def test_put_responses_sends_flat_documents_by_key(es, store):
    first = response(created_at="2026-05-01T10:00:00+08:00", rating=2)
    later = response(rating=5)  # the same key: the later one replaces it
    other = response("survey:wjx:418220517:13", respondent=None, line=13, scale=None,
                     segments={}, created_at=AT + timedelta(hours=1))
    assert store.put_responses([first, later, other]) == 3
    bulk = es.seen("PUT", r"^/_bulk$")[-1]
    assert bulk.query["refresh"] == ["wait_for"]
    lines = bulk.ndjson()
    assert [a for a in lines[0::2]] == [
        {"index": {"_index": "voc-responses", "_id": "survey:wjx:418220517:r7c1f"}},
        {"index": {"_index": "voc-responses", "_id": "survey:wjx:418220517:13"}}]
    doc = lines[1]
    assert "scale" not in doc and (doc["scale_low"], doc["scale_high"]) == (1, 5)
    assert doc["rating"] == 5.0 and doc["created_at"] == "2026-05-01T10:00:00+08:00"
    assert doc["segments"] == {"branch": "江南银行鼓楼支行", "channel": "营业网点"}
    assert doc["ratings"] == {QUESTION: 4.0, "4、等候时间": 3.0}
    assert doc["key"] == "survey:wjx:418220517:r7c1f"
    assert er.unflatten(doc) == check(later)
    assert lines[3]["segments"] == {} and (lines[3]["scale_low"], lines[3]["scale_high"]) == (1, 5)
    assert store.put_responses([]) == 0


def test_a_refused_response_raises_and_nothing_is_sent(es, store):
    store.setup(analyzer="cjk")
    with pytest.raises(StoreQueryError, match="no rating"):
        store.put_responses([response("a"), response("b", rating=None)])
    with pytest.raises(StoreQueryError, match="timezone"):
        store.put_responses([response("c", created_at=datetime(2026, 5, 1, 10, 0))])
    with pytest.raises(StoreQueryError, match="d: rating must be a finite number, got nan"):
        store.put_responses([response("d", rating=float("nan"))])
    with pytest.raises(StoreQueryError, match="e: 4、等候时间 must be a finite number"):
        store.put_responses([response("e", ratings={"4、等候时间": float("inf")})])
    assert not es.seen("PUT", r"^/_bulk$")


def test_a_response_the_cluster_refuses_or_keeps_rejecting_raises(es, store):
    es.bulk_fault(lambda doc_id, attempt: 400 if doc_id == "bad" else None)
    with pytest.raises(StoreQueryError, match="1 of 2 survey responses not stored; first bad"):
        store.put_responses([response("good"), response("bad")])
    assert "good" in es.docs()
    es.bulk_fault(lambda doc_id, attempt: 429)
    with pytest.raises(StoreUnavailable, match="after 3 retries"):
        store.put_responses([response("busy")])
    assert es.bulk_attempts["busy"] == 4


# -- upsert --------------------------------------------------------------------------------------

def test_upsert_also_indexes_the_response_of_a_rated_survey_record(es, store):
    answer, second = survey_record("网点排队太久"), survey_record("柜员态度很好")  # one response
    review = build_record("手机银行闪退")
    unrated = survey_record("没有评分", line=14, rating=None)
    result = store.upsert([answer, second, review, unrated])
    assert (result.stored, result.failed) == (4, [])
    sent = bulks(es)
    assert [a for a, _ in sent] == [{"index": {"_index": "voc-responses", "_id": "survey:wjx:418220517:12"}}]
    expected = from_record(second)
    assert expected is not None and sent[0][1] == er.flatten(expected)
    assert sent[0][1]["segments"] == {"branch": "江南银行鼓楼支行"} and sent[0][1]["rating"] == 4.0
    records = [a["index"]["_id"] for a, _ in bulks(es, "voc-feedback-2026.05")]
    assert records == [answer.id, second.id, unrated.id]  # the records as before
    assert [a["index"]["_id"] for a, _ in bulks(es, "voc-feedback-2026.01")] == [review.id]


def test_upsert_of_records_without_a_response_sends_none(es, store):
    store.upsert([build_record("手机银行闪退"), build_record("转账失败", kind="complaint")])
    assert es.seen("PUT", r"^/_bulk$") and bulks(es) == []


def test_a_record_whose_response_is_not_stored_is_failed_not_hidden(es, store):
    answer, review = survey_record("网点排队太久"), build_record("手机银行闪退")
    es.bulk_fault(lambda doc_id, attempt: 400 if doc_id.startswith("survey:") else None)
    result = store.upsert([answer, review])
    assert result.stored == 1 and result.created == 1 and result.counted
    assert [i for i, _ in result.failed] == [answer.id] and result.refused == {answer.id}
    assert "its survey response survey:wjx:418220517:12 was not stored" in result.failed[0][1]
    es.bulk_fault(lambda doc_id, attempt: 503 if doc_id.startswith("survey:") else None)
    retried = store.upsert([answer])
    assert [i for i, _ in retried.failed] == [answer.id] and not retried.refused  # an outage: retry


def test_an_unchanged_record_still_brings_its_response(es, store):
    """A record stored before responses were kept is not sent again (unchanged), but its response
    is: a re-import fills the responses index."""
    answer = survey_record("网点排队太久")
    store.upsert([answer])
    found = empty_search(1)
    found["hits"]["hits"] = [{"_index": "voc-feedback-2026.05", "_id": answer.id,
                              "_source": {"voc_hash": es.docs()[answer.id]["voc_hash"]}}]
    es.script("POST", r"^/voc-feedback/_search$", (200, found))
    again = store.upsert([answer])
    assert (again.stored, again.unchanged) == (1, 1)
    last = es.seen("PUT", r"^/_bulk$")[-1].ndjson()
    assert [a["index"]["_index"] for a in last[0::2]] == ["voc-responses"]


def test_the_response_of_a_record_not_stored_is_not_sent(es, store):
    answer, other = survey_record("网点排队太久"), survey_record("等了一个小时", line=13)
    es.bulk_fault(lambda doc_id, attempt: 400 if doc_id == answer.id else None)
    result = store.upsert([answer, other])
    assert [i for i, _ in result.failed] == [answer.id] and result.stored == 1
    assert [a["index"]["_id"] for a, _ in bulks(es)] == ["survey:wjx:418220517:13"]


# -- rating_counts -------------------------------------------------------------------------------

def last_search(es):
    return es.seen("POST", r"^/voc-responses/_search$")[-1].json()


def composite(es):
    return last_search(es)["aggs"]["ratings"]["composite"]


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


MAY, JUNE = ms(datetime(2026, 5, 1, tzinfo=SH)), ms(datetime(2026, 6, 1, tzinfo=SH))
W18, W01 = ms(datetime(2026, 4, 27, tzinfo=SH)), ms(datetime(2025, 12, 29, tzinfo=SH))  # Mondays


def page(buckets, after=None):
    body = empty_search(0)
    agg: dict = {"buckets": [{"key": dict(zip(("branch", "month", "week", "scale_low", "scale_high",
                                                "rating"), key, strict=True)), "doc_count": n}
                             for key, n in buckets]}
    if after is not None:
        agg["after_key"] = after
    body["aggregations"] = {"ratings": agg}
    return body


def test_rating_counts_pages_a_composite_aggregation(es, store):
    first = [(("鼓楼支行", MAY, W18, 1, 5, 4.0), 3), ((None, MAY, W18, 1, 5, 5.0), 2)]
    second = [(("鼓楼支行", JUNE, W01, 0, 10, 9.0), 1)]
    after1 = dict(zip(("branch", "month", "week", "scale_low", "scale_high", "rating"),
                      (None, MAY, W18, 1, 5, 5.0), strict=True))
    after2 = {**after1, "branch": "鼓楼支行", "month": JUNE, "week": W01, "rating": 9.0}
    es.script("POST", r"^/voc-responses/_search$", (200, page(first, after1)),
              (200, page(second, after2)), (200, page([])))
    since, until = datetime(2026, 4, 1, tzinfo=SH), datetime(2026, 7, 1, tzinfo=SH)
    rows = store.rating_counts(["branch", "month", "week"],
                               Filters(sources=("survey:wjx",), since=since, until=until))
    assert rows == [
        RatingCount(key={"branch": "鼓楼支行", "month": "2026-05", "week": "2026-W18"}, scale=(1, 5),
                    rating=4.0, count=3),
        RatingCount(key={"branch": NONE_KEY, "month": "2026-05", "week": "2026-W18"}, scale=(1, 5),
                    rating=5.0, count=2),
        RatingCount(key={"branch": "鼓楼支行", "month": "2026-06", "week": "2026-W01"}, scale=(0, 10),
                    rating=9.0, count=1)]
    bodies = [r.json() for r in es.seen("POST", r"^/voc-responses/_search$")]
    assert len(bodies) == 3 and bodies[0]["size"] == 0
    agg = bodies[0]["aggs"]["ratings"]["composite"]
    assert agg["size"] == 1000 and "after" not in agg
    assert agg["sources"] == [
        {"branch": {"terms": {"field": "segments.branch", "missing_bucket": True}}},
        {"month": {"date_histogram": {"field": "created_at", "calendar_interval": "month",
                                      "time_zone": "Asia/Shanghai"}}},
        {"week": {"date_histogram": {"field": "created_at", "calendar_interval": "week",
                                     "time_zone": "Asia/Shanghai"}}},
        {"scale_low": {"terms": {"field": "scale_low"}}}, {"scale_high": {"terms": {"field": "scale_high"}}},
        {"rating": {"terms": {"field": "rating"}}}]
    assert bodies[1]["aggs"]["ratings"]["composite"]["after"] == after1
    assert bodies[2]["aggs"]["ratings"]["composite"]["after"] == after2
    assert bodies[0]["query"] == {"bool": {"filter": [
        {"terms": {"source": ["survey:wjx"]}},
        {"range": {"created_at": {"gte": "2026-03-31T16:00:00+00:00", "lt": "2026-06-30T16:00:00+00:00"}}}]}}


def test_rating_counts_labels_in_the_store_timezone(es, monkeypatch):
    """The same bucket start read in UTC is another month and week."""
    monkeypatch.delenv("VOC_ES_API_KEY", raising=False)
    utc = ElasticStore([es.url], index_prefix="voc", timezone="UTC")
    body = page([(("x", MAY, W18, 1, 5, 4.0), 1)])
    es.script("POST", r"^/voc-responses/_search$", (200, body))
    [row] = utc.rating_counts(["branch", "month", "week"])
    assert row.key == {"branch": "x", "month": "2026-04", "week": "2026-W17"}
    sources = composite(es)["sources"]
    assert sources[1]["month"]["date_histogram"]["time_zone"] == "UTC"
    utc.close()


def test_rating_counts_groups_and_arguments(es, store):
    assert store.rating_counts() == []  # no aggregations in the answer (no index yet): nothing
    sources = composite(es)["sources"]
    assert [next(iter(s)) for s in sources] == ["scale_low", "scale_high", "rating"]
    assert last_search(es)["query"] == {"bool": {"filter": []}}
    store.rating_counts(["source", "survey_id", "customer_type"])
    sources = composite(es)["sources"]
    assert [s[next(iter(s))]["terms"]["field"] for s in sources[:3]] == [
        "source", "survey_id", "segments.customer_type"]
    with pytest.raises(StoreQueryError, match="sentiment"):
        store.rating_counts(["sentiment"])
    with pytest.raises(StoreQueryError, match="twice"):
        store.rating_counts(["week", "week"])
    with pytest.raises(StoreQueryError, match="since"):
        store.rating_counts(filters=Filters(since=datetime(2026, 1, 1)))


# -- iter_responses ------------------------------------------------------------------------------

def test_iter_responses_pages_with_search_after_oldest_first(es, store):
    docs = [check(response(f"survey:wjx:1:{i}", created_at=AT + timedelta(minutes=i))) for i in range(1001)]

    def hits(chunk):
        body = empty_search(1001)
        body["hits"]["hits"] = [{"_index": "voc-responses", "_id": d["key"], "_source": er.flatten(d),
                                 "sort": [ms(datetime.fromisoformat(d["created_at"])), d["key"]]}
                                for d in chunk]
        return body

    es.script("POST", r"^/voc-responses/_search$", (200, hits(docs[:1000])), (200, hits(docs[1000:])))
    got = store.iter_responses(Filters(sources=("survey:wjx",), since=AT.astimezone(UTC)))
    assert list(got) == docs  # the check() form again: scale as [low, high]
    bodies = [r.json() for r in es.seen("POST", r"^/voc-responses/_search$")]
    assert len(bodies) == 2 and "search_after" not in bodies[0]
    assert bodies[0]["sort"] == [{"created_at": {"order": "asc"}}, {"key": {"order": "asc"}}]
    assert bodies[0]["size"] == 1000
    assert bodies[1]["search_after"] == [ms(AT + timedelta(minutes=999)), "survey:wjx:1:999"]
    assert bodies[0]["query"]["bool"]["filter"] == [
        {"terms": {"source": ["survey:wjx"]}},
        {"range": {"created_at": {"gte": "2026-05-01T02:00:00+00:00"}}}]
    with pytest.raises(StoreQueryError, match="until"):
        store.iter_responses(Filters(until=datetime(2026, 1, 1)))  # refused at once, not at next()
