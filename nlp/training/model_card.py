"""Scoring of the dev sets and the generated part of nlp/model/MODEL_CARD.md."""

from __future__ import annotations

import random
from pathlib import Path

from nlp.training.corpora import DEV_SETS, LABELS, Example


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


def calibration_section(report: dict) -> str:
    """The calibration / operating-point part of the card, from metrics.json["calibration"]."""
    cal = report.get("calibration")
    if not cal:
        return ("No calibration has been fitted for these weights (no `calibration.json`): run "
                "`python -m nlp.training.calibrate --write`, then `python -m nlp.training.model_card`.")
    raw, ins = cal["bank_negative_raw"], cal["bank_negative_in_sample"]
    lines = [
        f"`calibration.json` (fitted {cal['date']} by `python -m nlp.training.calibrate --write`): "
        f"temperature **{cal['temperature']:.4f}** (NLL on the pooled logits of the four 3-class dev sets), "
        f"negative-logit bias **{cal['negative_bias']:+.2f}** (neutral and positive 0), applied as "
        "`softmax(logits / T + bias)` in `SentimentClassifier.probabilities` on every device. "
        "Logits from the CPU int8 path.",
        "",
        "Bias rule: the smallest bias on the negative logit (grid 0.05) with bank-dev negative recall "
        "≥ 0.65 at precision ≥ 0.45; if none reaches both, the bias with the best negative F1. "
        "Candidates are only the biases that cost none of the other 3-class dev sets (SMP2020 usual, "
        "virus, FinFE) more than 0.01 macro-F1 against no bias. "
        + ("The target **is reached** in sample." if cal["target_reached_in_sample"] else
           "**No candidate bias reaches the target**, so the rule took the best-F1 candidate."),
        "",
        "| bank dev, negative class | recall | precision | TP / predicted (of 143) |",
        "|---|---|---|---|",
        f"| argmax, no bias | {raw['recall']:.3f} | {raw['precision']:.3f} | "
        f"{raw['tp']} / {raw['predicted']} |",
        f"| with the shipped bias, in sample | {ins['recall']:.3f} | {ins['precision']:.3f} | "
        f"{ins['tp']} / {ins['predicted']} |",
    ]
    for cf in cal["bank_negative_cross_fitted"]:
        biases = ", ".join(f"{f['negative_bias']:+.2f}" for f in cf["per_fold"])
        lines.append(f"| cross-fitted, {cf['folds']} folds (T and bias refitted without the scored fold; "
                     f"biases {biases}) | {cf['recall']:.3f} | {cf['precision']:.3f} | "
                     f"{cf['tp']} / {cf['predicted']} |")
    lines += ["", "Per class on bank dev (shipped path):", "",
              "| class | precision | recall | support |", "|---|---|---|---|"]
    for label, e in cal["bank_per_class_calibrated"].items():
        lines.append(f"| {label} | {e['precision']:.3f} | {e['recall']:.3f} | {e['support']} |")
    lines += ["", "Negative-class PR curve on bank dev (predict negative when calibrated P(negative) ≥ "
              "threshold, whatever the other classes):", "",
              "| P(negative) ≥ | recall | precision | TP / predicted |", "|---|---|---|---|"]
    for row in cal["bank_negative_pr_calibrated"]:
        lines.append(f"| {row['threshold']:.2f} | {row['recall']:.3f} | {row['precision']:.3f} | "
                     f"{row['tp']} / {row['predicted']} |")
    lines += ["", "`python -m alerts.stats.detection` reads this table for the level rules' `negative_score` "
              "(count records at P(negative) ≥ a threshold instead of the label); the shipped settings "
              "count the label, which `bench/alerts_real.py` found better for this model (README)."]
    lines += ["", "Every dev set, macro-F1 and 15-bin top-label ECE (raw, after T, after T + bias):", "",
              "| dev set | macro-F1 raw | macro-F1 calibrated | ECE raw | ECE after T | ECE after T + bias |",
              "|---|---|---|---|---|---|"]
    for name, e in cal["sets"].items():
        lines.append(f"| {name} | {e['macro_f1_raw']:.3f} | {e['macro_f1_calibrated']:.3f} | "
                     f"{e['ece_raw']:.3f} | {e['ece_temperature']:.3f} | {e['ece_calibrated']:.3f} |")
    agree = cal.get("int8_vs_fp32")
    if agree:
        lines += ["", f"int8 vs fp32 on all {agree['texts']:,} dev texts: label agreement "
                  f"{agree['label_agreement']:.4f}, largest probability difference "
                  f"{agree['max_abs_prob_diff']:.3f}."]
    return "\n".join(lines)


def speed_section(report: dict) -> str:
    """The latest `python bench/sentiment.py` run, from metrics.json["speed"]."""
    sp = report.get("speed")
    if not sp:
        return "Not measured for these weights yet: run `python bench/sentiment.py`."
    rows = [f"Measured with `{sp['command']}` on {sp['machine']} ({sp['when']}; {sp['texts']}):", "",
            "| | comments/s | peak RSS |", "|---|---|---|"]
    for name, e in sp["rows"].items():
        rows.append(f"| {name} | {e['per_s']:.1f} | {e['peak_rss_mb']:.0f} MB |")
    rows += ["", sp["note"]]
    return "\n".join(rows)


def write(path: Path, report: dict) -> None:
    """Write the measured part of the card; the recipe text lives in nlp/training/MODEL_CARD.template.md."""
    template = (Path(__file__).parent / "MODEL_CARD.template.md").read_text(encoding="utf-8")
    text = template.replace("{{RESULTS}}", results_table(report))
    text = text.replace("{{BANK_CONFUSION}}", confusion_table(report["sets"]["bank"]))
    text = text.replace("{{CALIBRATION}}", calibration_section(report))
    text = text.replace("{{SPEED}}", speed_section(report))
    text = text.replace("{{TRAIN_SIZES}}", ", ".join(f"{k} {v:,}" for k, v in report["train_sizes"].items()))
    text = text.replace("{{MODEL}}", report["model"])
    args = report.get("args", {})
    for key in ("layers", "ffn", "epochs", "stage2_epochs", "stage2_lr", "stage3_epochs", "stage3_lr"):
        text = text.replace("{{" + key.upper() + "}}", str(args.get(key, "?")))
    text = text.replace("{{TRAIN_MINUTES}}", str(round(report.get("train_seconds_this_run", 0) / 60)))
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    # Re-render a model directory's card from its metrics.json after the template changed:
    #   python -m nlp.training.model_card nlp/model
    import json
    import sys

    model_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "model")
    write(model_dir / "MODEL_CARD.md", json.loads((model_dir / "metrics.json").read_text(encoding="utf-8")))
    print(f"wrote {model_dir / 'MODEL_CARD.md'}")
