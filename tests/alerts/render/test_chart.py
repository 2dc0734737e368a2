"""The alert chart: a real PNG from a series, Beijing-time axis, the window shaded, bad input named."""

from __future__ import annotations

import struct
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from alerts.render.chart import chart_png, parse_series

END = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)  # 10:00 Beijing
HOUR = timedelta(hours=1)


def series(hours=48, end=END, spike=38):
    return [{"t": (end - h * HOUR).isoformat(), "count": spike if h == 1 else 4 + h % 3, "baseline": 4.5}
            for h in range(hours, 0, -1)]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_chart_is_a_small_png():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no glyph or other warnings from drawing
        png = chart_png(series(), END - HOUR, END)
    assert png_size(png) == (640, 260)
    assert 2_000 < len(png) < 60_000


def test_the_chart_shows_the_data():
    flat = chart_png(series(spike=4), END - HOUR, END)
    spiky = chart_png(series(spike=38), END - HOUR, END)
    assert flat != spiky  # the counts are drawn, not a fixed picture
    unshaded = chart_png(series(spike=38), None, END)
    assert unshaded != spiky


def test_only_the_last_48_hours_are_drawn():
    long = series(hours=200)
    assert chart_png(long, END - HOUR, END) == chart_png(long[-48:], END - HOUR, END)


def test_window_off_the_hour_and_no_baseline():
    points = [{**p, "baseline": None} for p in series()]
    png = chart_png(points, END - HOUR + timedelta(minutes=5), END + timedelta(minutes=5))
    assert png_size(png) == (640, 260)


def test_nothing_to_draw():
    assert chart_png([], END - HOUR, END) is None
    old = series(end=END - 100 * HOUR)
    assert chart_png(old, END - HOUR, END) is None


@pytest.mark.parametrize("bad,words", [
    ([{"count": 1}], r"series\[0\]\.t: missing"),
    ([{"t": "yesterday", "count": 1}], r"series\[0\]\.t"),
    ([{"t": "2024-05-06T01:00:00", "count": 1}], r"series\[0\]\.t: .*no UTC offset"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1}, {"t": "2024-05-06T02:00:00Z", "count": "7"}],
     r"series\[1\]\.count"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1, "baseline": -1}], r"series\[0\]\.baseline"),
    ("not a list", "series: expected a list"),
    ([5], r"series\[0\]: expected a mapping"),
])
def test_bad_series_names_the_entry(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_series(bad)
