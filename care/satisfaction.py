"""Satisfaction from survey answers: CSAT / NPS by segment with intervals, and what pulls it down.

    rs = responses(store, since=..., until=...)          # one Response per survey response
    table = summarize(rs, by=("channel", "month"), min_n=30)
    found = drivers(rs)

**The unit is the response.** The importers keep one record per open answer of a response (its
`meta` says which survey and line), all carrying the response's rating; `responses` folds them back
into one `Response` per (source, survey, line), so a response counts once whatever it wrote, two
respondents who wrote the same words count twice (survey answers are never near-duplicate-folded),
and a re-import of the same export, which stores nothing new, changes nothing.

**Scales.** A response's scale comes from its rating question's wording (`（1-5分）`, `0-10`, …) or,
without one, from the survey's answers (all within 1–5: 1–5; 0 present and up to 10: 0–10; up to 7:
1–7; else 1–10). CSAT is the top-2-box share on a 5-point scale, the top 30 % of the range on any
other (stated in `Table.rule`); NPS is promoters (9–10) minus detractors (0–6), only on 0–10.

**Intervals.** Wilson 95 % for CSAT; a seeded percentile bootstrap (2,000 resamples) for NPS; a
normal (Welch) interval for a driver's gap in mean rating. A group under `min_n` answers is
flagged `small` and not ranked.

**Segments.** From the response's choice answers by question wording: branch (网点 / 支行 / 分行),
channel (渠道), product (产品 / 业务), customer type (客户类型 / 客户类别); plus week and month of
its time (display timezone) and, with `--by question`, the question.

A response that wrote no open answer makes no record; the importer hands every rated response
over as a document as well (`ImportResult.responses`), which `voc import`, the console's upload and
the demo keep (`keep_responses`, state namespace "survey_response"), so it counts too.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from core.record import Feedback, display_tz
from indexer.store import FeedbackStore, Filters

PAGE = 1000
Z95 = 1.959963984540054
BOOTSTRAP = 2000
SEGMENTS = {"branch": re.compile(r"网点|支行|分行|营业部"), "channel": re.compile(r"渠道"),
            "product": re.compile(r"产品|业务类型|业务种类"),
            "customer_type": re.compile(r"客户类型|客户类别")}
BY = ("branch", "channel", "product", "customer_type", "question", "week", "month")
_RATING = re.compile(r"满意|评分|打分|推荐")  # not 愿意: "是否愿意接受回访" is consent
_SCALE_IN_TITLE = re.compile(r"(\d+)\s*[-–~～至到]\s*(\d+)\s*分?")


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


RESPONSES = "survey_response"  # state namespace: one document per rated response (keep_responses)


def keep_responses(store: FeedbackStore, docs: Iterable[dict[str, Any]]) -> int:
    """Store the importer's response documents (`ImportResult.responses`), so a response that
    wrote no open answer still counts; a re-import writes the same documents again."""
    n = 0
    for doc in docs:
        store.put_state(RESPONSES, doc["key"], doc)
        n += 1
    return n


def _kept_in(doc: dict[str, Any], since: datetime | None, until: datetime | None,
             sources: Sequence[str]) -> bool:
    from core.record import parse_time

    at = parse_time(doc["created_at"], naive_tz=None)
    return ((since is None or at >= since) and (until is None or at < until)
            and (not sources or doc.get("source") in sources))


def _from_doc(key: str, doc: dict[str, Any], survey_values: list[float]) -> Response:
    from core.record import parse_time

    meta = {"choices": doc.get("choices") or {}, "segments": doc.get("segments") or {}}
    question = _rating_question(meta)
    return Response(key=key, rating=float(doc["rating"]), scale=scale_of(question, survey_values),
                    created_at=parse_time(doc["created_at"], naive_tz=None), question=question,
                    segments=_segments(meta), ratings=_ratings(meta))


def scale_of(question: str, values: Iterable[float]) -> tuple[int, int]:
    """The rating scale a question states, else the one its answers fit."""
    found = _SCALE_IN_TITLE.search(question or "")
    if found:
        low, high = int(found.group(1)), int(found.group(2))
        if low < high <= 10:
            return low, high
    seen = [v for v in values]
    if not seen:
        return 1, 5
    if min(seen) >= 1 and max(seen) <= 5:
        return 1, 5
    if min(seen) == 0 and max(seen) <= 10:
        return 0, 10
    if max(seen) <= 7:
        return 1, 7
    return 1, 10


def _rating_question(meta: dict[str, Any]) -> str:
    for question in (meta.get("choices") or {}):
        if _RATING.search(str(question)):
            return str(question)
    return ""


def _segments(meta: dict[str, Any]) -> dict[str, str]:
    """Segment answers: the columns `--map branch=...` named (meta["segments"]), else by question
    wording; a question is one segment at most (the first that fits)."""
    out: dict[str, str] = {k: str(v) for k, v in (meta.get("segments") or {}).items() if v}
    for question, answer in (meta.get("choices") or {}).items():
        if not isinstance(answer, str) or not answer or _RATING.search(str(question)):
            continue
        for name, pattern in SEGMENTS.items():
            if pattern.search(str(question)):
                out.setdefault(name, answer)
                break
    return out



def _ratings(meta: dict[str, Any]) -> dict[str, float]:
    """Every rating question the response answered (the overall one first), by its question."""
    from crawlers.importers.columns import parse_rating  # numbers, 分/星, and the wording scales

    out: dict[str, float] = {}
    for question, answer in (meta.get("choices") or {}).items():
        if isinstance(answer, str) and _RATING.search(str(question)):
            value = parse_rating(answer)
            if value is not None:
                out[str(question)] = value
    return out


def responses(store: FeedbackStore, *, since: datetime | None = None, until: datetime | None = None,
              sources: Sequence[str] = ()) -> list[Response]:
    """Every rated survey response in [since, until), read through the store's interface."""
    filters = Filters(kinds=("survey",), since=since, until=until, sources=tuple(sources))
    grouped: dict[str, list[Feedback]] = defaultdict(list)
    page = 1
    while True:
        found = store.search("", filters, page=page, size=PAGE)
        for record in found.items:
            if record.rating is None:
                continue
            survey, line = record.meta.get("survey_id"), record.meta.get("line")
            key = f"{record.source}:{survey}:{line}" if survey is not None and line is not None else record.id
            grouped[key].append(record)
        if len(found.items) < PAGE:
            break
        page += 1
    kept = {key: doc for key, doc in store.list_state(RESPONSES).items()
            if key not in grouped and _kept_in(doc, since, until, sources)}
    by_survey: dict[str, list[float]] = defaultdict(list)
    for key, records in grouped.items():
        by_survey[key.rsplit(":", 1)[0]].append(float(records[0].rating or 0))
    for key, doc in kept.items():
        by_survey[key.rsplit(":", 1)[0]].append(float(doc["rating"]))
    out = [_from_doc(key, doc, by_survey[key.rsplit(":", 1)[0]]) for key, doc in kept.items()]
    for key, records in grouped.items():
        first = records[0]
        question = _rating_question(first.meta)
        out.append(Response(key=key, rating=float(first.rating or 0),
                            scale=scale_of(question, by_survey[key.rsplit(":", 1)[0]]),
                            created_at=min(r.created_at for r in records), question=question,
                            segments=_segments(first.meta), ratings=_ratings(first.meta),
                            record_ids=[r.id for r in records],
                            topics={t.split("/")[0] for r in records for t in r.topics},
                            flags={str(x.get("flag")) for r in records for x in r.risk if x.get("flag")}))
    return sorted(out, key=lambda r: r.created_at)


