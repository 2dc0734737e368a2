"""Benchmark the Elasticsearch indexing path against the SQLite store, in one run.

    nice -n 10 .venv/bin/python bench/indexer.py [--n 20000] [--batch 500]

Prints documents/s for building bulk request bodies (record → document with derived fields →
NDJSON, exactly the bytes `ElasticStore.upsert` hands to the client; target >= 20,000/s) and for
`SqliteStore.upsert` into a temporary file (target >= 5,000/s) over the same synthetic records
(bench/store.py), the ratio of the two, and the peak RSS. No cluster is needed: what the cluster
does with the bodies is its own benchmark. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import synthetic  # noqa: E402  (bench/store.py: the same records as the store bench)

from indexer._es_docs import build_doc, bulk_body  # noqa: E402
from indexer.sqlite import SqliteStore  # noqa: E402

BULK_TARGET = 20_000
SQLITE_TARGET = 5_000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bulk_rate(records: list, batch: int) -> tuple[float, float, int]:
    """Documents/s (wall, CPU) building the NDJSON bodies batch by batch, and the bytes produced.
    On a shared machine the CPU figure says what the work costs, the wall figure what it took today."""
    size = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(records), batch):
        size += len(bulk_body(build_doc(r, "voc") for r in records[i:i + batch]))
    n = len(records)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu), size


def sqlite_rate(records: list, batch: int) -> tuple[float, float]:
    """Documents/s (wall, CPU) upserting into a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(records), batch):
            store.upsert(records[i:i + batch])
        n = len(records)
        rates = n / (time.perf_counter() - wall), n / (time.process_time() - cpu)
        store.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="records (default 20000)")
    parser.add_argument("--batch", type=int, default=500, help="records per bulk body / upsert (default 500)")
    args = parser.parse_args()
    records = list(synthetic(args.n))
    print(f"records={args.n} batch={args.batch} rss={peak_rss_mib():.0f} MiB", flush=True)
    bulk_rate(records[: min(1000, args.n)], args.batch)  # warm-up: imports, JSON encoder caches
    bulk, bulk_cpu, size = bulk_rate(records, args.batch)
    print(f"es bulk bodies  wall {bulk:8,.0f} docs/s  cpu {bulk_cpu:8,.0f} docs/s  "
          f"({size / args.n:.0f} bytes/doc)  target {BULK_TARGET:,}/s: "
          f"x{bulk / BULK_TARGET:.2f} wall, x{bulk_cpu / BULK_TARGET:.2f} cpu", flush=True)
    sqlite, sqlite_cpu = sqlite_rate(records, args.batch)
    print(f"sqlite upsert   wall {sqlite:8,.0f} docs/s  cpu {sqlite_cpu:8,.0f} docs/s  "
          f"target {SQLITE_TARGET:,}/s: x{sqlite / SQLITE_TARGET:.2f} wall, "
          f"x{sqlite_cpu / SQLITE_TARGET:.2f} cpu", flush=True)
    print(f"bulk bodies / sqlite upsert = {bulk / sqlite:.2f} wall, {bulk_cpu / sqlite_cpu:.2f} cpu")
    print(f"peak RSS {peak_rss_mib():.0f} MiB  "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
