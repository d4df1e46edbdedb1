"""What is it worth to move passives to promoters, and to retain more customers?

Formulas (DESIGN.md, "Definitions the checks rely on"):

* ``CLV(s, c, r) = sum_{q=1..4H} (m s - k r) (1 - c)^(q-1) / (1 + d)^(q/4)``
  (:func:`cxanalysis.metrics.clv_discounted`), with ``s, c, r`` the averages over current
  passives of the fitted models' predictions of quarterly spend, churn and returns, as passive
  and as if promoter;
* value per moved customer = ``CLV(as promoter) - CLV(as passive)``;
* cost = ``sum_{t=0..H-1} (program + team cost per year) / (1 + d)^t`` (paid at the start of each
  year); ROI = ``(moved x value - cost) / cost``; moved = ``round(share x passives)`` unless a
  count is configured.

**Uncertainty.** The interval for value, net and ROI comes from simulation from the joint
sampling distribution of all outcome models' parameters (Krinsky & Robb 1986; King, Tomz &
Wittenberg 2000): parameters are drawn from a normal with the stacked sandwich covariance of
:meth:`cxanalysis.models.OutcomeModels.joint_covariance`, which includes the correlation between
models fitted on the same customers, and the whole ROI is recomputed per draw; the interval is the
2.5-97.5 percentiles. This costs one fit instead of the hundreds of refits a bootstrap needs on a
million customers. It treats the current passives' covariates as fixed, as the estimand does.
Draws are evaluated on a random sample of at most 20,000 passives and centred on the full-data
estimate (the spread comes from the parameters, which that many passives average precisely). The assumptions (margin, costs, horizon, discount rate, share moved) are not data and
carry no interval: the sensitivity table shows what each does — except the share of passives moved
when it is configured as a range ``[low, high]``: each draw then also draws the share uniformly
on that range (every share in it equally plausible), so the ROI interval carries both the models'
uncertainty and the range; the point estimate uses the midpoint.

**Retention scenarios** (:func:`retention_scenarios`) value a retained customer on the profile
of the customers at risk of leaving, with the same horizon value as the passive-to-promoter block;
see that function for the estimand. Their intervals come from the same parameter draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from .metrics import clv_discounted, wilson_interval

__all__ = [
    "Assumptions",
    "PassiveToPromoter",
    "RetentionScenarios",
    "at_risk_profile",
    "passive_to_promoter",
    "program_cost",
    "retention_scenarios",
    "sensitivity",
    "break_even_share",
    "missing_inputs",
    "by_segment",
    "retention_skip_reason",
    "months_factor",
    "value_per_customer",
]


@dataclass(frozen=True)
class Assumptions:
    """The ROI assumptions of ``cx.yaml`` (``roi:`` section), with the documented defaults."""

    gross_margin: float = 0.35
    cost_per_return: float = 12.0
    discount_rate: float = 0.08
    horizon_years: int = 3
    program_cost_per_year: float = 50000.0
    team_cost_per_year: float = 120000.0
    share_of_passives_moved: float | tuple[float, float] = 0.10
    customers_moved: int | None = None

    @classmethod
    def from_config(cls, config) -> Assumptions:
        r = config.roi
        share = r["share_of_passives_moved"]
        share = tuple(float(v) for v in share) if isinstance(share, list | tuple) else share
        return cls(r["gross_margin"], r["cost_per_return"], r["discount_rate"], int(r["horizon_years"]),
                   r["program_cost_per_year"], r["team_cost_per_year"], share, r["customers_moved"])

    @property
    def share_range(self) -> tuple[float, float]:
        """``(low, high)`` of the share of passives moved (``low == high`` for a single number)."""
        s = self.share_of_passives_moved
        if isinstance(s, list | tuple | np.ndarray):
            lo, hi = (float(v) for v in s)
            return lo, hi
        return float(s), float(s)

    @property
    def share_midpoint(self) -> float:
        """The share the point estimate uses: the midpoint of the range."""
        lo, hi = self.share_range
        return (lo + hi) / 2

    def moved(self, n_passives: int) -> int:
        """Customers moved: the configured count, else ``round(share midpoint x passives)``."""
        if self.customers_moved is not None:
            return int(self.customers_moved)
        return int(round(self.share_midpoint * n_passives))

    def moved_range(self, n_passives: int) -> tuple[int, int]:
        """Customers moved at the low and high ends of the share's range (the count twice when given)."""
        if self.customers_moved is not None:
            return int(self.customers_moved), int(self.customers_moved)
        lo, hi = self.share_range
        return int(round(lo * n_passives)), int(round(hi * n_passives))

    def to_results(self) -> dict:
        """The assumptions for results.json: the share as its midpoint (a number, as before), plus
        ``share_of_passives_moved_range`` ``[low, high]``."""
        out = dict(self.__dict__)
        out["share_of_passives_moved"] = self.share_midpoint
        out["share_of_passives_moved_range"] = list(self.share_range)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The assumptions as a two-column table, for printing next to every ROI figure."""
        labels = {
            "gross_margin": "Gross margin", "cost_per_return": "Cost per return",
            "discount_rate": "Annual discount rate", "horizon_years": "Horizon (years)",
            "program_cost_per_year": "Program cost per year", "team_cost_per_year": "Team cost per year",
            "share_of_passives_moved": "Share of passives moved", "customers_moved": "Customers moved (count)",
        }
        return pd.DataFrame({"assumption": list(labels.values()),
                             "value": [getattr(self, k) for k in labels]})


def program_cost(a: Assumptions, horizon_years: float | None = None) -> float:
    """Discounted program + team cost: ``sum_{t=0..H-1} (program + team) / (1 + d)^t``.

    Paid at the start of each year (DESIGN.md), so every year the program runs is paid in full:
    a horizon that is not a whole number of years pays for ``ceil(H)`` years (a quarter costs a
    whole year, 2.5 years cost three).
    """
    h = a.horizon_years if horizon_years is None else horizon_years
    annual = a.program_cost_per_year + a.team_cost_per_year
    years = int(np.ceil(h - 1e-9))
    return float(sum(annual / (1 + a.discount_rate) ** t for t in range(years)))


def value_per_customer(s0, c0, r0, s1, c1, r1, a: Assumptions) -> np.ndarray | float:
    """CLV as promoter minus CLV as passive (vectorised over draws)."""
    kw = dict(margin=a.gross_margin, cost_per_return=a.cost_per_return, discount_rate=a.discount_rate,
              horizon_years=a.horizon_years)
    return clv_discounted(s1, c1, r1, **kw) - clv_discounted(s0, c0, r0, **kw)


def break_even_share(value: float, n_passives: int, a: Assumptions) -> float:
    """Share of passives that must be moved for ROI = 0 (inf when a move is worth nothing)."""
    if value <= 0 or n_passives == 0:
        return float("inf")
    return program_cost(a) / (value * n_passives)


@dataclass
class PassiveToPromoter:
    """The passive-to-promoter ROI with its interval. ``summary`` is a one-row table."""

    assumptions: Assumptions
    n_passives: int
    customers_moved: int
    as_passive: dict[str, float]
    as_promoter: dict[str, float]
    value_per_customer: float
    benefit: float
    cost: float
    net: float
    roi: float
    intervals: dict[str, tuple[float, float]]
    n_draws: int
    notes: list[str] = field(default_factory=list)
    draws: pd.DataFrame | None = field(default=None, repr=False)
    steady_churn: str | None = None

    @property
    def summary(self) -> pd.DataFrame:
        row = {"customers_moved": self.customers_moved, "value_per_customer": self.value_per_customer,
               "horizon_years": self.assumptions.horizon_years, "benefit": self.benefit, "cost": self.cost,
               "net": self.net, "roi": self.roi}
        for k, (lo, hi) in self.intervals.items():
            row[f"{k}_ci_low"], row[f"{k}_ci_high"] = lo, hi
        return pd.DataFrame([row])

    def to_results(self) -> dict:
        """``roi.passive_to_promoter`` of results.json (DESIGN.md keys, plus intervals)."""
        out = self.summary.iloc[0].to_dict()
        out["customers_moved"], out["horizon_years"] = int(self.customers_moved), int(self.assumptions.horizon_years)
        out.update(n_passives=self.n_passives, break_even_share=break_even_share(
            self.value_per_customer, self.n_passives, self.assumptions), n_draws=self.n_draws,
            customers_moved_range=list(self.assumptions.moved_range(self.n_passives)),
            as_passive=self.as_passive, as_promoter=self.as_promoter,
            assumptions=self.assumptions.to_results(), steady_churn=self.steady_churn,
            method="simulation from the joint sandwich covariance"
            + (", share moved drawn uniformly on its range" if self._share_drawn else "")
            + (", number of passives in the base drawn from its sampling distribution" if self._count_drawn else ""))
        return out

    @property
    def _count_drawn(self) -> bool:
        return self.draws is not None and "passives" in self.draws and self.draws["passives"].nunique() > 1

    @property
    def _share_drawn(self) -> bool:
        lo, hi = self.assumptions.share_range
        return self.assumptions.customers_moved is None and hi > lo

    def contributions(self) -> pd.DataFrame:
        """Waterfall steps: spend, retention and returns contributions to net value, then cost; each
        step's label says which way it goes ("Higher spend" or "Lower spend").

        Sequential decomposition: spend changes first (churn and returns as passive), then
        churn, then returns; the three steps add up to ``moved x value``.
        """
        p, q, a = self.as_passive, self.as_promoter, self.assumptions
        v = lambda s, c, r: float(value_per_customer(p["spend"], p["churn"], p["returns"], s, c, r, a))  # noqa: E731
        spend = v(q["spend"], p["churn"], p["returns"])
        churn = v(q["spend"], q["churn"], p["returns"]) - spend
        returns = self.value_per_customer - spend - churn
        m = self.customers_moved
        # each step named for the way it goes: "Lower spend" for a negative spend step, never
        # "Higher spend -15,591"
        steps = [("Higher spend", "Lower spend", spend), ("Better retention", "Worse retention", churn),
                 ("Fewer returns", "More returns", returns)]
        out = pd.DataFrame({"label": [up if v >= 0 else down for up, down, v in steps] + ["Program + team cost",
                                                                                           "Net value"],
                            "value": [m * v for _, _, v in steps] + [-self.cost, self.net]})
        # no returns in the value (no returns model): no step for them
        return out if self.has_returns else out.drop(index=2).reset_index(drop=True)

    @property
    def has_returns(self) -> bool:
        """Whether returns enter the value (a returns model: returns as passive or as promoter)."""
        return bool(self.as_passive["returns"] or self.as_promoter["returns"])

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda x: f"{x:,.2f}")


def _passive_weights(models, rows: np.ndarray) -> np.ndarray | None:
    """The prior weights of passives ``rows`` (None: unweighted models)."""
    w = getattr(models, "weights_", None)
    return None if w is None else w[models.passives_[rows]]


def _base_passives(models, rows: np.ndarray) -> int:
    """Passives ``rows`` stand for in the base: their count, or with weights their weighted share of
    the passives times :attr:`OutcomeModels.n_passives_` (weighted passive share x base size)."""
    w = getattr(models, "weights_", None)
    if w is None:
        return int(len(rows))
    total = w[models.passives_].sum()
    return int(round(models.n_passives_ * w[models.passives_[rows]].sum() / total)) if total > 0 else 0


def passive_count_se(models, rows: np.ndarray | None = None) -> float:
    """Standard error of the number of passives in the base (:func:`_base_passives`), of all of
    them or of the passives ``rows`` (positions in ``models.passives_``, e.g. one segment's).

    Unweighted models count the passives among the modelled respondents, a count with no sampling
    error: 0. Weighted models estimate the count as the base size ``N`` times the weighted share
    ``p`` of the modelled respondents who are those passives; its standard error is
    ``N * sqrt(p (1 - p) / n_eff)`` with Kish's effective sample size
    ``n_eff = (sum w)^2 / sum w^2`` of the modelled respondents (the variance the NPS intervals
    use), and ``N`` the models' ``n_base_``."""
    w = getattr(models, "weights_", None)
    if w is None or not len(w):
        return 0.0
    p = w[models.passives_ if rows is None else models.passives_[rows]].sum() / w.sum()
    if not 0 < p < 1:
        return 0.0
    n_eff = w.sum() ** 2 / (w ** 2).sum()
    return float(models.n_base_ * np.sqrt(p * (1 - p) / n_eff))


def _count_draws(mean: float, se: float, n_draws: int, seed) -> np.ndarray:
    """``n_draws`` draws of an estimated count: normal around ``mean`` with ``se``, at least 0,
    from their own generator; a count without error (``se`` 0) is the same in every draw."""
    if se <= 0:
        return np.full(n_draws, float(mean))
    return np.clip(np.random.default_rng(seed).normal(mean, se, n_draws), 0, None)


def _passive_orders(models) -> np.ndarray:
    """Orders of the models' passives (in ``passives_`` order), taken from the fitted data once per
    models object: the ROI's draws ask for them hundreds of times (per segment, per batch), and
    converting the whole column each time took most of the segment-level ROI's time."""
    cached = models.__dict__.get("_cx_passive_orders")
    if cached is None:
        cached = models.data_["orders"].to_numpy(float)[models.design_.rows][models.passives_]
        models.__dict__["_cx_passive_orders"] = cached
    return cached


def _design_row_codes(models) -> np.ndarray:
    """:func:`cxanalysis.design.row_codes` of the models' design, computed once per models object
    (the passives' are ``codes[models.passives_]``)."""
    cached = models.__dict__.get("_cx_row_codes")
    if cached is None:
        from .design import row_codes

        cached = row_codes(models.design_.X)
        models.__dict__["_cx_row_codes"] = cached
    return cached


def _distinct(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first row of each distinct code, and each row's distinct-row index."""
    _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    return first, inv.ravel()


def _draw_batch(n_draws: int, n_rows: int) -> int:
    """Parameter draws evaluated at once over ``n_rows`` distinct rows: about 2M values (16 MB)
    per array."""
    return max(1, min(n_draws, 2_000_000 // max(n_rows, 1)))


def _row_weights(models, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The averaging weights of passives ``rows`` (their prior weights, normalised; else equal),
    the order-weighted ones for returns (each weight times its orders, normalised over the rows
    with orders; 0 elsewhere) and which rows have orders."""
    pw = _passive_weights(models, rows)
    c = np.full(len(rows), 1.0 / max(len(rows), 1)) if pw is None else pw / pw.sum()
    orders = _passive_orders(models)[rows] if "orders" in models.data_ else np.full(len(rows), np.nan)
    ok = ~np.isnan(orders)
    cr = np.zeros(len(rows))
    if ok.any():
        cr[ok] = c[ok] / c[ok].sum() * orders[ok]
    return c, cr, ok


def _passive_design(models, rows: np.ndarray) -> dict:
    """The design rows of passives ``rows`` collapsed to their distinct rows, with the averaging
    weights summed per distinct row (``c``), and for returns the order-weighted ones (``c_returns``
    over ``X_returns``: rows with orders only, each weight times its orders).

    A mean ``c @ f(X @ b)`` over the rows equals ``c_u @ f(X_u @ b)`` over the distinct rows, so
    every draw is evaluated once per distinct row: 110,044 passives of a 1M-customer export have
    1,372 distinct design rows (plan x region x tenure)."""
    c, cr, ok = _row_weights(models, rows)
    first, inv = _distinct(_design_row_codes(models)[models.passives_[rows]])
    Xu = models.design_.X[models.passives_[rows[first]]]
    out = {"X": Xu, "c": np.bincount(inv, weights=c, minlength=len(Xu))}
    if ok.any():
        keep = np.bincount(inv[ok], minlength=len(Xu)) > 0
        out["X_returns"], out["c_returns"] = Xu[keep], np.bincount(inv, weights=cr, minlength=len(Xu))[keep]
    return out


def _predict(models, X: np.ndarray, params: np.ndarray, slices: dict, outcomes=("spend", "churn", "returns")) -> dict:
    """Predictions for design rows ``X`` as passives and as promoters, for each parameter draw:
    ``{category: {outcome: array (len(X), B)}}`` with spend the any-spend probability times the
    amount (or the amount), churn the probability (the observed rate both share, when
    :meth:`~cxanalysis.models.OutcomeModels.observed_churn` gives one: a penalised fit's invented
    rates would otherwise book a retention step the churn effect says is not there), returns per
    order. Outcomes without a model in ``slices`` are left out."""
    from .design import CX_TERMS

    held = models.observed_churn() if "churn" in outcomes else None
    design = models.design_
    d = design.col(CX_TERMS[0]) if CX_TERMS[0] in design.names else None  # absent without detractors
    pcol = design.col(CX_TERMS[1])
    out = {}
    for cat in ("passive", "promoter"):
        Xc = X.copy()
        if d is not None:
            Xc[:, d] = 0.0
        Xc[:, pcol] = 1.0 if cat == "promoter" else 0.0
        res = {}
        if "spend" in outcomes and ("spend", "any") in slices:
            res["spend"] = (expit(Xc @ params[:, slices[("spend", "any")]].T)
                            * np.exp(Xc @ params[:, slices[("spend", "amount")]].T))
        elif "spend" in outcomes and ("spend", "main") in slices:
            res["spend"] = np.exp(Xc @ params[:, slices[("spend", "main")]].T)
        if "churn" in outcomes and ("churn", "main") in slices:
            res["churn"] = (np.full((len(Xc), len(params)), held) if held is not None
                            else expit(Xc @ params[:, slices[("churn", "main")]].T))
        if "returns" in outcomes and ("returns", "main") in slices:
            res["returns"] = np.exp(Xc @ params[:, slices[("returns", "main")]].T)
        out[cat] = res
    return out


def _passive_predictions(models, params: np.ndarray, rows: np.ndarray, slices: dict,
                         collapsed: dict | None = None) -> dict:
    """Mean spend / churn / returns of the sampled passives (weighted with the models' prior
    weights), as passive and as promoter, for a batch of parameter draws ``params`` (B, P).
    Returns arrays of length B. ``collapsed``: :func:`_passive_design` of ``rows``, when the
    caller evaluates many batches."""
    dz = collapsed if collapsed is not None else _passive_design(models, rows)
    main = _predict(models, dz["X"], params, slices, ("spend", "churn"))
    returns = (_predict(models, dz["X_returns"], params, slices, ("returns",))
               if ("returns", "main") in slices and "X_returns" in dz else None)
    out = {}
    for cat in ("passive", "promoter"):
        res = {k: dz["c"] @ v for k, v in main[cat].items()}
        if returns is not None:
            res["returns"] = dz["c_returns"] @ returns[cat]["returns"]
        elif ("returns", "main") in slices:
            res["returns"] = np.zeros(len(params))  # no passive with orders: an empty mean, as 0
        out[cat] = res
    return out


#: Distinct passive design rows x parameter draws up to which :class:`_SharedDraws` evaluates
#: every passive (about 1,400 x 1,000 at 1M customers); beyond, segments use a sample of passives.
SHARED_DRAWS_MAX = 4_000_000


class _SharedDraws:
    """Every passive's predictions for every parameter draw, once for all segments.

    The passives' design has few distinct rows (plan x region x tenure: 1,372 among 110,044
    passives of a 1M-customer export). Each draw is evaluated once per distinct row; a segment's
    mean over its passives is then its passives' weights summed per distinct row times those
    predictions: exact over every passive of every segment, for the cost of one evaluation.
    """

    def __init__(self, models, draws: np.ndarray, slices: dict, first: np.ndarray, inv: np.ndarray):
        self.models, self.slices, self.inv, self.m = models, slices, inv, len(first)
        self.pred = _predict(models, models.design_.X[models.passives_[first]], draws, slices)

    @classmethod
    def build(cls, models, draws: np.ndarray, slices: dict) -> _SharedDraws | None:
        """The shared predictions, or None when the distinct rows x draws exceed
        :data:`SHARED_DRAWS_MAX` (a continuous covariate: nearly every passive distinct)."""
        first, inv = _distinct(_design_row_codes(models)[models.passives_])
        return cls(models, draws, slices, first, inv) if len(first) * len(draws) <= SHARED_DRAWS_MAX else None

    def means(self, rows: np.ndarray) -> dict:
        """Mean spend, churn and returns of passives ``rows`` for each draw, as
        :func:`_passive_predictions` computes them on those rows (weights as there)."""
        c, cr, _ = _row_weights(self.models, rows)
        cells = self.inv[rows]
        cu = np.bincount(cells, weights=c, minlength=self.m)
        cru = np.bincount(cells, weights=cr, minlength=self.m)
        out = {}
        for cat, pred in self.pred.items():
            res = {k: cu @ v for k, v in pred.items() if k != "returns"}
            if "returns" in pred:
                res["returns"] = cru @ pred["returns"]
            out[cat] = res
        return out


def _settings(config, assumptions: Assumptions | None, n_draws: int | None, random_state: int | None):
    """The assumptions, number of draws and seed of a simulation: the arguments, else the config's
    (``roi:`` section and ``seed``), else the documented defaults."""
    a = assumptions or (Assumptions.from_config(config) if config is not None else Assumptions())
    n_draws = n_draws or (config.roi["n_draws"] if config is not None else 1000)
    seed = random_state if random_state is not None else (config.seed if config is not None else 0)
    return a, n_draws, seed


def _value_of(means: dict, a: Assumptions):
    """Value per moved passive from mean spend / churn / returns as passive and as promoter
    (arrays of draws or numbers; an outcome not modelled counts 0; churn clipped to [0, 1])."""
    p, q = means["passive"], means["promoter"]
    zero = np.zeros_like(np.asarray(p["spend"], float))
    return value_per_customer(p["spend"], np.clip(p["churn"], 0, 1), p.get("returns", zero),
                              q["spend"], np.clip(q["churn"], 0, 1), q.get("returns", zero), a)


def _value_draws(models, rows: np.ndarray, est: dict, theta: np.ndarray, draws: np.ndarray, slices: dict,
                 a: Assumptions, max_passives: int, rng) -> np.ndarray:
    """Value per moved passive for each parameter draw, for the passives ``rows``.

    Each draw's mean spend, churn and returns (as passive and as promoter) are evaluated on at
    most ``max_passives`` of the rows (drawn with ``rng``) and centred on the full estimate
    ``est``: the sample of passives only sets the spread, which comes from the parameters.
    """
    if len(rows) > max_passives:
        rows = np.sort(rng.choice(rows, size=max_passives, replace=False))
    collapsed = _passive_design(models, rows)
    at_hat = _passive_predictions(models, theta[None, :], rows, slices, collapsed)
    n = len(draws)
    sims = {cat: {k: np.zeros(n) for k in ("spend", "churn", "returns")} for cat in ("passive", "promoter")}
    step = _draw_batch(n, len(collapsed["X"]))
    for start in range(0, n, step):
        pred = _passive_predictions(models, draws[start:start + step], rows, slices, collapsed)
        for cat in sims:
            for k, v in pred[cat].items():
                sims[cat][k][start:start + step] = v - at_hat[cat][k][0] + est[cat][k]
    return _value_of(sims, a)


def _parameter_draws(models, n_draws: int, seed: int):
    """Estimates, draws and part slices of all outcome models' parameters.

    Draws from ``N(theta_hat, V)`` with ``V`` from :meth:`OutcomeModels.joint_covariance`; the
    generator is seeded with ``seed`` and used for nothing before, so the passive-to-promoter ROI and
    the retention scenarios with the same seed and ``n_draws`` use the very same draws. Returns
    ``theta, draws, slices, rng`` (the generator, for what the caller draws next).
    """
    parts, V = models.joint_covariance()
    theta = np.concatenate([models.outcomes_[o].parts[pt].params for o, pt in parts])
    sizes = [len(models.outcomes_[o].parts[pt].params) for o, pt in parts]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    slices = {part: slice(offs[i], offs[i + 1]) for i, part in enumerate(parts)}
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(theta, V, size=n_draws, method="eigh")
    return theta, draws, slices, rng


def missing_inputs(models) -> dict[str, str]:
    """Why the passive-to-promoter ROI cannot be computed: outcome -> reason (empty when it can).

    The value needs the spend and churn models and, for each, the promoter-vs-passive contrast
    (e.g. no promoters in the data leaves nothing to move passives towards).
    """
    out = {}
    for o in ("spend", "churn"):
        if o not in models.outcomes_:
            out[o] = str(models.skipped_.get(o, "not fitted"))
        elif f"{o}.promoter_vs_passive" in models.skipped_:
            out[o] = str(models.skipped_[f"{o}.promoter_vs_passive"])
    return out


def steady_churn_note(data: pd.DataFrame, *, alpha: float = 0.05) -> str | None:
    """A warning when the quarter's churn cannot be a steady rate: taken as one (as the lifetime
    values are), churn ``c`` a quarter keeps a customer ``3 / c`` months on average, and in a
    steady base the customers present have stayed about as long (under a constant rate, the time
    already stayed has the same mean as a whole stay). When the export's customers have already
    stayed more than twice as long as even the lowest churn in its 95% (Wilson) interval allows,
    this quarter's churn is not the steady rate: a one-off wave, or churn counted over a longer
    window. None otherwise, or without churn and tenure."""
    if "churned" not in data or "tenure_months" not in data:
        return None
    ok = data[["churned", "tenure_months"]].astype(float).dropna()
    n = len(ok)
    if n < 30:
        return None
    c = float(ok["churned"].mean())
    low, _ = wilson_interval(c * n, n, alpha)
    stayed = float(ok["tenure_months"].mean())
    if low <= 0 or stayed <= 2 * 3 / low:
        return None
    return (f"The quarter's churn ({c:.1%}), taken as a steady rate as the lifetime values take it, keeps a customer "
            f"{3 / c:.0f} months on average, yet the customers in this export have already stayed {stayed:.0f} "
            "months on average. This quarter's churn is unlikely to be a steady rate (a one-off wave, or churn "
            "counted over a longer window): the lifetime values and the retention figures built on it undervalue "
            "a customer. Check the export's churn window before using them.")


def passive_to_promoter(
    models,
    config=None,
    *,
    assumptions: Assumptions | None = None,
    n_draws: int | None = None,
    max_passives: int = 20_000,
    random_state: int | None = None,
) -> PassiveToPromoter:
    """ROI of moving passives to promoters, with a 95% interval from the fitted models.

    Parameters
    ----------
    models : OutcomeModels
        Fitted with ``keep_scores=True``; needs spend and churn (returns optional: without it
        the returns term is 0, noted).
    config : Config, optional
        Source of the assumptions, ``roi.n_draws`` and ``seed``.
    assumptions : Assumptions, optional
        Overrides the config's.

    Returns
    -------
    PassiveToPromoter

    Notes
    -----
    ``share_of_passives_moved`` may be a range ``(low, high)``: the point estimate moves
    ``round(midpoint x passives)`` customers, and each simulation draw moves
    ``round(u x passives)`` with ``u ~ Uniform(low, high)`` drawn independently of the parameters,
    so the interval of benefit, net and ROI widens with the range and equals the single-share
    interval when ``low == high``. The interval of the value per customer is unaffected.

    With weights, the number of passives in the base is an estimate (the weighted passive share
    times the base); each draw also draws it, normal with :func:`passive_count_se`, independently
    of the parameters, so benefit, net and ROI carry that uncertainty too. Unweighted models count
    the passives, and every draw moves the same number (for a single share).

    Raises
    ------
    ValueError
        When spend or churn was not modelled, or its promoter-vs-passive contrast was skipped
        (``models.skipped_["spend.promoter_vs_passive"]``, e.g. no promoters): the value cannot be
        computed.
    """
    a, n_draws, seed = _settings(config, assumptions, n_draws, random_state)
    for needed in ("spend", "churn"):
        if needed not in models.outcomes_:
            raise ValueError(f"The ROI needs a {needed} model: {models.skipped_.get(needed, 'not fitted')}.")
        why = models.skipped_.get(f"{needed}.promoter_vs_passive")
        if why is not None:
            raise ValueError(f"The ROI needs the promoter-vs-passive {needed} effect: {why}.")
    notes = []
    est = {cat: {} for cat in ("passive", "promoter")}
    for outcome in ("spend", "churn", "returns"):
        if outcome in models.outcomes_ and f"{outcome}.promoter_vs_passive" not in models.skipped_:
            means = models.passive_means(outcome)
            for cat in est:
                est[cat][outcome] = means[cat][0]
        else:
            for cat in est:
                est[cat][outcome] = 0.0
            why = models.skipped_.get(outcome) or models.skipped_.get(f"{outcome}.promoter_vs_passive")
            notes.append(f"No {outcome} model ({why}): its term is left out of the value.")
    if (steady := steady_churn_note(models.data_)) is not None:
        notes.append(steady)
    if (held := models.observed_churn()) is not None:
        est["passive"]["churn"] = est["promoter"]["churn"] = held
        notes.append(f"No promoter and no passive {'churned' if held == 0 else 'stayed'}: their churn is held at the "
                     f"observed {held:.0%} as passives and as promoters, so moving passives changes no churn here "
                     "(the churn effect is the observed difference, 0).")
    p, q = est["passive"], est["promoter"]
    value = float(value_per_customer(p["spend"], p["churn"], p["returns"], q["spend"], q["churn"], q["returns"], a))
    n_passives = _base_passives(models, np.arange(len(models.passives_)))
    moved = a.moved(n_passives)
    cost = program_cost(a)
    benefit = moved * value
    net = benefit - cost
    roi = net / cost if cost > 0 else float("inf")

    # simulation from the joint sampling distribution of all models' parameters
    theta, draws, slices, rng = _parameter_draws(models, n_draws, seed)
    if "returns.promoter_vs_passive" in models.skipped_:
        slices.pop(("returns", "main"), None)  # its term is left out of the value (noted above)
    if getattr(models, "weights_", None) is not None:
        notes.append(f"Passives counted in the whole base: the weighted passive share of the respondents times the "
                     f"base, {n_passives:,} (against {len(models.passives_):,} passives among the respondents).")
    if len(models.passives_) > max_passives:
        notes.append(f"Interval evaluated on a random {max_passives:,} of the {len(models.passives_):,} passives, "
                     "centred on the full estimate.")
    v_draws = _value_draws(models, np.arange(len(models.passives_)), est, theta, draws, slices, a, max_passives, rng)
    # the share moved: uniform on its range, from its own generator (the parameter draws and the
    # sample of passives do not depend on it); a single share gives the same count in every draw
    lo_s, hi_s = a.share_range
    if a.customers_moved is None:
        share_draws = np.random.default_rng([seed, 1]).uniform(lo_s, hi_s, n_draws)
        # with weights, the number of passives in the base is itself estimated: drawn too, from
        # its own generator (normal on the count, as the NPS intervals are Wald on the shares)
        se = passive_count_se(models)
        passive_draws = _count_draws(n_passives, se, n_draws, [seed, 2])
        moved_draws = np.round(share_draws * passive_draws)
        if hi_s > lo_s:
            notes.append(f"Share of passives moved drawn uniformly between {lo_s:.0%} and {hi_s:.0%} in each draw: "
                         "the ROI interval carries that range as well as the models' uncertainty.")
        if se > 0:
            notes.append(f"The number of passives in the base is estimated from the weighted respondents "
                         f"({n_passives:,}, standard error {se:,.0f}) and drawn in each draw, so the intervals of "
                         "benefit, net and ROI carry it too.")
    else:
        passive_draws = np.full(n_draws, float(n_passives))
        share_draws = np.full(n_draws, np.nan)
        moved_draws = np.full(n_draws, float(moved))
    benefit_draws = moved_draws * v_draws
    net_draws = benefit_draws - cost
    roi_draws = net_draws / cost if cost > 0 else np.full(n_draws, np.inf)
    pct = lambda x: (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5)))  # noqa: E731
    intervals = {"value_per_customer": pct(v_draws), "benefit": pct(benefit_draws), "net": pct(net_draws),
                 "roi": pct(roi_draws)}
    frame = pd.DataFrame({"value_per_customer": v_draws, "share_moved": share_draws, "passives": passive_draws,
                          "customers_moved": moved_draws, "net": net_draws, "roi": roi_draws})
    return PassiveToPromoter(a, n_passives, moved, p, q, value, benefit, cost, net, roi, intervals, n_draws,
                             notes, frame, steady_churn=steady)


MIN_SEGMENT_PASSIVES = 10


def by_segment(
    models,
    segments: pd.DataFrame,
    dimensions,
    config=None,
    *,
    assumptions: Assumptions | None = None,
    n_draws: int | None = None,
    max_passives: int = 2_000,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Where moving passives pays most: the passive-to-promoter ROI of each segment's passives.

    For every segment of every dimension, the same estimand as :func:`passive_to_promoter`
    restricted to that segment's current passives: their mean predicted spend, churn and returns
    as passives and as promoters (covariates held at their own values), the value of moving one of
    them (DESIGN.md's CLV difference), the customers a program would move there (the configured
    share of the segment's passives, or the configured count shared out in proportion to passives)
    and its net value and ROI against **its share of the program cost**, in proportion to the
    passives it holds (``cost x n_passives / all passives``): the cost a program aimed at all
    passives spends on this segment's. The segments' costs add up to the program's, their ROIs
    rank as their values per moved passive do, and a segment "pays" when its value per moved
    passive beats the program's cost per moved passive. (Charging every segment the whole cost
    would make each one look worse than the program it is part of.) Intervals come from the very same parameter draws as :func:`passive_to_promoter`
    (same seed and ``n_draws``), so segments and the overall figure are directly comparable. With
    weights, each segment's number of passives in the base is an estimate and is drawn too
    (:func:`passive_count_se` of its passives); its share of the cost stays the estimate's.

    Parameters
    ----------
    models : OutcomeModels
        Fitted with ``keep_scores=True`` on the rows of ``segments`` (same order).
    segments : DataFrame
        The data the models were fitted on, with one column per dimension (e.g. from
        :func:`cxanalysis.segments.add_segments`).
    dimensions : list of str
        Segment columns.
    config, assumptions, n_draws, random_state
        As :func:`passive_to_promoter`.
    max_passives : int
        Each draw is evaluated on every passive of every segment when the passives' design has
        few distinct rows (categories and whole numbers; :data:`SHARED_DRAWS_MAX`), once per
        distinct row for all segments together. Otherwise (a continuous covariate) the draws of
        a segment with more passives are evaluated on a random ``max_passives`` of them and
        centred on the segment's full estimate (the spread comes from the parameters, which 2,000
        passives average precisely; it keeps 30 segments of a million customers to a few seconds).

    Returns
    -------
    DataFrame
        ``dimension, segment, n_passives, customers_moved, value_per_customer, ci_low, ci_high,
        net, net_ci_low, net_ci_high, roi, roi_ci_low, roi_ci_high, cost`` (the segment's share of
        the discounted program cost), ``diff_vs_all, diff_ci_low, diff_ci_high`` (its value per
        moved passive less every passive's, with the 95% interval of that difference from the same
        draws) and ``diff_adj_ci_low, diff_adj_ci_high`` (the same at Bonferroni's level over the
        rows of the table, ``1 - 0.05 / rows``: the level to single out the best of many segments;
        normal, ``diff ± z sd`` on the draws' standard deviation, as its tails lie beyond what the
        draws can place),
        sorted by value per moved passive (highest first). Segments with fewer than ``MIN_SEGMENT_PASSIVES`` (10) passives are
        left out.
    """
    a, n_draws, seed = _settings(config, assumptions, n_draws, random_state)
    if missing_inputs(models):
        raise ValueError(f"The ROI needs spend and churn effects: {missing_inputs(models)}.")
    theta, draws, slices, rng = _parameter_draws(models, n_draws, seed)
    if "returns.promoter_vs_passive" in models.skipped_:
        slices.pop(("returns", "main"), None)
    n_all = _base_passives(models, np.arange(len(models.passives_)))
    share = (a.customers_moved / n_all if a.customers_moved is not None and n_all else a.share_midpoint)
    lo_s, hi_s = a.share_range if a.customers_moved is None else (share, share)
    share_draws = np.random.default_rng([seed, 1]).uniform(lo_s, hi_s, n_draws)
    cost = program_cost(a)
    at_rows = models.design_.rows[models.passives_]
    pct = lambda x: (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5)))  # noqa: E731
    shared = _SharedDraws.build(models, draws, slices)
    # every passive's value, from the same draws: each segment's difference from it has an
    # interval that allows for the segment being part of the whole (no overlapping-interval reading)
    every = np.arange(len(models.passives_))
    at_all = _passive_predictions(models, theta[None, :], every, slices)
    est_all = {cat: {k: float(v[0]) for k, v in at_all[cat].items()} for cat in at_all}
    value_all = float(_value_of(est_all, a))
    all_draws = (_value_of(shared.means(every), a) if shared is not None
                 else _value_draws(models, every, est_all, theta, draws, slices, a, max_passives, rng))
    diffs = []

    out = []
    for dim in dimensions:
        labels = segments[dim].astype(object).to_numpy()[at_rows]
        for level in pd.unique(labels[pd.notna(labels)]):
            rows = np.flatnonzero(labels == level)
            if len(rows) < MIN_SEGMENT_PASSIVES:
                continue
            at = _passive_predictions(models, theta[None, :], rows, slices)  # the segment's own estimate
            est = {cat: {k: float(v[0]) for k, v in at[cat].items()} for cat in at}
            value = float(_value_of(est, a))
            if shared is not None:  # every passive of the segment, from the shared predictions
                v_draws = _value_of(shared.means(rows), a)
            else:
                v_draws = _value_draws(models, rows, est, theta, draws, slices, a, max_passives, rng)
            n_seg = _base_passives(models, rows)
            moved = int(round(share * n_seg))
            seg_cost = cost * n_seg / n_all if n_all else cost  # its share of the program, by passives
            seg_se = passive_count_se(models, rows) if a.customers_moved is None else 0.0
            seg_draws = _count_draws(n_seg, seg_se, n_draws, [seed, 2])
            net_draws = np.round(share_draws * seg_draws) * v_draws - seg_cost
            net = moved * value - seg_cost
            (vlo, vhi), (nlo, nhi) = pct(v_draws), pct(net_draws)
            def ratio(x, seg_cost=seg_cost):
                return x / seg_cost if seg_cost > 0 else float("inf")
            diffs.append(v_draws - all_draws)
            dlo, dhi = pct(diffs[-1])
            out.append(dict(dimension=str(dim).removesuffix("_band"), segment=str(level), n_passives=n_seg,
                            customers_moved=moved, value_per_customer=value, ci_low=vlo, ci_high=vhi, net=net,
                            net_ci_low=nlo, net_ci_high=nhi, roi=ratio(net), roi_ci_low=ratio(nlo),
                            roi_ci_high=ratio(nhi), cost=seg_cost, diff_vs_all=value - value_all,
                            diff_ci_low=dlo, diff_ci_high=dhi))
    # the same difference at Bonferroni's level over every segment compared: the best of many
    # segments stands out by chance alone, so "singled out" is read at this level. Its tails
    # (0.09% each for 28 segments) lie beyond what 1,000 draws can place, so it is normal on the
    # draws' standard deviation rather than their percentiles
    z = float(ndtri(1 - 0.025 / max(len(out), 1)))
    for row, d in zip(out, diffs, strict=True):
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
        row["diff_adj_ci_low"], row["diff_adj_ci_high"] = row["diff_vs_all"] - z * sd, row["diff_vs_all"] + z * sd
    cols = ["dimension", "segment", "n_passives", "customers_moved", "value_per_customer", "ci_low", "ci_high",
            "net", "net_ci_low", "net_ci_high", "roi", "roi_ci_low", "roi_ci_high", "cost", "diff_vs_all",
            "diff_ci_low", "diff_ci_high", "diff_adj_ci_low", "diff_adj_ci_high"]
    return pd.DataFrame(out, columns=cols).sort_values("value_per_customer", ascending=False, ignore_index=True)


def sensitivity(result: PassiveToPromoter) -> pd.DataFrame:
    """ROI at a low and a high value of each assumption, others held at their values.

    Ranges: margin x0.8 / x1.2 (capped at 1), share moved x0.5 / x1.5 (the ends of its range when
    configured as a range), horizon -1 / +2 years,
    discount rate x0.5 / x1.5, cost per return x0.5 / x1.5, program and team costs x0.75 / x1.25.

    Returns
    -------
    DataFrame
        ``assumption, low_label, high_label, roi_low, roi_high`` (and net at each end).
    """
    a, p, q = result.assumptions, result.as_passive, result.as_promoter

    def roi_for(b: Assumptions) -> tuple[float, float]:
        v = float(value_per_customer(p["spend"], p["churn"], p["returns"], q["spend"], q["churn"], q["returns"], b))
        moved = b.moved(result.n_passives)
        cost = program_cost(b)
        net = moved * v - cost
        return net / cost, net

    h = a.horizon_years
    cases = [
        ("Gross margin", replace(a, gross_margin=a.gross_margin * 0.8), replace(a, gross_margin=min(1.0, a.gross_margin * 1.2)),
         lambda b: f"{b.gross_margin:.0%}"),
        ("Horizon", replace(a, horizon_years=max(1, h - 1)), replace(a, horizon_years=h + 2), lambda b: f"{b.horizon_years} y"),
        ("Discount rate", replace(a, discount_rate=a.discount_rate * 0.5), replace(a, discount_rate=a.discount_rate * 1.5),
         lambda b: f"{b.discount_rate:.1%}"),
        ("Cost per return", replace(a, cost_per_return=a.cost_per_return * 0.5), replace(a, cost_per_return=a.cost_per_return * 1.5),
         lambda b: f"{b.cost_per_return:,.1f}"),
        ("Program + team cost",
         replace(a, program_cost_per_year=a.program_cost_per_year * 0.75, team_cost_per_year=a.team_cost_per_year * 0.75),
         replace(a, program_cost_per_year=a.program_cost_per_year * 1.25, team_cost_per_year=a.team_cost_per_year * 1.25),
         lambda b: f"{b.program_cost_per_year + b.team_cost_per_year:,.0f}/y"),
    ]
    if not result.has_returns:  # no returns in the value: their cost changes nothing
        cases = [c for c in cases if c[0] != "Cost per return"]
    if a.customers_moved is None:
        lo_s, hi_s = a.share_range
        if hi_s == lo_s:
            lo_s, hi_s = a.share_midpoint * 0.5, min(1.0, a.share_midpoint * 1.5)
        cases.insert(1, ("Share of passives moved", replace(a, share_of_passives_moved=lo_s),
                         replace(a, share_of_passives_moved=hi_s), lambda b: f"{b.share_midpoint:.0%}"))
    else:
        cases.insert(1, ("Customers moved", replace(a, customers_moved=round(a.customers_moved * 0.5)),
                         replace(a, customers_moved=round(a.customers_moved * 1.5)), lambda b: f"{b.customers_moved:,}"))
    rows = []
    for name, lo, hi, label in cases:
        (r_lo, n_lo), (r_hi, n_hi) = roi_for(lo), roi_for(hi)
        rows.append(dict(assumption=name, low_label=label(lo), high_label=label(hi), roi_low=r_lo, roi_high=r_hi,
                         net_low=n_lo, net_high=n_hi))
    return pd.DataFrame(rows)


MIN_SCENARIO_CUSTOMERS = 30


def retention_skip_reason(data: pd.DataFrame, models=None) -> str | None:
    """Why :func:`retention_scenarios` cannot run on ``data`` (None when it can).

    It needs spend and churned, with at least ``MIN_SCENARIO_CUSTOMERS`` (30) customers having
    each and at least one churner; given the fitted ``models``, it also needs their spend and
    churn models (the churn model says who is at risk, the spend model what they are worth).
    """
    for col in ("spend", "churned"):
        if col not in data:
            return f"needs spend and churned columns (no {col})"
        if int(data[col].notna().sum()) < MIN_SCENARIO_CUSTOMERS:
            return f"needs at least {MIN_SCENARIO_CUSTOMERS} customers with {col} (has {int(data[col].notna().sum())})"
    if float(data["churned"].sum()) == 0:
        return "no customer churned this quarter: there is no churn to prevent"
    if models is not None:
        for o in ("spend", "churn"):
            if o not in models.outcomes_:
                return f"needs a {o} model ({models.skipped_.get(o, 'not fitted')})"
    return None


def _customer_groups(models, rows: np.ndarray, slices: dict) -> dict:
    """Design rows ``rows`` collapsed to their distinct rows for :func:`_group_profiles`: each
    distinct row's count ``n`` (its customers' prior weights summed, when the models have them),
    and the count ``n_r`` and sum ``s_r`` (weighted alike) of what multiplies its
    predicted returns (orders with a returns model, observed returns without one; rows where that
    is missing are left out of the returns means)."""
    design = models.design_
    first, inv = _distinct(_design_row_codes(models)[rows])
    k = len(first)
    w = getattr(models, "weights_", None)
    w = np.ones(len(rows)) if w is None else np.asarray(w, float)[rows]
    out = {"X": design.X[rows[first]], "n": np.bincount(inv, weights=w, minlength=k)}
    if ("returns", "main") in slices:
        r = models.data_["orders"].to_numpy(float)[design.rows][rows]
    elif "returns" in models.data_:
        r = models.data_["returns"].to_numpy(float)[design.rows][rows]
    else:
        r = np.zeros(len(rows))
    ok = ~np.isnan(r)
    out["n_r"] = np.bincount(inv[ok], weights=w[ok], minlength=k)
    out["s_r"] = np.bincount(inv[ok], weights=(w * np.where(ok, r, 0.0))[ok], minlength=k)
    return out


def _group_profiles(params: np.ndarray, groups: dict, slices: dict) -> dict[str, dict[str, np.ndarray]]:
    """The customer at risk (predicted-churn-weighted means of the predicted spend, churn and
    returns) and the average customer (their means), for parameter draws ``params`` (B, P): arrays
    of length B. Evaluated once per distinct design row of ``groups``
    (:func:`_customer_groups`): sums over customers are count-weighted sums over distinct rows."""
    X, n, n_r, s_r = groups["X"], groups["n"], groups["n_r"], groups["s_r"]
    if ("spend", "any") in slices:
        sp = expit(X @ params[:, slices[("spend", "any")]].T) * np.exp(X @ params[:, slices[("spend", "amount")]].T)
    else:
        sp = np.exp(X @ params[:, slices[("spend", "main")]].T)
    p = expit(X @ params[:, slices[("churn", "main")]].T)
    e = np.exp(X @ params[:, slices[("returns", "main")]].T) if ("returns", "main") in slices else 1.0
    np_ = n[:, None] * p
    n_ok = n_r.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        sum_p = np_.sum(axis=0)
        w_r = (n_r[:, None] * p).sum(axis=0)
        ret = (s_r[:, None] * e * p).sum(axis=0)
        at_risk = {"spend": (np_ * sp).sum(axis=0) / sum_p, "churn": (np_ * p).sum(axis=0) / sum_p,
                   "returns": ret / w_r if n_ok > 0 else np.zeros(len(params))}
        total = n.sum()
        average = {"spend": n @ sp / total, "churn": n @ p / total,
                   "returns": (s_r[:, None] * e).sum(axis=0) / n_ok if n_ok > 0 else np.zeros(len(params))}
    return {"at_risk": at_risk, "average": average}


def at_risk_profile(models, slices: dict | None = None) -> dict[str, dict[str, float]]:
    """Quarterly spend, churn and returns of the customer at risk and of the average customer.

    The customer at risk is the modelled customers' average weighted by each one's predicted
    churn probability ``p_i`` (the churn model's prediction at their own category and covariates):
    ``s* = sum p_i s_i / sum p_i``, ``c* = sum p_i^2 / sum p_i``, ``r* = sum p_i r_i / sum p_i``,
    with ``s_i, r_i`` the spend and returns models' predictions. The average customer is the plain
    mean of the same predictions. With prior weights (respondents raked to the base) every sum is
    weighted: both customers then stand for the base, not for the respondents.

    Returns
    -------
    dict
        ``{"at_risk": {"spend", "churn", "returns"}, "average": {...}}`` (floats).
    """
    if slices is None:
        theta, _, slices, _ = _parameter_draws(models, 0, 0)
    else:
        theta = np.concatenate([models.outcomes_[o].parts[pt].params for o, pt in slices])
    out = _group_profiles(theta[None, :], _customer_groups(models, np.arange(len(models.design_.rows)), slices), slices)
    return {who: {k: float(v[0]) for k, v in prof.items()} for who, prof in out.items()}


def months_factor(horizon_years: float, discount_rate: float) -> float:
    """``A_T = sum_{m=1..12T} (1 + d)^(-(m-1)/12)``: discounted months of retention in ``T`` years.

    A customer retained at the start of month ``m`` is valued at that moment, so today's value of
    retaining one customer a month for ``T`` years is ``A_T x CLV``.
    """
    m = np.arange(1, int(round(12 * horizon_years)) + 1)
    return float(np.sum((1 + discount_rate) ** (-(m - 1) / 12)))


@dataclass
class RetentionScenarios:
    """Retention scenarios with their break-evens. ``summary`` is the scenario table."""

    assumptions: Assumptions
    n_customers: int
    at_risk: dict[str, float]
    average: dict[str, float]
    value_per_customer: float
    average_value: float
    intervals: dict[str, tuple[float, float]]
    table: pd.DataFrame
    break_even: pd.DataFrame
    n_draws: int
    notes: list[str] = field(default_factory=list)
    draws: pd.DataFrame | None = field(default=None, repr=False)
    n_base: float | None = None
    has_returns: bool = True
    churn_flagged: bool = False

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    @property
    def base_size(self) -> float:
        """The customers the models speak for: ``n_base`` (the sum of the weights when respondents
        are weighted), else the modelled customers."""
        return float(self.n_base if self.n_base is not None else self.n_customers)

    @property
    def leavers_per_month(self) -> float:
        """Customers who leave in a month, as the models see the base: :attr:`base_size` times the
        average customer's predicted quarterly churn, over 3. The break-even reads against it."""
        return float(self.base_size * self.average["churn"] / 3)

    def headline_break_even(self) -> pd.Series:
        """The break-even row the pages quote: the first whole-year horizon's (the same for every
        whole year: each year pays its own cost and keeps its own customers), else the first."""
        be = self.break_even
        whole = be["horizon_years"] >= 1
        return be[whole].iloc[0] if whole.any() else be.iloc[0]

    def profile(self) -> pd.DataFrame:
        """The customer at risk beside the average customer: spend, churn (a share) and returns
        (items) a quarter, and the value (discounted CLV over the ROI horizon) with its interval.
        Returns are missing (NaN), not 0, when the export has none."""
        rows = []
        for label, prof, v, key in (("Customer at risk (weighted by predicted churn)", self.at_risk,
                                     self.value_per_customer, "value_per_customer"),
                                    ("Average customer", self.average, self.average_value, "average_value")):
            lo, hi = self.intervals[key]
            rows.append({"customer": label, "spend_a_quarter": prof["spend"], "churn_a_quarter": prof["churn"],
                         "returns_a_quarter": prof["returns"] if self.has_returns else float("nan"), "value": v,
                         "ci_low": lo, "ci_high": hi})
        return pd.DataFrame(rows)

    def to_results(self) -> dict:
        """``roi.retention`` of results.json: the retained customer's value and the break-evens."""
        lo, hi = self.intervals["value_per_customer"]
        alo, ahi = self.intervals["average_value"]
        return {"value_per_customer": self.value_per_customer, "value_per_customer_ci_low": lo,
                "value_per_customer_ci_high": hi, "average_customer_value": self.average_value,
                "average_customer_value_ci_low": alo, "average_customer_value_ci_high": ahi,
                "value_horizon_years": int(self.assumptions.horizon_years), "at_risk": self.at_risk,
                "average_customer": self.average, "n_customers": self.n_customers, "n_draws": self.n_draws,
                "leavers_per_month": self.leavers_per_month,
                "break_even": self.break_even.to_dict("records"),
                "estimand": "discounted CLV over the ROI horizon of a customer with the predicted-churn-weighted "
                            "profile, per customer retained at the start of each month",
                "method": "simulation from the joint sandwich covariance"}

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda x: f"{x:,.2f}")


