"""Quarter-over-quarter metrics with the significance of each change.

Most customers answer in several quarters, so two quarters are not independent samples: a
customer who was a promoter last quarter is likely to be one again. :func:`change` estimates the
change of a (weighted) mean between two quarters with a variance that counts each customer once
(customer-clustered, Taylor-linearised): for the mean of quarter ``q``,
``ybar_q - mu_q ~ sum_i w_qi (y_qi - ybar_q) / W_q``, so a customer's influence on the change is

    u_i = w_2i (y_2i - ybar_2) / W_2 - w_1i (y_1i - ybar_1) / W_1     (0 where absent)

and ``Var(change) = sum_i u_i^2`` over the distinct customers of both quarters. Without recurring
customers this is exactly the independent two-sample (Wald) variance; with them it subtracts
twice their covariance. It equals the CR0 cluster-robust variance of the quarter coefficient in a
regression of ``y`` on a quarter dummy clustered by customer (the test checks this against
statsmodels). NPS is the mean of ``y = 100 (promoter - detractor)``; churn the mean of ``y = churned``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri  # normal tail and quantile without importing scipy.stats

from .metrics import configured_nps, mean_score, proportion
from .segments import nps_category

__all__ = ["quarterly", "year_change", "year_change_skip", "change", "nps_change_decomposition", "shift_share"]


def change(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    value: str,
    weight: str | None = None,
    id_col: str = "customer_id",
    alpha: float = 0.05,
) -> dict[str, float]:
    """Change of the (weighted) mean of ``value`` from ``previous`` to ``current``, paired by customer.

    Parameters
    ----------
    current, previous : DataFrame
        One quarter each. Rows with ``value`` missing are left out.
    value : str
        Column whose mean changes (e.g. ``y = 100 * (promoter - detractor)`` for NPS).
    weight : str, optional
        Survey weights.
    id_col : str
        Customer id; customers present in both quarters make the two means correlated. Without
        the column the quarters are treated as independent.
    alpha : float

    Returns
    -------
    dict
        ``change, se, ci_low, ci_high, z, p_value, n_current, n_previous, n_both`` (``n_both``:
        customers answering in both quarters).

    Notes
    -----
    Customer-clustered linearised variance (module notes); normal reference distribution.
    """
    cur, prev = current[current[value].notna()], previous[previous[value].notna()]
    m2, u2 = _influence(cur, cur[[value]].to_numpy(float), weight, id_col, tag="current-")
    m1, u1 = _influence(prev, prev[[value]].to_numpy(float), weight, id_col, tag="previous-")
    n2, n1 = len(cur), len(prev)
    both = u2.index.intersection(u1.index)
    u = u2[0].sub(u1[0], fill_value=0.0)
    se = float(np.sqrt(np.sum(u.to_numpy() ** 2)))
    diff = float(m2[0] - m1[0])
    z = diff / se if se > 0 else float("nan")
    q = float(ndtri(1 - alpha / 2))
    return dict(change=diff, se=se, ci_low=diff - q * se, ci_high=diff + q * se, z=z,
                p_value=float(2 * ndtr(-abs(z))) if se > 0 else float("nan"),
                n_current=n2, n_previous=n1, n_both=int(len(both)))


def quarterly(data: pd.DataFrame, config, *, exact: pd.DataFrame | None = None,
              metrics: pd.DataFrame | None = None, base: pd.DataFrame | None = None) -> pd.DataFrame:
    """NPS (and CSAT, churn where present) per quarter, with the change since the previous one.

    Parameters
    ----------
    data : DataFrame
        The canonical table with a ``quarter`` column (several quarters).
    config : Config
    exact : DataFrame, optional
        ``RunContext.exact("nps_quarter")``: each quarter's ``n``, NPS and interval, and the
        change's estimate, are the engine's over every row; the change's standard error (paired
        customers) comes from ``data`` (every row, or the run's weighted sample).
    metrics : DataFrame, optional
        ``RunContext.exact("metrics")``: CSAT and churn rate per quarter, exact (the churn rate
        over every customer of the quarter once :func:`cxanalysis.metrics.with_base` has
        replaced it); the churn change is then the difference of these rates.
    base : DataFrame, optional
        Every customer of every quarter, respondents or not (``RunContext.everyone``): the churn
        change's standard error comes from them, unweighted, instead of from the respondents
        (weighted). Give it with the census churn rates of ``metrics``.

    Returns
    -------
    DataFrame
        One row per quarter, in order: ``quarter, n, nps, ci_low, ci_high, change, change_ci_low,
        change_ci_high, p_value`` and, when present, ``csat, churn_rate, churn_change,
        churn_p_value``. Changes are against the previous quarter (None for the first).

    Notes
    -----
    The NPS and churn changes are z-tests of :func:`change`: customers who appear in both
    quarters are paired (customer-clustered variance), so the test keeps its size when most
    customers recur; with no recurring customer it is the independent two-sample z-test
    (unpooled variance). ``n_both`` counts the recurring customers.
    """
    weight = "weight" if "weight" in data else None
    quarters, parts, ex = _nps_parts(data, config, exact)
    met = None
    if metrics is not None:
        met = metrics.assign(quarter=metrics["quarter"].astype(str)).set_index(["quarter", "metric"])["value"]
    rows = []
    prev = None
    for q in quarters:
        part = parts[q]
        r = ex.loc[str(q)] if ex is not None else configured_nps(part, config).iloc[0]
        row = {"quarter": q, "n": int(r["n"]), "nps": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
               "change": None, "change_ci_low": None, "change_ci_high": None, "p_value": None, "n_both": None}
        if prev is not None:
            d = _nps_change(parts, q, prev, ex, weight, config.alpha)
            row.update(change=d["change"], change_ci_low=d["ci_low"], change_ci_high=d["ci_high"],
                       p_value=d["p_value"], n_both=d["n_both"])
        if "csat" in part and part["csat"].notna().any():
            row["csat"] = (met.get((str(q), "CSAT (mean)"), np.nan) if met is not None else
                           mean_score(part, score="csat", scale=config.scales["csat"], weight=weight).iloc[0]["mean"])
        if "churned" in part and part["churned"].notna().any():
            c = proportion(part, column="churned", weight=weight).iloc[0]
            row["churn_rate"] = met.get((str(q), "Churn rate"), np.nan) if met is not None else c["rate"]
            row["churn_change"], row["churn_p_value"] = None, None
            if prev is not None and "churned" in parts[prev] and parts[prev]["churned"].notna().any():
                d = _churn_change(parts, base, q, prev, weight, config.alpha)
                if met is not None and np.isfinite(met.get((str(prev), "Churn rate"), np.nan)):
                    d = _at_exact(d, float(row["churn_rate"] - met.get((str(prev), "Churn rate"))), config.alpha)
                row["churn_change"] = d["change"]
                row["churn_p_value"] = d["p_value"] if np.isfinite(d["p_value"]) else None
        rows.append(row)
        prev = q
    out = pd.DataFrame(rows)
    out["n_both"] = out["n_both"].astype("Int64")  # a count: whole numbers, missing for the first quarter
    return out


def _churn_change(parts: dict, base: pd.DataFrame | None, to: str, since: str, weight: str | None,
                  alpha: float) -> dict[str, float]:
    """:func:`change` of churn from ``since`` to ``to``: over every customer of the two quarters
    (``base``, unweighted) when given, else over the respondents (weighted when they are)."""
    if base is not None and "churned" in base:
        quarter = base["quarter"].astype(str)
        now, before = base[quarter == str(to)], base[quarter == str(since)]
        if now["churned"].notna().any() and before["churned"].notna().any():
            return change(now, before, value="churned", weight=None, alpha=alpha)
    return change(parts[to], parts[since], value="churned", weight=weight, alpha=alpha)


def _nps_parts(data: pd.DataFrame, config, exact: pd.DataFrame | None):
    """The loaded quarters in order, each quarter's rows with ``_y = 100 (promoter - detractor)``
    (missing where the score is), and the engine's exact NPS per quarter indexed by quarter."""
    cats = config.categories
    cat = nps_category(data[cats["score"]], promoter_min=cats["promoter_min"], detractor_max=cats["detractor_max"])
    data = data.assign(_y=np.where(cat.isna(), np.nan, 100.0 * (cat == "promoter") - 100.0 * (cat == "detractor")))
    quarters = sorted(data["quarter"].dropna().unique())
    parts = {q: data[data["quarter"] == q] for q in quarters}
    ex = exact.assign(quarter=exact["quarter"].astype(str)).set_index("quarter") if exact is not None else None
    return quarters, parts, ex


def _nps_change(parts: dict, to: str, since: str, ex: pd.DataFrame | None, weight: str | None,
                alpha: float) -> dict[str, float]:
    """:func:`change` of NPS from quarter ``since`` to ``to``; with the engine's exact NPS per
    quarter (``ex``), the exact change with the standard error of the paired rows in memory."""
    d = change(parts[to], parts[since], value="_y", weight=weight, alpha=alpha)
    if ex is not None:
        d = _at_exact(d, float(ex.loc[str(to), "nps"] - ex.loc[str(since), "nps"]), alpha)
    return d


def _at_exact(d: dict[str, float], diff: float, alpha: float) -> dict[str, float]:
    """A :func:`change` moved to the exact tables' difference ``diff``, with the standard error
    of the rows in memory: its interval and p-value recomputed around it."""
    se, z = d["se"], float(ndtri(1 - alpha / 2))
    return {**d, "change": diff, "ci_low": diff - z * se, "ci_high": diff + z * se,
            "p_value": float(2 * ndtr(-abs(diff / se))) if se > 0 else float("nan")}


def year_change_skip(n_quarters: int) -> str:
    """Why there is no change over the year (:func:`year_change` gave none) with ``n_quarters`` loaded.

    >>> year_change_skip(1), year_change_skip(2)
    ('only one quarter loaded', 'only two quarters loaded: the change since the previous quarter is the whole span')
    """
    if n_quarters < 2:
        return "only one quarter loaded"
    return "only two quarters loaded: the change since the previous quarter is the whole span"


def year_change(data: pd.DataFrame, config, *, current: str | None = None,
                exact: pd.DataFrame | None = None, decompose: bool = False) -> dict | None:
    """NPS change over the year to ``current``, so a steady climb of small quarterly steps (each
    within chance) is not hidden by the latest step alone.

    Parameters
    ----------
    data : DataFrame
        The canonical table with a ``quarter`` column (several quarters).
    config : Config
    current : str, optional
        The report quarter (default: the latest loaded).
    exact : DataFrame, optional
        As :func:`quarterly`.
    decompose : bool
        Also split the year's change into customer mix and change within segments
        (:func:`nps_change_decomposition` of the two quarters, under ``decomposition``).

    Returns
    -------
    dict or None
        ``from, to, quarters_apart, change, ci_low, ci_high, p_value, n_both``: from the quarter
        four before ``current`` when it is loaded, else from the earliest loaded quarter. None
        when that quarter is not at least two quarters before ``current`` (the change since the
        previous quarter already says it).

    Notes
    -----
    The same paired z-test as the quarter-over-quarter changes (:func:`change`): customers who
    answer in both quarters are paired, so the interval keeps its 95% coverage when they recur.
    """
    quarters, parts, ex = _nps_parts(data, config, exact)
    current = str(current) if current is not None else (str(quarters[-1]) if quarters else None)
    earlier = [q for q in quarters if str(q) < str(current)]
    if current not in parts or not earlier:
        return None
    year_ago = str(pd.Period(current, freq="Q") - 4)
    since = year_ago if year_ago in parts else str(earlier[0])
    apart = (pd.Period(current, freq="Q") - pd.Period(since, freq="Q")).n
    if apart < 2:
        return None
    d = _nps_change(parts, current, since, ex, "weight" if "weight" in data else None, config.alpha)
    out = {"from": since, "to": current, "quarters_apart": int(apart), "change": d["change"],
           "ci_low": d["ci_low"], "ci_high": d["ci_high"], "p_value": d["p_value"], "n_both": d["n_both"]}
    if decompose:
        out["decomposition"] = nps_change_decomposition(data, config, current=current, previous=since)
    return out


def _influence(frame: pd.DataFrame, Z: np.ndarray, weight: str | None, id_col: str, *, tag: str):
    """Means of the columns of ``Z`` over ``frame`` and each customer's influence on them.

    Influences are summed per customer id, so a customer present in two quarters' frames can be
    paired across them; without ``id_col`` every row is a customer of its own, named ``tag`` +
    its position (so rows of two frames with different tags are never paired).
    """
    w = np.ones(len(frame)) if weight is None else frame[weight].to_numpy(float)
    W = w.sum()
    if W <= 0:  # no rows: no mean, no influence
        return np.full(Z.shape[1], np.nan), pd.DataFrame(np.zeros((0, Z.shape[1])))
    m = (w[:, None] * Z).sum(axis=0) / W
    infl = w[:, None] * (Z - m) / W
    ids = (frame[id_col].astype(str).to_numpy() if id_col in frame
           else np.char.add(tag, np.arange(len(frame)).astype(str)))
    return m, pd.DataFrame(infl, index=ids).groupby(level=0).sum()


def shift_share(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    value: str,
    segment: str,
    weight: str | None = None,
    id_col: str = "customer_id",
    alpha: float = 0.05,
) -> dict[str, float]:
    """Split the change of a mean between two quarters into segment mix and change within segments.

    With segment shares ``w_s`` and segment means ``N_s`` (0: previous quarter, 1: current)::

        mix    = sum_s (w1_s - w0_s) N0_s        (changed shares at the old segment means)
        within = sum_s w1_s (N1_s - N0_s)        (changed means inside segments)

    so ``mix + within = change`` exactly. A segment absent in the previous quarter takes the
    previous overall mean as its old mean (its customers count as mix at the old average, their
    difference from it as within); a segment absent now contributes ``-w0_s N0_s`` to mix.

    Parameters
    ----------
    current, previous : DataFrame
        One quarter each, with ``value`` (rows with it missing are left out) and ``segment``
        (missing values form their own segment, "(missing)").
    value, segment : str
    weight : str, optional
    id_col : str
        Customers present in both quarters are paired (see :func:`change`).
    alpha : float

    Returns
    -------
    dict
        ``change, mix, within`` and ``*_ci_low, *_ci_high, *_se`` for each, and ``segments``: one
        dict per segment with ``segment, share_before, share_now, nps_before, nps_now, mix,
        within`` (its contributions, which add up to the totals).

    Notes
    -----
    Both parts are smooth functions of the quarters' moment means ``a_s = mean(1[s])`` and
    ``b_s = mean(y 1[s])`` (``w_s = a_s``, ``N_s = b_s / a_s``). Intervals by the delta method:
    each customer's influence on the moments (customer-clustered across the two quarters, as in
    :func:`change`) is mapped through the analytic gradient and ``Var = sum_i u_i^2``.
    """
    cur = current[current[value].notna()]
    prev = previous[previous[value].notna()]
    seg_c = cur[segment].astype(object).where(cur[segment].notna(), "(missing)").astype(str).to_numpy()
    seg_p = prev[segment].astype(object).where(prev[segment].notna(), "(missing)").astype(str).to_numpy()
    levels = sorted(set(seg_c) | set(seg_p))
    k = len(levels)

    def moments(frame, seg, tag):
        ind = (seg[:, None] == np.array(levels)[None, :]).astype(float)
        Z = np.hstack([ind, ind * frame[value].to_numpy(float)[:, None]])
        return _influence(frame, Z, weight, id_col, tag=tag)

    m1, u1 = moments(cur, seg_c, "current-")
    m0, u0 = moments(prev, seg_p, "previous-")
    a1, b1, a0, b0 = m1[:k], m1[k:], m0[:k], m0[k:]
    ybar0 = b0.sum()
    old = a0 > 0
    N0 = np.where(old, b0 / np.where(old, a0, 1.0), ybar0)
    mix = float(np.sum((a1 - a0) * N0))
    within = float(np.sum(b1 - a1 * N0))
    # gradients with respect to (a1, b1) and (a0, b0)
    g_mix1 = np.r_[N0, np.zeros(k)]
    g_within1 = np.r_[-N0, np.ones(k)]
    r = np.where(old, a1 / np.where(old, a0, 1.0), 0.0)
    g_mix0_a = np.where(old, -N0 * r, 0.0)
    g_mix0_b = np.where(old, (a1 - a0) / np.where(old, a0, 1.0), 0.0) + a1[~old].sum()
    g_within0_a = np.where(old, N0 * r, 0.0)
    g_within0_b = -r - a1[~old].sum()
    g_mix0, g_within0 = np.r_[g_mix0_a, g_mix0_b], np.r_[g_within0_a, g_within0_b]
    ids = u1.index.union(u0.index)
    U1 = u1.reindex(ids, fill_value=0.0).to_numpy()
    U0 = u0.reindex(ids, fill_value=0.0).to_numpy()
    q = float(ndtri(1 - alpha / 2))
    out: dict = {"segments": [
        {"segment": lv, "share_before": float(a0[i]), "share_now": float(a1[i]),
         "nps_before": float(b0[i] / a0[i]) if old[i] else None, "nps_now": float(b1[i] / a1[i]) if a1[i] > 0 else None,
         "mix": float((a1[i] - a0[i]) * N0[i]), "within": float(b1[i] - a1[i] * N0[i])}
        for i, lv in enumerate(levels)]}
    for name, est, g1, g0 in (("mix", mix, g_mix1, g_mix0), ("within", within, g_within1, g_within0),
                              ("change", mix + within, g_mix1 + g_within1, g_mix0 + g_within0)):
        se = float(np.sqrt(np.sum((U1 @ g1 + U0 @ g0) ** 2)))
        out.update({name: est, f"{name}_se": se, f"{name}_ci_low": est - q * se, f"{name}_ci_high": est + q * se})
    return out


def nps_change_decomposition(
    data: pd.DataFrame,
    config,
    *,
    current: str,
    previous: str,
    dimensions: list[str] | None = None,
) -> dict:
    """What moved NPS from ``previous`` to ``current``: customer mix or change within segments.

    Parameters
    ----------
    data : DataFrame
        The canonical table with both quarters.
    config : Config
        Categories, weights (a ``weight`` column), ``alpha`` and the segment dimensions (numeric
        ones cut into bands over both quarters together, so both quarters share the bands).
    current, previous : str
        Quarters.
    dimensions : list of str, optional
        Segment columns (default: the configured ``segments.dimensions`` present in the data).

    Returns
    -------
    dict
        The ``nps_change`` block of results.json: ``from, to, change, ci_low, ci_high, by`` with
        one row per dimension: ``dimension, mix, mix_ci_low, mix_ci_high, within, within_ci_low,
        within_ci_high``, ``top_mix_segment`` (the segment whose changed share contributes most to
        the mix part, with ``top_mix_share_before`` and ``top_mix_share_now``), ``shares_of``
        (what the shares are of: "respondents", or "customers" when weights stand the respondents
        for the base) and ``segments``
        (each segment's contributions, :func:`shift_share`); ``mix + within = change`` exactly,
        per dimension.
    """
    from .segments import add_segments

    both = data[data["quarter"].isin([current, previous])]
    if dimensions is not None:
        config = config.with_overrides(segments={"dimensions": list(dimensions)})
    seg, dims, _ = add_segments(both, config)
    y = np.where(seg["cx_category"].isna(), np.nan,
                 100.0 * (seg["cx_category"] == "promoter") - 100.0 * (seg["cx_category"] == "detractor"))
    seg = seg.assign(_y=y)
    cur, prev = seg[seg["quarter"] == current], seg[seg["quarter"] == previous]
    weight = "weight" if "weight" in seg else None
    total = change(cur, prev, value="_y", weight=weight, alpha=config.alpha)
    rows = []
    for dim in dims:
        r = shift_share(cur, prev, value="_y", segment=dim, weight=weight, alpha=config.alpha)
        segs = r.pop("segments")
        row = {"dimension": dim.removesuffix("_band"),
               **{k: v for k, v in r.items() if not k.startswith("change") and not k.endswith("_se")}}
        same_sign = [x for x in segs if x["mix"] * r["mix"] > 0] or segs
        top = max(same_sign, key=lambda x: abs(x["mix"]))
        row.update(top_mix_segment=top["segment"], top_mix_share_before=top["share_before"],
                   top_mix_share_now=top["share_now"], shares_of="customers" if weight else "respondents",
                   segments=segs)
        rows.append(row)
    return {"from": previous, "to": current, "change": total["change"], "ci_low": total["ci_low"],
            "ci_high": total["ci_high"], "by": rows}
