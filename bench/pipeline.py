"""Benchmark: import → normalize → classify → tag → dedup → store on synthetic comments.

    .venv/bin/python bench/pipeline.py            # 10,000 comments
    .venv/bin/python bench/pipeline.py -n 2000

The comments come from demo/make_posts.py's generator (same templates as the demo, a different
seed); they are written to a temporary JSONL, imported with the records importer, and run through
the real pipeline with the shipped sentiment model (or `--model DIR`) into a temporary SQLite
file. The peer is the model alone over the same normalized texts in the same chunks, measured in
the same run; "everything but the model" is the time a pipeline run takes beyond that peer. Peer
and pipeline alternate `--repeat` times (default 2) and the fastest of each counts, because a
shared VM's noise is larger than the figure being measured.
Prints records/s, each stage's busy time, that share, what the FTS5 trigram index alone costs of
the store's time (the same texts into the body table with and without it), and peak RSS. Exits 1
when the model is not there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

from crawlers.importers import import_file  # noqa: E402
from indexer import SqliteStore  # noqa: E402
from nlp.dedup import Deduper  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from nlp.tagging import Tagger  # noqa: E402
from voc.pipeline import STAGES, Pipeline  # noqa: E402

MODEL_DIR = ROOT / "nlp" / "model"
CHUNK = 512  # records per pass, the pipeline's default


def load_generator():
    spec = importlib.util.spec_from_file_location("make_posts", ROOT / "demo" / "make_posts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_posts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="number of comments (default 10000)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2,
                        help="peer and pipeline runs, alternated; the fastest of each counts (default 2)")
    parser.add_argument("--model", type=Path, default=MODEL_DIR,
                        help="model directory (default: the shipped nlp/model/)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.n < 1:
        parser.error("-n and --repeat must be at least 1")
    if not (args.model / "config.json").is_file():
        print(f"bench/pipeline.py: no model in {args.model}; build the shipped one with `make model`",
              file=sys.stderr)
        return 1
    import torch

    from nlp.sentiment import SentimentClassifier

    t = time.perf_counter()
    classifier = SentimentClassifier.load(args.model)
    tagger = Tagger.from_file(None, bank_name="江南银行", bank_aliases=("江南行",))
    load_s = time.perf_counter() - t
    posts = load_generator()(args.n, seed=7)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "comments.jsonl"
        src.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), "utf-8")
        peers, runs = [], []
        for attempt in range(args.repeat):
            t = time.perf_counter()
            imported = import_file(src, platform="records")
            import_s = time.perf_counter() - t
            n = len(imported.records)
            # The peer: the model alone over the same normalized texts in the same chunks.
            texts = [normalize(r.text) for r in imported.records]
            t = time.perf_counter()
            for i in range(0, n, CHUNK):
                classifier.predict(texts[i:i + CHUNK], batch_size=args.batch_size)
            peers.append(time.perf_counter() - t)
            with SqliteStore(Path(tmp) / f"bench{attempt}.db") as store:
                pipeline = Pipeline(classifier, tagger, Deduper(), store, batch_size=args.batch_size,
                                    chunk_size=CHUNK, progress=False, spool_dir=Path(tmp) / "spool")
                t = time.perf_counter()
                report = pipeline.run(imported.records)
                total = import_s + time.perf_counter() - t
                stored = store.total()
            runs.append((total, import_s, report, stored))
    model_s = min(peers)
    total, import_s, report, stored = min(runs, key=lambda run: run[0])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"pipeline bench: {n} comments, stored {stored}, duplicates {report.duplicates}, "
          f"rejected {len(report.rejected)}")
    print(f"model {classifier.version}; load (model + taxonomy) {load_s:.1f} s, not counted below; "
          f"torch threads {torch.get_num_threads()}")
    if args.repeat > 1:
        print(f"{args.repeat} runs each, alternated; the fastest counts: model alone "
              + ", ".join(f"{s:.1f}" for s in peers) + " s; pipeline "
              + ", ".join(f"{r[0]:.1f}" for r in runs) + " s")
    print(f"the model alone (peer, same texts and chunks): {model_s:.1f} s -> {n / model_s:.0f} records/s")
    seconds = {"import": import_s, **report.seconds}
    print(f"pipeline: total {total:.1f} s -> {n / total:.0f} records/s (batch size {args.batch_size})")
    for stage in ("import", *STAGES):
        print(f"  {stage:<10} {seconds[stage]:7.2f} s  {100 * seconds[stage] / total:5.1f} %")
    extra = total - model_s
    print(f"everything but the model adds {extra:.1f} s = {100 * extra / total:.1f} % of the time "
          f"(total {total / model_s:.2f}x the model alone)")
    with_fts, without = fts_cost(posts, CHUNK)
    print(f"of the store: the FTS5 trigram index costs {with_fts - without:.2f} s for these texts "
          f"(their body rows with the index {with_fts:.2f} s, without it {without:.2f} s; best of 2)")
    print(f"\npeak RSS {peak_mb:.0f} MiB")
    return 0 if stored == n else 1


def fts_cost(posts: list[dict], chunk: int) -> tuple[float, float]:
    """Seconds to insert the posts' (title, text) rows in `chunk`-row transactions into the store's
    body table, in a file made by the store's own `connect` (schema, FTS5 trigram index and
    triggers, pragmas), and the same with the index's insert trigger dropped."""
    from indexer._sqlite_schema import connect

    rows = [(i + 1, p.get("title") or "", p["text"]) for i, p in enumerate(posts)]
    best = {True: float("inf"), False: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(2):
            for fts in (True, False):
                conn = connect(Path(tmp) / f"fts{attempt}{fts}.db")
                if not fts:
                    conn.execute("DROP TRIGGER body_ai")
                t = time.perf_counter()
                for i in range(0, len(rows), chunk):
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO body (rid, title, text) VALUES (?,?,?)", rows[i:i + chunk])
                    conn.execute("COMMIT")
                best[fts] = min(best[fts], time.perf_counter() - t)
                conn.close()
    return best[True], best[False]

if __name__ == "__main__":
    raise SystemExit(main())
