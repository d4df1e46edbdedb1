"""Lean GLM fits on a prebuilt design matrix: the fast path behind :mod:`cxanalysis.models`.

Three families with their usual links — logistic (binomial/logit), Gamma with log link, Poisson
with log link and an offset — fitted by iteratively reweighted least squares on the normal
equations (Cholesky of ``X'WX``), plus Firth's penalised likelihood (logistic and Poisson) for
separated data, and a linear-programming check for separation (:func:`find_separation`).

**Separation** (the maximum-likelihood estimate does not exist: some coefficients run to
infinity) is detected without reference to the units of any column. For a logistic model it
exists iff some direction ``b != 0`` has ``(2y - 1) x_i'b >= 0`` for every row with strict
inequality on some (complete or quasi-complete separation; Albert & Anderson 1984); for a Poisson
log-linear model iff some ``b`` has ``x_i'b = 0`` on every row with a count and ``x_i'b <= 0``
on the rest, strictly on some (e.g. a level with no events). Both are linear programmes (Konis
2007, as in R's ``detectseparation``), solved with HiGHS on the distinct rows of the design with
columns scaled to ``[-1, 1]``; a rescaled column gives the same answer, so no magnitude rule on
the coefficients is needed.

Standard errors are the robust sandwich ``H^-1 (S'S) H^-1`` (``S`` the per-row scores, ``H`` the
observed Hessian), i.e. HC0, which is what statsmodels computes for ``GLM`` and ``Logit`` under
any of ``cov_type="HC0"`` to ``"HC3"`` (its small-sample factors apply to OLS only).
The tests compare coefficients and standard errors with the plain statsmodels formula fits to
1e-6 relative; this module only exists because those take several times longer on 1M rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize
from scipy.special import chdtrc, chdtri, expit

from .design import row_codes

__all__ = ["GLMFit", "ProfileCI", "fit_glm", "fit_firth", "fit_firth_logit", "firth_profile", "find_separation",
           "safe_inv", "row_cells", "weighted_gram", "FAMILIES"]

FAMILIES = ("logit", "gamma_log", "poisson_log")


@dataclass
class ProfileCI:
    """Profile penalised-likelihood intervals and likelihood-ratio p-values, one per coefficient.

    ``low``, ``high`` and ``p_value`` are aligned with the fit's parameters (NaN for a column the
    fit did not use); ``alpha`` is the level the limits were computed at.
    """

    low: np.ndarray
    high: np.ndarray
    p_value: np.ndarray
    alpha: float


@dataclass
class GLMFit:
    """A fitted GLM: parameters, covariances and what the fit noticed.

    ``cov`` is the HC0 sandwich (the default for inference); ``cov_model`` the model-based
    (inverse information) covariance. ``score_factor`` and ``hessian`` are kept so that several
    models fitted on the same customers can be given a joint (stacked) sandwich covariance.
    """

    family: str
    params: np.ndarray
    cov: np.ndarray
    cov_model: np.ndarray
    n: int
    converged: bool
    n_iter: int
    method: str
    dispersion: float = float("nan")
    score_factor: np.ndarray | None = field(default=None, repr=False)
    """Per-row factor ``r_i`` of the scores (prior weight included): row ``i``'s score is
    ``x_i * r_i``, so the scores of the fit's rows are ``X * score_factor[:, None]``."""
    hessian: np.ndarray | None = field(default=None, repr=False)
    columns: np.ndarray | None = field(default=None, repr=False)
    """Design columns the fit used (None: all). Dropped columns have coefficient 0 and no variance."""
    profile: ProfileCI | None = field(default=None, repr=False)
    """Profile penalised-likelihood intervals and tests of a Firth fit (None: Wald inference)."""

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def _mean(family: str, eta: np.ndarray) -> np.ndarray:
    if family == "logit":
        return expit(eta)
    return np.exp(np.clip(eta, -700, 700))


def _weights_and_working(family: str, y, mu, eta_lin):
    """IRLS weights and working response (eta without offset)."""
    if family == "logit":
        w = np.clip(mu * (1 - mu), 1e-300, None)
        return w, eta_lin + (y - mu) / w
    if family == "gamma_log":
        return np.ones_like(mu), eta_lin + (y - mu) / mu
    return mu, eta_lin + (y - mu) / mu  # poisson_log


