"""Outcome models: the fast path against plain statsmodels formula fits, recovery of the
generator's known effects, CI coverage, separation, Firth, E-values."""

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import optimize, stats
from scipy.special import expit

from cxanalysis.config import load_config
from cxanalysis.glm import fit_firth_logit
from cxanalysis.io import load
from cxanalysis.models import OutcomeModels, evalue, fit_outcome_models
from cxanalysis.sample import Truth, make_customers, true_effects

from .conftest import real_export


def curve(df: pd.DataFrame, col: str = "tenure_months") -> str:
    """A numeric covariate as the models enter it, written for patsy: a natural cubic spline with
    knots at the 5th, 35th, 65th and 95th percentiles of the column (Harrell's four knots), the
    same space of curves as the models' restricted cubic spline in another basis."""
    t = np.quantile(df[col].to_numpy(float), [0.05, 0.35, 0.65, 0.95])
    return f"cr({col}, knots=({t[1]!r}, {t[2]!r}), lower_bound={t[0]!r}, upper_bound={t[3]!r}, constraints='center')"


def rhs(df: pd.DataFrame, *, score: bool = False, extra: tuple[str, ...] = ()) -> str:
    """The right-hand side of the models' formula on ``df``: CX, plan, region, tenure (and ``extra``
    numeric covariates) as curves."""
    cx = "nps_score" if score else "C(cx_category, Treatment('passive'))"
    return " + ".join([cx, "C(plan)", "C(region)", *(curve(df, c) for c in ("tenure_months", *extra))])


@pytest.fixture(scope="module")
def fitted():
    df = make_customers(4000, 1, random_state=3)
    m = OutcomeModels(keep_scores=True).fit(df)
    return df.assign(cx_category=m.data_["cx_category"].astype(str)), m


def _patsy_to_ours(name):
    name = name.replace("C(cx_category, Treatment('passive'))", "cx")
    return re.sub(r"^C\((\w+)\)", r"\1", name)


