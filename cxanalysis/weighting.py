"""Weight survey respondents back to the customer base they stand for (raking).

Exports often hold every customer, with a CX score only for those who answered the survey. When
some kinds of customers answer more often (premium plans, long tenure), the respondents' NPS
describes respondents, not customers. Raking (iterative proportional fitting; Deming & Stephan
1940) gives each respondent a weight so that the weighted respondents match the base on the
margins of the chosen covariates: each pass multiplies the weights of every level of one
covariate by ``base count / weighted respondent count`` of that level, until every margin
matches (to ``tol``, relative).

* Numeric covariates are cut into bands (explicit edges, else quantiles of the *base*), so
  respondents and base share the bands.
* A missing value is a level of its own, "(missing)".
* A level present in the base but with no respondent cannot be represented: its customers are
  left out of that margin's targets (the other levels are matched to their own base counts, so
  the weights still sum to the base less those customers), and a note names it.
* With one covariate, raking is post-stratification: ``w = N_level / n_level`` exactly.

Weights sum to the size of the base they could be matched to, so a weighted share times the
base size is a count of customers. Kish's effective sample size ``(sum w)^2 / sum w^2`` is what
every interval on the weighted respondents uses (:func:`cxanalysis.metrics.nps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RakingResult", "rake", "kish_n_eff"]

MISSING = "(missing)"


def kish_n_eff(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (``n`` for equal weights)."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if len(w) else 0.0


@dataclass
class RakingResult:
    """Raked weights (aligned with the respondents' index) and what the raking did."""

    weights: pd.Series
    by: list[str]
    converged: bool
    n_iter: int
    n_eff: float
    notes: list[str] = field(default_factory=list)
    margins: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def design_effect(self) -> float:
        """``n / n_eff``: how much the weighting inflates variances (1 = none)."""
        return float(len(self.weights) / self.n_eff) if self.n_eff else float("nan")


def _levels(series: pd.Series, base: pd.Series, edges: Sequence[float] | None, q: int) -> tuple[pd.Series, pd.Series]:
    """Respondent and base levels of one covariate, numeric ones in shared bands."""
    numeric = pd.api.types.is_numeric_dtype(base) and not pd.api.types.is_bool_dtype(base) and base.nunique() > q
    if numeric:
        b = base.astype(float)
        if edges is None:
            cuts = np.unique(np.nanquantile(b, np.linspace(0, 1, q + 1)))
            cuts[0], cuts[-1] = -np.inf, np.inf
        else:
            cuts = np.r_[-np.inf, np.asarray(edges, float)[1:-1], np.inf]
        r = pd.cut(series.astype(float), cuts, right=False, duplicates="drop").astype(str)
        bb = pd.cut(b, cuts, right=False, duplicates="drop").astype(str)
        r, bb = r.where(series.notna(), MISSING), bb.where(base.notna(), MISSING)
    else:
        r = series.astype(object).where(series.notna(), MISSING).astype(str)
        bb = base.astype(object).where(base.notna(), MISSING).astype(str)
    return r, bb


def rake(
    respondents: pd.DataFrame,
    base: pd.DataFrame,
    by: Sequence[str],
    *,
    bands: Mapping[str, Sequence[float]] | None = None,
    quantile_bands: int = 4,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> RakingResult:
    """Rake respondents to the base's margins on the covariates ``by``.

    Parameters
    ----------
    respondents : DataFrame
        The customers with a CX score.
    base : DataFrame
        Every customer the respondents stand for (respondents included).
    by : list of str
        Covariates whose margins the weighted respondents must match. Columns absent from either
        frame, or with one level in the base, are skipped with a note.
    bands : dict, optional
        Explicit band edges per numeric covariate; others get ``quantile_bands`` base quantiles.
    max_iter, tol : int, float
        Raking stops when every margin matches to ``tol`` (relative) or after ``max_iter`` passes.

    Returns
    -------
    RakingResult
        ``weights`` (sum = matched base size), ``converged``, ``n_iter``, ``n_eff``, ``notes`` and
        ``margins``: ``covariate, level, base, respondents, weighted`` (counts).

    Examples
    --------
    >>> base = pd.DataFrame({"plan": ["A"] * 6 + ["B"] * 4})
    >>> resp = base.iloc[[0, 1, 2, 6]]
    >>> rake(resp, base, ["plan"]).weights.tolist()
    [2.0, 2.0, 2.0, 4.0]
    """
    bands = dict(bands or {})
    notes: list[str] = []
    n = len(respondents)
    w = np.ones(n)
    cols = []
    for c in by:
        if c not in respondents or c not in base:
            notes.append(f"{c!r} is not in the data: not used for weighting.")
            continue
        r, b = _levels(respondents[c], base[c], bands.get(c), quantile_bands)
        if b.nunique() < 2:
            notes.append(f"{c!r} has a single value in the base: nothing to weight on.")
            continue
        target = b.value_counts()
        unrepresented = [lv for lv in target.index if lv not in set(r)]
        if unrepresented:
            lost = int(target[unrepresented].sum())
            notes.append(f"{c}: {lost:,} customers in levels with no respondent ({', '.join(map(str, unrepresented[:5]))}) "
                         "cannot be represented and are left out of its targets.")
            target = target.drop(unrepresented)
        codes, uniques = pd.factorize(r)
        cols.append((c, codes, target.reindex(uniques).to_numpy(float), list(uniques)))
    if not cols or n == 0:
        weights = pd.Series(np.full(n, len(base) / n if n else 0.0), index=respondents.index, name="weight")
        return RakingResult(weights, [], True, 0, kish_n_eff(weights), notes)
    # every margin's targets are scaled to one common total, so the margins are consistent
    total = min(t.sum() for _, _, t, _ in cols)
    cols = [(c, codes, t * total / t.sum(), u) for c, codes, t, u in cols]
    w *= total / n
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        for _, codes, target, _ in cols:
            current = np.bincount(codes, weights=w, minlength=len(target))
            w *= (target / np.where(current > 0, current, 1.0))[codes]
        worst = max(np.max(np.abs(np.bincount(codes, weights=w, minlength=len(t)) / t - 1)) for _, codes, t, _ in cols)
        if worst < tol:
            converged = True
            break
    if not converged:
        notes.append(f"Raking did not converge in {max_iter} passes (largest margin error {worst:.1e}): the "
                     "covariates' levels may be too fine for the respondents; weights are from the last pass.")
    rows = []
    for c, codes, target, uniques in cols:
        got = np.bincount(codes, weights=w, minlength=len(target))
        cnt = np.bincount(codes, minlength=len(target))
        rows += [dict(covariate=c, level=lv, base=t, respondents=int(k), weighted=g)
                 for lv, t, k, g in zip(uniques, target, cnt, got, strict=True)]
    weights = pd.Series(w, index=respondents.index, name="weight")
    return RakingResult(weights, [c for c, *_ in cols], converged, it, kish_n_eff(w), notes, pd.DataFrame(rows))
