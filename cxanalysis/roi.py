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
carry no interval: the sensitivity table shows what each does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import expit

from .metrics import clv_discounted

__all__ = [
    "Assumptions",
    "PassiveToPromoter",
    "passive_to_promoter",
    "program_cost",
    "retention_scenarios",
    "sensitivity",
    "break_even_share",
    "missing_inputs",
    "retention_skip_reason",
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
    share_of_passives_moved: float = 0.10
    customers_moved: int | None = None

    @classmethod
    def from_config(cls, config) -> Assumptions:
        r = config.roi
        return cls(r["gross_margin"], r["cost_per_return"], r["discount_rate"], int(r["horizon_years"]),
                   r["program_cost_per_year"], r["team_cost_per_year"], r["share_of_passives_moved"],
                   r["customers_moved"])

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

    Paid at the start of each year. For a horizon that is not a whole number of years, the last
    year's cost is pro-rated (a quarter costs a quarter of a year).
    """
    h = a.horizon_years if horizon_years is None else horizon_years
    annual = a.program_cost_per_year + a.team_cost_per_year
    years = int(np.ceil(h - 1e-12))
    return float(sum(annual * min(1.0, h - t) / (1 + a.discount_rate) ** t for t in range(years)))


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
            as_passive=self.as_passive, as_promoter=self.as_promoter,
            assumptions=self.assumptions.__dict__, method="simulation from the joint sandwich covariance")
        return out

    def contributions(self) -> pd.DataFrame:
        """Waterfall steps: spend, retention and returns contributions to net value, then cost.

        Sequential decomposition: spend changes first (churn and returns as passive), then
        churn, then returns; the three steps add up to ``moved x value``.
        """
        p, q, a = self.as_passive, self.as_promoter, self.assumptions
        v = lambda s, c, r: float(value_per_customer(p["spend"], p["churn"], p["returns"], s, c, r, a))  # noqa: E731
        spend = v(q["spend"], p["churn"], p["returns"])
        churn = v(q["spend"], q["churn"], p["returns"]) - spend
        returns = self.value_per_customer - spend - churn
        m = self.customers_moved
        return pd.DataFrame({"label": ["Higher spend", "Better retention", "Fewer returns", "Program + team cost", "Net value"],
                             "value": [m * spend, m * churn, m * returns, -self.cost, self.net]})

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda x: f"{x:,.2f}")


def _passive_predictions(models, params: np.ndarray, rows: np.ndarray, slices: dict) -> dict:
    """Mean spend / churn / returns of the sampled passives, as passive and as promoter,
    for a batch of parameter draws ``params`` (B, P). Returns arrays of length B."""
    from .design import CX_TERMS

    design = models.design_
    X = design.X[models.passives_[rows]]
    d = design.col(CX_TERMS[0]) if CX_TERMS[0] in design.names else None  # absent without detractors
    pcol = design.col(CX_TERMS[1])
    out = {}
    for cat in ("passive", "promoter"):
        Xc = X.copy()
        if d is not None:
            Xc[:, d] = 0.0
        Xc[:, pcol] = 1.0 if cat == "promoter" else 0.0
        res = {}
        if ("spend", "any") in slices:
            pr = expit(Xc @ params[:, slices[("spend", "any")]].T)
            m = np.exp(Xc @ params[:, slices[("spend", "amount")]].T)
            res["spend"] = (pr * m).mean(axis=0)
        elif ("spend", "main") in slices:
            res["spend"] = np.exp(Xc @ params[:, slices[("spend", "main")]].T).mean(axis=0)
        if ("churn", "main") in slices:
            res["churn"] = expit(Xc @ params[:, slices[("churn", "main")]].T).mean(axis=0)
        if ("returns", "main") in slices:
            orders = models.data_["orders"].to_numpy(float)[design.rows][models.passives_[rows]]
            ok = ~np.isnan(orders)
            mu = np.exp(Xc[ok] @ params[:, slices[("returns", "main")]].T) * orders[ok][:, None]
            res["returns"] = mu.mean(axis=0)
        out[cat] = res
    return out


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

    Raises
    ------
    ValueError
        When spend or churn was not modelled, or its promoter-vs-passive contrast was skipped
        (``models.skipped_["spend.promoter_vs_passive"]``, e.g. no promoters): the value cannot be
        computed.
    """
    a = assumptions or (Assumptions.from_config(config) if config is not None else Assumptions())
    n_draws = n_draws or (config.roi["n_draws"] if config is not None else 1000)
    seed = random_state if random_state is not None else (config.seed if config is not None else 0)
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
    p, q = est["passive"], est["promoter"]
    value = float(value_per_customer(p["spend"], p["churn"], p["returns"], q["spend"], q["churn"], q["returns"], a))
    n_passives = int(len(models.passives_))
    moved = int(a.customers_moved) if a.customers_moved is not None else int(round(a.share_of_passives_moved * n_passives))
    cost = program_cost(a)
    benefit = moved * value
    net = benefit - cost
    roi = net / cost if cost > 0 else float("inf")

    # simulation from the joint sampling distribution of all models' parameters
    parts, V = models.joint_covariance()
    theta = np.concatenate([models.outcomes_[o].parts[pt].params for o, pt in parts])
    sizes = [len(models.outcomes_[o].parts[pt].params) for o, pt in parts]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    slices = {part: slice(offs[i], offs[i + 1]) for i, part in enumerate(parts)}
    if "returns.promoter_vs_passive" in models.skipped_:
        slices.pop(("returns", "main"), None)  # its term is left out of the value (noted above)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(theta, V, size=n_draws, method="eigh")
    rows = np.arange(n_passives)
    if n_passives > max_passives:
        rows = np.sort(rng.choice(n_passives, size=max_passives, replace=False))
        notes.append(f"Interval evaluated on a random {max_passives:,} of the {n_passives:,} passives, centred on the full estimate.")
    at_hat = _passive_predictions(models, theta[None, :], rows, slices)
    sims = {cat: {k: np.zeros(n_draws) for k in ("spend", "churn", "returns")} for cat in ("passive", "promoter")}
    for start in range(0, n_draws, 100):
        batch = draws[start:start + 100]
        pred = _passive_predictions(models, batch, rows, slices)
        for cat in sims:
            for k, v in pred[cat].items():
                # centre on the full-data estimate (the sample of passives only sets the spread)
                sims[cat][k][start:start + 100] = v - at_hat[cat][k][0] + est[cat][k]
    sp, sq = sims["passive"], sims["promoter"]
    sq["churn"] = np.clip(sq["churn"], 0, 1)
    sp["churn"] = np.clip(sp["churn"], 0, 1)
    v_draws = value_per_customer(sp["spend"], sp["churn"], sp["returns"], sq["spend"], sq["churn"], sq["returns"], a)
    net_draws = moved * v_draws - cost
    roi_draws = net_draws / cost if cost > 0 else np.full(n_draws, np.inf)
    pct = lambda x: (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5)))  # noqa: E731
    intervals = {"value_per_customer": pct(v_draws), "benefit": pct(moved * v_draws), "net": pct(net_draws),
                 "roi": pct(roi_draws)}
    frame = pd.DataFrame({"value_per_customer": v_draws, "net": net_draws, "roi": roi_draws})
    return PassiveToPromoter(a, n_passives, moved, p, q, value, benefit, cost, net, roi, intervals, n_draws,
                             notes, frame)