def _same(fit, ref, names):
    """The same model: coefficients and robust SEs equal to 1e-6 relative for every term that does
    not depend on how a curve is written (CX, the categories' dummies), matched by name, and the
    same linear predictor (the intercept and the curves' terms together) on every row."""
    params, bse = ref.params.rename(_patsy_to_ours), ref.bse.rename(_patsy_to_ours)
    ours = pd.Series(fit.params, index=names)
    common = [n for n in names if n in params.index and n != "Intercept"]
    assert common and all("[rcs" not in n for n in common)
    np.testing.assert_allclose(ours[common], params[common].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(pd.Series(fit.bse, index=names)[common], bse[common].to_numpy(), rtol=1e-6)
    curves = [n for n in names if n not in common and n != "Intercept"]
    assert len(curves) == len(params) - len(common) - 1  # the same number of curve terms
    return ref.model.exog @ ref.params.to_numpy()


def _same_rows(fit, ref, design):
    """:func:`_same`, and the linear predictor on the design's rows equal to statsmodels'."""
    eta = _same(fit, ref, design.names)
    np.testing.assert_allclose(design.X @ fit.params, eta, rtol=1e-6, atol=1e-8)


def test_spend_two_part_matches_statsmodels(fitted):
    """Both parts against smf.logit / smf.glm(Gamma, log) with robust (HC0) errors."""
    df, m = fitted
    parts = m.outcomes_["spend"].parts
    assert set(parts) == {"any", "amount"}
    _same_rows(parts["any"], smf.logit(f"any_spend ~ {rhs(df)}", df.assign(any_spend=(df["spend"] > 0).astype(float)))
               .fit(disp=0, cov_type="HC0"), m.design_)
    gamma = sm.families.Gamma(sm.families.links.Log())
    # the amount part on the customers who spent, the curve's knots those of every customer's
    _same(parts["amount"], smf.glm(f"spend ~ {rhs(df)}", df[df["spend"] > 0], family=gamma).fit(cov_type="HC0"),
          m.design_.names)


def test_spend_without_zeros_is_one_gamma_glm():
    df = make_customers(2000, 1, random_state=4, truth=Truth(spend_zero_prob=0.0))
    m = OutcomeModels().fit(df)
    assert list(m.outcomes_["spend"].parts) == ["main"]
    df = df.assign(cx_category=m.data_["cx_category"].astype(str))
    gamma = sm.families.Gamma(sm.families.links.Log())
    _same_rows(m.outcomes_["spend"].parts["main"], smf.glm(f"spend ~ {rhs(df)}", df, family=gamma).fit(cov_type="HC0"),
               m.design_)
    # with one part and a log link, the averaged ratio is exactly exp(coefficient)
    e = m.effects().set_index(["outcome", "contrast"])
    b = m.outcomes_["spend"].parts["main"].params[m.design_.col("cx[T.promoter]")]
    assert e.loc[("spend", "promoter_vs_passive"), "estimate"] == pytest.approx(np.exp(b), rel=1e-12)


def test_churn_and_returns_match_statsmodels(fitted):
    df, m = fitted
    _same_rows(m.outcomes_["churn"].parts["main"], smf.logit(f"churned ~ {rhs(df)}", df).fit(disp=0, cov_type="HC0"),
               m.design_)
    ref = smf.glm(f"returns ~ {rhs(df)}", df, family=sm.families.Poisson(), offset=np.log(df["orders"])).fit(cov_type="HC0")
    _same_rows(m.outcomes_["returns"].parts["main"], ref, m.design_)
    assert m.outcomes_["returns"].parts["main"].dispersion == pytest.approx(ref.pearson_chi2 / ref.df_resid, rel=1e-8)


def test_per_point_models_match_statsmodels(fitted):
    df, m = fitted
    d = m.score_design_
    _same_rows(m.per_point_["churn"].parts["main"], smf.logit(f"churned ~ {rhs(df, score=True)}", df)
               .fit(disp=0, cov_type="HC0"), d)
    ref = smf.glm(f"returns ~ {rhs(df, score=True)}", df, family=sm.families.Poisson(),
                  offset=np.log(df["orders"])).fit(cov_type="HC0")
    _same_rows(m.per_point_["returns"].parts["main"], ref, d)


def test_churn_pp_effect_against_statsmodels_predictions(fitted):
    """The promoter-vs-passive churn effect recomputed from statsmodels' own predictions."""
    df, m = fitted
    ref = smf.logit(f"churned ~ {rhs(df)}", df).fit(disp=0)
    passives = df[df["cx_category"] == "passive"]
    diff = ref.predict(passives.assign(cx_category="promoter")).mean() - ref.predict(passives).mean()
    e = m.effects().set_index(["outcome", "contrast"])
    assert e.loc[("churn", "promoter_vs_passive"), "estimate"] == pytest.approx(100 * diff, rel=1e-6)
    # the levels the pp difference is read against: statsmodels' mean predictions as passives and
    # as promoters, and as detractors for the other contrast
    row = e.loc[("churn", "promoter_vs_passive")]
    assert row["baseline"] == pytest.approx(ref.predict(passives).mean(), rel=1e-6)
    assert row["counterfactual"] == pytest.approx(ref.predict(passives.assign(cx_category="promoter")).mean(), rel=1e-6)
    det = e.loc[("churn", "detractor_vs_passive")]
    assert det["counterfactual"] == pytest.approx(ref.predict(passives.assign(cx_category="detractor")).mean(),
                                                  rel=1e-6)
    out = m.to_results()["churn"]["promoter_vs_passive"]
    assert (out["baseline"], out["counterfactual"]) == (row["baseline"], row["counterfactual"])


def test_recovers_known_effects():
    """60,000 simulated customers: ratios within 5% of the truth, churn within 0.6 pp.

    (Whether the intervals cover the truth at their nominal rate is the coverage study's job:
    in a single sample each 95% interval misses 5% of the time by design.)"""
    df = make_customers(60000, 1, random_state=8)
    truth = true_effects(df)
    e = fit_outcome_models(df, load_config()).effects().set_index(["outcome", "contrast"])
    for contrast in ("promoter_vs_passive", "detractor_vs_passive"):
        for outcome in ("spend", "returns"):
            row, t = e.loc[(outcome, contrast)], truth[contrast][outcome]
            assert abs(row["estimate"] / t - 1) < 0.05, (outcome, contrast)
        row, t = e.loc[("churn", contrast)], truth[contrast]["churn"]
        assert abs(row["estimate"] - t) < 0.6


def test_adjustment_removes_confounding_that_the_raw_comparison_has():
    """Plan raises both CX and spend: the raw promoter/passive spend ratio is biased upwards,
    the adjusted one is not."""
    df = make_customers(60000, 1, random_state=9)
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    raw = df.loc[cat == "promoter", "spend"].mean() / df.loc[cat == "passive", "spend"].mean()
    adj = fit_outcome_models(df, load_config()).effects().set_index(["outcome", "contrast"])
    assert raw > 1.2 * 1.03
    assert abs(adj.loc[("spend", "promoter_vs_passive"), "estimate"] - 1.2) < abs(raw - 1.2)


@pytest.mark.slow
def test_counterfactual_ci_coverage():
    """200 replications of 3,000 customers: the 95% delta-method intervals of the six effects
    cover the truth (the generator's parameters averaged over each replication's passives)
    92-98% of the time, pooled; no single effect below 88%."""
    cfg = load_config()
    hits = {}
    for rep in range(200):
        df = make_customers(3000, 1, random_state=1000 + rep)
        truth = true_effects(df)
        e = fit_outcome_models(df, cfg, keep_scores=False).effects()
        for r in e[e["contrast"] != "per_point"].itertuples():
            t = truth[r.contrast][r.outcome]
            hits.setdefault((r.outcome, r.contrast), []).append(r.ci_low <= t <= r.ci_high)
    pooled = np.mean([h for v in hits.values() for h in v])
    assert 0.92 <= pooled <= 0.98, pooled
    assert min(np.mean(v) for v in hits.values()) >= 0.88


def test_no_effect_data_gives_intervals_covering_no_effect():
    """CX has no effect (effect_scale = 0): across 20 exports the intervals cover 1 (ratios) or
    0 (pp) at least 90% of the time, and the estimates sit near the null."""
    cfg = load_config()
    covered, n = 0, 0
    for rep in range(20):
        df = make_customers(3000, 1, random_state=500 + rep, truth=Truth(effect_scale=0))
        e = fit_outcome_models(df, cfg, keep_scores=False).effects()
        e = e[e["contrast"] != "per_point"]
        null = np.where(e["scale"] == "ratio", 1.0, 0.0)
        covered += int(((e["ci_low"] <= null) & (null <= e["ci_high"])).sum())
        n += len(e)
    assert covered / n >= 0.9


def test_firth_matches_direct_maximisation_of_penalised_likelihood():
    """Firth = argmax l(b) + 0.5 log det(X'WX); maximised here with scipy's BFGS instead."""
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(80), rng.normal(size=80), (rng.random(80) < 0.3).astype(float)])
    y = (rng.random(80) < expit(X @ [-0.5, 1.0, 0.8])).astype(float)
    y[X[:, 2] == 1] = 1.0  # quasi-complete separation on the dummy

    def neg(b):
        eta = X @ b
        p = expit(eta)
        return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet((X * (p * (1 - p))[:, None]).T @ X)[1])

    direct = optimize.minimize(neg, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    fit = fit_firth_logit(X, y)
    assert fit.converged
    np.testing.assert_allclose(fit.params, direct, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(fit.bse))


def test_separation_falls_back_to_firth_with_warning():
    df = make_customers(3000, 1, random_state=2)
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    df.loc[cat != "detractor", "churned"] = 0  # passives and promoters never churn
    m = OutcomeModels().fit(df)
    e = m.effects().set_index(["outcome", "contrast"])
    row = e.loc[("churn", "detractor_vs_passive")]
    # the fit falls back to Firth; the passives, who never churn, enter at their observed 0
    assert m.outcomes_["churn"].parts["main"].method != "IRLS"
    assert row["flagged"] and row["method"].startswith("partly observed: the passives' observed rate (0%")
    assert row["baseline"] == 0.0 and row["estimate"] == pytest.approx(100 * row["counterfactual"])
    assert np.isfinite([row["estimate"], row["ci_low"], row["ci_high"]]).all()
    assert any("separation" in w and re.search(r"none of the [\d,]+ passives churned", w) for w in m.warnings_)


def test_telco_separation_is_finite_and_flagged():
    data, cfg = real_export("telco")
    config = load_config(cfg)
    m = fit_outcome_models(load(data, config).data, config)
    e = m.effects().set_index(["outcome", "contrast"])
    churn = e.loc["churn"]
    assert churn["flagged"].all()
    assert np.isfinite(churn[["estimate", "ci_low", "ci_high"]].to_numpy()).all()
    assert (churn["estimate"].abs() <= 100).all()
    assert any("separation" in w for w in m.warnings_)
    assert "returns" in m.skipped_
    # no promoter and no passive churned: the observed difference, 0, with Newcombe's interval
    # (statsmodels' own), not a penalised model's invented rates
    from statsmodels.stats.proportion import confint_proportions_2indep

    prom = churn.loc["promoter_vs_passive"]
    n = pd.Series(m._cat).value_counts()
    lo, hi = confint_proportions_2indep(0, n["promoter"], 0, n["passive"], method="newcomb", compare="diff")
    assert (n["promoter"], n["passive"]) == (1149, 1789)
    assert (prom["estimate"], prom["baseline"], prom["counterfactual"]) == (0.0, 0.0, 0.0)
    assert prom["ci_low"] == pytest.approx(100 * lo, rel=1e-9) and prom["ci_high"] == pytest.approx(100 * hi, rel=1e-9)
    assert prom["method"].startswith("observed: every promoter and every passive stayed") and prom["flagged"]
    assert "no promoter and no passive churned (1,149 and 1,789 customers)" in prom["flag_reason"]
    # the detractors did churn: the passives enter at their observed 0 with Wilson's interval
    # (statsmodels' own), the detractors at the model's adjusted mean, combined by MOVER
    from statsmodels.stats.proportion import proportion_confint

    det = churn.loc["detractor_vs_passive"]
    v, g = m.passive_means("churn")["detractor"]
    se = np.sqrt(g @ m.outcomes_["churn"].cov @ g) / (v * (1 - v))
    l1, u1 = expit(np.log(v / (1 - v)) + np.array([-1, 1]) * 1.959963984540054 * se)
    _, u2 = proportion_confint(0, n["passive"], alpha=0.05, method="wilson")
    assert det["method"].startswith("partly observed: the passives' observed rate (0%")
    assert (det["baseline"], det["counterfactual"]) == (0.0, v) and det["estimate"] == pytest.approx(100 * v)
    assert det["ci_low"] == pytest.approx(100 * (v - np.hypot(v - l1, u2)), rel=1e-9)
    assert det["ci_high"] == pytest.approx(100 * u1, rel=1e-9)
    assert "no passive churned (1,789 customers): their rate is the observed 0%" in det["flag_reason"]
    # the chart's table agrees: the passives and promoters at their observed 0 with Wilson's upper
    # end, the detractors at the model's mean, all flagged
    pred = m.predicted_by_category("churn").set_index("category")
    assert pred["flagged"].all() and pred["observed"].tolist() == [False, True, True]
    assert pred["direction"].tolist() == ["expected", "", "undetermined"]  # as the effects' directions below
    for cat in ("passive", "promoter"):
        _, up = proportion_confint(0, n[cat], alpha=0.05, method="wilson")
        assert pred.loc[cat, ["estimate", "ci_low"]].tolist() == [0.0, 0.0]
        assert pred.loc[cat, "ci_high"] == pytest.approx(100 * up, rel=1e-9)
    assert pred.loc["detractor", "estimate"] == pytest.approx(100 * v)
    # results.json marks the way each effect runs: promoters spending less (0.84 to 0.91 of passives'
    # spend, as a plain statsmodels refit also finds) runs against a better experience
    res = m.to_results()
    assert res["spend"]["promoter_vs_passive"]["direction"] == "unexpected"
    assert res["spend"]["detractor_vs_passive"]["direction"] == "unexpected"
    assert res["churn"]["detractor_vs_passive"]["direction"] == "expected"
    assert res["churn"]["promoter_vs_passive"]["direction"] == "undetermined"


def _one_group_never_churns(seed: int, detractor_rate: float, n: int = 1200):
    """Sample customers among whom passives never churn and detractors churn at ``detractor_rate``
    whatever their plan, region or tenure (promoters at 5%): the detractor contrast's truth is
    ``detractor_rate``, in pp."""
    df = make_customers(n, 1, random_state=seed)
    rng = np.random.default_rng(seed)
    cat = pd.cut(df["nps_score"], [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"]).astype(str)
    rate = cat.map({"detractor": detractor_rate, "passive": 0.0, "promoter": 0.05}).to_numpy(float)
    df["churned"] = np.where(df["nps_score"].isna(), df["churned"], (rng.random(n) < rate).astype(float))
    return df


def test_one_constant_group_covers_the_truth():
    """The MOVER interval, observed 0 against the model's mean, covers the true difference about
    95% of the time (at least 34 of 40: below that has probability 0.02 at 95% coverage)."""
    covered = 0
    for seed in range(40):
        m = OutcomeModels().fit(_one_group_never_churns(seed, 0.2))
        det = m.effects().set_index(["outcome", "contrast"]).loc[("churn", "detractor_vs_passive")]
        assert det["method"].startswith("partly observed") and det["baseline"] == 0.0
        covered += det["ci_low"] <= 20 <= det["ci_high"]
    assert covered >= 34, covered


@pytest.mark.parametrize("seed", range(3))
def test_one_constant_group_p_value_is_where_the_interval_reaches_zero(seed):
    """A weak contrast (few detractors churn): at the level of its p-value, the interval's lower end,
    rebuilt from statsmodels' Wilson interval and the model's logit-scale interval, is 0."""
    from statsmodels.stats.proportion import proportion_confint

    m = OutcomeModels().fit(_one_group_never_churns(seed, 0.008))
    det = m.effects().set_index(["outcome", "contrast"]).loc[("churn", "detractor_vs_passive")]
    p = det["p_value"]
    assert 1e-6 < p < 1
    z = stats.norm.isf(p / 2)
    v, g = m.passive_means("churn")["detractor"]
    se = np.sqrt(g @ m.outcomes_["churn"].cov @ g) / (v * (1 - v))
    l1 = expit(np.log(v / (1 - v)) - z * se)
    n_passive = int((m._cat[m.outcomes_["churn"].rows["main"]] == "passive").sum())
    _, u2 = proportion_confint(0, n_passive, alpha=p, method="wilson")
    assert v - np.hypot(v - l1, u2) == pytest.approx(0, abs=1e-8)
    assert (p < 0.05) == (det["ci_low"] > 0)


@pytest.mark.parametrize("seed", range(4))
def test_newcombe_interval_equals_statsmodels(seed):
    from statsmodels.stats.proportion import confint_proportions_2indep

    from cxanalysis.models import newcombe_interval

    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(5, 3000, 2)
    k1, k2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
    ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    np.testing.assert_allclose(newcombe_interval(k1 / n1, n1, k2 / n2, n2), ref, rtol=1e-9, atol=1e-12)


def test_missing_outcome_columns_are_skipped():
    df = make_customers(1500, 1, random_state=5).drop(columns=["returns", "spend"])
    m = OutcomeModels(covariates=["plan", "region", "tenure_months", "absent_col"]).fit(df)
    assert m.skipped_ == {"spend": "no spend column", "returns": "no returns column"}
    assert set(m.effects()["outcome"]) == {"churn"}
    assert "returns" not in m.to_results()
    assert any("'absent_col' is not in the data" in w for w in m.warnings_)


def test_evalue_hand_worked():
    """RR 2: 2 + sqrt(2 x 1) = 3.4142; limit 1.5: 1.5 + sqrt(1.5 x 0.5) = 2.3660.
    RR 0.5 -> 1/0.5 = 2 -> 3.4142, nearest limit 0.8 -> 1.25 + sqrt(1.25 x 0.25) = 1.8090.
    An interval containing 1 has E-value 1."""
    assert evalue(2.0, 1.5, 2.7) == pytest.approx((3.41421, 2.36603), abs=1e-5)
    assert evalue(0.5, 0.3, 0.8) == pytest.approx((3.41421, 1.80902), abs=1e-5)
    assert evalue(1.3, 0.9, 1.8)[1] == 1.0


def test_joint_covariance_blocks_equal_each_models_own(fitted):
    _, m = fitted
    parts, V = m.joint_covariance()
    start = 0
    for outcome, part in parts:
        f = m.outcomes_[outcome].parts[part]
        k = len(f.params)
        # the curve's terms are nearly collinear: entries far below the block's largest are compared
        # to that scale, the others relatively
        np.testing.assert_allclose(V[start:start + k, start:start + k], f.cov, rtol=1e-10,
                                   atol=1e-10 * np.abs(f.cov).max())
        start += k
    assert np.all(np.linalg.eigvalsh(V) > -1e-12)


def test_joint_covariance_cross_block_equals_stacked_statsmodels_scores(fitted):
    """The churn x spend-amount block of the joint covariance, against statsmodels' own per-row
    scores and Hessians of the two formula fits (scale 1): ``H_c^-1 (S_c' S_a) H_a^-1``, with a
    customer's amount score 0 where they spent nothing (not in the amount part)."""
    df, m = fitted
    parts, V = m.joint_covariance()
    churn = smf.logit(f"churned ~ {rhs(df)}", df)
    spent = df[df["spend"] > 0]
    amount = smf.glm(f"spend ~ {rhs(df)}", spent, family=sm.families.Gamma(sm.families.links.Log()))
    bc, ba = churn.fit(disp=0).params.to_numpy(), amount.fit().params.to_numpy()
    names = [_patsy_to_ours(n) for n in churn.exog_names]
    assert names == [_patsy_to_ours(n) for n in amount.exog_names]
    # the block of the terms whose coefficients do not depend on how the curve is written
    ours = m.design_.names
    common = [n for n in ours if n in names and n != "Intercept"]
    a, b = [names.index(n) for n in common], [ours.index(n) for n in common]
    s_c = pd.DataFrame(churn.score_obs(bc), index=churn.data.row_labels)
    s_a = pd.DataFrame(amount.score_obs(ba, scale=1.0), index=amount.data.row_labels)
    s_a = s_a.reindex(s_c.index, fill_value=0.0)
    assert 0 < len(spent) < len(s_c)  # some customers are in one of the two parts only
    expected = (np.linalg.inv(-churn.hessian(bc)) @ (s_c.T @ s_a).to_numpy()
                @ np.linalg.inv(-amount.hessian(ba, scale=1.0)))
    p = len(ours)
    i, j = parts.index(("churn", "main")), parts.index(("spend", "amount"))
    got = V[i * p:(i + 1) * p, j * p:(j + 1) * p] if i < j else V[j * p:(j + 1) * p, i * p:(i + 1) * p].T
    np.testing.assert_allclose(got[np.ix_(b, b)], expected[np.ix_(a, a)], rtol=1e-6, atol=1e-12)


def test_tables_have_readable_labels(fitted):
    _, m = fitted
    coefs = m.coefficients("churn")
    assert "Promoter (vs passive)" in set(coefs["label"])
    # words, not column names; tenure is a curve (a linear term and two bends)
    assert {"Plan: Pro (vs Basic)", "Tenure (months): curve, linear term", "Tenure (months): curve, bend 1",
            "Tenure (months): curve, bend 2"} <= set(coefs["label"])
    pred = m.predicted_by_category("churn")
    assert pred["category"].tolist() == ["detractor", "passive", "promoter"]
    assert (pred["ci_low"] <= pred["estimate"]).all() and (pred["estimate"] <= pred["ci_high"]).all()
    cal = m.calibration()
    assert abs(cal["predicted"].mean() - cal["observed"].mean()) < 0.01
    assert isinstance(m._repr_html_(), str) and m.plot() is not None
    assert len(m.residuals("spend")) <= 4000 and isinstance(pd.DataFrame(m.to_results()), pd.DataFrame)


# --- Firth fits: profile penalised-likelihood intervals (issue 14 item 7) -------------------------


def _direct_profile(neg_penalised, bhat, j, alpha=0.05, phi=1.0):
    """Profile interval and LR p-value of coefficient j, computed independently of the package:
    the penalised log-likelihood maximised over the others by scipy's BFGS at fixed b_j, and the
    limits where 2 (l*max - l*_j) / phi = chi2_1(1 - alpha), found by brentq."""
    from scipy import stats

    p = len(bhat)
    top = -optimize.minimize(neg_penalised, bhat, method="BFGS", options={"gtol": 1e-10}).fun
    q = stats.chi2.ppf(1 - alpha, 1)
    others = [k for k in range(p) if k != j]

    def drop(v):
        def neg(o):
            b = np.empty(p)
            b[j], b[others] = v, o
            return neg_penalised(b)
        return 2 * (top + optimize.minimize(neg, bhat[others], method="BFGS", options={"gtol": 1e-9}).fun) / phi

    limits = []
    for side in (-1, 1):
        step = 1.0
        while drop(bhat[j] + side * step) < q:  # bracket outwards by doubling
            step *= 2
        inner = bhat[j] + side * step / 2 if step > 1 else bhat[j]
        a, b = sorted((inner, bhat[j] + side * step))
        limits.append(optimize.brentq(lambda v: drop(v) - q, a, b, xtol=1e-10))
    return limits[0], limits[1], stats.chi2.sf(drop(0.0), 1)


def test_firth_logistic_profile_intervals_match_a_direct_computation():
    """Quasi-complete separation on the dummy (every customer with it churned): the Wald interval
    of that coefficient is symmetric and too short; the profile penalised-likelihood interval
    (as logistf reports) is asymmetric, reaching far to the right. Both limits and the penalised
    LR p-value of every coefficient equal the direct scipy computation."""
    from cxanalysis.glm import firth_profile

    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(80), rng.normal(size=80), (rng.random(80) < 0.3).astype(float)])
    y = (rng.random(80) < expit(X @ [-0.5, 1.0, 0.8])).astype(float)
    y[X[:, 2] == 1] = 1.0

    def neg(b):
        eta = X @ b
        p = expit(eta)
        return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet((X * (p * (1 - p))[:, None]).T @ X)[1])

    fit = fit_firth_logit(X, y)
    prof = firth_profile(X, y, fit)
    for j in range(3):
        lo, hi, p = _direct_profile(neg, fit.params, j)
        assert (prof.low[j], prof.high[j]) == pytest.approx((lo, hi), abs=1e-5), j
        assert prof.p_value[j] == pytest.approx(p, rel=1e-4), j
    # the separated term: far longer to the right than the Wald interval
    assert prof.high[2] - fit.params[2] > 2 * (fit.params[2] - prof.low[2])


