"""Quarter-over-quarter metrics with the significance of each change."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr  # normal tail without importing scipy.stats

from .metrics import configured_nps, mean_score, nps_difference, proportion

__all__ = ["quarterly"]


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
    The NPS change is the two-sample z-test of :func:`cxanalysis.metrics.nps_difference`; the
    churn change a two-proportion z-test (pooled variance). Both treat the quarters as
    independent samples; when the same customers answer in both quarters and their answers are
    positively correlated, the test is conservative.
    """
    cats = config.categories
    score = cats["score"]
    weight = "weight" if "weight" in data else None
    kw = dict(score=score, promoter_min=cats["promoter_min"], detractor_max=cats["detractor_max"])
    quarters = sorted(data["quarter"].dropna().unique())
    parts = {q: data[data["quarter"] == q] for q in quarters}
    rows = []
    prev = None
    for q in quarters:
        part = parts[q]
        r = configured_nps(part, config).iloc[0]
        row = {"quarter": q, "n": int(r["n"]), "nps": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
               "change": None, "change_ci_low": None, "change_ci_high": None, "p_value": None}
        if prev is not None:
            d = nps_difference(part, parts[prev], weight=weight, alpha=config.alpha, **kw).iloc[0]
            row.update(change=d["difference"], change_ci_low=d["ci_low"], change_ci_high=d["ci_high"],
                       p_value=d["p_value"])
        if "csat" in part and part["csat"].notna().any():
            row["csat"] = mean_score(part, score="csat", scale=config.scales["csat"], weight=weight).iloc[0]["mean"]
        if "churned" in part and part["churned"].notna().any():
            c = proportion(part, column="churned").iloc[0]
            row["churn_rate"] = c["rate"]
            row["churn_change"], row["churn_p_value"] = None, None
            if prev is not None and "churned" in parts[prev]:
                c0 = proportion(parts[prev], column="churned").iloc[0]
                pooled = (c["rate"] * c["n"] + c0["rate"] * c0["n"]) / (c["n"] + c0["n"])
                se = np.sqrt(pooled * (1 - pooled) * (1 / c["n"] + 1 / c0["n"]))
                row["churn_change"] = c["rate"] - c0["rate"]
                row["churn_p_value"] = float(2 * ndtr(-abs(row["churn_change"] / se))) if se > 0 else None
        rows.append(row)
        prev = q
    return pd.DataFrame(rows)
