"""The alert chart: a real PNG from a series, Beijing-time axis, the window marked over the bars, the
baseline with its band, no label cut, Chinese labels only where a CJK font exists, bad input named."""

from __future__ import annotations

import struct
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from alerts.render import chart
from alerts.render.chart import chart_figure, chart_png, parse_series, poisson_range

END = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)  # 10:00 Beijing
HOUR = timedelta(hours=1)


def series(hours=48, end=END, spike=38):
    return [{"t": (end - h * HOUR).isoformat(), "count": spike if h == 1 else 4 + h % 3, "baseline": 4.5}
            for h in range(hours, 0, -1)]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture(params=["cjk", "ascii"])
def font(request, monkeypatch):
    """Each test that takes it runs with the machine's CJK font (skipped where there is none) and
    with the font finder answering None, as on a server without one."""
    if request.param == "cjk":
        found = chart.cjk_font()
        if found is None:
            pytest.skip("no CJK font on this machine (apt install fonts-noto-cjk)")
    else:
        found = None
        monkeypatch.setattr(chart, "cjk_font", lambda: None)
    return found


def texts(fig):
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    return labels + [ax.get_xlabel(), ax.get_ylabel()]


def test_chart_is_a_small_png(font):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing glyph or other warnings from drawing
        png = chart_png(series(), END - HOUR, END)
    assert png_size(png) == (640, 260)
    assert 2_000 < len(png) < 60_000


def test_labels_are_chinese_only_with_a_cjk_font(font):
    words = texts(chart_figure(series(), END - HOUR, END))
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for word in words for ch in word)
    assert has_cjk == (font is not None)
    if font is None:
        assert all(word.isascii() for word in words)
        assert "alert window" in words and "baseline" in words
    else:
        assert "告警时段" in words and "基线" in words and "北京时间" in words
        ax = chart_figure(series(), END - HOUR, END).axes[0]
        assert font in ax.xaxis.label.get_fontfamily()


def test_the_window_is_drawn_over_the_bars(font):
    ax = chart_figure(series(), END - 3 * HOUR, END).axes[0]
    [bars] = [p for p in ax.patches if type(p).__name__ == "StepPatch"]
    windows = [p for p in ax.patches if p.get_label() in ("alert window", "告警时段")]
    [window] = windows
    assert window.get_zorder() > bars.get_zorder()
    assert 0 < window.get_alpha() < 1  # the bars show through it
    assert window.get_linewidth() > 0  # and it has an outline


def test_the_baseline_is_a_line_with_its_band(font):
    ax = chart_figure(series(), END - HOUR, END).axes[0]
    [line] = [ln for ln in ax.get_lines() if ln.get_label() in ("baseline", "基线")]
    assert set(line.get_ydata()) == {4.5}
    [band] = [c for c in ax.collections if c.get_label() in ("usual range", "正常范围")]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == poisson_range(4.5)[0] and ys.max() == poisson_range(4.5)[1]


def test_a_band_carried_by_the_series_is_used():
    points = [{**p, "low": 2, "high": 7} for p in series()]
    ax = chart_figure(points, END - HOUR, END).axes[0]
    [band] = [c for c in ax.collections if c.get_label() in ("usual range", "正常范围")]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == 2 and ys.max() == 7


@pytest.mark.parametrize("end", [END, END + 2 * HOUR, END + 2 * HOUR + timedelta(minutes=30)])
def test_no_label_is_cut(font, end):
    """The axis, its tick labels and titles lie inside the figure, including a tick label at the
    very right edge (END + 2 h is 12:00 Beijing, a tick)."""
    fig = chart_figure(series(end=end), end - HOUR, end)
    canvas = FigureCanvasAgg(fig)  # what savefig draws with
    canvas.draw()
    renderer = canvas.get_renderer()
    box, page = fig.axes[0].get_tightbbox(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    last = [t for t in fig.axes[0].get_xticklabels() if t.get_text()][-1].get_window_extent(renderer)
    assert last.x1 <= page.x1


def test_poisson_range():
    assert poisson_range(0) == (0, 0)
    assert poisson_range(4.5) == (1, 9)
    low, high = poisson_range(1000)  # the normal approximation: 1000 -/+ 1.96 * 31.6
    assert (low, high) == (938, 1062)


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
    ax = chart_figure(points, END - HOUR, END).axes[0]
    assert not ax.collections and not ax.get_lines()  # no baseline, no band


def test_nothing_to_draw():
    assert chart_png([], END - HOUR, END) is None
    old = series(end=END - 100 * HOUR)
    assert chart_png(old, END - HOUR, END) is None
    assert chart_figure(old, END - HOUR, END) is None


@pytest.mark.parametrize("bad,words", [
    ([{"count": 1}], r"series\[0\]\.t: missing"),
    ([{"t": "yesterday", "count": 1}], r"series\[0\]\.t"),
    ([{"t": "2024-05-06T01:00:00", "count": 1}], r"series\[0\]\.t: .*no UTC offset"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1}, {"t": "2024-05-06T02:00:00Z", "count": "7"}],
     r"series\[1\]\.count"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1, "baseline": -1}], r"series\[0\]\.baseline"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1, "baseline": 1, "high": "9"}], r"series\[0\]\.high"),
    ([{"t": "2024-05-06T01:00:00Z", "count": 1, "baseline": 1, "low": 3, "high": 2}],
     r"series\[0\]\.low: .* above high"),
    ("not a list", "series: expected a list"),
    ([5], r"series\[0\]: expected a mapping"),
])
def test_bad_series_names_the_entry(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_series(bad)
