"""crawlers/jobs.py: crawl jobs queued in a real SQLite store file and run by the real crawl runner
against a loopback App Store replay (the appstore spider test's feed, support.http_server)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from support.http_server import serve

from crawlers import jobs
from crawlers.jobs import Job, claim_next, enqueue, get, recent, run_job, work
from crawlers.runner import crawl_lock
from indexer.sqlite import SqliteStore

APP = "1234567890"
JSON = {"Content-Type": "application/json; charset=utf-8"}
T0 = datetime(2026, 6, 20, 8, 0, tzinfo=UTC)


def entry(n: int, day: int) -> dict:
    return {"author": {"name": {"label": f"用户{n}"}}, "im:version": {"label": "6.1.0"},
            "im:rating": {"label": "2"}, "id": {"label": str(9000 + n)}, "title": {"label": f"标题{n}"},
            "content": {"label": f"江南银行手机银行第{n}次转账失败", "attributes": {"type": "text"}},
            "updated": {"label": f"2026-06-{day:02d}T08:00:00-07:00"}}


def feed(entries: list[dict] | None) -> bytes:
    body: dict = {"updated": {"label": "2026-06-20T09:00:00-07:00"}, "id": {"label": "x"}}
    if entries is not None:
        body["entry"] = entries
    return json.dumps({"feed": body}, ensure_ascii=False).encode()


def page(n: int) -> str:
    return f"/cn/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json"


@pytest.fixture
def configured(crawl, monkeypatch):
    """Settings whose [crawl.appstore] points at `base`; the crawl's child reads them (VOC_SETTINGS)."""
    def at(base: str) -> None:
        path = crawl.settings_file({"appstore": {"app_ids": [APP], "countries": ["cn"], "base_url": base}})
        monkeypatch.setenv("VOC_SETTINGS", str(path))
    return at


def test_a_queued_job_survives_a_restart_and_runs_to_done(crawl, configured) -> None:
    routes = {page(1): (200, JSON, feed([entry(1, 14), entry(2, 13)])),
              page(2): (200, JSON, feed([entry(3, 12)])), page(3): (200, JSON, feed(None))}
    web = SqliteStore(crawl.db)  # the console's process
    job = enqueue(web, "appstore", by="alice")
    assert (job.state, job.source, job.requested_by) == ("queued", "appstore", "alice")
    assert enqueue(web, " appstore ", by="bob").id == job.id  # one job per source while queued
    web.close()  # the console restarts; the job is in the file

    worker = SqliteStore(crawl.db)
    try:
        assert [j.id for j in recent(worker)] == [job.id] and get(worker, job.id).state == "queued"
        with serve(routes) as (base, log):
            configured(base)
            assert work(worker, var_dir=crawl.root / "var", worker="w1", once=True) == 1
        done = get(worker, job.id)
        assert (done.state, done.status, done.worker, done.error) == ("done", "ok", "w1", None), done
        assert done.counts == {"new": 3, "updated": 0, "duplicates": 0, "dropped": 0, "items": 3, "pages": 3}
        assert done.started_at and done.finished_at and done.queued_at <= done.started_at <= done.finished_at
        assert done.log_tail and len(done.log_tail) <= jobs.LOG_LINES
        assert any("source=appstore status=ok new=3" in line for line in done.log_tail), done.log_tail
        assert worker.total() == 3 and worker.get_state("crawl_health", "appstore")["status"] == "ok"
        assert [s.path for s in log if "customerreviews" in s.path] == [page(1), page(2), page(3)]
        again = enqueue(worker, "appstore", by="bob")  # finished: a new click is a new job
        assert again.id != job.id and [j.id for j in recent(worker)] == [again.id, job.id]
        assert [j.id for j in recent(worker, source="weibo")] == []
        assert json.loads(json.dumps(done.to_dict()))["finished_at"].endswith("+00:00")
        assert Job.from_dict(done.to_dict()) == done
    finally:
        worker.close()


def test_a_blocked_crawl_is_a_done_job_whose_status_says_blocked(crawl, configured) -> None:
    store = crawl.store()
    try:
        job = enqueue(store, "appstore", by="alice")
        with serve({page(1): (456, {"Content-Type": "text/html"}, b"<html>blocked</html>")}) as (base, _):
            configured(base)
            ran = work(store, var_dir=crawl.root / "var", worker="w1", once=True)
        ended = get(store, job.id)
        assert ran == 1, ended
        assert (ended.state, ended.status, ended.counts["new"]) == ("done", "blocked", 0), ended
        assert ended.error is None
        assert "456" in ended.reason
    finally:
        store.close()