def _score_factors(family: str, y, mu, a=None):
    """Per-row factors ``r_i`` of the scores (row ``i``'s score is ``x_i r_i``) and ``h_i`` of the
    observed Hessian of the log-likelihood (scale 1: ``H = -sum h_i x_i x_i'``), each multiplied
    by the row's prior weight ``a_i`` when given."""
    if family == "logit":
        r, h = y - mu, mu * (1 - mu)
    elif family == "gamma_log":
        r, h = (y - mu) / mu, y / mu
    else:
        r, h = y - mu, mu
    if a is not None:
        r, h = r * a, h * a
    return r, h


def weighted_gram(X: np.ndarray, v: np.ndarray, cells: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``X' diag(v) X`` (``sum_i v_i x_i x_i'``).

    With ``cells = (codes, first)`` of :func:`row_cells`, the same sum taken over the distinct
    rows of ``X``, each weighted by the sum of ``v`` over its rows: ``O(n)`` additions and a
    product of a few thousand rows instead of ``O(n p^2)`` operations on every row.
    """
    if cells is not None:
        codes, first = cells
        Xc = X[first]
        return (Xc * np.bincount(codes, weights=v, minlength=len(first))[:, None]).T @ Xc
    return (X * v[:, None]).T @ X


def row_cells(X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, first)``: each row's distinct-row number (:func:`cxanalysis.design.row_codes`)
    and the first row of each, or None when the distinct rows are not much fewer than the rows
    (a continuous covariate) or there are too few rows to gain anything."""
    n = len(X)
    if n < 1000:
        return None
    codes = row_codes(X)
    m = int(codes.max()) + 1
    if m > n // 4:
        return None
    return codes, _first_of_each(codes)


