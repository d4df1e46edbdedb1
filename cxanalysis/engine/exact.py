"""Estimates and intervals from the sufficient statistics of :mod:`cxanalysis.engine.sql`.

One formula per figure, shared by every SQL engine (DuckDB, Spark, sqlite): the SQL returns
sums, this module does the arithmetic. The formulas are those of :mod:`cxanalysis.metrics` (the
in-memory reference, which the pandas engine calls directly): NPS from weighted category totals
and Kish's ``n_eff = (sum w)^2 / sum w^2`` (:func:`cxanalysis.metrics.nps_from_counts`), Wilson
intervals for shares on ``n_eff``, t intervals for means on ``n_eff - 1`` degrees of freedom with
the variance ``sum w (x - m)^2 / sum w x n_eff / (n_eff - 1)``, the delta method for ratios of
totals and for the simple CLV. The parity tests (``tests/test_engines.py``) hold every engine to
the in-memory functions within 1e-9.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtrit

from ..config import Config
from ..fmt import score_name
from ..metrics import AVERAGES, add_clv, nps_from_counts, wilson_interval

__all__ = ["nps_table", "metrics_table", "mean_interval", "ratio_interval", "EXACT_METRICS", "IN_MEMORY_ONLY"]

#: Metrics of :func:`cxanalysis.metrics.cx_metrics` that need every row at once (percentile
#: ranks), not sums: computed in memory only, never by the exact tables.
IN_MEMORY_ONLY = ("Health score (mean)",)


def _z(alpha: float) -> float:
    return float(ndtri(1 - alpha / 2))


def _n_eff(sw: float, sw2: float) -> float:
    return float(sw * sw / sw2) if sw2 > 0 else 0.0


def mean_interval(n: int, sw: float, sw2: float, swy: float, ss: float, alpha: float) -> dict[str, float]:
    """Weighted mean ``sum w y / sum w`` with its t interval on Kish's n_eff (module notes)."""
    nan = float("nan")
    if n == 0 or sw <= 0:
        return dict(n=n, n_eff=0.0, value=nan, ci_low=nan, ci_high=nan)
    mean = swy / sw
    n_eff = _n_eff(sw, sw2)
    if n < 2 or n_eff <= 1:
        return dict(n=n, n_eff=n_eff, value=mean, ci_low=nan, ci_high=nan)
    var = ss / sw * n_eff / (n_eff - 1)
    half = float(stdtrit(n_eff - 1, 1 - alpha / 2) * np.sqrt(var / n_eff))
    return dict(n=n, n_eff=n_eff, value=mean, ci_low=mean - half, ci_high=mean + half)


def ratio_interval(n: int, sw: float, sw2: float, swy: float, swx: float, ss: float,
                   alpha: float) -> dict[str, float]:
    """Ratio of weighted totals ``sum w y / sum w x`` with its delta-method interval.

    ``ss`` is ``sum w (y - R x)^2``; ``var(R) = ss / sum w x n_eff / (n_eff - 1) / (n_eff xbar^2)``.
    """
    nan = float("nan")
    n_eff = _n_eff(sw, sw2)
    if n < 2 or n_eff <= 1 or swx == 0:
        return dict(n=n, n_eff=n_eff, value=nan, ci_low=nan, ci_high=nan)
    r = swy / swx
    xbar = swx / sw
    var_z = ss / sw * n_eff / (n_eff - 1)
    se = float(np.sqrt(var_z / (n_eff * xbar**2)))
    z = _z(alpha)
    return dict(n=n, n_eff=n_eff, value=r, ci_low=r - z * se, ci_high=r + z * se)


def nps_table(stats: pd.DataFrame, config: Config, by: Sequence[str] = ()) -> pd.DataFrame:
    """NPS per group from :func:`cxanalysis.engine.sql.nps_sql` statistics.

    Returns the columns of :func:`cxanalysis.metrics.nps`: ``[by...], n, n_eff, promoters,
    passives, detractors, nps, se, ci_low, ci_high, method``.
    """
    rows = []
    for r in stats.to_dict("records"):
        sw, p, d = float(r["sw"]), float(r["sw_promoters"]), float(r["sw_detractors"])
        res = nps_from_counts(p, sw - p - d, d, ci=config.nps_ci, alpha=config.alpha,
                              n_eff=_n_eff(sw, float(r["sw2"])))
        res["n"] = int(r["n"])
        rows.append({**{b: r[b] for b in by}, **res, "method": config.nps_ci})
    cols = [*by, "n", "n_eff", "promoters", "passives", "detractors", "nps", "se", "ci_low", "ci_high", "method"]
    return pd.DataFrame(rows, columns=cols)


