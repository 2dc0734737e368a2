"""The inline PNG chart in alert emails: negative records per hour over the last 48 h against the baseline.

Input is `alert.details["series"]`, which every rule fills: a list of
`{"t": ISO-8601 UTC hour start, "count": int, "baseline": float}`. `chart_png(series, ...)` returns
PNG bytes (about 15 KB, well under 60 KB), or None when there is nothing to draw.

Headless by construction: it draws on a bare `matplotlib.figure.Figure` (saved through the Agg
canvas), never through pyplot, so no GUI backend, no global figure state and no thread trouble.
Labels are ASCII because many servers have no CJK font (a missing glyph draws as a box); the
Chinese title sits in the HTML right above the image. Times on the axis are Beijing time. matplotlib
is imported on first use, so `voc --help` and alerts without a series do not pay for it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from core.record import as_utc, display_tz, parse_time

HOURS = 48
HOUR = timedelta(hours=1)
Point = tuple[datetime, int, float | None]


def parse_series(series: Sequence[Mapping[str, Any]]) -> list[Point]:
    """Validated, time-sorted points; ValueError names the bad entry and key."""
    if isinstance(series, (str, bytes)) or not isinstance(series, Sequence):
        raise ValueError(f"series: expected a list of {{t, count, baseline}}, got {type(series).__name__}")
    points: list[Point] = []
    for i, item in enumerate(series):
        if not isinstance(item, Mapping):
            raise ValueError(f"series[{i}]: expected a mapping, got {type(item).__name__}")
        for key in ("t", "count"):
            if key not in item:
                raise ValueError(f"series[{i}].{key}: missing")
        try:
            t = as_utc(parse_time(item["t"], naive_tz=None))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"series[{i}].t: {exc}") from exc
        count, baseline = item["count"], item.get("baseline")
        if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
            raise ValueError(f"series[{i}].count: expected a count >= 0, got {count!r}")
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, (int, float))
                                     or baseline < 0):
            raise ValueError(f"series[{i}].baseline: expected a number >= 0 or null, got {baseline!r}")
        points.append((t, int(count), None if baseline is None else float(baseline)))
    return sorted(points, key=lambda p: p[0])


def chart_png(series: Sequence[Mapping[str, Any]], window_start: datetime | None = None,
              window_end: datetime | None = None, *, tz: ZoneInfo | None = None,
              hours: int = HOURS) -> bytes | None:
    """PNG of the last `hours` hours of `series` up to `window_end` (default: the last point's hour
    end), the alert window shaded. None when no point falls in that span."""
    points = parse_series(series)
    if not points:
        return None
    end = as_utc(window_end) if window_end is not None else _floor_hour(points[-1][0]) + HOUR
    start = _floor_hour(end - hours * HOUR)
    shown = tuple((_floor_hour(t), n, base) for t, n, base in points if start <= t < end)
    if not shown:
        return None
    shade = (as_utc(window_start), end) if window_start is not None else None
    return _render(shown, start, end, shade, (tz or display_tz()).key)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)  # UTC; Beijing hours are the same hours


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts from `start` (on the hour) until `end`, the last one possibly partial."""
    return [start + i * HOUR for i in range(-(-(end - start) // HOUR))]


@lru_cache(maxsize=16)  # the outbox and the SMTP notifier render the same alert in one check
def _render(points: tuple[Point, ...], start: datetime, end: datetime,
            shade: tuple[datetime, datetime] | None, tz_name: str) -> bytes:
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    tz = ZoneInfo(tz_name)
    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    ax = fig.add_subplot()
    # one filled staircase over every hour of the span (an hour missing from the series had no
    # negative record): a single artist, several times faster to draw than 48 bars
    counts = dict.fromkeys(_hours(start, end), 0)
    for t, n, _base in points:
        counts[t] += n
    edges = mdates.date2num([*counts, end])
    ax.stairs(list(counts.values()), edges, fill=True, color="#d9534f", label="negative / hour", zorder=2)
    with_base = [p for p in points if p[2] is not None]
    if with_base:
        # a step over each hour, carried to the hour's end so the last hour has its baseline too
        xs = [p[0] for p in with_base] + [with_base[-1][0] + HOUR]
        ys = [p[2] for p in with_base] + [with_base[-1][2]]
        ax.step(xs, ys, where="post", color="#1f4e79", linewidth=1.6, label="baseline", zorder=3)
    if shade is not None:
        ax.axvspan(max(shade[0], start), shade[1], color="#f0ad4e", alpha=0.25, label="alert window",
                   zorder=1)
    ax.set_xlim(start, end)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 6), tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=tz))
    ax.tick_params(labelsize=8)
    ax.set_ylabel("records / hour", fontsize=8)
    label = "Beijing time (UTC+8)" if tz_name == "Asia/Shanghai" else tz_name
    ax.set_xlabel(label, fontsize=8)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=3)
    # fixed margins: tight_layout would lay the figure out twice (half the render time)
    fig.subplots_adjust(left=0.075, right=0.985, top=0.94, bottom=0.2)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # labels are ASCII; should a caller's text still lack a glyph, a box is drawn, not an error
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
