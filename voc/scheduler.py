"""`voc run`: the long-running daemon — crawls, alert checks and the daily digest on a timetable.

An APScheduler `BlockingScheduler` (apscheduler 3.x) with explicit job ids:

- `alerts:check`  every `[alerts] interval_minutes` (default 5): one `run_rules` at the job's time;
- `alerts:digest` daily at `[alerts] digest_time` in the display timezone (when `digest = true`);
- `crawl:<name>`  one per `[crawl.<name>]` table that has `every = "30m"` or `cron = "*/30 * * * *"`
  (a table without either is crawled only by hand: `voc crawl NAME`). Each crawl runs in a child
  process (crawlers.runner), because Twisted's reactor cannot restart inside one process;
- `jobs:poll`     every JOB_POLL_SECONDS: runs the crawl jobs queued in the store (the console's
  重新采集, crawlers/jobs.py), so a queued job starts within seconds, as under `voc worker`;
- `cases:route`   every `[alerts] interval_minutes`: the records `[[cases.routes]]` say need a case
  get one (care.routing.open_routed_cases); the alert check's `case_overdue` escalates the late ones;
- `cases:report`  Mondays at `digest_time` (when `digest = true`): the weekly service report of the
  week before, emailed (voc.reporting).

Every job: `coalesce=True` (a backlog of missed runs runs once), `max_instances=1` (a slow crawl is
never started twice), `misfire_grace_time` = one interval, capped at 15 min. A job never raises
into the scheduler: it logs one greppable line per run (`job=crawl:tousu status=blocked new=0
...`) and the error, and the next run happens as planned. SIGTERM and SIGINT stop the scheduler
cleanly: running jobs finish, no new ones start.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ConfigError
from core.settings import Settings

log = logging.getLogger("voc.scheduler")

MAX_GRACE = 15 * 60
JOB_POLL_SECONDS = 5
STOPPING = threading.Event()  # set on SIGTERM / SIGINT: the job poll runs no further queued job


def crawl_schedules(settings: Settings) -> dict[str, dict[str, str]]:
    """`name` -> {"every": "30m"} or {"cron": "..."} for the crawl tables that ask to be scheduled.

    Tables nested one level deeper (e.g. `[crawl.site.forum]`) schedule `site:forum`."""
    out: dict[str, dict[str, str]] = {}

    def visit(name: str, table: Mapping[str, Any]) -> None:
        chosen = {k: table[k] for k in ("every", "cron") if k in table}
        if len(chosen) > 1:
            raise ConfigError(f"[crawl.{name.replace(':', '.')}] in {settings.source_path}: give "
                              "either every or cron, not both", key=f"crawl.{name}.cron")
        if chosen:
            out[name] = {k: str(v) for k, v in chosen.items()}
        for key, value in table.items():
            if isinstance(value, Mapping) and ":" not in name:
                visit(f"{name}:{key}", value)

    for name, table in (settings.crawl or {}).items():
        if isinstance(table, Mapping):
            visit(name, table)
    return out


def build_scheduler(settings: Settings, *, scheduler: Any = None,
                    jobs: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """The scheduler with every job added (not started). `scheduler` may be another APScheduler
    scheduler (tests use a BackgroundScheduler); `jobs` overrides the job functions by kind."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from alerts import parse_duration

    tz = settings.display_tz
    run = {"check": alert_check_job, "digest": digest_job, "crawl": crawl_job, "jobs": crawl_jobs_job,
           "cases": cases_job, "report": report_job, **(jobs or {})}
    sched = scheduler or BlockingScheduler(timezone=tz)
    interval = timedelta(minutes=settings.alerts.interval_minutes)
    grace = int(min(interval.total_seconds(), MAX_GRACE))
    common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": grace, "replace_existing": True}
    sched.add_job(run["check"], IntervalTrigger(seconds=int(interval.total_seconds()), timezone=tz),
                  id="alerts:check", name="alerts:check", args=[settings], **common)
    if settings.alerts.digest:
        hour, minute = (int(part) for part in settings.alerts.digest_time.split(":"))
        sched.add_job(run["digest"], CronTrigger(hour=hour, minute=minute, timezone=tz),
                      id="alerts:digest", name="alerts:digest", args=[settings],
                      **{**common, "misfire_grace_time": 3600})
        sched.add_job(run["report"], CronTrigger(day_of_week="mon", hour=hour, minute=minute, timezone=tz),
                      id="cases:report", name="cases:report", args=[settings],
                      **{**common, "misfire_grace_time": 3600})
    sched.add_job(run["cases"], IntervalTrigger(seconds=int(interval.total_seconds()), timezone=tz),
                  id="cases:route", name="cases:route", args=[settings], **common)
    sched.add_job(run["jobs"], IntervalTrigger(seconds=JOB_POLL_SECONDS, timezone=tz), id="jobs:poll",
                  name="jobs:poll", args=[settings], **{**common, "misfire_grace_time": JOB_POLL_SECONDS})
    for name, when in crawl_schedules(settings).items():
        try:
            if "every" in when:
                trigger = IntervalTrigger(seconds=int(parse_duration(when["every"]).total_seconds()),
                                          timezone=tz)
            else:
                trigger = CronTrigger.from_crontab(when["cron"], timezone=tz)
        except ValueError as exc:
            key = f"crawl.{name.replace(':', '.')}.{next(iter(when))}"
            raise ConfigError(f"[crawl] in {settings.source_path}: {key}: {exc}", key=key) from exc
        sched.add_job(run["crawl"], trigger, id=f"crawl:{name}", name=f"crawl:{name}",
                      args=[settings, name], **{**common, "misfire_grace_time": MAX_GRACE})
    return sched


