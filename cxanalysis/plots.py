"""The house charts. Each function draws one chart from an already computed table and returns
the Axes (or Figure); none computes a statistic. Titles state the finding when the caller passes one.

**One colour meaning.** The promoter / passive / detractor colours (:data:`CATEGORY_COLORS`,
Okabe-Ito colour-blind-safe) mean only those categories and appear only on category charts.
Everything else is drawn in :data:`NEUTRAL` (a blue-grey) and greys (:data:`GREYS`); a result
that is statistically distinguishable from no effect is shown by a filled marker or a dark
outline (:data:`SIGNIFICANT_EDGE`), never by a colour. Clusters, which need telling apart, use
:data:`CLUSTER_COLORS` (the rest of the Okabe-Ito set, none of the category colours) and a
marker shape each. Axes with money, shares or large counts read through :mod:`cxanalysis.fmt`
(no 1e6 multiplier, no offset).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .fmt import label, money, money_axis, number_axis, percent, percent_axis

__all__ = [
    "set_theme",
    "CATEGORY_COLORS",
    "NEUTRAL",
    "GREYS",
    "CLUSTER_COLORS",
    "SIGNIFICANT_EDGE",
    "score_histogram",
    "distributions",
    "segment_nps",
    "category_heatmap",
    "trend",
    "forest",
    "predicted_by_category",
    "waterfall",
    "tornado",
    "k_selection",
    "cluster_projection",
    "profile_heatmap",
    "driver_quadrant",
    "calibration",
    "change_decomposition",
    "residuals",
    "scenarios",
]

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
CATEGORY_COLORS = {"detractor": "#D55E00", "passive": "#E69F00", "promoter": "#0072B2"}
#: the one hue of every chart that is not about the CX categories
NEUTRAL = "#5B6B7A"
#: greys for parts, second series, reference lines (dark to light)
GREYS = ["#33414D", "#8A96A3", "#BBBBBB", "#DDDDDD"]
#: the outline of a result distinguishable from no effect (bars) / of filled markers
SIGNIFICANT_EDGE = "#000000"
#: telling clusters apart: Okabe-Ito without the three category colours (green, pink, yellow,
#: black) then greys; each cluster also gets its own marker shape
CLUSTER_COLORS = ["#009E73", "#CC79A7", "#F0E442", "#000000", "#8A96A3", "#33414D", "#BBBBBB"]
CLUSTER_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<"]
#: values above and below a centre (standardised cluster means): ColorBrewer's purple-green,
#: colour-blind safe, whose hues are far from all three category colours (red-blue would read
#: as detractor-promoter)
DIVERGING_CMAP = "PRGn"


# seaborn's "whitegrid" style in its "notebook" context, as ``sns.set_theme(style="whitegrid")``
# sets them; written out so that drawing a chart does not import seaborn and, through it,
# scipy.stats (about a second in every notebook's kernel). tests/test_plots.py checks them
# against seaborn.
WHITEGRID = {
    "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.grid": True, "axes.labelcolor": ".15",
    "axes.labelsize": 12.0, "axes.linewidth": 1.25, "axes.titlesize": 12.0, "font.size": 12.0,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "grid.color": ".8", "grid.linewidth": 1.0, "legend.fontsize": 11.0, "legend.title_fontsize": 12.0,
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "text.color": ".15", "xtick.bottom": False, "xtick.color": ".15", "xtick.labelsize": 11.0,
    "xtick.major.size": 6.0, "xtick.major.width": 1.25, "xtick.minor.size": 4.0, "xtick.minor.width": 1.0,
    "ytick.color": ".15", "ytick.labelsize": 11.0, "ytick.left": False, "ytick.major.size": 6.0,
    "ytick.major.width": 1.25, "ytick.minor.size": 4.0, "ytick.minor.width": 1.0,
}
HOUSE = {
    "figure.figsize": (8, 4.5), "figure.dpi": 100, "axes.titlesize": 12, "axes.titleweight": "bold",
    "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9,
    "figure.autolayout": True,
    # labels come from the export: draw them as typed, "$" never starts mathtext (a plan named
    # "$^$" would otherwise stop the chart with a parse error)
    "text.parse_math": False,
}


def set_theme() -> None:
    """Apply the house theme (white grid, colour-blind-safe palette, print-readable sizes)."""
    from cycler import cycler

    plt.rcParams.update({**WHITEGRID, **HOUSE, "axes.prop_cycle": cycler(color=[NEUTRAL, *GREYS]),
                         "axes.formatter.useoffset": False, "axes.formatter.limits": (-9, 12)})
    __import__("cxanalysis.alt").alt.install()  # in a notebook: alt text from each figure's data


def _fix_layout(fig) -> bool:
    """Lay ``fig`` out now, once, by its layout engine (tight or constrained), and keep it.

    A figure with a layout engine is laid out again at every drawing, and a notebook draws each
    chart two or three times (pyplot's redraw after the cell, the inline backend's measuring of
    the tight bounding box, then its PNG): most of a chart's time, for a layout that changes
    by a pixel at most. Laid out here once and detached from its engine, the chart is drawn as
    it is; its picture no longer depends on how often it is drawn, so a kernel and the report's
    in-process runner make the same PNG. A figure already without an engine (a fixed grid) is
    measured as it is.

    Returns whether everything fits inside the canvas: False when the engine warned that it
    could not lay the figure out (labels too long for the figure; the warning is passed on), or
    when something still reaches past the canvas (:func:`_inside`).
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    engine = fig.get_layout_engine()
    caught = []
    if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.execute(fig)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _detach_layout(fig)
    return _inside(fig) and not caught


def _inside(fig) -> bool:
    """Whether everything drawn on ``fig`` lies inside its canvas (what a tight bounding box
    would crop to: a title wider than the figure does not), measured by :func:`_measure`. False
    when the figure's canvas has no renderer to measure with (a vector backend such as svg or
    pdf: no PNG is printed there)."""
    box = _measure(fig)
    if box is None:
        return False
    width, height = fig.get_size_inches()
    return bool(box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height)


def _measure(fig):
    """The tight bounding box of ``fig`` in inches, or None without a raster renderer.

    Kept on the figure (``_cx_tight_bbox``), which is marked as unchanged since (``stale``
    False: any later change to it or to anything on it sets that back). :mod:`cxanalysis.alt`'s
    printer crops an unchanged figure to this box instead of drawing it once more to measure
    it: the same PNG, one drawing fewer.
    """
    renderer = getattr(fig.canvas, "get_renderer", None)
    if renderer is None:
        return None
    fig._cx_tight_bbox = fig.get_tightbbox(renderer())
    fig.stale = False
    return fig._cx_tight_bbox


