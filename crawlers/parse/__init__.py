"""Pure parsing helpers for the social spiders: JSON dicts in, `core.record.Feedback` lists out.

Nothing here touches the network or Scrapy, so every edge case is tested with a plain dict:

- `weibo_time`  — Weibo's relative and absolute time strings → UTC, against a crawl time.
- `weibo`       — m.weibo.cn envelopes (`ok`), search cards (card_type 9 / 11 → card_group),
                  long text, comments hotflow pages (`max_id` paging).
- `tousu_sign`  — the 黑猫投诉 request signature (ts, rs, sha256 over the sorted values).
- `tousu`       — 黑猫投诉 feed / search / company JSON → complaint records.
- `errors`      — `PageError` and its two kinds, `BlockedPage` and `LayoutChanged`.
"""