def _with_store(settings: Settings, job: str, work: Callable[[Any], Any]) -> Any:
    """Run `work(store)` on the configured store, closed afterwards. A job never raises into the
    scheduler: a failure is logged as `job=... status=failed` and None is returned."""
    from indexer import open_settings_store

    try:
        store = open_settings_store(settings)
        try:
            return work(store)
        finally:
            store.close()
    except Exception as exc:
        from alerts.errors import CheckInProgress
        from crawlers.runner import AlreadyRunning

        if isinstance(exc, AlreadyRunning | CheckInProgress):
            log.info("job=%s status=skipped reason=already_running", job)
        else:
            log.error("job=%s status=failed error=%s: %s", job, type(exc).__name__, exc)
        return None


def alert_check_job(settings: Settings, now: datetime | None = None) -> Any:
    """One alert check; logs one line. Returns the RunReport (None when it failed)."""
    from voc.alerting import run_configured_rules

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = _with_store(settings, "alerts:check",
                         lambda store: run_configured_rules(settings, store, now=now))
    if report is not None:
        status = "ok" if not (report.errors or report.pending or report.failed) else "degraded"
        log.info("job=alerts:check status=%s fired=%d suppressed=%d silenced=%d pending=%d failed=%d "
                 "rule_errors=%d seconds=%.2f", status, len(report.fired), len(report.suppressed),
                 len(report.silenced), len(report.pending), len(report.failed), len(report.errors),
                 time.perf_counter() - started)
    return report


def digest_job(settings: Settings, now: datetime | None = None) -> Any:
    from voc.alerting import send_daily_digest

    report = _with_store(settings, "alerts:digest", lambda store: send_daily_digest(settings, store, now=now))
    if report is not None:
        log.info("job=alerts:digest status=%s sent=%s failed=%s", "ok" if not report.failed else "degraded",
                 ",".join(report.sent) or "-", ",".join(report.failed) or "-")
    return report


def cases_job(settings: Settings, now: datetime | None = None) -> Any:
    """Open the cases the routes ask for (care.routing); logs one line when it opened or linked any."""
    from care.routing import open_routed_cases

    report = _with_store(settings, "cases:route",
                         lambda store: open_routed_cases(settings, store, now or datetime.now(UTC)))
    if report is not None and (report.opened or report.linked):
        log.info("job=cases:route status=ok read=%d opened=%d linked=%d", report.read, len(report.opened),
                 report.linked)
    return report