_MEANS = (("csat", "CSAT"), ("ces", "CES"))
_RATES = (("churned", "Churn rate"), ("first_contact_resolved", "First-contact resolution"),
          ("renewed", "Renewal rate"), ("trial_converted", "Trial conversion"))
_AVERAGES = AVERAGES

#: The metrics the exact tables hold (as named by :func:`cxanalysis.metrics.cx_metrics`; the
#: net score of a non-NPS category score and the discounted CLV are named after the config).
EXACT_METRICS = ("NPS", "CSAT (mean)", "CSAT top-2-box", "CES (mean)", "CES top-2-box",
                 *(label for _, label in _RATES), "Average transaction size",
                 *(label for _, label, _ in _AVERAGES), "Retention cost per retained customer",
                 "MRR (total)", "MRR per customer", "CLV (simple)")


def _metric_rows(r: Mapping[str, Any], nps_stats: Mapping[str, Any] | None, net_stats: Mapping[str, Any] | None,
                 config: Config, weighted: bool) -> tuple[list[dict], dict[str, str]]:
    """One group's metric rows and skips, in the order and wording of ``cx_metrics``."""
    alpha = config.alpha
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    wtag = "; weighted" if weighted else ""

    def add(metric, res, unit, method):
        if not np.isfinite(res["value"]):
            skipped[metric] = (f"cannot be computed from these rows (n = {int(res['n'] or 0):,}: no values, or a "
                               "zero total to divide by)")
            return
        rows.append({"metric": metric, "value": float(res["value"]), "ci_low": res["ci_low"],
                     "ci_high": res["ci_high"], "n": res["n"], "n_eff": res.get("n_eff", np.nan), "unit": unit,
                     "method": method})

    def need(metric, *cols):
        missing = [c for c in cols if int(r.get(f"present__{c}", 0) or 0) == 0]
        if missing:
            skipped[metric] = f"no {', '.join(missing)} column"
        return not missing

    def stats(k):
        return (int(r[f"{k}__n"]), float(r[f"{k}__sw"]), float(r[f"{k}__sw2"]), float(r[f"{k}__swy"]),
                float(r[f"{k}__swx"]), float(r[f"{k}__ss"]))

    def mean(k):
        n, sw, sw2, swy, _, ss = stats(k)
        return mean_interval(n, sw, sw2, swy, ss, alpha)

    cats = config.categories
    if need("NPS", "nps_score") and nps_stats is not None:
        sw, p, d = float(nps_stats["sw"]), float(nps_stats["sw_promoters"]), float(nps_stats["sw_detractors"])
        res = nps_from_counts(p, sw - p - d, d, ci=config.nps_ci, alpha=alpha,
                              n_eff=_n_eff(sw, float(nps_stats["sw2"])))
        res["n"] = int(nps_stats["n"])
        add("NPS", {**res, "value": res["nps"]}, "points", f"{config.nps_ci} (trinomial){wtag}")
    if cats["score"] != "nps_score" and net_stats is not None:
        sw, p, d = float(net_stats["sw"]), float(net_stats["sw_promoters"]), float(net_stats["sw_detractors"])
        res = nps_from_counts(p, sw - p - d, d, ci=config.nps_ci, alpha=alpha,
                              n_eff=_n_eff(sw, float(net_stats["sw2"])))
        res["n"] = int(net_stats["n"])
        add(score_name(cats['score']), {**res, "value": res["nps"]}, "points",
            f"{config.nps_ci}; promoter >= {cats['promoter_min']}, detractor <= {cats['detractor_max']}{wtag}")
    for c, label in _MEANS:
        if need(label, c):
            m = mean(c)
            add(f"{label} (mean)", m, f"{config.scales[c][0]}-{config.scales[c][1]}", f"t interval{wtag}")
            n, sw = int(r[f"{c}__n"]), float(r[f"{c}__sw"])
            top = float(r[f"{c}__top"]) / sw if sw > 0 else np.nan
            lo, hi = wilson_interval(top * m["n_eff"], m["n_eff"], alpha) if sw > 0 else (np.nan, np.nan)
            add(f"{label} top-2-box", {"value": top, "ci_low": lo, "ci_high": hi, "n": n,
                                       "n_eff": m["n_eff"]}, "share", f"Wilson{wtag}")
    for c, label in _RATES:
        if need(label, c):
            n, sw, sw2, swy, _, _ = stats(c)
            n_eff = _n_eff(sw, sw2) if weighted else float(n)
            rate = swy / sw if n and sw > 0 else np.nan
            lo, hi = wilson_interval(rate * n_eff, n_eff, alpha)
            add(label, {"value": rate, "ci_low": lo, "ci_high": hi, "n": n, "n_eff": n_eff}, "share", f"Wilson{wtag}")
    if need("Average transaction size", "spend", "orders"):
        add("Average transaction size", ratio_interval(*stats("ats"), alpha), "money per order",
            f"ratio of totals, delta method{wtag}")
    for c, label, unit in _AVERAGES:
        if need(label, c):
            add(label, mean(c), unit, f"t interval{wtag}")
    if need("Retention cost per retained customer", "support_cost", "churned"):
        add("Retention cost per retained customer", ratio_interval(*stats("retention"), alpha),
            "money per quarter", f"(support cost + quarter of program and team cost) / retained; delta method{wtag}")
    if need("MRR", "mrr"):
        add("MRR (total)", {"value": float(r["mrr__total"]), "ci_low": np.nan, "ci_high": np.nan,
                            "n": int(r["present__mrr"])},
            "money per month", "census total of these rows (no sampling error, unweighted)")
        add("MRR per customer", mean("mrr"), "money per month", f"t interval{wtag}")
    if need("CLV", "spend", "churned"):
        n, sw, sw2 = int(r["clv__n"]), float(r["clv__sw"]), float(r["clv__sw2"])
        sbar = float(r["clv__sws"]) / sw if n else np.nan
        cbar = float(r["clv__swc"]) / sw if n else np.nan
        if n < 2 or cbar == 0:
            skipped["CLV"] = ("fewer than 2 customers with both spend and churned" if n < 2 else
                              "no customer churned this quarter: lifetime value (spend / churn) is unbounded")
        else:
            n_eff = _n_eff(sw, sw2)
            if n_eff > 1:
                k = sw * (n_eff - 1)
                cov = np.array([[r["clv__ss_s"], r["clv__sc"]], [r["clv__sc"], r["clv__ss_c"]]], float) / k
            else:
                cov = np.full((2, 2), np.nan)
            add_clv(add, sbar, cbar, cov, n, n_eff, config, alpha, wtag, weighted)
    return rows, skipped