def test_firth_poisson_profile_intervals_match_a_direct_computation():
    """A Poisson returns model with a level without any return (offset log orders): profile
    intervals of the Firth fit against the direct computation (statistic divided by the Pearson
    dispersion when above 1, the quasi-likelihood form of the quasi-Poisson covariance)."""
    from cxanalysis.glm import firth_profile, fit_firth

    rng = np.random.default_rng(3)
    n = 150
    X = np.column_stack([np.ones(n), rng.normal(size=n), (rng.random(n) < 0.15).astype(float)])
    orders = rng.integers(1, 6, n).astype(float)
    y = rng.poisson(orders * np.exp(X @ [-1.5, 0.4, 0.0])).astype(float)
    y[X[:, 2] == 1] = 0.0
    off = np.log(orders)

    def neg(b):
        eta = X @ b + off
        mu = np.exp(eta)
        return -(np.sum(y * eta - mu) + 0.5 * np.linalg.slogdet((X * mu[:, None]).T @ X)[1])

    fit = fit_firth(X, y, "poisson_log", offset=off)
    prof = firth_profile(X, y, fit, offset=off)
    for j in range(3):
        lo, hi, p = _direct_profile(neg, fit.params, j, phi=max(fit.dispersion, 1.0))
        assert (prof.low[j], prof.high[j]) == pytest.approx((lo, hi), abs=1e-5), j
        assert prof.p_value[j] == pytest.approx(p, rel=1e-4, abs=1e-12), j


