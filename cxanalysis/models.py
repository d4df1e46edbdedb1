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

**Separation and flags.** Every logistic part (any spend, churn) and the Poisson returns model
get the same handling: empty or constant dummies (and collinear terms) are removed on the part's
own rows, with a note; separation is checked by a linear programme that does not depend on any
column's units (:func:`cxanalysis.glm.find_separation`); near-separation is caught after the
maximum-likelihood fit by three unit-free signs: a fitted probability within 1e-8 of 0 or 1, a
robust standard error below half the model-based one (the sandwich collapses where the
information vanishes), or one term moving the log-odds by more than 10 (odds ratio > 22,000)
across the central 98% of its values. Any of these refits the part by Firth's penalised
likelihood (finite, shrunk towards no effect), sets ``flagged`` on its effects with the cause in
words (``flag_reason``) and adds a warning; a flagged effect has no E-value (NaN). A Poisson
returns model with a level or category without any return (its MLE is minus infinity) is refitted
by Firth's (Jeffreys-prior) penalised Poisson likelihood — the standard bias-reducing fix for
log-linear models, which always has a finite maximum — with a quasi-Poisson covariance, and
flagged the same way.

**Minimum sizes.** An outcome model is fitted only with at least ``MIN_ROWS`` (30) customers with
the outcome, at least ``MIN_PER_CATEGORY`` (10) passives among them and, for churn, at least
``MIN_EVENTS`` (5) churners and 5 stayers (returns: 5 customers with a return; spend: 30 who spent
something, and the any-spend part only with 5 who spent nothing — with fewer it is intercept-only,
noted). A contrast is estimated only with at least 10 customers of its category with the outcome.
Below these, the outcome or contrast is skipped with the reason in ``skipped_``: outcome keys are
``"spend"``, ``"churn"``, ``"returns"``; contrast keys ``"<outcome>.<contrast>"`` (e.g.
``"churn.detractor_vs_passive": "no detractors in the data"``); a skipped contrast is absent from
:meth:`OutcomeModels.effects` and ``to_results``.

Robust (sandwich) standard errors throughout. Effects are **counterfactual contrasts averaged
over current passives** (DESIGN.md): the mean predicted outcome of the current passives as if
promoters (or detractors) against as passives, their covariates held fixed; ratios for spend and
returns, percentage points for churn. Intervals by the delta method on the fitted parameters'
covariance (conditional on the current passives' covariates; for ratios on the log scale).

**Firth fits.** A penalised (Firth) part is reported in :meth:`OutcomeModels.coefficients` with
profile penalised-likelihood intervals and penalised likelihood-ratio p-values, as R's logistf
reports them (:func:`cxanalysis.glm.firth_profile`; ``ci_method`` says which; above
``PROFILE_MAX_CELLS`` they stay model-based Wald). Its counterfactual effects remain delta-method
intervals on the penalised fit's model-based covariance, and their ``method`` text says so.

**Per-point effects** (``contrast = "per_point"``, the score entered as a number): among the
customers below the top of the score's scale, the average outcome if each scored one point more
(capped at the top: a customer at 9.5 of 10 gains half a point), against as they are. Customers
already at the top cannot gain a point and are left out, so no counterfactual score ever leaves
the scale (``score_scale_``: the configured scale, 0-10 for NPS). This is the discrete analogue of
an average marginal effect, on the customers for whom one more point is possible.

**E-values** (VanderWeele & Ding 2017): the minimum risk-ratio association an unmeasured
confounder would need with both the CX category and the outcome to explain the effect away,
``E = RR + sqrt(RR (RR - 1))`` (``1 / RR`` when ``RR < 1``), and the same for the interval limit
nearest 1 (1 when the interval includes 1). The risk ratio ``rr`` behind it depends on the scale:

* churn (``scale = "pp"``): the percentage-point difference is converted to the risk ratio of the
  same contrast, mean predicted churn as promoter (detractor) over as passive, with its own
  delta-method interval on the log scale. Churn is binary, so this is a true risk ratio: no
  odds-ratio conversion (``sqrt(OR)`` for common outcomes) is needed.
* returns (``scale = "ratio"``): the ratio of returns per order, a rate ratio, used as the risk
  ratio; returns are rare per order, where VanderWeele & Ding treat rate ratios as risk ratios.
* spend (``scale = "ratio"``): the ratio of mean spend is used *as if it were* a risk ratio. This is
  an approximation: the E-value's bound is derived for risk ratios, and spend is continuous.
  VanderWeele & Ding's own conversion for continuous outcomes (standardised mean difference
  ``d``, ``RR ~ exp(0.91 d)``) would give a different (usually smaller) E-value; the ratio is kept
  because it is the scale of the reported effect. Read spend E-values as indicative.

A flagged effect (separation, near-separation, no computable interval) has no E-value (NaN):
the penalised estimate is shrunk towards no effect and its E-value would lend it a precision it
does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit

from .design import CX_TERMS, MAY_FOLLOW_THE_SCORE, Design, build_design, term_of
from .glm import (
    GLMFit,
    ProfileCI,
    find_separation,
    firth_profile,
    fit_firth,
    fit_glm,
    row_cells,
    safe_inv,
    weighted_gram,
)
from .metrics import wilson_interval
from .segments import nps_category

__all__ = [
    "OutcomeModels",
    "fit_outcome_models",
    "evalue",
    "effect_direction",
    "EXPECTED",
    "mover_interval",
    "newcombe_interval",
    "detect_separation",
    "DEFAULT_COVARIATES",
    "MIN_ROWS",
    "MIN_PER_CATEGORY",
    "MIN_EVENTS",
    "PROFILE_MAX_CELLS",
]

MIN_ROWS = 30
MIN_PER_CATEGORY = 10
MIN_EVENTS = 5
#: Firth parts with more design cells (rows x columns^2) than this get Wald intervals in
#: :meth:`OutcomeModels.coefficients` instead of profile ones: each profile limit refits the model
#: some ten times, so 5M cells (60,000 customers with 9 terms) take about 10-20 s.
PROFILE_MAX_CELLS = 5_000_000

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


#: How far observed spend may sit from predicted spend, within a tenth of predicted spend, before
#: :meth:`OutcomeModels.spend_calibration` calls the tenth missed (when beyond chance too).
CALIBRATION_TOLERANCE = 0.05

#: How a models warning ends when the respondents left out churn differently beyond chance (the
#: summary's "Read before acting" carries such a warning).
LEFT_OUT_DIFFERS = "the effects describe the customers with complete data, who churn differently."

#: The direction a better experience is expected to move each outcome: +1 up (spend), -1 down
#: (churn, returns), for promoters against passives and per point of the score (detractors: the opposite).
EXPECTED = {"spend": 1, "churn": -1, "returns": -1}


def effect_direction(outcome: str, contrast: str, ci_low: float, ci_high: float, scale: str) -> str:
    """Whether an effect's whole 95% interval runs the way a better experience is expected to move
    the outcome (:data:`EXPECTED`): ``"expected"``, ``"unexpected"``, or ``"undetermined"`` when
    the interval holds no effect (or is not finite).

    Examples
    --------
    >>> effect_direction("spend", "promoter_vs_passive", 0.84, 0.91, "ratio")
    'unexpected'
    >>> effect_direction("churn", "detractor_vs_passive", 1.2, 8.0, "pp"), effect_direction("churn", "per_point", -1, 2, "pp")
    ('expected', 'undetermined')
    """
    if outcome not in EXPECTED or not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "undetermined"
    null = 1.0 if scale == "ratio" else 0.0
    sign = -EXPECTED[outcome] if contrast.startswith("detractor") else EXPECTED[outcome]
    if ci_low > null:
        return "expected" if sign > 0 else "unexpected"
    if ci_high < null:
        return "expected" if sign < 0 else "unexpected"
    return "undetermined"


def mover_interval(p1: float, ci1: tuple[float, float], p2: float, ci2: tuple[float, float]) -> tuple[float, float]:
    """The interval of ``p1 - p2`` recovered from each one's own interval (MOVER: Zou and Donner
    2008; with two Wilson intervals it is Newcombe's hybrid score interval). The two estimates
    must be independent, or nearly so.

    Examples
    --------
    >>> [round(v, 2) for v in mover_interval(0.3, (0.25, 0.35), 0.0, (0.0, 0.01))]
    [0.25, 0.35]
    """
    (l1, u1), (l2, u2), d = ci1, ci2, p1 - p2
    return d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2))