def _first_of_each(codes: np.ndarray) -> np.ndarray:
    """Position of the first occurrence of each value of ``codes`` (integers numbered in order of
    first appearance: a position whose code exceeds every earlier one is its code's first)."""
    return np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    family: str,
    *,
    offset: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
    keep_scores: bool = False,
    weights: np.ndarray | None = None,
    cells: tuple[np.ndarray, np.ndarray] | None | str = "auto",
) -> GLMFit:
    """Fit a GLM by IRLS with robust (HC0 sandwich) standard errors.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    family : {"logit", "gamma_log", "poisson_log"}
    offset : ndarray, optional
        Added to the linear predictor (``log(orders)`` for a rate per order).
    keep_scores : bool
        Keep the per-row score factors and the Hessian (for a joint covariance with other models).
    weights : ndarray (n,), optional
        Prior weights ``a_i > 0`` (survey weights, e.g. raked to the customer base): the
        log-likelihood is ``sum a_i l_i``. The per-row scores are ``a_i s_i`` and the Hessian
        ``sum a_i H_i``, so the sandwich is the survey (pweight) one; with integer weights the
        estimates equal the fit on each row repeated ``a_i`` times, and they equal statsmodels'
        ``GLM(..., var_weights=a)`` (coefficients and HC0 covariance). ``cov_model`` and the Gamma
        dispersion treat the weights as ``var_weights`` (dispersion on ``n - p`` degrees of freedom).
    cells : tuple or None, optional
        :func:`row_cells` of ``X`` when the caller has it already (None: ``X`` is not collapsed);
        ``"auto"`` (default) computes it here.

    Returns
    -------
    GLMFit
        ``converged`` is False when the iterations did not settle, no step improved the
        likelihood, or (logistic) some fitted probability is numerically 0 or 1 — the usual signs
        of separation. Steps are Fisher scoring with the linear predictor moving at most 5 per
        step and halved until the log-likelihood does not decrease (unit-free; no rule on the size
        of a coefficient).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}.")
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    a = None if weights is None else np.asarray(weights, float)
    ybar = float(np.mean(y)) if a is None else float(np.sum(a * y) / np.sum(a))
    beta = np.zeros(p)
    if family == "logit":
        beta[0] = np.log(ybar / (1 - ybar)) if 0 < ybar < 1 else 0.0
    else:
        beta[0] = np.log(max(ybar, 1e-12)) - (float(np.mean(off)) if offset is not None else 0.0)
    cells = _cells(X, y, family, offset, a, cells)
    if cells is not None:  # the same likelihood on the distinct rows: the same steps, far fewer rows
        Xc, yc, ac, rows = cells
        beta, it, converged = _irls(Xc, yc, family, np.zeros(len(Xc)), ac, beta, max_iter, tol)
    else:
        rows = None
        beta, it, converged = _irls(X, y, family, off, a, beta, max_iter, tol)
    eta_lin = X @ beta  # exact, for the final quantities
    mu = _mean(family, eta_lin + off)
    if family == "logit" and np.any(np.minimum(mu, 1 - mu) < 1e-12):
        # fitted probabilities numerically 0 or 1: IRLS stalls there (its weights underflow) and
        # would report convergence at a point that is no maximum: the MLE is at infinity
        converged = False
    # per-row factors, summed over the rows of each distinct design row (when collapsed): the
    # Hessian, the sandwich's meat and the information are sums of x_i x_i' times a factor
    r, h = _score_factors(family, y, mu, a)
    H = -weighted_gram(X, h, rows)
    Hinv = _inv(-H)
    cov = Hinv @ weighted_gram(X, r * r, rows) @ Hinv
    w, _ = _weights_and_working(family, y, mu, eta_lin)
    if a is not None:
        w = w * a
    info_inv = _inv(weighted_gram(X, w, rows))
    pearson = (y - mu) ** 2 / _variance(family, mu)
    dispersion = float(np.sum(pearson if a is None else a * pearson) / (n - p))
    cov_model = info_inv * (dispersion if family == "gamma_log" else 1.0)
    return GLMFit(family, beta, cov, cov_model, n, converged, it, "IRLS", dispersion,
                  r if keep_scores else None, H if keep_scores else None)


def _irls(X, y, family: str, off, a, beta, max_iter: int, tol: float) -> tuple[np.ndarray, int, bool]:
    """Fisher scoring from ``beta``; returns the estimate, the iterations and whether it settled
    (see :func:`fit_glm`)."""
    converged = False
    it = 0
    eta_lin = X @ beta  # kept up to date along the steps: one product with X per iteration
    ll = _loglik(family, y, eta_lin, off, a)
    for it in range(1, max_iter + 1):  # noqa: B007
        mu = _mean(family, eta_lin + off)
        w, _ = _weights_and_working(family, y, mu, eta_lin)
        # Fisher scoring in score form, X'WX delta = X'W (z - eta): no division by vanishing weights
        resid = (y - mu) / mu if family == "gamma_log" else y - mu
        if a is not None:
            w, resid = w * a, resid * a
        delta = _solve_pd((X * w[:, None]).T @ X, X.T @ resid)
        if delta is None or not np.all(np.isfinite(delta)):
            break
        # a unit-free trust region (the linear predictor moves by at most 5 per step), then
        # step-halving until the log-likelihood does not decrease: plain IRLS can overshoot and run
        # off to infinity on a covariate with a huge but finite odds ratio
        x_delta = X @ delta
        move = float(np.max(np.abs(x_delta))) if len(X) else 0.0
        if move > 5:
            delta, x_delta = delta * (5 / move), x_delta * (5 / move)
        t, accepted = 1.0, False
        for _ in range(40):
            cand, eta_cand = beta + t * delta, eta_lin + t * x_delta
            ll_new = _loglik(family, y, eta_cand, off, a)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * (1 + abs(ll)):
                accepted = True
                break
            t /= 2
        if not accepted:
            break
        step = np.max(np.abs(cand - beta) / (1 + np.abs(beta)))
        beta, ll, eta_lin = cand, ll_new, eta_cand
        if step < tol:
            converged = True
            break
    return beta, it, converged


def _cells(X, y, family: str, offset, a, cells="auto") -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple] | None:
    """The fit's log-likelihood on the distinct rows of ``X`` (a design of categories and whole
    numbers has a few thousand among hundreds of thousands of customers), or None when they are
    not much fewer than the rows.

    Per distinct row ``c``, with ``A_c = sum a_i`` and ``AY_c = sum a_i y_i`` over its customers:
    the logistic and Gamma (log link, scale 1) log-likelihoods are, up to a constant,
    ``AY_c eta_c - A_c log(1 + exp eta_c)`` and ``-(AY_c exp(-eta_c) + A_c eta_c)``: those of
    one row with response ``AY_c / A_c`` and prior weight ``A_c``. The Poisson one with offset
    ``o_i`` is ``AY_c eta_c - AE_c exp(eta_c)`` with ``AE_c = sum a_i exp(o_i)``: one row with
    response ``AY_c / AE_c``, weight ``AE_c`` and no offset. Scores and Fisher information are
    the same sums, so each Fisher-scoring step is the per-row one. A logistic or Gamma fit with
    an offset is not collapsed (the offset differs within a row). The last item is
    :func:`row_cells`' ``(codes, first)`` (``cells``, computed here when ``"auto"``), for the sums
    of the final quantities.
    """
    n = len(X)
    if offset is not None and family != "poisson_log":
        return None
    cells = row_cells(X) if isinstance(cells, str) else cells
    if cells is None:
        return None
    codes, first = cells
    m = len(first)
    w = np.ones(n) if a is None else a
    A = np.bincount(codes, weights=w * np.exp(offset) if offset is not None else w, minlength=m)
    AY = np.bincount(codes, weights=w * y, minlength=m)
    if not (np.all(np.isfinite(A)) and np.all(A > 0) and np.all(np.isfinite(AY))):
        return None
    return np.asfortranarray(X[first]), AY / A, A, cells


def _loglik(family: str, y, eta_lin, off, a=None) -> float:
    """Log-likelihood up to a constant (Gamma: for scale 1), used only to damp the IRLS steps;
    ``sum a_i l_i`` with prior weights ``a``."""
    eta = eta_lin + off
    with np.errstate(all="ignore"):
        if family == "logit":
            li = y * eta - np.logaddexp(0, eta)
        elif family == "gamma_log":
            li = -y * np.exp(-np.clip(eta, -700, 700)) - eta
        else:
            li = y * eta - np.exp(np.clip(eta, -700, 700))
        return float(np.sum(li if a is None else a * li))


def _variance(family: str, mu):
    if family == "logit":
        return np.clip(mu * (1 - mu), 1e-300, None)
    if family == "gamma_log":
        return mu**2
    return mu


def _solve_pd(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Solve ``a x = b`` for a symmetric positive (semi-)definite ``a``, quietly.

    Cholesky first; a matrix that is not numerically positive definite (collinear or
    vanishing weights) is solved by least squares. Never emits ``LinAlgWarning``.
    """
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return None
    try:
        return linalg.cho_solve(linalg.cho_factor(a, check_finite=False), b, check_finite=False)
    except (linalg.LinAlgError, ValueError):
        try:
            return np.linalg.lstsq(a, b, rcond=None)[0]
        except np.linalg.LinAlgError:
            return None