def report_job(settings: Settings, now: datetime | None = None) -> Any:
    """The weekly service report of the week before, emailed."""
    from voc.cli.cases import report_text
    from voc.reporting import build_weekly_report, send_report

    def work(store: Any) -> Any:
        report = build_weekly_report(settings, store, now)
        return send_report(settings, report, "\n".join(report_text(report)), now)

    delivery = _with_store(settings, "cases:report", work)
    if delivery is not None:
        log.info("job=cases:report status=%s sent=%s failed=%s", "ok" if not delivery.failed else "degraded",
                 ",".join(delivery.sent) or "-", ",".join(delivery.failed) or "-")
    return delivery


def crawl_job(settings: Settings, name: str) -> Any:
    """One crawl in a child process; its end state is in the store's crawl_health either way."""
    from crawlers.runner import run_crawl

    started = time.perf_counter()
    result = _with_store(settings, f"crawl:{name}",
                         lambda store: run_crawl(name, var_dir=settings.app.var_dir, store=store))
    if result is not None:
        log.info("job=crawl:%s status=%s new=%d updated=%d duplicates=%d dropped=%d reason=%s "
                 "seconds=%.1f", name, result.status, result.count("new"), result.count("updated"),
                 result.count("duplicates"), result.count("dropped"), result.reason or "-",
                 time.perf_counter() - started)
    return result


def crawl_jobs_job(settings: Settings) -> Any:
    """Run the crawl jobs queued now (crawlers.jobs.work, once); the number run, None on failure.
    Quiet when the queue is empty: it runs every few seconds."""
    from crawlers.jobs import work, worker_name

    ran = _with_store(settings, "jobs:poll", lambda store: work(
        store, var_dir=settings.app.var_dir, worker=worker_name(), once=True, stop=STOPPING))
    if ran:
        log.info("job=jobs:poll status=ok ran=%d", ran)
    return ran


class _QuietPoll(logging.Filter):
    """Drop APScheduler's "skipped: maximum number of running instances" for `jobs:poll`: while a
    queued crawl runs, every tick is skipped on purpose (max_instances=1), one warning per 5 s."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = record.args[0] if isinstance(record.args, tuple) and record.args else None
        skipped = "maximum number of running" in str(record.msg)
        return not (skipped and getattr(job, "id", None) == "jobs:poll")


def cmd_run(args: Any) -> int:
    """`voc run`: start the scheduler in the foreground until SIGTERM / SIGINT."""
    from voc.cli.common import settings as load

    conf = load()
    from indexer import open_settings_store
    from voc.alerting import notifiers_from_settings, rules_from_settings

    # Bad rules or notifier settings stop start-up (exit 2) instead of a failed job every 5 minutes.
    rules_from_settings(conf)
    notifiers_from_settings(conf)
    if conf.store.backend == "sqlite":  # the store exists from start-up on: `voc stats`, the health
        open_settings_store(conf).close()  # check, refuses a missing file
    logging.getLogger("voc").setLevel(logging.INFO)
    logging.getLogger("alerts").setLevel(logging.INFO)
    logging.getLogger("crawlers.jobs").setLevel(logging.INFO)
    sched = build_scheduler(conf)
    logging.getLogger("apscheduler.scheduler").addFilter(_QuietPoll())
    STOPPING.clear()

    from apscheduler.events import EVENT_SCHEDULER_STARTED

    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal=%s stopping: running jobs finish, no new ones start", signal.Signals(signum).name)
        stopping.append(signum)
        STOPPING.set()
        if sched.running:
            sched.shutdown(wait=True)

    def started(_event: Any) -> None:  # a signal that came while starting: stop now
        if stopping:
            sched.shutdown(wait=True)

    sched.add_listener(started, EVENT_SCHEDULER_STARTED)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for job in sched.get_jobs():
        log.info("job=%s scheduled trigger=%s", job.id, job.trigger)
    log.info("scheduler started jobs=%d timezone=%s", len(sched.get_jobs()), conf.app.timezone)
    if getattr(args, "check_now", False):
        alert_check_job(conf)
    if not stopping:
        sched.start()  # blocks until shutdown
    log.info("scheduler stopped")
    return 0