def retention_scenarios(
    models,
    config=None,
    *,
    assumptions: Assumptions | None = None,
    retained_per_month=None,
    horizons_years=None,
    n_draws: int | None = None,
    max_customers: int = 20_000,
    random_state: int | None = None,
    alpha: float = 0.05,
) -> RetentionScenarios:
    """Value of retaining ``N`` more customers a month for ``T`` years, net of program costs.

    **Estimand.** A program runs for ``T`` years and, at the start of each month, keeps ``N``
    customers who would otherwise have left this quarter. Without it they would have gone, so each
    is worth their whole discounted CLV over the ROI horizon ``H`` (``horizon_years``) from the
    moment they are kept — DESIGN.md's ``CLV(s, c, r)``, the same horizon value as a passive moved
    to promoter — discounted to today from the start of month ``m``::

        value(N, T) = N x CLV_H(s*, c*, r*) x A_T,   A_T = sum_{m=1..12T} (1 + d)^(-(m-1)/12)

    ``s*, c*, r*`` are the quarterly spend, churn probability and returns of the **customer at
    risk**: the fitted models' predictions for every modelled customer (at their own CX category
    and covariates), averaged with weights ``p_i``, each customer's predicted churn probability
    (:func:`at_risk_profile`). Under the churn model ``p_i / sum p_j`` is the probability that a
    leaver is customer ``i``, so this is the expected profile of a customer who leaves —
    ``E[spend | churns]`` — not the average customer's: leavers spend less and are more often
    detractors. (A logistic fit with an intercept makes the ``p``-weighted mean of every model term
    equal the actual churners' mean, so it keeps their mix of categories and covariates, smoothed
    by the model.) A top-risk group was not used: its cut-off is arbitrary and it would value a
    retained customer on the riskiest customers only. A retained customer keeps that risk: they
    leave later at ``c*`` a quarter. ``H``-year values of customers kept near the end of the
    program reach beyond ``T``: that is the value their retention creates.

    **Cost** ``program_cost(a, T)``: paid at the start of each year the program runs, so a
    quarter pays a full year. **Break-even** ``N*(T) = cost(T) / (A_T x CLV_H(s*, c*, r*))``:
    customers retained a month for the net value to be 0 (``inf`` when the value is not
    positive).

    **Uncertainty.** ``s*, c*, r*`` are recomputed for each draw of all models' parameters from
    their joint covariance — the very draws of :func:`passive_to_promoter` for the same seed and
    ``n_draws`` — on a random sample of at most ``max_customers`` customers, centred on the
    full-data estimate. Intervals are percentiles; the break-even's is the value's mapped through
    ``N* = cost / (A_T x value)`` (decreasing, so the ends swap; the upper end is unbounded when
    the value's lower end is not positive). The assumptions carry no interval.

    Parameters
    ----------
    models : OutcomeModels
        Fitted with ``keep_scores=True``; needs the spend and churn models. Without a returns
        model the observed returns are used (weighted the same way), without returns 0.
    config : Config, optional
        Source of the assumptions, ``roi.retained_per_month``, ``roi.scenario_horizons_years``,
        ``roi.n_draws`` and ``seed``.

    Returns
    -------
    RetentionScenarios
        ``table``: ``retained_per_month, horizon_years, customers_retained, value_per_customer,
        gross_margin, ci_low, ci_high, cost, net, net_ci_low, net_ci_high, roi,
        lost_if_not_investing, break_even_per_month, break_even_ci_low, break_even_ci_high`` —
        ``gross_margin`` is ``value(N, T)``; ``lost_if_not_investing`` its mirror (the margin
        forgone by not retaining them). ``break_even``: one row per horizon, ``horizon_years,
        months_factor, cost, break_even_per_month, ci_low, ci_high``.

    Raises
    ------
    ValueError
        Without a spend or churn model (see :func:`retention_skip_reason`).
    """
    a, n_draws, seed = _settings(config, assumptions, n_draws, random_state)
    r_cfg = config.roi if config is not None else {}
    retained_per_month = retained_per_month or r_cfg.get("retained_per_month", (1, 5, 10))
    horizons_years = horizons_years or r_cfg.get("scenario_horizons_years", (0.25, 1, 3, 5, 10))
    for needed in ("spend", "churn"):
        if needed not in models.outcomes_:
            raise ValueError(f"Retention scenarios need a {needed} model: {models.skipped_.get(needed, 'not fitted')}.")
    notes = []
    if "returns" not in models.outcomes_:
        notes.append("No returns model: " + ("the observed returns are used (no interval on them)."
                                             if "returns" in models.data_ else "returns are left out of the value."))
    if (steady := steady_churn_note(models.data_)) is not None:
        notes.append(steady)
    churn = models.outcomes_["churn"]
    if churn.flagged:
        notes.append(f"The churn model is flagged ({'; '.join(churn.flag_reasons)}): who is at risk, and so the "
                     "value of keeping them, rest on it. Read these figures as indicative; their intervals allow "
                     "for sampling under that model only.")
    theta, draws, slices, rng = _parameter_draws(models, n_draws, seed)
    est = at_risk_profile(models, slices)
    n = len(models.design_.rows)
    rows = np.arange(n)
    if n > max_customers:
        rows = np.sort(rng.choice(n, size=max_customers, replace=False))
        notes.append(f"Interval evaluated on a random {max_customers:,} of the {n:,} customers, centred on the full estimate.")
    groups = _customer_groups(models, rows, slices)
    at_hat = _group_profiles(theta[None, :], groups, slices)
    sims = {who: {k: np.zeros(n_draws) for k in ("spend", "churn", "returns")} for who in ("at_risk", "average")}
    step = _draw_batch(n_draws, len(groups["X"]))
    for start in range(0, n_draws, step):
        prof = _group_profiles(draws[start:start + step], groups, slices)
        for who in sims:
            for k, v in prof[who].items():
                sims[who][k][start:start + step] = v - at_hat[who][k][0] + est[who][k]
    for who in sims:
        sims[who]["churn"] = np.clip(sims[who]["churn"], 0, 1)
    kw = dict(margin=a.gross_margin, cost_per_return=a.cost_per_return, discount_rate=a.discount_rate,
              horizon_years=a.horizon_years)
    clv = lambda p: clv_discounted(p["spend"], p["churn"], p["returns"], **kw)  # noqa: E731
    value, average_value = float(clv(est["at_risk"])), float(clv(est["average"]))
    v_draws, avg_draws = clv(sims["at_risk"]), clv(sims["average"])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    pct = lambda x: tuple(float(v) for v in np.percentile(x, q))  # noqa: E731
    intervals = {"value_per_customer": pct(v_draws), "average_value": pct(avg_draws)}
    v_lo, v_hi = intervals["value_per_customer"]
    be_rows, rows_out = [], []
    for h in horizons_years:
        factor = months_factor(h, a.discount_rate)
        cost = program_cost(a, h)
        be = cost / (factor * value) if value > 0 else float("inf")
        be_lo = cost / (factor * v_hi) if v_hi > 0 else float("inf")
        be_hi = cost / (factor * v_lo) if v_lo > 0 else float("inf")
        be_rows.append(dict(horizon_years=h, months_factor=factor, cost=cost, break_even_per_month=be,
                            ci_low=be_lo, ci_high=be_hi))
        for n_ret in retained_per_month:
            g = n_ret * factor * value
            lo, hi = (n_ret * factor * v for v in (v_lo, v_hi))
            rows_out.append(dict(retained_per_month=n_ret, horizon_years=h, customers_retained=n_ret * int(round(12 * h)),
                                 value_per_customer=value, gross_margin=g, ci_low=lo, ci_high=hi, cost=cost,
                                 net=g - cost, net_ci_low=lo - cost, net_ci_high=hi - cost,
                                 roi=(g - cost) / cost if cost > 0 else float("inf"), lost_if_not_investing=g,
                                 break_even_per_month=be, break_even_ci_low=be_lo, break_even_ci_high=be_hi))
    frame = pd.DataFrame({"value_per_customer": v_draws, "average_value": avg_draws,
                          **{f"{k}_at_risk": v for k, v in sims["at_risk"].items()}})
    return RetentionScenarios(a, n, est["at_risk"], est["average"], value, average_value, intervals,
                              pd.DataFrame(rows_out), pd.DataFrame(be_rows), n_draws, notes, frame,
                              n_base=float(getattr(models, "n_base_", n)),
                              has_returns="returns" in models.outcomes_ or "returns" in models.data_,
                              churn_flagged=bool(churn.flagged))
