"""The classic CX metrics, each with its uncertainty.

Every function takes a tidy frame and column names and returns a tidy frame (one row per group
when ``by`` is given). Intervals are two-sided at level ``1 - alpha``.

Methods
-------
* NPS: trinomial variance ``(p_P + p_D - (p_P - p_D)^2) / n``; adjusted-Wald (Rocks 2016: add
  3/4 promoter, 3/4 detractor, 3/2 passive, i.e. n + 3) by default, plain Wald on request.
  The adjusted interval is centred on the adjusted estimate, not on the plain NPS reported, and
  in tiny or extreme groups it can exclude it (one detractor: plain NPS -100, centred interval
  [-98.5, 48.5]). Every reported interval therefore contains its estimate: the limits reported
  are ``[min(lo, nps), max(hi, nps)]``, clipped to [-100, 100] (see :func:`contain`).
* Means (CSAT, CES, spend...): t interval. Proportions (churn, FCR...): Wilson score interval.
* Ratios of totals (average transaction size, retention cost): delta method.
* With a ``weight`` column, every share, mean and ratio is weighted (``sum w x / sum w``;
  ratios ``sum w y / sum w x``) and every interval and test uses Kish's effective sample size
  ``n_eff = (sum w)^2 / sum w^2`` in place of ``n`` (Kish 1965: the design effect of unequal
  weights, assuming they are unrelated to the answer): Wilson on ``n_eff``, t on ``n_eff - 1``
  degrees of freedom with the weighted variance ``sum w (x - m)^2 / sum w x n_eff / (n_eff - 1)``,
  the delta method with that variance of the linearised values. Rows with a missing weight are
  left out of weighted figures, as rows with a missing value are. Weights only matter relative to
  each other: a constant weight gives the unweighted results (to rounding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri, stdtrit  # normal and t, without importing scipy.stats

from .fmt import score_name

__all__ = [
    "nps",
    "configured_nps",
    "exact_nps",
    "exact_metrics",
    "add_nonrespondent_totals",
    "with_base",
    "nps_from_counts",
    "nps_difference",
    "mean_score",
    "proportion",
    "ratio_of_totals",
    "clv_simple",
    "clv_discounted",
    "health_score",
    "cx_metrics",
    "wilson_interval",
    "two_proportion_p",
    "contain",
]


def _z(alpha: float) -> float:
    return float(ndtri(1 - alpha / 2))


def _weights(data: pd.DataFrame, weight: str | None) -> np.ndarray:
    if weight is None:
        return np.ones(len(data))
    return data[weight].to_numpy(float)


def _grouped(data: pd.DataFrame, by: str | Sequence[str] | None):
    if by is None:
        yield (), data
        return
    keys = [by] if isinstance(by, str) else list(by)
    for key, part in data.groupby(keys, observed=True, sort=True):
        yield (key if isinstance(key, tuple) else (key,)), part


def contain(estimate, low, high, *, lower: float = -np.inf, upper: float = np.inf):
    """Widen an interval just enough to contain its estimate, then clip it to ``[lower, upper]``.

    Returns ``(min(low, estimate), max(high, estimate))`` clipped to the bounds; NaN limits stay
    NaN (an interval that could not be computed is not invented). Works on scalars and arrays.

    Notes
    -----
    The package reports intervals whose centre may differ from the point estimate (adjusted-Wald
    NPS, bootstrap percentiles). Widening only where the estimate falls outside never narrows an
    interval, so coverage cannot drop; it changes only tiny or degenerate groups, where an
    interval excluding the reported figure would mislead and cannot be drawn as an error bar.
    """
    est = np.asarray(estimate, float)
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    with np.errstate(invalid="ignore"):
        new_lo = np.where(np.isnan(lo) | np.isnan(est), lo, np.minimum(lo, est))
        new_hi = np.where(np.isnan(hi) | np.isnan(est), hi, np.maximum(hi, est))
    new_lo, new_hi = np.clip(new_lo, lower, upper), np.clip(new_hi, lower, upper)
    if np.ndim(new_lo) == 0:
        return float(new_lo), float(new_hi)
    return new_lo, new_hi


def nps_from_counts(
    promoters: float, passives: float, detractors: float, *, ci: str = "adjusted-wald",
    alpha: float = 0.05, n_eff: float | None = None,
) -> dict[str, float]:
    """NPS and its interval from (possibly weighted) category totals.

    Parameters
    ----------
    promoters, passives, detractors : float
        Counts, or sums of weights.
    ci : {"adjusted-wald", "wald"}
        Interval method (see module notes).
    n_eff : float, optional
        Effective sample size; defaults to the total (unweighted data).

    Returns
    -------
    dict
        ``n, n_eff, promoters, passives, detractors`` (shares), ``nps`` (points, -100..100),
        ``se`` (points), ``ci_low, ci_high`` (points).

    Notes
    -----
    Adjusted-Wald: ``p* = (n_eff p + 3/4) / (n_eff + 3)`` for promoters and detractors,
    ``NPS* = p*_P - p*_D``, ``se = sqrt((p*_P + p*_D - NPS*^2) / (n_eff + 3))`` and the
    interval ``NPS* +- z se``; the point estimate reported is the plain ``p_P - p_D``. The
    interval is then widened, where needed, to contain that estimate (:func:`contain`) and
    clipped to [-100, 100], so it always contains the NPS reported.
    """
    total = promoters + passives + detractors
    if total <= 0:
        nan = float("nan")
        return dict(n=0, n_eff=0.0, promoters=nan, passives=nan, detractors=nan, nps=nan,
                    se=nan, ci_low=nan, ci_high=nan)
    n_eff = float(total if n_eff is None else n_eff)
    pp, pd_, pa = promoters / total, detractors / total, passives / total
    if ci == "adjusted-wald":
        m = n_eff + 3
        ap, ad = (n_eff * pp + 0.75) / m, (n_eff * pd_ + 0.75) / m
    elif ci == "wald":
        m, ap, ad = n_eff, pp, pd_
    else:
        raise ValueError(f"ci must be 'adjusted-wald' or 'wald'; got {ci!r}.")
    centre = ap - ad
    se = np.sqrt(max(ap + ad - centre**2, 0.0) / m)
    z = _z(alpha)
    est = 100 * (pp - pd_)
    lo, hi = contain(est, 100 * (centre - z * se), 100 * (centre + z * se), lower=-100.0, upper=100.0)
    return dict(
        n=float(total), n_eff=n_eff, promoters=pp, passives=pa, detractors=pd_,
        nps=est, se=100 * se, ci_low=lo, ci_high=hi,
    )


def nps(
    data: pd.DataFrame,
    *,
    score: str = "nps_score",
    by: str | Sequence[str] | None = None,
    promoter_min: float = 9,
    detractor_max: float = 6,
    weight: str | None = None,
    ci: str = "adjusted-wald",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Net Promoter Score with a confidence interval, optionally by group.

    Parameters
    ----------
    data : DataFrame
    score : str
        Column holding the score (0-10 for NPS; another score with its own thresholds gives the
        same net score on that scale).
    by : str or list of str, optional
        Grouping columns.
    promoter_min, detractor_max : float
        Category thresholds: promoter if score >= promoter_min, detractor if <= detractor_max.
    weight : str, optional
        Survey-weight column; shares are weighted and the interval uses Kish's n_eff.
    ci : {"adjusted-wald", "wald"}
    alpha : float

    Returns
    -------
    DataFrame
        ``[by...], n, n_eff, promoters, passives, detractors, nps, se, ci_low, ci_high, method``.
        Shares are fractions; ``nps``, ``se`` and the limits are in points (-100..100). The
        interval always contains ``nps``: the adjusted-Wald limits are widened where needed to
        ``[min(lo, nps), max(hi, nps)]`` and clipped to [-100, 100] (module notes).

    Examples
    --------
    >>> df = pd.DataFrame({"nps_score": [10, 9, 8, 7, 3, 10]})
    >>> float(round(nps(df)["nps"].iloc[0], 2))
    33.33
    """
    rows = []
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for key, part in _grouped(data, by):
        s, w = part[score].to_numpy(float), _weights(part, weight)
        ok = ~(np.isnan(s) | np.isnan(w))
        s, w = s[ok], w[ok]
        p, d = w[s >= promoter_min].sum(), w[s <= detractor_max].sum()
        res = nps_from_counts(p, w.sum() - p - d, d, ci=ci, alpha=alpha,
                              n_eff=(w.sum() ** 2 / (w**2).sum()) if len(w) else 0)
        res["n"] = int(len(s))
        rows.append({**dict(zip(keys, key, strict=True)), **res, "method": ci})
    return pd.DataFrame(rows)


