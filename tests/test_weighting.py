import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis import metrics
from cxanalysis.weighting import kish_n_eff, rake


def _base(rng, n=20_000):
    plan = rng.choice(["Basic", "Plus", "Pro"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["N", "S", "E", "W"], n, p=[0.4, 0.3, 0.2, 0.1])
    tenure = rng.gamma(2.0, 18.0, n)
    # NPS rises with plan; Pro customers answer eight times as often as Basic ones
    p_pro = {"Basic": 0.25, "Plus": 0.40, "Pro": 0.60}
    p_det = {"Basic": 0.35, "Plus": 0.20, "Pro": 0.10}
    u = rng.random(n)
    pro, det = np.array([p_pro[p] for p in plan]), np.array([p_det[p] for p in plan])
    score = np.where(u < det, 4, np.where(u < det + (1 - det - pro), 8, 10))
    answers = rng.random(n) < np.array([{"Basic": 0.05, "Plus": 0.15, "Pro": 0.40}[p] for p in plan])
    return pd.DataFrame({"plan": plan, "region": region, "tenure_months": tenure, "nps_score": score,
                         "answered": answers})


def test_one_covariate_is_post_stratification():
    """With one covariate, each respondent's weight is N_level / n_level (by hand)."""
    rng = np.random.default_rng(0)
    base = _base(rng, 3000)
    resp = base[base["answered"]]
    r = rake(resp, base, ["plan"])
    expect = resp["plan"].map(base["plan"].value_counts() / resp["plan"].value_counts())
    np.testing.assert_allclose(r.weights.to_numpy(), expect.to_numpy(), rtol=1e-12)
    assert r.converged and r.weights.sum() == pytest.approx(len(base))


def test_two_covariates_match_the_poisson_loglinear_fit():
    """Independent computation: raking to two margins equals the fitted cell counts of a Poisson
    GLM of the base's cell counts on row and column effects with offset log(respondent counts)
    (its score equations are exactly the two margin constraints). Weight = fitted / n_cell."""
    rng = np.random.default_rng(1)
    base = _base(rng, 8000)
    resp = base[base["answered"]]
    r = rake(resp, base, ["plan", "region"])
    cells = (base.groupby(["plan", "region"]).size().rename("N").to_frame()
             .join(resp.groupby(["plan", "region"]).size().rename("n")).reset_index())
    assert (cells["n"] > 0).all()
    X = pd.get_dummies(cells[["plan", "region"]], drop_first=True, dtype=float)
    fit = sm.GLM(cells["N"], sm.add_constant(X), family=sm.families.Poisson(), offset=np.log(cells["n"])).fit(tol=1e-14)
    cells["w"] = fit.fittedvalues / cells["n"]
    expect = resp.merge(cells, on=["plan", "region"], how="left")["w"].to_numpy()
    np.testing.assert_allclose(r.weights.to_numpy(), expect, rtol=1e-7)
    for c in ("plan", "region"):
        got = r.weights.groupby(resp[c]).sum()
        np.testing.assert_allclose(got.to_numpy(), base[c].value_counts().reindex(got.index).to_numpy(), rtol=1e-9)


def test_numeric_covariates_are_banded_on_the_base_and_missing_is_a_level():
    rng = np.random.default_rng(2)
    base = _base(rng, 4000)
    base.loc[base.sample(frac=0.1, random_state=1).index, "region"] = None
    resp = base[base["answered"]]
    r = rake(resp, base, ["tenure_months", "region"], quantile_bands=4)
    assert r.converged
    m = r.margins
    np.testing.assert_allclose(m["weighted"], m["base"], rtol=1e-9)
    assert "(missing)" in set(m["level"]) and (m["covariate"] == "tenure_months").sum() == 4


def test_unrepresented_levels_and_unusable_columns_are_noted():
    base = pd.DataFrame({"plan": ["A"] * 5 + ["B"] * 5 + ["C"] * 2, "k": 1})
    resp = base.iloc[[0, 1, 5]]
    r = rake(resp, base, ["plan", "k", "absent"])
    assert any("C" in n and "no respondent" in n for n in r.notes)
    assert any("'k'" in n for n in r.notes) and any("'absent'" in n for n in r.notes)
    assert r.weights.tolist() == [2.5, 2.5, 5.0]


def test_kish():
    assert kish_n_eff(np.ones(10)) == pytest.approx(10)
    assert kish_n_eff(np.array([1.0, 3.0])) == pytest.approx(16 / 10)


@pytest.mark.slow
def test_raked_nps_covers_the_base_truth_where_respondents_are_biased():
    """Pro customers answer eight times as often as Basic ones. Over 200 bases the raked NPS's
    95% interval (Kish n_eff) covers the *base's* NPS at least 93% of the time; the respondents'
    unweighted NPS is biased upwards by several points and its interval rarely covers it.

    The interval is somewhat conservative here (98.5% measured): Kish's n_eff ignores the
    variance that post-stratifying on plan removes, and the truth is the finite base itself
    (respondents are ~14% of it, no finite-population correction is applied)."""
    rng = np.random.default_rng(5)
    cover_w = cover_u = 0
    bias = []
    reps = 200
    for _ in range(reps):
        base = _base(rng, 20_000)
        truth = metrics.nps(base).iloc[0]["nps"]
        resp = base[base["answered"]].copy()
        resp["weight"] = rake(resp, base, ["plan", "region"]).weights
        w = metrics.nps(resp, weight="weight").iloc[0]
        u = metrics.nps(resp).iloc[0]
        cover_w += w["ci_low"] <= truth <= w["ci_high"]
        cover_u += u["ci_low"] <= truth <= u["ci_high"]
        bias.append(u["nps"] - truth)
    assert 0.93 <= cover_w / reps <= 0.995, cover_w / reps
    assert np.mean(bias) > 5 and cover_u / reps < 0.2


# ------------------------------------------------------------ raking groups (the engines' route)

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 400), with_missing=st.booleans())
def test_raking_counted_groups_equals_raking_their_rows(seed, n, with_missing):
    """Groups of customers alike on the covariates, with their counts (what an engine's GROUP BY
    returns), get the weights of their rows repeated: the same band edges (quantiles of the
    repeated base), the same margins, n_eff and design effect; and ``scale`` times the levels'
    ``factors`` rebuilds each weight (how the engine applies it in SQL)."""
    from cxanalysis.weighting import MISSING, _levels

    rng = np.random.default_rng(seed)
    base = pd.DataFrame({"plan": rng.choice(["A", "B", "C"], n),
                         "region": rng.choice(["N", "S", None] if with_missing else ["N", "S"], n),
                         "tenure_months": rng.integers(0, 40, n).astype(float)})
    resp = base[rng.random(n) < np.where(base["plan"] == "A", 0.7, 0.3)]
    if len(resp) < 2:
        return
    by = ["plan", "region", "tenure_months"]
    rows = rake(resp, base, by)
    key = resp.assign(_n=1).groupby(by, dropna=False)["_n"].sum().reset_index()
    bkey = base.assign(_n=1).groupby(by, dropna=False)["_n"].sum().reset_index()
    groups = rake(key, bkey, by, counts=key["_n"], base_counts=bkey["_n"])
    per_row = resp.merge(key.assign(w=groups.weights.to_numpy() / key["_n"]), on=by, how="left")["w"]
    np.testing.assert_allclose(per_row.to_numpy(), rows.weights.to_numpy(), rtol=1e-10)
    assert groups.n_eff == pytest.approx(rows.n_eff, rel=1e-10)
    assert groups.design_effect == pytest.approx(rows.design_effect, rel=1e-10)
    assert groups.cuts == rows.cuts and groups.n_iter == rows.n_iter
    cols = ["covariate", "level", "base", "respondents", "weighted"]
    a, b = (r.margins[cols].sort_values(cols[:2], ignore_index=True) for r in (rows, groups))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)
    rebuilt = np.full(len(resp), rows.scale)
    for c, factor in rows.factors.items():
        levels, _ = _levels(resp[c], base[c], None, 4)
        rebuilt *= levels.astype(str).map(lambda lv, f=factor: f.get(lv, f.get(MISSING))).to_numpy(float)
    np.testing.assert_allclose(rebuilt, rows.weights.to_numpy(), rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-5, 30).map(float), st.just(float("nan"))), min_size=1, max_size=40),
       data=st.data())
