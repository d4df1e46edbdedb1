"""Lean GLM fits on a prebuilt design matrix: the fast path behind :mod:`cxanalysis.models`.

Three families with their usual links — logistic (binomial/logit), Gamma with log link, Poisson
with log link and an offset — fitted by iteratively reweighted least squares on the normal
equations (Cholesky of ``X'WX``), plus Firth's penalised logistic regression for separated data.

Standard errors are the robust sandwich ``H^-1 (S'S) H^-1`` (``S`` the per-row scores, ``H`` the
observed Hessian), i.e. HC0, which is what statsmodels computes for ``GLM`` and ``Logit`` under
any of ``cov_type="HC0"`` to ``"HC3"`` (its small-sample factors apply to OLS only).
The tests compare coefficients and standard errors with the plain statsmodels formula fits to
1e-6 relative; this module only exists because those take several times longer on 1M rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg
from scipy.special import expit

__all__ = ["GLMFit", "fit_glm", "fit_firth_logit", "FAMILIES"]

FAMILIES = ("logit", "gamma_log", "poisson_log")


@dataclass
class GLMFit:
    """A fitted GLM: parameters, covariances and what the fit noticed.

    ``cov`` is the HC0 sandwich (the default for inference); ``cov_model`` the model-based
    (inverse information) covariance. ``score_obs`` and ``hessian`` are kept so that several
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
    score_obs: np.ndarray | None = field(default=None, repr=False)
    hessian: np.ndarray | None = field(default=None, repr=False)

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


def _score_and_hessian(family: str, X, y, mu):
    """Per-row scores (n, p) and the observed Hessian of the log-likelihood (scale 1)."""
    if family == "logit":
        r, h = y - mu, mu * (1 - mu)
    elif family == "gamma_log":
        r, h = (y - mu) / mu, y / mu
    else:
        r, h = y - mu, mu
    S = X * r[:, None]
    H = -(X * h[:, None]).T @ X
    return S, H


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    family: str,
    *,
    offset: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
    keep_scores: bool = False,
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
        Keep the per-row scores and the Hessian (for a joint covariance with other models).

    Returns
    -------
    GLMFit
        ``converged`` is False when the iterations did not settle or the coefficients diverged
        (the usual sign of separation in a logistic fit).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}.")
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    ybar = float(np.mean(y))
    beta = np.zeros(p)
    if family == "logit":
        beta[0] = np.log(ybar / (1 - ybar)) if 0 < ybar < 1 else 0.0
    else:
        beta[0] = np.log(max(ybar, 1e-12)) - (float(np.mean(off)) if offset is not None else 0.0)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        eta_lin = X @ beta
        mu = _mean(family, eta_lin + off)
        w, z = _weights_and_working(family, y, mu, eta_lin)
        Xw = X * w[:, None]
        try:
            new = linalg.solve(Xw.T @ X, Xw.T @ z, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        step = np.max(np.abs(new - beta) / (1 + np.abs(beta)))
        beta = new
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 50:
            break
        if step < tol:
            converged = True
            break
    mu = _mean(family, X @ beta + off)
    S, H = _score_and_hessian(family, X, y, mu)
    Hinv = _inv(-H)
    cov = Hinv @ (S.T @ S) @ Hinv
    w, _ = _weights_and_working(family, y, mu, X @ beta)
    info_inv = _inv((X * w[:, None]).T @ X)
    dispersion = float(np.sum((y - mu) ** 2 / _variance(family, mu)) / (n - p))
    cov_model = info_inv * (dispersion if family == "gamma_log" else 1.0)
    return GLMFit(family, beta, cov, cov_model, n, converged, it, "IRLS", dispersion,
                  S if keep_scores else None, H if keep_scores else None)


def _variance(family: str, mu):
    if family == "logit":
        return np.clip(mu * (1 - mu), 1e-300, None)
    if family == "gamma_log":
        return mu**2
    return mu


def _inv(a: np.ndarray) -> np.ndarray:
    try:
        return linalg.inv(a)
    except linalg.LinAlgError:
        return np.linalg.pinv(a)


def fit_firth_logit(X: np.ndarray, y: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10,
                    keep_scores: bool = False) -> GLMFit:
    """Firth's penalised-likelihood logistic regression (Firth 1993; Heinze & Schemper 2002).

    Maximises ``l(b) + 0.5 log det(X'WX)``, which has a finite maximum even under complete or
    quasi-complete separation. Newton steps on the modified score
    ``X'(y - p + h (1/2 - p))`` (``h`` the hat-matrix diagonal), halved while the penalised
    likelihood does not increase. Covariance: inverse information at the estimate (the sandwich
    is not defined for a penalised fit in the same way; this is what logistf reports).
    """
    n, p = X.shape
    beta = np.zeros(p)

    def penalised(b):
        eta = X @ b
        pr = expit(eta)
        w = pr * (1 - pr)
        ll = np.sum(y * eta - np.logaddexp(0, eta))
        sign, logdet = np.linalg.slogdet((X * w[:, None]).T @ X)
        return ll + 0.5 * logdet if sign > 0 else -np.inf

    current = penalised(beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        pr = expit(X @ beta)
        w = pr * (1 - pr)
        info = (X * w[:, None]).T @ X
        info_inv = _inv(info)
        h = w * np.einsum("ij,jk,ik->i", X, info_inv, X)
        step = info_inv @ (X.T @ (y - pr + h * (0.5 - pr)))
        t = 1.0
        for _ in range(30):
            cand = beta + t * step
            value = penalised(cand)
            if value >= current - 1e-12:
                break
            t /= 2
        beta, current = cand, value
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    pr = expit(X @ beta)
    w = pr * (1 - pr)
    cov = _inv((X * w[:, None]).T @ X)
    S, H = _score_and_hessian("logit", X, y, pr)
    return GLMFit("logit", beta, cov, cov, n, converged, it, "Firth penalised likelihood",
                  1.0, S if keep_scores else None, H if keep_scores else None)