def safe_inv(a: np.ndarray, *, rcond: float = 1e-12) -> tuple[np.ndarray, bool]:
    """Inverse of a symmetric matrix, or its pseudo-inverse when it is (near) singular.

    Returns ``(inverse, exact)``; ``exact`` is False when the pseudo-inverse was used (reciprocal
    condition number below ``rcond``, or a non-finite matrix). Never raises, never warns.
    """
    a = np.asarray(a, float)
    if a.size == 0:
        return a.copy(), True
    if not np.all(np.isfinite(a)):
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        return np.linalg.pinv(a, hermitian=True), False
    ev = np.linalg.eigvalsh((a + a.T) / 2)
    top = np.max(np.abs(ev)) if ev.size else 0.0
    if top == 0 or np.min(np.abs(ev)) < rcond * top:
        return np.linalg.pinv(a, rcond=rcond, hermitian=True), False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        try:
            return linalg.inv(a), True
        except (linalg.LinAlgError, ValueError):
            return np.linalg.pinv(a, rcond=rcond, hermitian=True), False


def _inv(a: np.ndarray) -> np.ndarray:
    return safe_inv(a)[0]


def _distinct_rows(M: np.ndarray) -> np.ndarray:
    """``np.unique(M, axis=0)``: the distinct rows in lexicographic order, found by hashing each
    column (``pandas.factorize``) instead of sorting the whole matrix (~10x faster at 20,000 rows)."""
    if len(M) == 0:
        return M
    _, first = np.unique(row_codes(M), return_index=True)
    D = M[first] + 0.0
    return D[np.lexsort(D.T[::-1])]


