"""Crawl jobs: a crawl of one source asked for now (the console's 重新采集 button), queued in the
store and run by a worker (`voc worker`, or the `jobs:poll` job of `voc run`).

    job = enqueue(store, "appstore", by="alice")     # or the job already queued/running for it
    get(store, job.id).state                         # queued -> running -> done | failed
    work(store, var_dir=Path("var"), worker=worker_name(), once=True)   # run what is queued now

Each job is one state document under namespace JOBS ("crawl_job"), keyed by its id, so it outlives
the process that queued it and every process on the store sees it. Queueing and claiming happen
under the store lock "crawl_job:queue" (`store.lock`, atomic across processes): a source has at most
one job queued or running, and one worker claims a job.

A job runs exactly as `voc crawl NAME` does (`crawlers.runner.run_crawl` in a child process, the
source's crawl lock, its crawl_health document) and keeps the counts, the crawl's status and reason
and the last LOG_LINES lines of its log. How it ends:

- done    the crawl ran and reported: status ok, blocked or layout_changed. A blocked site is a
          finished job whose crawl says `blocked` (with the reason), as `voc crawl` exits 3, not 1;
- failed  the crawl broke (status failed: it died, timed out, its callbacks raised) or could not
          start; `error` says why;
- queued  again while the source's crawl lock is held (a scheduled crawl or `voc crawl` of it is
          running): retried RETRY_AFTER later, failed when it has waited MAX_WAIT since it was queued.

A running job's worker holds the store lock "crawl_job:<id>" and renews it every HEARTBEAT seconds.
When the worker dies the lock expires (STALE_AFTER) and the next claim puts the job back in the
queue, at most MAX_RESTARTS times; then it fails. So a worker name must be unique per process
(`worker_name()`: host:pid).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawlers.errors import CrawlError
from indexer.errors import StoreError

log = logging.getLogger(__name__)

JOBS = "crawl_job"  # FeedbackStore state namespace
STATES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")
COUNTS = ("new", "updated", "duplicates", "dropped", "items", "pages")  # as crawl_health has them
QUEUE_LOCK = "crawl_job:queue"
QUEUE_TTL = timedelta(seconds=30)  # a process that died holding the queue lock frees it by then
QUEUE_WAIT = 10.0  # seconds to wait for the queue lock
HEARTBEAT = 30.0
STALE_AFTER = timedelta(minutes=2)
RETRY_AFTER = timedelta(seconds=30)
MAX_WAIT = timedelta(hours=2)
MAX_RESTARTS = 3
KEEP = 200  # finished jobs kept; older ones are deleted when a job is queued
LOG_LINES = 40
_TIMES = ("queued_at", "started_at", "finished_at", "retry_at")


class QueueBusy(CrawlError):
    """The job queue's store lock stayed taken for QUEUE_WAIT seconds."""


@dataclass
class Job:
    id: str
    source: str
    state: str
    requested_by: str
    queued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    status: str = ""  # the crawl's own: ok | blocked | layout_changed | failed ("" until it ends)
    reason: str = ""  # the crawl's reason line, as its crawl_health has it
    log_tail: list[str] = field(default_factory=list)
    error: str | None = None
    worker: str | None = None
    restarts: int = 0  # times put back in the queue because its worker stopped
    retry_at: datetime | None = None  # a queued job waiting for the source's crawl lock

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in _TIMES:
            value = getattr(self, key)
            out[key] = value.astimezone(UTC).isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        for key in _TIMES:
            raw = values.get(key)
            values[key] = _utc(datetime.fromisoformat(raw)) if raw else None
        values["counts"] = {str(k): int(v) for k, v in (values.get("counts") or {}).items()}
        values["log_tail"] = [str(line) for line in values.get("log_tail") or []]
        return cls(**values)


