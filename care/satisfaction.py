"""Satisfaction from survey answers: CSAT / NPS by segment with intervals, and what pulls it down.

    table = csat_table(store, by=("branch", "month"), min_n=30)   # counted in the store
    rs = responses(store, since=..., until=...)                   # one Response per survey response
    table = summarize(rs, by=("question",), min_n=30)
    found = drivers(rs)

**The unit is the response** (`core.response`): the store keeps one document per rated response
(`FeedbackStore.put_responses`, and `upsert` of any rated survey answer), so a response counts
once whatever it wrote, two respondents who wrote the same words count twice (survey answers are
never near-duplicate-folded), and a re-import, which writes the same documents again, changes
nothing. A response that wrote no open answer makes no record; the importer hands it over as a
document (`ImportResult.responses`), which `voc import`, the console's upload and the demo keep
(`keep_responses`).

**Where it is counted.** `csat_table` asks the store for counts per group, scale and rating
(`FeedbackStore.rating_counts`: one GROUP BY on SQLite, a composite aggregation on Elasticsearch),
so `voc csat --by branch --by month` over a million responses reads no documents (bench/csat.py).
`summarize` computes the same table from `Response`s in memory (by question, by the segments of a
set a caller picked); both go through `table_from_counts`, one computation.

**Scales.** A response's scale comes from its rating question's wording (`（1-5分）`, `0-10`, …) or,
without one, from the survey's answers (`core.response.scale_of`). CSAT is the top-2-box share on
a 5-point scale, the top 30 % of the range on any other (stated in `Table.rule`); NPS is promoters
(9–10) minus detractors (0–6), only on 0–10.

**Intervals.** Wilson 95 % for CSAT; a seeded percentile bootstrap (2,000 multinomial resamples of
the group's rating counts) for NPS; a normal (Welch) interval for a driver's gap in mean rating. A
group under `min_n` answers is flagged `small` and not ranked.

**Segments.** branch (normalized to the taxonomy's branch entity: `voc.pipeline.branch_namer`),
channel, product, customer type, city (only where `--map city=…` names it: a city column is
personal data by default); plus week and month of its time (display timezone) and, with
`--by question`, the question.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from core.record import Feedback, display_tz, parse_time
from core.response import SEGMENT_KEYS, scale_of, states_scale
from indexer.store import FeedbackStore, Filters, RatingCount

PAGE = 1000
Z95 = 1.959963984540054
BOOTSTRAP = 2000
BY = (*SEGMENT_KEYS, "question", "week", "month")
__all__ = ["BY", "Response", "csat_table", "drivers", "keep_responses", "key_drivers", "responses",
           "scale_of", "summarize", "survey_and_social", "table_from_counts"]


@dataclass
class Response:
    """One survey response: its rating, scale, time, segments, and what its answers mention."""

    key: str
    rating: float
    scale: tuple[int, int]
    created_at: datetime
    question: str = ""
    segments: dict[str, str] = field(default_factory=dict)
    ratings: dict[str, float] = field(default_factory=dict)  # every rating question answered
    record_ids: list[str] = field(default_factory=list)  # its open answers in the store
    topics: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)


def keep_responses(store: FeedbackStore, docs: Sequence[dict[str, Any]]) -> int:
    """Store the importer's response documents (`ImportResult.responses`), so a response that
    wrote no open answer still counts; a re-import writes the same documents again."""
    return store.put_responses(list(docs)) if docs else 0


def _from_doc(doc: dict[str, Any]) -> Response:
    low, high = doc["scale"]
    return Response(key=doc["key"], rating=float(doc["rating"]), scale=(int(low), int(high)),
                    created_at=parse_time(doc["created_at"], naive_tz=None),
                    question=doc.get("question") or "", segments=dict(doc.get("segments") or {}),
                    ratings=dict(doc.get("ratings") or {}))


def _response_key(record: Feedback) -> str | None:
    meta = record.meta or {}
    if meta.get("response"):
        return str(meta["response"])
    survey, line = meta.get("survey_id"), meta.get("line")
    return f"{record.source}:{survey}:{line}" if survey is not None and line is not None else None


def responses(store: FeedbackStore, *, since: datetime | None = None, until: datetime | None = None,
              sources: Sequence[str] = ()) -> list[Response]:
    """Every rated survey response in [since, until), with the topics, risk flags and record ids
    of its open answers, read through the store's interface."""
    filters = Filters(kinds=("survey",), since=since, until=until, sources=tuple(sources))
    found = {doc["key"]: _from_doc(doc) for doc in store.iter_responses(filters)}
    page = 1
    while True:
        hits = store.search("", filters, page=page, size=PAGE)
        for record in hits.items:
            key = _response_key(record)
            response = found.get(key) if key else None
            if response is None:
                continue
            response.record_ids.append(record.id)
            response.topics.update(t.split("/")[0] for t in record.topics)
            response.flags.update(str(x.get("flag")) for x in record.risk if x.get("flag"))
        if len(hits.items) < PAGE:
            break
        page += 1
    return sorted(found.values(), key=lambda r: r.created_at)


