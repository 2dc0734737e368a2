"""ElasticStore request-level tests: the real elasticsearch client against a local fake server
(es_server.py). They check what the store sends (bulk NDJSON, template, query and aggregation
bodies) and how it reads realistic answers; query semantics run against a real cluster in
test_store_contract.py when VOC_TEST_ES_URL is set."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from support.es_server import empty_search
from support.store_records import SH, T0, build_record

from indexer import open_store
from indexer._es_docs import build_doc, bulk_body, load
from indexer._es_setup import mapping
from indexer.elastic import ElasticStore
from indexer.errors import StoreQueryError, StoreUnavailable
from indexer.store import COUNT_CAP, NONE_KEY, Filters


@pytest.fixture
def store(es, monkeypatch):
    monkeypatch.delenv("VOC_ES_API_KEY", raising=False)
    monkeypatch.delenv("VOC_ES_PASSWORD", raising=False)
    s = ElasticStore([es.url], index_prefix="voc", sleep=lambda s: None)
    yield s
    s.close()


def search_body(es, what=r"/_search$"):
    return es.seen("POST", what)[-1].json()


def hits(*records, total=None):
    body = empty_search(total if total is not None else len(records))
    body["hits"]["hits"] = [{"_index": "voc-feedback-2026.01", "_id": r.id, "_score": None,
                             "_source": json.loads(build_doc(r, "voc").source),
                             "sort": [int(r.created_at.timestamp() * 1e9), r.id]} for r in records]
    return body


# -- setup --------------------------------------------------------------------------------------

def test_first_use_puts_template_alias_and_indices_once(es, store):
    store.upsert([build_record("手机银行闪退")])
    template = es.templates["voc-feedback"]
    assert template["index_patterns"] == ["voc-feedback-*"]
    assert template["template"]["aliases"] == {"voc-feedback": {}}
    assert template["template"]["settings"]["analysis"]["analyzer"]["voc_text"] == {"type": "cjk"}
    props = template["template"]["mappings"]["properties"]
    assert props["text"]["fields"]["sub"] == {"type": "wildcard"}
    assert props["topic_paths"]["type"] == "keyword" and props["meta"]["enabled"] is False
    assert {"voc-alerts", "voc-state"} <= set(es.indices)
    assert es.indices["voc-state"]["body"]["mappings"]["properties"]["value"]["enabled"] is False
    month = datetime.now(UTC).strftime("voc-feedback-%Y.%m")
    assert month in es.indices  # so the alias exists before the first document
    puts = len(es.seen("PUT", r"^/_index_template/"))
    store.upsert([build_record("再来一条")])
    store.total()
    assert len(es.seen("PUT", r"^/_index_template/")) == puts == 1  # checked once per store


def test_setup_is_idempotent_and_detects_ik(es, store):
    es.plugins = ["analysis-ik", "analysis-icu"]
    first = store.setup(replicas=0)
    assert first["analyzer"] == "ik" and set(first["created"]) >= {"voc-alerts", "voc-state"}
    template = es.templates["voc-feedback"]["template"]
    assert template["settings"]["analysis"]["analyzer"]["voc_text"]["tokenizer"] == "ik_max_word"
    assert template["settings"]["number_of_replicas"] == 0
    second = store.setup()
    assert second["created"] == []
    assert es.seen("PUT", r"^/voc-alerts/_mapping$")  # existing indices get the mapping again
    es.plugins = ["analysis-smartcn"]
    assert store.setup()["analyzer"] == "smartcn"


def test_setup_race_on_existing_index_is_not_an_error(es, store):
    es.script("HEAD", r"^/voc-state$", (404, {}))  # looked missing, then creation collides
    es.indices["voc-state"] = {"body": {}, "docs": {}}
    assert "voc-state" not in store.setup(analyzer="cjk")["created"]


# -- bulk bodies ----------------------------------------------------------------------------------

def test_bulk_ndjson_routes_each_record_to_its_month(es, store):
    jan = build_record("一月的投诉", at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC), topics=["信用卡/催收"],
                       risk=[("暴力催收", "critical"), ("投诉", "info")], entities=[("江南银行", True)],
                       neg=0.9)
    feb = build_record("二月一日早上", at=datetime(2026, 2, 1, 0, 30, tzinfo=SH))  # still January in UTC
    mar = build_record("三月", at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    result = store.upsert([jan, feb, mar])
    assert (result.received, result.stored, result.failed) == (3, 3, [])
    bulk = es.seen("PUT", r"^/_bulk$")[-1]
    assert bulk.query["refresh"] == ["wait_for"]
    assert bulk.headers["content-type"].startswith("application/vnd.elasticsearch+x-ndjson")
    lines = bulk.ndjson()
    assert [a["index"] for a in lines[0::2]] == [
        {"_index": "voc-feedback-2026.01", "_id": jan.id}, {"_index": "voc-feedback-2026.01", "_id": feb.id},
        {"_index": "voc-feedback-2026.03", "_id": mar.id}]
    doc = lines[1]
    assert doc["topic_paths"] == ["信用卡", "信用卡/催收"] and doc["topics"] == ["信用卡/催收"]
    assert doc["risk_level"] == 2 and doc["entity_names"] == ["江南银行"] and doc["ours"] is True
    assert doc["neg"] == 0.9 and doc["created_at"] == "2026-01-31T23:30:00+00:00"
    assert "risk_level" not in lines[3] and lines[3]["ours"] is False and "neg" not in lines[3]
    assert load(doc) == jan  # the derived fields are dropped on the way back


def test_bulk_body_matches_what_the_client_sends(es, store):
    records = [build_record(f"第{i}条", key=str(i)) for i in range(3)]
    store.upsert(records)
    sent = es.seen("PUT", r"^/_bulk$")[-1].body
    assert bulk_body(build_doc(r, "voc") for r in records) == sent


def test_bad_records_fail_alone_with_reasons(es, store):
    good, bad = build_record("好"), build_record("坏", risk=[("欺诈", "fatal")])
    nan = build_record("评分", rating=float("nan"), key="nan")
    result = store.upsert([good, bad, nan])
    assert result.stored == 1 and [i for i, _ in result.failed] == [bad.id, nan.id]
    assert "severity" in result.failed[0][1] and "rating" in result.failed[1][1]
    assert set(es.docs()) == {good.id}


def test_later_copy_in_one_batch_is_sent_once(es, store):
    a, b = build_record("第一版", key="same"), build_record("第二版", key="same")
    assert store.upsert([a, b]).stored == 1
    lines = es.seen("PUT", r"^/_bulk$")[-1].ndjson()
    assert len(lines) == 2 and lines[1]["text"] == "第二版"


# -- query bodies and parsing --------------------------------------------------------------------

def test_search_total_stops_at_the_cap_and_says_so(es, store):
    """track_total_hits=COUNT_CAP: past it the cluster answers relation "gte" (a lower bound)."""
    body = hits(build_record("信用卡"), total=COUNT_CAP)
    body["hits"]["total"]["relation"] = "gte"
    es.script("POST", r"^/voc-feedback/_search$", (200, body))
    page = store.search("信用卡")
    assert (page.total, page.total_capped) == (COUNT_CAP, True)
    assert search_body(es)["track_total_hits"] == COUNT_CAP


def test_search_body_and_parsing(es, store):
    a = build_record("房贷利率太高", at=T0 + timedelta(minutes=1), title="贷款")
    b = build_record("网点排队", at=T0)
    es.script("POST", r"^/voc-feedback/_search$", (200, hits(a, b, total=7)))
    page = store.search("贷 100%*?\\", Filters(sources=("weibo", "tousu"), topics=("信用卡",),
                                                  sentiment=("negative", NONE_KEY), min_severity="warning",
                                                  ours=False, distinct_clusters=True,
                                                  since=T0, min_negative_score=0.15), page=2, size=2)
    assert page.total == 7 and page.items == [a, b] and (page.page, page.size) == (2, 2)
    assert not page.total_capped
    req = es.seen("POST", r"/_search$")[-1]
    assert req.query["ignore_unavailable"] == ["true"]
    body = req.json()
    assert (body["from"], body["size"], body["track_total_hits"]) == (2, 2, COUNT_CAP)
    assert body["sort"] == [{"created_at": {"order": "desc"}}, {"id": {"order": "desc"}}]
    must = body["query"]["bool"]["filter"]
    assert {"terms": {"source": ["weibo", "tousu"]}} in must
    assert {"terms": {"topic_paths": ["信用卡"]}} in must
    assert {"range": {"risk_level": {"gte": 1}}} in must
    assert {"range": {"sentiment.scores.negative": {"gte": 0.15}}} in must  # a float in the mapping
    assert {"range": {"created_at": {"gte": "2026-01-10T04:00:00+00:00"}}} in must
    sentiment = next(c for c in must if "bool" in c and "exists" in json.dumps(c))
    assert {"terms": {"sentiment.label": ["negative"]}} in sentiment["bool"]["should"]
    wildcards = [c for c in must if "wildcard" in json.dumps(c)]
    assert [w["bool"]["should"][1]["wildcard"]["search_text"]["value"] for w in wildcards] == [
        "*贷*", "*100%\\*\\?\\\\*"]
    older = wildcards[0]["bool"]["should"][2]["bool"]  # documents indexed before search_text
    assert older["must_not"] == [{"exists": {"field": "search_text"}}]
    assert [next(iter(w["wildcard"])) for w in older["should"]] == ["title.sub", "text.sub"]
    assert body["query"]["bool"]["must_not"] == [{"term": {"ours": True}},
                                                 {"exists": {"field": "duplicate_of"}}]


def test_deep_pages_are_refused_before_the_cluster_does(store):
    with pytest.raises(StoreQueryError, match="10000"):
        store.search("", page=501, size=20)


def test_counts_body_and_realistic_aggregation_response(es, store):
    h = lambda hour: int(datetime(2026, 1, 10, hour, tzinfo=SH).timestamp() * 1000)  # noqa: E731
    answer = empty_search(6)
    answer["aggregations"] = {"t": {"buckets": [
        {"key_as_string": "2026-01-10T09:00:00.000+08:00", "key": h(9), "doc_count": 4, "g0": {
            "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                {"key": "weibo", "doc_count": 3, "g1": {"sum_other_doc_count": 0, "buckets": [
                    {"key": "信用卡", "doc_count": 2}, {"key": NONE_KEY, "doc_count": 1}]}},
                {"key": "appstore", "doc_count": 1, "g1": {"sum_other_doc_count": 0, "buckets": [
                    {"key": "手机银行", "doc_count": 1}]}}]}},
        {"key_as_string": "2026-01-10T10:00:00.000+08:00", "key": h(10), "doc_count": 2, "g0": {
            "sum_other_doc_count": 0, "buckets": [
                {"key": "tousu", "doc_count": 2, "g1": {"sum_other_doc_count": 0, "buckets": [
                    {"key": "贷款", "doc_count": 2}]}}]}}]}}
    es.script("POST", r"/_search$", (200, answer))
    start = datetime(2026, 1, 10, 9, tzinfo=SH)
    rows = store.counts(start, start + timedelta(hours=2), interval=timedelta(hours=1),
                        group_by=["source", "topic"], filters=Filters(sentiment=("negative",)))
    assert [(r.bucket, r.key_str(), r.count) for r in rows] == [
        (start, "source=weibo,topic=信用卡", 2), (start, "source=appstore,topic=手机银行", 1),
        (start, f"source=weibo,topic={NONE_KEY}", 1),
        (start + timedelta(hours=1), "source=tousu,topic=贷款", 2)]
    body = search_body(es)
    assert body["size"] == 0
    hist = body["aggs"]["t"]["date_histogram"]
    assert hist == {"field": "created_at", "fixed_interval": "1h", "time_zone": "Asia/Shanghai",
                    "min_doc_count": 1}
    g0 = body["aggs"]["t"]["aggs"]["g0"]
    assert g0["terms"] == {"field": "source", "missing": NONE_KEY, "size": 10000}
    assert g0["aggs"]["g1"]["terms"]["field"] == "topics"
    window = {"gte": "2026-01-10T01:00:00+00:00", "lt": "2026-01-10T03:00:00+00:00"}
    assert {"range": {"created_at": window}} in body["query"]["bool"]["filter"]


@pytest.mark.parametrize(("interval", "expected"), [
    (timedelta(days=1), "1d"), (timedelta(minutes=90), "90m"), (timedelta(seconds=45), "45s"),
    (timedelta(milliseconds=1500), "1500ms")])
def test_counts_interval_units(es, store, interval, expected):
    store.counts(T0, T0 + timedelta(days=1), interval=interval)
    assert search_body(es)["aggs"]["t"]["date_histogram"]["fixed_interval"] == expected


def test_counts_ungrouped_uses_the_total(es, store):
    es.script("POST", r"/_search$", (200, empty_search(5)), (200, empty_search(0)))
    assert [(r.bucket, r.key, r.count) for r in store.counts(T0, T0 + timedelta(days=1))] == [(T0, {}, 5)]
    assert store.counts(T0, T0 + timedelta(days=1)) == []
    assert "aggs" not in search_body(es)


def test_counts_clusters_once_by_a_cardinality_of_the_cluster_id(es, store):
    """distinct_clusters: no "first posts only" clause (copies of an old post must count), and a
    cardinality of duplicate_of-or-id under the innermost level gives the count."""
    answer = empty_search(9)
    answer["aggregations"] = {"g0": {"sum_other_doc_count": 0, "buckets": [
        {"key": "信用卡", "doc_count": 7, "clusters": {"value": 2}},
        {"key": "贷款", "doc_count": 2, "clusters": {"value": 2}}]}}
    ungrouped = empty_search(9)
    ungrouped["aggregations"] = {"clusters": {"value": 4}}
    es.script("POST", r"/_search$", (200, answer), (200, ungrouped))
    clusters = Filters(sentiment=("negative",), distinct_clusters=True)
    rows = store.counts(T0, T0 + timedelta(hours=1), group_by=["topic"], filters=clusters)
    assert [(r.key_str(), r.count) for r in rows] == [("topic=信用卡", 2), ("topic=贷款", 2)]
    body = search_body(es)
    assert "must_not" not in body["query"]["bool"]
    card = body["aggs"]["g0"]["aggs"]["clusters"]["cardinality"]
    assert "duplicate_of" in card["script"]["source"] and card["precision_threshold"] == 40000
    assert [r.count for r in store.counts(T0, T0 + timedelta(hours=1), filters=clusters)] == [4]


def test_counts_truncated_groups_are_logged(es, store, caplog):
    answer = empty_search(9)
    answer["aggregations"] = {"g0": {"sum_other_doc_count": 4, "buckets": [{"key": "weibo", "doc_count": 5}]}}
    es.script("POST", r"/_search$", (200, answer))
    assert [r.count for r in store.counts(T0, T0 + timedelta(days=1), group_by="source")] == [5]
    assert "docs_left_out=4" in caplog.text


def test_samples_total_and_get(es, store):
    worst = build_record("太差了", neg=0.95)
    es.script("POST", r"/_search$", (200, hits(worst)), (200, hits(worst)))
    es.script("POST", r"/_count$", (200, {"count": 42, "_shards": {"total": 1}}))
    assert store.samples(Filters(kinds=("review",)), n=3) == [worst]
    body = search_body(es)
    assert body["sort"][0] == {"neg": {"order": "desc", "missing": "_last"}} and body["size"] == 3
    assert store.total(Filters(entities=("工商银行",))) == 42
    assert es.seen("POST", r"/_count$")[-1].json()["query"]["bool"]["filter"] == [
        {"terms": {"entity_names": ["工商银行"]}}]
    assert store.get(worst.id) == worst
    assert search_body(es)["query"] == {"ids": {"values": [worst.id]}}
    assert store.get("missing") is None


def test_get_many_is_one_search_per_thousand_ids(es, store):
    a, b = build_record("转账失败"), build_record("又闪退了")
    ids = [a.id, "missing", b.id, a.id] + [f"x{i}" for i in range(1500)]
    es.script("POST", r"^/voc-feedback/_search$", (200, hits(a, b)), (200, hits()))
    assert store.get_many(ids) == {a.id: a, b.id: b}
    first, second = [r.json() for r in es.seen("POST", r"^/voc-feedback/_search$")[-2:]]
    assert first["query"]["ids"]["values"][:3] == [a.id, "missing", b.id]  # each id asked once
    assert first["size"] == len(first["query"]["ids"]["values"]) == 1000
    assert second["size"] == len(second["query"]["ids"]["values"]) == 503  # 1,503 distinct ids
    assert store.get_many([]) == {}


def test_bad_arguments(store):
    with pytest.raises(StoreQueryError, match="since"):
        store.total(Filters(since=datetime(2026, 1, 1)))
    with pytest.raises(StoreQueryError, match="group_by"):
        store.counts(T0, T0 + timedelta(days=1), group_by=["colour"])
    with pytest.raises(StoreQueryError, match="interval"):
        store.counts(T0, T0 + timedelta(days=1), interval=timedelta(0))
    with pytest.raises(StoreQueryError, match="min_severity"):
        store.search("", Filters(min_severity="fatal"))


def test_cluster_errors_are_store_errors(es, store):
    es.script("POST", r"/_search$", (503, {"error": {"type": "search_phase_execution_exception",
                                                     "reason": "all shards failed"}, "status": 503}))
    store._es = store._es.options(max_retries=0)
    with pytest.raises(StoreUnavailable, match="all shards failed"):
        store.search("")
    es.script("POST", r"/_search$",
              (400, {"error": {"type": "parsing_exception", "reason": "bad"}, "status": 400}))
    with pytest.raises(StoreQueryError, match="parsing_exception"):
        store.search("")


# -- state and alerts ------------------------------------------------------------------------------

def test_state_documents(es, store):
    store.put_state("cursor", "weibo:江南银行", {"newest": datetime(2026, 1, 1, tzinfo=UTC), "ids": ["a"]})
    req = es.seen("PUT", r"^/voc-state/_doc/")[-1]
    assert req.path.endswith("/cursor%2Fweibo%3A%E6%B1%9F%E5%8D%97%E9%93%B6%E8%A1%8C")
    assert req.query["refresh"] == ["wait_for"]
    assert req.json()["value"] == {"newest": "2026-01-01T00:00:00+00:00", "ids": ["a"]}
    assert store.get_state("cursor", "weibo:江南银行") == {"newest": "2026-01-01T00:00:00+00:00",
                                                         "ids": ["a"]}
    assert store.get_state("cursor", "nothing") is None
    store.delete_state("cursor", "weibo:江南银行")
    store.delete_state("cursor", "weibo:江南银行")  # deleting twice is fine
    assert store.get_state("cursor", "weibo:江南银行") is None
    store.put_state("silence", "k" * 600, {"x": 1})  # long keys are hashed into a valid _id
    assert len(es.seen("PUT", r"^/voc-state/_doc/")[-1].path) < 600
    with pytest.raises(StoreQueryError, match="namespace"):
        store.put_state("a/b", "c", {})
    with pytest.raises(StoreQueryError, match="dict"):
        store.put_state("cursor", "x", ["not", "a", "dict"])


def test_list_state_pages_with_search_after(es, store):
    page = empty_search(1001)
    page["hits"]["hits"] = [{"_id": f"cursor/k{i:04d}", "_source": {"namespace": "cursor", "key": f"k{i:04d}",
                                                                   "value": {"i": i}}, "sort": [f"k{i:04d}"]}
                            for i in range(1000)]
    last = empty_search(1001)
    last["hits"]["hits"] = [{"_id": "cursor/k1000", "_source": {"namespace": "cursor", "key": "k1000",
                                                               "value": {"i": 1000}}, "sort": ["k1000"]}]
    es.script("POST", r"^/voc-state/_search$", (200, page), (200, last))
    got = store.list_state("cursor")
    assert len(got) == 1001 and got["k1000"] == {"i": 1000}
    bodies = [r.json() for r in es.seen("POST", r"^/voc-state/_search$")]
    assert bodies[0]["query"] == {"term": {"namespace": "cursor"}} and "search_after" not in bodies[0]
    assert bodies[1]["search_after"] == ["k0999"]


def test_alerts_index_and_history(es, store):
    store.add_alert({"rule": "negative_spike", "key": "topic=信用卡", "count": 37,
                     "created_at": datetime(2026, 1, 10, 12, 0)})  # naive = Asia/Shanghai
    doc = es.seen("POST", r"^/voc-alerts/_doc$")[-1].json()
    assert doc["created_at"] == "2026-01-10T04:00:00+00:00" and isinstance(doc["voc_seq"], int)
    answer = empty_search(1)
    answer["hits"]["hits"] = [{"_id": "x", "_source": doc, "sort": [1, 2]}]
    es.script("POST", r"^/voc-alerts/_search$", (200, answer))
    assert store.alerts(since=T0 - timedelta(hours=1), rule="negative_spike", limit=5) == [
        {"rule": "negative_spike", "key": "topic=信用卡", "count": 37,
         "created_at": "2026-01-10T04:00:00+00:00"}]
    body = es.seen("POST", r"^/voc-alerts/_search$")[-1].json()
    assert body["sort"] == [{"created_at": "desc"}, {"voc_seq": "desc"}] and body["size"] == 5
    assert {"term": {"rule": "negative_spike"}} in body["query"]["bool"]["filter"]
    with pytest.raises(StoreQueryError, match="rule"):
        store.add_alert({"count": 1})


# -- credentials and registration ------------------------------------------------------------------

def test_password_from_the_settings_secrets_is_sent_never_shown(es, monkeypatch, caplog, tmp_path):
    """The password reaches the store through the settings (VOC_ES_PASSWORD read once by the
    schema into a SecretStr), never by the store reading the environment itself."""
    from core.settings import load_settings
    from indexer import open_settings_store

    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"VOC_STORE__BACKEND": "elasticsearch",
                                  "VOC_ELASTICSEARCH__HOSTS": f'["{es.url}"]',
                                  "VOC_ELASTICSEARCH__USERNAME": "voc_writer",
                                  "VOC_ES_PASSWORD": "s3cr3t-pw"})
    store = open_settings_store(settings)
    store.total()
    auth = es.requests[-1].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(b"voc_writer:s3cr3t-pw").decode()
    assert "s3cr3t" not in repr(store) and "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in caplog.text
    store.close()
    masked = open_store("elasticsearch", hosts=[es.url.replace("http://", "http://me:urlpw@")],
                        index_prefix="voc")
    assert "urlpw" not in repr(masked)
    masked.close()


def test_api_key_wins_over_password_and_the_environment_is_not_read(es, monkeypatch):
    store = ElasticStore(es.url, index_prefix="voc", api_key="a2V5OnNlY3JldA==", password="unused")
    store.total()
    assert es.requests[-1].headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    store.close()
    monkeypatch.setenv("VOC_ES_API_KEY", "from-env")
    bare = ElasticStore(es.url, index_prefix="voc")
    bare.total()
    assert "authorization" not in es.requests[-1].headers
    bare.close()


def test_options_are_checked(es):
    with pytest.raises(StoreQueryError, match="index_prefix"):
        ElasticStore([es.url], index_prefix="Bad Prefix")
    with pytest.raises(StoreQueryError, match="hosts"):
        ElasticStore([])


def test_mapping_files_are_valid_and_defined_fields_only():
    for name in ("feedback", "alerts", "state"):
        body = mapping(name)
        assert set(body) == {"settings", "mappings"} and body["mappings"]["dynamic"] is False


def test_registry_is_lazy():
    import subprocess

    code = ("import sys, indexer; assert 'elasticsearch' in indexer.STORES; "
            "print('elasticsearch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lock_uses_create_and_sequence_numbers(es, store):
    """The lock document is `create`d (409 when it exists); an expired one is taken over with
    if_seq_no / if_primary_term, so two processes cannot both take it."""
    ttl = timedelta(minutes=10)
    assert store.lock("alerts:check", "a", ttl)
    assert not store.lock("alerts:check", "b", ttl)
    creates = es.seen("PUT", r"/_create/")
    assert len(creates) == 2 and all(r.json()["value"]["owner"] in "ab" for r in creates)
    store.unlock("alerts:check", "a")
    assert store.lock("alerts:check", "b", timedelta(0))
    assert store.lock("alerts:check", "a", ttl)  # expired: taken over
    takeover = [r for r in es.seen("PUT", r"/_doc/") if "if_seq_no" in r.query]
    assert takeover and takeover[-1].query["if_primary_term"] == ["1"]
    assert not store.lock("alerts:check", "b", ttl)


def test_ca_certs_with_an_http_host_is_a_clear_error(tmp_path):
    """Issue 14, item 12: the client raised a bare ValueError; the store names the setting."""
    from indexer.errors import StoreQueryError

    ca = tmp_path / "ca.pem"
    ca.write_text("not used", "utf-8")
    with pytest.raises(StoreQueryError, match=r"ca_certs is set but hosts \['http://localhost:9200'\]"):
        ElasticStore(["http://localhost:9200"], ca_certs=str(ca))


def test_a_record_whose_time_moves_month_stays_in_the_index_it_lives_in(es, store):
    """Issue 14, item 12: a re-crawl that moves created_at from January into February would leave
    a copy in each monthly index (and every count would see it twice). The ids lookup across the
    alias sends the new version to January's index; a new record still goes to its own month."""
    moved = build_record("2天前的投诉", key="moved", at=datetime(2026, 2, 2, 10, 0, tzinfo=UTC))
    fresh = build_record("新的投诉", key="fresh", at=datetime(2026, 2, 2, 11, 0, tzinfo=UTC))
    found = empty_search(1)
    found["hits"]["hits"] = [{"_index": "voc-feedback-2026.01", "_id": moved.id, "_score": 1.0}]
    es.script("POST", r"/_search$", (200, found))
    assert store.upsert([moved, fresh]).stored == 2
    lookup = es.seen("POST", r"/_search$")[-1]
    assert lookup.json()["query"] == {"ids": {"values": [moved.id, fresh.id]}}
    assert lookup.json()["_source"] == {"includes": ["voc_hash"]}  # the digest only, not the documents
    actions = es.seen("PUT", r"^/_bulk$")[-1].ndjson()[0::2]
    assert actions == [{"index": {"_index": "voc-feedback-2026.01", "_id": moved.id}},
                       {"index": {"_index": "voc-feedback-2026.02", "_id": fresh.id}}]


