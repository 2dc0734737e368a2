"""The `Feedback` record: the one shape that crosses every boundary of the pipeline.

Crawlers and importers build records, `voc.pipeline` fills in the understanding fields
(sentiment, topics, risk, entities, fingerprint), and every `FeedbackStore` stores and returns
them. Times are timezone-aware and kept in UTC; `to_display()` converts for people.

`make_id()` is the only way an id is made, so re-crawls and re-imports upsert the same record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

SENTIMENT_LABELS = ("negative", "neutral", "positive")
SEVERITIES = ("info", "warning", "critical")
KINDS = ("review", "post", "comment", "complaint", "news", "survey")
ENTITY_TYPES = ("bank", "product", "branch", "city")
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")  # the default [app] timezone; the running one is display_tz()
_DISPLAY: list[ZoneInfo] = [DISPLAY_TZ]


def display_tz() -> ZoneInfo:
    """The process's display timezone: `[app] timezone` once settings are loaded (`load_settings`
    calls `use_display_tz`). Alert windows, day buckets of the rules, digests and every time shown
    to people follow it; naive times on the command line and in settings mean it."""
    return _DISPLAY[0]


def use_display_tz(zone: str | ZoneInfo) -> ZoneInfo:
    """Make `zone` the display timezone of this process (the settings loader does, once)."""
    _DISPLAY[0] = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return _DISPLAY[0]


def zone_label(tz: ZoneInfo | None = None) -> str:
    """How a message names the zone its times are in: 北京时间 for Asia/Shanghai, else the IANA key."""
    tz = tz or display_tz()
    return "北京时间" if tz.key == "Asia/Shanghai" else tz.key


class RecordError(ValueError):
    """A record (or a field of one) is not valid; the message names the field."""


def make_id(source: str, *, native_id: str | None = None, url: str | None = None,
            created_at: datetime | None = None, text: str | None = None) -> str:
    """Stable record id: hash of source + native id, else of the canonical URL, else of
    source + created_at + text. 20 hex chars (80 bits) is plenty below a billion records."""
    if native_id:
        key = f"n\x1f{source}\x1f{native_id}"
    elif url:
        key = f"u\x1f{canonical_url(url)}"
    elif created_at is not None and text is not None:
        key = f"t\x1f{source}\x1f{as_utc(created_at).isoformat()}\x1f{text}"
    else:
        raise RecordError("make_id needs native_id, url, or created_at + text")
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def canonical_url(url: str) -> str:
    """Trim what does not change the page: surrounding space, fragment, a trailing slash."""
    url = url.strip().split("#", 1)[0]
    if url.startswith("//"):
        url = "https:" + url
    return url[:-1] if url.endswith("/") and url.count("/") > 3 else url


def as_utc(value: datetime) -> datetime:
    """A tz-aware datetime in UTC; a naive one is refused (callers decide what naive means)."""
    if value.tzinfo is UTC:  # the common case on the hot path: nothing to convert
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecordError(f"naive datetime {value.isoformat()} (a timezone is required)")
    return value.astimezone(UTC)


_DISPLAY_ZONE: Any = object()  # parse_time's default: the display timezone when it is called


def parse_time(value: str | datetime, *, naive_tz: ZoneInfo | None = _DISPLAY_ZONE) -> datetime:
    """Parse ISO 8601 text (or pass a datetime through) into UTC.

    A naive value means `naive_tz`, by default the display timezone (`[app] timezone`); pass
    `naive_tz=None` to refuse naive values instead."""
    if naive_tz is _DISPLAY_ZONE:
        naive_tz = display_tz()
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise RecordError(f"not an ISO 8601 time: {value!r}") from exc
    if value.tzinfo is None:
        if naive_tz is None:
            raise RecordError(f"time {value.isoformat()} has no UTC offset")
        value = value.replace(tzinfo=naive_tz)
    return value.astimezone(UTC)


def to_display(value: datetime, tz: ZoneInfo | None = None) -> str:
    """Format a stored UTC time for people, in `tz` (default: the display timezone)."""
    return value.astimezone(tz or display_tz()).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Sentiment:
    """A classifier's verdict: `label` and read-only `scores` over the three labels (sum 1)."""

    label: str
    scores: Mapping[str, float]
    model: str = ""

    def __post_init__(self) -> None:
        if self.label not in SENTIMENT_LABELS:
            raise RecordError(f"sentiment.label {self.label!r} not in {SENTIMENT_LABELS}")
        object.__setattr__(self, "scores", MappingProxyType(dict(self.scores)))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "scores": dict(self.scores), "model": self.model}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sentiment:
        return cls(data["label"], data.get("scores", {}), data.get("model", ""))


@dataclass
class Feedback:
    """One piece of customer voice. README.md "Architecture" and the design card describe the fields.

    `topics` are taxonomy names; `risk` items are {"flag", "severity"}; `entities` items are
    {"type", "text", "canonical", "ours", "start", "end"} with code-point offsets into `text`."""

    id: str
    source: str
    kind: str
    text: str
    created_at: datetime
    url: str | None = None
    author: str | None = None
    title: str | None = None
    fetched_at: datetime | None = None
    rating: float | None = None
    sentiment: Sentiment | None = None
    topics: list[str] = field(default_factory=list)
    risk: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str | None = None
    duplicate_of: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise RecordError("id is empty")
        if not self.source:
            raise RecordError("source is empty")
        if self.kind not in KINDS:
            raise RecordError(f"kind {self.kind!r} not in {KINDS}")
        if not isinstance(self.text, str):
            raise RecordError("text must be a string")
        self.created_at = as_utc(self.created_at)
        if self.fetched_at is not None:
            self.fetched_at = as_utc(self.fetched_at)
        if self.rating is not None:
            self.rating = float(self.rating)

    @property
    def negative(self) -> bool:
        return self.sentiment is not None and self.sentiment.label == "negative"

    def with_(self, **changes: Any) -> Feedback:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 UTC strings)."""
        out = dict(self.__dict__)  # every field, in declaration order (a plain dataclass)
        out["created_at"] = self.created_at.isoformat()
        if self.fetched_at is not None:
            out["fetched_at"] = self.fetched_at.isoformat()
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feedback:
        """Inverse of `to_dict`; unknown keys are an error (the caller decides about `meta`)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise RecordError(f"unknown record fields: {sorted(unknown)}")
        kwargs = dict(data)
        for key in ("created_at", "fetched_at"):
            if kwargs.get(key) is not None:
                kwargs[key] = parse_time(kwargs[key], naive_tz=None)
        if kwargs.get("sentiment") is not None and not isinstance(kwargs["sentiment"], Sentiment):
            kwargs["sentiment"] = Sentiment.from_dict(kwargs["sentiment"])
        for key in ("topics", "risk", "entities"):
            kwargs[key] = list(kwargs.get(key) or [])
        kwargs["meta"] = dict(kwargs.get("meta") or {})
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise RecordError(str(exc)) from exc
