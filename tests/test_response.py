"""Respondents weighted to the whole base (non-respondents kept): loading, NPS, models, ROI, report."""

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cxanalysis import fmt, metrics, summary, weighting
from cxanalysis.config import ConfigError, load_config
from cxanalysis.glm import fit_firth, fit_glm
from cxanalysis.io import load
from cxanalysis.models import fit_outcome_models
from cxanalysis.roi import passive_to_promoter
from cxanalysis.sample import RESPONSE_RATES, make_customers

TRUTH_COLS = ["_topic", "_language", "_latent", "_nps_score", "_responded"]


def _base(n=12_000, quarters=1, seed=7, rates=RESPONSE_RATES):
    return make_customers(n, quarters, random_state=seed, include_truth=True, response_rates=rates)


def _load(frame, tmp_path, config=None):
    p = tmp_path / "base.csv"
    frame.drop(columns=[c for c in TRUTH_COLS if c in frame]).to_csv(p, index=False)
    return load(p, config)


def test_sample_base_answers_by_plan_and_keeps_every_other_column():
    """Pro customers answer 8x as often as Basic ones; the CRM columns are those of the sample
    without non-response (the response draw has its own random stream)."""
    base = _base(20_000)
    full = make_customers(20_000, 1, random_state=7, include_truth=True)
    rate = base.groupby("plan")["_responded"].mean()
    assert rate["Pro"] / rate["Basic"] == pytest.approx(8, rel=0.15)
    assert (base["nps_score"].isna() == ~base["_responded"]).all()
    np.testing.assert_array_equal(base["_nps_score"], full["nps_score"])
    for c in ("spend", "churned", "plan", "tenure_months", "_latent"):
        np.testing.assert_array_equal(base[c].to_numpy(), full[c].to_numpy())
    assert (base.loc[~base["_responded"], "comment"] == "").all()


def test_weighted_nps_covers_the_base_truth_and_respondents_are_visibly_biased(tmp_path):
    """The issue's test. The base's true NPS is computed from every customer's score (the
    generator's latent scores, answered or not). The NPS weighted to the base has a 95% interval that
    covers it; the respondents' own NPS is off by more than 5 points and its interval misses it;
    the summary says by how much weighting moves it."""
    base = _base(12_000)
    cfg = load_config()
    true_nps = 100 * (np.mean(base["_nps_score"] >= 9) - np.mean(base["_nps_score"] <= 6))
    loaded = _load(base, tmp_path, cfg)
    assert len(loaded.data) == int(base["_responded"].sum())
    assert len(loaded.nonrespondents) == int((~base["_responded"]).sum())
    assert not loaded.report.steps  # nothing dropped
    w = metrics.configured_nps(loaded.data, cfg).iloc[0]
    raw = metrics.configured_nps(loaded.data.drop(columns="weight"), cfg).iloc[0]
    assert w["ci_low"] <= true_nps <= w["ci_high"]
    assert abs(raw["nps"] - true_nps) > 5 and not raw["ci_low"] <= true_nps <= raw["ci_high"]
    # Kish's n_eff is behind the weighted interval
    assert w["n_eff"] == pytest.approx(weighting.kish_n_eff(loaded.data["weight"]), rel=1e-12)
    assert w["n_eff"] < 0.8 * len(loaded.data)
    resp = loaded.report.response[0]
    assert (resp["base"], resp["respondents"]) == (len(base), len(loaded.data))
    assert resp["weighting"] == "raking on plan, region, tenure (months) in 4 bands"
    sentence = summary.response_sentence({"response": resp, "nps": {"value": w["nps"], "unweighted": raw["nps"]}})
    assert fmt.shift(w["nps"] - raw["nps"]) in sentence
    assert fmt.shift(w["nps"] - raw["nps"]).startswith("lowers it by ")  # Pro answers more, and scores higher
    assert f"Respondents' own NPS was {raw['nps']:.1f}" in sentence
    assert "allows for sampling only: it assumes customers who did not answer would score like respondents in " \
           "the same weighting groups" in sentence  # the load's block has no margins; the report's names them
    assert f"NPS would be {10 * (1 - resp['rate']):.1f} points lower" in sentence
    text = weighting.response_summary(loaded.data, resp, cfg)
    assert fmt.shift(w["nps"] - raw["nps"]) in text and f"{len(base):,}" in text
    assert text.endswith(f"NPS would be {10 * (1 - resp['rate']):.1f} points lower.") and "The 95% CI allows for sampling only" in text


