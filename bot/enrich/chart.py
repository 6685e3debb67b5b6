"""The incident chart: the catalog signals around the alert, with every change marked on them.

One panel per signal (at most ``MAX_PANELS``, stacked on a shared UTC time axis), a vertical line
for each change (style by kind: code, model, data; its ref written beside it) and a red line at
the alert start. ``render_chart`` returns PNG bytes of exactly the size asked for.

Rendering uses matplotlib's object-oriented API on the Agg canvas, never ``pyplot``: no global
figure registry, so worker threads can render charts at the same time. matplotlib and numpy
(~1 s and ~50 MB) are imported by the first render, or ahead of it by ``load()``, which the
serving process calls in the background where it may draw charts (bot/wiring/warm_up.py);
importing this module costs nothing.

Speed: building a figure's axes and their tick artists is about a third of a render, so a few
figures are kept for reuse (``_SheetPool``): a thread takes one out, clears what the last chart
drew, draws, and gives it back; a render never shares a figure with another thread.
"""

from __future__ import annotations

import functools
import importlib
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from bot.enrich.types import ChangeEvent, ChangeKind, SignalSeries

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

MAX_PANELS = 4
DPI = 100
MAX_ALT_TEXT = 1000  # Slack refuses a longer alt_txt (alt_txt_too_large)
POOL_SIZE = 2  # idle figures kept (a 1200x800 one holds ~5 MB)
MIN_SPAN_S = 30 * 60.0  # an empty or single-point chart still shows half an hour
EDGE_PAD = 0.02  # of the span, either side

# What a render imports (inside the functions below), in the order ``load()`` imports it.
RENDERING_MODULES = (
    "numpy",
    "matplotlib.dates",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.collections",
    "matplotlib.lines",
    "matplotlib.ticker",
    "matplotlib.transforms",
)

ALERT_COLOR = "#d62728"
LINE_COLOR = "#1f4e79"


@dataclass(frozen=True)
class MarkerStyle:
    color: str
    linestyle: Literal["--", "-.", ":"]
    words: str


MARKER_STYLES: dict[ChangeKind, MarkerStyle] = {
    "code": MarkerStyle("#1f77b4", "--", "code deploy"),
    "model": MarkerStyle("#9467bd", "-.", "model version"),
    "data": MarkerStyle("#ff7f0e", ":", "data change"),
}


def load() -> None:
    """Import what rendering uses (~1 s), ahead of the first chart; any thread, any number of
    times."""
    for module in RENDERING_MODULES:
        importlib.import_module(module)