def _detach_layout(fig) -> None:
    """Leave ``fig`` with no layout engine at all. (``set_layout_engine("none")`` leaves a
    placeholder engine behind, and matplotlib draws a figure with any engine once more before
    printing it, to lay it out.)"""
    import matplotlib as mpl

    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # with both off: no engine (matplotlib's documented rule)


def _fits_canvas(fig) -> None:
    """Mark ``fig`` as drawn whole inside its canvas: :mod:`cxanalysis.alt`'s printer then
    prints it as it is, uncropped (as long as it is unchanged since it was measured)."""
    fig._cx_fits_canvas = True


def _chart(fn):
    """A house chart: when it makes its own figure (no ``ax`` given), the figure is complete on
    return, laid out once (:func:`_fix_layout`) and measured (:func:`_measure`), and marked when
    it fits its canvas (:func:`_fits_canvas`); a caller passing ``ax`` owns the layout."""
    @functools.wraps(fn)
    def chart(*args, **kwargs):
        out = fn(*args, **kwargs)
        if kwargs.get("ax") is None:
            fig = out if isinstance(out, plt.Figure) else out.figure
            if _fix_layout(fig):
                _fits_canvas(fig)
        return out
    return chart


def _ax(ax):
    return ax if ax is not None else plt.subplots()[1]


def _top_title(ax, text: str, **kwargs):
    """The Axes' title at its top (``y = 1``), where matplotlib's automatic placement puts it on
    a chart whose x ticks are at the bottom and that has no offset text (the house charts: no
    offset, see :func:`set_theme`). Placed explicitly, the title no longer makes every draw
    measure all tick labels of the y axis to check; the picture is the same."""
    return ax.set_title(text, y=1.0, **kwargs)