def configured_nps(data: pd.DataFrame, config, *, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`nps` as the configuration defines it: its score column and thresholds
    (``categories``), a ``weight`` column when present, its interval method and ``alpha``."""
    cats = config.categories
    return nps(data, score=cats["score"], by=by, promoter_min=cats["promoter_min"],
               detractor_max=cats["detractor_max"], weight="weight" if "weight" in data else None,
               ci=config.nps_ci, alpha=config.alpha)


def nps_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    score: str = "nps_score",
    promoter_min: float = 9,
    detractor_max: float = 6,
    weight: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Difference in NPS between two independent samples (``a`` minus ``b``), with a z-test.

    Returns
    -------
    DataFrame
        One row: ``nps_a, nps_b, difference, se, ci_low, ci_high, z, p_value`` (points).

    Notes
    -----
    ``se = sqrt(var_a + var_b)`` with each variance the Wald trinomial variance
    ``(p_P + p_D - NPS^2) / n_eff``; the test statistic ``z = difference / se`` is referred to the
    standard normal. The samples must be independent (two groups, or two quarters' independent
    survey samples); for the same customers measured twice the test is conservative when their
    answers are positively correlated.
    """
    ra = nps(a, score=score, promoter_min=promoter_min, detractor_max=detractor_max,
             weight=weight, ci="wald").iloc[0]
    rb = nps(b, score=score, promoter_min=promoter_min, detractor_max=detractor_max,
             weight=weight, ci="wald").iloc[0]
    diff = ra["nps"] - rb["nps"]
    se = float(np.hypot(ra["se"], rb["se"]))
    z = diff / se if se > 0 else np.nan
    p = 2 * ndtr(-abs(z)) if se > 0 else np.nan
    q = _z(alpha)
    return pd.DataFrame([dict(nps_a=ra["nps"], nps_b=rb["nps"], difference=diff, se=se,
                              ci_low=diff - q * se, ci_high=diff + q * se, z=z, p_value=p)])


def mean_score(
    data: pd.DataFrame,
    *,
    score: str,
    scale: Sequence[float],
    by: str | Sequence[str] | None = None,
    weight: str | None = None,
    box: int = 2,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Mean of a rating (CSAT, CES) with a t interval, and top-/bottom-box shares.

    Parameters
    ----------
    scale : (low, high)
        The rating scale, e.g. (1, 5).
    box : int
        Width of the boxes: with ``box=2`` on 1-5, top box is 4-5 and bottom box 1-2.
    weight : str, optional
        Survey-weight column: weighted mean and box shares, interval on Kish's n_eff.

    Returns
    -------
    DataFrame
        ``[by...], n, n_eff, mean, ci_low, ci_high, top_box, bottom_box``.

    Notes
    -----
    ``mean = sum w s / sum w``; t interval with ``se = sqrt(var / n_eff)``, ``var = sum w (s -
    mean)^2 / sum w x n_eff / (n_eff - 1)`` on ``n_eff - 1`` degrees of freedom (with no weights,
    ``n_eff = n`` and this is the usual t interval).
    """
    lo, hi = scale
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    rows = []
    for key, part in _grouped(data, by):
        s, w = _values(part, score, weight)
        n = len(s)
        if n == 0:
            rows.append({**dict(zip(keys, key, strict=True)), "n": 0})
            continue
        r = _weighted_mean_ci(s, w, alpha)
        sw = w.sum()
        rows.append({
            **dict(zip(keys, key, strict=True)), "n": n, "n_eff": r["n_eff"], "mean": r["value"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "top_box": float(w[s > hi - box].sum() / sw), "bottom_box": float(w[s < lo + box].sum() / sw),
        })
    return pd.DataFrame(rows)


def _values(data: pd.DataFrame, column: str, weight: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A column's values and their weights, rows missing either left out."""
    s, w = data[column].to_numpy(float), _weights(data, weight)
    ok = ~(np.isnan(s) | np.isnan(w))
    return s[ok], w[ok]


def _n_eff(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``: ``n`` for equal weights, 0 for none."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if len(w) and np.sum(w**2) > 0 else 0.0


def _weighted_mean_ci(s: np.ndarray, w: np.ndarray, alpha: float) -> dict[str, float]:
    """Weighted mean with a t interval on Kish's n_eff (module notes); unweighted when ``w`` is 1.

    ``var = sum w (s - m)^2 / sum w x n_eff / (n_eff - 1)`` (the sample variance for equal
    weights), ``se = sqrt(var / n_eff)``, ``t`` on ``n_eff - 1`` degrees of freedom.
    """
    n = len(s)
    if n == 0 or w.sum() <= 0:
        return dict(n=n, n_eff=0.0, value=np.nan, ci_low=np.nan, ci_high=np.nan)
    sw = w.sum()
    mean = float((w * s).sum() / sw)
    n_eff = _n_eff(w)
    if n < 2 or n_eff <= 1:
        return dict(n=n, n_eff=n_eff, value=mean, ci_low=np.nan, ci_high=np.nan)
    var = float((w * (s - mean) ** 2).sum() / sw) * n_eff / (n_eff - 1)
    half = stdtrit(n_eff - 1, 1 - alpha / 2) * np.sqrt(var / n_eff)
    return dict(n=n, n_eff=n_eff, value=mean, ci_low=float(mean - half), ci_high=float(mean + half))


def wilson_interval(successes: float, n: float, alpha: float = 0.05, *, z: float | None = None) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (at the normal quantile ``z`` when given,
    instead of ``alpha``'s).

    The Wilson interval contains the observed share in exact arithmetic; :func:`contain` makes
    that hold in floating point too (shares of exactly 0 or 1), within [0, 1].
    """
    if n <= 0:
        return (np.nan, np.nan)
    z = _z(alpha) if z is None else z
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return contain(p, centre - half, centre + half, lower=0.0, upper=1.0)


def two_proportion_p(rate_a: float, n_a: float, rate_b: float, n_b: float) -> float:
    """Two-sided p-value of the pooled two-proportion z-test that two groups share one rate.

    ``rate_a`` and ``rate_b`` are the groups' (weighted) shares, ``n_a`` and ``n_b`` their numbers
    of customers (Kish's effective numbers when weighted, so the test allows for unequal weights as
    the Wilson interval does). Unweighted, it is ``statsmodels``' ``proportions_ztest`` on the
    counts. NaN when a group is empty or both rates are 0 or both are 1 (nothing varies).
    """
    if not (n_a > 0 and n_b > 0 and np.isfinite(rate_a) and np.isfinite(rate_b)):
        return np.nan
    pooled = (rate_a * n_a + rate_b * n_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if not se > 0:
        return np.nan
    return float(2 * ndtr(-abs(rate_a - rate_b) / se))


def proportion(
    data: pd.DataFrame, *, column: str, by: str | Sequence[str] | None = None, alpha: float = 0.05,
    weight: str | None = None,
) -> pd.DataFrame:
    """Share of 1s in a 0/1 column (missing values left out), with a Wilson interval.

    Parameters
    ----------
    weight : str, optional
        Survey-weight column: the weighted share ``sum w y / sum w``, with the Wilson interval on
        Kish's effective sample size (``n_eff`` trials, ``rate x n_eff`` successes).

    Returns
    -------
    DataFrame
        ``[by...], n, n_eff, rate, ci_low, ci_high`` (``n`` counts the rows used).
    """
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    rows = []
    for key, part in _grouped(data, by):
        s, w = _values(part, column, weight)
        n_eff = _n_eff(w) if weight is not None else float(len(s))
        rate = float((w * s).sum() / w.sum()) if len(s) and w.sum() > 0 else np.nan
        lo, hi = wilson_interval(rate * n_eff if weight is not None else s.sum(), n_eff, alpha)
        rows.append({**dict(zip(keys, key, strict=True)), "n": len(s), "n_eff": n_eff,
                     "rate": rate, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def ratio_of_totals(y: np.ndarray, x: np.ndarray, alpha: float = 0.05,
                    w: np.ndarray | None = None) -> dict[str, float]:
    """``sum(w y) / sum(w x)`` with a delta-method (linearisation) interval.

    Parameters
    ----------
    w : ndarray, optional
        Survey weights (rows with a missing weight are left out); none: every row counts once.

    Returns
    -------
    dict
        ``n, n_eff, value, ci_low, ci_high``.

    Notes
    -----
    ``R = ybar / xbar`` (weighted means), linearised values ``z = y - R x`` (weighted mean 0),
    ``var(R) = var(z) / (n_eff xbar^2)`` with ``var(z) = sum w z^2 / sum w x n_eff / (n_eff - 1)``
    and Kish's ``n_eff`` (``n`` and the sample variance without weights).
    """
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    ok = ~(np.isnan(y) | np.isnan(x) | np.isnan(w))
    y, x, w = y[ok], x[ok], w[ok]
    n = len(y)
    n_eff = _n_eff(w)
    if n < 2 or n_eff <= 1 or (w * x).sum() == 0:
        return dict(n=n, n_eff=n_eff, value=np.nan, ci_low=np.nan, ci_high=np.nan)
    sw = w.sum()
    r = (w * y).sum() / (w * x).sum()
    xbar = (w * x).sum() / sw
    var_z = float((w * (y - r * x) ** 2).sum() / sw) * n_eff / (n_eff - 1)
    se = np.sqrt(var_z / (n_eff * xbar**2))
    z = _z(alpha)
    return dict(n=n, n_eff=n_eff, value=float(r), ci_low=float(r - z * se), ci_high=float(r + z * se))


def _mean_ci(s: np.ndarray, alpha: float, w: np.ndarray | None = None) -> dict[str, float]:
    w = np.ones(len(s)) if w is None else np.asarray(w, float)
    ok = ~(np.isnan(s) | np.isnan(w))
    return _weighted_mean_ci(s[ok], w[ok], alpha)


def clv_simple(spend: float, churn: float, *, margin: float) -> float:
    """Simple CLV: margin x quarterly spend x expected lifetime in quarters (1 / churn).

    The expected lifetime of a customer who leaves each quarter with probability ``churn``
    (geometric) is ``1 / churn`` quarters; no discounting and no horizon.
    """
    return float(margin * spend / churn) if churn > 0 else float("inf")


def clv_discounted(
    spend: float | np.ndarray,
    churn: float | np.ndarray,
    returns: float | np.ndarray = 0.0,
    *,
    margin: float,
    cost_per_return: float,
    discount_rate: float,
    horizon_years: float,
) -> np.ndarray | float:
    """Discounted survival CLV over ``horizon_years`` (DESIGN.md).

    ``CLV = sum_{q=1..4H} (m s - k r) (1 - c)^(q-1) / (1 + d)^(q/4)``: quarter ``q``'s margin is
    earned if the customer survived the ``q - 1`` earlier quarters, discounted at the annual rate
    ``d`` to the end of that quarter. Vectorised over ``spend``, ``churn``, ``returns``.
    """
    q = np.arange(1, int(round(4 * horizon_years)) + 1)
    s, c, r = (np.asarray(v, float)[..., None] for v in (spend, churn, returns))
    flows = (margin * s - cost_per_return * r) * (1 - c) ** (q - 1) / (1 + discount_rate) ** (q / 4)
    out = flows.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def health_score(
    data: pd.DataFrame, *, weights: dict[str, float], score: str, scale: Sequence[float]
) -> pd.Series:
    """Customer health score, 0-100: a weighted composite of CX, usage, support and tenure.

    Parameters
    ----------
    weights : dict
        Component -> weight. ``"cx"`` is the CX score rescaled to 0-1 on ``scale``; any other key
        is a column, turned into its percentile rank (0-1). ``support_tickets`` counts against
        health (1 - rank). Components absent from ``data`` are left out and the remaining weights
        renormalised; a customer missing a component gets the renormalised score of the others.

    Returns
    -------
    Series
        Health, 0 (worst) to 100 (best), aligned with ``data``.
    """
    parts, ws = [], []
    lo, hi = scale
    for name, w in weights.items():
        if name == "cx":
            if score not in data:
                continue
            comp = (data[score].astype(float) - lo) / (hi - lo)
        elif name in data:
            comp = data[name].astype(float).rank(pct=True)
            if name == "support_tickets":
                comp = 1 - comp
        else:
            continue
        parts.append(comp.to_numpy())
        ws.append(float(w))
    if not parts:
        return pd.Series(np.nan, index=data.index, name="health_score")
    m = np.column_stack(parts)
    w = np.broadcast_to(np.asarray(ws), m.shape) * ~np.isnan(m)
    num = np.nansum(m * w, axis=1)
    den = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(100 * num / den, index=data.index, name="health_score")


#: The plain averages of the dashboard: column, label, unit (what the amount is per). One list for
#: the in-memory metrics and the engines' exact tables.
AVERAGES = (("spend", "Average spend per customer", "money per quarter"),
            ("contract_value", "Average contract value", "money per contract, over its term"),
            ("support_cost", "Support cost per customer", "money per quarter"))


def cx_metrics(data: pd.DataFrame, config, *, part: str = "all") -> tuple[pd.DataFrame, dict[str, str]]:
    """The metrics dashboard: every classic CX metric the data allows, with its interval.

    Parameters
    ----------
    data : DataFrame
        One quarter of the canonical table. With a ``weight`` column every share, mean and ratio
        is weighted and every interval uses Kish's effective sample size (module notes).
    config : Config
    part : {"all", "exact", "in memory"}
        ``"exact"``: only the metrics built from sums (what the engines' exact tables hold);
        ``"in memory"``: only those that need every row at once
        (:data:`cxanalysis.engine.exact.IN_MEMORY_ONLY`, the health score).

    Returns
    -------
    table : DataFrame
        ``metric, value, ci_low, ci_high, n, n_eff, unit, method``: ``n`` counts the rows used,
        ``n_eff`` is Kish's effective sample size behind the interval (``n`` without weights;
        missing for figures without sampling error).
    skipped : dict
        Metric -> why it was skipped (a missing or empty column, a zero denominator, no churner for CLV).

    Notes
    -----
    Weighted figures: rates ``sum w y / sum w`` (Wilson on ``n_eff``); means ``sum w x / sum w``
    (t on ``n_eff - 1``); ratios of totals ``sum w y / sum w x`` (delta method); the simple CLV
    ``m x spend / churn`` at the weighted means, its log-scale delta-method variance from their
    weighted covariance over ``n_eff``. The MRR total is the sum over the rows of the file (a
    census of those customers, unweighted). A constant weight gives the unweighted table.
    """
    if part not in ("all", "exact", "in memory"):
        raise ValueError(f"part must be 'all', 'exact' or 'in memory', not {part!r}")
    alpha = config.alpha
    weight = "weight" if "weight" in data else None
    w_all = _weights(data, weight)
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    wtag = "; weighted" if weight else ""  # the table's effective-sample-size column gives the n behind it

    def add(metric, res, unit, method):
        if not np.isfinite(res["value"]):  # a zero denominator or no values: a named skip, never NaN
            skipped[metric] = (f"cannot be computed from these rows (n = {int(res['n'] or 0):,}: no values, or a "
                               "zero total to divide by)")
            return
        rows.append({"metric": metric, "value": res["value"], "ci_low": res["ci_low"],
                     "ci_high": res["ci_high"], "n": res["n"], "n_eff": res.get("n_eff", np.nan), "unit": unit,
                     "method": method})

    def need(metric, *cols):
        missing = [c for c in cols if c not in data or data[c].notna().sum() == 0]
        if missing:
            skipped[metric] = f"no {', '.join(missing)} column"
        return not missing

    def col(name):
        return data[name].to_numpy(float)

    def exact_part():
        """Every metric built from sums (what the exact tables hold)."""
        cats = config.categories
        if need("NPS", "nps_score"):
            r = nps(data, score="nps_score", weight=weight, ci=config.nps_ci, alpha=alpha,
                    promoter_min=cats["promoter_min"] if cats["score"] == "nps_score" else 9,
                    detractor_max=cats["detractor_max"] if cats["score"] == "nps_score" else 6).iloc[0]
            add("NPS", {"value": r["nps"], **r}, "points", f"{config.nps_ci} (trinomial){wtag}")
        if cats["score"] != "nps_score" and cats["score"] in data:
            r = configured_nps(data, config).iloc[0]
            add(score_name(cats['score']), {"value": r["nps"], **r}, "points",
                f"{config.nps_ci}; promoter >= {cats['promoter_min']}, detractor <= {cats['detractor_max']}{wtag}")
        for c, label in (("csat", "CSAT"), ("ces", "CES")):
            if need(label, c):
                r = mean_score(data, score=c, scale=config.scales[c], weight=weight, alpha=alpha).iloc[0]
                add(f"{label} (mean)", {"value": r["mean"], **r}, f"{config.scales[c][0]}-{config.scales[c][1]}",
                    f"t interval{wtag}")
                lo, hi = wilson_interval(r["top_box"] * r["n_eff"], r["n_eff"], alpha)
                add(f"{label} top-2-box", {"value": r["top_box"], "ci_low": lo, "ci_high": hi, "n": r["n"],
                                           "n_eff": r["n_eff"]}, "share", f"Wilson{wtag}")
        for c, label in (("churned", "Churn rate"), ("first_contact_resolved", "First-contact resolution"),
                         ("renewed", "Renewal rate"), ("trial_converted", "Trial conversion")):
            if need(label, c):
                r = proportion(data, column=c, alpha=alpha, weight=weight).iloc[0]
                add(label, {"value": r["rate"], **r}, "share", f"Wilson{wtag}")
        if need("Average transaction size", "spend", "orders"):
            add("Average transaction size", ratio_of_totals(col("spend"), col("orders"), alpha, w_all),
                "money per order", f"ratio of totals, delta method{wtag}")
        for c, label, unit in AVERAGES:
            if need(label, c):
                add(label, _mean_ci(col(c), alpha, w_all), unit, f"t interval{wtag}")
        if need("Retention cost per retained customer", "support_cost", "churned"):
            fixed = (config.roi["program_cost_per_year"] + config.roi["team_cost_per_year"]) / 4
            # each customer's share of the fixed cost: the customers are those the rows stand for
            # (the sum of the weights: the whole base when respondents are weighted to it)
            base = float(np.nansum(w_all))
            y = col("support_cost") + (fixed / base if base > 0 else np.nan)
            add("Retention cost per retained customer", ratio_of_totals(y, 1 - col("churned"), alpha, w_all),
                "money per quarter",
                f"(support cost + quarter of program and team cost) / retained; delta method{wtag}")
        if need("MRR", "mrr"):
            total = float(np.nansum(col("mrr")))
            add("MRR (total)", {"value": total, "ci_low": np.nan, "ci_high": np.nan, "n": int(data["mrr"].notna().sum())},
                "money per month", "census total of these rows (no sampling error, unweighted)")
            add("MRR per customer", _mean_ci(col("mrr"), alpha, w_all), "money per month", f"t interval{wtag}")
        if need("CLV", "spend", "churned"):
            s, c, w = col("spend"), col("churned"), w_all
            ok = ~(np.isnan(s) | np.isnan(c) | np.isnan(w))
            s, c, w = s[ok], c[ok], w[ok]
            sbar = float((w * s).sum() / w.sum()) if len(s) else np.nan
            cbar = float((w * c).sum() / w.sum()) if len(s) else np.nan
            if len(s) < 2 or cbar == 0:
                skipped["CLV"] = ("fewer than 2 customers with both spend and churned" if len(s) < 2 else
                                  "no customer churned this quarter: lifetime value (spend / churn) is unbounded")
            else:
                # delta method on log CLV = log m + log sbar - log cbar, with the covariance of the two
                # (weighted) means: weighted covariance x n_eff / (n_eff - 1), over n_eff
                n_eff = _n_eff(w)
                dev = np.column_stack([s - sbar, c - cbar])
                cov = (dev * w[:, None]).T @ dev / w.sum() / (n_eff - 1) if n_eff > 1 else np.full((2, 2), np.nan)
                add_clv(add, sbar, cbar, cov, len(s), n_eff, config, alpha, wtag, bool(weight))
    if part in ("all", "exact"):
        exact_part()
    if part == "exact":
        return pd.DataFrame(rows), skipped
    health = health_score(data, weights=config.health_score["weights"], score=config.score,
                          scale=config.scales.get(config.score, [0, 10]))
    if health.notna().any():
        add("Health score (mean)", _mean_ci(health.to_numpy(float), alpha, w_all), "0-100",
            f"t interval; weights in config{wtag}")
    return pd.DataFrame(rows), skipped


def _of_quarter(table: pd.DataFrame, quarter: str) -> pd.DataFrame:
    if "quarter" not in table:
        return table
    return table[table["quarter"].astype(str) == str(quarter)].drop(columns="quarter").reset_index(drop=True)


def exact_nps(nps_quarter: pd.DataFrame, quarter: str) -> pd.Series:
    """The quarter's row of the run's exact NPS table (``RunContext.exact("nps_quarter")``)."""
    return _of_quarter(nps_quarter, quarter).iloc[0]


def exact_metrics(metrics: pd.DataFrame, skipped: pd.DataFrame, data: pd.DataFrame, config,
                  quarter: str, response: Mapping | None = None,
                  base: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The quarter's metrics dashboard from the run's exact tables (over every row), plus the
    figures that need every row at once (the health score), computed from ``data``.

    The exact tables describe the respondents (weighted to the base when they are weighted). MRR
    is the one figure that is a size of the business rather than a rate among customers: when
    the export holds the quarter's non-respondents too (``response``), the two MRR rows are the
    census over every customer of the quarter, respondents or not (no sampling error), not the
    respondents' sum, which would leave out the revenue of everyone who did not answer; when
    every customer answered, the rows are the base and both rows are its census. With ``base``
    (the run's ``metrics_base``), every figure of the CRM's facts is over every customer of the
    quarter (:func:`with_base`), MRR included.

    Parameters
    ----------
    metrics, skipped : DataFrame
        ``RunContext.exact("metrics")`` and ``RunContext.exact("metrics_skipped")``.
    data : DataFrame
        The quarter's respondents in memory (every row, or the run's weighted sample).
    config : Config
    quarter : str
    response : mapping, optional
        The quarter's entry of ``CleaningReport.response`` (``RunContext.response_entry``): its
        ``base``, ``respondents`` and ``nonrespondents_mrr`` (see :func:`add_nonrespondent_totals`).
    base : DataFrame, optional
        ``RunContext.base_metrics()``: the CRM's metrics over every customer, every quarter.

    Returns
    -------
    The columns and skips of :func:`cx_metrics`.
    """
    table = _of_quarter(metrics, quarter)
    if base is not None and len(base):
        table = with_base(table, _of_quarter(base, quarter), response)
    elif response is not None:
        table = _mrr_census(table, response)
    skips = {r["metric"]: r["reason"] for r in _of_quarter(skipped, quarter).to_dict("records")}
    extra, mskips = cx_metrics(data, config, part="in memory")
    skips.update(mskips)
    out = pd.concat([table, extra], ignore_index=True) if len(extra) else table
    return out.reset_index(drop=True), skips


def add_nonrespondent_totals(response: Sequence[dict], nonrespondents: pd.DataFrame) -> None:
    """Add each quarter's MRR over its non-respondents to its ``response`` entry, in place:
    ``nonrespondents_mrr = {"n": customers with an MRR, "total": their sum}`` (nothing when the
    export has no ``mrr`` column). The large route counts the same in its engine
    (:func:`cxanalysis.engine.large.prepare_large`)."""
    if "mrr" not in nonrespondents:
        return
    by = nonrespondents["mrr"].astype(float).groupby(nonrespondents["quarter"].astype(str).to_numpy())
    n, total = by.count(), by.sum()
    for r in response:
        q = str(r["quarter"])
        r["nonrespondents_mrr"] = {"n": int(n.get(q, 0)), "total": float(total.get(q, 0.0))}


#: How :func:`with_base` opens the method of a figure over every customer (the summary reads it).
EVERY_CUSTOMER = "every customer of the quarter"


def with_base(table: pd.DataFrame, base: pd.DataFrame | None,
              response: Mapping | Sequence[Mapping] | None = None) -> pd.DataFrame:
    """A metrics table whose figures of the CRM's facts are over every customer of their quarter.

    Churn and the other rates, spend and the other averages, retention cost, MRR and CLV are facts
    of the CRM, known for the customers who did not answer the survey as for those who did. When
    the export holds the non-respondents, ``base`` (the run's ``metrics_base``:
    :func:`cxanalysis.engine.base.base_metrics`, or the large route's engine) has those metrics
    over all of them, unweighted; each row of ``table`` it has is replaced by its own: the
    quarter's figure, not the respondents' weighted estimate of it. The intervals stay (Wilson,
    t, delta method on the base's customers): they are for what customers like these do, which
    one quarter only estimates. MRR is a size of the business: a census, no interval, as
    :func:`exact_metrics` says. The CX scores' rows are left as they are (only respondents have
    a score).

    Parameters
    ----------
    table, base : DataFrame
        Metrics rows (:func:`cx_metrics` columns), of one quarter, or both with a ``quarter``
        column. ``base`` None or empty: ``table`` unchanged.
    response : mapping or sequence of mappings, optional
        The quarter's ``response`` entry, or every quarter's: the number who did not answer, for
        the method column.

    Examples
    --------
    >>> t = pd.DataFrame({"metric": ["NPS", "Churn rate"], "value": [20.0, 0.2], "ci_low": [15.0, 0.1],
    ...                   "ci_high": [25.0, 0.3], "n": [50, 50], "n_eff": [40.0, 40.0], "unit": ["points", "share"],
    ...                   "method": ["adjusted-wald; weighted", "Wilson; weighted"]})
    >>> b = pd.DataFrame({"metric": ["Churn rate"], "value": [0.15], "ci_low": [0.11], "ci_high": [0.2],
    ...                   "n": [200], "n_eff": [200.0], "unit": ["share"], "method": ["Wilson"]})
    >>> out = with_base(t, b, {"base": 200, "respondents": 50})
    >>> out["value"].tolist(), out["method"].iloc[1]
    ([20.0, 0.15], 'every customer of the quarter (200, the 150 who did not answer included); Wilson')
    """
    if base is None or not len(base) or not len(table):
        return table
    entries = [response] if isinstance(response, Mapping) else list(response or [])
    by_q = "quarter" in table and "quarter" in base
    non = {str(e.get("quarter")): int(e.get("base") or 0) - int(e.get("respondents") or 0) for e in entries
           if e.get("base") is not None}
    size = {str(e.get("quarter")): int(e.get("base") or 0) for e in entries if e.get("base") is not None}
    key = (lambda f: f["quarter"].astype(str)) if by_q else (lambda f: pd.Series("", index=f.index))
    rows = {(q, m): r for q, m, r in zip(key(base), base["metric"], base.to_dict("records"), strict=True)}
    out = table.copy()
    for i, q, m in zip(out.index, key(out), out["metric"], strict=True):
        r = rows.get((q, m))
        if r is None:
            continue
        k = non.get(q) if by_q else (next(iter(non.values())) if len(non) == 1 else None)
        whole = size.get(q) if by_q else (next(iter(size.values())) if len(size) == 1 else None)
        who = f", the {k:,} who did not answer included" if k else ""
        if m in ("MRR (total)", "MRR per customer"):
            method = _census_method(whole, k)
            out.loc[i, ["value", "ci_low", "ci_high", "n", "n_eff", "method"]] = [r["value"], np.nan, np.nan, r["n"],
                                                                                  np.nan, method]
            continue
        n = int(r["n"])
        method = (f"{EVERY_CUSTOMER} ({n:,}{who}); {r['method']}" if whole is None or n == whole else
                  f"{EVERY_CUSTOMER} with a value ({n:,} of {whole:,}, respondents or not); {r['method']}")
        out.loc[i, ["value", "ci_low", "ci_high", "n", "n_eff", "method"]] = [r["value"], r["ci_low"], r["ci_high"],
                                                                              r["n"], r["n_eff"], method]
    return out


def _census_method(base: int | None, n_non: int | None) -> str:
    """The method of an MRR row over a quarter's whole base (:func:`_mrr_census`, :func:`with_base`).

    >>> _census_method(8000, 5460)
    "census of the quarter's 8,000 customers, the 5,460 who did not answer included (no sampling error)"
    """
    size = f"{base:,} " if base else ""
    who = f"the {n_non:,} who did not answer included" if n_non else "every one of whom answered"
    return f"census of the quarter's {size}customers, {who} (no sampling error)"


def _mrr_census(table: pd.DataFrame, response: Mapping) -> pd.DataFrame:
    """The MRR rows of one quarter's metrics over its whole base (see :func:`exact_metrics`)."""
    non = response.get("nonrespondents_mrr")
    n_non = int(response.get("base") or 0) - int(response.get("respondents") or 0)
    rows = table["metric"] == "MRR (total)"
    if not rows.any() or (n_non and not non):
        return table
    out = table.copy()
    both = out["metric"].isin(["MRR (total)", "MRR per customer"])
    if not n_non:  # every customer of the quarter answered: the rows are the base, its mean a census like its sum
        method = _census_method(int(response["base"]), 0)
        out.loc[both, ["ci_low", "ci_high", "n_eff", "method"]] = [np.nan, np.nan, np.nan, method]
        return out
    n = int(table.loc[rows, "n"].iloc[0]) + non["n"]
    total = float(table.loc[rows, "value"].iloc[0]) + non["total"]
    method = _census_method(int(response["base"]), n_non)
    out.loc[both, ["ci_low", "ci_high", "n", "n_eff", "method"]] = [np.nan, np.nan, n, np.nan, method]
    out.loc[both, "value"] = np.where(rows[both], total, total / n)
    return out


def _quadratic_form(g: np.ndarray, cov: np.ndarray) -> float:
    """``g' cov g``, a variance: 0 where its terms cancel to rounding error (e.g. spend and churn
    perfectly correlated, as when every customer who spent churned), so that every engine's
    rounding of the same sums gives the same 0 instead of a tiny positive or negative number."""
    var = float(g @ cov @ g)
    scale = float(np.abs(g) @ np.abs(cov) @ np.abs(g))
    if np.isnan(var):  # no variance to estimate (one customer): no interval
        return var
    return var if var > 1e-12 * scale else 0.0


def clv_simple_interval(sbar: float, cbar: float, cov: np.ndarray, *, margin: float,
                        alpha: float = 0.05) -> tuple[float, float, float]:
    """The simple CLV (:func:`clv_simple`) at the mean spend ``sbar`` and churn ``cbar``, with its
    interval: ``(value, low, high)``. ``cov`` is the 2 x 2 covariance of the two means. The
    interval is the delta method on ``log CLV = log m + log sbar - log cbar`` (gradient
    ``(1/sbar, -1/cbar)``); when nobody spent anything (``sbar`` 0) there is no log scale, so it is
    the delta method on the CLV itself, kept at 0 or more. NaN limits when ``cbar`` is 0 (the CLV
    is unbounded) or the covariance is unknown."""
    value = clv_simple(sbar, cbar, margin=margin)
    if not cbar > 0:
        return value, np.nan, np.nan
    z = _z(alpha)
    if sbar > 0:
        se_log = float(np.sqrt(_quadratic_form(np.array([1 / sbar, -1 / cbar]), cov)))
        return value, value * np.exp(-z * se_log), value * np.exp(z * se_log)
    se = float(np.sqrt(_quadratic_form(margin * np.array([1 / cbar, -sbar / cbar**2]), cov)))
    return value, max(0.0, value - z * se), value + z * se


def add_clv(add, sbar: float, cbar: float, cov: np.ndarray, n: int, n_eff: float, config,
            alpha: float, wtag: str, weighted: bool) -> None:
    """The two CLV rows of the dashboard from the (weighted) mean spend ``sbar`` and churn ``cbar``
    and the covariance ``cov`` of those two means (shared by every engine, so one formula): the
    simple CLV with a delta-method interval on its log, and the discounted CLV with one on its log (its gradient in closed form)."""
    value, lo, hi = clv_simple_interval(sbar, cbar, cov, margin=config.roi["gross_margin"], alpha=alpha)
    z = _z(alpha)
    add("CLV (simple)", {"value": value, "ci_low": lo, "ci_high": hi, "n": n, "n_eff": n_eff},
        "money per customer, over a lifetime",
        f"margin x spend / churn; delta method {'on the log' if sbar > 0 else '(no one spent anything)'}{wtag}")
    disc = clv_discounted(sbar, cbar, margin=config.roi["gross_margin"], cost_per_return=0.0,
                          discount_rate=config.roi["discount_rate"], horizon_years=config.roi["horizon_years"])
    # delta method on its log: CLV = m s A(c), A(c) = sum_q (1 - c)^(q-1) / (1 + d)^(q/4), so
    # d log CLV = ds / s + A'(c) / A(c) dc
    q = np.arange(1, int(round(4 * config.roi["horizon_years"])) + 1)
    disc_q = (1 + config.roi["discount_rate"]) ** (-q / 4)
    a = float(np.sum((1 - cbar) ** (q - 1) * disc_q))
    da = float(np.sum(-(q - 1) * (1 - cbar) ** np.maximum(q - 2, 0) * disc_q))
    lo = hi = np.nan
    if sbar > 0 and a > 0:
        se_log = float(np.sqrt(_quadratic_form(np.array([1 / sbar, da / a]), cov)))
        lo, hi = disc * np.exp(-z * se_log), disc * np.exp(z * se_log)
    add(f"CLV (discounted, {config.roi['horizon_years']} years)",
        {"value": disc, "ci_low": lo, "ci_high": hi, "n": n, "n_eff": n_eff},
        f"money per customer, over {config.roi['horizon_years']} years",
        f"sum over the horizon's quarters q of margin x spend x (1 - churn)^(q-1) / (1 + discount rate)^(q/4), "
        f"at average spend and churn, before the cost of returns; delta method on "
        f"the log{' (weighted)' if weighted else ''}")