def top_box(response: Response) -> bool:
    low, high = response.scale
    if (low, high) == (1, 5):
        return response.rating >= 4
    return response.rating >= low + 0.7 * (high - low)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def nps(ratings: Sequence[float]) -> float:
    if not ratings:
        return 0.0
    promoters = sum(1 for r in ratings if r >= 9)
    detractors = sum(1 for r in ratings if r <= 6)
    return 100.0 * (promoters - detractors) / len(ratings)


def nps_interval(ratings: Sequence[float], seed: int = 7, rounds: int = BOOTSTRAP) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of NPS (seeded)."""
    if not ratings:
        return 0.0, 0.0
    rng = random.Random(seed)
    values = list(ratings)
    draws = sorted(nps([rng.choice(values) for _ in values]) for _ in range(rounds))
    return draws[int(0.025 * rounds)], draws[min(rounds - 1, int(0.975 * rounds))]


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
            out[name] = response.question or "(未注明)"
        else:
            out[name] = response.segments.get(name, "(未注明)")
    return out


@dataclass
class Table:
    scale: str
    rule: str
    groups: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "rule": self.rule, "groups": self.groups}


def summarize(rs: Sequence[Response], by: Sequence[str] = (), *, min_n: int = 30,
              tz: tzinfo | None = None) -> Table:
    """n, mean, CSAT with its Wilson interval and NPS (0–10 only) with its bootstrap interval per
    group of `by`; groups under `min_n` are flagged `small` and listed after the ranked ones."""
    unknown = [b for b in by if b not in BY]
    if unknown:
        raise ValueError(f"--by {unknown[0]!r}: use one of {', '.join(BY)}")
    zone = tz or display_tz()
    if "question" in by:  # every rating question a response answered is a row of its own
        rs = [replace(r, rating=value, question=question,
                      scale=scale_of(question, [value]) if _SCALE_IN_TITLE.search(question) else r.scale)
              for r in rs for question, value in (r.ratings or {r.question: r.rating}).items()]
    scales = sorted({r.scale for r in rs})
    groups: dict[tuple[tuple[str, str], ...], list[Response]] = defaultdict(list)
    for response in rs:
        groups[tuple(group_key(response, by, zone).items())].append(response)
    rows: list[dict[str, Any]] = []
    for key, members in groups.items():
        n = len(members)
        tops = sum(1 for r in members if top_box(r))
        lo, hi = wilson(tops, n)
        ratings = [r.rating for r in members]
        on_ten = all(r.scale == (0, 10) for r in members)
        rows.append({"key": dict(key), "n": n, "mean": round(sum(ratings) / n, 4),
                     "csat": round(tops / n, 4), "csat_ci": [round(lo, 4), round(hi, 4)],
                     "nps": round(nps(ratings), 2) if on_ten else None,
                     "nps_ci": [round(v, 2) for v in nps_interval(ratings)] if on_ten else None,
                     "small": n < min_n})
    rows.sort(key=lambda g: (bool(g["small"]), -float(g["csat"]), -int(g["n"])))
    scale = ", ".join(f"{a}-{b}" for a, b in scales) or "1-5"
    rule = "top-2-box (4-5) on 1-5; top 30 % of the range on other scales"
    return Table(scale, rule, rows)


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
