"""How many texts of each dev set and gold class the shipped model puts at P(negative) >= t.

    .venv/bin/python bench/score_shares.py [--data ../shared/data/sentiment] [--sets bank,finfe]
        [--model DIR] [--show N]

For each dev set (`nlp.training.corpora`'s fixed split) and gold class: the share labelled
negative (argmax) and the share at calibrated P(negative) >= each threshold. This is what a level
rule with `negative_score` counts (README, "Detection on real text"): a threshold that finds more
of one source's complaints can also count more of another source's praise. The set `bank_card` is
the bank dev comments `bench/alerts_real.py` draws its card bursts from (its `CARD` pattern): its
negative row is how many of a burst's complaints a model can count, its neutral row how many of
the card background's comments it miscounts. `--show N` lists, per set, up to N gold negatives the
model does not label negative and N gold neutrals it does, with P(negative): what the gold labels
call a complaint, beside what the model reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_real import CARD  # noqa: E402

from core.settings import load_settings  # noqa: E402
from nlp.sentiment import SentimentClassifier  # noqa: E402
from nlp.training import corpora  # noqa: E402
from voc.pipeline import load_classifier  # noqa: E402

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data" / "sentiment")
    parser.add_argument("--sets", default="bank,bank_card,finfe,smp2020_usual",
                        help="comma-separated dev sets (bank_card: the bank comments the benchmark's "
                             "card bursts come from)")
    parser.add_argument("--model", type=Path, default=None, help="a model directory (default: the "
                        "settings' [nlp] model_path, i.e. the shipped model)")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="list N missed negatives and N neutrals labelled negative per set")
    args = parser.parse_args(argv)
    if args.show < 0:
        parser.error(f"--show {args.show}: a count of 0 or more")
    if not (args.data / "bank_bdci2021.jsonl").is_file():
        print(f"error: {args.data}: no labelled corpora there (../shared/data/sentiment)", file=sys.stderr)
        return 2
    if args.model is not None and not (args.model / "config.json").is_file():
        print(f"error: {args.model} is not a model directory (no config.json)", file=sys.stderr)
        return 2
    _train, dev = corpora.load(args.data)
    dev["bank_card"] = [e for e in dev["bank"] if CARD.search(e.text)]
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in dev]
    if unknown:
        print(f"error: no dev set {unknown[0]!r}; there are {', '.join(sorted(dev))}", file=sys.stderr)
        return 2
    model = SentimentClassifier.load(args.model) if args.model else load_classifier(load_settings(env={}))
    print("set / gold class        n   label  " + "  ".join(f"P>={t:<4}" for t in THRESHOLDS))
    for name in names:
        examples = dev[name]
        predictions = model.predict([e.text for e in examples])
        for index, label in enumerate(corpora.LABELS):
            got = [p for e, p in zip(examples, predictions, strict=True) if e.label == index]
            if not got:
                continue
            shares = [sum(p.scores["negative"] >= t for p in got) / len(got) for t in THRESHOLDS]
            labelled = sum(p.label == "negative" for p in got) / len(got)
            print(f"{name + ' / ' + label:<22} {len(got):>4}   {labelled:.3f}  "
                  + "  ".join(f"{s:.3f} " for s in shares))
        if args.show:
            pairs = list(zip(examples, predictions, strict=True))
            missed = [(e, p) for e, p in pairs if e.label == 0 and p.label != "negative"]
            called = [(e, p) for e, p in pairs if e.label == 1 and p.label == "negative"]
            for title, rows in (("negative, not labelled negative", missed),
                                ("neutral, labelled negative", called)):
                print(f"  {name}: gold {title} ({len(rows)}):")
                for e, p in rows[:args.show]:
                    print(f"    P={p.scores['negative']:.2f}  {' '.join(e.text.split())[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
