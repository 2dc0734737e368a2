"""When a delivery that failed is tried again: exponential backoff over the send journal.

`next_attempt(attempts, now)` is when a pending alert is tried again after its `attempts`-th failed
delivery (1, 2, 4, ... minutes, capped at 60); `due(entry, now)` tells the runner whether a journal
entry's `next_attempt_at` has come.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from core.record import as_utc, parse_time

BACKOFF_CAP = timedelta(minutes=60)


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to retry after the `attempts`-th failed delivery: 1, 2, 4, 8 ... minutes later, at most
    60 (a robot or mail server that is down for an hour is not hammered every check)."""
    if attempts <= 0:
        return as_utc(now)
    return as_utc(now) + min(timedelta(minutes=2 ** min(attempts - 1, 16)), BACKOFF_CAP)


def due(entry: Mapping[str, Any], now: datetime) -> bool:
    """Whether a send-journal entry may be tried at `now` (no `next_attempt_at` = at once)."""
    when = entry.get("next_attempt_at")
    return not when or parse_time(when, naive_tz=None) <= as_utc(now)
