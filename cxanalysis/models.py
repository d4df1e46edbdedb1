"""Does CX move money? Outcome regressions of spend, churn and returns on the CX category.

:class:`OutcomeModels` fits one model per outcome on a design matrix built once
(:mod:`cxanalysis.design`), adjusted for the configured covariates:

* **spend** — Gamma GLM with log link: money is positive and right-skewed with a spread that grows
  with its level (constant coefficient of variation), which is the Gamma variance; the log link
  makes effects ratios and, unlike log-OLS, needs no retransformation (smearing) to get back to
  expected money. When some customers spent nothing, a **two-part model**: a logistic model for
  spending anything, times the Gamma model for the amount among spenders; zeros are modelled,
  not dropped.
* **churn** — logistic regression. Complete or quasi-complete separation (e.g. every passive
  stayed) makes the maximum-likelihood estimate infinite; it is detected and the fit falls back
  to Firth's penalised likelihood, with a warning shown in the report.
* **returns** — Poisson GLM with log link and offset ``log(orders)``, so effects are ratios of
  returns per order; overdispersion (Pearson dispersion > 1) is reported and handled by the
  robust sandwich errors (quasi-Poisson-type inference), which stay valid under any variance.

Robust (sandwich) standard errors throughout. Effects are **counterfactual contrasts averaged
over current passives** (DESIGN.md): the mean predicted outcome of the current passives as if
promoters (or detractors) against as passives, their covariates held fixed; ratios for spend and
returns, percentage points for churn. Intervals by the delta method on the fitted parameters'
covariance (conditional on the current passives' covariates; for ratios on the log scale).
Each effect carries its E-value (VanderWeele & Ding 2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from .design import CX_TERMS, Design, build_design
from .glm import GLMFit, fit_firth_logit, fit_glm
from .segments import nps_category

__all__ = [
    "OutcomeModels",
    "fit_outcome_models",
    "evalue",
    "detect_separation",
    "DEFAULT_COVARIATES",
]

DEFAULT_COVARIATES = ("plan", "region", "tenure_months")
OUTCOMES = ("spend", "churn", "returns")
_COLUMNS = {"spend": ("spend",), "churn": ("churned",), "returns": ("returns", "orders")}
_SCALE = {"spend": "ratio", "churn": "pp", "returns": "ratio"}
_PHRASE = {
    "spend": "expected quarterly spend",
    "churn": "probability of churning in the quarter",
    "returns": "returns per order",
}


def evalue(rr: float, ci_low: float | None = None, ci_high: float | None = None) -> tuple[float, float]:
    """E-value of a risk ratio and of its confidence limit nearest the null.

    VanderWeele & Ding (2017): for ``RR >= 1``, ``E = RR + sqrt(RR (RR - 1))``; for ``RR < 1``
    use ``1 / RR``. The E-value of the interval is 1 when the interval includes 1.

    Examples
    --------
    >>> [round(v, 4) for v in evalue(2.0, 1.5, 2.7)]
    [3.4142, 2.366]
    """
    def e(r: float) -> float:
        if not np.isfinite(r) or r <= 0:
            return float("nan")
        r = 1 / r if r < 1 else r
        return float(r + np.sqrt(r * (r - 1)))

    est = e(rr)
    if ci_low is None or ci_high is None:
        return est, float("nan")
    if ci_low <= 1 <= ci_high:
        return est, 1.0
    return est, e(ci_low if rr >= 1 else ci_high)


def detect_separation(X: np.ndarray, y: np.ndarray, names: list[str]) -> list[str]:
    """Dummy columns within which the binary outcome never varies (quasi-complete separation).

    Also checks the reference group of the CX category (all CX dummies 0). Returns readable
    descriptions, empty when none is found.
    """
    found = []
    for j, name in enumerate(names):
        col = X[:, j]
        if name == "Intercept" or not np.isin(col, (0.0, 1.0)).all():
            continue
        sel = col == 1
        if sel.any() and (y[sel].min() == y[sel].max()):
            found.append(f"all {int(sel.sum()):,} customers with {name} have churned = {int(y[sel][0])}")
    cx = [names.index(t) for t in CX_TERMS if t in names]
    if cx:
        ref = (X[:, cx] == 0).all(axis=1)
        if ref.any() and y[ref].min() == y[ref].max():
            found.append(f"all {int(ref.sum()):,} passives have churned = {int(y[ref][0])}")
    return found


@dataclass
class _Outcome:
    """One fitted outcome model (one or two parts) on rows of the shared design."""

    outcome: str
    parts: dict[str, GLMFit]
    rows: dict[str, np.ndarray]  # part -> design-row positions used
    method: str
    n: int
    notes: list[str] = field(default_factory=list)
    flagged: bool = False

    @property
    def params(self) -> np.ndarray:
        return np.concatenate([p.params for p in self.parts.values()])

    @property
    def cov(self) -> np.ndarray:
        from scipy.linalg import block_diag

        return block_diag(*[p.cov for p in self.parts.values()])


class _RowView:
    """``X[rows]`` without a copy when ``rows`` is every row; column-major otherwise."""

    def __init__(self, X: np.ndarray):
        self.X = X

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == len(self.X):
            return self.X
        return np.asfortranarray(self.X[rows])


def _mean_and_grad(outcome: _Outcome, X: np.ndarray, mult: np.ndarray | None, params=None):
    """Mean prediction over the rows of ``X`` and its gradient in the outcome's parameters."""
    theta = outcome.params if params is None else params
    n = len(X)
    if outcome.outcome == "spend" and "any" in outcome.parts:
        p = X.shape[1]
        g, b = theta[:p], theta[p:]
        pr, m = expit(X @ g), np.exp(X @ b)
        value = float(np.mean(pr * m))
        grad = np.concatenate([X.T @ (pr * (1 - pr) * m) / n, X.T @ (pr * m) / n])
        return value, grad
    eta = X @ theta
    if outcome.outcome == "churn":
        pr = expit(eta)
        return float(pr.mean()), X.T @ (pr * (1 - pr)) / n
    mu = np.exp(eta) * (1.0 if mult is None else mult)
    return float(mu.mean()), X.T @ mu / n


