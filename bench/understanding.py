"""Benchmark and evaluation of text understanding: entities, near-duplicates, throughput.

    nice -n 10 .venv/bin/python bench/understanding.py [--data ../shared/data/sentiment] [--out FILE]

Prints (and with --out writes as Markdown):
- BANK and PRODUCT entity precision/recall against the character-level `bio` tags of
  bank_bdci2021.jsonl (exact span match, and overlap match), read where it lies;
- near-duplicate precision/recall on a constructed set: distinct originals from the bank and Weibo
  sets plus copies edited by an adjacent character swap, added emoji, or trailing text;
- throughput: tagging + entities + risk (comments/s), dedup (comments/s, with and without
  normalization), normalize alone; best of 3 runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.record import Feedback  # noqa: E402
from nlp.dedup import Deduper, dedup_key  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from nlp.tagging import Tagger  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "sentiment"
EMOJI = ["[怒]", "😡", "[泪]🙏", "[doge]", "👍👍", "[偷笑]"]
TRAILERS = ["求扩散！", "#银行投诉#", "转发", "大家评评理", "。。。", "//@路人甲: 转发", " 气死了[怒]"]


def spans(bio: str, kind: str) -> set[tuple[int, int]]:
    tags, out, i = bio.split(" "), set(), 0
    while i < len(tags):
        if tags[i] == f"B-{kind}":
            j = i + 1
            while j < len(tags) and tags[j] == f"I-{kind}":
                j += 1
            out.add((i, j))
            i = j
        else:
            i += 1
    return out


def entity_eval(tagger: Tagger, path: Path, banking: bool) -> dict[str, dict[str, float]]:
    counts = {k: {"tp": 0, "fp": 0, "fn": 0, "otp": 0, "ofp": 0, "ofn": 0} for k in ("BANK", "PRODUCT")}
    rows = skipped = 0
    for line in path.open(encoding="utf-8"):
        row = json.loads(line)
        text, bio = row["text"], row["bio"]
        if len(bio.split(" ")) != len(text):
            skipped += 1  # a few rows' tags do not line up with the text
            continue
        rows += 1
        ents = tagger.tag(text, banking=banking).entities
        for kind, etype in (("BANK", "bank"), ("PRODUCT", "product")):
            gold = spans(bio, kind)
            pred = {(e["start"], e["end"]) for e in ents if e["type"] == etype}
            c = counts[kind]
            c["tp"] += len(gold & pred)
            c["fp"] += len(pred - gold)
            c["fn"] += len(gold - pred)
            overlap = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
            c["otp"] += sum(any(overlap(g, p) for p in pred) for g in gold)
            c["ofn"] += sum(not any(overlap(g, p) for p in pred) for g in gold)
            c["ofp"] += sum(not any(overlap(p, g) for g in gold) for p in pred)
    out = {}
    for kind, c in counts.items():
        out[kind] = {
            "precision": c["tp"] / max(1, c["tp"] + c["fp"]), "recall": c["tp"] / max(1, c["tp"] + c["fn"]),
            "precision_overlap": 1 - c["ofp"] / max(1, c["tp"] + c["fp"]),
            "recall_overlap": c["otp"] / max(1, c["otp"] + c["ofn"]), "gold": c["tp"] + c["fn"],
        }
    out["rows"] = {"evaluated": rows, "skipped_misaligned": skipped}
    return out


def load_texts(data: Path) -> list[str]:
    texts = []
    for name in ("bank_bdci2021.jsonl", "weibo_senti_2400.jsonl"):
        for line in (data / name).open(encoding="utf-8"):
            texts.append(json.loads(line)["text"])
    return list(dict.fromkeys(texts))


def dedup_set(texts: list[str], min_len: int, max_len: int, rng: random.Random) -> tuple[list, dict]:
    """Originals (key length in [min_len, max_len)) + one copy per edit kind for a third of them."""
    def swap(t: str) -> str:
        chars = list(t)
        i = rng.randrange(len(chars) - 1)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)

    def emoji(t: str) -> str:
        i = rng.randrange(len(t) + 1)
        return t[:i] + rng.choice(EMOJI) + t[i:]

    def trail(t: str) -> str:
        return t + rng.choice(TRAILERS)

    base = [t for t in texts if min_len <= len(dedup_key(normalize(t))) < max_len]
    # Near-identical originals already in the corpora would count as false merges; keep one of each.
    seen, originals = Deduper(jaccard=0.6), []
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    probe = [Feedback(f"p{i}", "bench", "post", t, t0) for i, t in enumerate(base)]
    seen.assign(probe)
    originals = [r.text for r in probe if r.duplicate_of is None]
    records, truth = [], {}
    for n, text in enumerate(originals):
        records.append(Feedback(f"o{n}", "bench", "post", text, t0 + timedelta(seconds=n)))
        truth[f"o{n}"] = None
    copies = []
    for n, text in enumerate(originals[::3]):
        for edit, fn in (("swap", swap), ("emoji", emoji), ("trail", trail)):
            cid = f"c{n * 3}_{edit}"
            copies.append(Feedback(cid, "bench", "post", fn(text), t0 + timedelta(hours=1, seconds=n)))
            truth[cid] = f"o{n * 3}"
    return records + copies, truth


def dedup_eval(records: list[Feedback], truth: dict, **options) -> dict[str, float]:
    deduper = Deduper(**options)
    deduper.assign(records)
    tp = fp = fn = 0
    per_edit: dict[str, list[int]] = {}
    for r in records:
        want = truth[r.id]
        if want is None:
            fp += r.duplicate_of is not None
            continue
        hit = r.duplicate_of == want
        tp += hit
        fn += r.duplicate_of is None
        fp += r.duplicate_of is not None and not hit
        per_edit.setdefault(r.id.split("_")[1], []).append(hit)
    result = {"precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn), "records": len(records)}
    result.update({f"recall_{k}": sum(v) / len(v) for k, v in per_edit.items()})
    return result


def rate(fn: Callable[[], object], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, help="write the figures as Markdown here")
    args = parser.parse_args()
    tagger = Tagger.from_file(bank_name="招商银行", bank_aliases=["招行"])
    lines = ["# Text understanding figures (bench/understanding.py)", ""]

    lines += ["Entities vs bank_bdci2021 `bio` tags (exact span match; overlap match in brackets). "
              "`banking=True` is how a bank-forum source is tagged; default mode wants a context word "
              "near an ambiguous short form (招商, 民生, 兴业, 平安 …):", "",
              "| mode | type | gold spans | precision | recall |", "|---|---|---|---|---|"]
    for banking in (True, False):
        ents = entity_eval(tagger, args.data / "bank_bdci2021.jsonl", banking)
        for kind in ("BANK", "PRODUCT"):
            m = ents[kind]
            lines.append(f"| banking={banking} | {kind} | {m['gold']} | {m['precision']:.3f} "
                         f"({m['precision_overlap']:.3f}) | {m['recall']:.3f} ({m['recall_overlap']:.3f}) |")
    lines.append(f"({ents['rows']['evaluated']} rows; {ents['rows']['skipped_misaligned']} rows whose "
                 "tags do not line up with the text skipped.)")

    texts = load_texts(args.data)
    lines += ["", "Near-duplicates (Deduper defaults: SimHash threshold 3 bits OR MinHash Jaccard ≥ 0.6; "
              "one copy per edit kind for every third original):", "",
              "| originals (content chars) | records | precision | recall | swap | emoji | trailing |",
              "|---|---|---|---|---|---|---|"]
    for lo, hi in ((20, 10_000), (10, 20)):
        records, truth = dedup_set(texts, lo, hi, random.Random(7))
        m = dedup_eval(records, truth)
        lines.append(f"| {lo}–{hi if hi < 10_000 else '∞'} | {m['records']} | {m['precision']:.3f} | "
                     f"{m['recall']:.3f} | {m['recall_swap']:.3f} | {m['recall_emoji']:.3f} | "
                     f"{m['recall_trail']:.3f} |")
    records, truth = dedup_set(texts, 20, 10_000, random.Random(7))
    m = dedup_eval(records, truth, jaccard=1.0)
    lines.append(f"| 20–∞, SimHash only (jaccard=1.0) | {m['records']} | {m['precision']:.3f} | "
                 f"{m['recall']:.3f} | {m['recall_swap']:.3f} | {m['recall_emoji']:.3f} | "
                 f"{m['recall_trail']:.3f} |")

    corpus = (texts * 4)[:20_000]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    normalized = [normalize(t) for t in corpus]

    def fresh_records() -> list[Feedback]:
        return [Feedback(f"r{i}", "bench", "post", t, t0 + timedelta(seconds=i))
                for i, t in enumerate(corpus)]

    def dedup_run(texts_given: bool) -> Callable[[], None]:
        def run() -> None:
            Deduper().assign(fresh_records(), normalized if texts_given else None)
        return run

    build_s = rate(fresh_records, 1, repeat=1) ** -1
    figures = {
        "tagging + entities + risk": rate(lambda: tagger.tag_many(corpus), len(corpus)),
        "dedup incl. normalize": 1 / (1 / rate(dedup_run(False), len(corpus)) - build_s / len(corpus)),
        "dedup, normalized text given": 1 / (1 / rate(dedup_run(True), len(corpus)) - build_s / len(corpus)),
        "normalize": rate(lambda: [normalize(t) for t in corpus], len(corpus)),
    }
    load = os.getloadavg()[0]
    lines += ["", f"Throughput ({len(corpus)} comments from the bank + Weibo sets, mean "
              f"{sum(map(len, corpus)) / len(corpus):.0f} chars; best of 3; {os.cpu_count()} CPUs, "
              f"1-minute load average {load:.1f} when measured):", "",
              "| stage | comments/s | target |", "|---|---|---|"]
    targets = {"tagging + entities + risk": "≥ 5,000", "dedup incl. normalize": "≥ 10,000",
               "dedup, normalized text given": "≥ 10,000", "normalize": "—"}
    for name, value in figures.items():
        lines.append(f"| {name} | {value:,.0f} | {targets[name]} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
