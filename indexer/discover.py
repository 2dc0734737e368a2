"""Kibana Discover links for a search: what alert emails link to ("open the data behind this").

    discover_url("https://kibana.bank", "闪退", Filters(topics=("手机银行",)), start, end)

gives `<kibana>/app/discover#/?_g=(...)&_a=(...)`: `_g` holds the time window, `_a` the data view
(id `voc-feedback`, shipped in indexer/kibana/), the columns, newest-first sort and a KQL query
built from the filters and the search text. Kibana reads both parameters as rison.

Values come from the internet (a search text, a topic) and are escaped twice: as KQL (quoted
values with `\\` and `"` escaped; the search text as a wildcard on the `*.sub` fields with the KQL
special characters escaped) and as rison strings (`!` and `'` escaped), then percent-encoded so
that `&`, `#`, `%`, spaces and non-ASCII text cannot break out of the URL fragment.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from core.record import SEVERITIES, as_utc
from indexer.store import NONE_KEY, Filters

DATA_VIEW_ID = "voc-feedback"
COLUMNS = ("source", "sentiment.label", "title", "text", "url")
_RISON_ID = re.compile(r"^[A-Za-z_./~-][A-Za-z0-9_./~-]*$")  # id chars minus leading digit/-
_URL_SAFE = "!'()*,:~-._"  # rison punctuation that is legal unencoded in a URL fragment
_KQL_SPECIAL = re.compile(r'([\\():<>"*{}])')


def rison(value: Any) -> str:
    """Encode a JSON-like value as rison (the format of Kibana's _g/_a URL state)."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("rison cannot encode NaN or infinity")
        return str(value).replace("+", "")
    if isinstance(value, str):
        if value and _RISON_ID.match(value) and not value[0].isdigit() and value[0] != "-":
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    raise TypeError(f"rison cannot encode {type(value).__name__}")


def kql_value(value: str) -> str:
    """A quoted KQL value (a phrase: no wildcards, no operators)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _any_of(field: str, values: tuple[str, ...]) -> str:
    return f"{field}:(" + " or ".join(kql_value(v) for v in values) + ")"


def kql(query_text: str, filters: Filters) -> str:
    """The KQL query for a search text and filters (the same meaning as the store's search)."""
    parts: list[str] = []
    for term in query_text.split():
        pattern = "*" + _KQL_SPECIAL.sub(r"\\\1", term) + "*"
        parts.append(f"(text.sub:{pattern} or title.sub:{pattern})")
    if filters.sources:
        parts.append(_any_of("source", filters.sources))
    if filters.kinds:
        parts.append(_any_of("kind", filters.kinds))
    if filters.sentiment:
        labels = tuple(s for s in filters.sentiment if s != NONE_KEY)
        either = [_any_of("sentiment.label", labels)] if labels else []
        if NONE_KEY in filters.sentiment:
            either.append("not sentiment.label:*")
        parts.append("(" + " or ".join(either) + ")")
    if filters.min_negative_score is not None:
        parts.append(f"sentiment.scores.negative >= {float(filters.min_negative_score)!r}")
    if filters.topics:
        parts.append(_any_of("topic_paths", filters.topics))
    if filters.risk:
        parts.append(_any_of("risk.flag", filters.risk))
    if filters.min_severity is not None:
        if filters.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity {filters.min_severity!r} not in {SEVERITIES}")
        parts.append(f"risk_level >= {SEVERITIES.index(filters.min_severity)}")
    if filters.entities:
        parts.append(_any_of("entity_names", filters.entities))
    if filters.ours is not None:
        parts.append("ours:true" if filters.ours else "not ours:true")
    if filters.distinct_clusters:
        parts.append("not duplicate_of:*")
    return " and ".join(parts)


def _time(value: datetime | None, default: str) -> str:
    if value is None:
        return default
    return as_utc(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def discover_url(kibana_url: str, query_text: str, filters: Filters, start: datetime | None,
                 end: datetime | None) -> str:
    """A Discover URL showing what `query_text` + `filters` match in [start, end)."""
    start = start if start is not None else filters.since
    end = end if end is not None else filters.until
    g = {"filters": [], "refreshInterval": {"pause": True, "value": 0},
         "time": {"from": _time(start, "now-7d"), "to": _time(end, "now")}}
    a = {"columns": list(COLUMNS), "dataSource": {"dataViewId": DATA_VIEW_ID, "type": "dataView"},
         "filters": [], "index": DATA_VIEW_ID, "interval": "auto",
         "query": {"language": "kuery", "query": kql(query_text, filters)},
         "sort": [["created_at", "desc"]]}
    return (f"{kibana_url.rstrip('/')}/app/discover#/?_g={quote(rison(g), safe=_URL_SAFE)}"
            f"&_a={quote(rison(a), safe=_URL_SAFE)}")
