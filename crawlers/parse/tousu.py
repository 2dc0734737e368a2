"""黑猫投诉 (tousu.sina.com.cn) list JSON → ``complaint`` records.

Three list endpoints share one item shape (SOURCES.md):

==========  ==========================================  ===========================
mode        path                                        items at
==========  ==========================================  ===========================
feed        /api/index/feed?type=2 (最新投诉)            result.data.lists[]
search      /api/index/s?keywords=…                      result.data.lists[]
company     /api/company/received_complaints?couid=…    result.data.complaints[]
==========  ==========================================  ===========================

Each item is ``{"main": {sn, title, summary, appeal, cotitle, issue, cost, status, timestamp
(unix s), url ("//tousu.sina.com.cn/complaint/view/{id}/"), upvote_amount, share_amount,
comment_amount, evaluate_u, field?}, "author": {title (nickname), wb_profile, avatar}}``.
``result.status.code`` other than 0 is a refusal (bad signature, log in first, banned); search
titles carry ``<span class="code-red">`` highlight tags, removed here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.record import Feedback, RecordError, make_id
from crawlers.parse.errors import BlockedPage, LayoutChanged
from nlp.normalize import strip_html

SOURCE = "tousu"
ENDPOINTS = {
    "feed": "/api/index/feed",
    "search": "/api/index/s",
    "company": "/api/company/received_complaints",
}
_VIEW_ID = re.compile(r"/complaint/view/(\d+)")
_META_KEYS = ("cotitle", "issue", "appeal", "cost", "status", "upvote_amount", "share_amount",
              "comment_amount", "evaluate_u", "field")


@dataclass
class ComplaintsPage:
    """One list page: complaints, the number of pages when the site says it, item errors."""

    complaints: list[Feedback]
    page_count: int | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (which item, why)


def list_params(mode: str, *, page: int, page_size: int = 10, keyword: str | None = None,
                couid: str | None = None, feed_type: int = 2) -> dict[str, str | int]:
    """The unsigned query of one list page (sign it with `tousu_sign.signed_query`)."""
    params: dict[str, str | int]
    if mode == "feed":
        params = {"type": feed_type}
    elif mode == "search":
        if not keyword:
            raise ValueError("tousu search needs a keyword")
        params = {"keywords": keyword}
    elif mode == "company":
        if not couid:
            raise ValueError("tousu company list needs a couid")
        params = {"couid": couid, "type": 1}
    else:
        raise ValueError(f"unknown tousu mode {mode!r} (one of {sorted(ENDPOINTS)})")
    return {**{k: str(v) for k, v in params.items()}, "page_size": str(page_size), "page": str(page)}


def parse_complaints(data: Any, crawl_time: datetime, *, what: str = "feed") -> ComplaintsPage:
    """A list answer (any of the three modes) → complaint records."""
    result = data.get("result") if isinstance(data, Mapping) else None
    if not isinstance(result, Mapping):
        raise LayoutChanged(f"tousu {what}: no result object")
    status = result.get("status")
    if isinstance(status, Mapping) and str(status.get("code", 0)) != "0":
        msg = status.get("msg") or "(none)"
        raise BlockedPage(f"tousu {what}: status code={status.get('code')} msg={msg}")
    inner = result.get("data")
    if not isinstance(inner, Mapping):
        raise LayoutChanged(f"tousu {what}: result.data missing")
    items = inner.get("lists", inner.get("complaints"))
    if not isinstance(items, list):
        raise LayoutChanged(f"tousu {what}: result.data has neither lists nor complaints")
    complaints: list[Feedback] = []
    errors: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        try:
            complaints.append(complaint_from(item, crawl_time))
        except (LayoutChanged, RecordError, KeyError, TypeError, ValueError) as exc:
            errors.append((f"item {i}", f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)))
    if items and not complaints:
        raise LayoutChanged(f"tousu {what}: no complaint could be read ({errors[0][1]})")
    pager = inner.get("pager")
    page_count = None
    if isinstance(pager, Mapping):
        page_count = _int_or_none(pager.get("page_amount", pager.get("pages")))
    return ComplaintsPage(complaints, page_count, errors)


def complaint_from(item: Mapping[str, Any], crawl_time: datetime) -> Feedback:
    """One list item → a ``complaint`` record keyed by its 投诉编号 (sn)."""
    main = item.get("main")
    if not isinstance(main, Mapping):
        raise LayoutChanged("item has no main object")
    url = _absolute(main.get("url"))
    sn = str(main.get("sn") or "") or (complaint_id_from_url(url) if url else None)
    if not sn:
        raise LayoutChanged("complaint has neither sn nor a view url")
    created_at = _from_timestamp(main.get("timestamp"))
    author_raw = item.get("author")
    author: Mapping[str, Any] = author_raw if isinstance(author_raw, Mapping) else {}
    title = plain_text(main.get("title"))
    meta: dict[str, Any] = {"sn": sn, "view_id": complaint_id_from_url(url) if url else None}
    for key in _META_KEYS:
        value = main.get(key)
        if value not in (None, ""):
            meta[key] = plain_text(value) if isinstance(value, str) else value
    if author.get("wb_profile"):
        meta["author_profile"] = author["wb_profile"]
    return Feedback(
        id=make_id(SOURCE, native_id=sn),
        source=SOURCE,
        kind="complaint",
        text=plain_text(main.get("summary")) or title,
        created_at=created_at,
        url=url,
        author=plain_text(author.get("title")) or None,
        title=title or None,
        fetched_at=crawl_time,
        meta={k: v for k, v in meta.items() if v is not None},
    )


def complaint_id_from_url(url: str) -> str | None:
    """The complaint number in a view URL (``…/complaint/view/17390396995/?sld=…``)."""
    match = _VIEW_ID.search(url or "")
    return match.group(1) if match else None


def plain_text(value: Any) -> str:
    """Highlight spans and other tags removed, entities decoded, whitespace folded."""
    return " ".join(strip_html(str(value or "")).split())


def _absolute(url: Any) -> str | None:
    text = str(url or "").strip()
    if not text:
        return None
    return "https:" + text if text.startswith("//") else text


def _from_timestamp(value: Any) -> datetime:
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise LayoutChanged(f"main.timestamp {value!r} is not unix seconds") from exc
    if seconds > 1e11:  # milliseconds, as some copies of the API send
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None
