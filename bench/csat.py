"""`voc csat --by branch --by month` over 1M survey answers on SQLite (issue: under 2 s).

    nice -n 10 .venv/bin/python bench/csat.py [--n 1000000] [--repeat 5] [--json OUT]

Builds a SQLite store of N survey responses (default 1,000,000): 60 branches (normalized branch
entities, as `voc.pipeline.branch_namer` names them), 4 channels, 3 customer types, 12 months
ending 2026-05, an overall 1–5 rating plus two sub-ratings, written through the store interface
(`FeedbackStore.put_responses`, batches of 10,000) as the importer's response documents. The file
is cached under var/bench/ by a hash of what made it, so a second run reuses it.

Then it times, warm, as a user gets it:
- `voc csat --by branch --by month --json` as a subprocess: Python start, settings, the store
  opened, the counts (`FeedbackStore.rating_counts`: here from the store's daily roll-ups), the table
  with its Wilson intervals, the JSON printed: the wall time and the child's peak RSS;
- the same table in-process (`care.satisfaction.csat_table`), `--by channel --by week`, and a
  cross table of two segments, which the daily roll-ups (one text field at a time) cannot answer
  and the response rows do (one GROUP BY over the covering index);
- the peer, measured in the same run since timings on the shared 2-core machine move by ±30 %:
  the same table from the response documents (`responses()` + `summarize`: every document read
  and parsed), whose figures must equal the counted table's (checked, exit 1 if not).
Prints peak RSS of this process; `--json OUT` writes every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

from care.satisfaction import csat_table, responses, summarize  # noqa: E402
from indexer.sqlite import SqliteStore  # noqa: E402

BUILD_VERSION = 1  # bump when the builder below changes what it writes
BATCH = 10_000
START = datetime(2025, 5, 31, 16, 0, tzinfo=UTC)  # 2025-06-01 00:00 in Asia/Shanghai
DAYS = 365
CHANNELS = ("营业网点", "手机银行", "电话客服", "微信银行")
TYPES = ("个人客户", "私人银行", "小微企业")
QUESTION = "3、总体满意度（1-5分）"
SUBS = ("4、等候时间满意度（1-5分）", "5、柜员服务满意度（1-5分）")


def build_key(n: int, seed: int) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in ("core/response.py", "indexer/_sqlite_responses.py", "indexer/_sqlite_schema.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(f"n={n} seed={seed} build={BUILD_VERSION}".encode())
    return digest.hexdigest()[:16]


def documents(n: int, seed: int) -> Any:
    """N response documents; a branch's level and the waiting time drive the overall rating."""
    rng = random.Random(seed)
    names = [f"{a}{b}" for a in "鼓玄秦建栖江浦六溧高" for b in "东西南北中新"]  # 60 branches
    branches = [(f"江南银行{name}支行", rng.uniform(-0.8, 0.6)) for name in names]
    for i in range(n):
        branch, level = branches[i % len(branches)]
        wait, staff = rng.randint(1, 5), rng.randint(1, 5)
        overall = max(1, min(5, round(0.5 * wait + 0.4 * staff + level + rng.gauss(0.4, 0.8))))
        at = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        channel, kind = CHANNELS[rng.randrange(4)], TYPES[rng.randrange(3)]
        yield {"key": f"survey:wjx:bench:r{i:07d}", "source": "survey:wjx", "survey_id": "bench",
               "line": i + 2, "respondent": f"r{i:07d}", "created_at": at.isoformat(),
               "rating": float(overall), "scale": [1, 5], "question": QUESTION,
               "segments": {"branch": branch, "channel": channel, "customer_type": kind},
               "ratings": {QUESTION: float(overall), SUBS[0]: float(wait), SUBS[1]: float(staff)},
               "choices": {"1、您办理业务的网点": branch, "2、渠道": channel, QUESTION: str(overall)}}


