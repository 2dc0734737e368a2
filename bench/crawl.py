"""Crawl throughput through the full pipeline (Scrapy → voc.pipeline → SQLite), throttling off.

    python bench/crawl.py [--pages 40] [--per-page 50]

Serves generated App Store review pages from a local HTTP server, runs one real `appstore` crawl
per app (10 pages each, Apple's limit) in a child process with AutoThrottle off, no delay and
robots.txt on, and prints pages/s and items/s, wall time including start-up and model load.
The shipped model is used unless --tiny (the random test model: measures the crawl, not NLP).
Then it shows what politeness means: with `delay` seconds between requests to one host, no code
can fetch faster than 1/delay pages per second — settings, not the code, bound real crawl speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # the test helpers package: support.http_server

from support.http_server import serve  # noqa: E402

from crawlers.runner import run_crawl  # noqa: E402


def page(app: int, n: int, per_page: int) -> bytes:
    entries = [{"id": {"label": f"{app}{n:02d}{i:03d}"}, "im:rating": {"label": str(1 + i % 5)},
                "im:version": {"label": "6.1.0"}, "title": {"label": f"评价{i}"},
                "author": {"name": {"label": f"用户{i}"}},
                "content": {"label": f"江南银行手机银行第{n}页第{i}条：转账"
                                     f"{'失败闪退' if i % 3 else '很顺利'}，客服回复{i % 7}次"},
                "updated": {"label": f"2026-06-{28 - n:02d}T{i % 24:02d}:{i % 60:02d}:00+08:00"}}
               for i in range(per_page)]
    return json.dumps({"feed": {"updated": {"label": "2026-06-28T00:00:00+08:00"}, "entry": entries}},
                      ensure_ascii=False).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=4, help="apps crawled (10 pages each)")
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--tiny", action="store_true", help="use the tiny random model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = ""
        if args.tiny:
            from nlp.sentiment import build_tiny_model

            model = str(build_tiny_model(root / "tiny"))
        settings = root / "settings.toml"
        settings.write_text(
            f'[app]\nvar_dir = "{root / "var"}"\n[bank]\nname = "江南银行"\n'
            f'[store]\npath = "{root / "voc.db"}"\n[nlp]\nmodel_path = "{model}"\n'
            '[crawl.defaults]\ndelay = 0\nautothrottle = false\nconcurrency = 8\nbatch_size = 250\n',
            encoding="utf-8")
        path = "/cn/rss/customerreviews/page={n}/id={app}/sortby=mostrecent/json"
        bodies = {path.format(n=n, app=900 + a): page(a, n, args.per_page)
                  for a in range(args.apps) for n in range(1, 11)}
        apps = ",".join(str(900 + a) for a in range(args.apps))
        routes = {k: (200, {"Content-Type": "application/json"}, v) for k, v in bodies.items()}
        with serve(routes) as (base, _):
            start = time.perf_counter()
            result = run_crawl("appstore", {"base_url": base, "app_id": apps}, var_dir=root / "var",
                               env={"VOC_SETTINGS": str(settings)})
            seconds = time.perf_counter() - start
    doc = result.document
    print(f"status={result.status} pages={doc['pages']} items={doc['items']} new={doc['new']} "
          f"seconds={seconds:.1f} (one child process: start-up, model load, crawl, NLP, SQLite)")
    print(f"throughput: {doc['pages'] / seconds:.1f} pages/s, {doc['items'] / seconds:.1f} items/s "
          f"through the full pipeline, throttling off")
    from datetime import datetime

    opened, closed = (datetime.fromisoformat(doc[k]) for k in ("started_at", "finished_at"))
    crawl_s = (closed - opened).total_seconds()
    print(f"spider open to close (no process start-up): {crawl_s:.1f} s = "
          f"{doc['pages'] / crawl_s:.1f} pages/s, {doc['items'] / crawl_s:.1f} items/s")
    for delay in (1.0, 2.0, 3.0):
        print(f"politeness: delay={delay:g} s per host caps one source at {1 / delay:.2f} pages/s = "
              f"{3600 / delay:.0f} pages/h ({3600 / delay * args.per_page:.0f} items/h at "
              f"{args.per_page}/page) — the settings, not the code, bound real crawl speed")


if __name__ == "__main__":
    main()