@pytest.mark.slow
def test_weighted_interval_coverage_on_generated_bases():
    """Coverage of the weighted NPS interval for the base's true NPS over 100 generated bases
    (response by plan, 8x). Kish's n_eff ignores the gain of raking (the plan effect on the score
    is matched away) and the finite base (30% of it answers), so the interval is conservative for
    the base's own NPS: coverage at least 0.92 (it was 1.0 in 60 bases when written)."""
    cfg = load_config()
    hits = []
    for rep in range(100):
        b = make_customers(2500, 1, random_state=1000 + rep, include_truth=True, response_rates=RESPONSE_RATES)
        true_nps = 100 * (np.mean(b["_nps_score"] >= 9) - np.mean(b["_nps_score"] <= 6))
        resp, non = b[b["_responded"]], b[~b["_responded"]]
        wts, _ = weighting.weight_to_base(resp, non, cfg)
        r = metrics.configured_nps(resp.assign(weight=wts), cfg).iloc[0]
        hits.append(r["ci_low"] <= true_nps <= r["ci_high"])
    assert 0.92 <= np.mean(hits) <= 1.0


def test_raking_on_one_covariate_is_post_stratification_per_quarter():
    """Independent computation: with ``by: [plan]`` each quarter's weight is N_plan / n_plan of that
    quarter, and the weighted NPS is the post-stratified sum_plan N_plan/N x NPS_plan."""
    b = _base(4000, quarters=2, seed=3)
    cfg = load_config({"weighting": {"by": ["plan"]}})
    resp, non = b[b["_responded"]], b[~b["_responded"]]
    wts, info = weighting.weight_to_base(resp, non, cfg)
    for q, part in resp.groupby("quarter"):
        everyone = b[b["quarter"] == q]
        expect = part["plan"].map(everyone["plan"].value_counts() / part["plan"].value_counts())
        np.testing.assert_allclose(wts[part.index], expect, rtol=1e-12)
        by_plan = metrics.nps(part, by="plan").set_index("plan")["nps"]
        share = everyone["plan"].value_counts(normalize=True)
        post = float((by_plan * share.reindex(by_plan.index)).sum())
        got = metrics.nps(part.assign(weight=wts[part.index]), weight="weight")["nps"].iloc[0]
        assert got == pytest.approx(post, rel=1e-10)
    assert [r["quarter"] for r in info] == sorted(b["quarter"].unique())
    assert all(r["weighting"] == "raking on plan" for r in info)


def test_compare_margins_against_hand_counts():
    b = _base(3000, seed=5)
    cfg = load_config({"weighting": {"by": ["plan"]}})
    resp, non = b[b["_responded"]].reset_index(drop=True), b[~b["_responded"]].reset_index(drop=True)
    wts, _ = weighting.weight_to_base(resp, non, cfg)
    m = weighting.compare_margins(resp.assign(weight=wts), non, cfg).set_index("level")
    np.testing.assert_allclose(m["base_share"], b["plan"].value_counts(normalize=True)[m.index], rtol=1e-12)
    np.testing.assert_allclose(m["respondents_share"], resp["plan"].value_counts(normalize=True)[m.index], rtol=1e-12)
    np.testing.assert_allclose(m["weighted_share"], m["base_share"], rtol=1e-9)  # raking matched the margin
    assert m.loc["Pro", "difference"] > 0.2  # Pro is over-represented among respondents


