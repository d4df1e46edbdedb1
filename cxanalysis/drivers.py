"""Key drivers of the CX score: which touchpoints move it, with intervals.

Relative importance is the Shapley decomposition of R² (also called dominance analysis' general
dominance, or LMG in R's relaimpo): each driver's importance is its average gain in R² when added
to every subset of the other drivers, weighted as Shapley values are. The configured covariates
are kept in every sub-model (relaimpo's ``always``): their part of R² is reported apart, and the
drivers' importances add up to ``R²(full) - R²(covariates only)``, so that all shares together sum
to the full model's R². Signs come from the full model's coefficients; 95% intervals from a
bootstrap over customers (percentile), which no common Python package offers.

Minimum size: the analysis runs on at least ``MIN_ROWS`` (50) complete rows (score, every driver
and covariate filled) with at least ``MIN_DRIVERS`` (2) driver items that vary, a score that
varies, and at most ``MAX_DRIVERS`` (12) drivers. Below that :meth:`KeyDrivers.fit` does not raise:
it sets ``skip_reason_`` (a sentence for ``ctx.skip``). Constant drivers are left out with a note.
Every reported interval lies in ``[0, inf)`` and contains its estimate (percentile limits widened
where needed, :func:`cxanalysis.metrics.contain`): with almost no importance, a driver's bootstrap
distribution can lie entirely above its estimate, since importances cannot be negative. Above
``max_boot_rows`` customers the bootstrap draws fewer rows than the data hold and is rescaled to
the data's size, its bias and its spread each at their own rate (:func:`interval_from_resamples`);
coverage at 5,000 customers is checked by a slow test, at 1M by ``benchmarks/drivers_coverage.py``.

R² of each subset comes from the cross-product matrix of the centred variables, so the
``2^p`` sub-models cost ``2^p`` small solves, not ``2^p`` regressions over the customers; exact up
to 12 drivers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # t quantiles without importing scipy.stats

from .metrics import contain

__all__ = ["rating_scale", "shapley_r2", "interval_from_resamples", "KeyDrivers", "MAX_DRIVERS", "MIN_ROWS", "MIN_DRIVERS"]

MAX_DRIVERS = 12
MIN_ROWS = 50
MIN_DRIVERS = 2


def rating_scale(scales: Mapping[str, Sequence[float]], drivers: Sequence[str]) -> tuple[float, float] | None:
    """The driver items' common rating scale from the configuration's ``scales``, or None.

    A scale is known when ``scales`` gives one for every driver column (``driver_delivery:
    [1, 10]``) and they agree, or gives one under ``drivers`` for all of them; otherwise (none
    configured, or items on different scales) None.

    Examples
    --------
    >>> rating_scale({"csat": [1, 5], "drivers": [1, 10]}, ["driver_delivery", "driver_price"])
    (1.0, 10.0)
    >>> rating_scale({"driver_delivery": [1, 5]}, ["driver_delivery", "driver_price"]) is None
    True
    """
    found = set()
    for d in drivers:
        s = scales.get(d, scales.get("drivers"))
        if s is None:
            return None
        found.add((float(s[0]), float(s[1])))
    return found.pop() if len(found) == 1 else None


def _columns(data: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    parts, names = [], []
    for c in covariates:
        s = data[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
            d = pd.get_dummies(s.astype(str), prefix=c, drop_first=True, dtype=float)
            parts.append(d.to_numpy())
            names += list(d.columns)
        else:
            parts.append(s.to_numpy(float)[:, None])
            names.append(c)
    return (np.hstack(parts) if parts else np.empty((len(data), 0))), names


def _cross(Z1: np.ndarray) -> np.ndarray:
    """Centred cross-products of the columns of ``Z1`` but its last, a column of ones:
    ``(Z - mean)' (Z - mean)`` for ``Z = Z1[:, :-1]``.

    Computed as ``Z'Z - s s' / n`` from the one product ``Z1'Z1``, which holds ``Z'Z``, the
    column sums ``s`` and ``n`` (numpy's column sums of a row-major block cost as much as the
    product itself, 200 times a fit); callers pass columns already centred on their full-data
    means, so the subtraction loses no precision.
    """
    G = Z1.T @ Z1
    sums = G[:-1, -1]
    return G[:-1, :-1] - np.outer(sums, sums) / G[-1, -1]


def _with_ones(Z: np.ndarray) -> np.ndarray:
    """``Z`` with a last column of ones, row-major (for :func:`_cross`)."""
    out = np.ones((Z.shape[0], Z.shape[1] + 1))
    out[:, :-1] = Z
    return out


def _subsets(p: int) -> list[np.ndarray]:
    """Every subset of ``p`` drivers, grouped by size: entry ``s`` holds the subsets of size
    ``s`` as rows of driver indices, in :func:`itertools.combinations` order. Read in that order
    (size 0, then 1, ...) they are the positions of :func:`_r2_all`'s values."""
    groups = [list(combinations(range(p), size)) for size in range(p + 1)]
    return [np.array(g, dtype=int).reshape(len(g), size) for size, g in enumerate(groups)]