def test_flagged_model_coefficients_use_profile_intervals_and_say_so():
    """Separation in churn: the churn coefficient table reports profile penalised-likelihood
    intervals (equal to glm.firth_profile on the model's own rows and columns) and says so; the
    maximum-likelihood models keep robust Wald intervals; the effects' method text says their
    intervals are delta-method ones on the penalised fit."""
    from cxanalysis.glm import firth_profile

    df = make_customers(3000, 1, random_state=2)
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    df.loc[cat != "detractor", "churned"] = 0
    m = OutcomeModels().fit(df)
    coefs = m.coefficients()
    churn, other = coefs[coefs["outcome"] == "churn"], coefs[coefs["outcome"] != "churn"]
    assert (churn["ci_method"] == "profile penalised likelihood").all()
    assert (other["ci_method"] == "Wald (robust sandwich)").all()
    X, y, off, cols = m._part_data("churn", "main")
    f = m.outcomes_["churn"].parts["main"]
    own = firth_profile(X, y, type(f)(f.family, f.params[cols], f.cov[np.ix_(cols, cols)],
                                      f.cov_model[np.ix_(cols, cols)], f.n, True, 0, f.method))
    np.testing.assert_allclose(churn["ratio_ci_low"].to_numpy(), np.exp(own.low), rtol=1e-10)
    np.testing.assert_allclose(churn["ratio_ci_high"].to_numpy(), np.exp(own.high), rtol=1e-10)
    assert ((churn["ratio_ci_low"] <= churn["ratio"]) & (churn["ratio"] <= churn["ratio_ci_high"])).all()
    e = m.effects()
    churn_e = e[(e["outcome"] == "churn") & (e["contrast"] != "per_point")].set_index("contrast")
    # no passive churned: the passives' observed 0 against the penalised fit's detractor mean
    assert "from the Firth penalised fit, with a delta-method interval" in churn_e.loc["detractor_vs_passive", "method"]
    # no promoter and no passive churned: their difference is the observed one, not the model's
    assert churn_e.loc["promoter_vs_passive", "method"].startswith("observed: every promoter and every passive stayed")
    assert not e.loc[e["outcome"] == "spend", "method"].str.contains("penalised").any()