def newcombe_interval(p1: float, n1: float, p2: float, n2: float, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for the difference of two proportions
    ``p1 - p2`` observed on ``n1`` and ``n2`` (effective) customers, from each one's Wilson interval.

    Examples
    --------
    >>> [round(100 * v, 2) for v in newcombe_interval(0.0, 1149, 0.0, 1789)]
    [-0.21, 0.33]
    """
    return mover_interval(p1, wilson_interval(p1 * n1, n1, alpha), p2, wilson_interval(p2 * n2, n2, alpha))


def detect_separation(X: np.ndarray, y: np.ndarray, names: list[str], outcome: str = "churned") -> list[str]:
    """Dummy columns within which the binary outcome never varies (quasi-complete separation).

    Also checks the reference group of the CX category (all CX dummies 0). Returns readable
    descriptions, empty when none is found. (Only the readable part: whether separation exists at
    all, including through combinations of terms, is :func:`cxanalysis.glm.find_separation`'s job.)
    """
    did, did_not = _DID.get(outcome, (f"had {outcome} = 1", f"had {outcome} = 0"))

    def said(n: int, one: str, many: str, value: float) -> str:  # "none of the 1,149 promoters churned"
        if n == 1:
            return f"the one {one} {did if value == 1 else did_not}"
        return f"{'all' if value == 1 else 'none'} of the {n:,} {many} {did}"

    found = []
    for j, name in enumerate(names):
        col = X[:, j]
        if name == "Intercept" or not np.isin(col, (0.0, 1.0)).all():
            continue
        sel = col == 1
        if sel.any() and (y[sel].min() == y[sel].max()):
            one, many = ((name[5:-1], name[5:-1] + "s") if name in CX_TERMS else
                         (f"customer with {_words(name)}", f"customers with {_words(name)}"))
            found.append(said(int(sel.sum()), one, many, y[sel][0]))
    cx = [names.index(t) for t in CX_TERMS if t in names]
    if cx:
        ref = (X[:, cx] == 0).all(axis=1)
        if ref.any() and y[ref].min() == y[ref].max():
            found.append(said(int(ref.sum()), "passive", "passives", y[ref][0]))
    return found


#: How a binary outcome reads in the separation notes, (did, did not): "all of the N detractors
#: churned", "none of the N promoters churned" (every one stayed), "the one passive did not churn".
_DID = {"churned": ("churned", "did not churn"), "any spend": ("spent something", "spent nothing")}


def _words(name: str) -> str:
    """``cx[T.promoter]`` -> ``promoter``; ``plan[T.Pro]`` -> ``plan Pro``; others unchanged."""
    if name.startswith("cx[T."):
        return name[5:-1]
    if "[T." in name and name.endswith("]"):
        col, level = name[:-1].split("[T.", 1)
        return f"{col} {level}"
    return name


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
    flag_reasons: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # contrast -> reason

    @property
    def params(self) -> np.ndarray:
        return np.concatenate([p.params for p in self.parts.values()])

    @property
    def cov(self) -> np.ndarray:
        from scipy.linalg import block_diag

        return block_diag(*[p.cov for p in self.parts.values()])


def _independent_columns(X: np.ndarray) -> np.ndarray:
    """Intercept plus each later column that is not constant and not collinear with those kept."""
    if len(X) == 0:
        return np.array([0])
    gram = X.T @ X  # one pass; rank checks on its (scaled) sub-matrices
    d = np.sqrt(np.clip(np.diag(gram), 1e-300, None))
    corr = gram / np.outer(d, d)
    keep = [0]
    for j in range(1, X.shape[1]):
        if np.ptp(X[:, j]) == 0:
            continue
        trial = keep + [j]
        if np.linalg.matrix_rank(corr[np.ix_(trial, trial)], tol=1e-10) == len(trial):
            keep = trial
    return np.array(keep)


def _embed(fit: GLMFit, keep: np.ndarray, p: int) -> GLMFit:
    """A fit on columns ``keep`` written in all ``p`` design columns (0 coefficient, no variance
    for the dropped ones); ``columns`` records which were used."""
    keep = np.asarray(keep)
    if len(keep) == p:
        fit.columns = np.arange(p)
        return fit

    def vec(v):
        out = np.zeros(p)
        out[keep] = v
        return out

    def mat(m):
        out = np.zeros((p, p))
        out[np.ix_(keep, keep)] = m
        return out

    return GLMFit(fit.family, vec(fit.params), mat(fit.cov), mat(fit.cov_model), fit.n, fit.converged, fit.n_iter,
                  fit.method, fit.dispersion, fit.score_factor, None if fit.hessian is None else mat(fit.hessian), keep)


def _near_separation(fit: GLMFit, X: np.ndarray, y: np.ndarray, names: list[str]) -> str | None:
    """Why a converged-looking logistic ML fit is near-separated, or None (criteria: module doc)."""
    mu = expit(X @ fit.params)
    close = int((np.minimum(mu, 1 - mu) < 1e-8).sum())
    if close:
        return (f"near-separation — {close:,} customers have a fitted probability within 1e-8 of 0 or 1 "
                "(the outcome is all but determined by the covariates)")
    if not fit.converged:
        return "near-separation — the maximum-likelihood fit did not converge (coefficients diverge)"
    robust, model = np.sqrt(np.diag(fit.cov)), np.sqrt(np.clip(np.diag(fit.cov_model), 0, None))
    for j in range(1, len(names)):
        if model[j] > 0 and robust[j] < 0.5 * model[j]:
            return (f"near-separation — the robust standard error of {_words(names[j])} is {robust[j] / model[j]:.0%} "
                    "of the model-based one (the sandwich collapses where the data carry almost no information)")
    sub = X if len(X) <= 200_000 else X[np.random.default_rng(0).choice(len(X), 200_000, replace=False)]
    # a covariate's curve is judged whole (its linear and bend terms together): its terms' own
    # coefficients are large and cancel, as those of any spline basis do
    groups: dict[str, list[int]] = {}
    for j in range(1, len(names)):
        groups.setdefault(term_of(names[j]), []).append(j)
    for name, cols in groups.items():
        part = sub[:, cols] @ fit.params[cols]
        binary = len(cols) == 1 and np.isin(sub[:, cols[0]], (0.0, 1.0)).all()
        lo, hi = (part.min(), part.max()) if binary else np.percentile(part, [1, 99])
        shift = hi - lo
        if shift > 10:
            return (f"near-separation — {_words(name)} alone multiplies the odds by {np.exp(shift):,.0f} across "
                    "its range (odds ratio above 22,000)")
    return None


def _effect_method(fit: _Outcome) -> str:
    """The model, and for a penalised fit how its effects' intervals were obtained."""
    if all(p.method == "IRLS" for p in fit.parts.values()):
        return fit.method
    return (f"{fit.method}; effect intervals by the delta method on the penalised fit's model-based covariance "
            "(the coefficient table gives profile penalised-likelihood intervals)")


class _RowView:
    """``X[rows]`` without a copy when ``rows`` is every row; column-major otherwise."""

    def __init__(self, X: np.ndarray):
        self.X = X

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == len(self.X):
            return self.X
        return np.asfortranarray(self.X[rows])


def _mean_and_grad(outcome: _Outcome, X: np.ndarray, mult: np.ndarray | None, params=None, w=None):
    """Mean prediction over the rows of ``X`` (weighted by ``w`` when given) and its gradient in the
    outcome's parameters."""
    theta = outcome.params if params is None else params
    c = np.full(len(X), 1.0 / max(len(X), 1)) if w is None else np.asarray(w, float) / np.sum(w)
    if outcome.outcome == "spend" and "any" in outcome.parts:
        p = X.shape[1]
        g, b = theta[:p], theta[p:]
        pr, m = expit(X @ g), np.exp(X @ b)
        value = float(np.sum(c * pr * m))
        grad = np.concatenate([X.T @ (c * pr * (1 - pr) * m), X.T @ (c * pr * m)])
        return value, grad
    eta = X @ theta
    if outcome.outcome == "churn":
        pr = expit(eta)
        return float(np.sum(c * pr)), X.T @ (c * pr * (1 - pr))
    mu = np.exp(eta) * (1.0 if mult is None else mult)
    return float(np.sum(c * mu)), X.T @ (c * mu)


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
    scale : (low, high), optional
        The score's scale, which no counterfactual score may leave. Default: 0-10 for
        ``nps_score``, else the lowest and highest score in the data.

    Attributes
    ----------
    design_ : Design
        The shared design matrix (CX category + covariates, complete cases).
    outcomes_ : dict
        Outcome -> fitted model (category models).
    per_point_ : dict
        Outcome -> fitted model with the score as a number.
    score_scale_ : (float, float)
        The score's scale used by the per-point effect.
    skipped_ : dict
        Outcome -> why it was not fitted.
    warnings_ : list of str
        What a reader must know (separation, dropped covariates, overdispersion).
    passives_ : ndarray
        Design rows of the current passives.
    weights_ : ndarray or None
        Prior weights of the design rows (the ``weight`` column scaled to mean 1), None when
        unweighted. Every fit, and every average over passives, uses them.
    n_passives_ : int
        Passives the effects and the ROI speak for: with weights, the weighted passive share of the
        modelled customers times the sum of the weights (the base size when respondents are weighted
        to the base); else the number of passives.
    n_base_ : float
        The customers the models speak for: with weights, the sum of the weights (the base size);
        else the number of modelled customers.
    """

    def __init__(self, *, covariates=DEFAULT_COVARIATES, score: str = "nps_score",
                 promoter_min: float = 9, detractor_max: float = 6, alpha: float = 0.05,
                 keep_scores: bool = False, per_point: bool = True, scale=None, weight: str | None = None):
        self.covariates = list(covariates)
        self.weight = weight
        self.scale = scale
        self.per_point = per_point
        self.score = score
        self.promoter_min = promoter_min
        self.detractor_max = detractor_max
        self.alpha = alpha
        self.keep_scores = keep_scores

    # ------------------------------------------------------------------ fitting
    def fit(self, data: pd.DataFrame) -> OutcomeModels:
        """Fit every outcome whose columns are present and large enough. Returns ``self``."""
        self.warnings_: list[str] = []
        self.skipped_: dict[str, str] = {}
        self._effects = None
        self._churn_groups = None
        self._profiles: dict = {}
        self.joint_cov_ = None
        data = data.reset_index(drop=True)
        if self.scale is not None:
            self.score_scale_ = (float(self.scale[0]), float(self.scale[1]))
        elif self.score == "nps_score":
            self.score_scale_ = (0.0, 10.0)
        else:
            observed = data[self.score].astype(float)
            self.score_scale_ = (float(observed.min()), float(observed.max()))
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
            from .fmt import listing, words

            lacking = [f"{words(c)} ({n:,})" for c in (self.score, *covs) if (n := int(data[c].isna().sum()))]
            who = ("customers lack the CX score or a covariate" if data[self.score].isna().any() else
                   "respondents lack a covariate")
            self.warnings_.append(
                f"{self.design_.n_dropped:,} {who} and are left out of the models"
                + (f" (missing: {listing(lacking)})." if lacking else ".") + self._left_out_churn(data))
        cat = data["cx_category"].to_numpy()[self.design_.rows]
        self._cat = cat.astype(str)
        self.passives_ = np.flatnonzero(cat == "passive")
        self.weights_ = None
        self.n_passives_ = int(len(self.passives_))
        self.n_base_ = float(len(cat))
        if self.weight is not None and self.weight in data:
            raw = data[self.weight].to_numpy(float)
            a = raw[self.design_.rows]
            ok = np.isfinite(a) & (a > 0)
            if ok.any() and not np.allclose(a[ok], a[ok][0]):
                a = np.where(ok, a, np.mean(a[ok]))
                self.weights_ = a / a.mean()
                total = float(np.nansum(np.where(np.isfinite(raw) & (raw > 0), raw, 0.0)))
                self.n_passives_ = int(round(self.weights_[self.passives_].sum() / self.weights_.sum() * total))
                self.n_base_ = total
                self.warnings_.append(
                    f"Models fitted on the respondents weighted to the base (each counts for the customers it stands "
                    f"for, '{self.weight}' as prior weights; survey-robust standard errors); effects average over the base's passives (about {self.n_passives_:,}).")
        self.outcomes_: dict[str, _Outcome] = {}
        self.per_point_: dict[str, _Outcome] = {}
        for outcome in OUTCOMES:
            absent = [c for c in _COLUMNS[outcome] if c not in data]
            if absent:
                self.skipped_[outcome] = f"no {' or '.join(absent)} column"
                continue
            empty = [c for c in _COLUMNS[outcome] if data[c].notna().sum() == 0]
            if empty:
                self.skipped_[outcome] = f"{' and '.join(empty)} {'has' if len(empty) == 1 else 'have'} no values in these rows"
                continue
            if len(self.passives_) == 0:
                self.skipped_[outcome] = "no passives in the data: nothing to compare with"
                continue
            res = self._fit_one(outcome, self.design_)
            if isinstance(res, str):
                self.skipped_[outcome] = res
                continue
            self.outcomes_[outcome] = res
            for contrast, reason in res.skipped.items():
                self.skipped_[f"{outcome}.{contrast}"] = reason
            if self.per_point:
                pp = self._fit_one(outcome, self.score_design_)
                if isinstance(pp, str):
                    self.skipped_[f"{outcome}.per_point"] = pp
                else:
                    self.per_point_[outcome] = pp
        if self.keep_scores and self.outcomes_:
            self.joint_cov_ = self.joint_covariance()
            for fit in [*self.outcomes_.values(), *self.per_point_.values()]:
                for part in fit.parts.values():
                    part.score_factor = part.hessian = None
        return self

    def _full_rank(self, design: Design) -> Design:
        keep = _independent_columns(design.X)
        if len(keep) < design.X.shape[1]:
            dropped = [design.names[j] for j in range(design.X.shape[1]) if j not in keep]
            self.warnings_.append(f"Terms dropped as constant or collinear: {', '.join(dropped)}.")
            return Design(np.asfortranarray(design.X[:, keep]), [design.names[j] for j in keep], design.rows,
                          design.n_dropped, design.cx, design.labels)
        return design

    def _rows_with(self, design: Design, *cols: str) -> np.ndarray:
        ok = np.ones(len(design.rows), dtype=bool)
        for c in cols:
            ok &= self.data_[c].notna().to_numpy()[design.rows]
        return np.flatnonzero(ok)

    def _size_problem(self, design: Design, r: np.ndarray, what: str) -> str | None:
        """Why ``r`` (design rows with the outcome) is too small for a model, or None."""
        if len(r) < MIN_ROWS:
            return f"only {len(r):,} customers with {what} (minimum {MIN_ROWS})"
        if design.cx == "category":
            n_pas = int((self._cat[r] == "passive").sum())
            if n_pas < MIN_PER_CATEGORY:
                return f"only {n_pas:,} passives with {what} (minimum {MIN_PER_CATEGORY}): nothing to compare with"
        return None

    def _contrast_problems(self, design: Design, parts: dict[str, tuple[np.ndarray, np.ndarray]], what: str) -> dict:
        """Contrast -> why it cannot be estimated (absent category, too few, term not estimable)."""
        out = {}
        if design.cx != "category":
            return out
        n_all = {c: int((self._cat == c).sum()) for c in ("promoter", "detractor")}
        for c, term in (("promoter", CX_TERMS[1]), ("detractor", CX_TERMS[0])):
            key = f"{c}_vs_passive"
            if n_all[c] == 0:
                out[key] = f"no {c}s in the data"
                continue
            for rows, cols in parts.values():
                k = int((self._cat[rows] == c).sum())
                if k < MIN_PER_CATEGORY:
                    out[key] = f"only {k:,} {c}s with {what} (minimum {MIN_PER_CATEGORY})"
                    break
                if len(cols) == 1:  # an intercept-only part (too few events to model) does not vary by CX
                    continue
                if term not in design.names or design.col(term) not in cols:
                    out[key] = f"the {c} term cannot be estimated on the customers with {what}"
                    break
        return out

    def _w(self, rows: np.ndarray) -> np.ndarray | None:
        """Prior weights of design rows ``rows`` (None: unweighted)."""
        return None if self.weights_ is None else self.weights_[rows]

    def _fit_part(self, X: np.ndarray, y: np.ndarray, family: str, design: Design, label: str, outcome_word: str,
                  *, offset=None, intercept_only: bool = False, weights=None):
        """Fit one part on its own rows: drop empty/constant/collinear terms, check separation,
        fall back to Firth when needed. Returns (fit embedded in the design's columns, flag reason,
        notes)."""
        ks = self.keep_scores
        notes, reason = [], None
        keep = np.array([0]) if intercept_only else _independent_columns(X)
        if not intercept_only and len(keep) < X.shape[1]:
            dropped = [design.names[j] for j in range(X.shape[1]) if j not in keep]
            notes.append(f"{label}: terms removed as empty or constant on its {len(X):,} rows (or collinear): "
                         f"{', '.join(dropped)}.")
        names = [design.names[j] for j in keep]
        Xk = np.asfortranarray(X[:, keep])
        cells = row_cells(Xk)  # the distinct rows, for the separation check and the fit
        if family == "gamma_log":
            fit = fit_glm(Xk, y, family, keep_scores=ks, weights=weights, cells=cells)
            return _embed(fit, keep, X.shape[1]), None, notes
        direction = None if intercept_only else find_separation(Xk, y, family, offset=offset, cells=cells)
        if direction is not None:
            terms = [names[j] for j in np.flatnonzero(direction) if names[j] != "Intercept"]
            if family == "logit":
                readable = detect_separation(Xk, y, names, outcome_word)
                reason = ("separation — " + ("; ".join(readable) if readable else
                          f"{outcome_word} is perfectly predicted by a combination of {', '.join(map(_words, terms))}"))
            else:
                zero = [t for t in terms if np.isin(Xk[:, names.index(t)], (0.0, 1.0)).all()
                        and y[Xk[:, names.index(t)] == 1].sum() == 0]
                reason = ("no " + outcome_word + " among customers with " + ", ".join(map(_words, zero or terms))
                          + " (the maximum-likelihood rate is zero)")
        else:
            fit = fit_glm(Xk, y, family, offset=offset, keep_scores=ks, weights=weights, cells=cells)
            if family == "logit" and not intercept_only:
                reason = _near_separation(fit, Xk, y, names)
            elif not fit.converged and not intercept_only:
                reason = "the Poisson fit did not converge (a rate heading to zero)"
            if reason is None:
                if not fit.converged:
                    notes.append(f"{label} did not converge: treat its estimates with caution.")
                return _embed(fit, keep, X.shape[1]), None, notes
        fit = fit_firth(Xk, y, family, offset=offset, keep_scores=ks, weights=weights)
        return _embed(fit, keep, X.shape[1]), reason, notes

    def _fit_one(self, outcome: str, design: Design) -> _Outcome | str:
        data = self.data_
        X = _RowView(design.X)
        per_point = design.cx == "score"
        what = {"spend": "spend recorded", "churn": "churned recorded", "returns": "orders and returns recorded"}[outcome]
        flags, notes = [], []
        kind = "per-point" if per_point else "category"
        if per_point and self.score not in design.names:
            return f"{self.score} takes a single value"
        if outcome == "spend":
            r = self._rows_with(design, "spend")
            if (problem := self._size_problem(design, r, what)) is not None:
                return problem
            y = data["spend"].to_numpy(float)[design.rows][r]
            pos_mask = y > 0
            zeros, pos = int((~pos_mask).sum()), r[pos_mask]
            if len(pos) < MIN_ROWS:
                return f"only {len(pos):,} customers spent anything (minimum {MIN_ROWS} for the amount model)"
            if (problem := self._size_problem(design, pos, "spend above zero")) is not None:
                return problem
            amt, _, n2 = self._fit_part(X[pos], y[pos_mask], "gamma_log", design, "Spend (amount part)", "spend",
                                        weights=self._w(pos))
            notes += n2
            if zeros:
                few = zeros < MIN_EVENTS
                any_fit, why, n1 = self._fit_part(X[r], pos_mask.astype(float), "logit", design,
                                                  "Spend (any-spend part)", "any spend", intercept_only=few,
                                                  weights=self._w(r))
                notes += n1
                if why:
                    flags.append(f"any-spend part: {why}")
                res = _Outcome("spend", {"any": any_fit, "amount": amt}, {"any": r, "amount": pos},
                               "two-part: logistic (any spend) x Gamma GLM, log link (amount)", len(r))
                if not per_point:
                    res.notes.append(f"{zeros:,} respondents ({zeros / len(r):.1%}) spent nothing: modelled by the "
                                     "first part, not dropped.")
                    if few:
                        res.notes.append(f"Too few customers spent nothing (fewer than {MIN_EVENTS}) to model who spends: "
                                         "the any-spend part is intercept-only (the same share in every category).")
                parts = {"any": (r, any_fit.columns), "amount": (pos, amt.columns)}
            else:
                res = _Outcome("spend", {"main": amt}, {"main": pos}, "Gamma GLM, log link", len(r))
                parts = {"main": (pos, amt.columns)}
        elif outcome == "churn":
            r = self._rows_with(design, "churned")
            if (problem := self._size_problem(design, r, what)) is not None:
                return problem
            y = data["churned"].to_numpy(float)[design.rows][r]
            events = int((y == 1).sum())
            if min(events, len(y) - events) < MIN_EVENTS:
                return (f"only {events:,} churners and {len(y) - events:,} stayers among the customers with churned "
                        f"recorded (minimum {MIN_EVENTS} of each)")
            fit, why, notes = self._fit_part(X[r], y, "logit", design, "Churn", "churned", weights=self._w(r))
            if why:
                flags.append(why)
            method = "Firth penalised logistic regression" if why else "logistic regression"
            res = _Outcome("churn", {"main": fit}, {"main": r}, method, len(r))
            parts = {"main": (r, fit.columns)}
        else:
            r = self._rows_with(design, "returns", "orders")
            orders_all = data["orders"].to_numpy(float)[design.rows][r]
            at_risk = r[orders_all > 0]
            if (problem := self._size_problem(design, at_risk, "orders and returns recorded")) is not None:
                return problem
            y = data["returns"].to_numpy(float)[design.rows][at_risk]
            if int((y > 0).sum()) < MIN_EVENTS:
                return f"only {int((y > 0).sum()):,} customers with a return (minimum {MIN_EVENTS})"
            fit, why, notes = self._fit_part(X[at_risk], y, "poisson_log", design, "Returns", "returns",
                                             offset=np.log(orders_all[orders_all > 0]), weights=self._w(at_risk))
            if why:
                flags.append(why)
            method = ("Firth penalised Poisson GLM, log link, offset log(orders)" if why
                      else "Poisson GLM, log link, offset log(orders)")
            res = _Outcome("returns", {"main": fit}, {"main": at_risk}, method, len(at_risk))
            parts = {"main": (at_risk, fit.columns)}
            if not per_point:
                if (orders_all == 0).any():
                    res.notes.append(f"{int((orders_all == 0).sum()):,} customers with no order cannot return: "
                                     "not at risk, left out of the returns model.")
                disp = fit.dispersion
                res.notes.append(
                    f"Pearson dispersion {disp:.2f}: "
                    + ("overdispersed; the robust (sandwich) errors keep inference valid (quasi-Poisson-type)."
                       if disp > 1.1 else "no material overdispersion."))
        res.skipped = self._contrast_problems(design, parts, what)
        if per_point and not all(self.score in design.names and design.col(self.score) in cols
                                 for _, cols in parts.values() if len(cols) > 1):
            return f"{self.score} does not vary among the customers with {what}"
        if flags:
            res.flagged = True
            res.flag_reasons = flags
            self.warnings_.append(
                f"{outcome.capitalize()} ({kind} model): {'; '.join(flags)}. Maximum likelihood would give infinite "
                "or unstable coefficients; estimates are from Firth's penalised likelihood (finite, shrunk towards "
                f"no effect). Treat {outcome} effects as indicative.")
        if not per_point:
            self.warnings_.extend(n for n in notes if n not in self.warnings_)
        return res

    def _left_out_churn(self, data: pd.DataFrame) -> str:
        """How the respondents left out for a missing covariate churn against those modelled, with
        Newcombe's interval on the difference (unweighted): the effects describe complete cases,
        which matters when the two differ. Empty without churn or with fewer than 10 left out."""
        if "churned" not in data:
            return ""
        y = data["churned"].to_numpy(float)
        kept = np.zeros(len(data), bool)
        kept[self.design_.rows] = True
        left = data[self.score].notna().to_numpy() & ~kept & np.isfinite(y)
        inside = kept & np.isfinite(y)
        if left.sum() < 10 or inside.sum() < 10:
            return ""
        p1, p2 = float(y[left].mean()), float(y[inside].mean())
        lo, hi = newcombe_interval(p1, float(left.sum()), p2, float(inside.sum()), alpha=self.alpha)
        from .fmt import percent, points

        n_left = int(left.sum())
        who = (" They churned" if n_left == self.design_.n_dropped else  # respondents all: said just before
               f" Those of them who answered ({n_left:,}) churned")
        told = (f"{who} at {percent(p1)}, against {percent(p2)} "
                f"among the customers modelled (difference {points(100 * (p1 - p2))} pp, likely range "
                f"{points(100 * lo)} to {points(100 * hi)})")
        if lo > 0 or hi < 0:
            return told + f": {LEFT_OUT_DIFFERS}"
        return told + ": no detectable difference."

    # ------------------------------------------------------------------ effects
    def _contrast_rows(self, design: Design, outcome: _Outcome, subset: np.ndarray):
        X, w = design.X[subset], self._w(subset)
        mult = None
        if outcome.outcome == "returns":
            mult = self.data_["orders"].to_numpy(float)[design.rows][subset]
            ok = ~np.isnan(mult)
            X, mult = X[ok], mult[ok]
            w = None if w is None else w[ok]
        return X, mult, w

    def _per_point_rows(self, pp: _Outcome):
        """Design rows of the per-point effect: customers below the top of the scale, as they are
        and with one point more, capped at the top (so no counterfactual score leaves the scale)."""
        X, mult, w = self._contrast_rows(self.score_design_, pp, np.arange(len(self.score_design_.rows)))
        j = self.score_design_.col(self.score)
        top = self.score_scale_[1]
        below = X[:, j] < top
        X = X[below]
        mult = None if mult is None else mult[below]
        w = None if w is None else w[below]
        X1 = X.copy()
        X1[:, j] = np.minimum(X1[:, j] + 1, top)
        return X, X1, mult, w

    def _as_category(self, X: np.ndarray, category: str) -> np.ndarray:
        X = X.copy()
        for level, term in (("detractor", CX_TERMS[0]), ("promoter", CX_TERMS[1])):
            if term in self.design_.names:  # a category absent from the data has no column
                X[:, self.design_.col(term)] = 1.0 if category == level else 0.0
        return X

    def passive_means(self, outcome: str) -> dict[str, tuple[float, np.ndarray]]:
        """Mean predicted outcome of the current passives as each category, with gradients."""
        fit = self.outcomes_[outcome]
        X, mult, w = self._contrast_rows(self.design_, fit, self.passives_)
        return {c: _mean_and_grad(fit, self._as_category(X, c), mult, w=w) for c in ("detractor", "passive", "promoter")}

    def _contrast(self, fit: _Outcome, a, b, scale: str):
        """Estimate, CI and p-value of a contrast by the delta method. Never NaN intervals: a
        contrast whose standard error cannot be computed gets an unbounded interval (and is
        flagged by the caller)."""
        (va, ga), (vb, gb) = a, b
        V = fit.cov
        z = stats.norm.ppf(1 - self.alpha / 2)
        with np.errstate(all="ignore"):
            if scale == "ratio":
                est = va / vb
                g = ga / va - gb / vb
                se = float(np.sqrt(max(g @ V @ g, 0.0)))
                if not (np.isfinite(est) and est > 0 and np.isfinite(se)):
                    return est, 0.0, float("inf"), float("nan")
                if se == 0:
                    return est, est, est, float("nan")
                return est, est * np.exp(-z * se), est * np.exp(z * se), 2 * stats.norm.sf(abs(np.log(est) / se))
            est = 100 * (va - vb)
            g = ga - gb
            se = 100 * float(np.sqrt(max(g @ V @ g, 0.0)))
            if not (np.isfinite(est) and np.isfinite(se)):
                return est, float("-inf"), float("inf"), float("nan")
            if se == 0:
                return est, est, est, float("nan")
            return est, est - z * se, est + z * se, 2 * stats.norm.sf(abs(est / se))

    def _effect_row(self, fit: _Outcome, a, b, scale: str, **fields) -> dict:
        est, lo, hi, p = self._contrast(fit, a, b, scale)
        rr, rr_lo, rr_hi, _ = self._contrast(fit, a, b, "ratio")
        flagged, reasons = fit.flagged, list(fit.flag_reasons)
        if not np.all(np.isfinite([est, lo, hi])) or not np.isfinite(p):
            flagged = True
            reasons.append("the interval could not be computed (no information on this contrast)")
        ev, ev_ci = evalue(rr, rr_lo, rr_hi) if not flagged else (float("nan"), float("nan"))
        return dict(fields, estimate=est, ci_low=lo, ci_high=hi, scale=scale, p_value=p, rr=rr, rr_ci_low=rr_lo,
                    rr_ci_high=rr_hi, evalue=ev, evalue_ci=ev_ci, flagged=flagged, flag_reason="; ".join(reasons),
                    baseline=float(b[0]), counterfactual=float(a[0]))

    def effects(self) -> pd.DataFrame:
        """The counterfactual effects, per outcome and contrast.

        Returns
        -------
        DataFrame
            ``outcome, contrast, estimate, ci_low, ci_high, scale, p_value, rr, rr_ci_low,
            rr_ci_high, evalue, evalue_ci, n, method, flagged, estimand, flag_reason, baseline,
            counterfactual``. ``baseline`` is the mean predicted outcome the contrast starts from
            (the passives as passives; for ``per_point``, the respondents as scored) and
            ``counterfactual`` the one it compares (as promoters, detractors, or one point higher),
            in the outcome's unit (churn as a share), so a pp difference can be read against its
            level. ``contrast`` is
            ``promoter_vs_passive``, ``detractor_vs_passive`` or ``per_point``; ``scale`` is
            ``ratio`` (spend, returns) or ``pp`` (churn). ``rr`` is the risk ratio behind the
            E-value: for churn, mean churn as promoter / as passive (the pp difference as a risk
            ratio); for returns, the rate ratio; for spend, the ratio of means used as an
            approximate risk ratio (module notes). ``flagged`` marks an effect
            to doubt (separation, near-separation, no computable interval), ``flag_reason`` says
            why in words ("" when not flagged); a flagged effect has NaN E-values. A contrast
            that cannot be estimated has no row: it is in ``skipped_`` under
            ``"<outcome>.<contrast>"`` with the reason.
        """
        if self._effects is not None:
            return self._effects.copy()
        rows = []
        from .fmt import words

        covs = ", ".join(words(c) for c in self.covariates_) or "nothing"
        score = words(self.score)
        order = ["outcome", "contrast", "estimate", "ci_low", "ci_high", "scale", "p_value", "rr", "rr_ci_low",
                 "rr_ci_high", "evalue", "evalue_ci", "n", "method", "flagged", "estimand", "flag_reason",
                 "baseline", "counterfactual"]
        for outcome, fit in self.outcomes_.items():
            means = self.passive_means(outcome)
            scale = _SCALE[outcome]
            for cat in ("promoter", "detractor"):
                if f"{cat}_vs_passive" in fit.skipped:
                    continue
                row = self._effect_row(
                    fit, means[cat], means["passive"], scale, outcome=outcome, contrast=f"{cat}_vs_passive",
                    n=fit.n, method=_effect_method(fit),
                    estimand=(f"Among the {self.n_passives_:,} current passives, the average {_PHRASE[outcome]} "
                              f"if they were {cat}s, against as passives, holding {covs} fixed."))
                rows.append(self._observed_when_constant(row, cat) if outcome == "churn" else row)
            if outcome not in self.per_point_:
                continue
            pp = self.per_point_[outcome]
            X, X1, mult, w = self._per_point_rows(pp)
            if len(X) == 0:
                self.skipped_[f"{outcome}.per_point"] = f"no customer below the top of the {score} scale"
                continue
            plus_one, as_is = _mean_and_grad(pp, X1, mult, w=w), _mean_and_grad(pp, X, mult, w=w)
            top = self.score_scale_[1]
            rows.append(self._effect_row(
                pp, plus_one, as_is, scale, outcome=outcome, contrast="per_point", n=pp.n, method=_effect_method(pp),
                estimand=(f"Among the {len(X):,} respondents below the top of the {score} scale ({top:g}), the "
                          f"average change in {_PHRASE[outcome]} if each scored one point more (at most {top:g}), "
                          f"holding {covs} fixed.")))
        self._effects = pd.DataFrame(rows, columns=order)  # computed once per fit; callers get a copy
        return self._effects.copy()

    def churn_groups(self) -> dict[str, dict]:
        """Each CX category's respondents in the churn model: ``n``, ``n_eff`` (Kish's effective size
        when weighted) and ``level``, the churn rate when it does not vary within the category (0:
        nobody churned, 1: everybody did), else None. A category with no respondent is absent.
        Computed once per fit, from the churn column alone (not the part's design rows)."""
        if self._churn_groups is not None:
            return self._churn_groups
        fit = self.outcomes_["churn"]
        y = self.data_["churned"].to_numpy(float)[self.design_.rows[fit.rows["main"]]]
        cats = self._cat[fit.rows["main"]]
        w = None if self.weights_ is None else self.weights_[fit.rows["main"]]
        out = {}
        for c in ("detractor", "passive", "promoter"):
            g = cats == c
            if not g.any():
                continue
            yc = y[g]
            out[c] = {"n": int(g.sum()), "n_eff": float(g.sum()) if w is None else float(w[g].sum() ** 2 / (w[g] ** 2).sum()),
                      "level": float(yc[0]) if np.all(yc == yc[0]) else None}
        self._churn_groups = out
        return out

    def _observed_when_constant(self, row: dict, cat: str) -> dict:
        """A churn contrast in which one group, or both, did not vary (nobody churned, or everybody
        did): each such group enters at its observed rate, with Wilson's interval, instead of the
        model's.

        No model can adjust a rate of 0 (or 1): maximum likelihood has none, and Firth's penalty
        invents a small churn rate whose delta-method interval is narrower than the data allow (0
        of 1,149 against 0 of 1,789 churners is consistent with -0.21 to +0.33 pp, not with
        +/-0.12). When both groups are constant the difference is the observed one with
        Newcombe's hybrid score interval (1998, method 10). When one is, the other keeps the
        model's covariate-adjusted mean, with its delta-method interval on the logit scale, and
        the two intervals are combined by MOVER (Zou and Donner 2008; Newcombe's method is its
        case of two Wilson intervals); its p-value is where that interval, widened, reaches 0.
        Effective sizes are Kish's when respondents are weighted.
        """
        fit = self.outcomes_["churn"]
        groups = self.churn_groups()
        if cat not in groups or "passive" not in groups:
            return row
        groups = {c: groups[c] for c in (cat, "passive")}
        level = {c: g["level"] for c, g in groups.items() if g["level"] is not None}
        if not level:
            return row
        n = {c: g["n_eff"] for c, g in groups.items()}
        counts = {c: g["n"] for c, g in groups.items()}
        means = self.passive_means("churn")

        def side(c: str, model_as: str):
            """Estimate and interval maker (of z) of one side: observed when constant, else the model's."""
            if c in level:
                p = level[c]
                return p, lambda z: wilson_interval(p * n[c], n[c], z=z)
            v, g = means[model_as]
            se = float(np.sqrt(max(g @ fit.cov @ g, 0.0))) / (v * (1 - v))  # on the logit scale
            return v, lambda z: (float(expit(np.log(v / (1 - v)) - z * se)), float(expit(np.log(v / (1 - v)) + z * se)))

        (p1, ci1), (p2, ci2) = side(cat, cat), side("passive", "passive")

        def interval(z: float) -> tuple[float, float]:
            return mover_interval(p1, ci1(z), p2, ci2(z))

        z = stats.norm.ppf(1 - self.alpha / 2)
        lo, hi = interval(z)
        d = p1 - p2
        if d == 0:
            p_value = 1.0
        else:  # the z at which the interval's near end reaches 0 (it widens with z; past z = 40, p is 0)
            reach = (lambda q: interval(q)[0]) if d > 0 else (lambda q: -interval(q)[1])
            p_value = 0.0 if reach(40.0) > 0 else float(2 * stats.norm.sf(optimize.brentq(reach, 0.0, 40.0, xtol=1e-12)))

        def did(c: str) -> str:
            return "churned" if level[c] == 0 else "stayed"

        if len(level) == 2 and level[cat] == level["passive"]:
            said = "stayed" if level[cat] == 0 else "churned"
            reason = (f"no {cat} and no passive {did(cat)} ({counts[cat]:,} and {counts['passive']:,} customers): "
                      "the difference shown is the observed one, unadjusted")
            method = (f"observed: every {cat} and every passive {said}; unadjusted difference with Newcombe's "
                      "hybrid score interval (a model cannot adjust a difference between two groups that do not vary)")
        elif len(level) == 2:
            reason = (f"no {cat} {did(cat)} and no passive {did('passive')} ({counts[cat]:,} and "
                      f"{counts['passive']:,} customers): the difference shown is the observed one, unadjusted")
            method = ("observed rates of two groups that do not vary; unadjusted difference with Newcombe's hybrid "
                      "score interval (a model cannot adjust a difference between two groups that do not vary)")
        else:
            c = next(iter(level))
            other = "passives as passives" if c == cat else f"passives as {cat}s"
            model = "model" if fit.parts["main"].method == "IRLS" else "Firth penalised fit"
            reason = (f"no {c} {did(c)} ({counts[c]:,} customers): their rate is the observed "
                      f"{100 * level[c]:g}%, not a model's")
            method = (f"partly observed: the {c}s' observed rate ({100 * level[c]:g}%, every one "
                      f"{'stayed' if level[c] == 0 else 'churned'}) with Wilson's interval, against the covariate-"
                      f"adjusted mean for {other} from the {model}, with a delta-method interval on the logit scale; "
                      "the difference's interval combines the two (MOVER, Zou and Donner 2008)")
        return dict(row, estimate=100 * d, ci_low=100 * lo, ci_high=100 * hi, p_value=p_value, rr=float("nan"),
                    rr_ci_low=float("nan"), rr_ci_high=float("nan"), evalue=float("nan"), evalue_ci=float("nan"),
                    flagged=True, flag_reason="; ".join(r for r in (row["flag_reason"], reason) if r),
                    baseline=p2, counterfactual=p1, method=method)

    def observed_churn(self) -> float | None:
        """The churn rate passives and promoters share when neither group varies (nobody in either
        churned, or everybody did): their churn effect is then the observed difference, 0
        (:meth:`_observed_when_constant`). None otherwise, or without a churn model."""
        if "churn" not in self.outcomes_:
            return None
        if self._effects is None:
            self.effects()
        e = self._effects
        row = e[(e["outcome"] == "churn") & (e["contrast"] == "promoter_vs_passive")]
        if len(row) and str(row["method"].iloc[0]).startswith("observed:"):
            return float(row["baseline"].iloc[0])
        return None

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
                "flagged": bool(r.flagged), "flag_reason": r.flag_reason, "n": int(r.n),
                "baseline": r.baseline, "counterfactual": r.counterfactual,
                "direction": effect_direction(r.outcome, r.contrast, r.ci_low, r.ci_high, r.scale)}
        return out

    def predicted_by_category(self, outcome: str) -> pd.DataFrame:
        """Mean predicted outcome of current passives as each category, with a 95% CI.

        Returns ``category, estimate, ci_low, ci_high, flagged, observed, direction`` (churn in %,
        others in their unit; ``direction``: how the category's contrast with the passives runs,
        :func:`effect_direction`, "" for the passives). ``flagged``: the model is (separation; read as indicative). ``observed``: a
        churn category in which nobody churned (or everybody did) is given at its observed rate
        with Wilson's interval, as its effects are (:meth:`effects`), not at a model's invented one.
        """
        fit = self.outcomes_[outcome]
        z = stats.norm.ppf(1 - self.alpha / 2)
        constant = {c: g for c, g in self.churn_groups().items() if g["level"] is not None} if outcome == "churn" else {}
        rows = []
        for cat, (v, g) in self.passive_means(outcome).items():
            if cat != "passive" and f"{cat}_vs_passive" in fit.skipped:
                continue
            se = float(np.sqrt(max(g @ fit.cov @ g, 0.0)))
            if cat in constant:  # nobody in the category churned (or everybody did): its observed rate
                level = constant[cat]["level"]
                lo, hi = wilson_interval(level * constant[cat]["n_eff"], constant[cat]["n_eff"], alpha=self.alpha)
                rows.append(dict(category=cat, estimate=100 * level, ci_low=100 * lo, ci_high=100 * hi))
            elif outcome == "churn":
                rows.append(dict(category=cat, estimate=100 * v, ci_low=100 * max(v - z * se, 0), ci_high=100 * min(v + z * se, 1)))
            else:
                rows.append(dict(category=cat, estimate=v, ci_low=v * np.exp(-z * se / v), ci_high=v * np.exp(z * se / v)))
            rows[-1].update(flagged=bool(fit.flagged), observed=cat in constant, direction="")
        e = self.effects()
        e = e[e["outcome"] == outcome].set_index("contrast")
        for r in rows:  # how each category's contrast with the passives runs (effect_direction)
            c = f"{r['category']}_vs_passive"
            if c in e.index:
                row = e.loc[c]
                r["direction"] = effect_direction(outcome, c, row["ci_low"], row["ci_high"], row["scale"])
        return pd.DataFrame(rows, columns=["category", "estimate", "ci_low", "ci_high", "flagged", "observed", "direction"])

    def coefficients(self, outcome: str | None = None, *, whole_curves: bool = False) -> pd.DataFrame:
        """Tidy coefficient tables with business-readable labels (``whole_curves``: each numeric
        covariate's curve as one row, with the joint test that it is flat, instead of its terms).

        Returns
        -------
        DataFrame
            ``outcome, part, term, label, coef, se, p_value, ratio, ratio_ci_low, ratio_ci_high,
            ratio_kind, ci_method`` — ``ratio`` is ``exp(coef)``: a multiplier of expected spend or
            returns per order, or an odds ratio for churn and for "any spend"; for the intercept,
            the baseline itself (``ratio_kind`` "baseline odds" or "baseline value": the odds, or
            the expected value, at every reference level and at the curves' zero). ``ci_method`` says
            how the interval and p-value were obtained: ``"Wald (robust sandwich)"`` for
            maximum-likelihood fits; ``"profile penalised likelihood"`` for a Firth fit (the
            interval where twice the drop of the profiled penalised log-likelihood stays below
            the chi-squared(1) quantile, and the penalised likelihood-ratio test, as R's logistf
            reports; :func:`cxanalysis.glm.firth_profile`), or ``"Wald (model-based)"`` for a
            Firth fit on more than ``PROFILE_MAX_CELLS`` design cells, where profiling is not
            attempted, or for a term whose profile could not be computed. ``se`` is always the Wald standard error of the fit.
        """
        z = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for name, fit in self.outcomes_.items():
            if outcome is not None and name != outcome:
                continue
            for part, f in fit.parts.items():
                kind = "odds ratio" if f.family == "logit" else "ratio"
                used = set(range(len(self.design_.names)) if f.columns is None else f.columns.tolist())
                prof = self._profile(name, part) if f.method != "IRLS" else None
                how = ("Wald (robust sandwich)" if f.method == "IRLS" else
                       "profile penalised likelihood" if prof is not None else "Wald (model-based)")
                for j, term in enumerate(self.design_.names):
                    if j not in used:
                        continue
                    b, se = f.params[j], f.bse[j]
                    lo, hi, p = b - z * se, b + z * se, 2 * stats.norm.sf(abs(b / se))
                    row_how = how
                    if prof is not None and np.isfinite(prof.p_value[j]):
                        lo, hi, p = prof.low[j], prof.high[j], prof.p_value[j]
                    elif prof is not None:  # this term could not be profiled
                        row_how = "Wald (model-based)"
                    rows.append(dict(outcome=name, part=part, term=term, label=self.design_.labels.get(term, term),
                                     coef=b, se=se, p_value=p, ratio=np.exp(b), ratio_ci_low=np.exp(lo),
                                     ratio_ci_high=np.exp(hi), ci_method=row_how,
                                     ratio_kind=kind if term != "Intercept" else
                                     "baseline odds" if f.family == "logit" else "baseline value"))
        cols = ["outcome", "part", "term", "label", "coef", "se", "p_value", "ratio", "ratio_ci_low",
                "ratio_ci_high", "ratio_kind", "ci_method"]
        out = pd.DataFrame(rows, columns=cols)  # the same columns when no outcome was modelled
        return self._curves_whole(out) if whole_curves else out

    def _curves_whole(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with each curve's terms (a numeric covariate's linear term and bends) replaced by
        one row: no ratio (a curve has none), and the joint Wald test that the curve is flat, on
        the fit's covariance (robust for ordinary fits, model-based for Firth's)."""
        from .fmt import label

        knots = self.design_.knots
        if not knots or table.empty:
            return table
        names = self.design_.names
        rows = []
        for (outcome, part), t in table.groupby(["outcome", "part"], sort=False):
            f = self.outcomes_[outcome].parts[part]
            kept = t[~t["term"].map(lambda n: term_of(n) in knots)]
            rows.append(kept)
            for c in knots:
                idx = [names.index(n) for n in t["term"] if term_of(n) == c]
                if not idx:
                    continue
                b, V = f.params[idx], f.cov[np.ix_(idx, idx)]
                try:
                    chi2 = float(b @ np.linalg.solve(V, b))
                    p = float(stats.chi2.sf(chi2, len(idx)))
                except np.linalg.LinAlgError:
                    p = float("nan")
                rows.append(pd.DataFrame([dict(outcome=outcome, part=part, term=c, label=f"{label(c)}: curve",
                                               coef=np.nan, se=np.nan, p_value=p, ratio=np.nan,
                                               ratio_ci_low=np.nan, ratio_ci_high=np.nan,
                                               ratio_kind=f"curve ({len(idx)} terms; p: joint test that it is flat)",
                                               ci_method="Wald, joint")]))
        return pd.concat(rows, ignore_index=True)[table.columns]

    def _part_data(self, outcome: str, part: str):
        """The design columns, response and offset a part was fitted on (its own rows and columns)."""
        fit = self.outcomes_[outcome]
        f, r = fit.parts[part], fit.rows[part]
        cols = np.arange(self.design_.X.shape[1]) if f.columns is None else np.asarray(f.columns)
        X = np.asarray(self.design_.X[np.ix_(r, cols)], order="F")
        at = self.design_.rows[r]
        offset = None
        if outcome == "churn":
            y = self.data_["churned"].to_numpy(float)[at]
        elif outcome == "spend":
            y = (self.data_["spend"].to_numpy(float)[at] > 0).astype(float)
        else:
            y = self.data_["returns"].to_numpy(float)[at]
            offset = np.log(self.data_["orders"].to_numpy(float)[at])
        return X, y, offset, cols

    def _profile(self, outcome: str, part: str) -> ProfileCI | None:
        """Profile penalised-likelihood intervals of a Firth part (design coordinates), cached;
        None when the part is too large to profile."""
        cache = self._profiles
        key = (outcome, part)
        if key not in cache:
            f = self.outcomes_[outcome].parts[part]
            p = len(f.params) if f.columns is None else len(f.columns)
            # weighted (survey) fits: no likelihood to profile, Wald on the weighted information
            if self.weights_ is not None or len(self.outcomes_[outcome].rows[part]) * p * p > PROFILE_MAX_CELLS:
                cache[key] = None
            else:
                X, y, offset, cols = self._part_data(outcome, part)
                own = GLMFit(f.family, f.params[cols], f.cov[np.ix_(cols, cols)], f.cov_model[np.ix_(cols, cols)],
                             f.n, f.converged, f.n_iter, f.method, f.dispersion)
                pr = firth_profile(X, y, own, offset=offset, alpha=self.alpha)
                full = [np.full(len(f.params), np.nan) for _ in range(3)]
                for arr, v in zip(full, (pr.low, pr.high, pr.p_value), strict=True):
                    arr[cols] = v
                cache[key] = ProfileCI(*full, pr.alpha)
        return cache[key]

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

    def spend_calibration(self, bins: int = 10) -> pd.DataFrame:
        """Observed against predicted spend by tenth of predicted spend (the amount part of a
        two-part model: the customers who spent), on the fit's own rows.

        Returns ``bin, n, predicted, observed, ratio, ci_low, ci_high, missed``: ``ratio`` is the
        observed mean over the predicted mean, its interval a normal one on the observed mean's
        standard error at Bonferroni's level over the ``bins`` (so ten looks raise no false alarm
        more often than one would), and ``missed`` a bin whose ratio is more than
        :data:`CALIBRATION_TOLERANCE` from 1 with its interval excluding 1: a misfit both real and
        large enough to matter (a spend driver the covariates do not carry, a curve the model
        does not have).
        """
        fit = self.outcomes_["spend"]
        part = "amount" if "amount" in fit.parts else "main"
        f, r = fit.parts[part], fit.rows[part]
        mu = np.exp(self.design_.X[r] @ f.params)
        y = self.data_["spend"].to_numpy(float)[self.design_.rows][r]
        t = pd.DataFrame({"bin": pd.qcut(mu, bins, labels=False, duplicates="drop"), "mu": mu, "y": y})
        t = t.groupby("bin").agg(n=("y", "size"), predicted=("mu", "mean"), observed=("y", "mean"), sd=("y", "std"))
        z = stats.norm.ppf(1 - self.alpha / (2 * max(len(t), 1)))
        se = t["sd"].fillna(0.0) / np.sqrt(t["n"]) / t["predicted"]
        t["ratio"] = t["observed"] / t["predicted"]
        t["ci_low"], t["ci_high"] = t["ratio"] - z * se, t["ratio"] + z * se
        t["missed"] = ((t["ratio"] - 1).abs() > CALIBRATION_TOLERANCE) & ((t["ci_low"] > 1) | (t["ci_high"] < 1))
        return t.drop(columns="sd").reset_index()

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

        Every part is fitted on rows of the same design, so customer ``i``'s score in part ``a``
        is ``x_i r_ai`` (``r_ai = 0`` outside the part) and the block of ``S'S`` for parts ``a, b``
        is ``sum_i r_ai r_bi x_i x_i'``: summed over the design's distinct rows
        (:func:`cxanalysis.glm.weighted_gram`) when they are far fewer than the customers.

        Returns
        -------
        parts : list of (outcome, part)
        V : ndarray

        Computed once, at the end of :meth:`fit` (the per-row score factors are then released).
        """
        if getattr(self, "joint_cov_", None) is not None:
            return self.joint_cov_
        parts, blocks, sizes, firth = [], [], [], []
        X = self.design_.X
        n = len(X)
        for name, fit in self.outcomes_.items():
            for part, f in fit.parts.items():
                if f.score_factor is None:
                    raise ValueError("joint_covariance needs OutcomeModels(keep_scores=True).")
                p = len(f.params)
                cols = np.arange(p) if f.columns is None else np.asarray(f.columns)
                parts.append((name, part))
                sizes.append(p)
                firth.append(f.method != "IRLS")
                if firth[-1]:
                    blocks.append(None)
                    continue
                # only the part's own columns: dropped ones have no score and no curvature
                Hinv, exact = safe_inv(-f.hessian[np.ix_(cols, cols)])
                if not exact:
                    self.warnings_.append(
                        f"{name.capitalize()} ({part} part): its information matrix is (nearly) singular; the joint "
                        "covariance uses a pseudo-inverse, so the ROI interval may be too narrow on those terms.")
                r = np.zeros(n)
                r[fit.rows[part]] = f.score_factor
                blocks.append((cols, r, Hinv))
        cells = row_cells(X)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        V = np.zeros((offsets[-1], offsets[-1]))
        for i in range(len(parts)):
            if firth[i]:
                fit = self.outcomes_[parts[i][0]].parts[parts[i][1]]
                si = slice(offsets[i], offsets[i + 1])
                V[si, si] = fit.cov
                continue
            ci, ri, Hi = blocks[i]
            for j in range(i, len(parts)):
                if firth[j]:
                    continue
                cj, rj, Hj = blocks[j]
                block = Hi @ weighted_gram(X, ri * rj, cells)[np.ix_(ci, cj)] @ Hj
                gi, gj = offsets[i] + ci, offsets[j] + cj
                V[np.ix_(gi, gj)] = block
                V[np.ix_(gj, gi)] = block.T
        V = (V + V.T) / 2
        V[~np.isfinite(V)] = 0.0
        w, Q = np.linalg.eigh(V)
        if w.size and w.min() < -1e-10 * max(1.0, float(np.abs(w).max())):
            V = (Q * np.clip(w, 0, None)) @ Q.T  # nearest positive semi-definite (numerical noise only)
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
    """Rows for :func:`cxanalysis.plots.forest` from :meth:`OutcomeModels.effects`, labelled in
    words: "Spend, promoters vs passives (ratio)", "Churn, detractors vs passives (percentage
    points)"; a flagged effect (separation) says so in its label and is drawn apart."""
    from .fmt import label

    t = effects[effects["contrast"] != "per_point"].copy()
    unit = {"ratio": "ratio", "pp": "percentage points"}
    t["label"] = [f"{label(o)}, {c.split('_vs_')[0]}s vs {c.split('_vs_')[1]}s ({unit.get(s, label(s))})"
                  for o, c, s in zip(t["outcome"], t["contrast"], t["scale"], strict=True)]
    t["null"] = np.where(t["scale"] == "ratio", 1.0, 0.0)
    t["flagged"] = t["flagged"].fillna(False).astype(bool) if "flagged" in t else False
    t["label"] = [f"{text} [flagged]" if f else text for text, f in zip(t["label"], t["flagged"], strict=True)]
    return t[["label", "estimate", "ci_low", "ci_high", "null", "scale", "flagged"]]


