"""The sentiment classifier: load the shipped model once, predict batches of texts.

    clf = SentimentClassifier.load()            # nlp/model/, offline
    clf.predict(["又闪退了，投诉无门", "年化5.68%还算可以"])   # -> [Sentiment(label="negative", ...), ...]

Three classes (negative, neutral, positive). Texts are sorted by length and batched so padding
stays small; a text longer than the model window keeps its head and tail (complaints often end
with the point); empty or whitespace-only text is `neutral` with score 1.0 without running the
model. The model directory is a plain `transformers` BertForSequenceClassification checkpoint
(config.json, model.safetensors, tokenizer files), loaded with `local_files_only=True`.

Calibration: when `calibration.json` lies beside the model (written by `nlp/training/calibrate.py`), the
logits are divided by its `temperature` and its per-class `bias` is added before the softmax, so
scores are calibrated probabilities and the label is the calibrated argmax. No file = identity; a
malformed file is a `ModelError` naming it.

Int8 on the CPU (`quantize`, default on for the CPU, never on CUDA): the encoder's Linear layers run
as int8 matmuls (`torch._int_mm`) with per-output-channel weight scales and per-token activation
scales, so a token's result never depends on its batch-mates (stock `quantize_dynamic` uses one
activation scale per batch, which breaks batch/single agreement). To keep the remaining fp32
kernels bit-identical between a batch and a single text, the quantized path batches only texts of
the same token length (no padding).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from core.record import SENTIMENT_LABELS, Sentiment
from nlp.errors import ModelError

log = logging.getLogger(__name__)
DEFAULT_PATH = Path(__file__).resolve().parent / "model"
MAX_LENGTH = 128
CALIBRATION_FILE = "calibration.json"


def resolve_device(device: str | None) -> torch.device:
    """None means CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"[nlp] device {device!r}: {exc}") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"[nlp] device {device!r}: this torch build or machine has no CUDA; "
                         f"use device = \"cpu\"")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"[nlp] device {device!r}: MPS is not available here; use device = \"cpu\"")
    return chosen


def head_tail(ids: list[int], keep: int) -> list[int]:
    """Keep the first and last pieces of an over-long text (head gets the extra one)."""
    if len(ids) <= keep:
        return ids
    head = (keep + 1) // 2
    return ids[:head] + ids[len(ids) - (keep - head):]


@dataclass(frozen=True)
class Calibration:
    """Calibrated logits = logits / temperature + bias (bias in SENTIMENT_LABELS order)."""

    temperature: float = 1.0
    bias: tuple[float, ...] = (0.0,) * len(SENTIMENT_LABELS)
    name: str = ""

    @classmethod
    def read(cls, path: Path) -> Calibration | None:
        """The calibration stored at `path`; None when there is no file."""
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            temperature = float(data["temperature"])
            bias_map = data.get("bias", {})
            if not isinstance(bias_map, dict) or set(bias_map) - set(SENTIMENT_LABELS):
                raise ValueError(f"bias must map labels {list(SENTIMENT_LABELS)} to numbers")
            bias = tuple(float(bias_map.get(label, 0.0)) for label in SENTIMENT_LABELS)
            name = str(data.get("name", ""))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ModelError(f"malformed calibration file {path}: {exc!r}") from exc
        if not (math.isfinite(temperature) and temperature > 0) or not all(map(math.isfinite, bias)):
            raise ModelError(f"malformed calibration file {path}: temperature must be > 0 and finite, "
                             f"biases finite (got {temperature}, {bias})")
        return cls(temperature, bias, name)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature + torch.tensor(self.bias, dtype=logits.dtype)