def test_a_firth_fit_too_large_to_profile_says_wald(monkeypatch):
    """Above PROFILE_MAX_CELLS the coefficient table keeps the Firth fit's model-based Wald
    intervals, and says so in ci_method."""
    from cxanalysis import models

    monkeypatch.setattr(models, "PROFILE_MAX_CELLS", 1)
    df = make_customers(1500, 1, random_state=2)
    cat = np.where(df["nps_score"] >= 9, "promoter", np.where(df["nps_score"] <= 6, "detractor", "passive"))
    df.loc[cat != "detractor", "churned"] = 0
    churn = OutcomeModels(per_point=False).fit(df).coefficients("churn")
    assert (churn["ci_method"] == "Wald (model-based)").all()
    z = 1.959963984540054
    np.testing.assert_allclose(churn["ratio_ci_low"], np.exp(churn["coef"] - z * churn["se"]), rtol=1e-9)


# --- the per-point effect stays on the scale (issue 14 item 7) ------------------------------------


def test_per_point_effect_never_leaves_the_scale(fitted):
    """One more point for every customer below the top (10), capped at 10; customers at 10 are
    not pushed to an impossible 11 but left out. The churn and returns effects equal the same
    contrast recomputed from statsmodels' own fits and predictions on those customers."""
    df, m = fitted
    j = m.score_design_.col("nps_score")
    for outcome in ("spend", "churn", "returns"):
        X, X1, _, _ = m._per_point_rows(m.per_point_[outcome])
        assert X1[:, j].max() <= 10 and X[:, j].max() < 10
        np.testing.assert_array_equal(X1[:, j], np.minimum(X[:, j] + 1, 10))
        assert len(X) < len(m.score_design_.rows)  # the customers at 10 are not in it
    below = df[df["nps_score"] < 10]
    up = below.assign(nps_score=below["nps_score"] + 1)
    e = m.effects().set_index(["outcome", "contrast"])
    ref = smf.logit(f"churned ~ {rhs(df, score=True)}", df).fit(disp=0)
    diff = 100 * (ref.predict(up).mean() - ref.predict(below).mean())
    assert e.loc[("churn", "per_point"), "estimate"] == pytest.approx(diff, rel=1e-6)
    ref = smf.glm(f"returns ~ {rhs(df, score=True)}", df, family=sm.families.Poisson(),
                  offset=np.log(df["orders"])).fit()
    ratio = (ref.predict(up, offset=np.log(up["orders"])).mean() /
             ref.predict(below, offset=np.log(below["orders"])).mean())
    assert e.loc[("returns", "per_point"), "estimate"] == pytest.approx(ratio, rel=1e-6)
    assert "below the top of the NPS score scale (10)" in e.loc[("churn", "per_point"), "estimand"]


