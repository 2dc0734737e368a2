"""Reading an API answer: JSON text in, dict out, or the reason it is not data.

A blocked JSON API rarely says so in JSON: it sends a login page, a captcha page or a "too
frequent" notice as HTML. `load_json` tells those apart from a layout change, so the crawl ends
with the right health status.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crawlers.parse.errors import BlockedPage, LayoutChanged

# Words a refusal page uses instead of data (Sina/Weibo passport, captcha and rate-limit pages).
_BLOCK_SIGNS = re.compile(
    r"验证码|安全验证|人机验证|captcha|passport\.weibo|请登录|登录后|用户登录|login|访问频繁|频繁访问|"
    r"访问受限|访问被拒绝|异常访问|too many requests|forbidden", re.IGNORECASE)


def load_json(body: bytes | str, what: str) -> Any:
    """Decode an API body. A captcha/login/rate-limit page raises `BlockedPage`; any other body
    that is not JSON raises `LayoutChanged`. `what` names the endpoint in the message."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    else:
        text = body
    try:
        return json.loads(text)
    except ValueError as exc:
        sign = looks_blocked(text)
        if sign is not None:
            raise BlockedPage(f"{what}: a refusal page instead of JSON ({sign!r})") from exc
        kind = "HTML" if text.lstrip().startswith("<") else "text"
        raise LayoutChanged(f"{what}: {kind} instead of JSON ({len(text)} chars)") from exc


def looks_blocked(text: str) -> str | None:
    """The refusal sign found at the start of a non-JSON body, or None."""
    match = _BLOCK_SIGNS.search(text.lstrip()[:2000])
    return match.group(0) if match else None


def cookie_dict(header: str | None) -> dict[str, str]:
    """A browser's ``Cookie`` header text (``a=1; b=2``) as a dict, for ``Request(cookies=...)``:
    Scrapy's cookie middleware replaces a hand-set Cookie header with its jar's contents."""
    cookies: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip():
            cookies[name.strip()] = value.strip()
    return cookies
