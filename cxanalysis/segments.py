"""NPS categories, business segments and segment profiles.

A segment profile states, per segment: size, share, NPS with its interval, CSAT, spend, churn,
returns rate, CLV and health, and whether its NPS differs from the rest of the customers after a
Holm correction over every segment in the table.

Minimum size: a segment is tested against the rest only when it holds at least
``segments.min_size`` scored respondents (default 30). Smaller segments are still shown, with
their NPS and its interval, but flagged ``"too small to test"``: no p-value, and ``differs`` is
missing (``<NA>``), not False. They are never named as the highest or lowest segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr  # normal tail without importing scipy.stats

from .metrics import clv_simple, health_score, nps_from_counts

__all__ = [
    "CATEGORY_ORDER", "nps_category", "band", "add_segments", "profile", "holm", "score_counts",
    "category_shares",
]

CATEGORY_ORDER = ["detractor", "passive", "promoter"]
CATEGORY_ORDER_PLURAL = ["detractors", "passives", "promoters"]


def nps_category(score: pd.Series, *, promoter_min: float = 9, detractor_max: float = 6) -> pd.Series:
    """Promoter / passive / detractor from a score (missing stays missing).

    Returns
    -------
    Series
        Categorical with categories ``detractor, passive, promoter`` in that order.
    """
    s = score.astype(float)
    out = np.where(s >= promoter_min, "promoter", np.where(s <= detractor_max, "detractor", "passive"))
    out = pd.Series(out, index=score.index).where(s.notna())
    return out.astype(pd.CategoricalDtype(CATEGORY_ORDER))


def band(series: pd.Series, *, edges: Sequence[float] | None = None, q: int = 4) -> pd.Series:
    """Cut a numeric column into bands: explicit ``edges`` ([a, b) intervals) or ``q`` quantiles.

    Labels are readable, e.g. ``"25-34"`` for integer edges or ``"Q2 (310-520)"`` for quantiles.
    """
    s = series.astype(float)
    if edges is not None:
        e = list(edges)
        labels = [f"{_n(a)}-{_n(b - 1) if float(b).is_integer() else _n(b)}" for a, b in zip(e[:-1], e[1:], strict=True)]
        return pd.cut(s, e, right=False, labels=labels)
    qs = np.unique(np.nanquantile(s, np.linspace(0, 1, q + 1)))
    if len(qs) < 3:
        return pd.Series(pd.Categorical(np.where(s.notna(), "all", None)), index=s.index)
    labels = [f"Q{i + 1} ({_n(a)}-{_n(b)})" for i, (a, b) in enumerate(zip(qs[:-1], qs[1:], strict=True))]
    return pd.cut(s, qs, include_lowest=True, labels=labels, duplicates="drop")


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.1f}"


def add_segments(data: pd.DataFrame, config) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Add ``cx_category``, ``health_score`` and a segment column per configured dimension.

    Returns
    -------
    data : DataFrame
        A copy with the new columns (numeric dimensions as ``<column>_band``).
    dimensions : list of str
        The segment columns added, in the configured order.
    skipped : dict
        Dimension -> why it was skipped.
    """
    out = data.copy()
    cats = config.categories
    out["cx_category"] = nps_category(out[cats["score"]], promoter_min=cats["promoter_min"],
                                      detractor_max=cats["detractor_max"])
    out["health_score"] = health_score(out, weights=config.health_score["weights"], score=cats["score"],
                                       scale=config.scales.get(cats["score"], [0, 10]))
    seg = config.segments
    dims, skipped = [], {}
    for dim in seg["dimensions"]:
        if dim not in out or out[dim].notna().sum() == 0:
            skipped[dim] = f"no {dim} column"
            continue
        if pd.api.types.is_numeric_dtype(out[dim]) and not isinstance(out[dim].dtype, pd.CategoricalDtype):
            name = f"{dim}_band"
            out[name] = band(out[dim], edges=seg["bands"].get(dim), q=seg["quantile_bands"])
            dims.append(name)
        else:
            out[dim] = out[dim].astype("category")
            dims.append(dim)
    return out, dims, skipped


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN left as NaN)."""
    p = np.asarray(p, float)
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    order = np.argsort(q)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * q[i])
        adj[i] = min(running, 1.0)
    out = np.full_like(p, np.nan)
    out[ok] = adj
    return out


def profile(data: pd.DataFrame, dimensions: Sequence[str], config) -> pd.DataFrame:
    """Profile every segment of every dimension (``data`` from :func:`add_segments`).

    Returns
    -------
    DataFrame
        ``dimension, segment, n, share, nps, ci_low, ci_high, promoters, passives, detractors,
        csat, spend, churn_rate, returns_rate, clv, health, diff_vs_rest, p_value, p_holm,
        differs, tested, note`` — the category columns are shares of the segment's scored (weighted)
        customers, so ``nps = 100 * (promoters - detractors)``; ``differs`` is True
        when the segment's NPS differs from the rest at ``alpha`` after Holm's correction over all
        segments in the table; segments with fewer than ``segments.min_size`` scored
        respondents are not tested: ``tested`` is False, ``note`` says "too small to test
        (n < min_size)", and ``p_value``, ``p_holm`` and ``differs`` are missing. The NPS
        interval always contains the NPS (:func:`cxanalysis.metrics.nps`).

    Notes
    -----
    Aggregates are computed in one grouped pass per dimension. The NPS interval is the
    configured method; the test against the rest is a two-sample z-test on the Wald variances.
    ``returns_rate`` is returns per order (ratio of totals); ``clv`` is the simple CLV
    (margin x mean spend / churn rate).
    """
    alpha = config.alpha
    w = data["weight"].to_numpy(float) if "weight" in data else np.ones(len(data))
    cat = data["cx_category"]
    base = pd.DataFrame({
        "_w": w, "_w2": w**2,
        "_p": w * (cat == "promoter").to_numpy(), "_d": w * (cat == "detractor").to_numpy(),
        "_a": w * cat.notna().to_numpy(), "_r": cat.notna().to_numpy().astype(float),
    }, index=data.index)
    extra = {}
    for col in ("csat", "spend", "churned", "returns", "orders", "health_score"):
        if col in data:
            extra[col] = data[col].astype(float)
    base = base.assign(**extra)
    total_w = base["_a"].sum()
    tot = base[["_p", "_d", "_a"]].sum()
    margin = config.roi["gross_margin"]
    rows = []
    for dim in dimensions:
        g = base.groupby(data[dim], observed=True)
        agg = g[["_w", "_w2", "_p", "_d", "_a", "_r"]].sum()
        means = g[list(extra)].mean() if extra else pd.DataFrame(index=agg.index)
        sums = g[[c for c in ("returns", "orders") if c in extra]].sum() if "returns" in extra else None
        counts = g.size()
        for seg, a in agg.iterrows():
            n_eff = a["_w"] ** 2 / a["_w2"] if a["_w2"] > 0 else 0
            r = nps_from_counts(a["_p"], a["_a"] - a["_p"] - a["_d"], a["_d"], ci=config.nps_ci,
                                alpha=alpha, n_eff=n_eff * a["_a"] / a["_w"] if a["_w"] else 0)
            rest = nps_from_counts(tot["_p"] - a["_p"], (tot["_a"] - a["_a"]) - (tot["_p"] - a["_p"]) - (tot["_d"] - a["_d"]),
                                   tot["_d"] - a["_d"], ci="wald", alpha=alpha)
            wald = nps_from_counts(a["_p"], a["_a"] - a["_p"] - a["_d"], a["_d"], ci="wald", alpha=alpha,
                                   n_eff=n_eff * a["_a"] / a["_w"] if a["_w"] else 0)
            se = np.hypot(wald["se"], rest["se"])
            diff = wald["nps"] - rest["nps"]
            n = int(counts[seg])
            min_size = config.segments["min_size"]
            large = a["_r"] >= min_size
            testable = bool(large and se > 0 and np.isfinite(se))
            p = 2 * ndtr(-abs(diff / se)) if testable else np.nan
            m = means.loc[seg] if len(means.columns) else {}
            churn = m.get("churned", np.nan)
            spend = m.get("spend", np.nan)
            rows.append({
                "dimension": dim.removesuffix("_band"), "segment": str(seg), "n": n,
                "share": a["_a"] / total_w if total_w else np.nan,
                "nps": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "promoters": r["promoters"], "passives": r["passives"], "detractors": r["detractors"],
                "csat": m.get("csat", np.nan), "spend": spend, "churn_rate": churn,
                "returns_rate": (sums.loc[seg, "returns"] / sums.loc[seg, "orders"])
                if sums is not None and "orders" in sums and sums.loc[seg, "orders"] > 0 else np.nan,
                "clv": clv_simple(spend, churn, margin=margin) if churn == churn and spend == spend else np.nan,
                "health": m.get("health_score", np.nan),
                "diff_vs_rest": diff, "p_value": p, "tested": testable,
                "note": "" if testable else (f"too small to test (n < {min_size:g})" if not large
                                             else "not testable (no variation)"),
            })
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = holm(table["p_value"].to_numpy(float))
        differs = pd.array(table["p_holm"] < alpha, dtype="boolean")
        differs[~table["tested"].to_numpy(bool)] = pd.NA
        table["differs"] = differs
        cols = [c for c in table.columns if c not in ("tested", "note")] + ["tested", "note"]
        table = table[cols]
    return table


def score_counts(data: pd.DataFrame, config) -> pd.DataFrame:
    """Respondents per score value with its category: ``score, n, category``."""
    cats = config.categories
    s = data[cats["score"]].dropna()
    counts = s.value_counts().sort_index()
    frame = pd.DataFrame({"score": counts.index.astype(float), "n": counts.to_numpy()})
    frame["category"] = nps_category(frame["score"], promoter_min=cats["promoter_min"],
                                     detractor_max=cats["detractor_max"]).astype(str)
    frame["score"] = [int(v) if float(v).is_integer() else v for v in frame["score"]]
    return frame


def category_shares(table: pd.DataFrame, dimension: str | None = None) -> pd.DataFrame:
    """Share of each NPS category within each segment (rows sum to 1), from a :func:`profile` table.

    With ``dimension`` the rows are that dimension's segments; without, every segment, labelled
    ``"dimension: segment"``.
    """
    t = table if dimension is None else table[table["dimension"] == dimension.removesuffix("_band")]
    labels = t["segment"] if dimension is not None else t["dimension"] + ": " + t["segment"]
    return pd.DataFrame(t[CATEGORY_ORDER_PLURAL].to_numpy(), index=labels.to_numpy(), columns=CATEGORY_ORDER)
