"""Multi-task stage 4: the bank set's opinion/aspect spans taught beside the sentiment label.

bank_bdci2021 marks every character with a BIO tag: the product (PRODUCT), the bank (BANK) and the
opinion words, adjectival (COMMENTS_ADJ: 好难, 太慢) or nominal (COMMENTS_N: 手续费). With
`--stage4-bio W` (`python -m nlp.training.train --stage4-from DIR --stage4-bio W`) stage 4 adds a
token-tagging head on the encoder's last layer and the loss W x cross-entropy of those tags on the
bank examples, so the encoder learns where a bank comment's opinion sits, not only what the whole
comment is. The head is dropped at export: the shipped model stays a plain
`BertForSequenceClassification`, the same size and speed.

Characters become SentencePiece pieces through the tokenizer's offsets: a piece takes the span of
its first tagged character, B- when that character opens the span, else I-; pieces with no tagged
character are O, and [CLS], [SEP] and the other corpora's pieces are ignored (-100).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from nlp.sentiment import MAX_LENGTH, head_tail
from nlp.training import corpora

SPANS = ("PRODUCT", "BANK", "COMMENTS_ADJ", "COMMENTS_N")
TAGS = ("O", *(f"{p}-{s}" for s in SPANS for p in ("B", "I")))
IGNORE = -100


def bank_bio(data_dir: Path, seed: int = corpora.SEED) -> dict[str, list[str]]:
    """Text -> its per-character tags, for the bank training rows whose tags fit their text (4 of
    4,511 rows do not and are left untagged)."""
    train_rows, _ = corpora.bank_rows(data_dir, seed)
    out: dict[str, list[str]] = {}
    for row in train_rows:
        tags = row.get("bio", "").split()
        if len(tags) == len(row["text"]):
            out[row["text"]] = tags
    return out


def piece_tags(offsets: list[tuple[int, int]], chars: list[str]) -> list[int]:
    """One tag id per piece from the characters it covers (module docstring)."""
    out = []
    for start, end in offsets:
        tagged = next((chars[i] for i in range(start, min(end, len(chars))) if chars[i] != "O"), "O")
        out.append(TAGS.index(tagged) if tagged in TAGS else 0)
    return out


def encode_tags(tok: Tokenizer, texts: list[str], bio: dict[str, list[str]]) -> list[list[int]]:
    """Tag ids aligned with `train.encode(tok, texts)`: [CLS] + head/tail-cut pieces + [SEP];
    texts without tags get IGNORE throughout."""
    encs = tok.encode_batch(texts, add_special_tokens=False)
    out = []
    for text, enc in zip(texts, encs, strict=True):
        tags = bio.get(text)
        pieces = head_tail(piece_tags(enc.offsets, tags) if tags else [IGNORE] * len(enc.ids),
                           MAX_LENGTH - 2)
        out.append([IGNORE, *pieces, IGNORE])
    return out


def collate_tags(tags: list[list[int]], batch: list[int], width: int, device) -> torch.Tensor:
    """The batch's tag ids, padded with IGNORE to the width of its input ids (`train.collate`)."""
    out = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, i in enumerate(batch):
        out[row, :len(tags[i])] = torch.tensor(tags[i])
    return out.to(device)


class TagHead(torch.nn.Module):
    """Dropout and one linear layer from the encoder's last hidden states to the span tags."""

    def __init__(self, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        self.linear = torch.nn.Linear(hidden, len(TAGS))

    def loss(self, hidden: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the tagged pieces (0 when the batch has none)."""
        logits = self.linear(self.dropout(hidden))
        if not (tags != IGNORE).any():
            return logits.sum() * 0.0
        return torch.nn.functional.cross_entropy(logits.reshape(-1, len(TAGS)), tags.reshape(-1),
                                                 ignore_index=IGNORE)
