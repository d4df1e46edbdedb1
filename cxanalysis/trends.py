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

__all__ = ["quarterly", "change"]


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
    def prep(part):
        part = part[part[value].notna()]
        y = part[value].to_numpy(float)
        w = np.ones(len(part)) if weight is None else part[weight].to_numpy(float)
        mean = float(np.sum(w * y) / np.sum(w)) if len(y) else float("nan")
        u = w * (y - mean) / np.sum(w) if len(y) else np.zeros(0)
        ids = (part[id_col].astype(str).to_numpy() if id_col in part
               else np.array([f"{id(part)}-{i}" for i in range(len(part))]))
        return mean, pd.Series(u, index=ids).groupby(level=0).sum(), len(y)

    m2, u2, n2 = prep(current)
    m1, u1, n1 = prep(previous)
    both = u2.index.intersection(u1.index)
    u = u2.sub(u1, fill_value=0.0)
    se = float(np.sqrt(np.sum(u.to_numpy() ** 2)))
    diff = m2 - m1
    z = diff / se if se > 0 else float("nan")
    q = float(ndtri(1 - alpha / 2))
    return dict(change=diff, se=se, ci_low=diff - q * se, ci_high=diff + q * se, z=z,
                p_value=float(2 * ndtr(-abs(z))) if se > 0 else float("nan"),
                n_current=n2, n_previous=n1, n_both=int(len(both)))


def quarterly(data: pd.DataFrame, config) -> pd.DataFrame:
    """NPS (and CSAT, churn where present) per quarter, with the change since the previous one.

    Parameters
    ----------
    data : DataFrame
        The canonical table with a ``quarter`` column (several quarters).
    config : Config

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
    cats = config.categories
    score = cats["score"]
    weight = "weight" if "weight" in data else None
    cat = nps_category(data[score], promoter_min=cats["promoter_min"], detractor_max=cats["detractor_max"])
    data = data.assign(_y=np.where(cat.isna(), np.nan, 100.0 * (cat == "promoter") - 100.0 * (cat == "detractor")))
    quarters = sorted(data["quarter"].dropna().unique())
    parts = {q: data[data["quarter"] == q] for q in quarters}
    rows = []
    prev = None
    for q in quarters:
        part = parts[q]
        r = configured_nps(part, config).iloc[0]
        row = {"quarter": q, "n": int(r["n"]), "nps": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
               "change": None, "change_ci_low": None, "change_ci_high": None, "p_value": None, "n_both": None}
        if prev is not None:
            d = change(part, parts[prev], value="_y", weight=weight, alpha=config.alpha)
            row.update(change=d["change"], change_ci_low=d["ci_low"], change_ci_high=d["ci_high"],
                       p_value=d["p_value"], n_both=d["n_both"])
        if "csat" in part and part["csat"].notna().any():
            row["csat"] = mean_score(part, score="csat", scale=config.scales["csat"], weight=weight).iloc[0]["mean"]
        if "churned" in part and part["churned"].notna().any():
            c = proportion(part, column="churned").iloc[0]
            row["churn_rate"] = c["rate"]
            row["churn_change"], row["churn_p_value"] = None, None
            if prev is not None and "churned" in parts[prev] and parts[prev]["churned"].notna().any():
                d = change(part, parts[prev], value="churned", alpha=config.alpha)
                row["churn_change"] = d["change"]
                row["churn_p_value"] = d["p_value"] if np.isfinite(d["p_value"]) else None
        rows.append(row)
        prev = q
    return pd.DataFrame(rows)
