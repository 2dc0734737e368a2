"""Builders for Weibo and 黑猫投诉 API answers in the real responses' shape (our own content).

Shapes follow SOURCES.md and the saved m.weibo.cn responses: the `ok` envelope, search
``cards[]`` with card_type 9 / 11, hotflow ``data.data[]`` with inline replies and ``max_id``;
tousu ``result.status`` / ``result.data.lists[]`` (or ``complaints[]``) with ``main`` / ``author``.
"""

from __future__ import annotations

import json
from typing import Any

EMOJI = ('<span class="url-icon"><img alt=[怒] src="//h5.sinaimg.cn/m/emoticon/icon/default/d_nu.png" '
         'style="width:1em; height:1em;" /></span>')
TOPIC = ('<a  href="https://m.weibo.cn/search?containerid=231522type%3D1%26q%3D%23江南银行%23">'
         '<span class="surl-text">#江南银行#</span></a>')


def user(uid: int = 1001, name: str = "储户小王") -> dict[str, Any]:
    return {"id": uid, "screen_name": name, "profile_image_url": "https://tvax1.sinaimg.cn/x.jpg",
            "profile_url": f"https://m.weibo.cn/u/{uid}?uid={uid}", "gender": "m", "verified": False,
            "followers_count": 12}


def mblog(mid: str, text: str, created_at: str, *, who: dict[str, Any] | None = None,
          comments: int = 0, long_text: bool = False, bid: str | None = None,
          region: str | None = "发布于 上海") -> dict[str, Any]:
    blog = {"created_at": created_at, "id": mid, "idstr": mid, "mid": mid, "can_edit": False,
            "text": text, "textLength": len(text), "source": "iPhone客户端", "favorited": False,
            "user": who or user(), "reposts_count": 1, "comments_count": comments, "attitudes_count": 3,
            "isLongText": long_text, "bid": bid or f"B{mid[-6:]}", "pic_types": ""}
    if region:
        blog["region_name"] = region
    return blog


def card9(blog: dict[str, Any]) -> dict[str, Any]:
    return {"card_type": 9, "itemid": f"seqid:1|type:1|t:|pos:1-0-0|q:江南银行|ext:&mid={blog['mid']}&",
            "scheme": f"https://m.weibo.cn/status/{blog['bid']}?mblogid={blog['bid']}", "mblog": blog}


def card11(*blogs: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"card_type": 11, "show_type": 1, "card_group": [*(extra or []), *(card9(b) for b in blogs)]}


def user_card() -> dict[str, Any]:
    """A non-post card (search results mix users, topics and posts)."""
    return {"card_type": 10, "user": user(2002, "江南银行官方微博"), "desc1": "江南银行官方微博"}


def search_page(*cards: dict[str, Any], next_page: int | None) -> dict[str, Any]:
    return {"ok": 1, "data": {"cardlistInfo": {"containerid": "100103type=61&q=江南银行", "v_p": 42,
                                               "show_style": 1, "total": 400, "page": next_page},
                              "cards": list(cards), "scheme": ""}}


def comment(cid: str, text: str, created_at: str, *, who: dict[str, Any] | None = None,
            replies: list[dict[str, Any]] | None = None, root: str | None = None,
            likes: int = 0) -> dict[str, Any]:
    return {"created_at": created_at, "id": cid, "rootid": root or cid, "floor_number": 1, "text": text,
            "disable_reply": 0, "user": who or user(3003, "路人甲"), "mid": cid,
            "comments": replies if replies else False, "like_count": likes,
            "total_number": len(replies or []), "source": "来自广东"}


def hotflow(comments: list[dict[str, Any]], max_id: int, *, max_id_type: int = 0) -> dict[str, Any]:
    return {"ok": 1, "data": {"data": comments, "total_number": 42, "status": {}, "max_id": max_id,
                              "max": 3, "max_id_type": max_id_type}}


def refused(msg: str = "请求过于频繁，歇歇吧", ok: int = 0) -> dict[str, Any]:
    return {"ok": ok, "msg": msg}


def long_text(text: str) -> dict[str, Any]:
    return {"ok": 1, "data": {"ok": 1, "longTextContent": text, "reposts_count": 1}}


# --- 黑猫投诉 --------------------------------------------------------------------------------

def complaint(sn: str, title: str, summary: str, timestamp: int, *, cotitle: str = "江南银行",
              view_id: str | None = None, author: str = "黑猫用户123") -> dict[str, Any]:
    view = view_id or sn
    return {"main": {"sn": sn, "title": title, "summary": summary, "appeal": "退还费用,道歉",
                     "cotitle": cotitle, "issue": "乱收费", "cost": "349", "status": 4,
                     "timestamp": str(timestamp), "url": f"//tousu.sina.com.cn/complaint/view/{view}/",
                     "upvote_amount": 2, "share_amount": 0, "comment_amount": 1, "evaluate_u": None,
                     "field": "48"},
            "author": {"title": author, "wb_profile": "https://weibo.com/u/123", "avatar": "x.png"}}


def tousu_page(items: list[dict[str, Any]], *, key: str = "lists", code: int = 0, msg: str = "",
               page_amount: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {key: items}
    if page_amount is not None:
        data["pager"] = {"current": 1, "page_amount": page_amount, "item_count": len(items)}
    return {"result": {"status": {"code": code, "msg": msg}, "timestamp": "Sat Jun 14 12:00:00 +0800 2025",
                       "data": data}}


def body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