@functools.cache
def _epoch_num() -> float:
    """matplotlib counts days since its epoch (1970-01-01 unless configured otherwise)."""
    import matplotlib.dates as mdates

    return float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def _num(unix_s: float) -> float:
    return _epoch_num() + unix_s / 86400.0


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _hhmm(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%H:%M")


def _label(s: SignalSeries) -> str:
    return f"{s.name} ({s.unit})" if s.unit else s.name


def _values(s: SignalSeries) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if not s.points:
        return np.empty(0), np.empty(0)
    data = np.asarray(s.points, dtype=float).reshape(-1, 2)
    values = data[:, 1]
    values[~np.isfinite(values)] = np.nan  # a gap in the line, not an exploded axis
    return data[:, 0], values


def _window(
    shown: Sequence[SignalSeries], changes: Sequence[ChangeEvent], alert_s: float
) -> tuple[float, float]:
    """The time range drawn, in unix seconds: the data and the alert start; with no data, the
    changes and the alert start. Never shorter than ``MIN_SPAN_S``."""
    times = [t for s in shown for t, _ in s.points if math.isfinite(t)]
    if not times:
        times = [_aware(c.at).timestamp() for c in changes]
    lo, hi = min([*times, alert_s]), max([*times, alert_s])
    if hi - lo < MIN_SPAN_S:
        middle = (lo + hi) / 2
        lo, hi = middle - MIN_SPAN_S / 2, middle + MIN_SPAN_S / 2
    pad = (hi - lo) * EDGE_PAD
    return lo - pad, hi + pad


@dataclass
class _Sheet:
    """A figure with its canvas and stacked panels, for one layout (panels, width, height)."""

    fig: Figure
    canvas: FigureCanvasAgg
    axes: list[Axes]

    @classmethod
    def new(cls, panels: int, width_px: int, height_px: int) -> _Sheet:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # +0.25 px: the canvas truncates width * dpi, and 10.01 * 100 is 1000.999...
        fig = Figure(figsize=((width_px + 0.25) / DPI, (height_px + 0.25) / DPI), dpi=DPI)
        fig.set_facecolor("white")
        canvas = FigureCanvasAgg(fig)
        # Not sharex: shared axes each build (hidden) time ticks, a third of the draw time.
        axes = list(fig.subplots(panels, 1, squeeze=False)[:, 0])
        for ax in axes[:-1]:  # the time axis is drawn once, under the last panel
            ax.xaxis.set_visible(False)
        for ax in axes:
            ax.tick_params(labelsize=9)
        return cls(fig, canvas, axes)

    def clear(self) -> None:
        """Remove what a chart drew; keep the axes, their ticks and settings."""
        for artist in [*self.fig.texts, *self.fig.legends]:
            artist.remove()
        for ax in self.axes:
            for drawn in [*ax.lines, *ax.collections, *ax.texts]:
                drawn.remove()
            ax.relim()


class _SheetPool:
    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._idle: list[tuple[tuple[int, int, int], _Sheet]] = []

    def take(self, layout: tuple[int, int, int]) -> _Sheet:
        with self._lock:
            for i, (key, sheet) in enumerate(self._idle):
                if key == layout:
                    del self._idle[i]
                    return sheet
        return _Sheet.new(*layout)

    def give(self, layout: tuple[int, int, int], sheet: _Sheet) -> None:
        sheet.clear()  # holds no chart data while idle
        with self._lock:
            self._idle.append((layout, sheet))
            del self._idle[: -self._size]


_POOL = _SheetPool(POOL_SIZE)


def render_chart(
    series: Sequence[SignalSeries],
    changes: Sequence[ChangeEvent],
    alert_start: datetime,
    *,
    title: str,
    width_px: int = 1200,
    height_px: int = 800,
) -> bytes:
    """A PNG of exactly ``width_px`` by ``height_px``; the module docstring says what it shows."""
    if width_px < 200 or height_px < 150:
        raise ValueError(f"chart too small: {width_px}x{height_px} (at least 200x150)")
    layout = (max(1, min(len(series), MAX_PANELS)), width_px, height_px)
    sheet = _POOL.take(layout)
    png = _draw(sheet, series, changes, alert_start, title, width_px, height_px)
    # (on an error the sheet is dropped, not given back)
    _POOL.give(layout, sheet)
    return png


def _draw(
    sheet: _Sheet,
    series: Sequence[SignalSeries],
    changes: Sequence[ChangeEvent],
    alert_start: datetime,
    title: str,
    width_px: int,
    height_px: int,
) -> bytes:
    from matplotlib.transforms import offset_copy

    fig, axes = sheet.fig, sheet.axes
    shown, dropped = list(series[:MAX_PANELS]), list(series[MAX_PANELS:])
    alert_s = _aware(alert_start).timestamp()
    lo, hi = _window(shown, changes, alert_s)
    inside = [c for c in changes if lo <= _aware(c.at).timestamp() <= hi]
    notes = []
    if dropped:
        names = ", ".join(s.name for s in dropped[:6]) + (", ..." if len(dropped) > 6 else "")
        notes.append(f"{len(dropped)} more signal(s) not shown: {names}")
    if len(inside) < len(changes):
        notes.append(f"{len(changes) - len(inside)} change(s) outside the time window not shown")

    fig.subplots_adjust(
        left=60 / width_px,
        right=1 - 15 / width_px,
        top=1 - 62 / height_px,
        bottom=(60 if notes else 45) / height_px,
        hspace=0.3,
    )
    for ax, s in zip(axes, shown, strict=False):
        _panel(ax, s)
    if not shown:
        _no_data(axes[0], "no metric data for this incident")
    for ax in axes:
        ax.set_xlim(_num(lo), _num(hi))
        _markers(ax, inside, alert_s)
    beside = offset_copy(axes[0].get_xaxis_transform(), fig=fig, x=-2, units="points")
    for c in inside:  # the refs, once, along the top panel's markers
        axes[0].text(
            _num(_aware(c.at).timestamp()),
            0.98,
            c.ref,
            transform=beside,
            rotation=90,
            ha="right",
            va="top",
            fontsize=8,
            color=MARKER_STYLES[c.kind].color,
            clip_on=True,
            parse_math=False,
        )
    _time_axis(axes[-1], lo, hi)
    fig.text(8 / width_px, 1 - 8 / height_px, title, va="top", fontsize=13, parse_math=False)
    _legend(fig, sorted({c.kind for c in inside}), height_px)
    if notes:
        fig.text(
            8 / width_px,
            6 / height_px,
            "; ".join(notes),
            fontsize=9,
            color="#555555",
            parse_math=False,
        )

    buffer = io.BytesIO()
    sheet.canvas.print_png(  # type: ignore[no-untyped-call]
        buffer, metadata={"Software": None}, pil_kwargs={"compress_level": 1}
    )
    if sheet.canvas.get_width_height() != (width_px, height_px):  # pragma: no cover
        raise RuntimeError(
            f"chart rendered at {sheet.canvas.get_width_height()}, not {width_px}x{height_px}"
        )
    return buffer.getvalue()


def _panel(ax: Axes, s: SignalSeries) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    # A plain text, not set_title: a title makes every draw measure the axes to place it.
    ax.text(
        0.0,
        1.02,
        _label(s),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=10,
        parse_math=False,
    )
    times, values = _values(s)
    if not np.isfinite(values).any():
        _no_data(ax, "no data")
        return
    days = _epoch_num() + times / 86400.0
    ax.plot(days, values, color=LINE_COLOR, linewidth=1.4, label=_label(s))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))