class OutcomeModels:
    """Spend, churn and returns regressed on the CX category, adjusted for covariates.

    Parameters
    ----------
    covariates : list of str
        Adjusted for in every model (categorical -> dummies, numeric -> linear).
    score : str
        Column defining the CX category (and the per-point models).
    promoter_min, detractor_max : float
        Category thresholds on ``score``.
    alpha : float
        1 - confidence level.
    keep_scores : bool
        Keep per-row scores for :meth:`joint_covariance` (needed by the ROI).
    per_point : bool
        Also fit the models with the score as a number (the ``per_point`` effects).

    Attributes
    ----------
    design_ : Design
        The shared design matrix (CX category + covariates, complete cases).
    outcomes_ : dict
        Outcome -> fitted model (category models).
    per_point_ : dict
        Outcome -> fitted model with the score as a number.
    skipped_ : dict
        Outcome -> why it was not fitted.
    warnings_ : list of str
        What a reader must know (separation, dropped covariates, overdispersion).
    passives_ : ndarray
        Design rows of the current passives.
    """

    def __init__(self, *, covariates=DEFAULT_COVARIATES, score: str = "nps_score",
                 promoter_min: float = 9, detractor_max: float = 6, alpha: float = 0.05,
                 keep_scores: bool = False, per_point: bool = True):
        self.covariates = list(covariates)
        self.per_point = per_point
        self.score = score
        self.promoter_min = promoter_min
        self.detractor_max = detractor_max
        self.alpha = alpha
        self.keep_scores = keep_scores

    # ------------------------------------------------------------------ fitting
    def fit(self, data: pd.DataFrame) -> OutcomeModels:
        """Fit every outcome whose columns are present. Returns ``self``."""
        self.warnings_: list[str] = []
        self.skipped_: dict[str, str] = {}
        self._effects = None
        data = data.reset_index(drop=True)
        data = data.assign(cx_category=nps_category(data[self.score], promoter_min=self.promoter_min,
                                                    detractor_max=self.detractor_max))
        covs = []
        for c in self.covariates:
            if c not in data or data[c].notna().sum() == 0:
                self.warnings_.append(f"Covariate {c!r} is not in the data: not adjusted for.")
            elif data[c].nunique() < 2:
                self.warnings_.append(f"Covariate {c!r} has a single value: not adjusted for.")
            else:
                covs.append(c)
        self.covariates_ = covs
        needed = {"cx_category", self.score, *covs, "spend", "churned", "returns", "orders"}
        self.data_ = data[[c for c in data.columns if c in needed]]
        self.design_ = self._full_rank(build_design(data, covariates=covs))
        self.score_design_ = (self._full_rank(build_design(data, covariates=covs, cx="score", score=self.score))
                              if self.per_point else None)
        if self.design_.n_dropped:
            self.warnings_.append(
                f"{self.design_.n_dropped:,} customers lack the CX score or a covariate and are left out of the models.")
        cat = data["cx_category"].to_numpy()[self.design_.rows]
        self.passives_ = np.flatnonzero(cat == "passive")
        self.outcomes_: dict[str, _Outcome] = {}
        self.per_point_: dict[str, _Outcome] = {}
        for outcome in OUTCOMES:
            missing = [c for c in _COLUMNS[outcome] if c not in data or data[c].notna().sum() == 0]
            if missing:
                self.skipped_[outcome] = f"no {', '.join(missing)} column"
                continue
            if len(self.passives_) == 0:
                self.skipped_[outcome] = "no passives in the data: nothing to compare with"
                continue
            self.outcomes_[outcome] = self._fit_one(outcome, self.design_)
            if self.per_point:
                self.per_point_[outcome] = self._fit_one(outcome, self.score_design_)
        if self.keep_scores and self.outcomes_:
            self.joint_cov_ = self.joint_covariance()
            for fit in [*self.outcomes_.values(), *self.per_point_.values()]:
                for part in fit.parts.values():
                    part.score_obs = part.hessian = None
        return self

    def _full_rank(self, design: Design) -> Design:
        X = design.X
        gram = X.T @ X  # one pass; rank checks on its sub-matrices
        keep = [0]
        for j in range(1, X.shape[1]):
            if np.ptp(X[:, j]) == 0:
                continue
            trial = keep + [j]
            if np.linalg.matrix_rank(gram[np.ix_(trial, trial)]) == len(trial):
                keep = trial
        if len(keep) < X.shape[1]:
            dropped = [design.names[j] for j in range(X.shape[1]) if j not in keep]
            self.warnings_.append(f"Terms dropped as constant or collinear: {', '.join(dropped)}.")
            return Design(np.asfortranarray(X[:, keep]), [design.names[j] for j in keep], design.rows,
                          design.n_dropped, design.cx, design.labels)
        return design

    def _rows_with(self, design: Design, *cols: str) -> np.ndarray:
        ok = np.ones(len(design.rows), dtype=bool)
        for c in cols:
            ok &= self.data_[c].notna().to_numpy()[design.rows]
        return np.flatnonzero(ok)

    def _fit_one(self, outcome: str, design: Design) -> _Outcome:
        data, ks = self.data_, self.keep_scores
        X = _RowView(design.X)
        per_point = design.cx == "score"
        if outcome == "spend":
            r = self._rows_with(design, "spend")
            y = data["spend"].to_numpy(float)[design.rows][r]
            zeros = int((y == 0).sum())
            if zeros:
                pos = r[y > 0]
                any_fit = fit_glm(X[r], (y > 0).astype(float), "logit", keep_scores=ks)
                amt = fit_glm(X[pos], y[y > 0], "gamma_log", keep_scores=ks)
                res = _Outcome("spend", {"any": any_fit, "amount": amt}, {"any": r, "amount": pos},
                               "two-part: logistic (any spend) x Gamma GLM, log link (amount)", len(r))
                if not per_point:
                    res.notes.append(f"{zeros:,} customers ({zeros / len(r):.1%}) spent nothing: modelled by the "
                                     "first part, not dropped.")
            else:
                res = _Outcome("spend", {"main": fit_glm(X[r], y, "gamma_log", keep_scores=ks)}, {"main": r},
                               "Gamma GLM, log link", len(r))
        elif outcome == "churn":
            r = self._rows_with(design, "churned")
            y = data["churned"].to_numpy(float)[design.rows][r]
            Xr = X[r]
            sep = detect_separation(Xr, y, design.names)
            fit = None if sep else fit_glm(Xr, y, "logit", keep_scores=ks)
            if fit is None or not fit.converged:
                reason = "; ".join(sep) if sep else "the likelihood has no finite maximum (coefficients diverge)"
                fit = fit_firth_logit(Xr, y, keep_scores=ks)
                res = _Outcome("churn", {"main": fit}, {"main": r}, "Firth penalised logistic regression", len(r),
                               flagged=True)
                what = "per-point" if per_point else "category"
                self.warnings_.append(
                    f"Churn ({what} model): separation — {reason}. Maximum likelihood would give infinite "
                    "coefficients; estimates are from Firth's penalised likelihood (finite, shrunk towards no "
                    "effect). Treat churn effects as indicative.")
            else:
                res = _Outcome("churn", {"main": fit}, {"main": r}, "logistic regression", len(r))
        else:
            r = self._rows_with(design, "returns", "orders")
            orders = data["orders"].to_numpy(float)[design.rows][r]
            at_risk = r[orders > 0]
            y = data["returns"].to_numpy(float)[design.rows][at_risk]
            fit = fit_glm(X[at_risk], y, "poisson_log", offset=np.log(orders[orders > 0]), keep_scores=ks)
            res = _Outcome("returns", {"main": fit}, {"main": at_risk},
                           "Poisson GLM, log link, offset log(orders)", len(at_risk))
            if not per_point:
                if (orders == 0).any():
                    res.notes.append(f"{int((orders == 0).sum()):,} customers with no order cannot return: "
                                     "not at risk, left out of the returns model.")
                disp = fit.dispersion
                res.notes.append(
                    f"Pearson dispersion {disp:.2f}: "
                    + ("overdispersed; the robust (sandwich) errors keep inference valid (quasi-Poisson-type)."
                       if disp > 1.1 else "no material overdispersion."))
        for part in res.parts.values():
            if not part.converged and part.method == "IRLS":
                self.warnings_.append(f"{outcome} model did not converge: treat its estimates with caution.")
        return res

    # ------------------------------------------------------------------ effects
    def _contrast_rows(self, design: Design, outcome: _Outcome, subset: np.ndarray):
        X = design.X[subset]
        mult = None
        if outcome.outcome == "returns":
            mult = self.data_["orders"].to_numpy(float)[design.rows][subset]
            ok = ~np.isnan(mult)
            X, mult = X[ok], mult[ok]
        return X, mult

    def _as_category(self, X: np.ndarray, category: str) -> np.ndarray:
        X = X.copy()
        d, p = self.design_.col(CX_TERMS[0]), self.design_.col(CX_TERMS[1])
        X[:, d] = 1.0 if category == "detractor" else 0.0
        X[:, p] = 1.0 if category == "promoter" else 0.0
        return X

    def passive_means(self, outcome: str) -> dict[str, tuple[float, np.ndarray]]:
        """Mean predicted outcome of the current passives as each category, with gradients."""
        fit = self.outcomes_[outcome]
        X, mult = self._contrast_rows(self.design_, fit, self.passives_)
        return {c: _mean_and_grad(fit, self._as_category(X, c), mult) for c in ("detractor", "passive", "promoter")}

    def _contrast(self, fit: _Outcome, a, b, scale: str):
        (va, ga), (vb, gb) = a, b
        V = fit.cov
        z = stats.norm.ppf(1 - self.alpha / 2)
        if scale == "ratio":
            est = va / vb
            g = ga / va - gb / vb
            se = float(np.sqrt(g @ V @ g))
            zstat = np.log(est) / se
            return est, est * np.exp(-z * se), est * np.exp(z * se), 2 * stats.norm.sf(abs(zstat))
        est = 100 * (va - vb)
        g = ga - gb
        se = 100 * float(np.sqrt(g @ V @ g))
        return est, est - z * se, est + z * se, 2 * stats.norm.sf(abs(est / se))

    def effects(self) -> pd.DataFrame:
        """The counterfactual effects, per outcome and contrast.

        Returns
        -------
        DataFrame
            ``outcome, contrast, estimate, ci_low, ci_high, scale, p_value, rr, rr_ci_low,
            rr_ci_high, evalue, evalue_ci, n, method, flagged, estimand``. ``contrast`` is
            ``promoter_vs_passive``, ``detractor_vs_passive`` or ``per_point``; ``scale`` is
            ``ratio`` (spend, returns) or ``pp`` (churn). ``rr`` is the risk ratio behind the
            E-value (for churn, mean churn as promoter / as passive).
        """
        if self._effects is not None:
            return self._effects.copy()
        rows = []
        covs = ", ".join(self.covariates_) or "nothing"
        for outcome, fit in self.outcomes_.items():
            means = self.passive_means(outcome)
            scale = _SCALE[outcome]
            for cat in ("promoter", "detractor"):
                est, lo, hi, p = self._contrast(fit, means[cat], means["passive"], scale)
                rr, rr_lo, rr_hi, _ = self._contrast(fit, means[cat], means["passive"], "ratio")
                ev, ev_ci = evalue(rr, rr_lo, rr_hi)
                rows.append(dict(
                    outcome=outcome, contrast=f"{cat}_vs_passive", estimate=est, ci_low=lo, ci_high=hi,
                    scale=scale, p_value=p, rr=rr, rr_ci_low=rr_lo, rr_ci_high=rr_hi, evalue=ev, evalue_ci=ev_ci,
                    n=fit.n, method=fit.method, flagged=fit.flagged,
                    estimand=(f"Among the {len(self.passives_):,} current passives, the average {_PHRASE[outcome]} "
                              f"if they were {cat}s, against as passives, holding {covs} fixed."),
                ))
            if outcome not in self.per_point_:
                continue
            pp = self.per_point_[outcome]
            X, mult = self._contrast_rows(self.score_design_, pp, np.arange(len(self.score_design_.rows)))
            X1 = X.copy()
            X1[:, self.score_design_.col(self.score)] += 1
            plus_one, as_is = _mean_and_grad(pp, X1, mult), _mean_and_grad(pp, X, mult)
            est, lo, hi, p = self._contrast(pp, plus_one, as_is, scale)
            rr, rr_lo, rr_hi, _ = self._contrast(pp, plus_one, as_is, "ratio")
            ev, ev_ci = evalue(rr, rr_lo, rr_hi)
            rows.append(dict(
                outcome=outcome, contrast="per_point", estimate=est, ci_low=lo, ci_high=hi, scale=scale,
                p_value=p, rr=rr, rr_ci_low=rr_lo, rr_ci_high=rr_hi, evalue=ev, evalue_ci=ev_ci, n=pp.n,
                method=pp.method, flagged=pp.flagged,
                estimand=(f"Over all customers, the average change in {_PHRASE[outcome]} for one more point of "
                          f"{self.score}, holding {covs} fixed."),
            ))
        self._effects = pd.DataFrame(rows)  # computed once per fit; callers get a copy
        return self._effects.copy()

    @property
    def summary(self) -> pd.DataFrame:
        """Same as :meth:`effects`."""
        return self.effects()

    def to_results(self) -> dict:
        """``effects`` for results.json: outcome -> contrast -> estimate, CI, scale (DESIGN.md)."""
        out: dict = {}
        for r in self.effects().itertuples():
            if r.contrast == "per_point":
                continue
            out.setdefault(r.outcome, {})[r.contrast] = {
                "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "scale": r.scale,
                "p_value": r.p_value, "evalue": r.evalue, "evalue_ci": r.evalue_ci, "method": r.method,
                "flagged": bool(r.flagged), "n": int(r.n)}
        return out

    def predicted_by_category(self, outcome: str) -> pd.DataFrame:
        """Mean predicted outcome of current passives as each category, with a 95% CI.

        Returns ``category, estimate, ci_low, ci_high`` (churn in %, others in their unit).
        """
        fit = self.outcomes_[outcome]
        z = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for cat, (v, g) in self.passive_means(outcome).items():
            se = float(np.sqrt(g @ fit.cov @ g))
            if outcome == "churn":
                rows.append(dict(category=cat, estimate=100 * v, ci_low=100 * max(v - z * se, 0), ci_high=100 * min(v + z * se, 1)))
            else:
                rows.append(dict(category=cat, estimate=v, ci_low=v * np.exp(-z * se / v), ci_high=v * np.exp(z * se / v)))
        return pd.DataFrame(rows)

    def coefficients(self, outcome: str | None = None) -> pd.DataFrame:
        """Tidy coefficient tables with business-readable labels.

        Returns
        -------
        DataFrame
            ``outcome, part, term, label, coef, se, p_value, ratio, ratio_ci_low, ratio_ci_high,
            ratio_kind`` — ``ratio`` is ``exp(coef)``: a multiplier of expected spend or returns
            per order, or an odds ratio for churn and for "any spend".
        """
        z = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for name, fit in self.outcomes_.items():
            if outcome is not None and name != outcome:
                continue
            for part, f in fit.parts.items():
                kind = "odds ratio" if f.family == "logit" else "ratio"
                for j, term in enumerate(self.design_.names):
                    b, se = f.params[j], f.bse[j]
                    rows.append(dict(outcome=name, part=part, term=term, label=self.design_.labels.get(term, term),
                                     coef=b, se=se, p_value=2 * stats.norm.sf(abs(b / se)), ratio=np.exp(b),
                                     ratio_ci_low=np.exp(b - z * se), ratio_ci_high=np.exp(b + z * se), ratio_kind=kind))
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ diagnostics
    def calibration(self, bins: int = 10) -> pd.DataFrame:
        """Churn calibration: predicted vs observed churn by decile of predicted risk."""
        fit = self.outcomes_["churn"]
        r = fit.rows["main"]
        p = expit(self.design_.X[r] @ fit.params)
        y = self.data_["churned"].to_numpy(float)[self.design_.rows][r]
        q = pd.qcut(p, bins, labels=False, duplicates="drop")
        t = pd.DataFrame({"bin": q, "predicted": p, "observed": y}).groupby("bin").agg(
            predicted=("predicted", "mean"), observed=("observed", "mean"), n=("observed", "size"))
        return t.reset_index()

    def residuals(self, outcome: str = "spend", max_points: int = 4000, random_state: int = 0) -> pd.DataFrame:
        """Fitted values and Pearson residuals of the (amount part of the) model, sampled."""
        fit = self.outcomes_[outcome]
        part = "amount" if "amount" in fit.parts else "main"
        f, r = fit.parts[part], fit.rows[part]
        col = {"spend": "spend", "returns": "returns", "churn": "churned"}[outcome]
        y = self.data_[col].to_numpy(float)[self.design_.rows][r]
        eta = self.design_.X[r] @ f.params
        if outcome == "returns":
            eta = eta + np.log(self.data_["orders"].to_numpy(float)[self.design_.rows][r])
        mu = np.exp(eta) if f.family != "logit" else expit(eta)
        var = {"gamma_log": mu**2, "poisson_log": mu, "logit": mu * (1 - mu)}[f.family]
        resid = (y - mu) / np.sqrt(var)
        rng = np.random.default_rng(random_state)
        idx = rng.choice(len(mu), size=min(max_points, len(mu)), replace=False)
        return pd.DataFrame({"fitted": mu[idx], "pearson_residual": resid[idx]})

    # ------------------------------------------------------------------ joint covariance (ROI)
    def joint_covariance(self) -> tuple[list[tuple[str, str]], np.ndarray]:
        """Stacked sandwich covariance of every part of every category model.

        The models share customers, so their estimates are correlated; stacking their estimating
        equations gives ``V = B^-1 (S'S) B^-1`` with ``B`` block-diagonal (each part's Hessian) and
        ``S`` the per-customer scores of all parts side by side (zeros where a customer is not in
        a part). Diagonal blocks equal each model's own sandwich; a Firth fit keeps its model-based
        block and no cross-terms. Requires ``keep_scores=True``.

        Returns
        -------
        parts : list of (outcome, part)
        V : ndarray

        Computed once, at the end of :meth:`fit` (the per-row scores are then released).
        """
        if getattr(self, "joint_cov_", None) is not None:
            return self.joint_cov_
        parts, blocks_S, blocks_Hinv, sizes, firth = [], [], [], [], []
        n = len(self.design_.rows)
        for name, fit in self.outcomes_.items():
            for part, f in fit.parts.items():
                if f.score_obs is None:
                    raise ValueError("joint_covariance needs OutcomeModels(keep_scores=True).")
                S = np.zeros((n, len(f.params)))
                S[fit.rows[part]] = f.score_obs
                parts.append((name, part))
                blocks_S.append(S)
                blocks_Hinv.append(np.linalg.inv(-f.hessian))
                sizes.append(len(f.params))
                firth.append(f.method != "IRLS")
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        V = np.zeros((offsets[-1], offsets[-1]))
        for i in range(len(parts)):
            for j in range(i, len(parts)):
                si, sj = slice(offsets[i], offsets[i + 1]), slice(offsets[j], offsets[j + 1])
                if firth[i] or firth[j]:
                    if i == j:
                        fit = self.outcomes_[parts[i][0]].parts[parts[i][1]]
                        V[si, si] = fit.cov
                    continue
                block = blocks_Hinv[i] @ (blocks_S[i].T @ blocks_S[j]) @ blocks_Hinv[j]
                V[si, sj] = block
                V[sj, si] = block.T
        return parts, V

    # ------------------------------------------------------------------ display
    def _repr_html_(self) -> str:
        if not hasattr(self, "outcomes_"):
            return "<p>OutcomeModels (not fitted)</p>"
        t = self.effects()[["outcome", "contrast", "estimate", "ci_low", "ci_high", "scale", "p_value", "evalue"]]
        return t.to_html(index=False, float_format=lambda v: f"{v:.3f}")

    def plot(self, ax=None):
        """Forest plot of the category effects; returns the Axes."""
        from .plots import forest

        return forest(forest_table(self.effects()), ax=ax)


def forest_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Rows for :func:`cxanalysis.plots.forest` from :meth:`OutcomeModels.effects`."""
    t = effects[effects["contrast"] != "per_point"].copy()
    unit = {"ratio": "ratio", "pp": "pp"}
    t["label"] = [f"{o}: {c.split('_vs_')[0]} vs passive ({unit[s]})" for o, c, s in
                  zip(t["outcome"], t["contrast"], t["scale"], strict=True)]
    t["null"] = np.where(t["scale"] == "ratio", 1.0, 0.0)
    return t[["label", "estimate", "ci_low", "ci_high", "null", "scale"]]


def fit_outcome_models(data: pd.DataFrame, config, *, keep_scores: bool = True) -> OutcomeModels:
    """Fit :class:`OutcomeModels` with the configuration's covariates and categories.

    ``covariates: null`` in the config means those of plan, region and tenure_months present.
    """
    covs = config.covariates
    if covs is None:
        covs = [c for c in DEFAULT_COVARIATES if c in data]
    cats = config.categories
    return OutcomeModels(covariates=covs, score=cats["score"], promoter_min=cats["promoter_min"],
                         detractor_max=cats["detractor_max"], alpha=config.alpha,
                         keep_scores=keep_scores).fit(data)
