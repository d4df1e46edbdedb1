"""Alt text for the report's charts, written from each figure's own data.

:func:`describe` reads a matplotlib figure back (titles, axis labels, bar and point labels and
values) and returns one plain sentence per panel, e.g. ``"Bar chart of NPS by plan: Gold 41,
Silver 23, Bronze −10."``. :func:`install` makes a notebook kernel attach that sentence to every
figure it displays, as the ``alt`` of the ``image/png`` output's metadata; the report's HTML
template writes it into the ``<img alt="...">`` (escaped there, like all text).

Nothing here knows the individual plots: any chart made of bars, lines, scatter points or a
heatmap is described the same way.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["describe", "install", "number"]

#: Values listed per series before "and N more".
MAX_ITEMS = 12
MINUS = "\u2212"


def number(x: float) -> str:
    """A value as a reader says it: ``41``, ``1,234``, ``0.42``, ``−10`` (true minus sign)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    a = abs(x)
    if a >= 10 or a == round(a):
        s = f"{a:,.0f}"
    elif a >= 1:
        s = f"{a:.1f}"
    else:
        s = f"{a:.2f}"
    return (MINUS + s) if x < 0 and s.strip("0.,") else s


def _text(t) -> str:
    return " ".join(str(t.get_text() if hasattr(t, "get_text") else t).split())


def _listing(pairs: list[tuple[str, float | str]]) -> str:
    shown = [f"{label} {v if isinstance(v, str) else number(v)}".strip() for label, v in pairs[:MAX_ITEMS]]
    more = len(pairs) - MAX_ITEMS
    return ", ".join(shown) + (f", and {more} more" if more > 0 else "")


def _tick_label(ticks: list[tuple[float, str]], pos: float, *, exact: bool = False) -> str:
    """The tick label at ``pos`` (the nearest tick within half a unit; ``exact``: within a hundredth
    of the ticks' spacing, so a point of a continuous axis is not named after the nearest tick),
    else ''."""
    best = min(ticks, key=lambda t: abs(t[0] - pos), default=None)
    if best is None:
        return ""
    tol = 0.5
    if exact and len(ticks) > 1:
        tol = 0.01 * float(np.min(np.diff(sorted(t[0] for t in ticks))) or 1.0)
    return best[1] if abs(best[0] - pos) <= tol else ""


def _ticks(axis) -> list[tuple[float, str]]:
    return [(float(loc), _text(lab)) for loc, lab in zip(axis.get_ticklocs(), axis.get_ticklabels(), strict=False)
            if _text(lab)]


def _subject(ax) -> str:
    """What a panel shows: its title, else its axis labels."""
    title = _text(ax.get_title()) or _text(ax.get_title(loc="left"))
    if title:
        return title
    x, y = _text(ax.get_xlabel()), _text(ax.get_ylabel())
    return f"{y} by {x}" if x and y else (y or x)


def _bars(ax) -> list[tuple[str, float | str]] | None:
    from matplotlib.container import BarContainer

    containers = [c for c in ax.containers if isinstance(c, BarContainer)]
    bars = [p for c in containers for p in c.patches]
    if not bars:
        return None
    widths = np.array([b.get_width() for b in bars])
    heights = np.array([b.get_height() for b in bars])
    # the bars' own orientation (barh: "horizontal"); else horizontal when every bar has the same
    # height (thickness) and the widths vary (one bar alone cannot tell)
    said = {getattr(c, "orientation", None) for c in containers}
    horizontal = (said == {"horizontal"} if said <= {"horizontal", "vertical"} else
                  bool(np.allclose(heights, heights[0]) and not np.allclose(widths, widths[0])))
    ticks = _ticks(ax.yaxis if horizontal else ax.xaxis)
    pairs = []
    for b in bars:
        if horizontal:
            pos, value = b.get_y() + b.get_height() / 2, b.get_x() + b.get_width()
        else:
            pos, value = b.get_x() + b.get_width() / 2, b.get_y() + b.get_height()
        pairs.append((_tick_label(ticks, pos), float(value)))
    # bars that carry their own value labels (a waterfall's floating bars, whose top is a running
    # total, not their value): read the labels, as a sighted reader does
    labels = [_text(t) for t in ax.texts if t.get_gid() == "value_label"]
    if len(labels) == len(pairs) and all(labels):
        pairs = [(pos, text) for (pos, _), text in zip(pairs, labels, strict=True)]
    if horizontal:  # read top to bottom, as drawn
        pairs.reverse()
    return pairs


