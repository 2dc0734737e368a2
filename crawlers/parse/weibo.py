"""m.weibo.cn JSON → `Feedback` records: search cards, long text, comments (hotflow).

Shapes (SOURCES.md, and the saved 2019 responses):

- every answer is an envelope ``{"ok": 1, "data": {...}}``; ``ok`` other than 1 is a refusal
  (``ok: 0`` with ``msg``, ``ok: -100`` = log in first) — except ``ok: 0`` with the site's
  "nothing here" message, which is how a search says it ran out of results;
- search / timeline: ``data.cards[]``; a post is ``card_type 9`` with ``mblog``, or sits inside a
  ``card_type 11`` card's ``card_group[]``; ``data.cardlistInfo.page`` is the next page (null at
  the end);
- long text: ``/statuses/extend`` → ``data.longTextContent``;
- comments: ``/comments/hotflow`` → ``data.data[]`` with replies inline in ``comments[]``, and
  ``data.max_id`` / ``data.max_id_type`` for the next page; ``max_id == 0`` means the last page.

Post and comment text is Weibo HTML; records keep it as plain text (`nlp.normalize.strip_html`:
emoji alt text and #topics# stay). A post that cannot be read is reported in the page's
`errors` and the rest of the page is kept; a page where nothing can be read is `LayoutChanged`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.record import Feedback, RecordError, make_id
from crawlers.parse.errors import BlockedPage, LayoutChanged
from crawlers.parse.weibo_time import parse_weibo_time, precision
from nlp.normalize import strip_html

SOURCE = "weibo"
_MENTION_LINK = re.compile(r"<a\b[^>]*>\s*(@[^<]*?)\s*</a>", re.IGNORECASE)
# The site's own words for "no (more) results"; every other `ok: 0` is a refusal.
END_MESSAGES = ("这里还没有内容", "还没有人评论")


@dataclass
class SearchPage:
    """One page of search results: posts, the next page number (None: last page), item errors."""

    posts: list[Feedback]
    next_page: int | None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (which item, why)


@dataclass
class CommentsPage:
    """One hotflow page: comments (replies included), the cursor for the next page, item errors.

    `max_id == 0` means there is no next page."""

    comments: list[Feedback]
    max_id: int
    max_id_type: int = 0
    total: int | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (which item, why)


def check_envelope(data: Any, what: str) -> dict[str, Any] | None:
    """The envelope's ``data`` dict; None when the site says there is nothing (more) to show.

    Raises `BlockedPage` for ``ok`` other than 1 and `LayoutChanged` when there is no envelope."""
    if not isinstance(data, Mapping) or "ok" not in data:
        raise LayoutChanged(f"weibo {what}: no {{'ok': ...}} envelope")
    ok = data.get("ok")
    if ok in (1, "1", True):
        inner = data.get("data")
        if not isinstance(inner, Mapping):
            raise LayoutChanged(f"weibo {what}: ok=1 but no data object")
        return dict(inner)
    msg = str(data.get("msg") or "").strip()
    if ok in (0, "0") and any(end in msg for end in END_MESSAGES):
        return None
    if str(ok) == "-100":
        raise BlockedPage(f"weibo {what}: ok=-100 login required")
    raise BlockedPage(f"weibo {what}: ok={ok} msg={msg or '(none)'}")


def iter_mblogs(cards: Any) -> Iterator[dict[str, Any]]:
    """Posts in a cards list: ``card_type 9`` → mblog, ``card_type 11`` → its card_group."""
    for card in cards if isinstance(cards, list) else ():
        if not isinstance(card, Mapping):
            continue
        card_type = str(card.get("card_type"))
        if card_type == "9" and isinstance(card.get("mblog"), Mapping):
            yield dict(card["mblog"])
        elif card_type == "11":
            yield from iter_mblogs(card.get("card_group"))


def parse_search(data: Any, crawl_time: datetime, *, page: int = 1, keyword: str | None = None,
                 what: str = "search") -> SearchPage:
    """A search (or timeline) answer → posts. `page` is the page that was asked for."""
    inner = check_envelope(data, f"{what} page={page}")
    if inner is None:
        return SearchPage([], None)
    cards = inner.get("cards")
    if not isinstance(cards, list):
        raise LayoutChanged(f"weibo {what} page={page}: data.cards missing")
    mblogs = list(iter_mblogs(cards))
    if cards and not mblogs and _has_mblog(cards):
        raise LayoutChanged(f"weibo {what} page={page}: posts outside card_type 9/11")
    posts: list[Feedback] = []
    errors: list[tuple[str, str]] = []
    for i, mblog in enumerate(mblogs):
        try:
            posts.append(post_from_mblog(mblog, crawl_time, keyword=keyword))
        except (LayoutChanged, RecordError, KeyError, TypeError, ValueError) as exc:
            errors.append((f"post {i} mid={mblog.get('mid') or mblog.get('id')}", _reason(exc)))
    if mblogs and not posts:
        raise LayoutChanged(f"weibo {what} page={page}: no post could be read ({errors[0][1]})")
    info = inner.get("cardlistInfo")
    if isinstance(info, Mapping) and "page" in info:
        next_page = _int_or_none(info.get("page"))
    else:
        next_page = page + 1 if mblogs else None
    if next_page is not None and next_page <= page:  # a cursor that does not advance would loop
        next_page = None
    return SearchPage(posts, next_page, errors)


def post_from_mblog(mblog: Mapping[str, Any], crawl_time: datetime, *, keyword: str | None = None,
                    long_text: str | None = None) -> Feedback:
    """One mblog dict → a ``post`` record. `long_text` replaces the truncated text when given."""
    mid = str(mblog.get("mid") or mblog.get("id") or "")
    if not mid:
        raise LayoutChanged("mblog has no mid/id")
    raw_time = str(mblog["created_at"])
    user_raw = mblog.get("user")
    user: Mapping[str, Any] = user_raw if isinstance(user_raw, Mapping) else {}
    bid = mblog.get("bid")
    meta: dict[str, Any] = {
        "mid": mid,
        "bid": bid,
        "user_id": _str_or_none(user.get("id")),
        "gender": user.get("gender"),
        "reposts_count": _int_or_none(mblog.get("reposts_count")),
        "comments_count": _int_or_none(mblog.get("comments_count")),
        "attitudes_count": _int_or_none(mblog.get("attitudes_count")),
        "is_long_text": bool(mblog.get("isLongText")),
        "region": _region(mblog.get("region_name"), "发布于"),
        "app": mblog.get("source") or None,
        "created_at_raw": raw_time,
        "time_precision": precision(raw_time),
    }
    if bid and meta["user_id"]:
        meta["weibo_url"] = f"https://weibo.com/{meta['user_id']}/{bid}"
    if isinstance(mblog.get("retweeted_status"), Mapping):
        meta["retweeted_mid"] = _str_or_none(mblog["retweeted_status"].get("mid")
                                             or mblog["retweeted_status"].get("id"))
    if keyword:
        meta["keyword"] = keyword
    html = long_text if long_text is not None else str(mblog.get("text") or "")
    return _record("post", mid, html, raw_time, crawl_time, mid, user, meta)


def _record(kind: str, native_id: str, html: str, raw_time: str, crawl_time: datetime, page_mid: str,
            user: Mapping[str, Any], meta: dict[str, Any]) -> Feedback:
    """The record a post or comment becomes; `page_mid` is the post whose page shows it."""
    return Feedback(
        id=make_id(SOURCE, native_id=native_id),
        source=SOURCE,
        kind=kind,
        text=plain_text(html),
        created_at=parse_weibo_time(raw_time, crawl_time),
        url=f"https://m.weibo.cn/detail/{page_mid}",
        author=_str_or_none(user.get("screen_name")),
        fetched_at=crawl_time,
        meta={k: v for k, v in meta.items() if v is not None},
    )


def parse_long_text(data: Any) -> str:
    """A ``/statuses/extend`` answer → the full post text (still HTML)."""
    inner = check_envelope(data, "long text")
    if inner is None or not isinstance(inner.get("longTextContent"), str):
        raise LayoutChanged("weibo long text: data.longTextContent missing")
    return inner["longTextContent"]


def parse_comments(data: Any, crawl_time: datetime, *, post_mid: str) -> CommentsPage:
    """A ``/comments/hotflow`` answer → comments of post `post_mid`, replies included."""
    inner = check_envelope(data, f"comments mid={post_mid}")
    if inner is None:
        return CommentsPage([], 0)
    items = inner.get("data")
    if items is None and "max_id" in inner:
        items = []
    if not isinstance(items, list):
        raise LayoutChanged(f"weibo comments mid={post_mid}: data.data missing")
    max_id = _int_or_none(inner.get("max_id"))
    if max_id is None:
        raise LayoutChanged(f"weibo comments mid={post_mid}: data.max_id missing")
    comments: list[Feedback] = []
    errors: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        replies = item.get("comments") if isinstance(item, Mapping) else None
        for node, root in [(item, None)] + [(r, item) for r in (replies or [])
                                           if isinstance(replies, list)]:
            try:
                comments.append(comment_from(node, crawl_time, post_mid=post_mid, root=root))
            except (LayoutChanged, RecordError, KeyError, TypeError, ValueError) as exc:
                cid = node.get("id") if isinstance(node, Mapping) else None
                errors.append((f"comment {i} id={cid}", _reason(exc)))
    if items and not comments:
        raise LayoutChanged(f"weibo comments mid={post_mid}: no comment could be read ({errors[0][1]})")
    return CommentsPage(comments, max_id, _int_or_none(inner.get("max_id_type")) or 0,
                        _int_or_none(inner.get("total_number")), errors)


def comment_from(node: Mapping[str, Any], crawl_time: datetime, *, post_mid: str,
                 root: Mapping[str, Any] | None = None) -> Feedback:
    """One comment dict → a ``comment`` record; `root` is the comment it replies under."""
    cid = str(node.get("id") or "")
    if not cid:
        raise LayoutChanged("comment has no id")
    raw_time = str(node["created_at"])
    user_raw = node.get("user")
    user: Mapping[str, Any] = user_raw if isinstance(user_raw, Mapping) else {}
    root_id = _str_or_none(node.get("rootid") or (root.get("id") if root else None))
    meta: dict[str, Any] = {
        "comment_id": cid,
        "post_mid": post_mid,
        "root_id": root_id if root_id != cid else None,
        "reply_to": _str_or_none(node.get("reply_id")),
        "user_id": _str_or_none(user.get("id")),
        "like_count": _int_or_none(node.get("like_count", node.get("like_counts"))),
        "replies": _int_or_none(node.get("total_number")),
        "region": _region(node.get("source"), "来自"),
        "created_at_raw": raw_time,
        "time_precision": precision(raw_time),
    }
    return _record("comment", cid, str(node.get("text") or ""), raw_time, crawl_time, post_mid, user, meta)


def plain_text(html_text: str) -> str:
    """Weibo HTML → readable text, whitespace folded (emoji alt text, #topics# and @mentions kept:
    a reply reads "回复@name:..." to people; the models' `normalize` drops the handle later)."""
    return " ".join(strip_html(_MENTION_LINK.sub(r"\1", html_text)).split())


def _has_mblog(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "mblog" in value or any(_has_mblog(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mblog(v) for v in value)
    return False


def _region(value: Any, prefix: str) -> str | None:
    text = str(value or "").strip()
    return text.removeprefix(prefix).strip() or None


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _reason(exc: Exception) -> str:
    return f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