def test_a_job_waits_while_the_source_is_being_crawled_then_gives_up(crawl) -> None:
    store = crawl.store()
    var = crawl.root / "var"
    try:
        job = enqueue(store, "appstore", by="alice")
        with crawl_lock(var, "appstore"):  # a scheduled crawl or `voc crawl appstore` is running
            assert work(store, var_dir=var, worker="w1", once=True) == 0
            waiting = get(store, job.id)
            assert waiting.state == "queued" and waiting.worker is None and waiting.started_at is None
            assert "already running" in waiting.error and waiting.retry_at is not None
            assert claim_next(store, "w1") is None  # not before retry_at
            claimed = claim_next(store, "w1", now=waiting.retry_at + timedelta(seconds=1))
            assert claimed is not None and claimed.id == job.id
            long_ago = datetime.now(UTC) - jobs.MAX_WAIT - timedelta(minutes=1)
            stale = Job.from_dict({**claimed.to_dict(), "queued_at": long_ago.isoformat()})
            gave_up = run_job(store, stale, var_dir=var)
        assert gave_up.state == "failed" and "gave up" in gave_up.error and gave_up.finished_at
        assert get(store, job.id).state == "failed"
    finally:
        store.close()


def test_claims_are_exclusive_across_threads_and_stores(crawl) -> None:
    """Eight workers, each its own store object on the file, race for five jobs."""
    sources = ["appstore", "weibo", "tousu", "rss", "site:forum"]
    setup = crawl.store()
    queued = {enqueue(setup, name, by="ops", now=T0 + timedelta(seconds=i)).id
              for i, name in enumerate(sources)}
    setup.close()
    start, claimed, errors = threading.Barrier(8), [], []

    def worker(n: int) -> None:
        store = SqliteStore(crawl.db)
        try:
            start.wait()
            while (job := claim_next(store, f"w{n}")) is not None:
                claimed.append((job.id, f"w{n}"))
        except Exception as exc:  # reported below: a thread's exception would be lost
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(i for i, _ in claimed) == sorted(queued)  # each job once
    store = crawl.store()
    try:
        assert {j.id: j.worker for j in recent(store)} == dict(claimed)
        assert all(j.state == "running" for j in recent(store))
    finally:
        store.close()


def test_oldest_first_and_a_dead_workers_job_is_queued_again(crawl) -> None:
    store = crawl.store()
    try:
        later = enqueue(store, "weibo", by="ops", now=T0 + timedelta(minutes=1))
        first = enqueue(store, "tousu", by="ops", now=T0)
        assert claim_next(store, "w-dead", now=T0 + timedelta(minutes=2)).id == first.id
        assert claim_next(store, "w2").id == later.id
        assert claim_next(store, "w3") is None  # both run; their workers hold their locks
        store.lock(f"crawl_job:{first.id}", "w-dead", timedelta(seconds=-1))  # its heartbeat lapsed
        again = claim_next(store, "w3")
        assert (again.id, again.worker, again.restarts) == (first.id, "w3", 1)
        assert get(store, later.id).worker == "w2"  # a live worker's job is left alone
        for n in range(jobs.MAX_RESTARTS):
            store.lock(f"crawl_job:{first.id}", get(store, first.id).worker, timedelta(seconds=-1))
            claim_next(store, f"w{4 + n}")
        failed = get(store, first.id)
        assert failed.state == "failed" and "gave up" in failed.error
    finally:
        store.close()


def test_the_heartbeat_keeps_a_running_jobs_lock(crawl) -> None:
    store = crawl.store()
    try:
        store.lock("crawl_job:x", "w1", timedelta(seconds=-1))  # lapsed: anyone may take it
        with jobs._heartbeat(store, "crawl_job:x", "w1", every=0.02):
            def held_until() -> datetime:
                return datetime.fromisoformat(store.get_state("lock", "crawl_job:x")["until"])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and held_until() <= datetime.now(UTC):
                time.sleep(0.02)
            assert not store.lock("crawl_job:x", "w2", timedelta(minutes=1))  # renewed for w1
    finally:
        store.close()


def test_unknown_sources_are_refused_with_one_line(crawl) -> None:
    store = crawl.store()
    try:
        for name, said in [("nosuch", "unknown crawl 'nosuch'"), ("site", "site:<profile>"),
                           ("appstore:x", "only site takes a profile")]:
            with pytest.raises(ValueError, match=said) as caught:
                enqueue(store, name, by="ops")
            assert "\n" not in str(caught.value)
        with pytest.raises(ValueError, match="no site profile 'blog'.*known: forum"):
            enqueue(store, "site:blog", by="ops", sites=["forum"])
        assert enqueue(store, "site:forum", by="ops", sites=["forum"]).source == "site:forum"
        assert [j.source for j in recent(store)] == ["site:forum"]
    finally:
        store.close()


def test_log_tail_keeps_the_last_lines(tmp_path) -> None:
    path = tmp_path / "crawl.log"
    path.write_text("".join(f"line {i}\n\n" for i in range(100)), encoding="utf-8")
    assert jobs.log_tail(path) == [f"line {i}" for i in range(60, 100)]
    assert jobs.log_tail(tmp_path / "missing.log") == []