def build(path: Path, n: int, seed: int) -> float:
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    store = SqliteStore(tmp)
    try:
        batch: list[dict[str, Any]] = []
        done = 0
        for doc in documents(n, seed):
            batch.append(doc)
            if len(batch) == BATCH:
                done += store.put_responses(batch)
                batch = []
                if done % 100_000 == 0:
                    print(f"  built {done:,}/{n:,} responses ({time.perf_counter() - started:.0f} s)",
                          file=sys.stderr, flush=True)
        done += store.put_responses(batch)
    finally:
        store.close()
    tmp.rename(path)
    for side in ("-wal", "-shm"):
        Path(f"{tmp}{side}").unlink(missing_ok=True)
    return time.perf_counter() - started


def timed(fn: Any, repeat: int) -> tuple[dict[str, float], Any]:
    runs, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(runs), 3), "max_s": round(max(runs), 3)}, result


def cli(path: Path, by: list[str], repeat: int) -> dict[str, Any]:
    """`voc csat --by … --json` as a user runs it: wall time, the child's peak RSS, its output."""
    env = {**os.environ, "VOC_STORE__PATH": str(path), "VOC_STORE__BACKEND": "sqlite"}
    voc = Path(sys.executable).with_name("voc")  # the console script `make install` puts beside python
    args = [str(voc), "csat", *(x for b in by for x in ("--by", b)), "--json"]
    runs, out = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        runs.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"voc csat failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        out = done.stdout
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"command": "voc csat " + " ".join(f"--by {b}" for b in by) + " --json",
            "median_s": round(statistics.median(runs), 3), "max_s": round(max(runs), 3),
            "child_peak_rss_mib": round(rss, 1), "groups": len(json.loads(out)["groups"])}


def _rows(table: Any) -> list[str]:
    """A table's groups in a fixed order (groups tied on CSAT and n may be listed either way)."""
    return sorted(json.dumps(g, sort_keys=True, ensure_ascii=False) for g in table.groups)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="survey responses (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=5, help="runs per timing (median reported)")
    ap.add_argument("--json", metavar="OUT", type=Path, help="write the figures as JSON")
    args = ap.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        ap.error("--n and --repeat must be at least 1")
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"csat-{build_key(args.n, args.seed)}.db"
    built = None
    if not path.exists():
        print(f"building {args.n:,} survey responses into {path} ...", file=sys.stderr, flush=True)
        built = round(build(path, args.n, args.seed), 1)
    command = cli(path, ["branch", "month"], args.repeat)  # first: this process is small yet
    store = SqliteStore(path)
    try:
        counted_t, counted = timed(lambda: csat_table(store, ["branch", "month"]), args.repeat)
        weekly_t, weekly = timed(lambda: csat_table(store, ["channel", "week"]), args.repeat)
        cross_t, cross = timed(lambda: csat_table(store, ["branch", "channel", "month"]), args.repeat)
        peer_t, peer = timed(lambda: summarize(responses(store), ["branch", "month"]), 1)
    finally:
        store.close()
    same = _rows(counted) == _rows(peer)
    figures = {
        "responses": args.n, "build_s": built, "store": str(path.relative_to(ROOT)),
        "cli": command,
        "in_process": {"branch x month": {**counted_t, "groups": len(counted.groups)},
                       "channel x week": {**weekly_t, "groups": len(weekly.groups)},
                       "branch x channel x month (response rows, no roll-up)":
                           {**cross_t, "groups": len(cross.groups)}},
        "peer_documents_read": {**peer_t, "same_table": same},
        "ratio_peer_over_counted": round(peer_t["median_s"] / counted_t["median_s"], 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(f"{args.n:,} survey responses on SQLite" + (f" (built in {built} s)" if built else " (cached)"))
    print(f"  {command['command']}: median {command['median_s']} s, max {command['max_s']} s "
          f"(target < 2 s), {command['groups']} groups, child peak RSS {command['child_peak_rss_mib']} MiB")
    for label, f in figures["in_process"].items():
        print(f"  csat_table {label} in-process: median {f['median_s']} s, {f['groups']} groups")
    print(f"  peer, every document read (responses + summarize): {peer_t['median_s']} s, "
          f"{figures['ratio_peer_over_counted']}x the counted table; same figures: {same}")
    print(f"  peak RSS of this process {figures['peak_rss_mib']} MiB")
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