def sensitivity(result: PassiveToPromoter) -> pd.DataFrame:
    """ROI at a low and a high value of each assumption, others held at their values.

    Ranges: margin x0.8 / x1.2 (capped at 1), share moved x0.5 / x1.5, horizon -1 / +2 years,
    discount rate x0.5 / x1.5, cost per return x0.5 / x1.5, program and team costs x0.75 / x1.25.

    Returns
    -------
    DataFrame
        ``assumption, low_label, high_label, roi_low, roi_high`` (and net at each end).
    """
    a, p, q = result.assumptions, result.as_passive, result.as_promoter

    def roi_for(b: Assumptions) -> tuple[float, float]:
        v = float(value_per_customer(p["spend"], p["churn"], p["returns"], q["spend"], q["churn"], q["returns"], b))
        moved = b.customers_moved if b.customers_moved is not None else round(b.share_of_passives_moved * result.n_passives)
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
    if a.customers_moved is None:
        cases.insert(1, ("Share of passives moved", replace(a, share_of_passives_moved=a.share_of_passives_moved * 0.5),
                         replace(a, share_of_passives_moved=min(1.0, a.share_of_passives_moved * 1.5)),
                         lambda b: f"{b.share_of_passives_moved:.0%}"))
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


def retention_skip_reason(data: pd.DataFrame) -> str | None:
    """Why :func:`retention_scenarios` cannot run on ``data`` (None when it can).

    It needs spend and churned, with at least ``MIN_SCENARIO_CUSTOMERS`` (30) customers having
    each and at least one churner (the monthly churn rate sets how long a retained customer stays).
    """
    for col in ("spend", "churned"):
        if col not in data:
            return f"needs spend and churned columns (no {col})"
        if int(data[col].notna().sum()) < MIN_SCENARIO_CUSTOMERS:
            return f"needs at least {MIN_SCENARIO_CUSTOMERS} customers with {col} (has {int(data[col].notna().sum())})"
    if float(data["churned"].sum()) == 0:
        return "no customer churned this quarter: there is no churn to prevent"
    return None