def test_no_nonrespondents_changes_nothing(tmp_path):
    full = make_customers(600, 1, random_state=2)
    loaded = _load(full, tmp_path)
    assert "weight" not in loaded.data and len(loaded.nonrespondents) == 0
    assert loaded.report.response[0]["weighting"] == weighting.NO_NONRESPONDENTS
    assert summary.response_sentence({"response": loaded.report.response[0], "nps": {"value": 1.0}}) is None


def test_weighting_none_and_own_weight_column_are_respected(tmp_path):
    b = _base(3000, seed=9)
    off = _load(b, tmp_path, load_config({"weighting": "none"}))
    assert "weight" not in off.data and off.report.response[0]["weighting"].startswith("none (turned off")
    own = b.assign(weight=2.0)
    kept = _load(own, tmp_path)
    assert (kept.data["weight"] == 2.0).all()
    assert kept.report.response[0]["weighting"] == "the export's own weight column"


@pytest.mark.parametrize("weighting_value, match", [
    ("rake", "'weighting' must be none, raking or a mapping"),
    ({"by": "plan"}, "'weighting.by' must be a list of column names"),
    ({"by": []}, "'weighting.by' must be a list of column names"),
    ({"method": "ipf"}, "'weighting.method' must be one of"),
    ({"bye": ["plan"]}, "Did you mean 'by'"),
])
def test_weighting_config_errors_name_the_key(weighting_value, match):
    with pytest.raises(ConfigError, match=match):
        load_config({"weighting": weighting_value})


def test_weighting_config_forms():
    assert load_config({"weighting": "none"}).weighting["method"] == "none"
    assert load_config({"weighting": None}).weighting["method"] == "none"
    assert load_config({"weighting": {"by": ["plan"]}}).weighting == {"method": "raking", "by": ["plan"]}
    assert weighting.weighting_columns(load_config()) == ["plan", "region", "tenure_months"]
    assert weighting.weighting_columns(load_config({"covariates": ["plan"]})) == ["plan"]


def _odd(kind: str) -> pd.DataFrame:
    b = make_customers(400, 1, random_state=11, response_rates={"Basic": 0.3, "Plus": 0.3, "Pro": 0.3},
                       include_truth=True)
    answered = b["_responded"].to_numpy().copy()
    if kind == "level_without_respondents":
        answered &= (b["plan"] != "Pro").to_numpy()
    elif kind == "everyone_answers":
        answered[:] = True
    elif kind == "one_respondent_per_level":
        answered[:] = False
        for p in ("Basic", "Plus", "Pro"):
            answered[np.flatnonzero(b["plan"] == p)[0]] = True
    elif kind == "one_respondent":
        answered[:] = False
        answered[0] = True
    for c in ("nps_score", "csat", "ces", "driver_delivery", "driver_support", "driver_product", "driver_price",
              "driver_website"):
        b[c] = b["_nps_score"].astype("Int64") if c == "nps_score" else b[c]
        b[c] = b[c].where(answered)
    return b


@pytest.mark.parametrize("kind", ["level_without_respondents", "everyone_answers", "one_respondent_per_level",
                                  "one_respondent"])
def test_odd_bases_end_in_a_result_or_a_named_note(kind, tmp_path):
    cfg = load_config({"min_quarter_respondents": 1})
    loaded = _load(_odd(kind), tmp_path, cfg)
    info = loaded.report.response[0]
    r = metrics.configured_nps(loaded.data, cfg).iloc[0]
    assert np.isfinite(r["nps"]) and r["ci_low"] <= r["nps"] <= r["ci_high"]
    if kind == "level_without_respondents":
        assert any("Pro" in n and "no respondent" in n for n in info["notes"])
        assert np.isfinite(loaded.data["weight"]).all() and (loaded.data["weight"] > 0).all()
    if kind == "everyone_answers":
        assert info["weighting"] == weighting.NO_NONRESPONDENTS and "weight" not in loaded.data
    if kind in ("one_respondent_per_level", "one_respondent"):
        assert info["respondents"] == len(loaded.data) and info["base"] == 400
        assert loaded.data["weight"].sum() == pytest.approx(400, rel=1e-6) or info["notes"]
    text = weighting.response_summary(loaded.data, info, cfg)
    assert isinstance(text, str) and text