def _r2_all(C: np.ndarray, p: int, n_cov: int, subsets: list[np.ndarray] | None = None) -> np.ndarray:
    """R² of y on the covariates plus each subset of the drivers, from the cross-product matrix C.

    Column order in C: y, drivers (``p``), covariates (``n_cov``). Returns one R² per subset,
    in :func:`_subsets` order. Each is ``b' C_SS^+ b / syy`` with ``b`` the sub-model's
    cross-products with y and ``C_SS^+`` the pseudo-inverse of its block, the fitted sum of
    squares of a least-squares fit: singular values at most ``max(rows, columns) * eps`` times the
    largest are dropped, as ``numpy.linalg.lstsq`` drops them, so a covariate level that no
    customer of a resample has changes nothing. The blocks of one subset size are decomposed
    together (one call of ``numpy.linalg.eigh``, not one least-squares fit per subset).
    """
    subsets = _subsets(p) if subsets is None else subsets
    syy = C[0, 0]
    cov = np.arange(1 + p, 1 + p + n_cov)
    out = []
    for group in subsets:
        idx = np.hstack([group + 1, np.broadcast_to(cov, (len(group), n_cov))])  # predictors per subset
        if idx.shape[1] == 0:
            out.append(np.zeros(len(group)))
            continue
        # b' C_SS^+ b = sum over the block's eigenpairs kept of (u'b)^2 / lambda, the kept ones as
        # numpy.linalg.pinv(hermitian=True) keeps them (|lambda| above k eps times the largest)
        lam, U = np.linalg.eigh(C[idx[:, :, None], idx[:, None, :]])
        proj = np.einsum("sij,si->sj", U, C[idx, 0])
        size = np.abs(lam)
        kept = size > idx.shape[1] * np.finfo(float).eps * size.max(axis=1, keepdims=True)
        out.append(np.where(kept, proj**2 / np.where(kept, lam, 1.0), 0.0).sum(axis=1) / syy)
    return np.concatenate(out)


def _shapley_weights(p: int) -> np.ndarray:
    """The ``(p, 2^p)`` matrix that turns :func:`_r2_all`'s values into Shapley importances:
    ``importance_j = sum_{S not containing j} |S|! (p - |S| - 1)! / p! [R²(S + j) - R²(S)]``."""
    position = {frozenset(s): i for i, s in enumerate(s for group in _subsets(p) for s in map(tuple, group))}
    W = np.zeros((p, len(position)))
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for size in range(p):
            weight = factorial(size) * factorial(p - size - 1) / factorial(p)
            for s in map(frozenset, combinations(others, size)):
                W[j, position[s | {j}]] += weight
                W[j, position[s]] -= weight
    return W


