"""A 12-layer teacher, distilled into the shipped 3-layer student.

    python -m nlp.training.distil [--data ../shared/data/sentiment] [--student nlp/model]
                                  [--out var/train/distilled] [--work var/train] [--threads 2]
                                  [--teacher-replay S] [--replay S] [--replay-taught]
                                  [--student-epochs N] [--device cuda]
    python -m nlp.training.distil --rescore DIR --out DIR2     # re-score a GPU run's export here

Measured on 2026-12-03 on two CPU cores and on 2026-12-04 on one H200 (`nlp/training/distil_gpu.sh`;
MODEL_CARD.md, "What was tried", has every figure). On the GPU a teacher trains in 33-60 s (829-972
sequences/s, against 25/s on the CPU) and a student in 37-79 s, so the recipe can afford teachers
that learn every corpus and students that learn the teacher's soft labels on the replayed corpora
too (`--replay-taught`). The students lift bank-dev macro-F1 from 0.613 to 0.65-0.66 and negative
precision from 0.43 to 0.50; through `bench/alerts_real.py` none is a better alert model than v3
yet (see the card). `--out nlp/model` (or `--rescore` of a GPU export) followed by
`python -m nlp.training.calibrate --write` ships a result.

1. **Teacher.** The whole multilingual-e5-small (12 layers, full 1,536-neuron feed-forward blocks,
   the student's pruned vocabulary; `train.prepare` with `layers=12`), fine-tuned on the bank
   training split: `--teacher-epochs` epochs, a square-root class-balanced cross-entropy, lr
   `--teacher-lr`, warm-up 10 %, linear decay. With `--teacher-replay S` it also learns S x
   FOCUS_MIX of every other corpus on its gold labels (drawn once, spread over the epochs, weight 1):
   a teacher that knows general Chinese sentiment as well as bank talk. Saved to `<work>/teacher`
   (`<work>/teacher-replay<S>`) and reused when present (`--retrain-teacher` to redo it). About 4
   minutes on two CPU cores for the bank alone, 18 with `--teacher-replay 0.3` (18,256 more
   examples) and 33 s on an H200 (60 s with `--teacher-replay 1.0`); on CUDA it runs in fp32.
   The teacher is then scored on every dev set (`teacher_report`, into the metrics).
2. **Soft labels.** The teacher's logits for the transfer set: the bank training split and
   `--synthetic` LLM-written bank reviews (bank_synthetic_gpt), and with `--replay-taught` the
   replayed texts of step 3 as well; cached in `<work>`.
3. **Student.** From `--student` (the shipped weights), `--student-epochs` passes (each in its own
   order) over the bank split x `--bank-repeats` and the synthetic reviews, with `--alpha` x
   KL(teacher || student) at temperature `--temperature` (x T^2) + (1 - alpha) x the balanced
   cross-entropy on the bank gold labels (the synthetic reviews learn from the teacher only), plus
   a `--replay` x FOCUS_MIX replay of every other corpus (0.12 by default) on its gold labels, so
   the other sources keep what stages 1-3 taught; with `--replay-taught` the replay learns alpha x
   the teacher + (1 - alpha) x its gold labels. lr `--lr`.
4. **Export** through `train.export` (every dev set scored through `SentimentClassifier`; on the
   device it trained on, so a GPU run is re-scored on the CPU int8 path with `--rescore`); then
   `python -m nlp.training.calibrate --model DIR --write` fits the temperature and the negative bias.
   `nlp.training.carry` packs the 12-layer start (17.6 MB) for a machine without internet.

The dev sets are never trained on: the teacher sees only the bank training split, and the transfer
set is training data (corpora.load's split, deduplicated against every dev text).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import BertForSequenceClassification

from core.record import SENTIMENT_LABELS
from nlp.sentiment import resolve_device
from nlp.training import corpora
from nlp.training.train import (
    ROOT,
    balanced_weights,
    collate,
    copy_tokenizer,
    encode,
    export,
    length_batches,
    optimizer_step,
    prepare,
    schedule,
    start_run,
)

log = logging.getLogger("nlp.training.distil")
LABELS = len(SENTIMENT_LABELS)


def teacher_dir(args: argparse.Namespace) -> Path:
    """Where the teacher of these arguments lives: `<work>/teacher`, or `teacher-replay<share>`."""
    return args.work / ("teacher" if not args.teacher_replay else f"teacher-replay{args.teacher_replay:g}")


def train_teacher(args: argparse.Namespace, device: torch.device) -> tuple[Path, dict[str, Any]]:
    """Fine-tune the 12-layer encoder on the bank training split (plus, with `--teacher-replay`, a
    share of every other corpus on its gold labels); returns its directory and stats."""
    out = teacher_dir(args)
    if (out / "config.json").exists() and not args.retrain_teacher:
        log.info("teacher: reusing %s", out)
        return out, {"reused": str(out)}
    recipe = SimpleNamespace(data=args.data, seed=args.seed, work=args.work / "teacher-init", layers=12,
                             ffn=1536, version="voc-teacher-e5s12")
    init, train, _dev = prepare(recipe)
    tok = Tokenizer.from_file(str(init / "tokenizer.json"))
    model = BertForSequenceClassification.from_pretrained(init, local_files_only=True, dtype=torch.float32)
    model.to(device).train()
    bank = train["bank"]
    class_weight = balanced_weights(bank)
    epochs = []
    for k in range(math.ceil(args.teacher_epochs)):
        rows = [(e.text, e.label, class_weight[e.label]) for e in bank]
        if k + 1 > args.teacher_epochs:
            rows = random.Random(args.seed + 11 + k).sample(rows, int(len(rows) * (args.teacher_epochs - k)))
        epochs.append(rows)
    rng = random.Random(args.seed + 17)
    replay = [(e.text, e.label, 1.0) for e in replay_rows(train, args.teacher_replay, rng)]
    for k, chunk in enumerate(epochs):  # the replay spread over the epochs, drawn once
        chunk += replay[k::len(epochs)]
    texts = [r for rows in epochs for r in rows]
    ids, labels = encode(tok, [r[0] for r in texts]), [r[1] for r in texts]
    weight = torch.tensor([r[2] for r in texts])
    plan: list[list[int]] = []
    offset = 0
    for k, rows in enumerate(epochs):  # batches within each epoch, epochs in order
        local = length_batches(ids[offset:offset + len(rows)], args.batch_size,
                               random.Random(args.seed + 11 + k))
        plan += [[offset + i for i in b] for b in local]
        offset += len(rows)
    optim = torch.optim.AdamW(model.parameters(), lr=args.teacher_lr, weight_decay=0.01)
    sched = schedule(optim, len(plan), len(plan) // 10)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    for step, batch in enumerate(plan, 1):
        inputs = collate(ids, labels, batch, device)
        gold = inputs.pop("labels")
        w = weight[batch].to(device)  # a weighted mean, as cross_entropy(weight=...) takes it
        loss = (F.cross_entropy(model(**inputs).logits, gold, reduction="none") * w).sum() / w.sum()
        optimizer_step(model, optim, sched, loss)
        if step % 50 == 0 or step == len(plan):
            log.info("teacher step=%d/%d loss=%.4f %.0fs", step, len(plan), loss.item(),
                     time.monotonic() - started)
    seconds = time.monotonic() - started
    (out / "dev_report.json").unlink(missing_ok=True)  # a retrained teacher is scored anew
    model.eval().save_pretrained(out)
    copy_tokenizer(init, out)
    stats = {"device": device_name(device), "seconds": round(seconds), "steps": len(plan),
             "examples_per_s": round(len(plan) * args.batch_size / seconds, 1),
             "epochs": args.teacher_epochs, "lr": args.teacher_lr, "replay": args.teacher_replay,
             "replay_examples": len(replay)}
    log.info("teacher: %s", stats)
    return out, stats


def device_name(device: torch.device) -> str:
    """The device a figure was measured on, as the card records it ("cuda (NVIDIA H200)", "cpu")."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


