"""Durations written the way people write them in settings: "30m", "1h", "2d", "1w"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse "<number><unit>" (s, m, h, d, w) into a positive timedelta; ValueError names the text."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '1h' or '30m', got {text!r}")
    match = _PATTERN.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. '30m', '1h', '2d')")
    value = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    if value <= timedelta(0):
        raise ValueError(f"duration must be positive: {text!r}")
    return value


def describe_duration(value: timedelta) -> str:
    """Chinese wording for titles: 1 小时, 30 分钟, 2 天."""
    seconds = int(value.total_seconds())
    for size, word in ((7 * 86400, "周"), (86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds % size == 0:
            return f"{seconds // size} {word}"
    return f"{seconds} 秒"
