"""Sentiment throughput: the shipped model against SnowNLP, measured in the same run.

    python bench/sentiment.py [--n 2000] [--data ../shared/data/sentiment]

Texts: a fixed, seeded mix of the dev sets (bank comments, Weibo, stock forum, reviews, food
delivery) trimmed to a realistic length distribution (median ~40 characters). Each contender runs
in its own child process so its peak RSS is its own (model loaded included). Prints comments/s,
peak RSS and the ratio for the shipped CPU path (int8 encoder + calibration, the default of
`SentimentClassifier.load` on the CPU), the same model in fp32 (`quantize=False`) and SnowNLP;
also GPU throughput (fp32) when CUDA exists. Absolute figures are noisy on a
shared 2-core machine; the ratio is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_texts(data: Path, n: int) -> list[str]:
    """A seeded mix of whole dev texts: bank comments, Weibo, stock forum, reviews (median ~40 chars)."""
    from nlp.training import corpora

    _train, dev = corpora.load(data)
    rng = random.Random(7)
    mix = {"bank": 0.2, "smp2020_usual": 0.2, "smp2020_virus": 0.15, "finfe": 0.05, "chnsenticorp": 0.4}
    out: list[str] = []
    for name, share in mix.items():
        out += [e.text[:400] for e in rng.sample(dev[name], round(n * share))]
    rng.shuffle(out)
    return out


def _run(which: str, texts: list[str], device: str, queue, threads: int = 0) -> None:
    if which == "snownlp":
        from snownlp import SnowNLP

        _ = SnowNLP("预热").sentiments
        start = time.perf_counter()
        for text in texts:
            _ = SnowNLP(text).sentiments
    else:
        import torch

        torch.set_num_threads(threads or torch.get_num_threads())
        from nlp.sentiment import SentimentClassifier

        clf = SentimentClassifier.load(device=device, quantize=False if which == "model_fp32" else None)
        clf.predict(texts[:64])
        start = time.perf_counter()
        clf.predict(texts)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"per_s": len(texts) / seconds, "peak_rss_mb": peak_mb})


def measure(which: str, texts: list[str], device: str = "cpu", threads: int = 0) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(which, texts, device, queue, threads))
    proc.start()
    while True:  # a child that dies (e.g. snownlp not installed: `pip install -e .[bench]`) must not hang us
        try:
            result = queue.get(timeout=5)
            break
        except Exception:  # queue.Empty
            if not proc.is_alive():
                raise SystemExit(f"{which}: the child exited with {proc.exitcode} (see above)") from None
    proc.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description="sentiment throughput: shipped model vs SnowNLP")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for the model (0 = torch default; 1 when the machine is shared)")
    args = p.parse_args()
    texts = bench_texts(args.data, args.n)
    print(f"texts={len(texts)} median_chars={statistics.median(map(len, texts)):.0f} "
          f"mean_chars={statistics.mean(map(len, texts)):.0f}", flush=True)
    ours = measure("model", texts, threads=args.threads)
    fp32 = measure("model_fp32", texts, threads=args.threads)
    snow = measure("snownlp", texts)
    result = {"texts": len(texts), "model": ours, "model_fp32": fp32, "snownlp": snow,
              "ratio": ours["per_s"] / snow["per_s"], "ratio_fp32": fp32["per_s"] / snow["per_s"]}
    import torch

    if torch.cuda.is_available():
        result["model_cuda"] = measure("model", texts * 5, device="cuda")
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"shipped model : {ours['per_s']:8.1f} comments/s  peak RSS {ours['peak_rss_mb']:.0f} MB (int8)")
    print(f"same, fp32    : {fp32['per_s']:8.1f} comments/s  peak RSS {fp32['peak_rss_mb']:.0f} MB  "
          f"(ratio {result['ratio_fp32']:.2f}x)")
    print(f"SnowNLP 0.12.3: {snow['per_s']:8.1f} comments/s  peak RSS {snow['peak_rss_mb']:.0f} MB")
    print(f"ratio model/SnowNLP: {result['ratio']:.2f}x")
    if "model_cuda" in result:
        print(f"shipped model on CUDA: {result['model_cuda']['per_s']:.1f} comments/s")


if __name__ == "__main__":
    main()