class Int8Linear(torch.nn.Module):
    """A Linear as an int8 matmul: symmetric per-output-channel weights, per-token activations."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("weight_q", torch.round(w / scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros(w.shape[0])
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
        q = torch.round(rows / scale).to(torch.int8)
        y = torch._int_mm(q, self.weight_q).float() * (scale * self.weight_scale) + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def quantize_int8(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every nn.Linear under `module` by an Int8Linear (in place; CPU only)."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            quantize_int8(child)
    return module


class SentimentClassifier:
    """A loaded model; keep the instance (loading costs far more than a batch)."""

    def __init__(self, model: torch.nn.Module, tokenizer, version: str, device: torch.device,
                 max_length: int = MAX_LENGTH, calibration: Calibration | None = None,
                 quantized: bool = False) -> None:
        self.model = model.eval().to(device)
        self.calibration = calibration
        self.quantized = quantized
        self.tokenizer = tokenizer
        self.version = version
        self.device = device
        self.max_length = max_length
        self._backend = tokenizer.backend_tokenizer
        self._cls = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self._sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        self._pad = tokenizer.pad_token_id
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self._order = [SENTIMENT_LABELS.index(id2label[i]) for i in range(len(id2label))]

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | None = None,
             quantize: bool | None = None) -> SentimentClassifier:
        """Load the model at `path` (default nlp/model/) with its calibration.json if present.

        `quantize`: int8 encoder (CPU only); None = on for the CPU, off elsewhere."""
        path = Path(path) if path else DEFAULT_PATH
        if quantize and device is not None and str(device).split(":")[0] != "cpu":
            raise ModelError(f"int8 quantization runs on the CPU only, not on {device}")
        dev = resolve_device(device)
        if quantize is None:
            quantize = dev.type == "cpu"
        if quantize and dev.type != "cpu":
            raise ModelError(f"int8 quantization runs on the CPU only, not on {dev}")
        if not (path / "config.json").exists():
            raise ModelError(f"no sentiment model at {path} (expected config.json; run `make model`)")
        hf_logging.disable_progress_bar()  # a load bar on every CLI call is noise
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                path, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the sentiment model at {path}: {exc}") from exc
        labels = set(model.config.id2label.values())
        if labels != set(SENTIMENT_LABELS):
            raise ModelError(f"{path}: model labels {sorted(labels)} are not {list(SENTIMENT_LABELS)}")
        version = getattr(model.config, "voc_model_version", None) or path.name
        calibration = Calibration.read(path / CALIBRATION_FILE)
        if calibration is not None and calibration.name:
            version += f"+{calibration.name}"
        if quantize:
            quantize_int8(model.bert.encoder if hasattr(model, "bert") else model)
            version += "+int8"
        log.info("sentiment model=%s device=%s", version, dev)
        return cls(model, tokenizer, version, dev, calibration=calibration, quantized=quantize)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with the special tokens, head+tail-truncated to the model window."""
        keep = self.max_length - 2
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [[self._cls, *head_tail(e.ids, keep), self._sep] for e in encodings]

    def _batches(self, ids: list[list[int]], batch_size: int) -> list[list[int]]:
        """Index batches sorted by length; the quantized path never mixes lengths (no padding)."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        if not self.quantized:
            return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        batches: list[list[int]] = []
        for i in order:
            if batches and len(batches[-1]) < batch_size and len(ids[batches[-1][0]]) == len(ids[i]):
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """[n, 3] raw (uncalibrated) logits in SENTIMENT_LABELS order (texts must be non-empty)."""
        ids = self.encode(texts)
        out = torch.empty(len(ids), len(SENTIMENT_LABELS))
        with torch.inference_mode():
            for chunk in self._batches(ids, batch_size):
                width = max(len(ids[i]) for i in chunk)
                input_ids = torch.full((len(chunk), width), self._pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                    mask[row, :len(ids[i])] = 1
                logits = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=mask.to(self.device)).logits.float().cpu()
                out[chunk] = logits[:, self._order]
        return out

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """[n, 3] probabilities in SENTIMENT_LABELS order, calibrated when the model has a calibration."""
        logits = self.logits(texts, batch_size)
        if self.calibration is not None:
            logits = self.calibration.apply(logits)
        return torch.softmax(logits, dim=-1)

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Sentiment]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not a str; wrap it in a list")
        texts = list(texts)
        results: list[Sentiment | None] = [None] * len(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
        todo = [i for i, t in enumerate(texts) if t.strip()]
        empty = {"negative": 0.0, "neutral": 1.0, "positive": 0.0}
        probs = self.probabilities([texts[i] for i in todo], batch_size) if todo else None
        for row, i in enumerate(todo):
            p = probs[row].tolist()
            scores = dict(zip(SENTIMENT_LABELS, p, strict=True))
            results[i] = Sentiment(max(scores, key=scores.__getitem__), scores, self.version)
        return [r if r is not None else Sentiment("neutral", empty, self.version) for r in results]


def build_tiny_model(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny randomly initialised model + tokenizer (one char a piece) for fast unit tests.

    Its predictions are meaningless; it exercises the same loading and batching code."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(chr(c), -8.0) for c in range(0x21, 0x7F)]
    pieces += [(chr(c), -10.0) for c in range(0x3000, 0x3040)]
    pieces += [(chr(c), -10.0) for c in range(0x4E00, 0x9FA6)]
    pieces += [(chr(c), -10.0) for c in range(0xFF01, 0xFF5F)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   cls_token="<s>", sep_token="</s>", pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_LENGTH, pad_token_id=1,
                        id2label=dict(enumerate(SENTIMENT_LABELS)),
                        label2id={v: i for i, v in enumerate(SENTIMENT_LABELS)})
    config.voc_model_version = "tiny-random-test"
    BertForSequenceClassification(config).save_pretrained(path)
    return path