def test_per_point_on_a_one_to_five_csat_stops_at_five():
    """A 1-5 CSAT as the configured score: the scale comes from the config, and no customer
    is moved above 5."""
    df = make_customers(2000, 1, random_state=6)
    cfg = load_config({"categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3}})
    m = fit_outcome_models(df, cfg, keep_scores=False)
    assert m.score_scale_ == (1.0, 5.0)
    j = m.score_design_.col("csat")
    X, X1, _, _ = m._per_point_rows(m.per_point_["churn"])
    assert X1[:, j].max() <= 5 and (X[:, j] < 5).all()


# --- fits on the design's distinct rows ----------------------------------------------------------


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(["logit", "gamma_log", "poisson_log"]), n=st.integers(1000, 3000),
       weighted=st.booleans(), offset=st.booleans(), seed=st.integers(0, 10_000))
def test_fit_on_distinct_rows_equals_the_fit_on_every_row(family, n, weighted, offset, seed):
    """A design of categories and whole numbers is fitted on its distinct rows (the same
    likelihood, scores and information as per row): estimates, both covariances, iterations
    and convergence equal the per-row fit's, with prior weights and a Poisson offset too."""
    from cxanalysis import glm

    rng = np.random.default_rng(seed)
    cat = rng.integers(0, 3, n)
    tenure = rng.integers(1, 25, n).astype(float)
    X = np.column_stack([np.ones(n), cat == 1, cat == 2, tenure]).astype(float)
    eta = -0.3 + 0.4 * (cat == 1) - 0.2 * (cat == 2) + 0.02 * tenure
    orders = rng.integers(1, 6, n).astype(float)
    off = np.log(orders) if offset and family == "poisson_log" else None
    if family == "logit":
        y = (rng.random(n) < expit(eta)).astype(float)
    elif family == "gamma_log":
        y = rng.gamma(2.0, np.exp(eta + 3) / 2.0)
    else:
        y = rng.poisson(np.exp(eta + (off if off is not None else 0))).astype(float)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    assert glm._cells(X, y, family, off, w) is not None  # this design is collapsed
    collapsed = glm.fit_glm(X, y, family, offset=off, weights=w)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(glm, "_cells", lambda *args: None)
        per_row = glm.fit_glm(X, y, family, offset=off, weights=w)
    np.testing.assert_allclose(collapsed.params, per_row.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(collapsed.cov, per_row.cov, rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(collapsed.cov_model, per_row.cov_model, rtol=1e-6, atol=1e-14)
    assert collapsed.converged == per_row.converged
    assert abs(collapsed.n_iter - per_row.n_iter) <= 1


def test_design_with_few_repeats_is_fitted_per_row():
    """Continuous covariates (nearly every row distinct) are not collapsed."""
    from cxanalysis import glm

    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(2000), rng.normal(size=2000)])
    assert glm._cells(X, rng.normal(size=2000) ** 2, "gamma_log", None, None) is None
    assert glm._cells(X[:, :1], np.ones(2000), "logit", np.zeros(2000), None) is None  # logit offset


def test_adjustment_sensitivity_refits_with_visits_and_contract_value(fitted):
    """The effects as reported beside the effects adjusted also for visits and contract value.
    Independent computation of the adjusted churn effect: statsmodels' logit with the two columns
    added, its predictions for the passives as promoters and as passives."""
    from cxanalysis.config import load_config
    from cxanalysis.models import adjustment_sensitivity

    df, m = fitted
    table, why = adjustment_sensitivity(df, load_config(), m)
    assert why is None and table.attrs["added"] == ["visits_per_month", "contract_value"]
    t = table.set_index("outcome")
    e = m.effects().set_index(["outcome", "contrast"])
    assert t.loc["churn", "estimate"] == e.loc[("churn", "promoter_vs_passive"), "estimate"]
    ref = smf.logit(f"churned ~ {rhs(df, extra=('visits_per_month', 'contract_value'))}", df).fit(disp=0)
    passives = df[df["cx_category"] == "passive"]
    diff = ref.predict(passives.assign(cx_category="promoter")).mean() - ref.predict(passives).mean()
    assert t.loc["churn", "estimate_adj"] == pytest.approx(100 * diff, rel=1e-5)
    assert (t["ci_low_adj"] < t["estimate_adj"]).all() and (t["estimate_adj"] < t["ci_high_adj"]).all()
    assert (t["n_adj"] == len(df)).all()
    # nothing to add: a named reason, no table
    m2 = OutcomeModels(covariates=["plan", "region", "tenure_months", "visits_per_month", "contract_value"]).fit(df)
    table, why = adjustment_sensitivity(df, load_config(), m2)
    assert table is None and "already adjusted for" in why
    # above max_rows, a seeded sample of that many rows
    table, _ = adjustment_sensitivity(df, load_config(), m, max_rows=1500)
    assert (table["n_adj"] <= 1500).all()


def test_a_curve_as_one_row_carries_the_joint_test_that_it_is_flat(fitted):
    """whole_curves: tenure's three terms become one row with no ratio, and its p-value is the
    robust joint Wald test, equal to statsmodels' wald_test of the patsy cr() terms (the same
    hypothesis in another basis)."""
    df, m = fitted
    t = m.coefficients("churn", whole_curves=True).set_index("label")
    row = t.loc["Tenure (months): curve"]
    assert np.isnan(row["ratio"]) and row["ratio_kind"].startswith("curve (3 terms")
    assert not any("bend" in label or "linear term" in label for label in t.index)
    ref = smf.logit(f"churned ~ {rhs(df)}", df).fit(disp=0, cov_type="HC0")
    terms = [n for n in ref.params.index if n.startswith("cr(")]
    test = ref.wald_test(np.eye(len(ref.params))[[list(ref.params.index).index(n) for n in terms]], scalar=True)
    assert row["p_value"] == pytest.approx(float(test.pvalue), rel=1e-5)
    assert len(m.coefficients("churn")) == len(t) + 2  # the terms themselves without it


def test_customers_left_out_for_a_missing_covariate_are_compared_on_churn():
    """Respondents without tenure are left out of the models; the warning sets their churn against
    the modelled customers', with Newcombe's interval (statsmodels' own) on the difference. Made to
    churn more here, the difference is detected; 5 left out are too few to compare."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    df = make_customers(3000, 1, random_state=4)
    answered = np.flatnonzero(df["nps_score"].notna().to_numpy())
    gone = answered[:150]
    df.loc[df.index[gone], "tenure_months"] = np.nan
    df.loc[df.index[gone[:90]], "churned"] = 1.0  # 90 of 150 (at least) churned
    m = OutcomeModels().fit(df)
    left = df.iloc[gone]["churned"]
    kept = df.iloc[m.design_.rows]["churned"]
    k1, n1, k2, n2 = int(left.sum()), len(left), int(kept.sum()), len(kept)
    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    said = [w for w in m.warnings_ if "left out of the models" in w]
    assert len(said) == 1
    assert said[0].startswith("150 respondents lack a covariate and are left out of the models")
    assert (f"They churned at {100 * k1 / n1:.1f}%, against {100 * k2 / n2:.1f}% among the "
            f"customers modelled (difference +{100 * (k1 / n1 - k2 / n2):.1f} pp, likely range +{100 * lo:.1f} to "
            f"+{100 * hi:.1f}): the effects describe the customers with complete data") in said[0]
    few = make_customers(3000, 1, random_state=4)
    few.loc[few.index[answered[:5]], "tenure_months"] = np.nan
    said = [w for w in OutcomeModels().fit(few).warnings_ if "left out of the models" in w]
    assert len(said) == 1 and "churned at" not in said[0]


def test_spend_calibration_by_tenth_is_the_plain_groupby_and_finds_a_misfit():
    """Observed against predicted spend by tenth of predicted spend: the table equals a plain pandas
    groupby of the fit's own rows (ratio and a Bonferroni normal interval over ten bins). The
    sample, whose spend the model's form generates, misses no tenth. Spend multiplied by 2.5 for
    Pro customers of more than 36 months (an interaction the model does not have) is missed, and
    the sentence says by how much."""
    from cxanalysis import narrative

    df = make_customers(6000, 1, random_state=11)
    m = OutcomeModels().fit(df)
    cal = m.spend_calibration()
    fit = m.outcomes_["spend"]
    part = "amount" if "amount" in fit.parts else "main"
    r = fit.rows[part]
    mu = np.exp(m.design_.X[r] @ fit.parts[part].params)
    y = df["spend"].to_numpy(float)[m.design_.rows][r]
    g = pd.DataFrame({"mu": mu, "y": y}).groupby(pd.qcut(mu, 10, labels=False))
    ratio = g["y"].mean() / g["mu"].mean()
    half = stats.norm.ppf(1 - 0.05 / 20) * g["y"].std() / np.sqrt(g.size()) / g["mu"].mean()
    np.testing.assert_allclose(cal["ratio"], ratio.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cal["ci_high"] - cal["ratio"], half.to_numpy(), rtol=1e-12)
    assert not cal["missed"].any() and narrative.spend_check(m) is None
    bent = df.copy()
    bent.loc[(bent["plan"] == "Pro") & (bent["tenure_months"] > 36), "spend"] *= 2.5
    off = OutcomeModels().fit(bent)
    missed = off.spend_calibration()
    assert missed["missed"].sum() >= 1
    assert narrative.spend_check(off).startswith(f"The spend model misses observed spend in {int(missed['missed'].sum())} "
                                                 "of 10 tenths of predicted spend (")
