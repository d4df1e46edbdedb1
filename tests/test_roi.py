"""ROI arithmetic worked by hand, recovery of the generator's true value, the no-effect case,
and the direction in which every assumption moves the result."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

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
    """
    a = roi.Assumptions(gross_margin=0.5, cost_per_return=10, discount_rate=0.0, horizon_years=1,
                        program_cost_per_year=400, team_cost_per_year=600)
    value = roi.value_per_customer(100, 0.2, 1, 120, 0.1, 0.5, a)
    assert value == pytest.approx(71.065, abs=1e-9)
    assert roi.program_cost(a) == pytest.approx(1000)
    assert (20 * value - roi.program_cost(a)) / roi.program_cost(a) == pytest.approx(0.4213, abs=1e-9)
    a2 = replace(a, discount_rate=0.10, horizon_years=2)
    assert roi.program_cost(a2) == pytest.approx(1000 + 1000 / 1.1, rel=1e-12)
    assert roi.program_cost(a2, horizon_years=0.25) == pytest.approx(250)  # a quarter costs a quarter
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
    Either way the verdict says the program does not pay for itself on this evidence."""
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
            assert roi_verdict(lo, hi).startswith("On this evidence the program does not pay for itself")
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


def test_sensitivity_and_break_even(fitted):
    _, models, r = fitted
    s = roi.sensitivity(r).set_index("assumption")
    assert s.loc["Gross margin", "roi_high"] > r.roi > s.loc["Gross margin", "roi_low"]
    assert s.loc["Program + team cost", "roi_high"] < r.roi < s.loc["Program + team cost", "roi_low"]
    share = roi.break_even_share(r.value_per_customer, r.n_passives, r.assumptions)
    net = share * r.n_passives * r.value_per_customer - r.cost
    assert net == pytest.approx(0, abs=1e-6)
    assert roi.break_even_share(-5.0, 100, r.assumptions) == float("inf")


def test_retention_scenarios_hand_worked():
    """Quarterly spend 300, churn 0.1, no returns; margin 35%, no discounting, N = 1 a month.
    Monthly margin 0.35 x 300 / 3 = 35; monthly survival q = 0.9^(1/3). Over a quarter, cohorts
    of months 1-3 give 3 + 2q + q^2 customer-months: margin 35 (3 + 2q + q^2), cost a quarter
    of the annual program + team cost."""
    data = pd.DataFrame({"spend": [300.0] * 10, "churned": [1.0] + [0.0] * 9})
    a = roi.Assumptions(gross_margin=0.35, cost_per_return=0.0, discount_rate=0.0)
    t = roi.retention_scenarios(data, a, retained_per_month=(1, 5), horizons_years=(0.25, 1)).set_index(
        ["retained_per_month", "horizon_years"])
    q = 0.9 ** (1 / 3)
    assert t.loc[(1, 0.25), "gross_margin"] == pytest.approx(35 * (3 + 2 * q + q**2))
    assert t.loc[(1, 0.25), "cost"] == pytest.approx(0.25 * 170000)
    by_loop = sum(35 * q ** (m - j) for j in range(1, 13) for m in range(j, 13))
    assert t.loc[(1, 1), "gross_margin"] == pytest.approx(by_loop)
    assert t.loc[(5, 1), "gross_margin"] == pytest.approx(5 * by_loop)
    assert (t["lost_if_not_investing"] == t["gross_margin"]).all()
    assert (t["net"] == t["gross_margin"] - t["cost"]).all()
    assert np.all(t["ci_low"] <= t["gross_margin"]) and np.all(t["gross_margin"] <= t["ci_high"])


def test_retention_scenarios_say_why_they_cannot_run():
    import pandas as pd

    base = pd.DataFrame({"spend": [100.0] * 40, "churned": [0.0] * 39 + [1.0]})
    assert roi.retention_skip_reason(base) is None
    assert "no churned" in roi.retention_skip_reason(base.drop(columns="churned"))
    assert "at least 30" in roi.retention_skip_reason(base.head(10))
    assert "no customer churned" in roi.retention_skip_reason(base.assign(churned=0.0))