def _lines(ax) -> list[tuple[bool, str]]:
    """One phrase per data line (interval whiskers and reference lines left out).

    A line drawn with markers only, whose points sit on labelled ticks of one axis (a dot plot
    such as a forest plot), reads as label-value pairs along that axis.
    """
    out, xticks, yticks = [], _ticks(ax.xaxis), _ticks(ax.yaxis)
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if line.get_gid() in ("ci", "ci_cap") or len(x) < 1:
            continue
        if line.get_marker() in ("_", "|", 0, 1, 2, 3) and line.get_linestyle() in ("None", "none", "", " "):
            continue  # interval caps (errorbar's), not data
        dots = line.get_linestyle() in ("None", "none", "", " ") and line.get_marker() not in (None, "None", "")
        if not dots and (len(x) < 2 or np.allclose(y, y[0]) or np.allclose(x, x[0])):
            continue  # a single point, a horizontal or a vertical reference line
        label = line.get_label()
        name = "" if label.startswith("_") else f"{label}: "
        if dots and yticks and all(_tick_label(yticks, yi, exact=True) for yi in y):
            order = np.argsort(-y, kind="stable")  # top to bottom, as read
            pairs = [(_tick_label(yticks, y[i]), x[i]) for i in order]
        elif xticks and all(_tick_label(xticks, xi, exact=True) for xi in x):
            pairs = [(_tick_label(xticks, xi), yi) for xi, yi in zip(x, y, strict=False)]
        else:
            out.append((dots, name + ", ".join(f"({number(xi)}, {number(yi)})" for xi, yi in
                                               list(zip(x, y, strict=False))[:MAX_ITEMS])
                        + (f", and {len(x) - MAX_ITEMS} more" if len(x) > MAX_ITEMS else "")))
            continue
        out.append((dots, name + _listing([(lab, v) for lab, v in pairs if np.isfinite(v)])))
    return out


def _points(ax) -> str | None:
    from matplotlib.collections import PathCollection

    offsets = [np.asarray(c.get_offsets(), float) for c in ax.collections if isinstance(c, PathCollection)]
    offsets = [o for o in offsets if o.ndim == 2 and len(o)]
    if not offsets:
        return None
    xy = np.vstack(offsets)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return None
    xl, yl = _text(ax.get_xlabel()) or "x", _text(ax.get_ylabel()) or "y"
    return (f"{len(xy):,} points, {xl} from {number(xy[:, 0].min())} to {number(xy[:, 0].max())}, "
            f"{yl} from {number(xy[:, 1].min())} to {number(xy[:, 1].max())}")


def _heatmap(ax) -> str | None:
    from matplotlib.collections import QuadMesh

    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    arrays = [np.ma.filled(np.ma.asarray(m.get_array(), float), np.nan) for m in meshes]
    images = [np.ma.asarray(i.get_array(), float) for i in ax.images]
    if images and all(i.shape == images[0].shape for i in images):  # one image per column: overlay them
        merged = np.full(images[0].shape, np.nan)
        for image in images:
            merged = np.where(np.ma.getmaskarray(image), merged, np.ma.getdata(image))
        arrays.append(merged)
    if not arrays:
        return None
    values = arrays[0]
    rows, cols = [lab for _, lab in _ticks(ax.yaxis)], [lab for _, lab in _ticks(ax.xaxis)]
    finite = values[np.isfinite(values)]
    span = f"values from {number(finite.min())} to {number(finite.max())}" if finite.size else "no values"
    shape = (f"rows {', '.join(rows[:MAX_ITEMS])}" if rows else f"{values.shape[0]} rows") + "; " + (
        f"columns {', '.join(cols[:MAX_ITEMS])}" if cols else f"{values.shape[-1]} columns")
    return f"{shape}; {span}"


def describe_axes(ax) -> str:
    """One sentence for one panel."""
    subject = _subject(ax)
    of = f" of {subject}" if subject else ""
    heat = _heatmap(ax)
    if heat is not None:
        return f"Heatmap{of}: {heat}."
    bars = _bars(ax)
    if bars is not None:
        return f"Bar chart{of}: {_listing(bars)}."
    lines = _lines(ax)
    if lines:
        kind = "Dot chart" if all(d for d, _ in lines) else "Line chart"
        return f"{kind}{of}: {'; '.join(p for _, p in lines)}."
    points = _points(ax)
    if points is not None:
        return f"Scatter plot{of}: {points}."
    return f"Chart{of}." if subject else ""