def _finite(values) -> np.ndarray:
    """Values as floats with NaN and +-inf replaced by NaN (matplotlib draws nothing there)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    return np.where(np.isfinite(v), v, np.nan)


def _intervals(ax, pos, low, high, *, horizontal: bool, color="black", lw: float = 1.2, cap: float = 0.15):
    """Draw one interval per row from its explicit ``low`` and ``high`` limits.

    Unlike ``errorbar``'s distances from the point, explicit limits draw any interval: one that
    does not contain its estimate, reversed limits, or a single row. Rows with a non-finite limit
    are left out. The interval lines carry ``gid="ci"`` (the caps ``gid="ci_cap"``), so tests
    can read the drawn endpoints back. Returns the interval LineCollection.
    """
    pos, lo, hi = np.asarray(pos, float), _finite(low), _finite(high)
    ok = ~(np.isnan(lo) | np.isnan(hi) | ~np.isfinite(pos))
    p, lo, hi = pos[ok], lo[ok], hi[ok]
    if horizontal:
        lines = ax.hlines(p, lo, hi, colors=color, lw=lw, zorder=3)
        caps = ax.vlines(np.concatenate([lo, hi]), np.tile(p, 2) - cap, np.tile(p, 2) + cap, colors=color, lw=lw, zorder=3)
    else:
        lines = ax.vlines(p, lo, hi, colors=color, lw=lw, zorder=3)
        caps = ax.hlines(np.concatenate([lo, hi]), np.tile(p, 2) - cap, np.tile(p, 2) + cap, colors=color, lw=lw, zorder=3)
    lines.set_gid("ci")
    caps.set_gid("ci_cap")
    return lines


@_chart
def score_histogram(counts: pd.DataFrame, *, title: str | None = None, ax=None):
    """Bars of respondents per score value, coloured by category.

    ``counts``: ``score, n, category`` (one row per score value).
    """
    ax = _ax(ax)
    colors = [CATEGORY_COLORS.get(c, "#999999") for c in counts["category"]]
    ax.bar(counts["score"].astype(str), counts["n"], color=colors)
    ax.set(xlabel="Score", ylabel="Respondents")  # only those who answered have a score
    _top_title(ax, title or "Distribution of the CX score")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CATEGORY_COLORS.values()]
    ax.legend(handles, list(CATEGORY_COLORS), loc="upper left", frameon=False)
    return ax


@_chart
def distributions(data: pd.DataFrame, columns: Sequence[str], *, ncols: int = 4, max_levels: int = 12,
                  max_rows: int = 100_000, random_state: int = 0, unit: str = "customers"):
    """One small histogram (numbers) or bar chart (categories) per column; returns the Figure.

    ``unit`` names what a row is ("customers", "respondents") where the panels count rows.

    Yes/no columns (only 0 and 1) share one panel showing the share of 1s. A text column with
    too many values for its top bars to show its shape (an identifier, coordinates written as
    text, free text, cities: :func:`_mostly_unique_text`) is named under the grid instead, and so
    is a column with one value for every row (with that value), rather than a panel of one bar. Above
    ``max_rows`` customers the shapes are drawn from a random sample of that many (said in the
    figure's title); the tables beside them use every row.
    """
    columns = list(columns)
    sampled = len(data) > max_rows
    data = data[columns].sample(max_rows, random_state=random_state) if sampled else data[columns]
    unique = [c for c in columns if _mostly_unique_text(data[c], max_levels)]
    codes = [c for c in columns if c not in unique and _numeric_code(c, data[c], max_levels)]
    columns = [c for c in columns if c not in unique and c not in codes]
    single = {c: data[c].dropna().iloc[0] for c in columns if data[c].nunique() == 1 and not _is_binary(data[c])}
    columns = [c for c in columns if c not in single]
    binary = [c for c in columns if _is_binary(data[c])]
    panels = [c for c in columns if c not in binary] + (["Yes/no columns: share of yes"] if binary else [])
    nrows = max(1, int(np.ceil(len(panels) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax, col in zip(axes.ravel(), panels, strict=False):
        whole = True  # x axis of counts, or of whole-number values
        if col not in data:
            whole = False
            shares = data[binary].mean()
            ax.barh([_wrapped(label(c)) for c in binary[::-1]], shares.to_numpy()[::-1], color=NEUTRAL)
            ax.set_xlim(0, 1)
        else:
            s = data[col].dropna()
            numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
            if numeric and s.nunique() > max_levels:
                bins = _bins(s)
                whole = not np.isscalar(bins)
                cap = s.quantile(0.995)  # the far tail would squeeze the rest into one bar: it joins the last
                counts, edges = np.histogram(s.clip(upper=cap), bins=bins)
                ax.stairs(counts, edges, fill=True, color=NEUTRAL)
                if (above := int((s > cap).sum())):  # said, not hidden: the last bar holds the tail
                    one = unit[:-1] if unit.endswith("s") else unit
                    ax.set_xlabel(f"last bar also holds values above {cap:,.{0 if abs(cap) >= 10 else 1}f} "
                                  f"({above:,} {one if above == 1 else unit})", fontsize=7, color=GREYS[0])
                ax.yaxis.set_major_locator(plt.MaxNLocator(4, integer=True))
                number_axis(ax, "y")  # counts as "12,000", as on the bar panels' axes
            else:  # levels: numbers in their order, categories by frequency
                vc = s.value_counts()
                vc = vc.sort_index() if numeric else vc.head(max_levels)
                labels = [f"{v:g}" if numeric else _short(str(v), 16) for v in vc.index]
                ax.barh(labels[::-1], vc.to_numpy()[::-1], color=NEUTRAL)
        _top_title(ax, _short(col if col not in data else label(col), 32), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4, integer=whole))
        if col not in data:
            percent_axis(ax, "x")
        else:
            number_axis(ax, "x")  # few labels: quicker to draw, as readable
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    height = 2.4 * nrows
    if sampled:
        fig.suptitle(f"Distributions (random sample of {max_rows:,} customers)", fontweight="bold",
                     y=1 - 0.1 / height, va="top")
    notes = ([_short("Not drawn, too many values to show a shape: " + ", ".join(label(c) for c in unique), 150)]
             if unique else [])
    if codes:
        notes.append(_short("Not drawn, a code or identifier, not a quantity: " + ", ".join(label(c) for c in codes), 150))
    if single:
        notes.append(_short("One value for every row: " + ", ".join(f"{label(c)} ({_short(str(v), 24)})"
                                                                     for c, v in single.items()), 150))
    for i, note in enumerate(notes):  # a line each, in reading order, the last at the bottom
        fig.text(0.09, (0.05 + 0.2 * (len(notes) - 1 - i)) / height, note, fontsize=8, color=GREYS[0], va="bottom")
    # a fixed grid (labels are at most 16 characters) instead of a tight layout, which measures
    # every tick label of every panel and made this figure the slowest of the report
    _detach_layout(fig)
    fig.subplots_adjust(left=0.09, right=0.98, top=1 - (0.75 if sampled else 0.35) / height,
                        bottom=(0.45 + 0.2 * len(notes)) / height, wspace=0.7, hspace=0.5)
    # measured as it is (_chart): marked as fitting only when no wide letters reach past the grid
    return fig


#: words that make a whole-number column a code, not a quantity (:func:`_numeric_code`)
CODE_WORDS = frozenset({"zip", "zipcode", "postal", "postcode", "code", "id", "phone"})


def _numeric_code(name, s: pd.Series, max_levels: int) -> bool:
    """A whole-number column named as a code or an identifier (a word of its name, split at
    spaces, punctuation and capitals, is in ``CODE_WORDS``: "Zip Code", "Customer_ID",
    "postalCode"; not "Paid" or "Valid orders") with more than ``max_levels`` values: its
    histogram would draw codes as if they were amounts (the IBM Telco export's Zip Code)."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    words = {w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))}
    if not words & CODE_WORDS:
        return False
    v = s.dropna().to_numpy(float)
    return v.size > 0 and bool(np.all(v == np.round(v))) and pd.unique(v).size > max_levels


def _mostly_unique_text(s: pd.Series, max_levels: int) -> bool:
    """A text column with more than ``max_levels`` distinct values whose ``max_levels`` most
    frequent hold under half of its rows: its top bars would show a sliver of the column
    (the IBM Telco export's "Lat Long": 1,652 values; "City": 1,106, the top 12 holding 17%)."""
    if pd.api.types.is_numeric_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s):
        return False
    s = s.dropna()
    if s.nunique() <= max_levels:
        return False
    return s.value_counts().iloc[:max_levels].sum() < 0.5 * len(s)


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _wrapped(label: str, width: int = 18) -> str:
    """A label on at most two lines of ``width`` characters ("First contact\nresolved"), cut
    with an ellipsis only past that: the yes/no panel's names are whole words a reader needs."""
    import textwrap

    lines = textwrap.wrap(label, width) or [""]
    return lines[0] if len(lines) == 1 else lines[0] + "\n" + _short(" ".join(lines[1:]), width)


def _bins(s: pd.Series, n: int = 30):
    """About ``n`` bins; whole-number data gets bins centred on whole numbers (no empty gaps)."""
    lo, hi = float(s.min()), float(s.quantile(0.995))
    if not np.allclose(s.to_numpy(dtype=float) % 1, 0):
        return n
    width = max(1, int(np.ceil((hi - lo + 1) / n)))
    return np.arange(lo - 0.5, hi + width + 0.5, width)


def _is_binary(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
            and s.notna().any() and bool(s.dropna().isin([0, 1]).all()))


@_chart
def segment_nps(table: pd.DataFrame, *, overall: float | None = None, title: str | None = None, score: str = "NPS",
                ax=None):
    """Horizontal NPS bars with 95% CI error bars, one row per segment, grouped by dimension.

    ``table``: ``segment, nps, ci_low, ci_high`` and optionally ``dimension`` (rows grouped under
    a shaded band per dimension), ``differs`` (a dark outline: differs from the rest) and
    ``tested`` (light grey: too small to test). Bars are neutral: NPS is not a category.
    ``score`` names the net score on the axis and in the default title (:func:`cxanalysis.fmt.score_name`).
    """
    t = table.reset_index(drop=True)
    ax = ax if ax is not None else plt.subplots(figsize=(8, max(3.0, 0.28 * len(t) + 1.2)))[1]
    y = np.arange(len(t))[::-1]
    differs = t["differs"].fillna(False).astype(bool) if "differs" in t else pd.Series(False, index=t.index)
    tested = t["tested"].fillna(True).astype(bool) if "tested" in t else pd.Series(True, index=t.index)
    colors = [NEUTRAL if ok else GREYS[2] for ok in tested]
    bars = ax.barh(y, np.nan_to_num(_finite(t["nps"])), color=colors)
    for bar, d in zip(bars, differs, strict=True):
        bar.set_edgecolor(SIGNIFICANT_EDGE if d else "none")
        bar.set_linewidth(2.0 if d else 0)
    _intervals(ax, y, t["ci_low"], t["ci_high"], horizontal=True)
    labels = t["segment"].astype(str) + np.where(tested, "", " (too small to test)")
    if "dimension" in t and t["dimension"].nunique() > 1:
        labels = t["dimension"].map(label) + ": " + labels
        _shade_groups(ax, t["dimension"].to_numpy(), y)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, max(len(t), 1) - 0.4)
    xlabel = f"{score} (95% CI)"
    if overall is not None and np.isfinite(overall):
        # said under the axis, not in a legend, which a long bar or interval could run through
        ax.axvline(overall, color="black", lw=1, ls="--")
        xlabel += f"; dashed line: all customers, {overall:.1f}"
    ax.axvline(0, color="grey", lw=0.8)
    ax.set(xlabel=xlabel)
    _top_title(ax, title or f"{score} by segment")
    return ax


