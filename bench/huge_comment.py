"""Peak memory of one 10 MB comment through the whole pipeline, against the same run without it.

    python bench/huge_comment.py [--mb 10]

Each run is a child process (so its peak RSS is its own): the shipped model, the shipped taxonomy,
dedup and a real SQLite store, over 50 ordinary comments, with and without one comment of `--mb`
megabytes (a complaint pasted over and over). Prints wall time and peak RSS of both, and what the
store kept (the whole text; `meta.text_truncated_for_models` says the models and dedup read only its
head and tail). Target (issue 14): under 1 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMPLAINT = "江南银行手机银行转账失败，钱被扣了对方没收到，客服电话打不进去，必须给个说法！"


def _run(megabytes: float, queue) -> None:
    from core.record import Feedback
    from core.settings import load_settings
    from indexer.sqlite import SqliteStore
    from nlp.dedup import Deduper
    from voc.pipeline import Pipeline, load_classifier, load_tagger

    settings = load_settings(ROOT / "settings.toml", env={})
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    records = [Feedback(id=f"n{i}", source="weibo", kind="post", text=f"第{i}条：{COMPLAINT}",
                        created_at=t0 + timedelta(minutes=i)) for i in range(50)]
    if megabytes:
        size = int(megabytes * 1024 * 1024 / len(COMPLAINT.encode()))
        records.append(Feedback(id="huge", source="weibo", kind="post", text=COMPLAINT * size,
                                created_at=t0 + timedelta(hours=1)))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "voc.db")
        pipe = Pipeline(load_classifier(settings), load_tagger(settings), Deduper(), store,
                        progress=False, spool_dir=Path(tmp) / "spool")
        began = time.perf_counter()
        report = pipe.run(records)
        seconds = time.perf_counter() - began
        huge = store.get("huge")
        kept = (len(huge.text), huge.meta.get("text_truncated_for_models")) if huge else None
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    queue.put({"stored": report.stored, "seconds": seconds, "peak_mib": peak, "kept": kept})


def measure(megabytes: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_run, args=(megabytes, queue))
    child.start()
    result = queue.get(timeout=900)
    child.join()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=10.0, help="size of the huge comment in MB")
    args = ap.parse_args()
    if args.mb <= 0:
        print("error: --mb must be > 0", file=sys.stderr)
        return 2
    base = measure(0)
    huge = measure(args.mb)
    print(f"50 comments:          {base['seconds']:.1f} s, peak RSS {base['peak_mib']:.0f} MiB")
    print(f"+ one {args.mb:g} MB comment: {huge['seconds']:.1f} s, peak RSS {huge['peak_mib']:.0f} MiB "
          f"({huge['peak_mib'] - base['peak_mib']:+.0f} MiB); stored {huge['stored']}, "
          f"text kept {huge['kept'][0]:,} characters, models read a {20_000:,}-character head and tail "
          f"(meta.text_truncated_for_models={huge['kept'][1]:,})")
    print(f"target: under 1 GB -> {'met' if huge['peak_mib'] < 1024 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