# --- weighted GLMs ------------------------------------------------------------------------------


def _glm_data(family, seed=0, n=600):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    if family == "logit":
        y = (rng.random(n) < 0.3 + 0.2 * X[:, 2]).astype(float)
        fam = sm.families.Binomial()
    elif family == "gamma_log":
        y = rng.gamma(2, np.exp(1 + 0.3 * X[:, 1]) / 2)
        fam = sm.families.Gamma(sm.families.links.Log())
    else:
        y = rng.poisson(np.exp(0.2 + 0.3 * X[:, 1])).astype(float)
        fam = sm.families.Poisson()
    return X, y, fam, rng.integers(1, 5, n).astype(float)


@pytest.mark.parametrize("family", ["logit", "gamma_log", "poisson_log"])
def test_weighted_glm_equals_statsmodels_var_weights_and_replicated_rows(family):
    """Independent computations: statsmodels ``GLM(var_weights=a)`` (coefficients, HC0 sandwich,
    model-based covariance) and the unweighted fit on each row repeated ``a_i`` times
    (coefficients; information for the logistic and Poisson fits, which have no dispersion)."""
    X, y, fam, a = _glm_data(family)
    f = fit_glm(X, y, family, weights=a)
    r = sm.GLM(y, X, family=fam, var_weights=a).fit(cov_type="HC0", tol=1e-13)
    r_model = sm.GLM(y, X, family=fam, var_weights=a).fit(tol=1e-13)
    np.testing.assert_allclose(f.params, r.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f.cov, r.cov_params(), rtol=1e-7)
    np.testing.assert_allclose(f.cov_model, r_model.cov_params(), rtol=1e-7)
    rep = np.repeat(np.arange(len(y)), a.astype(int))
    g = fit_glm(X[rep], y[rep], family)
    np.testing.assert_allclose(f.params, g.params, rtol=1e-9, atol=1e-12)
    if family != "gamma_log":
        np.testing.assert_allclose(f.cov_model, g.cov_model, rtol=1e-9)


@pytest.mark.parametrize("family", ["logit", "poisson_log"])
def test_weighted_firth_equals_the_fit_on_replicated_rows(family):
    """Under separation, Firth's weighted penalised likelihood equals the unweighted one on the
    rows repeated (estimates and inverse information; for logistic regression also R's
    logistf(weights=) definition)."""
    rng = np.random.default_rng(4)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    if family == "logit":
        y = ((X[:, 2] == 1) | (rng.random(n) < 0.2)).astype(float)  # all events where x2 = 1
    else:
        y = rng.poisson(np.exp(0.1 + 0.3 * X[:, 1])).astype(float) * (X[:, 2] == 0)  # no counts where x2 = 1
    a = rng.integers(1, 4, n).astype(float)
    f = fit_firth(X, y, family, weights=a)
    rep = np.repeat(np.arange(n), a.astype(int))
    g = fit_firth(X[rep], y[rep], family)
    assert f.converged and np.all(np.isfinite(f.params))
    np.testing.assert_allclose(f.params, g.params, rtol=1e-8, atol=1e-10)
    if family == "logit":
        np.testing.assert_allclose(f.cov, g.cov, rtol=1e-8)


