"""`voc worker`: run the crawl jobs queued in the store (the console's 重新采集, crawlers/jobs.py).

    voc worker                  poll the queue every 2 s and run each job as it comes
    voc worker --once           run the jobs queued now, then exit (cron, tests)
    voc worker --poll 10        poll every 10 s

Each job's crawl runs as `voc crawl NAME` does, one at a time per source. One log line per job
(`job=... source=appstore state=done status=ok new=3 ...`). SIGTERM or Ctrl-C stops it after the
current job (Ctrl-C in a terminal reaches the crawl's child too: Scrapy stops it and the job ends
failed, "interrupted"). `voc run` polls the same queue, so a separate worker is optional.

Exit codes: 0 stopped (however the jobs ended: each job says); 1 the store failed (--once);
2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from voc.cli.common import UsageError, lazy, settings

log = logging.getLogger("voc.worker")


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run the crawl jobs queued from the console (重新采集)",
                       description="Run the crawl jobs queued in the store as they come, each as "
                                   "`voc crawl NAME` runs it. SIGTERM / Ctrl-C stop it after the "
                                   "current job.")
    p.add_argument("--once", action="store_true", help="run the jobs queued now, then exit")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS",
                   help="seconds between looks at the queue (default 2)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up a crawl after this many seconds (the job fails)")
    p.set_defaults(handler=lazy("voc.cli.worker", "cmd_worker"))


def cmd_worker(args: argparse.Namespace) -> int:
    from crawlers.jobs import work, worker_name
    from indexer import open_settings_store

    if args.poll <= 0:
        raise UsageError(f"--poll {args.poll:g}: must be more than 0 seconds")
    conf = settings()
    for name in ("voc", "crawlers.jobs"):
        logging.getLogger(name).setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal=%s stopping after the current job", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    name = worker_name()
    store = open_settings_store(conf)
    try:
        log.info("worker=%s started poll=%gs once=%s", name, args.poll, args.once)
        ran = work(store, var_dir=conf.app.var_dir, worker=name, once=args.once, poll=args.poll,
                   stop=stop, timeout=args.timeout)
    finally:
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker=%s stopped ran=%d", name, ran)
    print(f"voc worker: ran {ran} job(s)")
    return 0
