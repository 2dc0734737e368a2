"""Precision of `emerging_term` on real text: the terms it reports, judged against a hand-made list.

    nice -n 10 .venv/bin/python bench/emerging_terms.py [--tiers small,mid,weibo] [--labels gold|model]
                                                        [--old] [--json OUT]

The streams are those of `bench/alerts_real.py` (its `Builder`, `plan` and check times, reused):
real labelled dev texts from `../shared/data/sentiment` — bank forum comments, and Weibo and
stock-forum texts as the other sources' background — four weeks per volume tier with its bursts of
real card complaints, its climb and its viral post, through the real pipeline (the shipped taxonomy,
dedup, a real SQLite store). Beside them, each tier gets the incidents this rule is for: `ISSUES`,
bursts of real bank comments (dev and train split) that share one specific word, such as 协商 or
注销, whose texts are kept out of that tier's background.

The `emerging_term` rule of the shipped `settings.toml` (wired as `voc` wires it: our bank's names
ignored) is evaluated at every check time; every distinct term it names in a tier counts once.
Each is looked up in `bench/data/emerging_terms_labels.tsv` (term, label, note; labelled by hand):

    issue     names a specific new complaint (a word of a planted issue, a phrase of a real one)
    generic   a word of any complaint (失败, 问题, 额度 …): says something is wrong, not what
    fragment  part of a longer term that is the real name (余额少 for 余额少了), or a term plus noise
    topic     an existing topic's name or keyword (手机银行, 信用卡)
    bank      our bank's or another bank's name

Precision = terms labelled `issue` / terms reported; a term missing from the list counts as not an
issue and is printed, to be labelled. `--old` runs the rule with `drop = []`: the filtering as it was
before the generic / fragment / known-name filters, on the same streams; what changed beside them
(names up to 16 characters, 但 ends a name, quiet days' tables keep terms seen once) stays, so the
rule as it was is measured by running this script in a checkout of the commit before (e.g.
`git worktree add /tmp/before 38342bd`, with `--data` pointing at the corpora). `--drop generic,known`
measures some of the filters. Sentiment is the gold label by default (`--labels
model`: the shipped model, as in alerts_real.py), so the figure is the rule's, not the classifier's.
Seeded; exits 0 with a message when ../shared is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself: bench/indexer.py must not shadow the package

import alerts_real  # noqa: E402  (bench/alerts_real.py: the streams)
from alerts_real import TIERS, Builder, CachedModel, Gold, Text, Tier  # noqa: E402

from core.settings import load_settings  # noqa: E402
from indexer.sqlite import SqliteStore  # noqa: E402
from nlp.dedup import Deduper  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from nlp.training import corpora  # noqa: E402
from voc.alerting import rules_from_settings  # noqa: E402
from voc.pipeline import Pipeline, load_classifier, load_tagger  # noqa: E402

LABELS_FILE = ROOT / "bench" / "data" / "emerging_terms_labels.tsv"
KINDS = ("issue", "generic", "fragment", "topic", "bank")
FILTERS = ("generic", "fragments", "known")


@dataclass(frozen=True)
class Issue:
    """A planted new issue: `size` real negative comments of `corpus` holding `word`, within `hours`."""

    word: str
    corpus: str
    day: int
    hour: float
    size: int
    hours: float = 1.0


# The bank corpus has ~480 negative comments, too few that share a word no topic has, so most planted
# issues borrow real complaints from other domains (shopping, food delivery, hotel reviews, Weibo
# posts under one hashtag): what the rule sees is real complaint language about one new thing.
# Days 24-27: after alerts_real's incidents (days 15-23) and holiday (7-14).
ISSUES = (Issue("协商", "bank", 24, 10, 12), Issue("快递", "online_shopping_10_cats", 24, 16, 40, 2),
          Issue("死机", "online_shopping_10_cats", 25, 11, 10), Issue("少送", "waimai", 25, 19, 25),
          Issue("隔音", "chnsenticorp_htl_all", 26, 14, 30, 2),
          Issue("发货", "online_shopping_10_cats", 27, 10, 60, 3),
          # Weibo posts that share a hashtag: a long phrase repeated by distinct authors
          Issue("武汉封城", "smp2020", 26, 20, 20, 2), Issue("荆门伤医", "smp2020", 27, 16, 9),
          Issue("恳请安徽政府宣传疫情防范", "smp2020", 27, 20, 20, 2))


def plant(builder: Builder, pools: dict[str, list[corpora.Example]],
          rng: random.Random) -> dict[str, set[str]]:
    """Add the `ISSUES` to the builder's stream, first dropping from its background every text that
    holds a planted word (a new issue is new); returns each issue's record ids. No text serves two
    issues."""
    chosen: dict[str, list[Text]] = {}
    taken: set[str] = set()
    for issue in ISSUES:
        negatives = [Text(e.text, e.label) for e in pools[issue.corpus] if e.label == 0
                     and issue.word in normalize(e.text) and e.text not in taken]
        rng.shuffle(negatives)
        chosen[issue.word] = negatives[:issue.size]
        taken |= {t.text for t in chosen[issue.word]}
    words = [i.word for i in ISSUES]
    builder.stream.records = [r for r in builder.stream.records
                              if not any(w in normalize(r.text) for w in words)]
    out = {}
    for issue in ISSUES:
        before = len(builder.stream.records)
        builder._spread(alerts_real.day(issue.day, issue.hour), issue.hours, chosen[issue.word])
        out[issue.word] = {r.id for r in builder.stream.records[before:]}
    return out


class Dropped(logging.Handler):
    """Sums the rule's `dropped_<why>=N` log fields: how often each filter acted (per check)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        for why, n in re.findall(r"dropped_(\w+)=(\d+)", record.getMessage()):
            self.counts[why] += int(n)


