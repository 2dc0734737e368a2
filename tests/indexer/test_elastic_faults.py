"""Bulk indexing under faults, through the real client against the local fake server: 429s, 503s,
per-item failures, timeouts and a refused connection are retried with backoff; what still fails
comes back in `failed`, the pipeline spools it, and a spool replay stores it. Nothing is lost and
the counts add up."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from support.es_server import error_body
from support.store_records import build_record

from indexer.elastic import ElasticStore
from indexer.store import UpsertResult
from voc.pipeline import Pipeline, PipelineReport
from voc.spool import retry_spool


@pytest.fixture
def sleeps():
    return []


def make_store(url, sleeps, **options):
    options.setdefault("max_retries", 3)
    options.setdefault("initial_backoff", 0.5)
    return ElasticStore([url], index_prefix="voc", sleep=sleeps.append, **options)


@pytest.fixture
def store(es, sleeps, monkeypatch):
    monkeypatch.delenv("VOC_ES_API_KEY", raising=False)
    monkeypatch.delenv("VOC_ES_PASSWORD", raising=False)
    s = make_store(es.url, sleeps)
    s.setup(analyzer="cjk")
    yield s
    s.close()


def batch(n=10):
    return [build_record(f"第{i}条反馈", key=f"k{i}") for i in range(n)]


def add_up(result: UpsertResult, records) -> None:
    assert result.received == len(records)
    assert result.stored + len(result.failed) == len({r.id for r in records})


def test_per_item_429_is_retried_with_backoff(es, store, sleeps):
    records = batch()
    rejected = {records[2].id, records[7].id}
    es.bulk_fault(lambda doc_id, attempt: 429 if doc_id in rejected and attempt <= 2 else None)
    result = store.upsert(records)
    assert (result.stored, result.failed) == (10, [])
    assert sleeps == [0.5, 1.0]  # initial_backoff, then doubled
    bulks = es.seen("PUT", r"^/_bulk$")
    assert [len(b.ndjson()) // 2 for b in bulks] == [10, 2, 2]  # only the rejected ones again
    assert set(es.docs()) == {r.id for r in records}


def test_whole_request_503_is_retried(es, store, sleeps):
    es.script("PUT", r"^/_bulk$",
              (503, error_body(503, "unavailable_shards_exception", "primary shard is not active")))
    records = batch(4)
    result = store.upsert(records)
    assert (result.stored, result.failed) == (4, []) and sleeps == [0.5]
    assert len(es.seen("PUT", r"^/_bulk$")) == 2  # the transport itself did not retry (no backoff there)


def test_errors_true_with_mapping_failures_fail_at_once(es, store, sleeps):
    records = batch(5)
    broken = records[1].id
    es.bulk_fault(lambda doc_id, attempt: 400 if doc_id == broken else None)
    result = store.upsert(records)
    add_up(result, records)
    assert result.stored == 4 and [i for i, _ in result.failed] == [broken]
    assert "status=400" in result.failed[0][1] and "document_parsing_exception" in result.failed[0][1]
    assert sleeps == []  # a mapping error does not get better by waiting


def test_429_that_never_clears_ends_in_failed(es, store, sleeps):
    records = batch(3)
    es.bulk_fault(lambda doc_id, attempt: 429 if doc_id == records[0].id else None)
    result = store.upsert(records)
    add_up(result, records)
    assert [i for i, _ in result.failed] == [records[0].id]
    reason = result.failed[0][1]
    assert "after 3 retries" in reason and "es_rejected_execution_exception" in reason
    assert sleeps == [0.5, 1.0, 2.0] and es.bulk_attempts[records[0].id] == 4


def test_backoff_is_capped(es, sleeps):
    store = make_store(es.url, sleeps, max_retries=5, initial_backoff=1, max_backoff=3)
    store.setup(analyzer="cjk")
    es.bulk_fault(lambda doc_id, attempt: 429)
    assert len(store.upsert(batch(1)).failed) == 1
    assert sleeps == [1, 2, 3, 3, 3]


def test_timeout_is_retried_and_nothing_is_doubled(es, sleeps):
    store = make_store(es.url, sleeps, request_timeout=0.3)
    store.setup(analyzer="cjk")
    es.script("PUT", r"^/_bulk$", ("sleep", 0.8))  # answers too late: the client gives up
    records = batch(3)
    result = store.upsert(records)
    assert (result.stored, result.failed) == (3, []) and sleeps == [0.5]
    assert set(es.docs()) == {r.id for r in records}  # the late write and the retry hit the same _id


def test_dropped_connection_is_retried(es, store, sleeps):
    es.script("PUT", r"^/_bulk$", ("drop", None))
    result = store.upsert(batch(2))
    assert (result.stored, result.failed) == (2, []) and len(sleeps) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_returns_every_record_failed(sleeps, monkeypatch):
    monkeypatch.delenv("VOC_ES_PASSWORD", raising=False)
    store = make_store(f"http://127.0.0.1:{free_port()}", sleeps, max_retries=2)
    records = batch(3)
    result = store.upsert(records)
    add_up(result, records)
    assert result.stored == 0 and [i for i, _ in result.failed] == [r.id for r in records]
    assert all("Connection refused" in reason for _, reason in result.failed)
    assert not result.refused  # an outage: spooled and retried, never dead-lettered
    assert sleeps == [0.5, 1.0]


def test_chunks_that_went_in_are_not_resent(es, sleeps):
    store = make_store(es.url, sleeps, chunk_size=2)
    store.setup(analyzer="cjk")
    calls = {"n": 0}
    original = es._bulk

    def second_chunk_fails(req):
        calls["n"] += 1
        if calls["n"] == 2:
            return {"errors": True, "took": 1, "items": [
                {"index": {"_index": a["index"]["_index"], "_id": a["index"]["_id"], "status": 503,
                           "error": {"type": "unavailable_shards_exception", "reason": "not active"}}}
                for a in req.ndjson()[0::2]]}
        return original(req)

    es._bulk = second_chunk_fails
    records = batch(5)
    result = store.upsert(records)
    assert (result.stored, result.failed) == (5, [])
    sizes = [len(b.ndjson()) // 2 for b in es.seen("PUT", r"^/_bulk$")]
    assert sizes == [2, 2, 1, 2]  # the retry carries only the two of the failed chunk


class _Unused:
    def __getattr__(self, name):
        raise AssertionError("the store step must not need the models")


def test_pipeline_spools_failed_records_and_replay_stores_them(es, store, tmp_path):
    records = batch(6)
    bad = {records[1].id, records[4].id}
    es.bulk_fault(lambda doc_id, attempt: 429 if doc_id in bad else None)  # never clears this run
    spool = tmp_path / "spool"
    pipeline = Pipeline(_Unused(), _Unused(), _Unused(), store, progress=False, spool_dir=spool)
    report = PipelineReport()
    pipeline._store(records, report)
    assert report.stored == 4 and {i for i, _ in report.spooled} == bad
    lines = [json.loads(line) for f in spool.glob("*.jsonl") for line in f.read_text("utf-8").splitlines()]
    assert {line["record"]["id"] for line in lines} == bad
    assert all("es_rejected_execution_exception" in line["error"] for line in lines)

    es.bulk_fault(lambda doc_id, attempt: None)  # the cluster recovered
    replay = retry_spool(store, spool)
    assert (replay.replayed, replay.remaining, replay.errors) == (2, 0, [])
    assert set(es.docs()) == {r.id for r in records}  # nothing lost
    assert list(spool.glob("*.jsonl")) == []


def test_a_record_the_store_refuses_for_good_goes_to_the_dead_letter_folder(es, store, tmp_path):
    """Issue 14, item 5: a record Elasticsearch can never take (a 400 mapping error) sat in the
    spool for ever, and `--retry-spool` failed on every run. It now goes to `spool/dead/` with the
    store's reason, kept and counted on every replay, and the replay after it succeeds."""
    records = batch(4)
    poison = records[2].id
    es.bulk_fault(lambda doc_id, attempt: 400 if doc_id == poison else 429 if attempt == 1 else None)
    spool = tmp_path / "spool"
    pipeline = Pipeline(_Unused(), _Unused(), _Unused(), store, progress=False, spool_dir=spool)
    report = PipelineReport()
    pipeline._store(records, report)  # 429 on the first try is retried inside the store
    assert report.stored == 3 and report.spooled == []
    assert [i for i, _ in report.rejected] == [poison] and len(report.dead_letter_files) == 1
    dead = [json.loads(line) for line in Path(report.dead_letter_files[0]).read_text("utf-8").splitlines()]
    assert [d["record"]["id"] for d in dead] == [poison]
    assert "document_parsing_exception" in dead[0]["error"]
    assert list(spool.glob("*.jsonl")) == []

    # the same record spooled by an outage, replayed against a store that refuses it
    from voc.spool import write_spool
    write_spool(spool, [records[2], records[3]], {})
    first = retry_spool(store, spool)
    assert (first.replayed, first.remaining, first.dead, first.dead_total) == (1, 0, 1, 2)
    assert list(spool.glob("*.jsonl")) == []  # nothing left to fail the next run
    again = retry_spool(store, spool)
    assert (again.files, again.dead, again.dead_total, again.errors) == (0, 0, 2, [])
    assert len(again.dead_files) == 2