def fit_outcome_models(data: pd.DataFrame, config, *, keep_scores: bool = True,
                       per_point: bool = True) -> OutcomeModels:
    """Fit :class:`OutcomeModels` with the configuration's covariates and categories.

    ``covariates: null`` in the config means those of plan, region and tenure_months present;
    the per-point effect keeps the score within its configured scale (``scales``; ``per_point``
    False leaves it out). A ``weight`` column (respondents weighted to the base) is used as prior
    weights.
    """
    covs = config.covariates
    if covs is None:
        covs = [c for c in DEFAULT_COVARIATES if c in data]
    cats = config.categories
    return OutcomeModels(covariates=covs, score=cats["score"], promoter_min=cats["promoter_min"],
                         detractor_max=cats["detractor_max"], alpha=config.alpha,
                         keep_scores=keep_scores, per_point=per_point, scale=config.scales.get(cats["score"]),
                         weight="weight" if "weight" in data else None).fit(data)


def adjustment_sensitivity(data: pd.DataFrame, config, models: OutcomeModels, *,
                           extra: tuple[str, ...] = MAY_FOLLOW_THE_SCORE, max_rows: int = 20_000,
                           random_state: int = 0) -> tuple[pd.DataFrame | None, str | None]:
    """The promoter-vs-passive effects refitted with ``extra`` covariates added to ``models``'.

    Visits and contract value are left out of the main models because the experience may change
    them (adjusting for a consequence of the score hides part of its effect), but a reader may
    think them confounders (contract value is fixed at signing). Both readings are shown: the
    effect as reported, and adjusted for them too.

    Returns
    -------
    table : DataFrame or None
        ``outcome, scale, estimate, ci_low, ci_high, estimate_adj, ci_low_adj, ci_high_adj, n_adj``
        for every outcome both fits estimate.
    skipped : str or None
        Why there is no table (no extra column present or all already adjusted for).

    Notes
    -----
    Above ``max_rows`` rows the refit uses a simple random sample of them (seeded), and ``n_adj``
    says how many: its intervals are then wider than a full refit's. (A continuous covariate such
    as contract value makes every design row distinct, so the refit cannot use the compressed
    fits of the main models, and its separation check is a linear program over the rows; 20,000
    rows keep it under a second while its intervals stay narrow enough to compare the readings.)
    """
    add = [c for c in extra if c in data and c not in models.covariates_ and data[c].notna().any()]
    if not add:
        return None, ("every column the experience may change is already adjusted for, or absent"
                      if any(c in data for c in extra) else f"no {' or '.join(extra)} column")
    part = data if len(data) <= max_rows else data.sample(max_rows, random_state=random_state)
    refit = fit_outcome_models(part, config.with_overrides(covariates=[*models.covariates_, *add]),
                               keep_scores=False, per_point=False)
    key = ["outcome", "contrast"]
    base = models.effects()
    adj = refit.effects()
    both = base[base["contrast"] == "promoter_vs_passive"].merge(
        adj[adj["contrast"] == "promoter_vs_passive"][[*key, "estimate", "ci_low", "ci_high", "n"]],
        on=key, suffixes=("", "_adj"))
    if both.empty:
        return None, "the refit with them could not estimate the promoter effects"
    table = both[["outcome", "scale", "estimate", "ci_low", "ci_high", "estimate_adj", "ci_low_adj", "ci_high_adj",
                  "n_adj"]].reset_index(drop=True)
    table.attrs["added"] = add
    return table, None