def test_quantiles_of_counted_values_are_numpys_of_the_repeated_values(values, data):
    from cxanalysis.weighting import _nanquantile_counts

    v = np.array(values)
    counts = np.array(data.draw(st.lists(st.integers(1, 6), min_size=len(v), max_size=len(v))))
    probs = np.linspace(0, 1, 5)
    got = _nanquantile_counts(v, counts, probs)
    if np.isnan(v).all():
        assert np.isnan(got).all()
    else:
        assert np.array_equal(got, np.nanquantile(np.repeat(v, counts), probs))


def test_band_labels_in_words_keep_their_edges():
    """The page shows raking bands in words; the edges are those of the label, whatever their size."""
    from cxanalysis.weighting import band_words, readable_margins

    assert band_words("[-inf, 5.0)") == "under 5"
    assert band_words("[5.0, 13.0)") == "5 to under 13"
    assert band_words("[27.0, inf)") == "27 or more"
    assert band_words("[1500.25, 20000.0)") == "1,500.25 to under 20,000"
    assert band_words("Basic") == "Basic" and band_words("(missing)") == "(missing)"
    m = pd.DataFrame({"covariate": ["tenure_months", "plan"], "level": ["[-inf, 5.0)", "Pro"],
                      "base_share": [0.2, 0.5]})
    out = readable_margins(m)
    assert out["level"].tolist() == ["under 5", "Pro"] and out["base_share"].tolist() == [0.2, 0.5]
    assert m["level"].tolist() == ["[-inf, 5.0)", "Pro"]  # the caller's table is left as it was
