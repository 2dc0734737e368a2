"""`alerts.stats.detection`: the P(negative) threshold a level rule counts at, from a model's PR table,
and the shipped settings following the shipped model's table."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest

from alerts.stats.detection import choose, main, points

ROOT = Path(__file__).resolve().parents[3]


def _metrics(rows, label=(50, 80)):
    """A bank dev of 100 negatives among 1,000 records and its PR rows (threshold, tp, predicted)."""
    return {"calibration": {
        "bank_per_class_calibrated": {"negative": {"support": 100}, "neutral": {"support": 800},
                                      "positive": {"support": 100}},
        "bank_negative_pr_calibrated": [
            {"threshold": t, "tp": tp, "predicted": pred, "recall": tp / 100, "precision": tp / pred}
            for t, tp, pred in rows],
        "bank_negative_in_sample": {"tp": label[0], "predicted": label[1]}}}


def test_points_read_recall_and_false_positive_rate():
    ops, prior = points(_metrics([(0.1, 90, 390), (0.5, 50, 80)]))
    assert prior == pytest.approx(0.1) and [op.threshold for op in ops] == [0.1, 0.5, "label"]
    assert ops[0].recall == pytest.approx(0.9) and ops[0].fpr == pytest.approx(300 / 900)
    assert ops[0].precision == pytest.approx(90 / 390)
    assert ops[1].snr(0.1) == pytest.approx(0.5 / math.sqrt(0.1 * 0.5 + 0.9 * 30 / 900))


def test_recall_is_worth_its_false_positives_only_while_they_stay_few():
    # +20 negatives for 60 false positives pays; +40 for 300 does not
    cheap = points(_metrics([(0.3, 70, 140), (0.5, 50, 80)]))
    assert choose(*cheap).threshold == 0.3
    dear = points(_metrics([(0.1, 90, 390), (0.5, 50, 80)]))
    assert choose(*dear).threshold == 0.5


def test_a_model_without_a_calibration_report_is_an_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="calibrate"):
        points({})
    with pytest.raises(ValueError, match="inconsistent"):
        points(_metrics([(0.1, 120, 390)]))  # more hits than negatives
    (tmp_path / "metrics.json").write_text("{}", encoding="utf-8")
    assert main(["--model", str(tmp_path)]) == 2
    assert "calibrate" in capsys.readouterr().err


def test_the_shipped_models_table_is_read_and_the_settings_count_the_label(capsys):
    """The shipped model's table is flat (its best threshold barely beats the label), and
    bench/alerts_real.py found no threshold better than the label: settings.toml counts the label."""
    metrics = json.loads((ROOT / "nlp" / "model" / "metrics.json").read_text(encoding="utf-8"))
    ops, prior = points(metrics)
    best = choose(ops, prior)
    label = next(op for op in ops if op.threshold == "label")
    assert abs(best.snr(prior) - label.snr(prior)) < 0.05 * label.snr(prior)
    shipped = tomllib.loads((ROOT / "settings.toml").read_text("utf-8"))
    for rule in shipped["alerts"]["rules"]:
        assert rule.get("negative_score", 0.0) == 0.0, rule["name"]
    assert main([]) == 0
    assert f"P >= {best.threshold:.2f}" in capsys.readouterr().out