def test_outcome_models_use_the_weights_and_roi_counts_passives_in_the_base(tmp_path):
    """The churn model's coefficients equal statsmodels' GLM with the raking weights as
    var_weights on the models' own design; the effect averages over passives with those weights
    (checked by hand from the statsmodels fit); the ROI's passives are the weighted passive share
    times the base."""
    b = _base(8000, seed=13)
    cfg = load_config()
    loaded = _load(b, tmp_path, cfg)
    data = loaded.data
    m = fit_outcome_models(data, cfg)
    assert m.weights_ is not None
    fit = m.outcomes_["churn"]
    X = m.design_.X[fit.rows["main"]]
    y = data["churned"].to_numpy(float)[m.design_.rows][fit.rows["main"]]
    w = data["weight"].to_numpy(float)[m.design_.rows][fit.rows["main"]]
    ref = sm.GLM(y, X, family=sm.families.Binomial(), var_weights=w).fit(tol=1e-13)
    np.testing.assert_allclose(fit.parts["main"].params, ref.params, rtol=1e-6, atol=1e-9)
    # promoter-vs-passive churn effect: weighted mean over passives of p(promoter) - p(passive)
    pas = m.passives_
    Xp = m.design_.X[pas].copy()
    wp = data["weight"].to_numpy(float)[m.design_.rows][pas]
    cols = {n: i for i, n in enumerate(m.design_.names)}
    det = [n for n in cols if "detractor" in n][0]
    pro = [n for n in cols if "promoter" in n][0]
    Xp[:, cols[det]] = 0
    Xp[:, cols[pro]] = 1
    as_pro = np.average(ref.predict(Xp), weights=wp)
    Xp[:, cols[pro]] = 0
    as_pas = np.average(ref.predict(Xp), weights=wp)
    eff = m.effects().set_index(["outcome", "contrast"]).loc[("churn", "promoter_vs_passive"), "estimate"]
    assert eff == pytest.approx(100 * (as_pro - as_pas), rel=1e-6)
    # passives in the base: weighted passive share x base (every level has respondents: weights sum to it)
    share = wp.sum() / data["weight"].sum()
    assert data["weight"].sum() == pytest.approx(len(b), rel=1e-9)
    assert m.n_passives_ == round(share * len(b))
    res = passive_to_promoter(m, cfg, n_draws=50)
    assert res.n_passives == m.n_passives_ > 2 * len(pas)
    assert res.customers_moved == round(0.10 * m.n_passives_)


def test_report_writes_the_response_block_and_the_sentence(tmp_path):
    """results.json has ``response`` and ``nps.unweighted``; index.html says how much weighting
    moved the NPS (the data-quality page only, to keep the test short)."""
    from cxanalysis.report import notebook_paths, run_report

    b = _base(3000, quarters=2, seed=17)
    p = tmp_path / "base.csv"
    b.drop(columns=TRUTH_COLS).to_csv(p, index=False)
    pages = [nb for nb in notebook_paths() if nb.name.startswith(("01-", "03-"))]
    root = run_report(p, out=tmp_path / "reports", notebooks=pages, progress=lambda m: None, workers=1)
    res = json.loads((root / "results.json").read_text())
    cur = b[b["quarter"] == res["quarter"]]
    # page 03: the CRM rates and the churn trend over every customer, respondents or not
    churn = next(m for m in res["metrics"] if m["metric"] == "Churn rate")
    assert churn["value"] == pytest.approx(cur["churned"].mean(), rel=1e-12) and churn["n"] == len(cur)
    assert [t["churn_rate"] for t in res["trends"]] == pytest.approx(b.groupby("quarter")["churned"].mean().tolist(),
                                                                       rel=1e-12)
    r = res["response"]
    assert (r["base"], r["respondents"]) == (len(cur), int(cur["_responded"].sum()))
    assert r["rate"] == pytest.approx(cur["_responded"].mean(), rel=1e-12)
    assert r["weighting"].startswith("raking on plan, region")
    assert res["nps"]["unweighted"] != pytest.approx(res["nps"]["value"], abs=1.0)
    assert len(r["margins"]) >= 3
    page = (root / "index.html").read_text()
    moved = res["nps"]["value"] - res["nps"]["unweighted"]
    assert f"weighting to the base {fmt.shift(moved)}" in page


