"""Benchmark the embedded SQLite store at scale: prints upsert throughput, search, counts, peak RSS.

    nice -n 10 .venv/bin/python bench/store.py [--n 1000000] [--batch 1000] [--path FILE] [--keep]

Builds N synthetic short Chinese comments spread over 90 days in a temporary file (or --path), then
times the queries the CLI and the alert rules make. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.record import Feedback, Sentiment  # noqa: E402
from indexer.sqlite import SqliteStore  # noqa: E402
from indexer.store import Filters  # noqa: E402

SOURCES = ["appstore", "weibo", "tousu", "rss:财经", "survey:wjx"]
KINDS = {"appstore": "review", "weibo": "post", "tousu": "complaint", "rss:财经": "news",
         "survey:wjx": "survey"}
SUBJECTS = ["手机银行", "信用卡", "房贷", "客服", "网点", "转账", "理财产品", "账单", "积分", "额度"]
PHRASES = ["又闪退了", "登录不上", "太慢了", "体验很好", "利率太高", "排队两个小时", "电话打不通",
           "审批很快", "被乱收费", "还款提醒及时", "界面好看", "验证码收不到", "提额成功", "催收太频繁",
           "服务态度差", "办理很顺利", "贷款利息不透明", "更新后卡顿", "客服耐心", "年费不退"]
TOPICS = ["手机银行", "手机银行/闪退", "信用卡", "信用卡/催收", "贷款", "客服", "网点", "理财"]
BANKS = [("本行", True), ("工商银行", False), ("招商银行", False)]
END = datetime(2026, 3, 1, tzinfo=UTC)


def synthetic(n: int, days: int = 90, seed: int = 7) -> Iterator[Feedback]:
    rnd = random.Random(seed)
    span = days * 86400
    for i in range(n):
        source = rnd.choice(SOURCES)
        text = "，".join(rnd.choice(SUBJECTS) + rnd.choice(PHRASES) for _ in range(rnd.randint(1, 3)))
        neg = rnd.random()
        label = "negative" if neg > 0.6 else "positive" if neg < 0.2 else "neutral"
        bank = rnd.choice(BANKS) if rnd.random() < 0.3 else None
        yield Feedback(
            id=f"bench{i:08d}", source=source, kind=KINDS[source], text=text,
            created_at=END - timedelta(seconds=rnd.randrange(span)),
            sentiment=Sentiment(label, {"negative": neg, "neutral": (1 - neg) / 2,
                                        "positive": (1 - neg) / 2}, "bench"),
            topics=rnd.sample(TOPICS, rnd.randint(0, 2)),
            risk=[{"flag": "催收", "severity": "warning"}] if rnd.random() < 0.1 else [],
            entities=[{"type": "bank", "text": bank[0], "canonical": bank[0], "ours": bank[1],
                       "start": 0, "end": 2}] if bank else [],
            meta={"likes": rnd.randint(0, 50)})


def timed(label: str, fn: Callable[[], object], repeat: int = 3) -> None:
    """Wall time and this process's CPU time: on a shared machine the CPU figure is the one that
    says what the query costs, the wall figure what a user waited today."""
    runs, cpu, result = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    shown = result.total if hasattr(result, "total") else result if isinstance(result, int) else len(result)
    print(f"{label:<44} wall first={runs[0] * 1000:7.0f} median={statistics.median(runs) * 1000:7.0f} ms"
          f"  cpu median={statistics.median(cpu) * 1000:7.0f} ms  result={shown}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--path", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the temporary file")
    ap.add_argument("--days", type=int, default=90,
                    help="time span of the records (fewer days = the per-day density of a larger N)")
    ap.add_argument("--reuse", action="store_true", help="query an existing --path, load nothing")
    args = ap.parse_args()
    tmp = None
    if args.path is None:
        tmp = tempfile.TemporaryDirectory(prefix="voc-bench-")
        args.path = Path(tmp.name) / "voc.db"
    store = SqliteStore(args.path)
    print(f"store path={args.path} n={args.n} batch={args.batch} days={args.days}")

    if not args.reuse:
        load(store, args.n, args.batch, args.path, args.days)
    queries(store)
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")
    if tmp is not None and not args.keep:
        tmp.cleanup()


def load(store: SqliteStore, n: int, size: int, path: Path, days: int) -> None:
    t0, c0, gen_s = time.perf_counter(), time.process_time(), 0.0
    records = synthetic(n, days)
    while True:
        g = time.perf_counter()
        batch = [r for _, r in zip(range(size), records, strict=False)]
        gen_s += time.perf_counter() - g
        if not batch:
            break
        store.upsert(batch)
        done = int(batch[-1].id[5:]) + 1
        if done % 100_000 == 0:
            el = time.perf_counter() - t0
            print(f"  loaded={done} elapsed={el:.0f}s store_rate={done / (el - gen_s):.0f}/s", flush=True)
    load_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    print(f"upsert: {n} records in {load_s:.1f}s wall, {cpu_s:.1f}s cpu ({gen_s:.1f}s wall building "
          f"records) -> {n / (load_s - gen_s):.0f} records/s stored (wall)")
    again = list(synthetic(10_000, days))
    t = time.perf_counter()
    store.upsert(again)
    print(f"re-upsert of 10,000 existing records (same text): {10_000 / (time.perf_counter() - t):.0f}/s")
    print(f"file size: {path.stat().st_size / 2**20:.0f} MiB "
          f"(+ wal {Path(str(path) + '-wal').stat().st_size / 2**20:.0f} MiB)")


def queries(store: SqliteStore) -> None:
    """The searches the CLI makes and the counts/samples the alert rules make."""
    day = Filters(since=END - timedelta(days=1), until=END)
    for q in ["贷", "闪退", "信用卡", "排队两个小时", "不存在的", "贷 闪退"]:
        timed(f"search {q!r} ({len(q)} chars) page 1 + total", lambda q=q: store.search(q))
    timed("search '贷' source=weibo", lambda: store.search("贷", Filters(sources=("weibo",))))
    timed("search '闪退' last day", lambda: store.search("闪退", day))
    timed("search '' (newest)", lambda: store.search(""))
    timed("total()", lambda: store.total())
    timed("total(topic=信用卡)", lambda: store.total(Filters(topics=("信用卡",))))
    start = END - timedelta(days=1)
    timed("counts 1 day, ungrouped", lambda: store.counts(start, END))
    timed("counts 1 day, hourly by source", lambda: store.counts(
        start, END, timedelta(hours=1), ["source"], Filters(sentiment=("negative",))))
    timed("counts 1 day, hourly by topic (negative)", lambda: store.counts(
        start, END, timedelta(hours=1), ["topic"], Filters(sentiment=("negative",))))
    timed("counts 28 days, daily by topic (negative)", lambda: store.counts(
        END - timedelta(days=28), END, timedelta(days=1), ["topic"], Filters(sentiment=("negative",))))
    timed("counts 90 days, by entity", lambda: store.counts(END - timedelta(days=90), END,
                                                             group_by=["entity"]))
    timed("samples 1 day topic=手机银行, n=5", lambda: store.samples(
        Filters(topics=("手机银行",), since=start, until=END), 5))


if __name__ == "__main__":
    main()