def teacher_report(teacher: Path, dev: dict[str, list[corpora.Example]],
                   device: torch.device) -> dict[str, Any]:
    """The teacher on every dev set, as `model_card.evaluate` scores a student (argmax, no
    calibration): macro-F1 per set and the bank negative class. Kept beside the teacher in
    `dev_report.json`, so a reused teacher is not scored again."""
    from nlp.sentiment import SentimentClassifier
    from nlp.training import model_card

    kept = teacher / "dev_report.json"
    if kept.exists():
        return json.loads(kept.read_text(encoding="utf-8"))
    report = model_card.evaluate(SentimentClassifier.load(teacher, device=str(device)), dev)
    c = report["sets"]["bank"]["confusion"]
    found, predicted, actual = c[0][0], sum(row[0] for row in c), sum(c[0])
    out = {"macro_f1": {k: round(v["macro_f1"], 4) for k, v in report["sets"].items()},
           "bank_negative": {"recall": round(found / actual, 4),
                             "precision": round(found / max(predicted, 1), 4)}}
    kept.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def replay_rows(train: dict[str, list[corpora.Example]], share: float,
                rng: random.Random) -> list[corpora.Example]:
    """`share` x FOCUS_MIX of every corpus but the bank split and the synthetic reviews."""
    if not share:
        return []
    rows: list[corpora.Example] = []
    for name, examples in train.items():
        if name not in ("bank", "bank_synthetic_gpt"):
            want = round(len(examples) * corpora.FOCUS_MIX.get(name, 1.0) * share)
            rows += rng.sample(examples, min(want, len(examples)))  # a share above 1 takes it all
    return rows