def test_compare_margins_orders_bands_and_keeps_text_levels_as_text():
    """Numeric covariates appear in band order; a text level that looks like a band (export text)
    is sorted as text, never parsed."""
    base = pd.DataFrame({"plan": ["[t](x)", "[1, 2)", "B"] * 40, "tenure_months": np.arange(120.0)})
    resp, non = base.iloc[::3], base.drop(base.index[::3])
    cfg = load_config({"weighting": {"by": ["plan", "tenure_months"]}})
    m = weighting.compare_margins(resp, non, cfg)
    bands = m.loc[m["covariate"] == "tenure_months", "level"].tolist()
    assert [float(b[1:].split(",")[0]) for b in bands] == sorted(float(b[1:].split(",")[0]) for b in bands)
    assert sorted(m.loc[m["covariate"] == "plan", "level"]) == ["B", "[1, 2)", "[t](x)"]


def test_default_weighting_columns_are_the_models_default_covariates():
    from cxanalysis.models import DEFAULT_COVARIATES

    assert weighting.DEFAULT_BY == DEFAULT_COVARIATES


def test_the_nonresponse_sensitivity_is_the_base_recounted_customer_by_customer():
    """The summary says what NPS would be had non-respondents' NPS been 10 points below that of
    respondents like them. Independent computation: two weighting cells, every customer of the
    base written out (non-respondents with NPS 10 points below their cell's respondents), the
    base's NPS counted directly; it equals the weighted NPS minus 10 x the non-respondents' share.
    Cell A: 100 customers, 20 answer (NPS +20: 8 promoters, 4 detractors), the other 80 NPS +10
    (16 and 8). Cell B: 50 customers, 20 answer (NPS -20: 4 and 8), the other 30 NPS -30 (3 and 12)."""
    def scores(promoters, detractors, n):
        return [10] * promoters + [0] * detractors + [8] * (n - promoters - detractors)

    resp = pd.DataFrame({"nps_score": scores(8, 4, 20) + scores(4, 8, 20), "weight": [5.0] * 20 + [2.5] * 20})
    weighted = metrics.nps(resp, score="nps_score", weight="weight").iloc[0]["nps"]
    everyone = np.array(scores(8, 4, 20) + scores(16, 8, 80) + scores(4, 8, 20) + scores(3, 12, 30))
    direct = 100 * ((everyone >= 9).mean() - (everyone <= 6).mean())
    rate = 40 / 150
    assert direct == pytest.approx(weighted - 10 * (1 - rate), abs=1e-9)
    text = summary.nonresponse_caveat({"rate": rate, "margins": [{"covariate": "plan"}, {"covariate": "plan"}]})
    assert text == ("The likely range allows for sampling only: it assumes customers who did not answer would score "
                    "like respondents with the same plan. Had their NPS been 10 points below those respondents', "
                    f"NPS would be {weighted - direct:.1f} points lower.")


def test_margins_of_a_base_that_all_answered_are_empty_and_numbers_stay_numbers(config):
    """Nobody left out: no table (the respondents are the base). A numeric covariate absent from
    the non-respondents' columns is still banded, not compared as text ("1.0", "10.0", ...)."""
    from cxanalysis.sample import make_customers

    resp = make_customers(600, 1, random_state=4)
    assert weighting.compare_margins(resp, resp.iloc[:0], config).empty
    non = resp.iloc[:50].drop(columns=["tenure_months"])
    m = weighting.compare_margins(resp.iloc[50:], non, config)
    tenure = m[m["covariate"] == "tenure_months"]["level"].tolist()
    bands = [t for t in tenure if t != "(missing)"]  # the non-respondents' tenure is unknown
    assert 1 < len(bands) <= 4 and all(t.startswith("[") for t in bands) and len(tenure) == len(bands) + 1
