"""Scoring of the dev sets and the generated part of nlp/model/MODEL_CARD.md."""

from __future__ import annotations

import random
from pathlib import Path

from nlp.corpora import DEV_SETS, LABELS, Example


def macro_f1(gold: list[int], pred: list[int], labels: list[int]) -> float:
    f1s = []
    for c in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def evaluate(clf, dev: dict[str, list[Example]]) -> dict:
    """Accuracy, macro-F1 (over the labels present in the set) and the confusion matrix per set.

    Binary sets are scored strictly: a `neutral` prediction on a negative/positive review is wrong."""
    report: dict = {"model": clf.version, "sets": {}}
    for name, examples in dev.items():
        gold = [e.label for e in examples]
        pred = [LABELS.index(s.label) for s in clf.predict([e.text for e in examples])]
        present = sorted(set(gold))
        confusion = [[sum(1 for g, p in zip(gold, pred, strict=True) if g == a and p == b) for b in range(3)]
                     for a in range(3)]
        correct = sum(g == p for g, p in zip(gold, pred, strict=True))
        entry = {"n": len(gold), "accuracy": correct / len(gold),
                 "macro_f1": macro_f1(gold, pred, present), "confusion": confusion}
        if name == "bank":
            rng = random.Random(0)
            boots = []
            for _ in range(1000):
                idx = [rng.randrange(len(gold)) for _ in gold]
                boots.append(macro_f1([gold[i] for i in idx], [pred[i] for i in idx], present))
            boots.sort()
            entry["macro_f1_bootstrap_95"] = [boots[25], boots[974]]
        report["sets"][name] = entry
    return report


def results_table(report: dict) -> str:
    rows = ["| dev set | n | accuracy | macro-F1 | what it is |", "|---|---|---|---|---|"]
    for name, e in report["sets"].items():
        extra = ""
        if "macro_f1_bootstrap_95" in e:
            lo, hi = e["macro_f1_bootstrap_95"]
            extra = f" (95% bootstrap {lo:.3f}–{hi:.3f})"
        scores = f"{e['accuracy']:.3f} | {e['macro_f1']:.3f}{extra}"
        rows.append(f"| {name} | {e['n']} | {scores} | {DEV_SETS[name]} |")
    return "\n".join(rows)


def confusion_table(entry: dict) -> str:
    rows = ["| gold \\ predicted | negative | neutral | positive |", "|---|---|---|---|"]
    for label, counts in zip(LABELS, entry["confusion"], strict=True):
        rows.append(f"| {label} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(rows)


def write(path: Path, report: dict) -> None:
    """Write the measured part of the card; the recipe text lives in nlp/MODEL_CARD.template.md."""
    template = (Path(__file__).parent / "MODEL_CARD.template.md").read_text(encoding="utf-8")
    text = template.replace("{{RESULTS}}", results_table(report))
    text = text.replace("{{BANK_CONFUSION}}", confusion_table(report["sets"]["bank"]))
    text = text.replace("{{TRAIN_SIZES}}", ", ".join(f"{k} {v:,}" for k, v in report["train_sizes"].items()))
    text = text.replace("{{MODEL}}", report["model"])
    args = report.get("args", {})
    for key in ("layers", "ffn", "epochs", "stage2_epochs", "stage2_lr", "stage3_epochs", "stage3_lr"):
        text = text.replace("{{" + key.upper() + "}}", str(args.get(key, "?")))
    text = text.replace("{{TRAIN_MINUTES}}", str(round(report.get("train_seconds_this_run", 0) / 60)))
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    # Re-render a model directory's card from its metrics.json after the template changed:
    #   python -m nlp.model_card nlp/model
    import json
    import sys

    model_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "model")
    write(model_dir / "MODEL_CARD.md", json.loads((model_dir / "metrics.json").read_text(encoding="utf-8")))
    print(f"wrote {model_dir / 'MODEL_CARD.md'}")