def retention_scenarios(
    data: pd.DataFrame,
    assumptions: Assumptions,
    *,
    retained_per_month=(1, 5, 10),
    horizons_years=(0.25, 1, 3, 5, 10),
    n_draws: int = 2000,
    random_state: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Extra gross margin from retaining ``N`` more customers a month, net of program costs.

    Each month a cohort of ``N`` customers who would have left stays; each retained customer
    earns the average customer's monthly margin ``(m s - k r) / 3`` (``s``, ``r`` quarterly spend
    and returns per customer in ``data``) and leaves later at the average monthly churn
    ``1 - (1 - c)^(1/3)`` (``c`` the quarterly churn rate). Month ``t``'s margin is discounted by
    ``(1 + d)^(t / 12)``. Costs: :func:`program_cost` over the same horizon.

    The interval reflects the sampling uncertainty of the average spend, returns and churn rate
    (normal draws with their standard errors); the assumptions carry none.

    Returns
    -------
    DataFrame
        ``retained_per_month, horizon_years, customers_retained, gross_margin, ci_low, ci_high,
        cost, net, net_ci_low, net_ci_high, lost_if_not_investing`` — the last is the margin
        forgone by not retaining them (the mirror of ``gross_margin``).
    """
    a = assumptions
    s = data["spend"].to_numpy(float)
    s = s[~np.isnan(s)]
    c = data["churned"].dropna().to_numpy(float)
    r = data["returns"].dropna().to_numpy(float) if "returns" in data else np.zeros(1)
    rng = np.random.default_rng(random_state)
    draw = lambda x: rng.normal(x.mean(), x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else 0.0, n_draws)  # noqa: E731
    s_d, c_d, r_d = draw(s), np.clip(draw(c), 1e-9, 1 - 1e-9), draw(r)
    rows = []
    for n in retained_per_month:
        for h in horizons_years:
            months = int(round(12 * h))
            t = np.arange(1, months + 1)

            def margin(sv, cv, rv, t=t, n=n):
                mm = (a.gross_margin * sv - a.cost_per_return * rv) / 3
                cm = 1 - (1 - cv) ** (1 / 3)
                # customers alive in month t from cohorts j = 1..t: sum_{k=0..t-1} (1 - cm)^k
                alive = (1 - (1 - np.asarray(cm)[..., None]) ** t) / np.asarray(cm)[..., None]
                return n * np.sum(np.asarray(mm)[..., None] * alive / (1 + a.discount_rate) ** (t / 12), axis=-1)

            g = float(margin(s.mean(), c.mean(), r.mean()))
            gd = margin(s_d, c_d, r_d)
            cost = program_cost(a, h)
            lo, hi = np.percentile(gd, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            rows.append(dict(retained_per_month=n, horizon_years=h, customers_retained=n * months, gross_margin=g,
                             ci_low=lo, ci_high=hi, cost=cost, net=g - cost, net_ci_low=lo - cost, net_ci_high=hi - cost,
                             lost_if_not_investing=g))
    return pd.DataFrame(rows)