def worker_name() -> str:
    """This process's worker name: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def check_source(source: str, sites: Collection[str] | None = None) -> str:
    """`source` as a job names it, or ValueError with a one-line reason. `sites`, when given, are
    the configured site profiles (the [crawl.site] tables)."""
    from crawlers.spiders import SPIDERS

    name = source.strip()
    spider, sep, profile = name.partition(":")
    if spider not in SPIDERS:
        raise ValueError(f"unknown crawl {source!r} (known: {', '.join(sorted(SPIDERS))}, site:<profile>)")
    if spider == "site" and not profile:
        raise ValueError("say which site: site:<profile>")
    if spider != "site" and sep:
        raise ValueError(f"{source!r}: only site takes a profile (site:<profile>)")
    if spider == "site" and sites is not None and profile not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise ValueError(f"no site profile {profile!r} under [crawl.site] (known: {known})")
    return name


def enqueue(store: Any, source: str, *, by: str, now: datetime | None = None,
            sites: Collection[str] | None = None) -> Job:
    """Queue a crawl of `source` asked for by `by`; the job already queued or running for that
    source when there is one. ValueError for an unknown source."""
    name = check_source(source, sites)
    now = _utc(now)
    with _queue_lock(store, f"enqueue:{by}"):
        jobs = _all(store)
        for job in jobs:
            if job.source == name and job.state in ACTIVE:
                return job
        job = Job(id=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", source=name, state="queued",
                  requested_by=by, queued_at=now)
        store.put_state(JOBS, job.id, job.to_dict())
        finished = sorted((j for j in jobs if j.state not in ACTIVE), key=_order, reverse=True)
        for old in finished[KEEP:]:
            store.delete_state(JOBS, old.id)
    log.info("job=%s source=%s state=queued by=%s", job.id, name, by)
    return job


def get(store: Any, job_id: str) -> Job | None:
    doc = store.get_state(JOBS, job_id)
    return Job.from_dict(doc) if doc else None


def recent(store: Any, limit: int = 20, source: str | None = None) -> list[Job]:
    """The latest jobs, newest first; only `source`'s when given."""
    jobs = [j for j in _all(store) if source is None or j.source == source]
    return sorted(jobs, key=_order, reverse=True)[:limit]


def claim_next(store: Any, worker: str, now: datetime | None = None) -> Job | None:
    """The oldest queued job that is ready, now "running" for `worker`; None when there is none
    (or the queue lock stayed taken: the next poll tries again). Jobs left running by a worker
    that stopped are put back in the queue first."""
    now = _utc(now)
    if not any(j.state == "running" or _ready(j, now) for j in _all(store)):
        return None  # an idle queue is only read: no lock taken every poll
    try:
        with _queue_lock(store, worker):
            jobs = [_mend(store, j, now) if j.state == "running" else j for j in _all(store)]
            ready = sorted((j for j in jobs if _ready(j, now)), key=_order)
            for candidate in ready:
                job = get(store, candidate.id)  # read again: a search (Elasticsearch) may lag a write
                if job is None or job.state != "queued" or not store.lock(_lock_name(job.id), worker,
                                                                          STALE_AFTER):
                    continue
                job.state, job.worker, job.started_at, job.retry_at = "running", worker, now, None
                store.put_state(JOBS, job.id, job.to_dict())
                log.info("job=%s source=%s state=running worker=%s", job.id, job.source, worker)
                return job
    except QueueBusy as exc:
        log.warning("claim skipped worker=%s: %s", worker, exc)
    return None


def run_job(store: Any, job: Job, *, var_dir: str | Path, timeout: float | None = None) -> Job:
    """Run a claimed job's crawl as `voc crawl NAME` does; the job as it ended (done, failed, or
    queued again while another crawl of the source holds its lock)."""
    from crawlers.runner import AlreadyRunning, run_crawl

    worker = job.worker or worker_name()
    try:
        with _heartbeat(store, _lock_name(job.id), worker):
            result = run_crawl(job.source, var_dir=var_dir, timeout=timeout, store=store)
    except AlreadyRunning as exc:
        now = datetime.now(UTC)
        if now - job.queued_at >= MAX_WAIT:
            return _end(store, job, worker, state="failed", error=f"{exc} all along; gave up after "
                        f"{MAX_WAIT.total_seconds() / 3600:g} h")
        return _end(store, job, worker, state="queued", error=f"waiting: {exc}", started_at=None,
                    worker=None, finished_at=None, retry_at=now + RETRY_AFTER)
    except Exception as exc:  # one broken job must not stop the worker: the job says what broke
        log.exception("job=%s source=%s crashed", job.id, job.source)
        return _end(store, job, worker, state="failed", error=f"{type(exc).__name__}: {exc}")
    failed = result.status == "failed"
    return _end(store, job, worker, state="failed" if failed else "done", status=result.status,
                reason=result.reason, error=result.reason if failed else None,
                counts={k: result.count(k) for k in COUNTS}, log_tail=log_tail(result.log_path))


def work(store: Any, *, var_dir: str | Path, worker: str, once: bool = False, poll: float = 2.0,
         stop: threading.Event | None = None, timeout: float | None = None) -> int:
    """Claim and run queued jobs until `stop` is set (`once`: until none is ready now); the number
    of jobs run to done or failed. A stop lets the current job finish."""
    stop = stop or threading.Event()
    ran = 0
    while not stop.is_set():
        try:
            job = claim_next(store, worker)
            if job is not None:
                ran += run_job(store, job, var_dir=var_dir, timeout=timeout).state in ("done", "failed")
                continue
        except (StoreError, QueueBusy) as exc:
            if once:
                raise
            log.error("worker=%s %s: %s (retrying in %g s)", worker, type(exc).__name__, exc, poll)
        if once:
            break
        stop.wait(poll)
    return ran


