"""`nlp.training.carry`: the pruned e5 start travels in its own Q4_0 bytes and rebuilds the same
encoder on the other side. A tiny fake e5 in the wheel's layout stands in for the 90 MB wheel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from nlp.training import carry, pretrained
from nlp.training.train import build_student

HIDDEN, FFN, VOCAB, LAYERS, POS = 32, 64, 12, 2, 128


def q4(rng: np.random.Generator, count: int) -> bytes:
    """`count` values as Q4_0 blocks: an fp16 scale, then 16 bytes of nibbles."""
    blocks = []
    for _ in range(count // pretrained.QK):
        scale = np.float16(rng.uniform(0.01, 0.1)).tobytes()
        blocks.append(scale + rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
    return b"".join(blocks)


@pytest.fixture
def e5() -> pretrained.E5Weights:
    rng = np.random.default_rng(3)
    shapes: dict[str, tuple[int, int]] = {"emb.word": (1, VOCAB * HIDDEN), "emb.pos": (0, POS * HIDDEN),
                                          "emb.type": (0, 2 * HIDDEN), "emb.ln.w": (0, HIDDEN),
                                          "emb.ln.b": (0, HIDDEN)}
    for layer in range(LAYERS):
        for short in ("q", "k", "v", "ao"):
            shapes[f"l{layer}.{short}.w"] = (1, HIDDEN * HIDDEN)
            shapes[f"l{layer}.{short}.b"] = (0, HIDDEN)
        shapes[f"l{layer}.fi.w"], shapes[f"l{layer}.fi.b"] = (1, FFN * HIDDEN), (0, FFN)
        shapes[f"l{layer}.fo.w"], shapes[f"l{layer}.fo.b"] = (1, HIDDEN * FFN), (0, HIDDEN)
        for ln in ("aln", "oln"):
            shapes[f"l{layer}.{ln}.w"], shapes[f"l{layer}.{ln}.b"] = (0, HIDDEN), (0, HIDDEN)
    parts, tensors, offset = [], {}, 0
    for name, (dtype, count) in shapes.items():
        raw = q4(rng, count) if dtype else rng.normal(0, 0.1, count).astype(np.float32).tobytes()
        tensors[name] = (dtype, count, offset)
        parts.append(raw)
        offset += len(raw)
    return pretrained.E5Weights(HIDDEN, LAYERS, 4, FFN, VOCAB, POS, 2, 1e-12, tensors,
                                memoryview(b"".join(parts)))


def test_a_pruned_pack_reads_back_the_kept_rows_and_every_other_tensor_unchanged(e5, tmp_path):
    kept = [0, 1, 2, 3, 7, 11]
    carry.save(carry.prune(e5, kept), tmp_path / carry.PACKED)
    back = carry.load(tmp_path / carry.PACKED)
    assert back.vocab == len(kept) and back.hidden == HIDDEN and back.eps == e5.eps
    assert np.array_equal(back.tensor("emb.word"), e5.tensor("emb.word", rows=np.array(kept)))
    for name in e5.tensors:
        if name != "emb.word":
            assert np.array_equal(back.tensor(name), e5.tensor(name)), name
    # only what the kept rows need travels: 6 of the 12 embedding rows' blocks
    assert len(back.blob) == len(e5.blob) - (VOCAB - len(kept)) * HIDDEN // pretrained.QK * 18


def test_unpack_rebuilds_the_encoder_prepare_would_have_built(e5, tmp_path):
    kept = [0, 1, 2, 3, 5, 8, 9]
    pack = tmp_path / "pack"
    pack.mkdir()
    carry.save(carry.prune(e5, kept), pack / carry.PACKED)
    (pack / "tokenizer.json").write_text("{}", encoding="utf-8")
    carry.unpack(pack, tmp_path / "work", LAYERS, FFN, "voc-teacher-test")
    rebuilt = BertForSequenceClassification.from_pretrained(tmp_path / "work" / "init", local_files_only=True)
    direct = build_student(e5, kept, LAYERS, FFN, "voc-teacher-test")
    ours, theirs = rebuilt.state_dict(), direct.state_dict()
    encoder = [k for k in theirs if k.startswith("bert.") and "pooler" not in k and "position_ids" not in k]
    assert encoder and all(torch.equal(ours[k], theirs[k]) for k in encoder)
    assert rebuilt.config.num_hidden_layers == LAYERS and rebuilt.config.vocab_size == len(kept)
    assert (tmp_path / "work" / "init" / "tokenizer.json").exists()
    assert not (tmp_path / "work" / "init.tmp").exists()
