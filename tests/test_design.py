"""Design matrices: numeric covariates as restricted cubic splines (cxanalysis.design), checked
against patsy's natural cubic regression splines and against a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis.design import build_design, rcs_terms, spline_knots


def _span_residual(A: np.ndarray, B: np.ndarray) -> float:
    """Largest residual of B's columns projected on A's, relative to B's scale."""
    coef = np.linalg.lstsq(A, B, rcond=None)[0]
    return float(np.abs(A @ coef - B).max() / max(np.abs(B).max(), 1.0))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 240), min_size=30, max_size=300), st.floats(-50, 0), st.floats(240, 400))
def test_the_curve_spans_patsys_natural_spline_with_the_same_knots(values, below, above):
    """{1, x, rcs_terms(x)} and patsy's cr() with the same knots (centred, plus an intercept) are the
    same space of curves: each basis reproduces the other, inside the knots and beyond them
    (where both are straight lines)."""
    x = np.asarray(values, float)
    t = spline_knots(x)
    if t is None:
        assert len(np.unique(x)) < 10 or len(np.unique(np.quantile(x, [0.1, 0.5, 0.9]))) < 3
        return
    grid = np.r_[x, below, above, np.linspace(below, above, 25)]
    ours = np.column_stack([np.ones(len(grid)), grid, rcs_terms(grid, t)])
    cr = np.asarray(patsy.dmatrix(f"cr(x, knots={tuple(t[1:-1])!r}, lower_bound={t[0]!r}, upper_bound={t[-1]!r}, "
                                  "constraints='center')", {"x": grid}))
    assert ours.shape == cr.shape
    assert _span_residual(ours, cr) < 1e-8 and _span_residual(cr, ours) < 1e-8


def test_knots_are_harrells_quantiles_with_fewer_or_none_when_they_tie():
    x = np.arange(1000.0)
    assert spline_knots(x) == tuple(np.quantile(x, [0.05, 0.35, 0.65, 0.95]))
    # most values equal: the 5th and 35th percentiles tie, the 10th, 50th and 90th do not
    tied = np.r_[np.zeros(400), np.arange(1, 601.0)]
    assert spline_knots(tied) == tuple(np.quantile(tied, [0.10, 0.50, 0.90]))
    assert spline_knots(np.r_[np.zeros(950), np.arange(1, 51.0)]) is None  # three knots tie too
    assert spline_knots(np.arange(9.0)) is None  # too few distinct values: linear


def test_a_numeric_covariate_with_few_values_enters_linearly_with_its_step():
    df = pd.DataFrame({"cx_category": ["passive", "promoter", "detractor"] * 40,
                       "tenure_months": np.tile(np.arange(6.0), 20), "age": np.arange(120.0)})
    d = build_design(df, covariates=["tenure_months", "age"])
    assert d.names == ["Intercept", "cx[T.detractor]", "cx[T.promoter]", "tenure_months", "age", "age[rcs1]",
                       "age[rcs2]"]
    assert d.labels["tenure_months"] == "Tenure (months), per month" and list(d.knots) == ["age"]
    assert d.labels["age[rcs2]"].endswith("curve, bend 2")


def test_a_bending_covariate_adjusted_as_a_curve_leaves_no_spurious_effect():
    """Known truth: churn falls over the first months of tenure and then flattens, promoters are
    mostly long-tenured, and being a promoter changes nothing (true effect 0 pp). Adjusted for
    tenure as a straight line (a plain statsmodels logit), the promoters seem to churn about 3 pp
    less; adjusted for the curve, the effect's interval holds the truth."""
    from cxanalysis.models import OutcomeModels

    rng = np.random.default_rng(1)
    n = 20_000
    tenure = np.rint(rng.gamma(1.2, 15, n))
    promoter = rng.random(n) < (0.1 + 0.6 * (1 - np.exp(-tenure / 8))) * 0.8
    other = np.where(rng.random(n) < 0.5, 7 + rng.integers(0, 2, n), rng.integers(0, 7, n))
    score = np.where(promoter, 9 + rng.integers(0, 2, n), other)
    churned = (rng.random(n) < 1 / (1 + np.exp(3 - 4 * np.exp(-tenure / 8)))).astype(float)
    df = pd.DataFrame({"customer_id": np.arange(n).astype(str), "nps_score": score, "tenure_months": tenure,
                       "churned": churned})
    m = OutcomeModels(covariates=["tenure_months"]).fit(df)
    e = m.effects().set_index(["outcome", "contrast"]).loc[("churn", "promoter_vs_passive")]
    assert e["ci_low"] < 0 < e["ci_high"] and abs(e["estimate"]) < 1
    cat = np.where(score >= 9, "promoter", np.where(score <= 6, "detractor", "passive"))
    line = smf.logit("churned ~ C(cx, Treatment('passive')) + tenure_months", df.assign(cx=cat)).fit(disp=0)
    passives = df.assign(cx=cat)[cat == "passive"]
    straight = 100 * (line.predict(passives.assign(cx="promoter")).mean() - line.predict(passives).mean())
    assert straight < -2 and straight < e["ci_low"]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_curve_terms_are_on_the_covariates_scale(seed):
    """Each bend is divided by (t_k - t_1)^2, so its values are of the order of the covariate's
    (no column a million times another's, which would make the fits ill-conditioned)."""
    x = np.random.default_rng(seed).gamma(2, 12, 5000)
    terms = rcs_terms(x, spline_knots(x))
    assert terms.min() >= 0 and 0.05 * x.max() < terms.max() < 2 * x.max()