def top_box(response: Response) -> bool:
    return is_top(response.rating, response.scale)


def is_top(rating: float, scale: tuple[int, int]) -> bool:
    """Top-2-box on 1–5 (4 and 5); the top 30 % of the range on any other scale."""
    low, high = scale
    if (low, high) == (1, 5):
        return rating >= 4
    return rating >= low + 0.7 * (high - low)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def nps_of(counts: dict[float, int]) -> float:
    """NPS of rating counts on 0–10: promoters (9–10) minus detractors (0–6), in points."""
    n = sum(counts.values())
    if not n:
        return 0.0
    promoters = sum(c for r, c in counts.items() if r >= 9)
    detractors = sum(c for r, c in counts.items() if r <= 6)
    return 100.0 * (promoters - detractors) / n


def nps_interval(counts: dict[float, int], seed: int = 7, rounds: int = BOOTSTRAP) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of NPS: `rounds` multinomial resamples of the group's
    n answers from its own rating counts (seeded; the same as resampling the answers one by one)."""
    import numpy as np

    n = sum(counts.values())
    if not n:
        return 0.0, 0.0
    values = sorted(counts)
    probs = np.array([counts[v] for v in values], dtype=float) / n
    draws = np.random.default_rng(seed).multinomial(n, probs, size=rounds)
    sign = np.array([1.0 if v >= 9 else -1.0 if v <= 6 else 0.0 for v in values])
    scores = np.sort(100.0 * (draws @ sign) / n)
    return float(scores[int(0.025 * rounds)]), float(scores[min(rounds - 1, int(0.975 * rounds))])


def group_key(response: Response, by: Sequence[str], tz: tzinfo) -> dict[str, str]:
    out = {}
    local = response.created_at.astimezone(tz)
    for name in by:
        if name == "month":
            out[name] = local.strftime("%Y-%m")
        elif name == "week":
            year, week, _ = local.isocalendar()
            out[name] = f"{year}-W{week:02d}"
        elif name == "question":
            out[name] = response.question or NONE
        else:
            out[name] = response.segments.get(name, NONE)
    return out


NONE = "(未注明)"  # a group key for responses that did not answer the segment's question


@dataclass
class Table:
    scale: str
    rule: str
    groups: list[dict[str, Any]]

    @property
    def responses(self) -> int:
        """How many responses the table counts (each once: by question, once per question)."""
        return sum(int(g["n"]) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "rule": self.rule, "groups": self.groups}


def _check_by(by: Sequence[str]) -> None:
    unknown = [b for b in by if b not in BY]
    if unknown:
        raise ValueError(f"--by {unknown[0]!r}: use one of {', '.join(BY)}")


def csat_table(store: FeedbackStore, by: Sequence[str] = (), *, since: datetime | None = None,
               until: datetime | None = None, sources: Sequence[str] = (), min_n: int = 30,
               tz: tzinfo | None = None) -> Table:
    """The CSAT table of `by` over [since, until), counted by the store (`rating_counts`); by
    question, which needs every rating of each response, from `responses` in memory."""
    _check_by(by)
    if "question" in by:
        return summarize(responses(store, since=since, until=until, sources=sources), by,
                         min_n=min_n, tz=tz)
    from indexer.store import NONE_KEY

    rows = store.rating_counts(by, Filters(since=since, until=until, sources=tuple(sources)))
    return table_from_counts([replace(r, key={k: NONE if v == NONE_KEY else v for k, v in r.key.items()})
                              for r in rows], min_n=min_n)


def summarize(rs: Sequence[Response], by: Sequence[str] = (), *, min_n: int = 30,
              tz: tzinfo | None = None) -> Table:
    """The CSAT table of `by` over the responses `rs` (each rating question a row of its own
    with `--by question`)."""
    _check_by(by)
    zone = tz or display_tz()
    if "question" in by:  # every rating question a response answered is a row of its own
        rs = [replace(r, rating=value, question=question,
                      scale=scale_of(question, [value]) if states_scale(question) else r.scale)
              for r in rs for question, value in (r.ratings or {r.question: r.rating}).items()]
    counts: Counter[tuple[tuple[tuple[str, str], ...], tuple[int, int], float]] = Counter(
        (tuple(group_key(r, by, zone).items()), r.scale, r.rating) for r in rs)
    return table_from_counts([RatingCount(key=dict(k), scale=scale, rating=rating, count=n)
                              for (k, scale, rating), n in counts.items()], min_n=min_n)


def table_from_counts(rows: Iterable[RatingCount], *, min_n: int = 30) -> Table:
    """n, mean, CSAT with its Wilson interval and NPS (0–10 only) with its bootstrap interval per
    group; groups under `min_n` are flagged `small` and listed after the ranked ones."""
    groups: dict[tuple[tuple[str, str], ...], list[RatingCount]] = defaultdict(list)
    for row in rows:
        groups[tuple(row.key.items())].append(row)
    scales = sorted({r.scale for members in groups.values() for r in members})
    out: list[dict[str, Any]] = []
    for key, members in groups.items():
        n = sum(r.count for r in members)
        if not n:
            continue
        tops = sum(r.count for r in members if is_top(r.rating, r.scale))
        lo, hi = wilson(tops, n)
        on_ten = all(r.scale == (0, 10) for r in members)
        histogram: dict[float, int] = defaultdict(int)
        for r in members:
            histogram[r.rating] += r.count
        out.append({"key": dict(key), "n": n,
                    "mean": round(sum(r.rating * r.count for r in members) / n, 4),
                    "csat": round(tops / n, 4), "csat_ci": [round(lo, 4), round(hi, 4)],
                    "nps": round(nps_of(histogram), 2) if on_ten else None,
                    "nps_ci": [round(v, 2) for v in nps_interval(histogram)] if on_ten else None,
                    "small": n < min_n})
    out.sort(key=lambda g: (bool(g["small"]), -float(g["csat"]), -int(g["n"])))
    scale = ", ".join(f"{a}-{b}" for a, b in scales) or "1-5"
    rule = "top-2-box (4-5) on 1-5; top 30 % of the range on other scales"
    return Table(scale, rule, out)


def drivers(rs: Sequence[Response], *, min_n: int = 30) -> list[dict[str, Any]]:
    """Per topic and risk flag the answers mention: mean rating with it vs without, the gap with a
    95 % (Welch) interval, how many mention it; ranked by gap × share (most harmful first). Ratings
    are put on 0–1 (rating − low) / (high − low) so scales mix."""
    def norm(r: Response) -> float:
        low, high = r.scale
        return (r.rating - low) / (high - low) if high > low else 0.0

    names = sorted({("topic", t) for r in rs for t in r.topics} | {("risk", f) for r in rs for f in r.flags})
    out = []
    for kind, name in names:
        has = [norm(r) for r in rs if (name in r.topics if kind == "topic" else name in r.flags)]
        rest = [norm(r) for r in rs if (name not in r.topics if kind == "topic" else name not in r.flags)]
        if not has or not rest:
            continue
        gap = _mean(has) - _mean(rest)
        se = math.sqrt(_var(has) / len(has) + _var(rest) / len(rest))
        share = len(has) / len(rs)
        out.append({"kind": kind, "name": name, "mentions": len(has), "share": round(share, 4),
                    "mean_with": round(_mean(has), 4), "mean_without": round(_mean(rest), 4),
                    "gap": round(gap, 4), "gap_ci": [round(gap - Z95 * se, 4), round(gap + Z95 * se, 4)],
                    "impact": round(gap * share, 4), "small": len(has) < min_n})
    return sorted(out, key=lambda d: (d["small"], d["impact"]))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _var(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def key_drivers(rs: Sequence[Response]) -> dict[str, Any]:
    """Key-driver analysis of the overall rating on the sub-ratings: Shapley decomposition of R²
    (LMG): each sub-rating's average gain in R² over every order of entering the linear model, so
    correlated sub-ratings share credit instead of one taking it all (raw correlations would not).
    Only responses that answered the overall question and every sub-rating are used."""
    import itertools

    import numpy as np

    questions = sorted({q for r in rs for q in r.ratings if q != r.question})
    usable = [r for r in rs if r.question and all(q in r.ratings for q in questions)]
    if not questions or len(usable) < len(questions) + 2:
        return {"method": "Shapley decomposition of R² (LMG)", "n": len(usable), "r2": None,
                "drivers": []}
    y = np.array([r.rating for r in usable], dtype=float)
    x = np.array([[r.ratings[q] for q in questions] for r in usable], dtype=float)

    def r2(columns: tuple[int, ...]) -> float:
        if not columns:
            return 0.0
        design = np.column_stack([np.ones(len(y)), x[:, list(columns)]])
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        total = float(((y - y.mean()) ** 2).sum())
        return 1.0 - float(((y - fitted) ** 2).sum()) / total if total else 0.0

    k = len(questions)
    cache = {cols: r2(cols) for size in range(k + 1) for cols in itertools.combinations(range(k), size)}
    shapley = []
    for j in range(k):
        value = 0.0
        for size in range(k):
            for cols in itertools.combinations([i for i in range(k) if i != j], size):
                weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                value += weight * (cache[tuple(sorted((*cols, j)))] - cache[cols])
        shapley.append(value)
    full = cache[tuple(range(k))]
    rows = [{"question": q, "r2_share": round(v, 4), "of_r2": round(v / full, 4) if full else 0.0}
            for q, v in zip(questions, shapley, strict=True)]
    return {"method": "Shapley decomposition of R² (LMG)", "n": len(usable), "r2": round(full, 4),
            "drivers": sorted(rows, key=lambda d: -d["r2_share"])}


def survey_and_social(store: FeedbackStore, rs: Sequence[Response], *, since: datetime | None = None,
                      until: datetime | None = None, min_n: int = 30) -> list[dict[str, Any]]:
    """Per top-level topic, side by side: its negative share on the social sources (every kind
    but survey, in [since, until)) and its rating gap in the surveys (`drivers`). The data-driven
    view of where to improve first: ranked by the survey impact, then the social negatives."""
    from core.record import KINDS

    start = since or datetime(1970, 1, 1, tzinfo=display_tz())
    end = until or datetime.now(display_tz())
    social = Filters(kinds=tuple(k for k in KINDS if k != "survey"))
    totals: dict[str, int] = defaultdict(int)
    negatives: dict[str, int] = defaultdict(int)
    for row in store.counts(start, end, None, ("topic", "sentiment"), social):
        topic = row.key["topic"].split("/")[0]
        if topic == "(none)":
            continue
        totals[topic] += row.count
        if row.key["sentiment"] == "negative":
            negatives[topic] += row.count
    gaps = {d["name"]: d for d in drivers(rs, min_n=min_n) if d["kind"] == "topic"}
    out = []
    for topic in sorted(set(totals) | set(gaps)):
        gap = gaps.get(topic)
        out.append({"topic": topic, "social_total": totals.get(topic, 0),
                    "social_negative": negatives.get(topic, 0),
                    "social_negative_share": (round(negatives[topic] / totals[topic], 4)
                                              if totals.get(topic) else None),
                    "survey_mentions": gap["mentions"] if gap else 0,
                    "survey_gap": gap["gap"] if gap else None,
                    "survey_gap_ci": gap["gap_ci"] if gap else None,
                    "survey_impact": gap["impact"] if gap else None})
    return sorted(out, key=lambda t: (t["survey_impact"] if t["survey_impact"] is not None else 0.0,
                                      -(t["social_negative"])))
