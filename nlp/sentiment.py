"""The sentiment classifier: load the shipped model once, predict batches of texts.

    clf = SentimentClassifier.load()            # nlp/model/, offline
    clf.predict(["又闪退了，投诉无门", "年化5.68%还算可以"])   # -> [Sentiment(label="negative", ...), ...]

Three classes (negative, neutral, positive). Texts are sorted by length and batched so padding
stays small; a text longer than the model window keeps its head and tail (complaints often end
with the point); empty or whitespace-only text is `neutral` with score 1.0 without running the
model. The model directory is a plain `transformers` BertForSequenceClassification checkpoint
(config.json, model.safetensors, tokenizer files), loaded with `local_files_only=True`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from nlp.errors import ModelError
from voc.record import SENTIMENT_LABELS, Sentiment

log = logging.getLogger(__name__)
DEFAULT_PATH = Path(__file__).resolve().parent / "model"
MAX_LENGTH = 128


def resolve_device(device: str | None) -> torch.device:
    """None means CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def head_tail(ids: list[int], keep: int) -> list[int]:
    """Keep the first and last pieces of an over-long text (head gets the extra one)."""
    if len(ids) <= keep:
        return ids
    head = (keep + 1) // 2
    return ids[:head] + ids[len(ids) - (keep - head):]


class SentimentClassifier:
    """A loaded model; keep the instance (loading costs far more than a batch)."""

    def __init__(self, model: torch.nn.Module, tokenizer, version: str, device: torch.device,
                 max_length: int = MAX_LENGTH) -> None:
        self.model = model.eval().to(device)
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
    def load(cls, path: str | Path | None = None, device: str | None = None) -> SentimentClassifier:
        path = Path(path) if path else DEFAULT_PATH
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
        log.info("sentiment model=%s device=%s", version, resolve_device(device))
        return cls(model, tokenizer, version, resolve_device(device))

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with the special tokens, head+tail-truncated to the model window."""
        keep = self.max_length - 2
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [[self._cls, *head_tail(e.ids, keep), self._sep] for e in encodings]

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """[n, 3] probabilities in SENTIMENT_LABELS order (texts must be non-empty)."""
        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = torch.empty(len(ids), len(SENTIMENT_LABELS))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                width = max(len(ids[i]) for i in chunk)
                input_ids = torch.full((len(chunk), width), self._pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                    mask[row, :len(ids[i])] = 1
                logits = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=mask.to(self.device)).logits.float().cpu()
                out[chunk] = torch.softmax(logits, dim=-1)[:, self._order]
        return out

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
