"""ROI arithmetic worked by hand, recovery of the generator's true value, the no-effect case,
and the direction in which every assumption moves the result."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cxanalysis import roi
from cxanalysis.config import load_config
from cxanalysis.models import fit_outcome_models
from cxanalysis.narrative import roi_verdict
from cxanalysis.sample import Truth, make_customers, true_outcomes


def test_value_cost_and_roi_hand_worked():
    """s0 = 100, c0 = 0.2, r0 = 1 (as passive); s1 = 120, c1 = 0.1, r1 = 0.5 (as promoter);
    m = 0.5, k = 10, d = 0, H = 1 year (quarters q = 1..4, survival (1 - c)^(q - 1)):
    CLV0 = (50 - 10) x (1 + 0.8 + 0.64 + 0.512) = 40 x 2.952 = 118.08
    CLV1 = (60 - 5) x (1 + 0.9 + 0.81 + 0.729) = 55 x 3.439 = 189.145; value = 71.065.
    Cost: program 400 + team 600 per year, paid at the start of the year: 1000.
    20 moved: benefit 1421.3, net 421.3, ROI 0.4213.
    With d = 10% and H = 2: cost = 1000 + 1000 / 1.1 = 1909.0909 (start-of-year timing).
    Every year the program runs is paid in full at its start: a quarter costs 1000, not 250;
    2.5 years cost 1000 + 1000 / 1.1 + 1000 / 1.21.
    """
    a = roi.Assumptions(gross_margin=0.5, cost_per_return=10, discount_rate=0.0, horizon_years=1,
                        program_cost_per_year=400, team_cost_per_year=600)
    value = roi.value_per_customer(100, 0.2, 1, 120, 0.1, 0.5, a)
    assert value == pytest.approx(71.065, abs=1e-9)
    assert roi.program_cost(a) == pytest.approx(1000)
    assert (20 * value - roi.program_cost(a)) / roi.program_cost(a) == pytest.approx(0.4213, abs=1e-9)
    a2 = replace(a, discount_rate=0.10, horizon_years=2)
    assert roi.program_cost(a2) == pytest.approx(1000 + 1000 / 1.1, rel=1e-12)
    assert roi.program_cost(a2, horizon_years=0.25) == pytest.approx(1000)  # a quarter pays the whole year
    assert roi.program_cost(a2, horizon_years=1) == pytest.approx(1000)
    assert roi.program_cost(a2, horizon_years=2.5) == pytest.approx(1000 + 1000 / 1.1 + 1000 / 1.21, rel=1e-12)
    # quarter indexing with discounting: the first quarter's margin is discounted by (1 + d)^(1/4)
    a3 = replace(a, discount_rate=0.08, cost_per_return=0.0)
    one_quarter = roi.value_per_customer(0, 0, 0, 100, 0.0, 0, replace(a3, horizon_years=1))
    assert one_quarter == pytest.approx(50 * sum(1.08 ** (-q / 4) for q in range(1, 5)))


@pytest.fixture(scope="module")
def fitted():
    cfg = load_config()
    df = make_customers(60000, 1, random_state=8)
    models = fit_outcome_models(df, cfg)
    return df, models, roi.passive_to_promoter(models, cfg)


def test_result_follows_the_formulas(fitted):
    _, models, r = fitted
    p, q, a = r.as_passive, r.as_promoter, r.assumptions
    assert r.value_per_customer == pytest.approx(
        roi.value_per_customer(p["spend"], p["churn"], p["returns"], q["spend"], q["churn"], q["returns"], a))
    assert r.customers_moved == round(0.10 * len(models.passives_))
    assert r.cost == pytest.approx(roi.program_cost(a))
    assert r.roi == pytest.approx((r.customers_moved * r.value_per_customer - r.cost) / r.cost)
    assert r.contributions()["value"].iloc[:4].sum() == pytest.approx(r.net)
    lo, hi = r.intervals["roi"]
    assert lo < r.roi < hi


def test_value_recovers_the_generators_truth(fitted):
    """The value computed from the generator's true parameters (averaged over the same passives)
    is within 10% of the estimate and inside its 95% interval."""
    df, models, r = fitted
    passives = df.iloc[models.design_.rows[models.passives_]]
    t0, t1 = true_outcomes(passives, "passive").mean(), true_outcomes(passives, "promoter").mean()
    truth = roi.value_per_customer(t0["spend"], t0["churn"], t0["returns"], t1["spend"], t1["churn"], t1["returns"],
                                   r.assumptions)
    assert abs(r.value_per_customer / truth - 1) < 0.10
    lo, hi = r.intervals["value_per_customer"]
    assert lo <= truth <= hi


@pytest.mark.slow
def test_no_effect_means_the_program_does_not_pay():
    """CX has no effect in 20 simulated exports. The value interval covers 0 in at least 17 of
    them (95% nominal) and the values average out near 0. With the default costs the ROI interval
    sits at the loss of the whole cost (-1); with a program big enough for the uncertainty to
    matter, the ROI interval includes break-even (0) whenever the value interval includes 0.
    The verdict says the program does not pay for itself (the default costs) or that the data cannot
    tell whether it does (the interval spans break-even)."""
    cfg = load_config()
    values, covered = [], 0
    for seed in range(12, 32):
        df = make_customers(20000, 1, random_state=seed, truth=Truth(effect_scale=0))
        models = fit_outcome_models(df, cfg)
        r = roi.passive_to_promoter(models, cfg, n_draws=400)
        vlo, vhi = r.intervals["value_per_customer"]
        values.append(r.value_per_customer)
        lo, hi = r.intervals["roi"]
        assert lo < -0.9 and hi < 0
        assert "does not pay for itself" in roi_verdict(lo, hi)
        if vlo < 0 < vhi:
            covered += 1
            big = roi.passive_to_promoter(models, cfg, n_draws=400, assumptions=replace(
                r.assumptions, customers_moved=60000, program_cost_per_year=5000, team_cost_per_year=5000))
            lo, hi = big.intervals["roi"]
            assert lo < 0 < hi
            assert roi_verdict(lo, hi).startswith("The data cannot tell whether the program pays for itself")
    assert covered >= 17
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"gross_margin": 0.5}, lambda b, n: n.value_per_customer > b.value_per_customer and n.roi > b.roi),
        ({"share_of_passives_moved": 0.2}, lambda b, n: n.customers_moved > b.customers_moved and n.benefit > b.benefit),
        ({"customers_moved": 777}, lambda b, n: n.customers_moved == 777),
        ({"horizon_years": 5}, lambda b, n: n.value_per_customer > b.value_per_customer and n.cost > b.cost),
        ({"discount_rate": 0.15}, lambda b, n: n.value_per_customer < b.value_per_customer and n.cost < b.cost),
        # promoters return 25% fewer items per order in the generator: dearer returns make the move worth more
        ({"cost_per_return": 40.0}, lambda b, n: n.value_per_customer > b.value_per_customer),
        ({"program_cost_per_year": 90000.0}, lambda b, n: n.cost > b.cost and n.roi < b.roi),
        ({"team_cost_per_year": 200000.0}, lambda b, n: n.cost > b.cost and n.net < b.net),
    ],
)
def test_every_assumption_moves_the_result_the_expected_way(fitted, change, check):
    _, models, base = fitted
    cfg = load_config({"roi": change})
    new = roi.passive_to_promoter(models, cfg, n_draws=200)
    assert check(base, new)


def test_without_a_returns_model_no_returns_step_or_row():
    """An export with no returns column: the waterfall has no "Fewer returns" step (spend and
    retention still add up to the moved customers' value) and the sensitivity no "Cost per
    return" row (it could change nothing)."""
    cfg = load_config()
    df = make_customers(3000, 1, random_state=2).drop(columns=["returns"])
    r = roi.passive_to_promoter(fit_outcome_models(df, cfg), cfg, n_draws=100)
    steps = r.contributions().set_index("label")["value"]
    assert list(steps.index) == ["Higher spend", "Better retention", "Program + team cost", "Net value"]
    assert steps.iloc[:2].sum() == pytest.approx(r.customers_moved * r.value_per_customer, rel=1e-12)
    assert "Cost per return" not in set(roi.sensitivity(r)["assumption"])
    from cxanalysis.narrative import contributions_sentence

    text = contributions_sentence(r)
    # the benefit's two steps, their shares adding to 100%; the cost is not one of them
    shares = [int(x) for x in re.findall(r"\((\d+)%\)", text)]
    assert "higher spend" in text and "better retention" in text and len(shares) == 2 and sum(shares) in (99, 100, 101)
    assert "cost" not in text and "returns" not in text


def test_sensitivity_and_break_even(fitted):
    _, models, r = fitted
    s = roi.sensitivity(r).set_index("assumption")
    assert r.has_returns and "Cost per return" in s.index and "Fewer returns" in set(r.contributions()["label"])
    # a step that goes the other way is named for it: spend lower as promoters reads "Lower spend"
    worse = replace(r, as_promoter={**r.as_promoter, "spend": 0.5 * r.as_passive["spend"]})
    steps = worse.contributions().set_index("label")["value"]
    assert "Lower spend" in steps.index and steps["Lower spend"] < 0 and "Higher spend" not in steps.index
    assert s.loc["Gross margin", "roi_high"] > r.roi > s.loc["Gross margin", "roi_low"]
    assert s.loc["Program + team cost", "roi_high"] < r.roi < s.loc["Program + team cost", "roi_low"]
    share = roi.break_even_share(r.value_per_customer, r.n_passives, r.assumptions)
    net = share * r.n_passives * r.value_per_customer - r.cost
    assert net == pytest.approx(0, abs=1e-6)
    assert roi.break_even_share(-5.0, 100, r.assumptions) == float("inf")


def _stub_models(returns=None):
    """Two groups of two customers (design column x = 0, 1), parameters set by hand, zero
    covariance (every draw equals the estimate): churn 0.1 / 0.3 a quarter, spend 300 / 200."""
    from types import SimpleNamespace

    from scipy.special import logit

    fit = lambda params: SimpleNamespace(params=np.asarray(params, float))  # noqa: E731
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    outcomes = {"spend": SimpleNamespace(parts={"main": fit([np.log(300), np.log(200 / 300)])}),
                "churn": SimpleNamespace(parts={"main": fit([logit(0.1), logit(0.3) - logit(0.1)])}, flagged=False)}
    parts = [("spend", "main"), ("churn", "main")]
    data = pd.DataFrame(index=range(4)) if returns is None else pd.DataFrame({"returns": returns})
    return SimpleNamespace(design_=SimpleNamespace(X=X, rows=np.arange(4)), outcomes_=outcomes, skipped_={},
                           data_=data, joint_covariance=lambda: (parts, np.zeros((4, 4))))


def test_retention_value_on_the_at_risk_profile_hand_worked():
    """Customers weighted by their predicted churn p = 0.1, 0.1, 0.3, 0.3 (sum 0.8):
    spend s* = (2 x 0.1 x 300 + 2 x 0.3 x 200) / 0.8 = 225; churn c* = (2 x 0.01 + 2 x 0.09) / 0.8
    = 0.25; observed returns 1, 1, 3, 3 give r* = (0.2 + 1.8) / 0.8 = 2.5. (Average customer:
    250, 0.2, 2.)  Margin 35%, 10 per return, d = 0, H = 1: quarterly margin 78.75 - 25 = 53.75,
    CLV = 53.75 x (1 + 0.75 + 0.75^2 + 0.75^3) = 53.75 x 2.734375 = 146.97265625.
    One retained a month over a quarter: 3 customers, 440.91796875; over a year 12 x CLV.
    Cost: a quarter pays the whole year (170,000). Break-even: the N that solves
    net(N) = 0, found by brentq on the margin summed month by month and quarter by quarter."""
    from scipy.optimize import brentq

    a = roi.Assumptions(gross_margin=0.35, cost_per_return=10.0, discount_rate=0.0, horizon_years=1)
    r = roi.retention_scenarios(_stub_models(returns=[1.0, 1.0, 3.0, 3.0]), assumptions=a, retained_per_month=(1, 5),
                                horizons_years=(0.25, 1), n_draws=20)
    assert r.at_risk == pytest.approx({"spend": 225.0, "churn": 0.25, "returns": 2.5}, rel=1e-12)
    assert r.average == pytest.approx({"spend": 250.0, "churn": 0.2, "returns": 2.0}, rel=1e-12)
    assert r.value_per_customer == pytest.approx(146.97265625, rel=1e-12)
    assert r.average_value == pytest.approx((87.5 - 20) * (1 + 0.8 + 0.64 + 0.512), rel=1e-12)
    t = r.table.set_index(["retained_per_month", "horizon_years"])
    assert t.loc[(1, 0.25), "gross_margin"] == pytest.approx(3 * 146.97265625, rel=1e-12)
    assert t.loc[(5, 1), "gross_margin"] == pytest.approx(5 * 12 * 146.97265625, rel=1e-12)
    assert t.loc[(1, 0.25), "customers_retained"] == 3 and t.loc[(5, 1), "customers_retained"] == 60
    assert t.loc[(1, 0.25), "cost"] == pytest.approx(170000.0)  # a full year, not a quarter
    assert (t["net"] == t["gross_margin"] - t["cost"]).all()
    assert (t["lost_if_not_investing"] == t["gross_margin"]).all()

    def net(n, months):
        clv = sum(53.75 * 0.75 ** (q - 1) for q in range(1, 5))
        return sum(n * clv for _ in range(months)) - 170000.0

    be = r.break_even.set_index("horizon_years")["break_even_per_month"]
    assert be.loc[0.25] == pytest.approx(brentq(net, 0, 1e6, args=(3,), xtol=1e-10), rel=1e-9)
    assert be.loc[1] == pytest.approx(brentq(net, 0, 1e6, args=(12,), xtol=1e-10), rel=1e-9)
    # zero covariance: every interval is the point
    assert r.intervals["value_per_customer"] == pytest.approx((146.97265625,) * 2, rel=1e-12)


def test_retention_discounting_by_month_hand_worked():
    """d = 8%: the customers kept at the start of months 1, 2, 3 are worth CLV x (1 + 1.08^(-1/12)
    + 1.08^(-2/12)); the CLV discounts quarter q by 1.08^(q/4) (DESIGN.md). Without returns data the
    returns term is 0 and a note says so. Cost over 1.5 years: 170,000 x (1 + 1/1.08)."""
    a = roi.Assumptions(gross_margin=0.35, cost_per_return=10.0, discount_rate=0.08, horizon_years=2)
    r = roi.retention_scenarios(_stub_models(), assumptions=a, retained_per_month=(1,), horizons_years=(0.25, 1.5),
                                n_draws=10)
    clv = sum(0.35 * 225 * 0.75 ** (q - 1) / 1.08 ** (q / 4) for q in range(1, 9))
    assert r.value_per_customer == pytest.approx(clv, rel=1e-12)
    t = r.table.set_index("horizon_years")
    assert t.loc[0.25, "gross_margin"] == pytest.approx(clv * (1 + 1.08 ** (-1 / 12) + 1.08 ** (-2 / 12)), rel=1e-12)
    assert t.loc[1.5, "gross_margin"] == pytest.approx(clv * sum(1.08 ** (-m / 12) for m in range(18)), rel=1e-12)
    assert t.loc[1.5, "cost"] == pytest.approx(170000 * (1 + 1 / 1.08), rel=1e-12)
    assert any("returns are left out" in n for n in r.notes)


@pytest.fixture(scope="module")
def retention(fitted):
    _, models, _ = fitted
    return roi.retention_scenarios(models, load_config())


def test_retained_customers_are_valued_on_the_at_risk_profile(fitted, retention):
    """On the sample, customers who churn spend less than the average customer. The
    predicted-churn-weighted profile reproduces the actual churners' mean spend (computed from the
    data, not the models) within 2% and their churn rate is above the average; it is the profile
    of the generator's truth: the true CLV of the same weighted profile (true spend, churn and
    returns of each customer at their own category, weighted by their true churn probability) is
    within 5% of the estimate and inside its 95% interval."""
    from cxanalysis.metrics import clv_discounted
    from cxanalysis.segments import nps_category

    df, models, _ = fitted
    r = retention
    d = df.iloc[models.design_.rows]
    churners_spend = d.loc[d["churned"] == 1, "spend"].mean()
    assert churners_spend < d["spend"].mean()
    assert r.at_risk["spend"] == pytest.approx(churners_spend, rel=0.02)
    assert r.at_risk["spend"] < r.average["spend"] and r.at_risk["churn"] > r.average["churn"]
    assert r.average["churn"] == pytest.approx(d["churned"].mean(), rel=1e-6)  # logistic score equations
    assert r.value_per_customer < r.average_value
    cat = nps_category(d["nps_score"]).astype(str).to_numpy()
    tr = pd.concat([true_outcomes(d[cat == c], c) for c in ("promoter", "passive", "detractor")]).loc[d.index]
    p = tr["churn"].to_numpy()
    a = r.assumptions
    truth = clv_discounted((p * tr["spend"]).sum() / p.sum(), (p * p).sum() / p.sum(), (p * tr["returns"]).sum() / p.sum(),
                           margin=a.gross_margin, cost_per_return=a.cost_per_return, discount_rate=a.discount_rate,
                           horizon_years=a.horizon_years)
    assert abs(r.value_per_customer / truth - 1) < 0.05
    lo, hi = r.intervals["value_per_customer"]
    assert lo <= truth <= hi


def test_retention_table_and_break_even_follow_the_formulas(retention):
    """Each row: value = N x A_T x CLV with A_T summed month by month here; cost paid at the start
    of each year (a quarter pays a year, three years 170,000 x (1 + 1/1.08 + 1/1.08^2)); the
    break-even solves N x A_T x value = cost by brentq, and its interval is the break-even at the
    value interval's ends (swapped)."""
    from scipy.optimize import brentq

    r = retention
    v = r.value_per_customer
    lo, hi = r.intervals["value_per_customer"]
    assert lo < v < hi and lo > 0
    for row in r.table.itertuples():
        factor = sum(1.08 ** (-(m - 1) / 12) for m in range(1, int(round(12 * row.horizon_years)) + 1))
        assert row.gross_margin == pytest.approx(row.retained_per_month * factor * v, rel=1e-12)
        assert row.ci_low == pytest.approx(row.retained_per_month * factor * lo, rel=1e-12)
        years = int(np.ceil(row.horizon_years))
        assert row.cost == pytest.approx(sum(170000 / 1.08**t for t in range(years)), rel=1e-12)
        assert row.ci_low <= row.gross_margin <= row.ci_high
        assert row.net_ci_low <= row.net <= row.net_ci_high
        for value, be in ((v, row.break_even_per_month), (hi, row.break_even_ci_low), (lo, row.break_even_ci_high)):
            assert be == pytest.approx(brentq(lambda n, f=factor, c=row.cost, x=value: n * f * x - c, 0, 1e7, xtol=1e-10),
                                       rel=1e-8)
    be = r.break_even.set_index("horizon_years")
    assert be.loc[0.25, "cost"] == pytest.approx(170000)
    assert (be["ci_low"] <= be["break_even_per_month"]).all() and (be["break_even_per_month"] <= be["ci_high"]).all()
    # whole years: each year pays its own cost and retains its own customers, so the monthly
    # break-even is the same; a quarter pays a year for three months and needs more a month
    whole = be.loc[[1, 3, 5, 10], "break_even_per_month"]
    assert np.allclose(whole, whole.iloc[0], rtol=1e-12) and be.loc[0.25, "break_even_per_month"] > whole.iloc[0]
    out = r.to_results()
    assert out["value_per_customer"] == v and len(out["break_even"]) == len(r.break_even)


def test_retention_and_roi_share_the_parameter_draws(fitted, monkeypatch):
    """Both blocks draw their parameters through one function, with the same number of draws and
    seed from the config, so they use the very same draws."""
    _, models, _ = fitted
    calls = []
    real = roi._parameter_draws

    def spy(m, n_draws, seed):
        out = real(m, n_draws, seed)
        calls.append((n_draws, seed, out[1].copy()))
        return out

    monkeypatch.setattr(roi, "_parameter_draws", spy)
    cfg = load_config({"roi": {"n_draws": 50}})
    roi.passive_to_promoter(models, cfg)
    roi.retention_scenarios(models, cfg)
    (n1, s1, d1), (n2, s2, d2) = calls
    assert (n1, s1) == (n2, s2) == (50, cfg.seed)
    np.testing.assert_array_equal(d1, d2)


def test_share_moved_as_a_range(fitted):
    """A range [low, high] gives the midpoint's point estimate and count, the ends' counts, and an
    ROI interval that equals the single share's when low == high and widens steadily as the range
    widens around the same midpoint (the uniform draws use common random numbers)."""
    _, models, _ = fitted
    n = len(models.passives_)
    run = lambda share: roi.passive_to_promoter(models, load_config({"roi": {"share_of_passives_moved": share}}),  # noqa: E731
                                                n_draws=400)
    fixed = run(0.10)
    same = run([0.10, 0.10])
    assert same.intervals == fixed.intervals and same.roi == fixed.roi
    widths, previous = [], None
    for half in (0.0, 0.01, 0.025, 0.05, 0.08):
        r = run([0.10 - half, 0.10 + half])
        assert r.customers_moved == round(0.10 * n) and r.roi == pytest.approx(fixed.roi, rel=1e-12)
        assert r.intervals["value_per_customer"] == fixed.intervals["value_per_customer"]
        lo, hi = r.intervals["roi"]
        widths.append(hi - lo)
        if previous is not None:
            assert lo <= previous[0] and hi >= previous[1]
        previous = (lo, hi)
    assert all(b > a for a, b in zip(widths, widths[1:], strict=False))
    wide = run([0.05, 0.15])
    out = wide.to_results()
    assert out["customers_moved"] == round(0.10 * n)
    assert out["customers_moved_range"] == [round(0.05 * n), round(0.15 * n)]
    assert out["assumptions"]["share_of_passives_moved"] == pytest.approx(0.10)
    assert out["assumptions"]["share_of_passives_moved_range"] == [0.05, 0.15]
    assert any("uniformly" in note for note in wide.notes)
    assert wide.draws["share_moved"].between(0.05, 0.15).all()
    s = roi.sensitivity(wide).set_index("assumption")
    assert s.loc["Share of passives moved", ["low_label", "high_label"]].tolist() == ["5%", "15%"]


@pytest.mark.parametrize("share", [[0.2, 0.1], [0, 0.1], [0.1], [0.1, 1.2], [0.1, "x"], [True, 0.5], 1.5, "ten"])
def test_share_range_is_validated(share):
    from cxanalysis.config import ConfigError

    with pytest.raises(ConfigError, match="share_of_passives_moved"):
        load_config({"roi": {"share_of_passives_moved": share}})


def test_retention_scenarios_say_why_they_cannot_run(fitted):
    base = pd.DataFrame({"spend": [100.0] * 40, "churned": [0.0] * 39 + [1.0]})
    assert roi.retention_skip_reason(base) is None
    assert "no churned" in roi.retention_skip_reason(base.drop(columns="churned"))
    assert "at least 30" in roi.retention_skip_reason(base.head(10))
    assert "no customer churned" in roi.retention_skip_reason(base.assign(churned=0.0))
    _, models, _ = fitted
    assert roi.retention_skip_reason(base, models) is None
    no_churn = fit_outcome_models(make_customers(400, 1, random_state=3).drop(columns="churned"), load_config())
    assert roi.retention_skip_reason(base, no_churn).startswith("needs a churn model")
    with pytest.raises(ValueError, match="churn model"):
        roi.retention_scenarios(no_churn)


def test_retention_and_roi_sentences():
    """The retention sentence gives the value with its interval, the at-risk profile against the
    average customer, and one break-even per horizon; an unbounded upper end and a value that is
    not positive are said in words. The ROI headline names a share range and its counts."""
    from dataclasses import replace as dc_replace

    from cxanalysis.narrative import retention_summary

    a = roi.Assumptions(gross_margin=0.35, cost_per_return=10.0, discount_rate=0.0, horizon_years=1)
    r = roi.retention_scenarios(_stub_models(returns=[1.0, 1.0, 3.0, 3.0]), assumptions=a, retained_per_month=(1,),
                                horizons_years=(0.25, 1), n_draws=10)
    text = retention_summary(r)
    assert "worth 147**" in text and "spend 225 a quarter against 250" in text and "25.0% a quarter against 20.0%" in text
    assert "after the cost of their returns (the discounted CLV of the metrics page leaves returns out" in text
    assert f"over a quarter: **{170000 / (3 * 146.97265625):,.0f} a month**" in text  # whole customers from 10 up
    assert f"over 1 year: **{170000 / (12 * 146.97265625):,.0f} a month**" in text
    # this base has 4 customers, 0.27 leaving a month: no break-even is reachable by retention alone
    assert text.count("not reachable by retention alone") == len(r.break_even)
    unbounded = dc_replace(r, break_even=r.break_even.assign(ci_high=np.inf))
    assert "no upper bound" in retention_summary(unbounded)
    worthless = dc_replace(r, value_per_customer=-3.0)
    assert "none can be stated" in retention_summary(worthless) and "a month**" not in retention_summary(worthless)
    # the quarter's churn counted over its customers, when known: the leavers are counted, not predicted
    counted = retention_summary(r, counted=(0.10475, 8000))
    assert "about 279 customers leave a month (the quarter's churn of 10.5%, counted over its 8,000 customers)" in counted
    assert counted.count("not reachable by retention alone") == 1  # the quarter's 386 a month only


def test_roi_headline_names_the_share_range(fitted):
    from cxanalysis.narrative import roi_summary

    _, models, _ = fitted
    n = len(models.passives_)
    r = roi.passive_to_promoter(models, load_config({"roi": {"share_of_passives_moved": [0.05, 0.15]}}), n_draws=100)
    text = roi_summary(r)
    assert f"**{round(0.10 * n):,} of {n:,} passives** (the midpoint of 5% to 15% of passives" in text
    assert f"{round(0.05 * n):,} to {round(0.15 * n):,} customers" in text and "that range of the share moved" in text
    fixed = roi.passive_to_promoter(models, load_config(), n_draws=100)
    assert "midpoint" not in roi_summary(fixed)


def test_retention_chart_title_states_the_break_even():
    """Title from the first whole-year horizon's break-even (170,000 / (12 x 146.97) = 96.4)."""
    from dataclasses import replace as dc_replace

    from cxanalysis.narrative import retention_title

    a = roi.Assumptions(gross_margin=0.35, cost_per_return=10.0, discount_rate=0.0, horizon_years=1)
    r = roi.retention_scenarios(_stub_models(returns=[1.0, 1.0, 3.0, 3.0]), assumptions=a, retained_per_month=(1,),
                                horizons_years=(0.25, 1, 3), n_draws=10)
    assert retention_title(r) == ("Keeping 1 more a month falls short: about 96 customers a month pay for the program "
                                  "over 1 year (likely range 96 to 96)")
    table = r.table.assign(retained_per_month=r.table["retained_per_month"] * 200)
    assert retention_title(dc_replace(r, table=table)).startswith("Keeping 200 more a month pays: about 96")
    both = pd.concat([r.table, table])
    assert retention_title(dc_replace(r, table=both)) == ("About 96 customers a month pay for the program over 1 year "
                                                          "(likely range 96 to 96)")
    three = pd.concat([r.table.assign(retained_per_month=k) for k in (1, 5, 10)])
    assert retention_title(dc_replace(r, table=three)).startswith("Keeping 1, 5 and 10 more a month falls short:")
    assert "no number" in retention_title(dc_replace(r, value_per_customer=0.0))
    assert retention_title(dc_replace(r, table=both, churn_flagged=True)) == (
        "About 96 customers a month pay for the program over 1 year (likely range 96 to 96)\n(indicative: the churn "
        "model that says who is at risk is flagged)")


def test_by_segment_ranks_plans_as_the_truth_does(fitted):
    """Spend rises Basic < Plus < Pro in the generator (log spend +0.4, +0.9), so a moved passive is
    worth more on a bigger plan. Independent computation: each plan's value from the generator's
    true parameters over the same passives; it lies inside the plan's 95% interval, and the
    estimated ranking of the plans equals the true ranking."""
    df, models, r = fitted
    cfg = load_config()
    t = roi.by_segment(models, df, ["plan"], cfg)
    assert list(t.columns[:7]) == ["dimension", "segment", "n_passives", "customers_moved", "value_per_customer",
                                   "ci_low", "ci_high"]
    passives = df.iloc[models.design_.rows[models.passives_]]
    truth = {}
    for plan, part in passives.groupby("plan"):
        t0, t1 = true_outcomes(part, "passive").mean(), true_outcomes(part, "promoter").mean()
        truth[plan] = roi.value_per_customer(t0["spend"], t0["churn"], t0["returns"], t1["spend"], t1["churn"],
                                             t1["returns"], r.assumptions)
    assert t["segment"].tolist() == sorted(truth, key=truth.get, reverse=True) == ["Pro", "Plus", "Basic"]
    for row in t.itertuples():
        assert row.ci_low <= truth[row.segment] <= row.ci_high
        assert row.ci_low <= row.value_per_customer <= row.ci_high
        assert row.n_passives == int((passives["plan"] == row.segment).sum())
        assert row.customers_moved == round(0.10 * row.n_passives)
        assert row.cost == pytest.approx(r.cost * row.n_passives / len(models.passives_), rel=1e-12)
        assert row.net == pytest.approx(row.customers_moved * row.value_per_customer - row.cost)
        assert row.roi == pytest.approx(row.net / row.cost)
    assert t["n_passives"].sum() == len(models.passives_)
    assert t["cost"].sum() == pytest.approx(r.cost, rel=1e-12)  # the segments' shares add up to the program
    # one segment holding every passive is the overall ROI, interval included (same draws)
    whole = roi.by_segment(models, df.assign(all="everyone"), ["all"], cfg).iloc[0]
    assert whole["value_per_customer"] == pytest.approx(r.value_per_customer, rel=1e-9)
    assert (whole["cost"], whole["net"], whole["roi"]) == pytest.approx((r.cost, r.net, r.roi), rel=1e-9)
    assert (whole["ci_low"], whole["ci_high"]) == pytest.approx(r.intervals["value_per_customer"], rel=0.02)



def test_targeting_summary_states_the_cost_each_segment_is_charged(fitted):
    """The page says how a segment's cost is set and the bar its value must beat: the program's
    cost per moved passive (cost / moved, by hand)."""
    from cxanalysis.narrative import targeting_summary

    df, models, r = fitted
    text = targeting_summary(roi.by_segment(models, df, ["plan"], load_config()), r)
    assert "its share of the program cost, in proportion to the passives it holds" in text
    assert f"cost per moved passive ({r.cost / r.customers_moved:,.0f})" in text

@pytest.mark.parametrize("weighted", [False, True])
def test_by_segment_shared_draws_equal_each_segments_own_evaluation(fitted, monkeypatch, weighted):
    """Segments read their draws from predictions made once per distinct passive design row for
    all segments (every passive counted). Independent computation: each segment's draws
    evaluated on its own passives, all of them (no sample), by the per-segment route. Weighted:
    respondents with prior weights, and some customers without orders (left out of returns)."""
    df, models, _ = fitted
    cfg = load_config()
    if weighted:
        rng = np.random.default_rng(3)
        df = make_customers(20000, 1, random_state=9)
        df = df.assign(weight=rng.uniform(0.5, 2.0, len(df)),
                       orders=df["orders"].where(rng.random(len(df)) > 0.05))
        models = fit_outcome_models(df, cfg)
        assert models.weights_ is not None
    frame = df.assign(all="everyone")
    shared = roi.by_segment(models, frame, ["plan", "region", "all"], cfg)
    assert roi._SharedDraws.build(models, np.zeros((1000, 1)), {}) is not None  # the shared route ran
    monkeypatch.setattr(roi, "SHARED_DRAWS_MAX", 0)
    own = roi.by_segment(models, frame, ["plan", "region", "all"], cfg, max_passives=10**9)
    assert len(shared) == len(own) == 3 + 4 + 1
    pd.testing.assert_frame_equal(shared, own, rtol=1e-9)
    # and the weighting of both routes by hand: the value of one moved passive from the prior-weighted
    # means over every passive (returns over those with orders, weighted by weight x orders)
    from scipy.special import expit

    X = models.design_.X[models.passives_]
    w = np.ones(len(X)) if models.weights_ is None else models.weights_[models.passives_]
    orders = df["orders"].to_numpy(float)[models.design_.rows][models.passives_]
    ok = ~np.isnan(orders)
    names = models.design_.names
    b = {o: {p: f.params for p, f in models.outcomes_[o].parts.items()} for o in ("spend", "churn", "returns")}
    means = {}
    for cat in ("passive", "promoter"):
        Xc = X.copy()
        Xc[:, names.index("cx[T.detractor]")] = 0.0
        Xc[:, names.index("cx[T.promoter]")] = 1.0 if cat == "promoter" else 0.0
        means[cat] = (np.average(expit(Xc @ b["spend"]["any"]) * np.exp(Xc @ b["spend"]["amount"]), weights=w),
                      np.average(expit(Xc @ b["churn"]["main"]), weights=w),
                      np.sum((w * orders * np.exp(Xc @ b["returns"]["main"]))[ok]) / np.sum(w[ok]))
    a = roi.Assumptions.from_config(cfg)
    by_hand = roi.value_per_customer(*means["passive"], *means["promoter"], a)
    whole = shared[shared["dimension"] == "all"].iloc[0]
    assert whole["value_per_customer"] == pytest.approx(float(by_hand), rel=1e-9)


def test_by_segment_ranks_behavioural_clusters_too(fitted):
    """Clusters are targets like any segment: each customer carries its cluster's name (checked
    against the cluster profile's own spend mean and size, which the clustering computed from its
    labels), every cluster's passives are counted once, and each row keeps its estimate inside its
    interval."""
    from cxanalysis import clusters

    df, models, r = fitted
    cfg = load_config()
    fit = clusters.from_config(cfg).fit(df)
    names = fit.row_names()
    assert names is not None and len(names) == len(df)
    for row in fit.profile_.itertuples():
        part = df[names == row.name]
        assert len(part) == row.n
        assert part["spend"].mean() == pytest.approx(row.spend_mean, rel=1e-12)
    t = roi.by_segment(models, df.assign(cluster=names), ["plan", "cluster"], cfg)
    cl = t[t["dimension"] == "cluster"]
    assert set(cl["segment"]) == set(fit.profile_["name"])
    passives = df.iloc[models.design_.rows[models.passives_]]
    assert cl["n_passives"].sum() == len(models.passives_)
    for row in cl.itertuples():
        assert row.n_passives == int((names[models.design_.rows[models.passives_]] == row.segment).sum())
        assert row.ci_low <= row.value_per_customer <= row.ci_high
    assert len(passives) == len(models.passives_)


def test_skipped_clustering_has_no_row_names():
    from cxanalysis import clusters

    df = make_customers(30, 1, random_state=2)
    fit = clusters.from_config(load_config()).fit(df)
    assert fit.skip_reason_ is not None and fit.row_names() is None


def test_with_weights_the_customer_at_risk_and_the_average_customer_stand_for_the_base():
    """Models fitted with prior weights (respondents raked to the base): every sum of the two
    profiles is weighted. The average churn is the weighted churn rate (the weighted logistic
    score equations with an intercept), and each profile equals its row-by-row computation from
    the fitted parameters."""
    from scipy.special import expit

    cfg = load_config()
    df = make_customers(20000, 1, random_state=3)
    df["weight"] = np.random.default_rng(3).lognormal(0, 0.6, len(df))
    models = fit_outcome_models(df, cfg)
    assert models.weights_ is not None
    prof = roi.at_risk_profile(models)
    d = df.iloc[models.design_.rows]
    a, y = d["weight"].to_numpy(float), d["churned"].to_numpy(float)
    assert prof["average"]["churn"] == pytest.approx(np.sum(a * y) / a.sum(), rel=1e-6)
    assert abs(prof["average"]["churn"] - y.mean()) > 1e-4  # the weights matter here
    theta, _, slices, _ = roi._parameter_draws(models, 0, 0)
    X = models.design_.X
    p = expit(X @ theta[slices[("churn", "main")]])
    if ("spend", "any") in slices:
        s = expit(X @ theta[slices[("spend", "any")]]) * np.exp(X @ theta[slices[("spend", "amount")]])
    else:
        s = np.exp(X @ theta[slices[("spend", "main")]])
    orders = d["orders"].to_numpy(float)
    r = np.exp(X @ theta[slices[("returns", "main")]]) * orders
    ok = ~np.isnan(r)
    assert prof["at_risk"]["spend"] == pytest.approx(np.sum(a * p * s) / np.sum(a * p), rel=1e-12)
    assert prof["at_risk"]["churn"] == pytest.approx(np.sum(a * p * p) / np.sum(a * p), rel=1e-12)
    assert prof["at_risk"]["returns"] == pytest.approx(np.sum((a * p * r)[ok]) / np.sum((a * p)[ok]), rel=1e-12)
    assert prof["average"]["spend"] == pytest.approx(np.sum(a * s) / a.sum(), rel=1e-12)
    assert prof["average"]["returns"] == pytest.approx(np.sum((a * r)[ok]) / a[ok].sum(), rel=1e-12)


def test_with_weights_the_roi_interval_carries_the_estimated_number_of_passives(monkeypatch):
    """Weighted respondents estimate the passives in the base (weighted passive share x base), so
    the count has a sampling error. Independent computation of that error from the data's weights
    by hand: ``N sqrt(p (1 - p) / n_eff)``, N the sum of the weights, p the weighted passive share of
    the modelled respondents, n_eff Kish's. The draws' spread matches it; the point figures do not
    move; the benefit, net and ROI intervals widen against the same run with the count held fixed
    (the value draws are the same: the count has its own generator); unweighted models count the
    passives, with no error. Segments draw their own counts the same way."""
    cfg = load_config()
    rng = np.random.default_rng(11)
    df = make_customers(20000, 1, random_state=12)
    df = df.assign(weight=rng.uniform(0.3, 3.0, len(df)))
    models = fit_outcome_models(df, cfg)
    assert models.weights_ is not None
    w = df["weight"].to_numpy()[models.design_.rows]
    passive = (df["cx_category"] if "cx_category" in df else
               pd.cut(df["nps_score"], [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"]))
    is_passive = passive.astype(str).to_numpy()[models.design_.rows] == "passive"
    p = w[is_passive].sum() / w.sum()
    n_eff = w.sum() ** 2 / (w ** 2).sum()
    N = df["weight"].sum()
    by_hand = N * np.sqrt(p * (1 - p) / n_eff)
    assert models.n_passives_ == round(p * N)
    assert roi.passive_count_se(models) == pytest.approx(by_hand, rel=1e-9)

    r = roi.passive_to_promoter(models, cfg, n_draws=2000)
    assert r.draws["passives"].std() == pytest.approx(by_hand, rel=0.08)  # sd of 2,000 normal draws: 1.6%
    assert r.draws["passives"].mean() == pytest.approx(r.n_passives, abs=4 * by_hand / np.sqrt(2000))
    assert "number of passives in the base drawn" in r.to_results()["method"]
    assert any("standard error" in note for note in r.notes)

    monkeypatch.setattr(roi, "passive_count_se", lambda models, rows=None: 0.0)
    fixed = roi.passive_to_promoter(models, cfg, n_draws=2000)
    assert (fixed.roi, fixed.net, fixed.customers_moved) == (r.roi, r.net, r.customers_moved)
    assert fixed.intervals["value_per_customer"] == r.intervals["value_per_customer"]
    for key in ("benefit", "net", "roi"):
        (lo, hi), (flo, fhi) = r.intervals[key], fixed.intervals[key]
        assert hi - lo > fhi - flo
    assert fixed.draws["passives"].nunique() == 1
    assert "number of passives" not in fixed.to_results()["method"]
    monkeypatch.undo()

    # a segment holding every passive draws the same counts as the whole program
    whole = roi.by_segment(models, df.assign(all="everyone"), ["all"], cfg, n_draws=2000).iloc[0]
    assert roi.passive_count_se(models, np.arange(len(models.passives_))) == pytest.approx(by_hand, rel=1e-9)
    assert (whole["net_ci_low"], whole["net_ci_high"]) == pytest.approx(r.intervals["net"], rel=0.02)
    # a segment's own error: its weighted share of the respondents
    plan = df["plan"].to_numpy()[models.design_.rows][models.passives_]
    rows = np.flatnonzero(plan == "Pro")
    p_pro = w[is_passive][rows].sum() / w.sum()
    assert roi.passive_count_se(models, rows) == pytest.approx(N * np.sqrt(p_pro * (1 - p_pro) / n_eff), rel=1e-9)


def test_unweighted_models_count_the_passives_without_error(fitted):
    _, models, r = fitted
    assert models.weights_ is None and roi.passive_count_se(models) == 0.0
    assert r.draws["passives"].nunique() == 1 and r.draws["passives"].iloc[0] == len(models.passives_)
    assert "number of passives" not in r.to_results()["method"]


def test_retention_break_even_is_read_against_the_customers_who_leave(fitted, retention):
    """The break-even is set against the customers leaving a month: the base (every modelled
    customer, unweighted here) times the average predicted churn a quarter over 3. Independent
    computation: the average of statsmodels' churn predictions for every modelled customer (same
    formula, refitted here) over the same customers, as a plain logistic regression."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from cxanalysis import narrative

    _, models, _ = fitted
    data = models.data_.iloc[models.design_.rows].assign(cx=lambda d: d["cx_category"].astype(str))
    ref = smf.glm("churned ~ C(cx, Treatment('passive')) + C(plan) + C(region) + tenure_months", data,
                  family=sm.families.Binomial()).fit()
    average_churn = ref.predict(data).mean()
    assert retention.average["churn"] == pytest.approx(average_churn, rel=1e-5)
    assert retention.leavers_per_month == pytest.approx(len(data) * average_churn / 3, rel=1e-5)
    text = narrative.retention_summary(retention)
    be = retention.break_even[retention.break_even["horizon_years"] >= 1].iloc[0]["break_even_per_month"]
    share = be / retention.leavers_per_month
    assert f"about {retention.leavers_per_month:,.0f} customers leave a month" in text
    assert f"means keeping {share:.1%} of those who would leave" in text
    assert retention.to_results()["leavers_per_month"] == retention.leavers_per_month


def test_each_segment_is_compared_with_every_passive_from_the_same_draws(fitted):
    """The difference of a segment's value per moved passive from every passive's: its estimate is
    the two values' difference (the overall one from passive_to_promoter), a segment holding every
    passive differs by exactly 0 in every draw, the Bonferroni interval (over the rows compared;
    normal on the draws' spread, so its half-width is z(1 - 0.025/4) / 1.96 times the 95%
    percentile interval's, to the draws' departure from normal) contains the 95% one, and the generator's true difference of each plan, computed from its true
    outcomes, lies inside the Bonferroni interval."""
    df, models, r = fitted
    cfg = load_config()
    t = roi.by_segment(models, df.assign(all="everyone"), ["plan", "all"], cfg)
    passives = df.iloc[models.design_.rows[models.passives_]]

    def true_value(part):
        t0, t1 = true_outcomes(part, "passive").mean(), true_outcomes(part, "promoter").mean()
        return roi.value_per_customer(t0["spend"], t0["churn"], t0["returns"], t1["spend"], t1["churn"],
                                      t1["returns"], r.assumptions)

    truth_all = true_value(passives)
    for row in t.itertuples():
        assert row.diff_vs_all == pytest.approx(row.value_per_customer - r.value_per_customer, rel=1e-9, abs=1e-9)
        assert row.diff_adj_ci_low <= row.diff_ci_low <= row.diff_vs_all <= row.diff_ci_high <= row.diff_adj_ci_high
        half = (row.diff_adj_ci_high - row.diff_adj_ci_low) / 2  # normal at 1 - 0.05 / 4 rows compared
        assert row.diff_vs_all == pytest.approx((row.diff_adj_ci_high + row.diff_adj_ci_low) / 2, abs=1e-9)
        assert half == pytest.approx(stats.norm.ppf(1 - 0.025 / len(t)) * (row.diff_ci_high - row.diff_ci_low)
                                     / (2 * 1.96), rel=0.15, abs=1e-9)
        if row.dimension == "all":
            assert (row.diff_vs_all, row.diff_ci_low, row.diff_ci_high) == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)
        else:
            truth = true_value(passives[passives["plan"] == row.segment]) - truth_all
            assert row.diff_adj_ci_low <= truth <= row.diff_adj_ci_high


def test_the_best_segment_is_singled_out_only_allowing_for_the_segments_compared():
    from cxanalysis import narrative

    best = {"dimension": "plan", "segment": "Pro", "value_per_customer": 652.0, "ci_low": 319.0, "ci_high": 961.0,
            "diff_vs_all": 245.0, "diff_ci_low": 12.0, "diff_ci_high": 480.0, "diff_adj_ci_low": -90.0}
    s = narrative.targeting_sentence(best, 407.0, (193.0, 603.0), n_compared=28)
    assert s == ("A moved passive is worth most in Plan: Pro, at 652 per moved passive (likely range 319 to 961), "
                 "against 407 (193 to 603) over all passives: 245 more than the average passive (likely range 12 "
                 "to 480); allowing for the 28 segments compared, the data do not single it out.")
    s = narrative.targeting_sentence({**best, "diff_adj_ci_low": 5.0}, 407.0, (193.0, 603.0), n_compared=28)
    assert s.endswith("245 more than the average passive (likely range 12 to 480), a lead that holds even allowing "
                      "for the 28 segments compared.")
    # the range allowing for the segments compared is quoted beside the claim that rests on it
    s = narrative.targeting_sentence({**best, "diff_adj_ci_low": 5.0, "diff_adj_ci_high": 485.0}, 407.0,
                                     (193.0, 603.0), n_compared=28)
    assert s.endswith("a lead that holds even allowing for the 28 segments compared. Allowing for them, its likely "
                      "range is 5 to 485.")
    s = narrative.targeting_sentence({**best, "diff_adj_ci_high": 580.0}, 407.0, (193.0, 603.0), n_compared=28)
    assert s.endswith("allowing for the 28 segments compared, the data do not single it out (its likely range "
                      "widens to -90 to 580).")
    # two of them behavioural clusters: the sentence counts groups, not segments
    s = narrative.targeting_sentence(best, 407.0, (193.0, 603.0), n_compared=28, n_clusters=2)
    assert "allowing for the 28 groups compared (26 segments and 2 clusters), the data do not single it out." in s
    # a cluster left out of the targets is named, so the count adds up to the clusters page 06 shows
    s = narrative.targeting_sentence(best, 407.0, (193.0, 603.0), n_compared=27, n_clusters=1,
                                     clusters_left_out={"Returned items": "as it does not reproduce in refits"})
    assert ("allowing for the 27 groups compared (26 segments and 1 of the 2 clusters; Returned items left out, as it "
            "does not reproduce in refits), the data do not single it out.") in s


def test_the_summary_names_the_clusters_the_targeting_leaves_out():
    """From results.json: the targets' one cluster, and page 06's two (one below Hennig's 0.6)."""
    from cxanalysis import summary

    roi = {"value_per_customer": 407.0, "value_per_customer_ci_low": 193.0, "value_per_customer_ci_high": 603.0,
           "customers_moved": 288, "horizon_years": 3, "benefit": 1.0e5, "cost": 5.0e5, "net": -4.0e5, "roi": -0.8,
           "roi_ci_low": -0.9, "roi_ci_high": -0.6}
    best = {"dimension": "plan", "segment": "Pro", "value_per_customer": 652.0, "ci_low": 319.0, "ci_high": 961.0,
            "diff_vs_all": 245.0, "diff_ci_low": 12.0, "diff_ci_high": 480.0, "diff_adj_ci_low": 5.0}
    targets = [best, {**best, "dimension": "cluster", "segment": "No returns"}, {**best, "segment": "Basic"}]
    results = {"roi": {"passive_to_promoter": roi, "by_segment": targets},
               "clusters": {"profile": [{"name": "No returns", "stability": 0.73},
                                        {"name": "Returned items", "stability": 0.54},
                                        {"name": "Frequent visitors", "stability": 0.91}]}}
    line = next(x for x in summary.headline_sentences(results) if "groups compared" in x)
    assert ("the 3 groups compared (2 segments and 1 of the 3 clusters; Returned items left out, as it does not "
            "reproduce in refits; Frequent visitors left out, as it holds too few passives)") in line
    # no cluster among the targets: segments only, no cluster named
    results["roi"]["by_segment"] = [best, {**best, "segment": "Basic"}]
    line = next(x for x in summary.headline_sentences(results) if "segments compared" in x)
    assert "the 2 segments compared" in line and "Returned items" not in line


def test_contributions_sentence_shares_add_up_to_the_benefit(fitted):
    """The waterfall's three steps are shares of the benefit (moved x value); each amount in the
    sentence is the step's, recomputed here from the sequential decomposition by hand."""
    from cxanalysis import narrative

    _, _, r = fitted
    p, q, a = r.as_passive, r.as_promoter, r.assumptions
    v = lambda s, c, x: float(roi.value_per_customer(p["spend"], p["churn"], p["returns"], s, c, x, a))  # noqa: E731
    spend = r.customers_moved * v(q["spend"], p["churn"], p["returns"])
    churn = r.customers_moved * v(q["spend"], q["churn"], p["returns"]) - spend
    returns = r.benefit - spend - churn
    text = narrative.contributions_sentence(r)
    assert text.startswith(f"Of the benefit of {r.benefit:,.0f}, higher spend {spend:,.0f} ({spend / r.benefit:.0%}), "
                           f"better retention {churn:,.0f} ({churn / r.benefit:.0%}) and fewer returns "
                           f"{returns:,.0f} ({returns / r.benefit:.0%}).")
    assert ("rests on the churn effect" in text) == (churn > max(spend, returns))


def test_when_no_passive_or_promoter_churned_the_roi_books_no_retention():
    """Nobody among passives and promoters churned: the churn effect is the observed 0, and the ROI
    holds their churn at 0 both ways (point and draws), so its retention step is exactly 0 and the
    value is the spend term alone, recomputed here with the value formula."""
    cfg = load_config()
    df = make_customers(3000, 1, random_state=2).drop(columns=["returns"])
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    df.loc[cat != "detractor", "churned"] = 0
    models = fit_outcome_models(df, cfg)
    assert models.observed_churn() == 0.0
    r = roi.passive_to_promoter(models, cfg, n_draws=200)
    steps = r.contributions().set_index("label")["value"]
    assert steps["Better retention"] == 0.0 and r.as_passive["churn"] == r.as_promoter["churn"] == 0.0
    p, q, a = r.as_passive, r.as_promoter, r.assumptions
    assert r.value_per_customer == pytest.approx(roi.value_per_customer(p["spend"], 0.0, 0.0, q["spend"], 0.0, 0.0, a))
    assert any("held at the observed 0%" in n for n in r.notes)
    # an ordinary fit holds nothing
    assert fit_outcome_models(make_customers(3000, 1, random_state=2), cfg).observed_churn() is None


def test_retention_scenarios_carry_a_flagged_churn_model_and_missing_returns():
    """A separated churn model (no passive or promoter churned) values who is at risk: the
    scenarios say so, and an export without returns shows them missing, not as 0 items."""
    cfg = load_config()
    df = make_customers(3000, 1, random_state=2).drop(columns=["returns"])
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    df.loc[cat != "detractor", "churned"] = 0
    scen = roi.retention_scenarios(fit_outcome_models(df, cfg), cfg, n_draws=100)
    assert any(n.startswith("The churn model is flagged (separation") and "indicative" in n for n in scen.notes)
    assert scen.churn_flagged
    assert scen.profile()["returns_a_quarter"].isna().all()
    # an ordinary fit with returns: no such note, and the returns a quarter are the profile's
    plain = roi.retention_scenarios(fit_outcome_models(make_customers(3000, 1, random_state=2), cfg), cfg, n_draws=100)
    assert not any("flagged" in n for n in plain.notes)
    prof = plain.profile()
    assert prof["returns_a_quarter"].tolist() == [plain.at_risk["returns"], plain.average["returns"]]
    assert (prof["returns_a_quarter"] > 0).all()


def test_a_churn_rate_the_base_cannot_sustain_is_said():
    """30% a quarter keeps a customer 10 months on average (3 / 0.3); customers who have already
    stayed 40 months on average are more than twice as long as even the Wilson lower churn allows
    (statsmodels' interval: 3 / 0.272 = 11 months), so the note is given. At 20 months, or without
    tenure, it is not. The IBM Telco export (26.5% a quarter, 32 months stayed) gets it; the sample
    does not."""
    from statsmodels.stats.proportion import proportion_confint

    from .conftest import real_export

    churned = np.r_[np.ones(300), np.zeros(700)]
    long = pd.DataFrame({"churned": churned, "tenure_months": np.resize([30.0, 50.0], 1000)})
    low, _ = proportion_confint(300, 1000, method="wilson")
    assert 40 > 2 * 3 / low > 20
    note = roi.steady_churn_note(long)
    assert note.startswith("The quarter's churn (30.0%), taken as a steady rate as the lifetime values take it, keeps "
                           "a customer 10 months on average, yet the customers in this export have already stayed 40 "
                           "months on average.")
    assert roi.steady_churn_note(long.assign(tenure_months=20.0)) is None
    assert roi.steady_churn_note(long.drop(columns=["tenure_months"])) is None
    cfg = load_config()
    assert not any("steady rate" in n for n in roi.passive_to_promoter(
        fit_outcome_models(make_customers(3000, 1, random_state=2), cfg), cfg, n_draws=50).notes)
    data, config = real_export("telco")
    from cxanalysis.io import load

    tcfg = load_config(config)
    models = fit_outcome_models(load(data, tcfg).data, tcfg)
    assert any("have already stayed 32 months" in n for n in roi.retention_scenarios(models, tcfg, n_draws=50).notes)
    # results.json carries it for the summary; the sample's ROI has none
    assert "have already stayed 32 months" in roi.passive_to_promoter(models, tcfg, n_draws=50).to_results()["steady_churn"]
    assert roi.passive_to_promoter(fit_outcome_models(make_customers(3000, 1, random_state=2), cfg), cfg,
                                   n_draws=50).to_results()["steady_churn"] is None