def _no_data(ax: Axes, words: str) -> None:
    from matplotlib.ticker import NullLocator

    ax.text(
        0.5,
        0.5,
        words,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=12,
        color="#777777",
        parse_math=False,
        bbox={"facecolor": "white", "edgecolor": "none"},
    )
    ax.yaxis.set_major_locator(NullLocator())


def _markers(ax: Axes, changes: Sequence[ChangeEvent], alert_s: float) -> None:
    """A line collection per kind (far cheaper than an ``axvline`` per change), then the alert."""
    from matplotlib.collections import LineCollection

    along = ax.get_xaxis_transform()  # x in data, y in axes fractions: full height
    for kind, style in MARKER_STYLES.items():
        xs = [_num(_aware(c.at).timestamp()) for c in changes if c.kind == kind]
        if xs:
            lines = LineCollection(
                [[(x, 0.0), (x, 1.0)] for x in xs],
                transform=along,
                colors=style.color,
                linestyles=style.linestyle,
                linewidths=1.5,
                snap=True,
            )
            ax.add_collection(lines, autolim=False)
    alert = LineCollection(
        [[(_num(alert_s), 0.0), (_num(alert_s), 1.0)]],
        transform=along,
        colors=ALERT_COLOR,
        linewidths=2.0,
        snap=True,
    )
    ax.add_collection(alert, autolim=False)


def _time_axis(ax: Axes, lo: float, hi: float) -> None:
    import matplotlib.dates as mdates

    # matplotlib.dates has no type hints.
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ticks = "%H:%M" if hi - lo <= 86400 else "%d %b %H:%M"  # past a day, ticks say which day
    ax.xaxis.set_major_formatter(mdates.DateFormatter(ticks, tz=UTC))  # type: ignore[no-untyped-call]
    day_lo = datetime.fromtimestamp(lo, UTC).strftime("%Y-%m-%d")
    day_hi = datetime.fromtimestamp(hi, UTC).strftime("%Y-%m-%d")
    days = day_lo if day_lo == day_hi else f"{day_lo} to {day_hi}"
    ax.set_xlabel(f"time (UTC, {days})", fontsize=9)


def _legend(fig: Figure, kinds: Sequence[ChangeKind], height_px: int) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=ALERT_COLOR, linewidth=2.0, label="alert start")]
    handles += [
        Line2D(
            [],
            [],
            color=MARKER_STYLES[k].color,
            linestyle=MARKER_STYLES[k].linestyle,
            label=MARKER_STYLES[k].words,
        )
        for k in kinds
    ]
    fig.legend(
        handles=handles,
        loc="upper right",
        bbox_to_anchor=(0.99, 1 - 30 / height_px),
        ncols=len(handles),
        fontsize=9,
        frameon=False,
    )


def _range_words(s: SignalSeries) -> str:
    import numpy as np

    _, values = _values(s)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"{s.name}: no data"
    unit = f" {s.unit}" if s.unit else ""
    return f"{s.name} {finite.min():.3g} to {finite.max():.3g}{unit}"


def alt_text(
    series: Sequence[SignalSeries], changes: Sequence[ChangeEvent], alert_start: datetime
) -> str:
    """What the chart shows, in one short paragraph for screen readers (Slack's ``alt_txt``)."""
    alert_s = _aware(alert_start).timestamp()
    shown = list(series[:MAX_PANELS])
    lo, hi = _window(shown, changes, alert_s)
    if shown:
        text = f"Chart of {', '.join(_range_words(s) for s in shown)}"
        if len(series) > len(shown):
            text += f" ({len(series) - len(shown)} more signal(s) not shown)"
    else:
        text = "Chart with no metric data"
    text += f", {_hhmm(lo)} to {_hhmm(hi)} UTC; alert started {_hhmm(alert_s)} UTC."
    inside = sorted(
        (c for c in changes if lo <= _aware(c.at).timestamp() <= hi), key=lambda c: _aware(c.at)
    )
    count = len(inside)
    if count == 0:
        text += " No changes marked."
    else:
        listed = "; ".join(
            f"{c.kind} {c.ref} at {_hhmm(_aware(c.at).timestamp())}" for c in inside[:5]
        )
        more = f"; and {count - 5} more" if count > 5 else ""
        text += f" {count} change{'s' if count != 1 else ''} marked: {listed}{more}."
    if len(changes) > count:
        text += f" {len(changes) - count} change(s) outside the time window not shown."
    if len(text) > MAX_ALT_TEXT:
        text = text[: MAX_ALT_TEXT - 1] + "…"
    return text
