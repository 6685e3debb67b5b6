"""The incident chart: a PNG of the exact size asked, whatever the data, from any thread."""

from __future__ import annotations

import io
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from PIL import Image

from bot.enrich.chart import ALERT_COLOR, MARKER_STYLES, MAX_ALT_TEXT, alt_text, render_chart
from bot.enrich.types import ChangeEvent, ChangeKind, SignalSeries

START = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def signal(
    name: str, unit: str | None = "%", n: int = 240, step_s: float = 30.0, scale: float = 1.0
) -> SignalSeries:
    t0 = START.timestamp() - n * step_s / 2
    points = [
        (t0 + i * step_s, scale * (1.0 + math.sin(i / 9) + (3.0 if i > n / 2 else 0.0)))
        for i in range(n)
    ]
    return SignalSeries(
        name=name, query=f"{name}{{service='fraud-scorer'}}", points=points, unit=unit
    )


def change(kind: ChangeKind, ref: str, minutes_before: float) -> ChangeEvent:
    return ChangeEvent(
        kind=kind,
        ref=ref,
        service="fraud-scorer",
        at=START - timedelta(minutes=minutes_before),
        source="lineage" if kind == "data" else "deploy_event",
        summary=ref,
    )


SERIES = [signal("error_rate"), signal("p95_latency", "ms"), signal("drift_score", None)]
CHANGES = [
    change("code", "api 2.3.1", 40),
    change("model", "fraud-scorer 1.4.2", 6),
    change("data", "warehouse/tx", 25),
]


def image(png: bytes) -> Image.Image:
    opened = Image.open(io.BytesIO(png))
    opened.load()
    return opened


def pixels_of(png: bytes, hex_color: str, tolerance: int = 40) -> int:
    """How many pixels are ``hex_color``, give or take antialiasing."""
    want = [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
    colors = image(png).convert("RGB").getcolors(maxcolors=1 << 20) or []
    return sum(
        n
        for n, rgb in colors
        if sum(abs(c - w) for c, w in zip(rgb, want, strict=True)) <= tolerance
    )


def test_default_chart_is_a_1200_by_800_png() -> None:
    png = render_chart(SERIES, CHANGES, START, title="fraud-scorer: HighErrorRate")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    opened = image(png)
    assert opened.format == "PNG"
    assert opened.size == (1200, 800)


def test_custom_size_is_exact_even_when_it_does_not_divide_the_dpi() -> None:
    for size in ((800, 450), (1001, 613), (333, 217)):
        png = render_chart(SERIES, CHANGES, START, title="t", width_px=size[0], height_px=size[1])
        assert image(png).size == size


def test_alert_start_and_every_change_kind_are_drawn_in_their_own_colour() -> None:
    png = render_chart(SERIES, CHANGES, START, title="t")
    assert pixels_of(png, ALERT_COLOR) > 300  # a 2 px line through three panels
    for kind in ("code", "model", "data"):
        assert pixels_of(png, MARKER_STYLES[kind].color) > 150, kind

    only_data = render_chart(SERIES, [change("data", "warehouse/tx", 25)], START, title="t")
    assert pixels_of(only_data, MARKER_STYLES["code"].color) == 0


def test_no_series_at_all_still_renders_the_markers_on_an_empty_time_axis() -> None:
    png = render_chart([], CHANGES, START, title="no metrics")
    assert image(png).size == (1200, 800)
    assert pixels_of(png, ALERT_COLOR) > 100
    assert pixels_of(png, MARKER_STYLES["model"].color) > 150
    assert image(render_chart([], [], START, title="nothing at all")).size == (1200, 800)


def test_a_signal_without_points_or_with_gaps_renders() -> None:
    empty = SignalSeries(name="error_rate", query="q", points=[], unit="%")
    holes = SignalSeries(
        name="p95",
        query="q",
        points=[(START.timestamp(), math.nan), (START.timestamp() + 60, math.inf)],
    )
    png = render_chart([empty, holes, signal("drift_score")], CHANGES, START, title="t")
    assert image(png).size == (1200, 800)


def test_more_than_four_signals_are_dropped_not_squeezed() -> None:
    many = [signal(f"signal_{i}") for i in range(7)]
    png = render_chart(many, CHANGES, START, title="t")
    assert image(png).size == (1200, 800)


def test_changes_far_outside_the_data_window_do_not_break_the_chart() -> None:
    far = [
        change("code", "last week", 7 * 24 * 60),
        change("model", "tomorrow", -24 * 60),
        *CHANGES,
    ]
    png = render_chart(SERIES, far, START, title="t")
    assert image(png).size == (1200, 800)
    naive_start = START.replace(tzinfo=None)  # a naive alert start is read as UTC
    assert image(render_chart(SERIES, far, naive_start, title="t")).size == (1200, 800)


def test_two_threads_render_at_once_and_get_the_same_bytes_as_one_alone() -> None:
    alone = render_chart(SERIES, CHANGES, START, title="threads")
    barrier = threading.Barrier(2)

    def render(_: int) -> bytes:
        barrier.wait(5)
        return b"".join(render_chart(SERIES, CHANGES, START, title="threads") for _ in range(3))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(render, range(2)))
    assert results == [alone * 3, alone * 3]  # same pixels: no state shared between renders


def test_alt_text_names_the_signals_and_counts_the_changes() -> None:
    text = alt_text(SERIES, CHANGES, START)
    for s in SERIES:
        assert s.name in text
    assert "3 changes marked" in text
    assert "fraud-scorer 1.4.2" in text
    assert "alert started 03:00 UTC" in text
    assert alt_text([], [], START).startswith("Chart with no metric data")
    assert "1 change marked" in alt_text(SERIES, CHANGES[:1], START)


def test_alt_text_stays_within_slacks_limit() -> None:
    long_refs = [change("data", "warehouse/" + "x" * 400, i) for i in range(20)]
    text = alt_text([signal(f"s{i}" * 30) for i in range(6)], long_refs, START)
    assert len(text) <= MAX_ALT_TEXT


def test_a_reused_figure_draws_exactly_what_a_fresh_one_draws() -> None:
    """Figures are pooled for speed: nothing of one chart may show up in the next."""
    first = render_chart(SERIES, CHANGES, START, title="first")
    other = [
        SignalSeries(name="x", query="q", points=[]),
        *(signal(name, scale=250.0) for name in ("y", "z", "w")),
    ]
    for _ in range(2):  # fills the pool with other charts of the same layout
        render_chart(SERIES[::-1], CHANGES[:1], START + timedelta(hours=5), title="other")
        render_chart(other[:3], [], START, title="no data in the first panel")
        render_chart(other, CHANGES, START, title="four panels")
    assert render_chart(SERIES, CHANGES, START, title="first") == first


def test_alt_text_says_which_changes_fall_outside_the_chart() -> None:
    far = [*CHANGES, change("code", "last week", 7 * 24 * 60)]
    text = alt_text(SERIES, far, START)
    assert "3 changes marked" in text
    assert "1 change(s) outside the time window not shown" in text
    assert "last week" not in text