def describe(fig) -> str:
    """Alt text for a whole figure: its title, one sentence per panel with data, then the
    figure's own lines of text (the distributions' "Not drawn" and "One value" lines)."""
    panels = [ax for ax in fig.get_axes() if ax.get_visible() and ax.get_label() != "<colorbar>"]
    parts = [s for s in (describe_axes(ax) for ax in panels) if s]
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    head = f"{_text(sup)}. " if _text(sup) else ""
    if len(parts) > 1:
        parts = [f"Panel {i}: {p}" for i, p in enumerate(parts, start=1)]
    titles = {id(getattr(fig, a, None)) for a in ("_suptitle", "_supxlabel", "_supylabel")}
    notes = [t for t in (_text(t) for t in fig.texts if id(t) not in titles) if t]  # lines under a grid
    text = head + " ".join(parts + [n if n.endswith(".") else n + "." for n in notes])
    return text.strip() or "Chart without a title or data labels."


def _with_alt(png_printer):
    """Wrap IPython's PNG printer for figures: same image, plus ``{"alt": describe(fig)}``.

    IPython's printer crops a figure to its tight bounding box, which it first measures by
    drawing the figure once more. A house chart unchanged since :mod:`cxanalysis.plots` measured
    it is printed in one drawing instead (:func:`_print_options`).
    """
    if getattr(png_printer, "_cx_alt", False):
        return png_printer
    options = png_printer.keywords if isinstance(png_printer, functools.partial) else None

    def printer(fig: Any):
        import matplotlib as mpl

        # a figure with no layout engine (a house chart, laid out once) keeps none: matplotlib's
        # printing sets the engine back to None afterwards, which these rcParams would otherwise
        # turn into a tight layout for the next drawing
        with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            data = png_printer(fig, **_print_options(fig, options))
        if data is None:
            return None
        if isinstance(data, tuple):  # already (data, metadata)
            data, meta = data
        else:
            meta = {}
        try:
            meta = {**meta, "alt": describe(fig)}
        except Exception:  # a chart this module cannot read still displays, with a plain alt
            meta = {**meta, "alt": "Chart (no description could be read from its data)."}
        return data, meta

    printer._cx_alt = True  # type: ignore[attr-defined]
    return printer


def _print_options(fig: Any, options: dict | None) -> dict:
    """What to tell IPython's printer (whose own options are ``options``; None: unknown) for
    ``fig``: nothing, unless ``fig`` is a house chart measured when made
    (:func:`cxanalysis.plots._measure`) and unchanged since (not ``stale``), printed with
    IPython's default crop (``bbox_inches="tight"``). Then the crop is that measured box,
    padded as matplotlib pads it, or no crop at all for a chart marked as fitting its canvas:
    either way the figure is drawn once, not twice.
    """
    import matplotlib as mpl

    box = getattr(fig, "_cx_tight_bbox", None)
    if options is None or box is None or fig.stale or options.get("bbox_inches", "tight") != "tight":
        return {}
    if getattr(fig, "_cx_fits_canvas", False):
        return {"bbox_inches": None}
    pad = options.get("pad_inches")
    pad = mpl.rcParams["savefig.pad_inches"] if pad in (None, "layout") else pad
    return {"bbox_inches": box.padded(pad)}


def _wrap_png_formatter(ip) -> None:
    from matplotlib.figure import Figure

    formatter = ip.display_formatter.formatters["image/png"]
    try:
        current = formatter.lookup_by_type(Figure)
    except KeyError:
        return
    formatter.for_type(Figure, _with_alt(current))


def install() -> bool:
    """In a notebook kernel, attach :func:`describe`'s text to every figure displayed as PNG.

    The inline backend registers its own PNG printer when matplotlib first loads it (possibly
    after this call), so the printer is wrapped now and again after each cell runs (before the
    backend's own ``post_execute`` hook shows the cell's figures). Outside IPython it does
    nothing and returns False.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "display_formatter"):
        return False
    _wrap_png_formatter(ip)
    if not getattr(ip, "_cx_alt_hook", False):
        ip.events.register("post_execute", lambda: _wrap_png_formatter(ip))
        ip._cx_alt_hook = True
    return True
