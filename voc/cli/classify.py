"""`voc classify`: sentiment, topics, risk and entities for texts, without storing anything.

    voc classify "手机银行转账失败" "服务很好"          a table
    voc classify --input posts.jsonl --output out.jsonl  each line keeps its fields and gains
                                                         sentiment, topics, risk, entities

The models see the normalized text, as in the pipeline; entity offsets point into the text as
given. A JSONL line that is not a JSON object or has no text is reported with its line number
(on stderr) and skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from nlp.normalize import normalize, strip_controls
from voc.cli.common import UsageError, json_flag, lazy, print_json, settings, table
from voc.pipeline import about_banking, load_classifier, load_tagger

CHUNK = 256  # lines classified together when streaming a file



def register(sub: Any) -> None:
    p = sub.add_parser("classify", help="sentiment, topics and risk for texts or a JSONL file",
                       description="Classify texts given as arguments (a table), or every line of "
                                   "a JSONL file (--input/--output, '-' = stdin/stdout).")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", "-i", metavar="FILE", help="JSONL input, each line with a 'text' field")
    p.add_argument("--output", "-o", metavar="FILE", default="-", help="JSONL output (default -)")
    json_flag(p)
    p.set_defaults(handler=lazy("voc.cli.classify", "cmd_classify"))


def annotate(classifier: Any, tagger: Any, texts: Sequence[str], batch_size: int,
             sources: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """{"sentiment", "topics", "risk", "entities"} for each text, in order; a line's `source`
    gives banking context exactly as in the pipeline (`voc.pipeline.about_banking`)."""
    sentiments = classifier.predict([normalize(t) for t in texts], batch_size=batch_size)
    sources = sources if sources is not None else [None] * len(texts)
    tags = [tagger.tag(t, banking=isinstance(src, str) and about_banking(src))
            for t, src in zip(texts, sources, strict=True)]
    return [{"sentiment": s.to_dict(), "topics": list(t.topics), "risk": [dict(r) for r in t.risk],
             "entities": [dict(e) for e in t.entities]} for s, t in zip(sentiments, tags, strict=True)]


def cmd_classify(args: argparse.Namespace) -> int:
    if args.input is None and not args.texts:
        raise UsageError("give texts to classify, or --input FILE.jsonl ('-' for stdin)")
    if args.input is not None and args.texts:
        raise UsageError("give either texts or --input, not both")
    conf = settings()
    classifier, tagger = load_classifier(conf), load_tagger(conf)
    if args.input is None:
        return _texts(args, classifier, tagger, conf.nlp.batch_size)
    return _jsonl(args, classifier, tagger, conf.nlp.batch_size)


def _texts(args: argparse.Namespace, classifier: Any, tagger: Any, batch_size: int) -> int:
    results = annotate(classifier, tagger, args.texts, batch_size)
    if args.json:
        print_json([{"text": t, **r} for t, r in zip(args.texts, results, strict=True)])
        return 0
    rows: list[tuple[str, ...]] = [("label", "neg", "neu", "pos", "topics", "text")]
    for text, result in zip(args.texts, results, strict=True):
        s = result["sentiment"]
        scores = s["scores"]
        topics = ",".join(result["topics"]) or "-"
        risk = " ".join(f"[{r['flag']}]" for r in result["risk"])
        rows.append((s["label"], f"{scores['negative']:.2f}", f"{scores['neutral']:.2f}",
                     f"{scores['positive']:.2f}", topics, f"{strip_controls(text)} {risk}".rstrip()))
    for line in table(rows, align="<>>><<"):  # CJK topics take two columns a character
        print(line)
    print(f"model: {classifier.version}", file=sys.stderr)
    return 0


@contextmanager
def _open(name: str, mode: str) -> Iterator[IO[str]]:
    if name == "-":
        yield sys.stdin if "r" in mode else sys.stdout
        return
    try:
        fh = open(name, mode, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot open {name}: {exc.strerror}") from exc
    with fh:
        yield fh


def _jsonl(args: argparse.Namespace, classifier: Any, tagger: Any, batch_size: int) -> int:
    written = skipped = 0
    with _open(args.input, "r") as src, _open(args.output, "w") as dst:
        pending: list[dict[str, Any]] = []
        for number, line in enumerate(src, start=1):
            if not line.strip():
                continue
            problem, item = _parse_line(line)
            if problem:
                print(f"{args.input}: line {number}: {problem}; skipped", file=sys.stderr)
                skipped += 1
                continue
            pending.append(item)
            if len(pending) >= CHUNK:
                written += _flush(pending, dst, classifier, tagger, batch_size)
        written += _flush(pending, dst, classifier, tagger, batch_size)
    # stdout may carry the JSONL itself, so the summary goes to stderr
    print(f"classified {written} line(s), skipped {skipped} (model {classifier.version})", file=sys.stderr)
    return 1 if skipped else 0


def _parse_line(line: str) -> tuple[str, dict[str, Any]]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})", {}
    if not isinstance(item, dict):
        return "not a JSON object", {}
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no text", {}
    return "", item


def _flush(pending: list[dict[str, Any]], dst: IO[str], classifier: Any, tagger: Any,
           batch_size: int) -> int:
    if not pending:
        return 0
    results = annotate(classifier, tagger, [item["text"] for item in pending], batch_size,
                       [item.get("source") for item in pending])
    for item, result in zip(pending, results, strict=True):
        dst.write(json.dumps({**item, **result}, ensure_ascii=False) + "\n")
    count = len(pending)
    pending.clear()
    return count
