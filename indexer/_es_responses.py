"""Survey responses on Elasticsearch (`FeedbackStore.put_responses`, `rating_counts`,
`iter_responses`; the document is `core.response`'s): how a response becomes a document of
`<prefix>-responses`, the `rating_counts` aggregation and its answer.

The stored document is the `core.response.check` form with the scale flat (`scale_low`,
`scale_high`: `indexer/mappings/responses.json`), `_id` = the response key, so writing a response
again replaces it. `rating_counts` is one `composite` aggregation, paged by `after_key`: a
source per group field (terms with `missing_bucket`, a missing value counted under "(none)"; week
and month a `date_histogram` with `calendar_interval` in the display timezone, whose week buckets
start on Monday as ISO weeks do), then scale_low, scale_high and rating. The week and month labels
("2026-W18", "2026-05") are made here from each bucket's start, read in that timezone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core import response as resp
from core.record import Feedback
from indexer import _es_query as q
from indexer._es_docs import Doc, dumps
from indexer.store import NONE_KEY, RESPONSE_GROUPS, Filters, RatingCount

log = logging.getLogger(__name__)

PAGE = 1000  # composite buckets per request
OLDEST_FIRST = [{"created_at": {"order": "asc"}}, {"key": {"order": "asc"}}]
# group_by name -> the keyword field its terms source reads (week and month: a date_histogram)
GROUP_FIELD = {"source": "source", "survey_id": "survey_id",
               **{name: f"segments.{name}" for name in resp.SEGMENT_KEYS}}
CALENDAR = ("week", "month")
assert set(GROUP_FIELD) | set(CALENDAR) == set(RESPONSE_GROUPS)
SCALE_AND_RATING = ("scale_low", "scale_high", "rating")


def flatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a checked document: `scale` [low, high] as `scale_low`, `scale_high`."""
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if name == "scale":
            out["scale_low"], out["scale_high"] = int(value[0]), int(value[1])
        else:
            out[name] = value
    return out


def unflatten(source: Mapping[str, Any]) -> dict[str, Any]:
    """The `check` form of a stored document (the inverse of `flatten`)."""
    out: dict[str, Any] = {}
    for name, value in source.items():
        if name == "scale_low":
            out["scale"] = [value, source.get("scale_high")]
        elif name != "scale_high":
            out[name] = value
    return out


def response_doc(doc: Mapping[str, Any], index: str) -> Doc:
    """The bulk document of one response; ValueError/TypeError names what is wrong (`check`'s
    reasons, or a value JSON cannot hold such as a NaN rating)."""
    checked = resp.check(doc)
    for question, value in (("rating", checked["rating"]), *checked["ratings"].items()):
        if not math.isfinite(value):
            raise ValueError(f"response {checked['key']}: {question} must be a finite number, got {value!r}")
    try:
        source = dumps(flatten(checked)).encode("utf-8")
    except (TypeError, ValueError) as exc:  # a choice answer JSON cannot hold
        raise ValueError(f"response {checked['key']}: {exc}") from exc
    return Doc(checked["key"], index, source)


def record_response(record: Feedback, index: str) -> Doc | None:
    """The response document of a rated survey record, None for any other record. A response whose
    facts are unusable is left out with a warning; the record itself is still stored (as on
    SQLite)."""
    try:
        found = resp.from_record(record)
        return response_doc(found, index) if found is not None else None
    except (TypeError, ValueError, KeyError) as exc:
        log.warning("record %s: its survey response is not kept: %s", getattr(record, "id", "?"), exc)
        return None


def query(filters: Filters) -> dict[str, Any]:
    """The filter responses honour: sources, since <= created_at < until."""
    must: list[dict[str, Any]] = []
    if filters.sources:
        must.append({"terms": {"source": list(filters.sources)}})
    bounds: dict[str, str] = {}
    if filters.since is not None:
        bounds["gte"] = q.iso(filters.since, "filters.since")
    if filters.until is not None:
        bounds["lt"] = q.iso(filters.until, "filters.until")
    if bounds:
        must.append({"range": {"created_at": bounds}})
    return {"bool": {"filter": must}}


def group_names(group_by: Sequence[str]) -> list[str]:
    return q.group_fields(group_by, RESPONSE_GROUPS, "cannot group responses by")


def composite(names: Sequence[str], timezone: str, after: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `composite` aggregation of `rating_counts` (one page; `after` = the last after_key)."""
    sources: list[dict[str, Any]] = []
    for name in names:
        if name in CALENDAR:
            sources.append({name: {"date_histogram": {"field": "created_at", "calendar_interval": name,
                                                      "time_zone": timezone}}})
        else:
            sources.append({name: {"terms": {"field": GROUP_FIELD[name], "missing_bucket": True}}})
    sources.extend({name: {"terms": {"field": name}}} for name in SCALE_AND_RATING)
    body: dict[str, Any] = {"size": PAGE, "sources": sources}
    if after is not None:
        body["after"] = after
    return {"composite": body}


def label(name: str, value: Any, tz: ZoneInfo) -> str:
    """A bucket key as a group value: a week or month label of its start (epoch ms) in `tz`."""
    if value is None:
        return NONE_KEY
    if name in CALENDAR:
        start = datetime.fromtimestamp(int(value) / 1000, tz)
        if name == "month":
            return start.strftime("%Y-%m")
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return str(value)


def rows(buckets: Sequence[dict[str, Any]], names: Sequence[str], tz: ZoneInfo) -> list[RatingCount]:
    """`RatingCount`s of one page of composite buckets."""
    out = []
    for bucket in buckets:
        key = bucket["key"]
        out.append(RatingCount(key={name: label(name, key.get(name), tz) for name in names},
                               scale=(int(key["scale_low"]), int(key["scale_high"])),
                               rating=float(key["rating"]), count=int(bucket["doc_count"])))
    return out
