"""The sentiment classifier: the shipped model on plain cases, the API contract, odd input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from core.record import SENTIMENT_LABELS
from nlp.errors import ModelError
from nlp.sentiment import CALIBRATION_FILE, DEFAULT_PATH, SentimentClassifier, build_tiny_model, head_tail


@pytest.fixture(scope="module")
def shipped() -> SentimentClassifier:
    # The model ships in the repo; a missing model is a failure, not a skip.
    return SentimentClassifier.load()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SentimentClassifier:
    return SentimentClassifier.load(build_tiny_model(tmp_path_factory.mktemp("tiny")))


ODD_INPUTS = [
    "",
    "   \n\t ",
    "贷" * 5000,
    "😡😡😡👍",
    "手機銀行又閃退了，轉賬一直失敗，客服電話打不通",
    "The app keeps crashing when I try to transfer money.",
    "app闪退 again，transfer失败了!!! 😤 #江南银行#",
    "<span>html</span> &amp; 12345",
]


def test_shipped_model_on_unambiguous_sentences(shipped):
    cases = {
        "服务态度太差了，排了两个小时的队，再也不来这家银行了": "negative",
        "手机银行又闪退了，转账失败，投诉无门": "negative",
        "客服小姐姐非常耐心，帮我解决了问题，非常满意，点赞！": "positive",
        "这个酒店环境很好，干净整洁，早餐丰富，下次还会再来": "positive",
    }
    labels = [s.label for s in shipped.predict(list(cases))]
    assert labels == list(cases.values())


def test_shipped_model_sees_neutral_questions(shipped):
    # Neutral is the majority of real bank feedback; plain questions must not read as negative.
    results = shipped.predict(["请问信用卡的账单日可以修改吗？", "建行的房贷利率现在是多少"])
    assert all(r.label != "negative" for r in results)


def test_contract_shapes(shipped):
    results = shipped.predict(["还可以吧", "太差了"])
    assert len(results) == 2
    for r in results:
        assert r.label in SENTIMENT_LABELS
        assert set(r.scores) == set(SENTIMENT_LABELS)
        assert math.isclose(sum(r.scores.values()), 1.0, abs_tol=1e-5)
        assert r.label == max(r.scores, key=r.scores.__getitem__)
        assert r.model == shipped.version
        with pytest.raises(TypeError):
            r.scores["negative"] = 1.0  # read-only mapping
    assert isinstance(shipped.version, str) and shipped.version


def test_bare_string_is_a_type_error(tiny):
    with pytest.raises(TypeError):
        tiny.predict("一句话")
    with pytest.raises(TypeError):
        tiny.predict(["ok", None])


def test_empty_and_whitespace_are_neutral_without_the_model(tiny):
    results = tiny.predict(["", "  \t\n"])
    for r in results:
        assert r.label == "neutral" and r.scores["neutral"] == 1.0
    assert tiny.predict([]) == []


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_odd_input_does_not_crash(shipped, text):
    [result] = shipped.predict([text])
    assert result.label in SENTIMENT_LABELS


def test_batch_and_single_agree(shipped):
    texts = ODD_INPUTS + ["还行", "利息太高了，被坑了", "今天去网点办了张卡，很快"] * 3
    batch = shipped.predict(texts, batch_size=7)
    for text, b in zip(texts, batch, strict=True):
        [single] = shipped.predict([text])
        assert single.label == b.label
        for label in SENTIMENT_LABELS:
            assert abs(single.scores[label] - b.scores[label]) < 1e-4


def test_deterministic(shipped):
    texts = ["银行卡被冻结了，怎么办", "理财收益还不错"]
    assert [s.scores for s in shipped.predict(texts)] == [s.scores for s in shipped.predict(texts)]


def test_long_text_keeps_head_and_tail():
    ids = list(range(300))
    kept = head_tail(ids, 126)
    assert len(kept) == 126 and kept[0] == 0 and kept[-1] == 299
    assert head_tail([1, 2, 3], 126) == [1, 2, 3]


def test_missing_model_directory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelError, match="no sentiment model"):
        SentimentClassifier.load(tmp_path / "nothing")


def test_shipped_model_is_small_and_offline_loadable():
    size = sum(f.stat().st_size for f in DEFAULT_PATH.iterdir())
    assert size < 60 * 1024 * 1024
    assert (DEFAULT_PATH / "MODEL_CARD.md").exists()
    assert (DEFAULT_PATH / "model.safetensors").exists()


# --- calibration (calibration.json beside the model) and the CPU int8 path -------------------

CAL_TEXTS = ["还行", "利息太高了，被坑了", "今天去网点办了张卡，很快", "app闪退 again!!! 😤"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_cal"), seed=3)


def _with_calibration(src: Path, dst: Path, content: str) -> Path:
    import shutil

    shutil.copytree(src, dst)
    (dst / CALIBRATION_FILE).write_text(content, encoding="utf-8")
    return dst


def test_no_calibration_file_is_identity(tiny_dir):
    clf = SentimentClassifier.load(tiny_dir, quantize=False)
    assert clf.calibration is None
    logits = clf.logits(CAL_TEXTS)
    assert torch.allclose(clf.probabilities(CAL_TEXTS), torch.softmax(logits, dim=-1), atol=1e-6)


def test_temperature_rescales_probabilities(tiny_dir, tmp_path):
    path = _with_calibration(tiny_dir, tmp_path / "m", json.dumps({"temperature": 0.05, "name": "t"}))
    clf = SentimentClassifier.load(path, quantize=False)
    plain = SentimentClassifier.load(tiny_dir, quantize=False)
    logits = plain.logits(CAL_TEXTS)
    probs = clf.probabilities(CAL_TEXTS)
    assert torch.allclose(probs, torch.softmax(logits / 0.05, dim=-1), atol=1e-5)
    # a temperature below 1 sharpens: the top probability rises, the label does not change
    assert (probs.max(dim=1).values > plain.probabilities(CAL_TEXTS).max(dim=1).values).all()
    assert (probs.argmax(dim=1) == logits.argmax(dim=1)).all()
    assert clf.version == plain.version + "+t"


def test_bias_moves_the_label(tiny_dir, tmp_path):
    plain = SentimentClassifier.load(tiny_dir, quantize=False)
    target = next(label for label in SENTIMENT_LABELS
                  if label not in {r.label for r in plain.predict(CAL_TEXTS)})  # a label no text has
    content = json.dumps({"temperature": 1.0, "bias": {target: 5.0}})
    path = _with_calibration(tiny_dir, tmp_path / "m", content)
    results = SentimentClassifier.load(path, quantize=False).predict(CAL_TEXTS)
    assert [r.label for r in results] == [target] * len(CAL_TEXTS)


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"bias": {"negative": 1.0}}),  # no temperature
    json.dumps({"temperature": -1.0}),
    json.dumps({"temperature": 1.0, "bias": {"angry": 1.0}}),
    json.dumps({"temperature": 1.0, "bias": [1, 2, 3]}),
])
def test_malformed_calibration_names_the_file(tiny_dir, tmp_path, content):
    path = _with_calibration(tiny_dir, tmp_path / "m", content)
    with pytest.raises(ModelError, match=CALIBRATION_FILE):
        SentimentClassifier.load(path)


def test_quantized_is_the_cpu_default_and_close_to_fp32(tiny_dir):
    q = SentimentClassifier.load(tiny_dir, device="cpu")
    f = SentimentClassifier.load(tiny_dir, device="cpu", quantize=False)
    assert q.quantized and not f.quantized and q.version.endswith("+int8")
    texts = ODD_INPUTS[2:] + CAL_TEXTS
    zq, zf = q.logits(texts), f.logits(texts)
    assert (zq - zf).abs().max() < 0.05 * zf.abs().max() + 1e-3
    assert (q.probabilities(texts) - f.probabilities(texts)).abs().max() < 0.01


def test_quantized_batch_and_single_agree(tiny_dir):
    q = SentimentClassifier.load(tiny_dir, device="cpu", quantize=True)
    texts = ODD_INPUTS + CAL_TEXTS * 3
    batch = q.predict(texts, batch_size=5)
    for text, b in zip(texts, batch, strict=True):
        [single] = q.predict([text])
        assert single.label == b.label
        for label in SENTIMENT_LABELS:
            assert abs(single.scores[label] - b.scores[label]) < 1e-5


def test_quantization_is_cpu_only(tiny_dir):
    with pytest.raises(ModelError, match="CPU only"):
        SentimentClassifier.load(tiny_dir, device="cuda", quantize=True)


DEV_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentiment"
SHIPPED_BANK_NEGATIVE_RECALL = 82 / 143  # the figure in nlp/model/MODEL_CARD.md (0.573)


@pytest.mark.skipif(not DEV_DATA.exists(), reason="needs ../shared/data/sentiment")
def test_shipped_bank_negative_recall_does_not_regress(shipped):
    # The shipped path on the CPU: int8 + calibration.json. Regression guard: the figure the
    # model card reports for bank dev, minus 0.01.
    from nlp.training import corpora

    assert shipped.quantized and shipped.calibration is not None
    _train, dev = corpora.load(DEV_DATA)
    bank = dev["bank"]
    preds = shipped.predict([e.text for e in bank])
    negatives = [p.label for e, p in zip(bank, preds, strict=True) if e.label == 0]
    recall = negatives.count("negative") / len(negatives)
    assert recall >= SHIPPED_BANK_NEGATIVE_RECALL - 0.01


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA machine can use device cuda")
def test_cuda_on_a_machine_without_it_is_one_clear_error(tiny_dir):
    """Issue 14, item 10: VOC_NLP__DEVICE=cuda on a CPU build printed a 43-line traceback."""
    with pytest.raises(ModelError, match="no CUDA"):
        SentimentClassifier.load(tiny_dir, device="cuda")
    with pytest.raises(ModelError, match="device 'gpu0'"):
        SentimentClassifier.load(tiny_dir, device="gpu0")
