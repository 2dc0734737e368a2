"""The survey response: one document per rated response, the unit satisfaction counts.

A survey importer turns one row of an export into a response document and one `Feedback` record
per open answer; every record carries its response's key and facts in `meta` ("response",
"scale", "rating_question", "ratings", "segments"), so `from_record` rebuilds the same document
from any of them. A store keeps one response per key (`FeedbackStore.put_responses`, and `upsert`
of a rated survey record), so a response counts once whatever it wrote, two respondents who wrote
the same words count twice, and a re-import, which writes the same documents again, changes
nothing.

    {"key": "survey:wjx:418220517:r7c1f…",   # source : survey : respondent pseudonym (or line)
     "source": "survey:wjx", "survey_id": "418220517", "line": 12, "respondent": "7c1f…" | None,
     "created_at": "2026-05-01T10:00:00+08:00",
     "rating": 4.0, "scale": [1, 5], "question": "3、总体满意度（1-5分）",
     "segments": {"branch": "江南银行鼓楼支行", "channel": "营业网点", ...},   # SEGMENT_KEYS
     "ratings": {"3、总体满意度（1-5分）": 4.0, "4、等候时间": 3.0},            # every rating question
     "choices": {...}}                                                        # the row's choice answers

**Scales** (`scale_of`): what the rating question's wording states (`（1-5分）`, `0-10`), else what
the survey's answers fit: all within 1–5 → 1–5; 0 present and at most 10 → 0–10; at most 7 → 1–7;
else 1–10. The importer decides it once per file from every answer of the column.

**Segments** (`segments_of`): the columns `--map branch=…` named, else by the question's wording
(网点/支行/分行 → branch, 渠道 → channel, 产品/业务 → product, 客户类型 → customer_type). A city
column is personal data by default (with a birth date and a branch it narrows a customer down), so
it is a segment only where the operator names it: `--map city=所在城市`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from core.record import Feedback, parse_time

SEGMENT_KEYS = ("branch", "channel", "product", "customer_type", "city")
SEGMENT_WORDING = {"branch": re.compile(r"网点|支行|分行|营业部"), "channel": re.compile(r"渠道"),
                   "product": re.compile(r"产品|业务类型|业务种类"),
                   "customer_type": re.compile(r"客户类型|客户类别")}  # no city: only by --map
RATING_WORDING = re.compile(r"满意|评分|打分|推荐")  # not 愿意: "是否愿意接受回访" is consent
_SCALE_IN_TITLE = re.compile(r"(\d+)\s*[-–~～至到]\s*(\d+)\s*分?")


def scale_of(question: str, values: Iterable[float]) -> tuple[int, int]:
    """The rating scale a question states, else the one its answers fit."""
    found = _SCALE_IN_TITLE.search(question or "")
    if found:
        low, high = int(found.group(1)), int(found.group(2))
        if low < high <= 10:
            return low, high
    seen = list(values)
    if not seen:
        return 1, 5
    if min(seen) >= 1 and max(seen) <= 5:
        return 1, 5
    if min(seen) == 0 and max(seen) <= 10:
        return 0, 10
    if max(seen) <= 7:
        return 1, 7
    return 1, 10


def states_scale(question: str) -> bool:
    """Whether the question's wording says its scale (`（1-5分）`)."""
    return bool(_SCALE_IN_TITLE.search(question or ""))


def rating_question(choices: Mapping[str, Any]) -> str:
    """The first choice question worded as a rating (older documents name none)."""
    return next((str(q) for q in choices if RATING_WORDING.search(str(q))), "")


def segments_of(choices: Mapping[str, Any], mapped: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Segment answers: the columns `--map` named, else by question wording; a question is one
    segment at most (the first that fits); rating questions are none."""
    out: dict[str, str] = {k: str(v).strip() for k, v in (mapped or {}).items()
                           if k in SEGMENT_KEYS and v and str(v).strip()}
    for question, answer in choices.items():
        if not isinstance(answer, str) or not answer.strip() or RATING_WORDING.search(str(question)):
            continue
        for name, pattern in SEGMENT_WORDING.items():
            if pattern.search(str(question)):
                out.setdefault(name, answer.strip())
                break
    return out


def response_key(source: str, survey_id: str, respondent: str | None, line: int) -> str:
    """By the respondent's pseudonym where the export has a respondent column (a later export of
    the same survey, rows added or re-sorted, keeps the key), else by the line."""
    return f"{source}:{survey_id}:r{respondent}" if respondent else f"{source}:{survey_id}:{line}"


def check(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A response document in its stored form; ValueError names what is missing or wrong."""
    for name in ("key", "source", "created_at", "rating"):
        if doc.get(name) in (None, ""):
            raise ValueError(f"response {doc.get('key', '?')}: no {name}")
    created = doc["created_at"]
    at = created if isinstance(created, datetime) else parse_time(str(created), naive_tz=None)
    if at.tzinfo is None:
        raise ValueError(f"response {doc['key']}: created_at has no timezone")
    rating = float(doc["rating"])
    question = str(doc.get("question") or rating_question(doc.get("choices") or {}))
    scale = doc.get("scale") or scale_of(question, [rating])
    low, high = int(scale[0]), int(scale[1])
    if not 0 <= low < high <= 10:
        raise ValueError(f"response {doc['key']}: scale {scale!r} is not low < high within 0-10")
    return {"key": str(doc["key"]), "source": str(doc["source"]),
            "survey_id": None if doc.get("survey_id") is None else str(doc["survey_id"]),
            "line": doc.get("line"), "respondent": doc.get("respondent"),
            "created_at": at.isoformat(), "rating": rating, "scale": [low, high],
            "question": question,
            "segments": segments_of(doc.get("choices") or {}, doc.get("segments")),
            "ratings": {str(q): float(v) for q, v in (doc.get("ratings") or {}).items()},
            "choices": dict(doc.get("choices") or {})}


def from_record(record: Feedback) -> dict[str, Any] | None:
    """The response a rated survey record belongs to, or None (not a survey answer, no rating,
    or no survey and line to know its response by)."""
    meta = record.meta or {}
    if record.kind != "survey" or record.rating is None:
        return None
    survey, line = meta.get("survey_id"), meta.get("line")
    key = meta.get("response") or (f"{record.source}:{survey}:{line}"
                                   if survey is not None and line is not None else None)
    if not key:
        return None
    choices = meta.get("choices") or {}
    return check({"key": key, "source": record.source, "survey_id": survey, "line": line,
                  "respondent": meta.get("respondent"), "created_at": record.created_at,
                  "rating": record.rating, "scale": meta.get("scale"),
                  "question": meta.get("rating_question") or rating_question(choices),
                  "segments": meta.get("segments") or {},
                  "ratings": meta.get("ratings") or {}, "choices": choices})