def _shade_groups(ax, groups: np.ndarray, y: np.ndarray) -> None:
    """Grey band behind every other run of equal ``groups`` values (rows at positions ``y``)."""
    starts = [0] + [i for i in range(1, len(groups)) if groups[i] != groups[i - 1]] + [len(groups)]
    for run, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        if run % 2 == 0:
            ax.axhspan(y[b - 1] - 0.5, y[a] + 0.5, color="#EEEEEE", zorder=0)


@_chart
def category_heatmap(shares: pd.DataFrame, *, title: str | None = None, ax=None):
    """Heatmap of category shares (rows: segments, columns: detractor/passive/promoter).

    Each column is shaded in its own category's colour (white for 0%, the category's colour at
    full strength for 100%), so a dark cell reads as "many of this category", never as "good"
    or "bad" on one shared scale."""
    from matplotlib.colors import LinearSegmentedColormap

    ax = ax if ax is not None else plt.subplots(figsize=(6, max(2.5, 0.28 * len(shares) + 1.2)))[1]
    cmaps = [LinearSegmentedColormap.from_list(str(c), ["#FFFFFF", CATEGORY_COLORS.get(str(c), NEUTRAL)])
             for c in shares.columns]
    _heatmap(shares, ax, cmap=cmaps, vmin=0, vmax=1, fmt="{:.0%}", fontsize=8)
    ax.set(xlabel="Each column in its category's colour: darker is a larger share of the segment", ylabel="")
    _top_title(ax, title or "Share of each NPS category by segment")
    return ax


