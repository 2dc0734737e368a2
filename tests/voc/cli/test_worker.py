"""`voc worker` and the `jobs:poll` job of `voc run`: crawl jobs queued in a real SQLite store run by
the real crawl runner against a loopback RSS feed; SIGTERM stops the worker cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from support.cli_env import cli_env
from support.http_server import serve

from crawlers.jobs import enqueue, get
from indexer import SqliteStore
from voc.cli import main

REPO = Path(__file__).resolve().parents[3]
FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>财经</title>
<item><title>江南银行手机银行故障</title><link>https://news.example.cn/1.html</link>
<description>江南银行手机银行昨晚无法转账</description>
<pubDate>Sun, 14 Jun 2026 06:22:34 +0800</pubDate></item>
<item><title>江南行信用卡新规</title><link>https://news.example.cn/2.html</link>
<description>信用卡分期费率调整</description><pubDate>Sun, 14 Jun 2026 07:00:00 +0800</pubDate></item>
</channel></rss>""".encode()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, tiny_model_dir)


def rss_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    """[crawl.rss] reads the loopback feed; politeness off so the crawl takes seconds."""
    path = tmp_path / "settings.toml"
    path.write_text('[bank]\nname = "江南银行"\naliases = ["江南行"]\n'
                    '[crawl.defaults]\ncontact = "crawl-test@example.org"\ndelay = 0\nautothrottle = false\n'
                    'retry_times = 1\nbackoff = 0.1\nconcurrency = 4\n'
                    f'[crawl.rss]\nfeed_url = "{base}/f.xml"\nfeed_name = "cj"\nkeywords = ["信用卡"]\n',
                    encoding="utf-8")
    monkeypatch.setenv("VOC_SETTINGS", str(path))


def test_voc_worker_once_runs_the_queued_job(tmp_path, monkeypatch, capsys) -> None:
    store = SqliteStore(tmp_path / "voc.db")
    try:
        job = enqueue(store, "rss", by="alice")
        with serve({"/f.xml": (200, {"Content-Type": "application/rss+xml"}, FEED)}) as (base, log):
            rss_settings(tmp_path, monkeypatch, base)
            code = main(["worker", "--once"])
        out = capsys.readouterr().out
        assert code == 0 and "ran 1 job(s)" in out, out
        done = get(store, job.id)
        assert (done.state, done.status, done.counts["new"]) == ("done", "ok", 2), done
        assert store.total() == 2 and [s.path for s in log if s.path == "/f.xml"] == ["/f.xml"]
        assert main(["worker", "--once"]) == 0 and "ran 0 job(s)" in capsys.readouterr().out
    finally:
        store.close()
    assert main(["worker", "--poll", "0"]) == 2 and "--poll" in capsys.readouterr().err


def test_voc_worker_stops_cleanly_on_sigterm(tmp_path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "voc.cli", "worker", "--poll", "0.2"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if " started " in line or not line:
                break
        assert any("worker=" in line and " started " in line for line in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        out, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "signal=SIGTERM stopping after the current job" in rest and "stopped ran=0" in rest
    assert "ran 0 job(s)" in out


def test_voc_run_polls_the_job_queue(tmp_path, monkeypatch) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from core.settings import load_settings
    from crawlers.runner import crawl_lock
    from voc.scheduler import JOB_POLL_SECONDS, build_scheduler, crawl_jobs_job

    with serve({"/f.xml": (200, {"Content-Type": "application/rss+xml"}, FEED)}) as (base, _):
        rss_settings(tmp_path, monkeypatch, base)
        conf = load_settings()
        sched = build_scheduler(conf, scheduler=BackgroundScheduler(timezone=conf.display_tz))
        poll = sched.get_job("jobs:poll")
        assert poll is not None and poll.func is crawl_jobs_job and poll.args == (conf,)
        assert (poll.max_instances, poll.coalesce) == (1, True)
        assert poll.trigger.interval == timedelta(seconds=JOB_POLL_SECONDS) <= timedelta(seconds=10)
        assert crawl_jobs_job(conf) == 0  # nothing queued
        store = SqliteStore(tmp_path / "voc.db")
        try:
            job = enqueue(store, "rss", by="alice")
            with crawl_lock(conf.app.var_dir, "rss"):  # the scheduled crawl of rss is running
                assert crawl_jobs_job(conf) == 0
            assert get(store, job.id).state == "queued"
            store.put_state("crawl_job", job.id, {**get(store, job.id).to_dict(), "retry_at": None})
            assert crawl_jobs_job(conf) == 1
            assert get(store, job.id).state == "done" and store.total() == 2
        finally:
            store.close()
