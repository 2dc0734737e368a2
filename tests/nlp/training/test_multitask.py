"""Stage 4's second task, the bank set's span tags (nlp/training/multitask.py), on a tiny random
model: characters become piece tags through the tokenizer's offsets, aligned with `train.encode`,
and a stage-4 run with the task trains the encoder and still exports a plain classifier."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch
from tokenizers import Tokenizer
from transformers import BertForSequenceClassification

from nlp.sentiment import MAX_LENGTH, build_tiny_model
from nlp.training import multitask
from nlp.training.corpora import Example
from nlp.training.train import bank_stage, encode

TEXT = "信用卡额度太低了"
BIO = "B-PRODUCT I-PRODUCT I-PRODUCT O O B-COMMENTS_ADJ I-COMMENTS_ADJ O".split()


def test_a_piece_takes_the_span_of_its_first_tagged_character():
    # pieces: 信用 | 卡额 | 度太 | 低 | 了 (offsets by character)
    offsets = [(0, 2), (2, 4), (4, 6), (6, 7), (7, 8)]
    got = [multitask.TAGS[t] for t in multitask.piece_tags(offsets, BIO)]
    assert got == ["B-PRODUCT", "I-PRODUCT", "B-COMMENTS_ADJ", "I-COMMENTS_ADJ", "O"]


def test_tags_line_up_with_the_encoded_pieces_even_when_a_long_text_is_cut(tmp_path):
    tok = Tokenizer.from_file(str(build_tiny_model(tmp_path / "tiny") / "tokenizer.json"))
    long = TEXT * 40  # over MAX_LENGTH pieces: head and tail kept, as `encode` keeps them
    bio = {TEXT: BIO, long: BIO * 40}
    texts = [TEXT, long, "没有标注的句子"]
    tags, ids = multitask.encode_tags(tok, texts, bio), encode(tok, texts)
    assert [len(t) for t in tags] == [len(i) for i in ids] and len(ids[1]) == MAX_LENGTH
    assert tags[0][0] == tags[0][-1] == multitask.IGNORE  # [CLS], [SEP]
    assert multitask.TAGS.index("B-PRODUCT") in tags[0]
    assert set(tags[2]) == {multitask.IGNORE}  # untagged text: nothing to learn from


def test_a_batch_without_tags_adds_no_loss():
    head = multitask.TagHead(8)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    none = torch.full((2, 5), multitask.IGNORE)
    assert head.loss(hidden, none).item() == 0.0
    some = none.clone()
    some[0, 1] = 1
    assert head.loss(hidden, some).item() > 0.0


def test_stage4_with_span_tags_trains_and_exports_a_plain_classifier(tmp_path):
    path = build_tiny_model(tmp_path / "tiny")
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"text": f"{TEXT}{i}", "label": "negative", "bio": " ".join(BIO + ["O"] * len(str(i)))}
            for i in range(20)]
    (data / "bank_bdci2021.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                                              encoding="utf-8")
    train = {"bank": [Example(r["text"], 0, "bank") for r in rows]}
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    model = BertForSequenceClassification.from_pretrained(path, local_files_only=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = SimpleNamespace(batch_size=8, stage4_lr=1e-3, stage4_bio=1.0, data=data, seed=1)
    report = bank_stage(model, tok, train, args, "cpu", seed=3)
    assert report["bio_weight"] == 1.0 and report["steps"] > 0
    after = model.state_dict()
    assert set(after) == set(before)  # the head is not part of the exported model
    # the same seeded run without the span task ends elsewhere: the tags moved the encoder
    plain = BertForSequenceClassification.from_pretrained(path, local_files_only=True)
    bank_stage(plain, tok, train, SimpleNamespace(**{**vars(args), "stage4_bio": 0.0}), "cpu", seed=3)
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(plain.state_dict()[layer], after[layer])
    assert not torch.equal(before[layer], after[layer])
