"""The teacher-to-student distillation loop on tiny random models: the student learns the
teacher's soft labels on the texts the teacher labelled (bank and synthetic), gold labels
elsewhere, and the teacher's logits are computed once and cached. `python -m nlp.training.distil`
runs the real thing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification

from nlp.sentiment import build_tiny_model
from nlp.training.corpora import FOCUS_MIX, Example
from nlp.training.distil import distil, logits_of
from nlp.training.train import balanced_weights

BANK = [("又闪退了，投诉无门", 0), ("转账一直失败", 0), ("年化还算可以", 1), ("网点排队一小时", 0),
        ("客服态度很好", 2), ("额度提了，开心", 2), ("今天去办了卡", 1), ("利率没变", 1)]
SYNTHETIC = [("手机银行很卡", 0), ("理财收益不错", 2), ("柜员很耐心", 2), ("信用卡年费太贵", 0)]
OTHER = [("酒店很干净", 2), ("外卖送晚了", 0)]


def sharp(path):
    """A tiny random model is nearly uniform; scaled up, it has opinions for a student to learn."""
    model = BertForSequenceClassification.from_pretrained(path, local_files_only=True)
    with torch.no_grad():
        model.classifier.weight.mul_(200.0)
    model.save_pretrained(path)
    return path


@pytest.fixture
def setup(tmp_path):
    teacher = sharp(build_tiny_model(tmp_path / "teacher", seed=1))
    student = build_tiny_model(tmp_path / "student", seed=2)
    train = {"bank": [Example(t, y, "bank") for t, y in BANK],
             "bank_synthetic_gpt": [Example(t, y, "bank_synthetic_gpt") for t, y in SYNTHETIC],
             "waimai": [Example(t, y, "waimai") for t, y in OTHER] * 10}
    return teacher, student, train


def args(tmp_path, student, **kw):
    base = dict(seed=7, batch_size=4, synthetic=4, bank_repeats=3, alpha=1.0, temperature=2.0, replay=0.5,
                lr=3e-3, student=student, work=tmp_path, retrain_teacher=False,
                teacher_replay=0.0, replay_taught=False, student_epochs=1)
    return SimpleNamespace(**{**base, **kw})


def kl_to_teacher(model, teacher, texts, temperature=2.0):
    soft = torch.softmax(logits_of(teacher, texts, torch.device("cpu")) / temperature, -1)
    with torch.no_grad():
        logits = _logits(model, texts)
    return F.kl_div(F.log_softmax(logits / temperature, -1), soft, reduction="batchmean").item()


def _logits(model, texts):
    from tokenizers import Tokenizer

    from nlp.training.train import collate, encode

    tok = Tokenizer.from_file(str(model.name_or_path) + "/tokenizer.json")
    ids = encode(tok, texts)
    model.eval()
    out = []
    for i in range(len(texts)):
        inputs = collate(ids, [0] * len(ids), [i], "cpu")
        inputs.pop("labels")
        out.append(model(**inputs).logits[0])
    return torch.stack(out)


def test_the_student_moves_toward_the_teacher_on_taught_texts(setup, tmp_path):
    teacher, student, train = setup
    taught = [t for t, _ in BANK + SYNTHETIC]
    before = BertForSequenceClassification.from_pretrained(student, local_files_only=True)
    model, stats = distil(args(tmp_path, student), torch.device("cpu"), teacher, train)
    replayed = round(20 * FOCUS_MIX["waimai"] * 0.5)  # the replay share of the 20 waimai rows
    assert stats["examples"] == 3 * len(BANK) + len(SYNTHETIC) + replayed
    assert stats["steps"] == -(-stats["examples"] // 4)
    model.name_or_path = str(student)
    assert kl_to_teacher(model, teacher, taught) < 0.5 * kl_to_teacher(before, teacher, taught)
    # the teacher's logits were cached for the transfer set, and a second run reads them back: it
    # needs no teacher at all, and trains the same student
    [cache] = tmp_path.glob("teacher-logits-8-4.pt")
    assert torch.load(cache).shape == (len(BANK) + len(SYNTHETIC), 3)
    again, _ = distil(args(tmp_path, student), torch.device("cpu"), tmp_path / "no-teacher", train)
    assert torch.equal(again.classifier.weight, model.classifier.weight)


def test_alpha_zero_is_gold_labels_only(setup, tmp_path):
    """With alpha 0 the teacher has no say: two different teachers give the same student."""
    teacher, student, train = setup
    other = sharp(build_tiny_model(tmp_path / "other", seed=3))
    for name in "abc":
        (tmp_path / name).mkdir()
    first, _ = distil(args(tmp_path / "a", student, alpha=0.0), torch.device("cpu"), teacher, train)
    second, _ = distil(args(tmp_path / "b", student, alpha=0.0), torch.device("cpu"), other, train)
    assert torch.equal(first.classifier.weight, second.classifier.weight)
    third, _ = distil(args(tmp_path / "c", student, alpha=0.5), torch.device("cpu"), other, train)
    assert not torch.equal(first.classifier.weight, third.classifier.weight)


def test_balanced_weights_favour_the_minority_by_the_square_root():
    examples = ([Example("a", 0, "bank")] * 10 + [Example("b", 1, "bank")] * 80
                + [Example("c", 2, "bank")] * 10)
    neg, neutral, pos = balanced_weights(examples)
    assert neg == pytest.approx((100 / 30) ** 0.5) and neutral == pytest.approx((100 / 240) ** 0.5)
    assert pos == neg


def test_the_teacher_replay_draws_every_other_corpus_by_its_focus_share():
    """`--teacher-replay S`: S x FOCUS_MIX of each corpus but the bank split and the synthetic
    reviews, whose texts the teacher learns (bank) or labels (synthetic) anyway; 0 = none."""
    import random

    from nlp.training.distil import replay_rows

    train = {"bank": [Example(t, y, "bank") for t, y in BANK] * 5,
             "bank_synthetic_gpt": [Example(t, y, "bank_synthetic_gpt") for t, y in SYNTHETIC] * 5,
             "waimai": [Example(f"外卖{i}", i % 2 * 2, "waimai") for i in range(200)],
             "smp2020": [Example(f"微博{i}", i % 3, "smp2020") for i in range(100)]}
    rows = replay_rows(train, 0.3, random.Random(1))
    by = {name: [r for r in rows if r.corpus == name] for name in train}
    assert len(by["waimai"]) == round(200 * FOCUS_MIX["waimai"] * 0.3)
    assert len(by["smp2020"]) == round(100 * FOCUS_MIX["smp2020"] * 0.3)
    assert not by["bank"] and not by["bank_synthetic_gpt"]
    assert len({r.text for r in by["waimai"]}) == len(by["waimai"])  # drawn without replacement
    assert replay_rows(train, 0.0, random.Random(1)) == []


def test_a_taught_replay_brings_the_student_to_the_teacher_on_the_other_corpora(setup, tmp_path):
    """`--replay-taught`: the replayed texts get the teacher's soft labels too (their logits join
    the cache), so the student imitates the teacher there as well, not only the gold labels."""
    teacher, student, train = setup
    other = sorted({t for t, _ in OTHER})
    for name in ("gold", "taught"):
        (tmp_path / name).mkdir()
    gold, _ = distil(args(tmp_path / "gold", student), torch.device("cpu"), teacher, train)
    taught, stats = distil(args(tmp_path / "taught", student, replay_taught=True), torch.device("cpu"),
                           teacher, train)
    replayed = round(20 * FOCUS_MIX["waimai"] * 0.5)
    assert stats["replay_examples"] == replayed and stats["replay_taught"] is True
    [cache] = (tmp_path / "taught").glob(f"teacher-logits-8-4-taught{replayed}.pt")
    assert torch.load(cache).shape == (len(BANK) + len(SYNTHETIC) + replayed, 3)
    assert not list((tmp_path / "gold").glob("*taught*"))
    gold.name_or_path = taught.name_or_path = str(student)
    assert kl_to_teacher(taught, teacher, other) < kl_to_teacher(gold, teacher, other)


def test_student_epochs_pass_over_every_row_again(setup, tmp_path):
    teacher, student, train = setup
    _, one = distil(args(tmp_path, student), torch.device("cpu"), teacher, train)
    _, two = distil(args(tmp_path, student, student_epochs=2), torch.device("cpu"), teacher, train)
    assert two["examples"] == 2 * one["examples"] and two["student_epochs"] == 2


def test_a_replay_share_above_one_takes_the_whole_corpus():
    """weibo_senti's FOCUS_MIX is 2.0: `--teacher-replay 1.0` asks for twice the corpus and gets
    all of it once (it raised "Sample larger than population" on the GPU run of 2026-12-04)."""
    import random

    from nlp.training.distil import replay_rows

    train = {"weibo_senti": [Example(f"微博{i}", i % 3, "weibo_senti") for i in range(30)],
             "waimai": [Example(f"外卖{i}", i % 2 * 2, "waimai") for i in range(40)]}
    rows = replay_rows(train, 1.0, random.Random(1))
    weibo = sorted(r.text for r in rows if r.corpus == "weibo_senti")
    assert weibo == sorted(e.text for e in train["weibo_senti"])
    assert len([r for r in rows if r.corpus == "waimai"]) == round(40 * FOCUS_MIX["waimai"])


def test_the_teacher_report_counts_the_bank_negatives_as_the_model_predicts_them(setup):
    from nlp.sentiment import SentimentClassifier
    from nlp.training.distil import teacher_report

    teacher, _, _ = setup
    dev = {"bank": [Example(t, y, "bank") for t, y in BANK + SYNTHETIC],
           "waimai": [Example(t, y, "waimai") for t, y in OTHER]}
    report = teacher_report(teacher, dev, torch.device("cpu"))
    clf = SentimentClassifier.load(teacher, device="cpu")
    labels = [s.label for s in clf.predict([e.text for e in dev["bank"]])]
    gold = [e.label for e in dev["bank"]]
    found = sum(1 for g, p in zip(gold, labels, strict=True) if g == 0 and p == "negative")
    assert report["bank_negative"]["recall"] == round(found / gold.count(0), 4)
    assert report["bank_negative"]["precision"] == round(found / max(labels.count("negative"), 1), 4)
    assert set(report["macro_f1"]) == {"bank", "waimai"}


def test_rescore_re_exports_a_model_scored_here_with_its_training_records(setup, tmp_path):
    """`--rescore DIR`: a GPU run's export is scored again on this machine; the weights and the
    records of how it was trained survive, the dev figures are this machine's."""
    import json

    from nlp.training.distil import rescore

    teacher, student, train = setup
    (student / "metrics.json").write_text(json.dumps({
        "sets": {"bank": {"macro_f1": 0.999}}, "train_seconds_this_run": 150,
        "stage5_distil": {"device": "cuda (NVIDIA H200)", "seconds": 37},
        "args": {"version": "voc-test", "layers": "3"}}), encoding="utf-8")
    dev = {"bank": [Example(t, y, "bank") for t, y in BANK]}
    out = tmp_path / "rescored"
    rescore(SimpleNamespace(rescore=student, out=out, device="cpu"), dev, train)
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["stage5_distil"] == {"device": "cuda (NVIDIA H200)", "seconds": 37}
    assert m["train_seconds_this_run"] == 150 and m["args"]["rescored_from"] == str(student)
    assert m["sets"]["bank"]["n"] == len(BANK) and m["sets"]["bank"]["macro_f1"] != 0.999
    before = BertForSequenceClassification.from_pretrained(student, local_files_only=True).half()
    after = BertForSequenceClassification.from_pretrained(out, local_files_only=True)
    assert torch.equal(before.classifier.weight, after.classifier.weight.half())
    assert (out / "MODEL_CARD.md").exists() and (out / "tokenizer.json").exists()


def test_a_reused_teacher_is_not_scored_again(setup):
    from nlp.training.distil import teacher_report

    teacher, _, _ = setup
    dev = {"bank": [Example(t, y, "bank") for t, y in BANK]}
    first = teacher_report(teacher, dev, torch.device("cpu"))
    assert (teacher / "dev_report.json").exists()
    # a second call reads the file back: a changed file shows it was not scored again
    (teacher / "dev_report.json").write_text('{"macro_f1": {}, "bank_negative": {}}', encoding="utf-8")
    assert teacher_report(teacher, dev, torch.device("cpu")) == {"macro_f1": {}, "bank_negative": {}}
    assert first["macro_f1"]["bank"] >= 0
