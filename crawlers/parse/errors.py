"""What a page parser raises when a page is not the data it should be.

Tree::

    crawlers.errors.CrawlError
    └── PageError              a whole page cannot be used; carries `status` and `reason`
        ├── BlockedPage        the site refused us: `ok: 0`, a login or captcha page, HTTP 456,
        │                      a non-zero API status code (status = "blocked")
        └── LayoutChanged      the page parsed but its shape is not the one we know
                               (status = "layout_changed")

Spiders turn these into `VocSpider.block(reason, status=...)`, which ends the crawl and records the
source's health; they are never swallowed into "0 new items". A single bad item inside a good page
is not a `PageError`: parsers report it in the page's `errors` list and carry on.
"""

from __future__ import annotations

from crawlers.errors import CrawlError


class PageError(CrawlError):
    """A page cannot be used. `status` is the crawl_health status it maps to."""

    status = "failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockedPage(PageError):
    """The site answered, but with a refusal instead of data."""

    status = "blocked"


class LayoutChanged(PageError):
    """The answer is not in the shape this parser knows: the site changed."""

    status = "layout_changed"