def metrics_table(stats: pd.DataFrame, counts: pd.DataFrame, nps_stats: pd.DataFrame,
                  net_stats: pd.DataFrame | None, config: Config, by: Sequence[str],
                  weighted: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The metrics table per group from the statistics of :func:`~cxanalysis.engine.sql.metrics_sql`,
    :func:`~cxanalysis.engine.sql.counts_sql` and :func:`~cxanalysis.engine.sql.nps_sql` (the NPS
    on ``nps_score`` with its own thresholds; ``net_stats`` on the configured score when it is
    another one).

    Returns
    -------
    metrics : DataFrame
        ``[by...], metric, value, ci_low, ci_high, n, n_eff, unit, method`` (as ``cx_metrics``).
    skipped : DataFrame
        ``[by...], metric, reason``.
    """
    by = list(by)

    def index(frame):
        if frame is None:
            return {}
        return {tuple(r[b] for b in by): r for r in frame.to_dict("records")}

    s_idx, n_idx, net_idx = index(stats), index(nps_stats), index(net_stats)
    out, skips = [], []
    for c in counts.to_dict("records"):
        key = tuple(c[b] for b in by)
        merged = {**s_idx.get(key, {}), **c}
        rows, skipped = _metric_rows(merged, n_idx.get(key), net_idx.get(key) if net_stats is not None else None,
                                     config, weighted)
        out += [{**dict(zip(by, key, strict=True)), **row} for row in rows]
        skips += [{**dict(zip(by, key, strict=True)), "metric": m, "reason": why} for m, why in skipped.items()]
    cols = [*by, "metric", "value", "ci_low", "ci_high", "n", "n_eff", "unit", "method"]
    return pd.DataFrame(out, columns=cols), pd.DataFrame(skips, columns=[*by, "metric", "reason"])