def _heatmap(table: pd.DataFrame, ax, *, cmap, vmin: float, vmax: float, fmt: str, fontsize: float = 10):
    """Annotated heatmap of ``table`` (rows top to bottom), text dark or white by cell luminance.
    ``cmap``: one colormap, or a list with one per column."""
    from matplotlib.colors import Normalize, to_rgb

    values = table.to_numpy(float)
    norm = Normalize(vmin, vmax)
    per_column = isinstance(cmap, (list, tuple))
    maps = [plt.get_cmap(c) for c in cmap] if per_column else [plt.get_cmap(cmap)] * values.shape[1]
    if per_column:
        for j, cm_j in enumerate(maps):
            # masked cells hold zeros, not np.ma.masked_all's uninitialised memory: a colormap scales the
            # data under the mask too, and garbage there overflows (a RuntimeWarning on the page)
            column = np.ma.masked_invalid(np.where(np.arange(values.shape[1]) == j, values, np.nan))
            column.data[column.mask] = 0.0
            ax.imshow(column, cmap=cm_j, norm=norm, aspect="auto", interpolation="nearest")
    else:
        ax.imshow(values, cmap=maps[0], norm=norm, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(values.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(np.arange(values.shape[0]), [str(i) for i in table.index])
    if sum(len(str(c)) for c in table.columns) > 40:  # long column names would overlap
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        rgb = np.array(to_rgb(maps[j](norm(v))))
        lin = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        dark_cell = lin @ [0.2126, 0.7152, 0.0722] <= 0.408  # seaborn's rule
        text = fmt.format(v)
        if text.startswith("-") and fmt.format(abs(v)) == fmt.format(0.0):
            text = fmt.format(0.0)  # -0.04 at one decimal reads "0.0", not "-0.0"
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color="w" if dark_cell else ".15")


@_chart
def trend(table: pd.DataFrame, *, value: str = "nps", title: str | None = None, ax=None):
    """A metric by quarter with its 95% CI band (``quarter, value, ci_low, ci_high``)."""
    ax = _ax(ax)
    x = np.arange(len(table))
    ax.plot(x, _finite(table[value]), marker="o", color=NEUTRAL)
    if "ci_low" in table and len(table) == 1:  # a band needs two quarters: one quarter's interval as a bar
        v, lo, hi = (float(_finite(table[c])[0]) for c in (value, "ci_low", "ci_high"))
        if np.isfinite([v, lo, hi]).all() and lo <= v <= hi:
            ax.errorbar(x, [v], yerr=[[v - lo], [hi - v]], fmt="none", ecolor=NEUTRAL, capsize=8, gid="interval")
        ax.set_xlim(-0.5, 0.5)
    elif "ci_low" in table:
        ax.fill_between(x, _finite(table["ci_low"]), _finite(table["ci_high"]), alpha=0.2, color=NEUTRAL)
    beside = len(table) == 1  # beside the point, off its interval bar
    for xi, v in zip(x, _finite(table[value]), strict=True):
        if not np.isfinite(v):
            continue
        ax.annotate(f"{v:.1f}", (xi, v), textcoords="offset points", xytext=(8, 0) if beside else (0, 6),
                    ha="left" if beside else "center", va="center" if beside else "baseline", fontsize=8)
    ax.set_xticks(x, table["quarter"])
    ax.set(xlabel="Quarter", ylabel=label(value), title=title or f"{label(value)} by quarter")
    return ax


@_chart
def change_decomposition(decomposition: dict, *, title: str | None = None, score: str = "NPS", ax=None):
    """Per dimension, the NPS change split into customer mix and change within segments
    (:func:`cxanalysis.trends.nps_change_decomposition`): two bars with their 95% intervals,
    labelled directly, and a dashed line at the whole change. Neutral greys: these are not
    NPS categories. ``score`` names the net score (:func:`cxanalysis.fmt.score_name`)."""
    ax = _ax(ax)
    rows = decomposition.get("by") or []
    y, labels = [], []
    for i, r in enumerate(rows):
        for j, (part, colour) in enumerate((("mix", "#4D4D4D"), ("within", "#A6A6A6"))):
            pos = 3 * (len(rows) - 1 - i) + (1 - j)
            ax.barh(pos, r[part], color=colour, height=0.8)
            _intervals(ax, [pos], [r[f"{part}_ci_low"]], [r[f"{part}_ci_high"]], horizontal=True)
            y.append(pos)
            labels.append(f"{label(r['dimension'])}: {'customer mix' if part == 'mix' else 'within segments'}")
    ax.axvline(0, color="0.3", lw=1)
    ax.axvline(decomposition["change"], color="black", ls="--", lw=1)
    ax.annotate(f"whole change {decomposition['change']:+.1f}", (decomposition["change"], 1.0),
                xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set(xlabel=f"{score} points, {decomposition['from']} to {decomposition['to']}",
           title=title or f"What moved {score}: customer mix or change within segments")
    return ax


@_chart
def forest(effects: pd.DataFrame, *, title: str | None = None, ax=None):
    """Forest plot of effects (``label, estimate, ci_low, ci_high, null`` and optionally
    ``scale``): a dot and CI per row with the no-effect line at ``null``. A filled dot is an
    interval that excludes no effect, a hollow one an interval that includes it, a cross a flagged
    effect (column ``flagged``: separation; indicative whatever its interval). Ratios and
    percentage points get a panel each (ratios on a log axis with at least three labelled
    ticks); returns the Figure when there are two."""
    scales = list(dict.fromkeys(effects["scale"])) if "scale" in effects else [None]
    if effects.empty:  # every contrast skipped: say so instead of drawing empty axes
        ax = _ax(ax)
        ax.text(0.5, 0.5, "No effect could be estimated from this export (see the skipped analyses).",
                ha="center", va="center", transform=ax.transAxes, color="0.3")
        ax.set_axis_off()
        ax.set_title(title or "Effects with 95% CIs")
        return ax
    if ax is not None or len(scales) == 1:
        return _forest_panel(effects, title or "Effects with 95% CIs", _ax(ax), log=scales == ["ratio"])
    fig, axes = plt.subplots(1, len(scales), figsize=(11, 0.6 * len(effects) + 2.0), layout="constrained")
    for a, sc in zip(axes, scales, strict=True):
        part = effects[effects["scale"] == sc]
        _forest_panel(part, "Ratio (1 = no difference)" if sc == "ratio" else "Percentage points (0 = no difference)",
                      a, log=sc == "ratio")
    fig.suptitle(title or "Effects with 95% CIs", fontweight="bold")
    return fig


#: the least distance between two tick labels of a log ratio axis, as a share of the axis: evenly
#: stepped ratios (0.75, 1.00, 1.25, 1.50, 1.75) crowd at the top of a log axis until they overprint
_MIN_TICK_GAP = 0.18


def _ratio_ticks(lo: float, hi: float) -> np.ndarray:
    """At least three round ticks covering [lo, hi] (positive), for a log axis whose own
    locator would label only 1 on a narrow range; no two closer than ``_MIN_TICK_GAP`` of the
    axis (:func:`_spread`). Preferred: evenly stepped ticks that label 1 (no difference); then a
    ratio and its reciprocal either side of 1 (0.8, 1, 1.25); then evenly stepped ticks without 1;
    never a scale with a step left out for crowding when one of these fits."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    if hi / lo > 10:  # a wide range: powers of ten (and 2, 5 between) read well on a log axis
        ticks = LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(lo, hi)
        ticks = _spread(ticks[(ticks >= lo) & (ticks <= hi)], lo, hi)
        if len(ticks) >= 3:
            return ticks
    # evenly stepped ticks none of which has to be dropped for crowding (a gap in the steps, 0.75,
    # 1.00, 1.25, 1.75, reads as an uneven scale); those that label 1 (no difference) first
    even = []
    for steps in ([1, 2, 2.5, 5, 10], [1, 2, 2.5, 4, 5, 10]):  # steps of 4 (0.8, 1.2, 1.6) only if needed
        for n in (9, 7, 5, 4, 3):
            ticks = _on_axis(MaxNLocator(n, steps=steps).tick_values(lo, hi), lo, hi)
            if len(ticks) >= 3 and len(_spread(ticks, lo, hi)) == len(ticks):
                even.append(ticks)
    with_one = [t for t in even if np.isclose(t, 1.0).any()]
    if with_one:
        return with_one[0]
    # else ratios and their round reciprocals (0.8 and 1.25, 0.5 and 2), even on a log axis about 1
    ladder = np.array([0.1, 0.2, 0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0, 5.0, 10.0])
    ticks = _spread(_on_axis(ladder, lo, hi), lo, hi)
    if len(ticks) >= 3 and np.isclose(ticks, 1.0).any():
        return ticks
    # else the longest run of consecutive steps around 1 that the crowding leaves whole
    for n in (9, 7, 5, 4):
        ticks = _on_axis(MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi), lo, hi)
        kept = np.isin(ticks, _spread(ticks, lo, hi))
        centre = int(np.argmin(np.abs(np.log(ticks)))) if len(ticks) else 0
        a = b = centre
        while a > 0 and kept[a - 1]:
            a -= 1
        while b < len(ticks) - 1 and kept[b + 1]:
            b += 1
        if b - a + 1 >= 3:
            return ticks[a:b + 1]
    if even:
        return even[0]
    for n in (5, 7, 9):
        ticks = MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        ticks = _spread(_on_axis(ticks, lo, hi), lo, hi)
        if len(ticks) >= 3:
            return ticks
    return np.geomspace(lo, hi, 3)


def _on_axis(ticks: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The positive ``ticks`` within [lo, hi] (to rounding): those a log ratio axis can show."""
    return ticks[(ticks > 0) & (ticks >= lo - 1e-12) & (ticks <= hi + 1e-12)]


def _spread(ticks: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Of ``ticks`` (ascending, on a log axis from ``lo`` to ``hi``), those at least
    ``_MIN_TICK_GAP`` of the axis from the previous one kept, walking outwards from the tick
    nearest 1 (no difference), which is always kept."""
    if len(ticks) < 2:
        return ticks
    u = np.log(ticks)
    gap = _MIN_TICK_GAP * np.log(hi / lo) * (1 - 1e-9)
    start = int(np.argmin(np.abs(u)))
    keep = [start]
    for step in (1, -1):
        last, i = start, start + step
        while 0 <= i < len(u):
            if abs(u[i] - u[last]) >= gap:
                keep.append(i)
                last = i
            i += step
    return ticks[sorted(keep)]


def _forest_panel(t: pd.DataFrame, title: str, ax, log: bool):
    t = t.reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    est, lo, hi, null = _finite(t["estimate"]), _finite(t["ci_low"]), _finite(t["ci_high"]), _finite(t["null"])
    _intervals(ax, y, lo, hi, horizontal=True, color=NEUTRAL)
    excludes = (lo > null) | (hi < null)
    flagged = t["flagged"].fillna(False).to_numpy(bool) if "flagged" in t else np.zeros(len(t), bool)
    ax.plot(est[excludes & ~flagged], y[excludes & ~flagged], "o", color=NEUTRAL, markeredgecolor=SIGNIFICANT_EDGE,
            zorder=4, gid="significant")
    ax.plot(est[~excludes & ~flagged], y[~excludes & ~flagged], "o", markerfacecolor="white", markeredgecolor=NEUTRAL,
            markeredgewidth=1.5, zorder=4, gid="not_significant")
    if flagged.any():  # separation: indicative only, never drawn as a confident dot
        ax.plot(est[flagged], y[flagged], "x", color=NEUTRAL, markersize=8, markeredgewidth=2, zorder=4, gid="flagged")
    for n in np.unique(null[np.isfinite(null)]):
        ax.axvline(n, color="grey", ls="--", lw=1)
    if log:
        # a log axis shows only positive ratios; non-positive limits (which a ratio cannot have)
        # are simply not drawn
        ax.set_xscale("log")
        vals = np.concatenate([lo, hi, est, null])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            a, b = float(vals.min()), float(vals.max())
            pad = (b / a) ** 0.08 if b > a else 1.1
            left, right = a / pad, b * pad
            if 0 < left < right < np.inf:
                ax.set_xlim(left, right)
                ax.set_xticks(_ratio_ticks(left, right))
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.2f}"))
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.xaxis.set_minor_locator(plt.NullLocator())
    else:  # the whiskers' caps clear the frame: 6% of the span each side
        vals = np.concatenate([lo, hi, est, null])
        vals = vals[np.isfinite(vals)]
        if len(vals):
            a, b = float(vals.min()), float(vals.max())
            pad = 0.06 * (b - a) if b > a else 1.0
            ax.set_xlim(a - pad, b + pad)
    ax.set_yticks(y, t["label"])
    pp = "scale" in t and t["scale"].eq("pp").all()
    scale = ("ratio, log scale; 1 = no difference" if log else
             "difference in percentage points; 0 = none" if pp else "difference; 0 = none")
    key = "filled: the 95% interval excludes no difference" + ("; x: flagged (separation), indicative only"
                                                               if flagged.any() else "")
    ax.set(title=title, xlabel=f"Effect ({scale})\n{key}")
    return ax


@_chart
def predicted_by_category(table: pd.DataFrame, *, ylabel: str, title: str | None = None, ax=None,
                          currency: str | None = None, money_axis_: bool = False):
    """Predicted outcome for current passives as each category (``category, estimate, ci_low, ci_high``),
    in the category colours. ``money_axis_``: the outcome is money (axis with ``currency``). With
    the columns of :meth:`cxanalysis.models.OutcomeModels.predicted_by_category`, a flagged
    model's bars are hatched and the title says they are indicative; a category given at its
    observed rate says so under its name; a category whose difference from the passives runs
    against the expected direction (``direction``) is dotted, and the title says so."""
    ax = _ax(ax)
    t = table.reset_index(drop=True)
    x = np.arange(len(t))
    colors = [CATEGORY_COLORS.get(c, NEUTRAL) for c in t["category"]]
    flagged = t["flagged"].fillna(False).astype(bool).to_numpy() if "flagged" in t else np.zeros(len(t), bool)
    bars = ax.bar(x, np.nan_to_num(_finite(t["estimate"])), color=colors)
    _hatch(bars, flagged, "//")
    _intervals(ax, x, t["ci_low"], t["ci_high"], horizontal=False)
    observed = t["observed"].fillna(False).astype(bool) if "observed" in t else pd.Series(False, index=t.index)
    ax.set_xticks(x, [f"{c}\n(observed rate)" if o else str(c) for c, o in zip(t["category"], observed, strict=True)])
    title = title or ylabel
    if flagged.any():
        title += "\nhatched: indicative only (the model is flagged)"
    unexpected = t["direction"].eq("unexpected").to_numpy() if "direction" in t else np.zeros(len(t), bool)
    if unexpected.any() and not flagged.any():
        _hatch(bars, unexpected, "..")
        title += "\ndotted: against what a better experience should do (check what the score measures)"
    ax.set(ylabel=ylabel, title=title)
    if money_axis_:
        money_axis(ax, currency)
    return ax


def _hatch(bars, which: np.ndarray, pattern: str) -> None:
    """Hatch the ``bars`` marked in ``which`` with ``pattern``, in white over their colour."""
    for bar, marked in zip(bars, which, strict=True):
        if marked:
            bar.set_hatch(pattern)
            bar.set_edgecolor("white")


@_chart
def waterfall(steps: pd.DataFrame, *, title: str | None = None, ax=None, currency: str | None = None):
    """Waterfall from contributions to a total (``label, value``; the last row is the total).

    Gains are drawn in :data:`NEUTRAL`, losses in a light grey, the total in dark grey, each
    labelled with its amount (``currency``); the axis leaves room above and below so the labels
    stay inside it, and a bar too thin to see is drawn at a minimum visible height.
    """
    ax = _ax(ax)
    vals = steps["value"].to_numpy(float)
    starts = np.concatenate([[0], np.cumsum(vals[:-1])])
    starts[-1] = 0
    ends = starts + vals
    both = np.concatenate([[0.0], starts, ends])
    both = both[np.isfinite(both)]
    lo, hi = float(both.min()), float(both.max())
    span = hi - lo if hi > lo else 1.0
    shown = np.where(np.isfinite(vals) & (np.abs(vals) < 0.006 * span), np.where(vals < 0, -0.006, 0.006) * span, vals)
    colors = [NEUTRAL if v >= 0 else GREYS[1] for v in vals[:-1]] + [GREYS[0]]
    x = np.arange(len(vals))
    ax.bar(x, shown, bottom=starts, color=colors, width=0.6)
    for i, (st, v, sh) in enumerate(zip(starts, vals, shown, strict=True)):
        if not (np.isfinite(st) and np.isfinite(sh)):
            continue
        top = st + max(sh, 0.0)
        bottom = st + min(sh, 0.0)
        ax.annotate(money(v, currency), (i, top if v >= 0 else bottom), textcoords="offset points",
                    xytext=(0, 4 if v >= 0 else -4), ha="center", va="bottom" if v >= 0 else "top", fontsize=8,
                    gid="value_label", annotation_clip=False)
    ax.set_ylim(lo - 0.14 * span, hi + 0.14 * span)  # headroom for the labels above and below
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [str(v) for v in steps["label"]])
    money_axis(ax, currency)
    ax.set(title=title or "Contributions to net value", ylabel=f"Money ({currency or 'currency of the export'})")
    ax.tick_params(axis="x", rotation=15)
    return ax


@_chart
def tornado(table: pd.DataFrame, *, base: float, title: str | None = None, ax=None):
    """Tornado chart: ROI at the low and high value of each assumption
    (``assumption, low_label, high_label, roi_low, roi_high``), widest bar on top; ROI in %."""
    ax = _ax(ax)
    t = table.assign(width=(table["roi_high"] - table["roi_low"]).abs()).sort_values("width")
    y = np.arange(len(t))
    # the lower value's bar above the higher value's, each half a row: when both move the ROI the
    # same way (a longer horizon can lower it either way) neither hides the other
    ax.barh(y + 0.2, t["roi_low"] - base, left=base, height=0.4, color=GREYS[1], label="assumption lower")
    ax.barh(y - 0.2, t["roi_high"] - base, left=base, height=0.4, color=NEUTRAL, label="assumption higher")
    ax.set_yticks(y, [f"{a} ({lo} / {hi})" for a, lo, hi in zip(t["assumption"], t["low_label"], t["high_label"], strict=True)])
    ax.axvline(base, color="black", lw=1)
    ax.axvline(0, color="grey", ls="--", lw=1)
    percent_axis(ax, "x")
    ax.set(xlabel=f"ROI (estimate {percent(base, 0)}; 0% = break-even)", title=title or "Sensitivity of ROI to each assumption")
    # in a row of its own above the bars, on white: no bar can run into it, and the two vertical
    # lines pass behind it
    ax.set_ylim(-0.6, len(t) - 0.6 + max(0.9, 0.15 * len(t)))
    ax.legend(loc="upper right", ncol=2, frameon=True, facecolor="white", edgecolor="none", framealpha=1.0)
    return ax


@_chart
def k_selection(table: pd.DataFrame, *, chosen: int, title: str | None = None):
    """The criterion k was chosen by, against k; returns the Figure.

    ``table`` is :attr:`CustomerClusters.selection_`: ``k, silhouette`` (k-means, higher is
    better) or ``k, bic`` (Gaussian mixture, lower is better). Only that method's own criterion
    is drawn; when both columns are present the silhouette is drawn.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    if "silhouette" in table:
        col, label, name = "silhouette", "silhouette (higher is better)", "k-means"
    else:
        col, label, name = "bic", "BIC (lower is better)", "Gaussian mixture"
    ax.plot(table["k"], table[col], marker="o", color=NEUTRAL)
    ax.axvline(chosen, color="grey", ls="--", lw=1)
    ax.set(xlabel="number of clusters k", ylabel=label)
    if col == "silhouette":  # on its own scale from 0, with the line below which structure is weak
        from .clusters import WEAK_SILHOUETTE  # loaded already: the selection table comes from it

        values = table[col].to_numpy(float)
        values = values[np.isfinite(values)]
        top = max(0.5, float(values.max()) + 0.05) if len(values) else 1.0
        ax.set_ylim(min(0.0, float(values.min()) - 0.05) if len(values) else 0.0, top)
        ax.axhline(WEAK_SILHOUETTE, color=GREYS[1], ls=":", lw=1, gid="reference")
        ax.annotate(f"below {WEAK_SILHOUETTE:g}: no substantial structure", (1.0, WEAK_SILHOUETTE),
                    xycoords=("axes fraction", "data"),
                    xytext=(-4, 3), textcoords="offset points", ha="right", va="bottom", fontsize=8, color="grey")
    if title is None:
        from .clusters import near_ties

        near = near_ties(table, chosen)
        title = f"{name}: k = {chosen} has the {'highest silhouette' if col == 'silhouette' else 'lowest BIC'}"
        if len(near):  # a third-decimal win is not a clear choice: the chart says which k nearly tie
            title += f"; k = {', '.join(str(int(k)) for k in near['k'])} nearly as {'high' if col == 'silhouette' else 'low'}"
    _top_title(ax, title, fontweight="bold")
    return fig


@_chart
def cluster_projection(points: pd.DataFrame, *, title: str | None = None, ax=None):
    """Scatter of a 2-D projection (``pc1, pc2, cluster`` and optionally ``name``), one colour
    from :data:`CLUSTER_COLORS` and one marker shape per cluster, named in the legend."""
    ax = _ax(ax)
    for i, (cid, part) in enumerate(points.groupby("cluster", sort=True)):
        name = str(part["name"].iloc[0]) if "name" in part else f"cluster {cid}"
        ax.scatter(part["pc1"], part["pc2"], s=10, linewidths=0, alpha=0.6, marker=CLUSTER_MARKERS[i % len(CLUSTER_MARKERS)],
                   color=CLUSTER_COLORS[i % len(CLUSTER_COLORS)], label=name)
    ax.legend(title="Cluster", frameon=False, markerscale=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over, the points
    ax.set(xlabel="First principal component", ylabel="Second principal component")
    _top_title(ax, title or "Clusters on the first two principal components")
    return ax


@_chart
def profile_heatmap(z: pd.DataFrame, *, title: str | None = None, ax=None):
    """Heatmap of standardised cluster means (rows: clusters, columns: features), centred on 0,
    in :data:`DIVERGING_CMAP` (no category colour)."""
    ax = _ax(ax)
    v = np.abs(z.to_numpy(float))
    m = float(np.nanmax(v)) if np.isfinite(v).any() else 1.0
    m = m if m > 0 else 1.0
    _heatmap(z.rename(columns=label), ax, cmap=DIVERGING_CMAP, vmin=-m, vmax=m, fmt="{:.1f}")
    ax.set(xlabel="", ylabel="")
    _top_title(ax, title or "What sets each cluster apart (standardised means)")
    return ax


@_chart
def driver_quadrant(table: pd.DataFrame, *, title: str | None = None, ax=None, scale: Sequence[float] | None = None):
    """Importance x performance quadrant (``driver, importance, ci_low, ci_high, performance``,
    and ``performance_ci_low, performance_ci_high`` drawn as horizontal intervals when present).

    ``scale``: the items' rating scale, e.g. ``(0, 10)``; the performance axis then spans it.
    Without it, or when the drivers' means are too close to tell apart on the whole scale (within
    a tenth of it), the axis is zoomed to the means and its label says so. A filled dot is an
    importance whose interval excludes 0, a hollow one an importance that may be nothing. When
    every driver's rating interval overlaps every other's, the default title says the ratings do
    not tell the drivers apart (no quadrant reading).
    """
    ax = _ax(ax)
    perf, imp = _finite(table["performance"]), _finite(table["importance"])
    low = _finite(table["ci_low"])
    span = np.nanmax(perf) - np.nanmin(perf) if np.isfinite(perf).any() else 0.0
    _intervals(ax, perf, table["ci_low"], table["ci_high"], horizontal=False, color=NEUTRAL,
               cap=0.02 * span if span > 0 else 0.05)
    if "performance_ci_low" in table:  # the mean rating's interval: where two drivers' overlap, their order is chance
        imp_span = np.nanmax(_finite(table["ci_high"])) - np.nanmin(low) if np.isfinite(low).any() else 0.0
        _intervals(ax, imp, table["performance_ci_low"], table["performance_ci_high"], horizontal=True,
                   color=NEUTRAL, lw=0.9, cap=0.015 * imp_span if imp_span > 0 else 0.002).set_gid("performance_ci")
    sig = low > 0
    ax.plot(perf[sig], imp[sig], "o", color=NEUTRAL, markeredgecolor=SIGNIFICANT_EDGE, zorder=4, gid="significant")
    ax.plot(perf[~sig], imp[~sig], "o", markerfacecolor="white", markeredgecolor=NEUTRAL, markeredgewidth=1.5, zorder=4,
            gid="not_significant")
    for d, x, yv in zip(table["driver"], perf, imp, strict=True):
        if np.isfinite(x) and np.isfinite(yv):
            ax.annotate(label(d), (x, yv), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if np.isfinite(perf).any():
        ax.axvline(np.nanmean(perf), color="grey", ls="--", lw=1)
    if np.isfinite(imp).any():
        ax.axhline(np.nanmean(imp), color="grey", ls="--", lw=1)
    xlabel = "Performance: mean rating" + (", 95% interval" if "performance_ci_low" in table else "")
    decimals = 2
    locator = plt.MaxNLocator(6)
    if scale is not None and span >= 0.1 * (scale[1] - scale[0]):
        ax.set_xlim(scale[0], scale[1])
        xlabel += f" (scale {scale[0]:g} to {scale[1]:g})"
    elif np.isfinite(perf).any():
        pad = max(span * 0.15, 0.01)
        left, right = np.nanmin(perf), np.nanmax(perf)
        if "performance_ci_low" in table:  # room for the intervals too
            left = np.nanmin([left, *_finite(table["performance_ci_low"])])
            right = np.nanmax([right, *_finite(table["performance_ci_high"])])
        ax.set_xlim(left - pad, right + pad)
        decimals = _tick_decimals(locator.tick_values(*ax.get_xlim()))
        xlabel += f" (axis zoomed: means {np.nanmin(perf):.{decimals}f}–{np.nanmax(perf):.{decimals}f}"
        xlabel += f" on the {scale[0]:g}–{scale[1]:g} scale)" if scale is not None else ")"
    # no offset (the ticks read 6.990, 6.995, ..., not +7 and 0.005), as many decimals as tell them apart
    ax.xaxis.set_major_locator(locator)
    number_axis(ax, "x", decimals)
    # the importance is the R² each driver adds (its Shapley share of the model's R²), not a share
    ax.set(xlabel=xlabel, ylabel="Importance (R² it adds, 95% interval)")
    if title is None and "performance_ci_low" in table and np.isfinite(perf).sum() > 1 and (
            np.nanmax(_finite(table["performance_ci_low"])) <= np.nanmin(_finite(table["performance_ci_high"]))):
        title = "Key drivers: the ratings do not differ reliably; read importance only"
    _top_title(ax, title or "Key drivers: fix what is important and under-performing (top left)")
    return ax


def _tick_decimals(ticks: np.ndarray) -> int:
    """Decimals that tell ``ticks`` apart (at least 2: the house's precision for ratings)."""
    step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else 0.0
    if not np.isfinite(step) or step <= 0:
        return 2
    return int(min(6, max(2, np.ceil(-np.log10(step) - 1e-9))))


@_chart
def calibration(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Predicted vs observed rate by bin of predicted risk (``predicted, observed``)."""
    ax = _ax(ax)
    hi = float(max(table["predicted"].max(), table["observed"].max())) * 1.05
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label="perfect calibration")
    ax.plot(table["predicted"], table["observed"], marker="o", color=NEUTRAL, label="model")
    percent_axis(ax, "x")
    percent_axis(ax, "y")
    ax.set(xlabel="Predicted churn", ylabel="Observed churn", title=title or "Churn model calibration by decile")
    ax.legend(frameon=False)
    return ax


@_chart
def residuals(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Pearson residuals against fitted values (``fitted, pearson_residual``)."""
    ax = _ax(ax)
    ax.scatter(table["fitted"], table["pearson_residual"], s=5, alpha=0.3, color=NEUTRAL)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xscale("log")
    fitted = _finite(table["fitted"])
    fitted = fitted[np.isfinite(fitted) & (fitted > 0)]
    if len(fitted) and fitted.max() > fitted.min():
        lo, hi = float(fitted.min()), float(fitted.max())
        pad = (hi / lo) ** 0.05
        ax.set_xlim(lo / pad, hi * pad)
        ax.set_xticks(_ratio_ticks(lo / pad, hi * pad))
    # plain numbers ("1,000"), not matplotlib's "10^3" mathtext, which the house theme does not
    # parse (labels from an export are drawn as typed); no labelled minor ticks
    number_axis(ax, "x")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set(xlabel="fitted value (log scale)", ylabel="Pearson residual", title=title or "Residuals against fitted values")
    return ax


@_chart
def scenarios(table: pd.DataFrame, *, title: str | None = None, ax=None, currency: str | None = None):
    """Net value of retention scenarios by horizon, one line per customers-retained-a-month
    (``retained_per_month, horizon_years, net, net_ci_low, net_ci_high``): greys from light to
    dark and a marker shape each, labelled at the line's end; money axis in ``currency``."""
    ax = _ax(ax)
    groups = list(table.groupby("retained_per_month"))
    shades = [GREYS[1], NEUTRAL, GREYS[0], "#000000"]
    for i, (n, part) in enumerate(groups):
        colour = shades[min(i, len(shades) - 1)] if len(groups) <= len(shades) else shades[i % len(shades)]
        x, yv = _finite(part["horizon_years"]), _finite(part["net"])
        ax.plot(x, yv, marker=CLUSTER_MARKERS[i % len(CLUSTER_MARKERS)], color=colour, label=f"{n:g} more a month")
        ax.fill_between(x, _finite(part["net_ci_low"]), _finite(part["net_ci_high"]), color=colour, alpha=0.15)
    ax.axhline(0, color="grey", ls="--", lw=1)
    money_axis(ax, currency)
    ax.set(xlabel="Program runs (years)", ylabel="Net value (margin minus costs)",
           title=title or "Retention scenarios, net of costs")
    ax.legend(frameon=False)
    return ax