def find_separation(X: np.ndarray, y: np.ndarray, family: str = "logit", *, offset=None,
                    max_rows: int = 20_000, random_state: int = 0,
                    cells: tuple[np.ndarray, np.ndarray] | None | str = "auto") -> np.ndarray | None:
    """A direction along which the likelihood increases for ever (separation), or None.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
        0/1 for ``"logit"``; counts for ``"poisson_log"``.
    family : {"logit", "poisson_log"}
    max_rows : int
        The programme runs on the distinct rows of the (sign-adjusted) design: every constraint,
        when the design has far fewer distinct rows than rows (categories and whole numbers,
        :func:`row_cells`). Otherwise, beyond this many rows, on a stratified subset (every row
        where a rarely non-zero column is non-zero, plus a random fill), and the direction found
        is then checked on all rows. A direction that fails the check is not reported (the
        fit-based checks of the caller still apply).
    cells : tuple or None, optional
        :func:`row_cells` of ``X`` when the caller has it already; ``"auto"`` computes it here.

    Returns
    -------
    ndarray (p,) or None
        The direction ``b`` in the units of ``X`` (normalised to max ``|b_j|`` = 1 on the scaled
        columns); its non-zero entries name the separating terms.

    Notes
    -----
    Logistic: maximise ``sum_i a_i'b`` subject to ``a_i'b >= 0`` and ``-1 <= b <= 1``, where
    ``a_i = (2 y_i - 1) x_i``; a positive optimum means (quasi-)complete separation (Konis 2007).
    Poisson: rows with a count enter as equalities ``x_i'b = 0``, rows without as ``-x_i'b >= 0``.
    On distinct rows, a logistic row with customers of both outcomes enters as ``x'b = 0`` (its
    two inequalities), which leaves the programme unchanged. Columns are scaled by their largest
    absolute value first, so the answer does not depend on the units of any covariate.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, p = X.shape
    if n == 0 or p == 0:
        return None
    if family not in ("logit", "poisson_log"):
        raise ValueError(f"family must be 'logit' or 'poisson_log'; got {family!r}.")
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    cells = row_cells(X) if isinstance(cells, str) else cells
    if cells is not None:  # each distinct row once (per outcome class): every constraint, few rows
        codes, first = cells
        m = len(first)
        Zc = X[first] / scale
        if family == "logit":
            # a distinct row with customers of both classes constrains x'b >= 0 and -x'b >= 0 and
            # adds nothing to the objective: one equality x'b = 0 is the same programme, smaller
            events = np.bincount(codes, weights=(y > 0.5), minlength=m)
            both = (events > 0) & (events < np.bincount(codes, minlength=m))
            A = Zc[~both] * np.where(events[~both] > 0, 1.0, -1.0)[:, None]
            E = Zc[both]
        else:
            # a distinct row with a count is an equality; one with none only is an inequality (one
            # with both adds -x'b = 0 to the objective and an inequality its equality implies)
            counted = np.bincount(codes, weights=(y > 0), minlength=m) > 0
            A, E = -Zc[~counted], Zc[counted]
        positive = E
    else:
        Z = X / scale
        if family == "logit":
            A, E = Z * np.where(y > 0.5, 1.0, -1.0)[:, None], np.empty((0, p))
        else:
            A, E = -Z[y == 0], Z[y > 0]
        positive = E  # equalities to hold on every row (before any subset)
    if len(A) == 0:  # no inequality: the objective is 0, nothing can increase for ever
        return None
    full = A
    if len(A) + len(E) > max_rows:  # stratified subset first: deduplicating a million rows is the slow part
        rng = np.random.default_rng(random_state)
        pick = np.zeros(len(A), dtype=bool)
        for j in range(p):  # every row where a rarely non-zero column is non-zero
            nz = np.flatnonzero(A[:, j] != 0)
            if 0 < len(nz) <= max_rows // (4 * p) + 1:
                pick[nz] = True
        fill = max(0, max_rows - int(pick.sum()))
        rest = np.flatnonzero(~pick)
        pick[rng.choice(rest, size=min(fill, len(rest)), replace=False)] = True
        A = A[pick]
        if len(E) > max_rows:
            E = E[rng.choice(len(E), size=max_rows, replace=False)]
    A = _distinct_rows(np.round(A, 12))
    E = _distinct_rows(np.round(E, 12)) if len(E) else E
    try:
        res = optimize.linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(A)),
                               A_eq=E if len(E) else None, b_eq=np.zeros(len(E)) if len(E) else None,
                               bounds=[(-1, 1)] * p, method="highs")
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or res.x is None or -res.fun <= 1e-7:
        return None
    b = res.x.copy()
    b[np.abs(b) < 1e-9] = 0.0
    margins = full @ b
    tol = 1e-8 * max(1.0, float(np.max(np.abs(b))))
    eq_ok = len(positive) == 0 or float(np.max(np.abs(positive @ b))) <= tol
    if margins.min() < -tol or margins.max() <= 1e-7 or not eq_ok:
        return None
    return b / scale


def fit_firth_logit(X: np.ndarray, y: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10,
                    keep_scores: bool = False) -> GLMFit:
    """Firth's penalised-likelihood logistic regression (Firth 1993; Heinze & Schemper 2002).

    Maximises ``l(b) + 0.5 log det(X'WX)``, which has a finite maximum even under complete or
    quasi-complete separation. Newton steps on the modified score
    ``X'(y - p + h (1/2 - p))`` (``h`` the hat-matrix diagonal), halved while the penalised
    likelihood does not increase. Covariance: inverse information at the estimate (the sandwich
    is not defined for a penalised fit in the same way; this is what logistf reports).
    """
    return fit_firth(X, y, "logit", max_iter=max_iter, tol=tol, keep_scores=keep_scores)


def fit_firth(X: np.ndarray, y: np.ndarray, family: str = "logit", *, offset: np.ndarray | None = None,
              max_iter: int = 200, tol: float = 1e-10, keep_scores: bool = False,
              weights: np.ndarray | None = None) -> GLMFit:
    """Firth's penalised likelihood (Jeffreys-prior penalty) for a logistic or Poisson model.

    Maximises ``l(b) + 0.5 log det(X'WX)`` (``W = p(1-p)`` logistic, ``W = mu`` Poisson), which
    has a finite maximum even when the maximum-likelihood estimate does not exist. Newton steps
    on the modified score ``X'(y - mu + h (1/2 - p))`` (logistic) or ``X'(y - mu + h/2)``
    (Poisson; Firth 1993: as if each count were increased by half its leverage, so a level with
    no events gets a small positive expected count instead of minus infinity), halved while the
    penalised likelihood does not increase.

    Covariance: inverse information at the estimate (as logistf reports); for Poisson it is
    multiplied by the Pearson dispersion when that exceeds 1 (quasi-Poisson), since counts of
    returns are usually overdispersed and the sandwich is not defined for the penalised fit.

    With prior ``weights`` ``a_i`` the penalised likelihood is ``sum a_i l_i + 0.5 log det(X'AWX)``
    (as R's ``logistf(weights=)``): the modified score is ``X'(a (y - mu) + h (1/2 - p))`` with the
    hat diagonal ``h`` of the weighted information; with integer weights it equals the fit on the
    rows repeated. The covariance is the weighted inverse information.
    """
    if family not in ("logit", "poisson_log"):
        raise ValueError(f"family must be 'logit' or 'poisson_log'; got {family!r}.")
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    a = None if weights is None else np.asarray(weights, float)
    beta = np.zeros(p)
    if family == "poisson_log":
        ybar = float(np.mean(y)) if a is None else float(np.sum(a * y) / np.sum(a))
        beta[0] = np.log(max(ybar, 0.5 / max(n, 1))) - float(np.mean(off))
    beta, converged, it = _firth_newton(X, y, family, off, beta, np.arange(p), max_iter, tol, a)
    mu = _mean(family, X @ beta + off)
    w = _firth_w(family, mu) * (1.0 if a is None else a)
    cov = _inv((X * w[:, None]).T @ X)
    r, h = _score_factors(family, y, mu, a)
    H = -weighted_gram(X, h)
    dispersion = 1.0
    if family == "poisson_log":
        pearson = (y - mu) ** 2 / np.clip(mu, 1e-300, None)
        dispersion = float(np.sum(pearson if a is None else a * pearson) / max(n - p, 1))
        cov = cov * max(dispersion, 1.0)
    return GLMFit(family, beta, cov, cov, n, converged, it, "Firth penalised likelihood",
                  dispersion, r if keep_scores else None, H if keep_scores else None)


def _firth_w(family: str, mu: np.ndarray) -> np.ndarray:
    return mu * (1 - mu) if family == "logit" else mu


def _firth_penalised(X, y, family: str, off, b, a=None) -> float:
    """Penalised log-likelihood ``l(b) + 0.5 log det(X'WX)`` (-inf where it is not defined);
    ``sum a_i l_i`` and ``W`` times ``a`` with prior weights."""
    eta = X @ b
    mu = _mean(family, eta + off)
    with np.errstate(all="ignore"):
        if family == "logit":
            li = y * eta - np.logaddexp(0, eta)
        else:
            li = y * (eta + off) - mu
        ll = np.sum(li if a is None else a * li)
    w = _firth_w(family, mu) * (1.0 if a is None else a)
    sign, logdet = np.linalg.slogdet((X * w[:, None]).T @ X)
    return float(ll + 0.5 * logdet) if sign > 0 and np.isfinite(ll) else -np.inf


def _firth_newton(X, y, family: str, off, beta, free, max_iter: int, tol: float, a=None):
    """Maximise the penalised likelihood over the coordinates ``free`` (the others held fixed).

    Newton-type steps on the modified score ``X'(y - mu + h (1/2 - p))`` (logistic) or
    ``X'(y - mu + h/2)`` (Poisson), ``h`` the diagonal of the full model's hat matrix, restricted
    to ``free`` with the matching block of the information; halved while the penalised
    likelihood does not increase. Returns ``(beta, converged, iterations)``.
    """
    beta = np.asarray(beta, float).copy()
    if len(free) == 0:
        return beta, True, 0
    current = _firth_penalised(X, y, family, off, beta, a)
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        mu = _mean(family, X @ beta + off)
        w = _firth_w(family, mu) * (1.0 if a is None else a)
        info = (X * w[:, None]).T @ X
        h = w * _quad_diag(X, info)
        adj = h * (0.5 - mu) if family == "logit" else h / 2
        score = X.T @ ((y - mu) * (1.0 if a is None else a) + adj)
        step_free = _solve_pd(info if len(free) == X.shape[1] else info[np.ix_(free, free)], score[free])
        if step_free is None or not np.all(np.isfinite(step_free)):
            break
        t = 1.0
        cand, value = beta, current
        for _ in range(30):
            cand = beta.copy()
            cand[free] += t * step_free
            value = _firth_penalised(X, y, family, off, cand, a)
            if value >= current - 1e-12:
                break
            t /= 2
        beta, current = cand, value
        if np.max(np.abs(t * step_free)) < tol:
            converged = True
            break
    return beta, converged, it


def _quad_diag(X: np.ndarray, info: np.ndarray) -> np.ndarray:
    """``x_i' info^-1 x_i`` for every row, through the Cholesky factor of ``info``.

    With ``info = L L'``, it is ``|L^-1 x_i|^2``; the rows of ``X L^-T`` are built column by
    column (``p (p + 1) / 2`` vector operations), which on tall, narrow designs is several
    times faster than one small-inner-dimension matrix product.
    """
    try:
        Linv = np.linalg.inv(np.linalg.cholesky(info))  # lower triangular, p x p
    except np.linalg.LinAlgError:
        return np.einsum("ij,jk,ik->i", X, _inv(info), X)
    out = np.zeros(len(X))
    for k in range(X.shape[1]):
        col = X[:, 0] * Linv[k, 0]
        for j in range(1, k + 1):
            col += X[:, j] * Linv[k, j]
        out += col * col
    return out


def firth_profile(X: np.ndarray, y: np.ndarray, fit: GLMFit, *, offset: np.ndarray | None = None,
                  alpha: float = 0.05, max_iter: int = 100, tol: float = 1e-8) -> ProfileCI:
    """Profile penalised-likelihood intervals and tests for a Firth fit (Heinze & Schemper 2002).

    For each coefficient ``b_j``, the profile ``l*_j(v)`` is the penalised log-likelihood
    ``l(b) + 0.5 log det(X'WX)`` maximised over the other coefficients with ``b_j = v`` fixed
    (the penalty is always that of the full model, as in R's ``logistf``). The interval is
    ``{v : 2 (l*(b_hat) - l*_j(v)) <= chi2_1(1 - alpha)}``, its limits found by Brent's method
    after bracketing outwards from the estimate; the p-value is the penalised likelihood-ratio
    test of ``b_j = 0`` on chi-squared with 1 degree of freedom. These intervals are not
    symmetric and, unlike Wald intervals, stay reliable under separation, where the penalised
    likelihood is far from quadratic (Heinze & Schemper 2002). For Poisson, the statistic is
    divided by the Pearson dispersion when it exceeds 1 (quasi-likelihood), consistent with the
    quasi-Poisson covariance of :func:`fit_firth`. A limit that cannot be bracketed within 60
    units of the linear predictor is infinite.

    Parameters
    ----------
    X, y, offset : the data the fit was made on (its own columns).
    fit : GLMFit
        From :func:`fit_firth` on ``X, y``.
    """
    if fit.family not in ("logit", "poisson_log"):
        raise ValueError(f"profile intervals are for Firth logistic or Poisson fits; got {fit.family!r}.")
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    family = fit.family
    top = _firth_penalised(X, y, family, off, fit.params)
    phi = max(fit.dispersion, 1.0) if family == "poisson_log" else 1.0
    crit = float(chdtri(1, alpha))
    low, high, pval = np.full(p, np.nan), np.full(p, np.nan), np.full(p, np.nan)
    if not (np.all(np.isfinite(fit.params)) and np.isfinite(top)):
        return ProfileCI(low, high, pval, alpha)  # no usable maximum to profile from
    for j in range(p):
        try:
            low[j], high[j], pval[j] = _profile_one(X, y, family, off, fit, j, top, phi, crit, max_iter, tol)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue  # left NaN: the caller reports the Wald interval for this coefficient
    return ProfileCI(low, high, pval, alpha)


def _profile_one(X, y, family, off, fit, j, top, phi, crit, max_iter, tol):
    """Profile limits and LR p-value of coefficient ``j`` (see :func:`firth_profile`)."""
    p = X.shape[1]
    free = np.array([k for k in range(p) if k != j], dtype=int)
    start = {"b": fit.params.copy()}

    def stat(v, j=j, free=free, start=start):
        b = start["b"].copy()
        b[j] = v
        b, _, _ = _firth_newton(X, y, family, off, b, free, max_iter, tol)
        value = _firth_penalised(X, y, family, off, b)
        if np.isfinite(value):
            start["b"] = b
        return 2 * (top - value) / phi if np.isfinite(value) else np.inf

    bhat = fit.params[j]
    se = float(np.sqrt(fit.cov[j, j])) if np.isfinite(fit.cov[j, j]) and fit.cov[j, j] > 0 else 1.0
    scale = float(np.max(np.abs(X[:, j]))) or 1.0
    limit = 60.0 / scale  # beyond this the column alone moves the linear predictor by 60
    limits = {}
    for side in (-1, 1):
        start["b"] = fit.params.copy()
        inner, step = bhat, max(se, 1e-3 / scale)
        found = None
        while step <= 2 * limit:
            outer = bhat + side * step
            if stat(outer) - crit > 0:
                found = outer
                break
            inner, step = outer, 2 * step
        if found is None:
            limits[side] = side * np.inf
            continue
        start["b"] = fit.params.copy()
        limits[side] = optimize.brentq(lambda v: stat(v) - crit, min(inner, found), max(inner, found),
                                       xtol=1e-9, rtol=1e-10)
    start["b"] = fit.params.copy()
    return limits[-1], limits[1], float(chdtrc(1, max(stat(0.0), 0.0)))