def log_tail(path: str | Path, lines: int = LOG_LINES, width: int = 500) -> list[str]:
    """The last `lines` non-blank lines of a crawl log, each cut to `width` characters."""
    chunk = 64 * 1024
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - chunk))
            data = handle.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > chunk:
        text = text[1:]  # the first line read is likely cut
    return [line.rstrip()[:width] for line in text if line.strip()][-lines:]


# -- inside ------------------------------------------------------------------------------------

def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _order(job: Job) -> tuple[datetime, str]:
    return job.queued_at, job.id


def _ready(job: Job, now: datetime) -> bool:
    return job.state == "queued" and (job.retry_at or now) <= now


def _lock_name(job_id: str) -> str:
    return f"{JOBS}:{job_id}"


def _all(store: Any) -> list[Job]:
    return [Job.from_dict(doc) for doc in store.list_state(JOBS).values()]


@contextmanager
def _queue_lock(store: Any, owner: str) -> Iterator[None]:
    """The queue's store lock; each holder gets its own owner name, so two threads of one worker
    exclude each other too."""
    owner = f"{owner}/{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + QUEUE_WAIT
    while not store.lock(QUEUE_LOCK, owner, QUEUE_TTL):
        if time.monotonic() > deadline:
            raise QueueBusy(f"the crawl job queue stayed locked for {QUEUE_WAIT:g} s")
        time.sleep(0.02)
    try:
        yield
    finally:
        store.unlock(QUEUE_LOCK, owner)


def _mend(store: Any, job: Job, now: datetime) -> Job:
    """A running job whose worker's lock expired goes back in the queue (or fails after
    MAX_RESTARTS); called under the queue lock."""
    probe = f"probe/{uuid.uuid4().hex[:8]}"
    if not store.lock(_lock_name(job.id), probe, timedelta(seconds=30)):
        return job  # its worker is alive
    store.unlock(_lock_name(job.id), probe)
    fresh = get(store, job.id)
    if fresh is None or fresh.state != "running":
        return fresh or job
    gone = fresh.worker
    if fresh.restarts >= MAX_RESTARTS:
        fresh.state, fresh.finished_at = "failed", now
        fresh.error = f"worker {gone} stopped while running it, {fresh.restarts + 1} times; gave up"
    else:
        fresh.state, fresh.restarts, fresh.started_at = "queued", fresh.restarts + 1, None
        fresh.error, fresh.worker = f"worker {gone} stopped while running it; queued again", None
    store.put_state(JOBS, fresh.id, fresh.to_dict())
    log.warning("job=%s source=%s worker=%s stopped answering state=%s", fresh.id, fresh.source, gone,
                fresh.state)
    return fresh


def _end(store: Any, job: Job, owner: str, **changes: Any) -> Job:
    """Write how the job ended (under the queue lock, then release the job's lock, so a claim
    never takes a finished job for a dead one). A job that another worker took over meanwhile
    (this one stalled past STALE_AFTER) is left to it."""
    changes.setdefault("finished_at", datetime.now(UTC))
    with _queue_lock(store, owner):
        fresh = get(store, job.id) or job
        if fresh.state == "running" and fresh.worker == owner:
            for key, value in changes.items():
                setattr(fresh, key, value)
            store.put_state(JOBS, fresh.id, fresh.to_dict())
        else:
            log.warning("job=%s source=%s was taken over by worker=%s; this run's end not written",
                        job.id, job.source, fresh.worker)
        store.unlock(_lock_name(job.id), owner)
    log.info("job=%s source=%s state=%s status=%s new=%d updated=%d duplicates=%d dropped=%d error=%s",
             fresh.id, fresh.source, fresh.state, fresh.status or "-", fresh.counts.get("new", 0),
             fresh.counts.get("updated", 0), fresh.counts.get("duplicates", 0),
             fresh.counts.get("dropped", 0), fresh.error or "-")
    return fresh


@contextmanager
def _heartbeat(store: Any, name: str, owner: str, every: float | None = None) -> Iterator[None]:
    """Renew the job's store lock every HEARTBEAT seconds while the crawl runs."""
    done = threading.Event()
    period = HEARTBEAT if every is None else every

    def beat() -> None:
        while not done.wait(period):
            try:
                if not store.lock(name, owner, STALE_AFTER):
                    log.warning("lock=%s owner=%s lost (another worker took the job over)", name, owner)
            except StoreError as exc:
                log.warning("lock=%s owner=%s not renewed: %s", name, owner, exc)

    thread = threading.Thread(target=beat, name=f"heartbeat {name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