@torch.no_grad()
def logits_of(model_dir: Path, texts: list[str], device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """A model directory's raw logits for `texts` (length-sorted batches, fp32)."""
    model = BertForSequenceClassification.from_pretrained(model_dir, local_files_only=True,
                                                          dtype=torch.float32)
    model.to(device).eval()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = encode(tok, texts)
    out = torch.zeros(len(texts), LABELS)
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    for j in range(0, len(order), batch_size):
        batch = order[j:j + batch_size]
        inputs = collate(ids, [0] * len(ids), batch, device)
        inputs.pop("labels")
        out[batch] = model(**inputs).logits.float().cpu()
    return out


def distil(args: argparse.Namespace, device: torch.device, teacher: Path,
           train: dict[str, list[corpora.Example]]) -> tuple[BertForSequenceClassification, dict[str, Any]]:
    rng = random.Random(args.seed + 1203)
    bank = train["bank"]
    synthetic = rng.sample(train["bank_synthetic_gpt"], min(args.synthetic, len(train["bank_synthetic_gpt"])))
    replay = replay_rows(train, args.replay, rng)
    transfer = bank + synthetic + (replay if args.replay_taught else [])
    tag = f"replay{args.teacher_replay:g}-" if args.teacher_replay else ""  # one cache per teacher
    taught_tag = f"-taught{len(replay)}" if args.replay_taught else ""
    cache = args.work / f"teacher-logits-{tag}{len(bank)}-{len(synthetic)}{taught_tag}.pt"
    logits_stats: dict[str, Any] = {}
    if cache.exists() and not args.retrain_teacher:
        teacher_logits = torch.load(cache)
    else:
        began = time.monotonic()
        teacher_logits = logits_of(teacher, [e.text for e in transfer], device)
        took = time.monotonic() - began
        logits_stats = {"texts": len(transfer), "seconds": round(took, 1),
                        "texts_per_s": round(len(transfer) / max(took, 1e-9))}
        log.info("teacher logits for %d texts in %.0fs", len(transfer), took)
        torch.save(teacher_logits, cache)
    soft = torch.softmax(teacher_logits / args.temperature, -1)
    class_weight = balanced_weights(bank)
    # (text, gold label, row in `soft` or -1, weight of the gold cross-entropy)
    rows = [(e.text, e.label, i, class_weight[e.label]) for i, e in enumerate(bank)] * args.bank_repeats
    rows += [(e.text, e.label, len(bank) + i, 0.0) for i, e in enumerate(synthetic)]
    first_replay = len(bank) + len(synthetic)  # the replay's soft rows, when the teacher teaches it
    rows += [(e.text, e.label, first_replay + i if args.replay_taught else -1, 1.0)
             for i, e in enumerate(replay)]
    one_pass = rows
    rows = []
    for _ in range(args.student_epochs):  # each pass in its own order
        chunk = list(one_pass)
        rng.shuffle(chunk)
        rows += chunk
    model = BertForSequenceClassification.from_pretrained(args.student, local_files_only=True,
                                                          dtype=torch.float32)
    model.to(device)
    tok = Tokenizer.from_file(str(args.student / "tokenizer.json"))
    ids, labels = encode(tok, [r[0] for r in rows]), [r[1] for r in rows]
    soft_row = torch.tensor([r[2] for r in rows])
    ce_weight = torch.tensor([r[3] for r in rows])
    batches = length_batches(ids, args.batch_size, random.Random(5))
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = schedule(optim, len(batches), len(batches) // 20)
    torch.manual_seed(args.seed + 5)
    model.train()
    t2 = args.temperature ** 2
    began = time.monotonic()
    for step, batch in enumerate(batches, 1):
        inputs = collate(ids, labels, batch, device)
        gold = inputs.pop("labels")
        logits = model(**inputs).logits
        ce = F.cross_entropy(logits, gold, reduction="none") * ce_weight[batch].to(device)
        taught = soft_row[batch] >= 0
        kd = torch.zeros(len(batch), device=device)
        if taught.any():
            target = soft[soft_row[batch][taught]].to(device)
            kd[taught.to(device)] = F.kl_div(F.log_softmax(logits[taught.to(device)] / args.temperature, -1),
                                             target, reduction="none").sum(-1) * t2
        alpha = torch.where(taught, args.alpha, 0.0).to(device)
        loss = ((1 - alpha) * ce + alpha * kd).mean()
        optimizer_step(model, optim, sched, loss)
        if step % 100 == 0 or step == len(batches):
            log.info("distil step=%d/%d loss=%.4f", step, len(batches), loss.item())
    seconds = time.monotonic() - began
    stats = {"examples": len(rows), "steps": len(batches), "bank_repeats": args.bank_repeats,
             "synthetic": len(synthetic), "alpha": args.alpha, "temperature": args.temperature,
             "lr": args.lr, "replay": args.replay, "replay_examples": len(replay),
             "replay_taught": args.replay_taught, "student_epochs": args.student_epochs,
             "from": str(args.student), "device": device_name(device), "seconds": round(seconds),
             "examples_per_s": round(len(rows) / max(seconds, 1e-9), 1), "teacher_logits": logits_stats}
    return model, stats


def rescore(args: argparse.Namespace, dev: dict[str, list[corpora.Example]],
            train: dict[str, list[corpora.Example]]) -> None:
    """Re-export `args.rescore` to `args.out`, scored on this machine, with its own records."""
    before = json.loads((args.rescore / "metrics.json").read_text(encoding="utf-8"))
    model = BertForSequenceClassification.from_pretrained(args.rescore, local_files_only=True,
                                                          dtype=torch.float32)
    history = {k: v for k, v in before.items() if k.startswith(("stage", "soup"))}
    recipe: dict[str, Any] = {**before.get("args", {}), "out": args.out, "device": args.device,
                              "rescored_from": str(args.rescore)}
    export(model, args.rescore, SimpleNamespace(**recipe), dev, train,
           float(before.get("train_seconds_this_run", 0)), history)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    p.add_argument("--student", type=Path, default=ROOT / "nlp" / "model",
                   help="the student to start from (an exported model directory)")
    p.add_argument("--out", type=Path, default=ROOT / "var" / "train" / "distilled")
    p.add_argument("--work", type=Path, default=ROOT / "var" / "train")
    p.add_argument("--seed", type=int, default=corpora.SEED)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--teacher-epochs", type=float, default=3.0)
    p.add_argument("--teacher-lr", type=float, default=4e-5)
    p.add_argument("--retrain-teacher", action="store_true")
    p.add_argument("--teacher-replay", type=float, default=0.0,
                   help="share of FOCUS_MIX of every other corpus the teacher also learns (0 = bank only)")
    p.add_argument("--synthetic", type=int, default=17000,
                   help="synthetic bank reviews in the transfer set (at most all of them: 16,992)")
    p.add_argument("--bank-repeats", type=int, default=3)
    p.add_argument("--alpha", type=float, default=0.8, help="weight of the teacher's term on taught texts")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--replay", type=float, default=0.12, help="share of FOCUS_MIX replayed per corpus")
    p.add_argument("--replay-taught", action="store_true",
                   help="the teacher also teaches the replayed texts (alpha x its soft labels + the gold)")
    p.add_argument("--student-epochs", type=int, default=1, help="passes over the student's rows")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--version", default="voc-sentiment-zh-e5s3-v4")
    p.add_argument("--rescore", type=Path, default=None,
                   help="train nothing: re-export this exported model directory to --out on this "
                        "machine (its dev figures scored here, e.g. on the CPU int8 path after a GPU "
                        "run), keeping its training records")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    args = p.parse_args(argv)
    start_run(args)
    device = resolve_device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    train, dev = corpora.load(args.data, args.seed)
    if args.rescore:
        rescore(args, dev, train)
        return
    started = time.monotonic()
    teacher, teacher_stats = train_teacher(args, device)
    teacher_stats["dev"] = teacher_report(teacher, dev, device)
    log.info("teacher on dev: %s", teacher_stats["dev"])
    model, stats = distil(args, device, teacher, train)
    model.config.voc_model_version = args.version
    # the card's recipe figures (layers, stage epochs, ...) and the earlier stages' records come
    # from the student's own metrics.json; this stage adds its own
    before = json.loads((args.student / "metrics.json").read_text(encoding="utf-8")) \
        if (args.student / "metrics.json").exists() else {}
    history = {k: v for k, v in before.items() if k.startswith(("stage", "soup"))}
    recipe: dict[str, Any] = {**before.get("args", {}), **{k: str(v) for k, v in vars(args).items()}}
    recipe.update(out=args.out, device=args.device)
    export(model, args.student, SimpleNamespace(**recipe), dev, train,
           time.monotonic() - started, {**history, "stage5_distil": {**stats, "teacher": teacher_stats}})


if __name__ == "__main__":
    main()