def interval_from_resamples(estimate, resampled, *, n: int, m: int, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval for a non-negative statistic from (m-out-of-n) bootstrap resamples.

    Parameters
    ----------
    estimate : array of shape (k,)
        The full-data estimates theta_n (k statistics).
    resampled : array of shape (B, k)
        The statistics recomputed on B resamples of ``m`` rows drawn with replacement.
    n, m : int
        Rows in the data and in each resample (``m <= n``; ``m == n`` is the ordinary bootstrap).
    alpha : float

    Returns
    -------
    (low, high) : arrays of shape (k,)
        ``0 <= low <= estimate <= high``.

    Notes
    -----
    Write each resample's deviation ``D = theta*_m - theta_n`` as its mean ``b_m`` (the bootstrap
    bias at sample size m) plus a centred fluctuation ``D - b_m``. The two parts shrink at
    different rates as the sample grows: a bias of a smooth statistic such as an R² share is of
    order ``1/m``, the fluctuation of order ``1/sqrt(m)``. Carried to the data's size n they become

        ``theta_n + (m/n) b_m + sqrt(m/n) (D - b_m)``,

    and the interval is the ``alpha/2`` and ``1 - alpha/2`` percentiles of these values. With
    ``m == n`` they are the resamples themselves (the ordinary percentile bootstrap). Scaling the
    whole deviation by ``sqrt(m/n)`` instead (the textbook m-out-of-n rescaling, Bickel, Götze &
    van Zwet 1997, for a sqrt(n)-consistent statistic) keeps a bias of order ``1/sqrt(mn)``, far
    larger than the estimate's own ``1/n``: for a driver with no importance, whose estimate is
    itself of order ``1/n``, the whole interval then lies above the estimate.

    Importances cannot be negative, so the limits are clipped at 0; for a driver with no real
    importance the fluctuation (of order ``1/n`` there, not ``1/sqrt(n)``) is over-scaled, so the
    lower limit reaches 0 and the interval errs on the wide side, never the narrow one. Finally
    the interval is widened, where needed, to contain its estimate
    (:func:`cxanalysis.metrics.contain`): at m = n a null driver's resamples all lie above its
    estimate (each resample adds its own chance R²), and the interval then starts at the estimate,
    itself within ``O(1/n)`` of zero.
    """
    estimate = np.asarray(estimate, float)
    resampled = np.asarray(resampled, float)
    dev = resampled - estimate
    bias = dev.mean(axis=0)
    values = estimate + (m / n) * bias + np.sqrt(m / n) * (dev - bias)
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return contain(estimate, np.maximum(lo, 0.0), np.maximum(hi, 0.0), lower=0.0)


def shapley_r2(data: pd.DataFrame, *, target: str, drivers: Sequence[str], covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Shapley decomposition of R² among ``drivers``, with ``covariates`` in every sub-model.

    Returns
    -------
    DataFrame
        ``driver, importance, share``: importance in R² units (drivers' importances sum to
        ``R²(full) - R²(covariates)``); a last row ``covariates (always in)`` holds the
        covariates' R², so ``importance`` sums to the full model's R²; ``share`` is importance
        over the full R².

    Notes
    -----
    ``importance_j = sum_{S not containing j} |S|! (p - |S| - 1)! / p! [R²(S + j) - R²(S)]``,
    every R² including the covariates. Complete cases only.
    """
    drivers = list(drivers)
    if len(drivers) > MAX_DRIVERS:
        raise ValueError(f"Shapley R² is exact up to {MAX_DRIVERS} drivers; got {len(drivers)}. Select fewer drivers.")
    d = data[[target, *drivers, *covariates]].dropna()
    Xc, _ = _columns(d, covariates)
    Z = np.column_stack([d[target].to_numpy(float), d[drivers].to_numpy(float), Xc])
    r2 = _r2_all(_cross(_with_ones(Z - Z.mean(axis=0))), len(drivers), Xc.shape[1])
    imp = _shapley_weights(len(drivers)) @ r2
    full, base = r2[-1], r2[0]  # every driver, none
    t = pd.DataFrame({"driver": [*drivers, "covariates (always in)"], "importance": [*imp, base]})
    t["share"] = t["importance"] / full if full > 0 else np.nan
    return t


