"""The inline PNG chart in alert emails: records per hour over the last 48 h against the baseline.

Input is `alert.details["series"]`, which every rule fills: a list of
`{"t": ISO-8601 UTC hour start, "count": int, "baseline": float}`; an entry may also carry `low` and
`high`, the range the rule counts as ordinary for that hour. `chart_png(series, ...)` returns PNG
bytes (640 x 260, about 20 KB, well under 60 KB), or None when there is nothing to draw.

What it shows, back to front: the hourly counts as one filled staircase; the baseline's ordinary
range as a pale band (the entry's `low`..`high`, else the central 95 % of a Poisson count with the
baseline as its mean); the alert window, translucent with an outline, *over* the bars so it shows
whatever their height; the baseline as a line on top. The layout is fitted to the labels once
(`tight_layout`), so no tick label or axis title is cut at the figure's edge.

Labels are Chinese when a CJK font is installed (Noto Sans CJK, Source Han Sans, WenQuanYi:
`cjk_font()`; the Docker image installs fonts-noto-cjk), ASCII otherwise — a missing glyph would
draw as a box. Times on the axis are Beijing time.

Headless by construction: it draws on a bare `matplotlib.figure.Figure` (saved through the Agg
canvas), never through pyplot, and passes its font to each text instead of touching rcParams, so
no GUI backend, no global figure state and no thread trouble. matplotlib is imported on first use,
so `voc --help` and alerts without a series do not pay for it.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core.record import as_utc, display_tz, parse_time

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HOURS = 48
HOUR = timedelta(hours=1)
BAND = 0.95  # the central share of a Poisson count the default band covers
# CJK families by preference (simplified Chinese first); the file-name stems find them on disk
# when matplotlib's font cache predates their installation.
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK JP", "Source Han Sans")
CJK_FILES = ("notosanscjk", "sourcehansans", "wqy-microhei", "wqy-zenhei", "notosanssc")
FALLBACK = "DejaVu Sans"  # matplotlib's own font, always present
LABELS = {
    "ascii": {"count": "records / hour", "baseline": "baseline", "band": "usual range",
              "window": "alert window", "y": "per hour", "tz": "Beijing time (UTC+8)"},
    "cjk": {"count": "每小时条数", "baseline": "基线", "band": "正常范围", "window": "告警时段",
            "y": "条 / 小时", "tz": "北京时间"},
}
# The plain values a point holds: hour start, count, baseline, and the band (low, high) if known.
Point = tuple[datetime, int, float | None, float | None, float | None]


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
        count = item["count"]
        if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
            raise ValueError(f"series[{i}].count: expected a count >= 0, got {count!r}")
        baseline, low, high = (_level(item, i, key) for key in ("baseline", "low", "high"))
        if low is not None and high is not None and low > high:
            raise ValueError(f"series[{i}].low: {low} is above high {high}")
        points.append((t, int(count), baseline, low, high))
    return sorted(points, key=lambda p: p[0])


def _level(item: Mapping[str, Any], i: int, key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"series[{i}].{key}: expected a number >= 0 or null, got {value!r}")
    return float(value)


def chart_png(series: Sequence[Mapping[str, Any]], window_start: datetime | None = None,
              window_end: datetime | None = None, *, tz: ZoneInfo | None = None,
              hours: int = HOURS) -> bytes | None:
    """PNG of the last `hours` hours of `series` up to `window_end` (default: the last point's hour
    end), the alert window marked. None when no point falls in that span."""
    span = _span(series, window_start, window_end, hours)
    if span is None:
        return None
    return _render(*span, (tz or display_tz()).key, cjk_font())


def chart_figure(series: Sequence[Mapping[str, Any]], window_start: datetime | None = None,
                 window_end: datetime | None = None, *, tz: ZoneInfo | None = None,
                 hours: int = HOURS) -> Figure | None:
    """The figure `chart_png` saves (for tests and for a caller that wants another format)."""
    span = _span(series, window_start, window_end, hours)
    if span is None:
        return None
    return _draw(*span, (tz or display_tz()).key, cjk_font())


Span = tuple[tuple[Point, ...], datetime, datetime, tuple[datetime, datetime] | None]


def _span(series: Sequence[Mapping[str, Any]], window_start: datetime | None,
          window_end: datetime | None, hours: int) -> Span | None:
    points = parse_series(series)
    if not points:
        return None
    end = as_utc(window_end) if window_end is not None else _floor_hour(points[-1][0]) + HOUR
    start = _floor_hour(end - hours * HOUR)
    shown = tuple((_floor_hour(p[0]), *p[1:]) for p in points if start <= p[0] < end)
    if not shown:
        return None
    shade = (max(as_utc(window_start), start), end) if window_start is not None else None
    return shown, start, end, shade


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font matplotlib can use, or None (then labels are ASCII).

    Looks in matplotlib's font list first, then among the system's font files (matplotlib caches
    its list once, so a font installed after that is otherwise never seen) and registers the first
    one found. Cached: fonts do not come and go while the process runs."""
    from matplotlib import font_manager

    def known() -> str | None:
        names = {font.name for font in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found is None:
        for path in sorted(font_manager.findSystemFonts()):
            stem = path.rsplit("/", 1)[-1].lower()
            if stem.startswith(CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # an unreadable font file: try the next one
        found = known()
    return found


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)  # UTC; Beijing hours are the same hours


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts from `start` (on the hour) until `end`, the last one possibly partial."""
    return [start + i * HOUR for i in range(-(-(end - start) // HOUR))]


@lru_cache(maxsize=512)
def poisson_range(mean: float, share: float = BAND) -> tuple[int, int]:
    """The central `share` of a Poisson count with this mean: (low, high) quantiles."""
    if mean <= 0:
        return 0, 0
    tail = (1 - share) / 2
    if mean > 500:  # the normal approximation is exact enough at this size, and the sum below slow
        z = 1.959963984540054 if share == BAND else _normal_quantile(1 - tail)
        return max(0, math.floor(mean - z * math.sqrt(mean))), math.ceil(mean + z * math.sqrt(mean))
    k, term = 0, math.exp(-mean)
    cdf, low = term, None
    while True:
        if low is None and cdf >= tail:
            low = k
        if cdf >= 1 - tail:
            return low if low is not None else k, k
        k += 1
        term *= mean / k
        cdf += term


def _normal_quantile(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * math.erfc(-mid / math.sqrt(2)) < p else (lo, mid)
    return (lo + hi) / 2


@lru_cache(maxsize=16)  # the outbox and the SMTP notifier render the same alert in one check
def _render(points: tuple[Point, ...], start: datetime, end: datetime,
            shade: tuple[datetime, datetime] | None, tz_name: str, font: str | None) -> bytes:
    fig = _draw(points, start, end, shade, tz_name, font)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # should a label still lack a glyph, a box is drawn, not an error
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _draw(points: tuple[Point, ...], start: datetime, end: datetime,
          shade: tuple[datetime, datetime] | None, tz_name: str, font: str | None) -> Figure:
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    tz = ZoneInfo(tz_name)
    words = LABELS["cjk" if font else "ascii"]
    family = [font, FALLBACK] if font else [FALLBACK]
    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    ax = fig.add_subplot()
    # one filled staircase over every hour of the span (an hour missing from the series had no
    # record): a single artist, several times faster to draw than 48 bars
    counts = dict.fromkeys(_hours(start, end), 0)
    for t, n, *_ in points:
        counts[t] += n
    edges = mdates.date2num([*counts, end])
    ax.stairs(list(counts.values()), edges, fill=True, color="#d9534f", label=words["count"], zorder=2)
    with_base = [p for p in points if p[2] is not None]
    if with_base:
        # steps over each hour, carried to the hour's end so the last hour has its baseline too
        xs = [p[0] for p in with_base] + [with_base[-1][0] + HOUR]
        base = [p[2] for p in with_base]
        band = [_band(p) for p in with_base]
        ax.fill_between(xs, [lo for lo, _ in band] + [band[-1][0]], [hi for _, hi in band] + [band[-1][1]],
                        step="post", facecolor="#5b9bd5", alpha=0.2, edgecolor="#1f4e79",
                        linewidth=0.5, label=words["band"], zorder=3)
        ax.step(xs, [*base, base[-1]], where="post", color="#1f4e79", linewidth=1.6,
                label=words["baseline"], zorder=5)
    if shade is not None:
        # over the bars, translucent, outlined: visible whatever the bars' height
        ax.axvspan(shade[0], shade[1], facecolor="#f0ad4e", alpha=0.3, edgecolor="#c77c0e",
                   linewidth=1.2, label=words["window"], zorder=4)
    ax.set_xlim(start, end)
    ax.set_ylim(bottom=0)
    ax.margins(y=0.12)  # headroom for the legend above the highest bar
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))  # counts: no 2.5 ticks
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 6), tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=tz))
    ax.tick_params(labelsize=8, labelfontfamily=family)
    ax.set_ylabel(words["y"], fontsize=8, fontfamily=family)
    ax.set_xlabel(words["tz"] if tz_name == "Asia/Shanghai" else tz_name, fontsize=8, fontfamily=family)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
    ax.legend(loc="upper left", frameon=False, ncols=4, prop={"family": family, "size": 7})
    # fitted to the labels' real extents, so the last tick label (at the right edge) is not cut
    fig.tight_layout(pad=0.4)
    return fig


def _band(point: Point) -> tuple[float, float]:
    _, _, base, low, high = point
    if low is not None and high is not None:
        return low, high
    lo, hi = poisson_range(base or 0.0)
    return (low if low is not None else lo), (high if high is not None else hi)