def load_labels(path: Path = LABELS_FILE) -> dict[str, tuple[str, str]]:
    """term -> (label, note); a bad label stops the run naming the line."""
    labels: dict[str, tuple[str, str]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or row[0].startswith("#"):
                continue
            term, label, note = (row + ["", ""])[:3]
            if label not in KINDS:
                raise SystemExit(f"{path}:{n}: label {label!r} is not one of {', '.join(KINDS)}")
            labels[term] = (label, note)
    return labels


def emerging_rule(settings: Any, drop: list[str] | None) -> Any:
    """The shipped emerging_term rule as `voc` builds it, with `drop` set when given."""
    tables = [dict(t) for t in settings.alerts.rules if t.get("type") == "emerging_term"]
    if not tables:
        raise SystemExit("settings.toml has no emerging_term rule")
    if drop is not None:
        tables = [{**t, "drop": drop} for t in tables]
    alerting = settings.alerts.model_copy(update={"rules": tuple(tables[:1])})
    [rule] = rules_from_settings(replace(settings, alerts=alerting))
    return rule


def run_tier(tier: Tier, dev: dict[str, list[corpora.Example]], pools: dict[str, list[corpora.Example]],
             settings: Any, classifier: Any, tagger: Any, rule: Any, seed: int,
             work: Path) -> dict[str, Any]:
    incidents = alerts_real.plan()
    builder = Builder(tier, dev, seed)
    builder.background(incidents)
    builder.incidents(incidents)
    planted = plant(builder, pools, random.Random(seed))
    records = sorted(builder.stream.records, key=lambda r: r.created_at)
    gold = {normalize(t): label for t, label in builder.stream.gold.items()}
    times = sorted({*alerts_real.check_times(incidents),
                    *(alerts_real.day(i.day, i.hour) + k * alerts_real.MIN5
                      for i in ISSUES for k in range(1, int((i.hours + 1) * 12) + 1))})
    path = work / f"{tier.name}.db"
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    store = SqliteStore(path)
    began = time.perf_counter()
    labeller = classifier if classifier is not None else Gold(gold)
    pipe = Pipeline(labeller, tagger, Deduper(window_hours=settings.nlp.dedup_window_hours), store,
                    progress=False, spool_dir=work / "spool")
    pipe.run([alerts_real._clone(r) for r in records])
    print(f"  [{tier.name}] {len(records)} records through the pipeline in "
          f"{time.perf_counter() - began:.0f}s; {len(times)} checks", flush=True)
    reported: dict[str, dict[str, Any]] = {}
    dropped = Dropped()
    logger = logging.getLogger("alerts.rules.emerging_term")
    logger.addHandler(dropped)
    logger.setLevel(logging.INFO)
    for now in times:
        for alert in rule.evaluate(store, now):
            term = alert.details["term"]
            seen = reported.setdefault(term, {"first": now.isoformat(), "alerts": 0, "max_count": 0,
                                              "related": set(), "planted": None,
                                              "share": alert.details["baseline_share"]})
            seen["alerts"] += 1
            seen["max_count"] = max(seen["max_count"], alert.count)
            seen["related"].update(alert.details["related_terms"])
            ids = {r.id for r in alert.samples}
            seen["planted"] = seen["planted"] or next((w for w, got in planted.items() if ids & got), None)
    store.close()
    logger.removeHandler(dropped)
    found = {w: sorted(t for t, s in reported.items() if s["planted"] == w) for w in planted}
    return {"records": len(records), "checks": len(times), "reported": reported, "planted": found,
            "dropped": dict(dropped.counts)}


def score(results: dict[str, dict[str, Any]], labels: dict[str, tuple[str, str]]) -> dict[str, Any]:
    by_label: Counter[str] = Counter()
    unlabelled: list[str] = []
    for result in results.values():
        for term in result["reported"]:
            label = labels.get(term, ("?", ""))[0]
            by_label[label] += 1
            if label == "?":
                unlabelled.append(term)
    reported = sum(by_label.values())
    planted = sum(bool(terms) for r in results.values() for terms in r["planted"].values())
    return {"reported": reported, "issue": by_label["issue"],
            "precision": round(by_label["issue"] / reported, 3) if reported else None,
            "by_label": dict(by_label), "unlabelled": sorted(set(unlabelled)),
            "planted_named": planted, "planted": len(ISSUES) * len(results)}


def print_tier(name: str, result: dict[str, Any], labels: dict[str, tuple[str, str]]) -> None:
    print(f"\n== tier {name}: {result['records']} records, {result['checks']} checks, "
          f"{len(result['reported'])} terms; firing n-grams dropped over all checks: {result['dropped']}")
    for term, seen in sorted(result["reported"].items(), key=lambda kv: kv[1]["first"]):
        label, note = labels.get(term, ("?", "not labelled"))
        planted = f"planted {seen['planted']}" if seen["planted"] else ""
        related = f"related {','.join(sorted(seen['related']))}" if seen["related"] else ""
        print(f"  {seen['first'][5:16]} {term:12} {label:9} x{seen['alerts']:<3} max {seen['max_count']:<3}"
              f" share {seen['share']:.4f} {planted} {related}  {note}")
    for word, terms in result["planted"].items():
        print(f"  planted {word}: {', '.join(terms) or 'not named'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiers", default="small,mid,weibo", help="comma-separated: small, mid, weibo")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sentiment"))
    ap.add_argument("--settings", default=str(ROOT / "settings.toml"))
    ap.add_argument("--labels", choices=("gold", "model"), default="gold",
                    help="sentiment from the gold labels (default) or the shipped model")
    ap.add_argument("--old", action="store_true", help="the filtering as it was: drop = []")
    ap.add_argument("--drop", help=f"comma-separated filters to apply: {', '.join(FILTERS)}")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--json", metavar="OUT", help="write the figures and terms as JSON")
    args = ap.parse_args(argv)
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if not tiers or any(t not in TIERS for t in tiers):
        print(f"error: tiers must be among {', '.join(TIERS)}", file=sys.stderr)
        return 2
    data = Path(args.data)
    if not (data / "bank_bdci2021.jsonl").exists():
        print(f"skipped: no corpora at {data} (../shared/data/sentiment is absent); nothing measured")
        return 0
    drop = [] if args.old else None
    if args.drop is not None:
        drop = [f.strip() for f in args.drop.split(",") if f.strip()]
        if any(f not in FILTERS for f in drop):
            print(f"error: --drop takes {', '.join(FILTERS)}", file=sys.stderr)
            return 2
    began = time.perf_counter()
    settings = load_settings(args.settings, env={})
    labels = load_labels()
    train, dev = corpora.load(data)
    pools = {i.corpus: [*dev.get(i.corpus, []), *train.get(i.corpus, [])] for i in ISSUES}
    classifier = CachedModel(load_classifier(settings)) if args.labels == "model" else None
    tagger = load_tagger(settings)
    rule = emerging_rule(settings, drop)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="emerging_terms-") as tmp:
        for name in tiers:
            seed = args.seed + list(TIERS).index(name)  # as alerts_real.py: the same stream per tier
            results[name] = run_tier(TIERS[name], dev, pools, settings, classifier, tagger, rule, seed,
                                     Path(tmp))
            print_tier(name, results[name], labels)
    summary = score(results, labels)
    mode = "old filtering (drop = [])" if args.old else f"drop = {drop}" if drop is not None else "as shipped"
    print(f"\nemerging_term, {mode}, {args.labels} labels: {summary['issue']}/{summary['reported']} "
          f"terms are issues, precision {summary['precision']}; by label {summary['by_label']}; "
          f"planted issues named {summary['planted_named']}/{summary['planted']}; "
          f"{time.perf_counter() - began:.0f}s")
    if summary["unlabelled"]:
        print(f"not labelled (counted as not issues): {', '.join(summary['unlabelled'])}")
    if args.json:
        doc = {"mode": mode, "labels": args.labels, "seed": args.seed, **summary,
               "tiers": {n: {**r, "reported": {t: {**s, "related": sorted(s["related"]),
                                                   "label": labels.get(t, ("?", ""))[0]}
                                               for t, s in r["reported"].items()}}
                         for n, r in results.items()}}
        Path(args.json).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