DENIED = error_body(403, "security_exception",
                    "action [indices:admin/index_template/get] is unauthorized for API key id [k1], "
                    "this action is granted by the cluster privileges [manage_index_templates,manage,all]")


def test_a_least_privilege_account_is_denied_once_not_retried_as_an_outage(es, sleeps, monkeypatch):
    """Issue 14, item 11: an API key with index privileges only. The template check answers 403:
    one StoreDenied that names the privilege and the fix, no backoff loop; with auto_setup = false
    the store never asks for the template and indexes."""
    from indexer.errors import StoreDenied

    monkeypatch.delenv("VOC_ES_API_KEY", raising=False)
    monkeypatch.delenv("VOC_ES_PASSWORD", raising=False)
    es.script("GET", r"/_index_template/", (403, DENIED))
    es.script("HEAD", r"/_index_template/", (403, DENIED))
    store = make_store(es.url, sleeps)
    with pytest.raises(StoreDenied, match=r"manage_index_templates.*auto_setup = false"):
        store.upsert([build_record("信用卡额度被降")])
    assert sleeps == []  # not retried as if the cluster were down
    store.close()
    quiet = make_store(es.url, sleeps, auto_setup=False)
    result = quiet.upsert([build_record("信用卡额度被降")])
    assert result.stored == 1 and not result.failed
    asked = es.seen("GET", r"/_index_template/") + es.seen("HEAD", r"/_index_template/")
    assert len(asked) == 1  # the first store's check only: auto_setup = false never asks
    quiet.close()