class KeyDrivers:
    """Key-driver analysis: Shapley R² importance, sign, bootstrap CI, performance.

    Parameters
    ----------
    target : str
        The CX score explained (e.g. ``nps_score``).
    drivers : list of str, optional
        Touchpoint items; default every ``driver_*`` column.
    covariates : list of str
        Kept in every sub-model.
    n_boot : int
        Bootstrap resamples for the intervals.
    max_boot_rows : int
        Above this many customers, each resample draws ``m = max_boot_rows`` rows (m-out-of-n
        bootstrap); the resamples' mean deviation from the full-data estimate (their bias) is
        scaled by ``m / n`` and each one's fluctuation around it by ``sqrt(m / n)``
        (:func:`interval_from_resamples`): about the full bootstrap's interval at a fraction of
        the cost.
    alpha : float
    random_state : int
    weight : str
        Survey-weight column (respondents weighted to the base), used when the data have it:
        R² and slopes of weighted least squares (every cross-product weighted, as statsmodels'
        WLS), resamples that draw customers with their weights, and weighted mean ratings with a
        t interval on Kish's effective n (as the metrics page). Without the column every row
        counts once.

    Attributes
    ----------
    importance_ : DataFrame
        ``driver, importance, ci_low, ci_high, share, sign, coef, performance,
        performance_ci_low, performance_ci_high`` per driver, most important first, plus the
        covariates' row. The performance is the item's (weighted) mean rating over the rows
        analysed, with its t interval.
    r2_ : float
        Full-model R².
    boot_rows_ : int
        Rows drawn in each bootstrap resample (``min(n, max_boot_rows)``).
    resamples_ : ndarray of shape (n_boot, p + 1)
        Each resample's importances (drivers in input order, then the covariates' R²), before
        rescaling to the data's size.
    skip_reason_ : str or None
        Why the analysis was skipped (below the minimum, see the module notes), else None.
    notes_ : list of str
        Drivers left out (constant) and similar remarks.
    """

    def __init__(self, *, target: str = "nps_score", drivers: Sequence[str] | None = None,
                 covariates: Sequence[str] = (), n_boot: int = 200, max_boot_rows: int = 50_000,
                 alpha: float = 0.05, random_state: int = 0, weight: str = "weight"):
        self.max_boot_rows = max_boot_rows
        self.weight = weight
        self.target = target
        self.drivers = drivers
        self.covariates = list(covariates)
        self.n_boot = n_boot
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, data: pd.DataFrame) -> KeyDrivers:
        """Importances, signs and intervals; below the minimum size sets ``skip_reason_``. Returns ``self``."""
        self.skip_reason_ = None
        self.notes_ = []
        drivers = list(self.drivers) if self.drivers is not None else [c for c in data.columns if str(c).startswith("driver_")]
        drivers = [c for c in drivers if c in data and data[c].notna().any()]
        if not drivers:
            self.skip_reason_ = "no driver_* columns (touchpoint ratings) with any value"
            return self
        if len(drivers) > MAX_DRIVERS:
            self.skip_reason_ = (f"{len(drivers)} driver items; Shapley R² is exact up to {MAX_DRIVERS}: list at most "
                                 f"{MAX_DRIVERS} in the analysis")
            return self
        if self.target not in data or data[self.target].notna().sum() == 0:
            self.skip_reason_ = f"no {self.target} score to explain"
            return self
        covs = [c for c in self.covariates if c in data and data[c].notna().any()]
        wcol = [self.weight] if self.weight in data and self.weight not in (self.target, *drivers, *covs) else []
        d = data[[self.target, *drivers, *covs, *wcol]].dropna()
        if wcol:
            d = d[d[self.weight] > 0]  # a row weighted 0 stands for no one
        constant = [c for c in drivers if d[c].nunique() < 2]
        if constant:
            self.notes_.append(f"Left out (constant among the complete rows): {', '.join(constant)}.")
            drivers = [c for c in drivers if c not in constant]
        self.n_ = len(d)
        self.dropped_ = int(len(data) - len(d))
        if len(d) < MIN_ROWS:
            self.skip_reason_ = (f"too few complete rows for key drivers: {len(d)} with the score, every driver and "
                                 f"covariate filled; at least {MIN_ROWS} needed")
            return self
        if len(drivers) < MIN_DRIVERS:
            self.skip_reason_ = (f"key drivers need at least {MIN_DRIVERS} driver items that vary; found {len(drivers)}")
            return self
        if d[self.target].nunique() < 2:
            self.skip_reason_ = f"{self.target} is the same for every complete row: nothing to explain"
            return self
        Xc, _ = _columns(d, covs)
        Z = np.column_stack([d[self.target].to_numpy(float), d[drivers].to_numpy(float), Xc])
        w = d[self.weight].to_numpy(float) if wcol else np.ones(len(d))
        self.weighted_ = bool(wcol)
        Z -= np.average(Z, axis=0, weights=w)  # R² and slopes do not depend on the centre
        p = len(drivers)
        # rows are gathered from a row-major copy with a column of ones (_cross): the resample is
        # the same C-ordered block np.take returns from Z, gathered ten times faster (whole rows
        # instead of a strided read per column). Weights: every row, its column of ones included,
        # scaled by sqrt(w), so the cross-products are weighted sums (a resampled row keeps its weight)
        Zr = _with_ones(Z)
        if wcol:
            Zr *= np.sqrt(w)[:, None]
        C = _cross(Zr)
        subsets, weights = _subsets(p), _shapley_weights(p)
        r2 = _r2_all(C, p, Xc.shape[1], subsets)
        point = weights @ r2
        self.r2_, base = r2[-1], r2[0]  # every driver, none
        # signs: full-model coefficients
        idx = list(range(1, Z.shape[1]))
        coef = np.linalg.lstsq(C[np.ix_(idx, idx)], C[idx, 0], rcond=None)[0][:p]
        rng = np.random.default_rng(self.random_state)
        r2_boot = np.empty((self.n_boot, len(r2)))
        n = len(Z)
        m = min(n, self.max_boot_rows)
        full = np.append(point, base)
        for b in range(self.n_boot):
            rows = rng.integers(0, n, size=m)
            r2_boot[b] = _r2_all(_cross(np.take(Zr, rows, axis=0)), p, Xc.shape[1], subsets)
        est = np.column_stack([r2_boot @ weights.T, r2_boot[:, 0]])
        self.boot_rows_ = m
        self.resamples_ = est
        if self.n_boot:
            lo, hi = interval_from_resamples(full, est, n=n, m=m, alpha=self.alpha)
        else:
            lo, hi = np.full(p + 1, np.nan), np.full(p + 1, np.nan)
        # performance: each item's mean rating over the same rows, with its t interval
        ratings = d[drivers].to_numpy(float)
        perf = np.average(ratings, axis=0, weights=w)
        n_eff = w.sum() ** 2 / (w**2).sum()  # Kish; n without weights
        var = np.average((ratings - perf) ** 2, axis=0, weights=w) * n_eff / (n_eff - 1)
        half = stdtrit(n_eff - 1, 1 - self.alpha / 2) * np.sqrt(var / n_eff)
        t = pd.DataFrame({
            "driver": [*drivers, "covariates (always in)"], "importance": [*point, base], "ci_low": lo, "ci_high": hi,
            "coef": [*coef, np.nan], "sign": [*np.where(coef >= 0, "+", "-"), ""],
            "performance": [*perf, np.nan], "performance_ci_low": [*(perf - half), np.nan],
            "performance_ci_high": [*(perf + half), np.nan],
        })
        t["share"] = t["importance"] / self.r2_ if self.r2_ > 0 else np.nan
        self.importance_ = pd.concat([t.iloc[:p].sort_values("importance", ascending=False), t.iloc[p:]], ignore_index=True)
        self.drivers_ = drivers
        self.covariates_ = covs
        return self

    @property
    def summary(self) -> pd.DataFrame:
        return self.importance_

    def to_results(self) -> list[dict]:
        """``drivers`` of results.json: one entry per driver (DESIGN.md keys); empty when skipped."""
        if self.skip_reason_ is not None:
            return []
        t = self.importance_[self.importance_["driver"].isin(self.drivers_)]
        return [dict(driver=r.driver, importance=r.importance, ci_low=r.ci_low, ci_high=r.ci_high, sign=r.sign,
                     share=r.share, performance=r.performance, performance_ci_low=r.performance_ci_low,
                     performance_ci_high=r.performance_ci_high) for r in t.itertuples()]

    def _repr_html_(self) -> str:
        return self.importance_.to_html(index=False, float_format=lambda v: f"{v:.3f}")

    def plot(self, ax=None, *, scale=None):
        """Importance x performance quadrant (:func:`cxanalysis.plots.driver_quadrant`).

        ``scale`` is the items' rating scale, ``(low, high)``, or a mapping of column to scale
        such as the configuration's ``scales`` (see :func:`rating_scale`); the performance axis
        then spans it. Without one known, the axis is zoomed and its label says so.
        """
        from .plots import driver_quadrant

        if scale is not None and isinstance(scale, Mapping):
            scale = rating_scale(scale, self.drivers_)
        return driver_quadrant(self.importance_[self.importance_["driver"].isin(self.drivers_)], ax=ax, scale=scale)
