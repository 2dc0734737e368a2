"""Topic coverage of the taxonomy on real bank comments (bank_bdci2021, read where it lies).

    nice -n 10 .venv/bin/python bench/topics_real.py [--data ../shared/data/sentiment] [--json OUT]
        [--top 40] [--sample 60] [--seed 13] [--no-sample]

The comments are split exactly as the sentiment recipe splits them (`nlp.training.corpora.bank_rows`: train,
and the stratified 30 % dev). For each split, over the comments whose character-level `bio` tags
name a PRODUCT (rows whose tags do not line up with the text are skipped), it prints:
- coverage: the share of those comments that get at least one topic;
- card coverage: of the comments whose PRODUCT spans look like a credit card (a span with 卡 that is
  not a debit/account card, or a known card name), the share tagged 信用卡;
- per-topic counts;
- the most frequent PRODUCT spans in comments left without any topic (what to add to
  taxonomy.toml next; grow the file from the TRAIN split's list, judge it on dev).
Then a seeded random sample of dev comments that got a topic, with their topics, for a person to
judge precision by hand (printed only, never written to a file: the texts stay out of the repo).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.tagging import Tagger  # noqa: E402
from nlp.training.corpora import bank_rows  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "sentiment"
DEBIT = ("储蓄", "借记", "工资", "社保", "交通", "银行卡", "一类", "二类", "公交")
CARD_NAMES = ("经典白", "金葵花", "菜卡", "大山白", "精英白", "无界", "百夫长", "白金", "金卡", "普卡")


def product_spans(text: str, bio: str) -> list[str] | None:
    """The PRODUCT span texts of one row; None when its tags do not line up with the text."""
    tags = bio.split(" ")
    if len(tags) != len(text):
        return None
    out, i = [], 0
    while i < len(tags):
        if tags[i] == "B-PRODUCT":
            j = i + 1
            while j < len(tags) and tags[j] == "I-PRODUCT":
                j += 1
            out.append(text[i:j])
            i = j
        else:
            i += 1
    return out


def looks_like_credit_card(span: str) -> bool:
    return (("卡" in span and not any(d in span for d in DEBIT))
            or any(n in span for n in CARD_NAMES))


def measure(tagger: Tagger, rows: list[dict], top: int) -> dict[str, Any]:
    naming = tagged = cards = cards_tagged = skipped = 0
    per_topic: Counter[str] = Counter()
    untagged_spans: Counter[str] = Counter()
    for row in rows:
        spans = product_spans(row["text"], row["bio"])
        if spans is None:
            skipped += 1
            continue
        if not spans:
            continue
        naming += 1
        topics = tagger.tag(row["text"]).topics
        per_topic.update(topics)
        if topics:
            tagged += 1
        else:
            untagged_spans.update(spans)
        if any(looks_like_credit_card(s) for s in spans):
            cards += 1
            cards_tagged += "信用卡" in topics
    return {
        "rows": len(rows), "skipped_misaligned": skipped, "naming_product": naming,
        "with_topic": tagged, "coverage": round(tagged / max(1, naming), 4),
        "card_comments": cards, "card_tagged_信用卡": cards_tagged,
        "card_coverage": round(cards_tagged / max(1, cards), 4),
        "per_topic": dict(per_topic.most_common()),
        "top_untagged_spans": untagged_spans.most_common(top),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, help="write the figures (no texts) to this file")
    ap.add_argument("--top", type=int, default=40, help="how many untagged spans to list")
    ap.add_argument("--sample", type=int, default=60, help="dev comments to print for judging precision")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-sample", action="store_true", help="skip printing the precision sample")
    args = ap.parse_args()
    if not (args.data / "bank_bdci2021.jsonl").exists():
        sys.exit(f"{args.data / 'bank_bdci2021.jsonl'} not found")

    tagger = Tagger.from_file()
    train, dev = bank_rows(args.data)
    figures = {"train": measure(tagger, train, args.top), "dev": measure(tagger, dev, args.top)}
    for name, f in figures.items():
        print(f"== {name}: {f['rows']} rows ({f['skipped_misaligned']} misaligned skipped), "
              f"{f['naming_product']} name a product")
        print(f"coverage (>=1 topic): {f['with_topic']}/{f['naming_product']} = {f['coverage']:.1%}")
        print(f"card comments tagged 信用卡: {f['card_tagged_信用卡']}/{f['card_comments']} = "
              f"{f['card_coverage']:.1%}")
        print("per topic: " + ", ".join(f"{t} {n}" for t, n in f["per_topic"].items()))
        print("most frequent PRODUCT spans in comments without a topic: "
              + ", ".join(f"{s} {n}" for s, n in f["top_untagged_spans"]))
        print()

    if not args.no_sample and args.sample > 0:
        pool = [r for r in dev if product_spans(r["text"], r["bio"]) is not None]
        pool = [(r["text"], topics) for r in pool if (topics := tagger.tag(r["text"]).topics)]
        sample = random.Random(args.seed).sample(pool, min(args.sample, len(pool)))
        n_tags = sum(len(t) for _, t in sample)
        print(f"== precision sample: {len(sample)} dev comments with a topic (seed {args.seed}), "
              f"{n_tags} tags; judge each tag right/wrong")
        for i, (text, topics) in enumerate(sample, 1):
            print(f"{i:2d}. {' | '.join(topics)}\n    {text}")
        figures["precision_sample"] = {"seed": args.seed, "comments": len(sample), "tags": n_tags}
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
