"""The house charts. Each function draws one chart from an already computed table and returns
the Axes (or Figure); none computes a statistic. Colours are the Okabe-Ito colour-blind-safe set,
titles state the finding when the caller passes one.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "set_theme",
    "CATEGORY_COLORS",
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

    plt.rcParams.update({**WHITEGRID, **HOUSE, "axes.prop_cycle": cycler(color=OKABE_ITO)})
    __import__("cxanalysis.alt").alt.install()  # in a notebook: alt text from each figure's data


def _ax(ax):
    return ax if ax is not None else plt.subplots()[1]


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


def score_histogram(counts: pd.DataFrame, *, title: str | None = None, ax=None):
    """Bars of respondents per score value, coloured by category.

    ``counts``: ``score, n, category`` (one row per score value).
    """
    ax = _ax(ax)
    colors = [CATEGORY_COLORS.get(c, "#999999") for c in counts["category"]]
    ax.bar(counts["score"].astype(str), counts["n"], color=colors)
    ax.set(xlabel="Score", ylabel="Customers", title=title or "Distribution of the CX score")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CATEGORY_COLORS.values()]
    ax.legend(handles, list(CATEGORY_COLORS), loc="upper left", frameon=False)
    return ax


def distributions(data: pd.DataFrame, columns: Sequence[str], *, ncols: int = 4, max_levels: int = 12,
                  max_rows: int = 100_000, random_state: int = 0):
    """One small histogram (numbers) or bar chart (categories) per column; returns the Figure.

    Yes/no columns (only 0 and 1) share one panel showing the share of 1s. Above ``max_rows``
    customers the shapes are drawn from a random sample of that many (said in the figure's
    title); the tables beside them use every row.
    """
    columns = list(columns)
    sampled = len(data) > max_rows
    data = data[columns].sample(max_rows, random_state=random_state) if sampled else data[columns]
    binary = [c for c in columns if _is_binary(data[c])]
    panels = [c for c in columns if c not in binary] + (["yes/no columns: share of 1"] if binary else [])
    nrows = max(1, int(np.ceil(len(panels) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax, col in zip(axes.ravel(), panels, strict=False):
        whole = True  # x axis of counts, or of whole-number values
        if col not in data:
            whole = False
            shares = data[binary].mean()
            ax.barh([_short(c) for c in binary[::-1]], shares.to_numpy()[::-1], color=OKABE_ITO[2])
            ax.set_xlim(0, 1)
        else:
            s = data[col].dropna()
            numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
            if numeric and s.nunique() > max_levels:
                bins = _bins(s)
                whole = not np.isscalar(bins)
                counts, edges = np.histogram(s.clip(upper=s.quantile(0.995)), bins=bins)
                ax.stairs(counts, edges, fill=True, color=OKABE_ITO[0])
            else:  # levels: numbers in their order, categories by frequency
                vc = s.value_counts()
                vc = vc.sort_index() if numeric else vc.head(max_levels)
                labels = [f"{v:g}" if numeric else _short(str(v)) for v in vc.index]
                ax.barh(labels[::-1], vc.to_numpy()[::-1], color=OKABE_ITO[0])
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4, integer=whole))  # few labels: quicker to draw, as readable
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    height = 2.4 * nrows
    if sampled:
        fig.suptitle(f"Distributions (random sample of {max_rows:,} customers)", fontweight="bold",
                     y=1 - 0.1 / height, va="top")
    # a fixed grid (labels are at most 18 characters) instead of a tight layout, which measures
    # every tick label of every panel and made this figure the slowest of the report
    fig.set_layout_engine("none")
    fig.subplots_adjust(left=0.09, right=0.98, top=1 - (0.75 if sampled else 0.35) / height, bottom=0.3 / height,
                        wspace=0.6, hspace=0.5)
    return fig


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


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


def segment_nps(table: pd.DataFrame, *, overall: float | None = None, title: str | None = None, ax=None):
    """Horizontal NPS bars with 95% CI error bars, one row per segment, grouped by dimension.

    ``table``: ``segment, nps, ci_low, ci_high`` and optionally ``dimension`` (rows grouped under
    a shaded band per dimension) and ``differs`` (drawn in vermillion: differs from the rest).
    """
    t = table.reset_index(drop=True)
    ax = ax if ax is not None else plt.subplots(figsize=(8, max(3.0, 0.28 * len(t) + 1.2)))[1]
    y = np.arange(len(t))[::-1]
    differs = t["differs"].fillna(False).astype(bool) if "differs" in t else pd.Series(False, index=t.index)
    tested = t["tested"].fillna(True).astype(bool) if "tested" in t else pd.Series(True, index=t.index)
    colors = [OKABE_ITO[3] if d else (OKABE_ITO[0] if ok else "#BBBBBB") for d, ok in zip(differs, tested, strict=True)]
    ax.barh(y, np.nan_to_num(_finite(t["nps"])), color=colors)
    _intervals(ax, y, t["ci_low"], t["ci_high"], horizontal=True)
    labels = t["segment"].astype(str) + np.where(tested, "", " (too small to test)")
    if "dimension" in t and t["dimension"].nunique() > 1:
        labels = t["dimension"].astype(str) + ": " + labels
        _shade_groups(ax, t["dimension"].to_numpy(), y)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, max(len(t), 1) - 0.4)
    if overall is not None:
        ax.axvline(overall, color="black", lw=1, ls="--", label=f"all customers {overall:.1f}")
        ax.legend(frameon=False, loc="lower right")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set(xlabel="NPS (95% CI)", title=title or "NPS by segment")
    return ax


def _shade_groups(ax, groups: np.ndarray, y: np.ndarray) -> None:
    """Grey band behind every other run of equal ``groups`` values (rows at positions ``y``)."""
    starts = [0] + [i for i in range(1, len(groups)) if groups[i] != groups[i - 1]] + [len(groups)]
    for run, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        if run % 2 == 0:
            ax.axhspan(y[b - 1] - 0.5, y[a] + 0.5, color="#EEEEEE", zorder=0)


def category_heatmap(shares: pd.DataFrame, *, title: str | None = None, ax=None):
    """Heatmap of category shares (rows: segments, columns: detractor/passive/promoter)."""
    ax = ax if ax is not None else plt.subplots(figsize=(6, max(2.5, 0.28 * len(shares) + 1.2)))[1]
    _heatmap(shares, ax, cmap="Blues", vmin=0, vmax=1, fmt="{:.0%}", fontsize=8)
    ax.set(xlabel="", ylabel="", title=title or "Share of each NPS category by segment")
    return ax


def _heatmap(table: pd.DataFrame, ax, *, cmap: str, vmin: float, vmax: float, fmt: str, fontsize: float = 10):
    """Annotated heatmap of ``table`` (rows top to bottom), text dark or white by cell luminance."""
    from matplotlib.colors import Normalize, to_rgb

    values = table.to_numpy(float)
    cm = plt.get_cmap(cmap)
    norm = Normalize(vmin, vmax)
    ax.imshow(values, cmap=cm, norm=norm, aspect="auto", interpolation="nearest")
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
        rgb = np.array(to_rgb(cm(norm(v))))
        lin = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        dark_cell = lin @ [0.2126, 0.7152, 0.0722] <= 0.408  # seaborn's rule
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize, color="w" if dark_cell else ".15")


def trend(table: pd.DataFrame, *, value: str = "nps", title: str | None = None, ax=None):
    """A metric by quarter with its 95% CI band (``quarter, value, ci_low, ci_high``)."""
    ax = _ax(ax)
    x = np.arange(len(table))
    ax.plot(x, _finite(table[value]), marker="o", color=OKABE_ITO[0])
    if "ci_low" in table:
        ax.fill_between(x, _finite(table["ci_low"]), _finite(table["ci_high"]), alpha=0.2, color=OKABE_ITO[0])
    for xi, v in zip(x, _finite(table[value]), strict=True):
        if not np.isfinite(v):
            continue
        ax.annotate(f"{v:.1f}", (xi, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(x, table["quarter"])
    ax.set(xlabel="Quarter", ylabel=value.upper() if value == "nps" else value, title=title or f"{value} by quarter")
    return ax


def change_decomposition(decomposition: dict, *, title: str | None = None, ax=None):
    """Per dimension, the NPS change split into customer mix and change within segments
    (:func:`cxanalysis.trends.nps_change_decomposition`): two bars with their 95% intervals,
    labelled directly, and a dashed line at the whole change. Neutral greys: these are not
    NPS categories."""
    ax = _ax(ax)
    rows = decomposition.get("by") or []
    y, labels = [], []
    for i, r in enumerate(rows):
        for j, (part, colour) in enumerate((("mix", "#4D4D4D"), ("within", "#A6A6A6"))):
            pos = 3 * (len(rows) - 1 - i) + (1 - j)
            ax.barh(pos, r[part], color=colour, height=0.8)
            _intervals(ax, [pos], [r[f"{part}_ci_low"]], [r[f"{part}_ci_high"]], horizontal=True)
            y.append(pos)
            labels.append(f"{str(r['dimension']).replace('_', ' ')}: {'mix' if part == 'mix' else 'within'}")
    ax.axvline(0, color="0.3", lw=1)
    ax.axvline(decomposition["change"], color="black", ls="--", lw=1)
    ax.annotate(f"whole change {decomposition['change']:+.1f}", (decomposition["change"], 1.0),
                xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set(xlabel=f"NPS points, {decomposition['from']} to {decomposition['to']}",
           title=title or "What moved NPS: customer mix or change within segments")
    return ax


def forest(effects: pd.DataFrame, *, title: str | None = None, ax=None):
    """Forest plot of effects (``label, estimate, ci_low, ci_high, null`` and optionally
    ``scale``): a dot and CI per row with the no-effect line at ``null``. Ratios and percentage
    points get a panel each (ratios on a log axis); returns the Figure when there are two."""
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
    fig, axes = plt.subplots(1, len(scales), figsize=(11, 0.6 * len(effects) + 1.5))
    for a, sc in zip(axes, scales, strict=True):
        part = effects[effects["scale"] == sc]
        _forest_panel(part, "ratio (1 = no difference)" if sc == "ratio" else "percentage points (0 = no difference)",
                      a, log=sc == "ratio")
    fig.suptitle(title or "Effects with 95% CIs", fontweight="bold")
    fig.tight_layout()
    return fig


def _forest_panel(t: pd.DataFrame, title: str, ax, log: bool):
    t = t.reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    _intervals(ax, y, t["ci_low"], t["ci_high"], horizontal=True, color=OKABE_ITO[0])
    ax.plot(_finite(t["estimate"]), y, "o", color=OKABE_ITO[0], zorder=4)
    for null in t["null"].unique():
        if np.isfinite(null):
            ax.axvline(null, color="grey", ls="--", lw=1)
    if log:
        # a log axis shows only positive ratios; non-positive limits (which a ratio cannot have)
        # are simply not drawn
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.2f}"))
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_yticks(y, t["label"])
    ax.set(title=title, xlabel="effect")
    return ax


def predicted_by_category(table: pd.DataFrame, *, ylabel: str, title: str | None = None, ax=None):
    """Predicted outcome for current passives as each category (``category, estimate, ci_low, ci_high``)."""
    ax = _ax(ax)
    t = table.reset_index(drop=True)
    x = np.arange(len(t))
    colors = [CATEGORY_COLORS.get(c, OKABE_ITO[0]) for c in t["category"]]
    ax.bar(x, np.nan_to_num(_finite(t["estimate"])), color=colors)
    _intervals(ax, x, t["ci_low"], t["ci_high"], horizontal=False)
    ax.set_xticks(x, t["category"])
    ax.set(ylabel=ylabel, title=title or ylabel)
    return ax


def waterfall(steps: pd.DataFrame, *, title: str | None = None, ax=None):
    """Waterfall from contributions to a total (``label, value``; the last row is the total)."""
    ax = _ax(ax)
    vals = steps["value"].to_numpy(float)
    starts = np.concatenate([[0], np.cumsum(vals[:-1])])
    starts[-1] = 0
    colors = [OKABE_ITO[2] if v >= 0 else OKABE_ITO[3] for v in vals[:-1]] + [OKABE_ITO[0]]
    ax.bar(steps["label"], vals, bottom=starts, color=colors)
    for i, (s, v) in enumerate(zip(starts, vals, strict=True)):
        ax.annotate(f"{v:,.0f}", (i, s + v), textcoords="offset points", xytext=(0, 4 if v >= 0 else -12),
                    ha="center", fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=title or "Contributions to net value", ylabel="money")
    ax.tick_params(axis="x", rotation=15)
    return ax


def tornado(table: pd.DataFrame, *, base: float, title: str | None = None, ax=None):
    """Tornado chart: ROI at the low and high value of each assumption
    (``assumption, low_label, high_label, roi_low, roi_high``), widest bar on top."""
    ax = _ax(ax)
    t = table.assign(width=(table["roi_high"] - table["roi_low"]).abs()).sort_values("width")
    y = np.arange(len(t))
    ax.barh(y, t["roi_low"] - base, left=base, color=OKABE_ITO[3], label="assumption lower")
    ax.barh(y, t["roi_high"] - base, left=base, color=OKABE_ITO[0], label="assumption higher")
    ax.set_yticks(y, [f"{a} ({lo} / {hi})" for a, lo, hi in zip(t["assumption"], t["low_label"], t["high_label"], strict=True)])
    ax.axvline(base, color="black", lw=1)
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set(xlabel="ROI", title=title or "Sensitivity of ROI to each assumption")
    ax.legend(frameon=False, loc="lower right")
    return ax


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
    ax.plot(table["k"], table[col], marker="o", color=OKABE_ITO[0])
    ax.axvline(chosen, color="grey", ls="--", lw=1)
    ax.set(xlabel="number of clusters k", ylabel=label)
    ax.set_title(title or f"{name}: k = {chosen} has the {'highest silhouette' if col == 'silhouette' else 'lowest BIC'}",
                 fontweight="bold")
    return fig


def cluster_projection(points: pd.DataFrame, *, title: str | None = None, ax=None):
    """Scatter of a 2-D projection (``pc1, pc2, cluster``)."""
    ax = _ax(ax)
    for i, (name, part) in enumerate(points.groupby("cluster", sort=True)):
        ax.scatter(part["pc1"], part["pc2"], s=8, linewidths=0, alpha=0.6,
                   color=OKABE_ITO[i % len(OKABE_ITO)], label=str(name))
    ax.legend(title="cluster", frameon=False, markerscale=2)
    ax.set(title=title or "Clusters on the first two principal components", xlabel="PC 1", ylabel="PC 2")
    return ax


def profile_heatmap(z: pd.DataFrame, *, title: str | None = None, ax=None):
    """Heatmap of standardised cluster means (rows: clusters, columns: features), centred on 0."""
    ax = _ax(ax)
    v = np.abs(z.to_numpy(float))
    m = float(np.nanmax(v)) if np.isfinite(v).any() else 1.0
    m = m if m > 0 else 1.0
    _heatmap(z, ax, cmap="RdBu_r", vmin=-m, vmax=m, fmt="{:.1f}")
    ax.set(title=title or "What sets each cluster apart (standardised means)", xlabel="", ylabel="")
    return ax


def driver_quadrant(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Importance x performance quadrant (``driver, importance, ci_low, ci_high, performance``)."""
    ax = _ax(ax)
    perf, imp = _finite(table["performance"]), _finite(table["importance"])
    span = np.nanmax(perf) - np.nanmin(perf) if np.isfinite(perf).any() else 0.0
    _intervals(ax, perf, table["ci_low"], table["ci_high"], horizontal=False, color=OKABE_ITO[0],
               cap=0.02 * span if span > 0 else 0.05)
    ax.plot(perf, imp, "o", color=OKABE_ITO[0], zorder=4)
    for d, x, yv in zip(table["driver"], perf, imp, strict=True):
        if np.isfinite(x) and np.isfinite(yv):
            ax.annotate(str(d).removeprefix("driver_"), (x, yv), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if np.isfinite(perf).any():
        ax.axvline(np.nanmean(perf), color="grey", ls="--", lw=1)
    if np.isfinite(imp).any():
        ax.axhline(np.nanmean(imp), color="grey", ls="--", lw=1)
    ax.set(xlabel="performance (mean rating)", ylabel="importance (share of R²)",
           title=title or "Key drivers: fix what is important and under-performing (top left)")
    return ax


def calibration(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Predicted vs observed rate by bin of predicted risk (``predicted, observed``)."""
    ax = _ax(ax)
    hi = float(max(table["predicted"].max(), table["observed"].max())) * 1.05
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1, label="perfect calibration")
    ax.plot(table["predicted"], table["observed"], marker="o", color=OKABE_ITO[0], label="model")
    ax.set(xlabel="predicted churn", ylabel="observed churn", title=title or "Churn model calibration by decile")
    ax.legend(frameon=False)
    return ax


def residuals(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Pearson residuals against fitted values (``fitted, pearson_residual``)."""
    ax = _ax(ax)
    ax.scatter(table["fitted"], table["pearson_residual"], s=5, alpha=0.3, color=OKABE_ITO[0])
    ax.axhline(0, color="grey", lw=1)
    ax.set_xscale("log")
    ax.set(xlabel="fitted value (log scale)", ylabel="Pearson residual", title=title or "Residuals against fitted values")
    return ax


def scenarios(table: pd.DataFrame, *, title: str | None = None, ax=None):
    """Net value of retention scenarios by horizon, one line per customers-retained-a-month
    (``retained_per_month, horizon_years, net, net_ci_low, net_ci_high``)."""
    ax = _ax(ax)
    for i, (n, part) in enumerate(table.groupby("retained_per_month")):
        ax.plot(_finite(part["horizon_years"]), _finite(part["net"]), marker="o", color=OKABE_ITO[i % len(OKABE_ITO)],
                label=f"{n} more a month")
        ax.fill_between(_finite(part["horizon_years"]), _finite(part["net_ci_low"]), _finite(part["net_ci_high"]),
                        color=OKABE_ITO[i % len(OKABE_ITO)], alpha=0.2)
    ax.axhline(0, color="grey", ls="--", lw=1)
    ax.set(xlabel="horizon (years)", ylabel="net value (margin - costs)", title=title or "Retention scenarios, net of costs")
    ax.legend(frameon=False)
    return ax
