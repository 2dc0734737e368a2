"""Prune the XLM-R SentencePiece vocabulary (250,002 pieces) to what Chinese feedback uses.

The pretrained embedding alone is ~380 MB in fp32; the corpora use ~20,000 pieces. Kept: the
special tokens, every piece the training texts produce, and every single-CJK-character piece (so an
unseen character still has its own row instead of `<unk>`). The result is a new Unigram
`tokenizer.json` whose ids are 0..n-1 in the order of `kept`; segmentation of text made of kept
pieces is unchanged because piece scores are carried over.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def _is_cjk_char(piece: str) -> bool:
    core = piece.lstrip("\u2581")
    return len(core) == 1 and "\u4e00" <= core <= "\u9fff"


def kept_piece_ids(tokenizer_json: Path, texts: Iterable[str]) -> list[int]:
    """Old ids to keep, sorted (specials first by construction: ids 0-3)."""
    tok = Tokenizer.from_file(str(tokenizer_json))
    used: set[int] = set(range(len(SPECIALS)))
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == 4096:
            for enc in tok.encode_batch(batch):
                used.update(enc.ids)
            batch = []
    for enc in tok.encode_batch(batch):
        used.update(enc.ids)
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    used.update(i for i, (piece, _score) in enumerate(vocab) if _is_cjk_char(piece))
    used.discard(250001)  # <mask>: not needed for classification
    return sorted(used)


def write_pruned_tokenizer(tokenizer_json: Path, kept: list[int], out: Path) -> None:
    """Write a tokenizer.json over `kept` pieces (new id = position in `kept`)."""
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    new = copy.deepcopy(spec)
    new["model"]["vocab"] = [vocab[i] for i in kept]
    new_id = {old: i for i, old in enumerate(kept)}
    new["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    new["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in spec["added_tokens"] if t["id"] in new_id]
    post = new.get("post_processor") or {}
    for token in (post.get("special_tokens") or {}).values():
        token["ids"] = [new_id[i] for i in token["ids"]]
    new["truncation"] = None
    new["padding"] = None
    out.write_text(json.dumps(new, ensure_ascii=False), encoding="utf-8")