# -- visible text and new / updated / unchanged (issue 16, item 6) -------------------------------

WEIBO = ('手機銀行轉賬失敗<img src="https://h5.sinaimg.cn/m/emoticon/d_xixi.png" alt="[嘻嘻]">'
         '<a href="https://m.weibo.cn/p/1">#转账#</a>')


def test_documents_carry_the_visible_text_search_reads(es, store):
    record = build_record(WEIBO, title="<b>ＡＴＭ</b>", source="weibo", kind="post")
    store.upsert([record])
    doc = es.seen("PUT", r"^/_bulk$")[-1].ndjson()[1]
    assert doc["text"] == WEIBO  # the record as written
    assert doc["search_text"] == "手机银行转账失败[嘻嘻]#转账#" and doc["search_title"] == "ATM"
    assert len(doc["voc_hash"]) == 32
    assert load(doc) == record
    props = es.templates["voc-feedback"]["template"]["mappings"]["properties"]
    assert props["search_text"] == {"type": "wildcard"} and props["voc_hash"]["index"] is False
    put = es.seen("PUT", r"^/voc-feedback/_mapping$")  # existing months gain the fields too
    assert put and set(put[-1].json()["properties"]) == {"search_title", "search_text", "voc_hash"}


def test_the_query_is_folded_before_it_is_sent(es, store):
    store.search("轉賬 ＡＴＭ")
    must = search_body(es)["query"]["bool"]["filter"]
    values = [c["bool"]["should"][1]["wildcard"]["search_text"]["value"] for c in must]
    assert values == ["*转账*", "*ATM*"]


def test_upsert_counts_new_updated_and_unchanged_without_resending_the_unchanged(es, store):
    same, changed, new = (build_record("不变", key="same"), build_record("改了", key="changed"),
                          build_record("新的", key="new"))
    first = store.upsert([same, changed])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    docs = es.docs()  # the fake answers searches only as scripted: the lookup finds what it held
    found = empty_search(2)
    found["hits"]["hits"] = [
        {"_index": "voc-feedback-2026.01", "_id": rid, "_source": {"voc_hash": digest}}
        for rid, digest in ((same.id, docs[same.id]["voc_hash"]), (changed.id, "0" * 32))]
    es.script("POST", r"/_search$", (200, found))
    result = store.upsert([same, build_record("改了", key="changed", label="negative"), new])
    assert (result.stored, result.created, result.updated, result.unchanged) == (3, 1, 1, 1)
    assert result.counted
    sent = [a["index"]["_id"] for a in es.seen("PUT", r"^/_bulk$")[-1].ndjson()[0::2]]
    assert sent == [changed.id, new.id]  # the unchanged one is not sent again
