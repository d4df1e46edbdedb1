"""A segment's CRM figures over every customer in it, respondents or not (segments.profile with
``others``): checked against pandas and statsmodels on the raw CSV, and the bands non-respondents
are put in checked as a property."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from cxanalysis import narrative, segments
from cxanalysis.config import load_config
from cxanalysis.io import load
from cxanalysis.sample import RESPONSE_RATES, make_customers


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A sample export with non-respondents (a third answer), its raw rows and its loaded frames."""
    path = tmp_path_factory.mktemp("census") / "x.csv"
    make_customers(4000, 1, random_state=11, response_rates=RESPONSE_RATES).to_csv(path, index=False)
    cfg = load_config()
    loaded = load(path, cfg)
    return pd.read_csv(path), cfg, loaded


def _profile(export):
    raw, cfg, loaded = export
    seg, dims, _ = segments.add_segments(loaded.data, cfg, others=loaded.nonrespondents)
    others = segments.segment_others(loaded.nonrespondents, loaded.data, cfg)
    return raw, cfg, loaded, seg, dims, others, segments.profile(seg, dims, cfg, others=others)


def test_a_segments_churn_spend_and_clv_are_over_every_customer_in_it(export):
    """Plan (a category): each segment's customers, share, churn with Wilson's interval, its test
    against every other customer, spend, returns per order and CLV, from the raw CSV by pandas and
    statsmodels; the score and ``n`` stay the respondents'."""
    raw, cfg, loaded, seg, dims, others, table = _profile(export)
    assert len(others) == raw["nps_score"].isna().sum() > 0
    plan = table[table["dimension"] == "plan"].set_index("segment")
    for name, rows in raw.groupby("plan"):
        got, rest = plan.loc[name], raw[raw["plan"] != name]
        assert got["customers"] == len(rows) and got["share"] == pytest.approx(len(rows) / len(raw), rel=1e-12)
        assert got["n"] == rows["nps_score"].notna().sum()
        churned = rows["churned"].dropna()
        assert got["churn_rate"] == pytest.approx(churned.mean(), rel=1e-12)
        lo, hi = proportion_confint(churned.sum(), len(churned), alpha=0.05, method="wilson")
        assert (got["churn_rate_ci_low"], got["churn_rate_ci_high"]) == (pytest.approx(lo, rel=1e-9),
                                                                       pytest.approx(hi, rel=1e-9))
        assert got["churn_rest"] == pytest.approx(rest["churned"].mean(), rel=1e-12)
        _, p = proportions_ztest([churned.sum(), rest["churned"].sum()], [len(churned), rest["churned"].count()])
        assert got["churn_p_rest"] == pytest.approx(p, rel=1e-9)
        assert got["leavers_share"] == pytest.approx(churned.sum() / raw["churned"].sum(), rel=1e-12)
        assert got["spend"] == pytest.approx(rows["spend"].mean(), rel=1e-12)
        assert got["returns_rate"] == pytest.approx(rows["returns"].sum() / rows["orders"].sum(), rel=1e-12)
        clv = cfg.roi["gross_margin"] * rows["spend"].mean() / churned.mean()
        assert got["clv"] == pytest.approx(clv, rel=1e-12) and got["clv_ci_low"] < clv < got["clv_ci_high"]
    # the respondents' weighted figures differ: the census is not a relabelling
    weighted = segments.profile(seg, dims, cfg).set_index(["dimension", "segment"])
    both = table.set_index(["dimension", "segment"])
    assert not np.allclose(both["churn_rate"], weighted["churn_rate"], rtol=1e-6)
    assert np.allclose(both["nps"], weighted["nps"], rtol=1e-12) and (both["n"] == weighted["n"]).all()
    assert "customers" not in weighted


def test_every_customer_is_in_one_band_of_each_numeric_dimension(export):
    """Contract value's and visits' quartiles: cut on every customer, the same bands on both sides
    of the survey, so the customers of a dimension's segments add up to every customer with a
    value, and the customers in contract value's lowest k quartiles number, of the counts a cut
    between its distinct values allows, the nearest to k / 4 of them (brute force on the raw CSV);
    the labels span every customer's values."""
    raw, cfg, loaded, seg, dims, others, table = _profile(export)
    for dim in ("contract_value", "visits_per_month"):
        rows = table[table["dimension"] == dim]
        assert rows["customers"].sum() == raw[dim].notna().sum()
        assert list(rows["segment"]) == list(seg[f"{dim}_band"].cat.categories)
        assert list(others[f"{dim}_band"].cat.categories) == list(seg[f"{dim}_band"].cat.categories)
        # every customer with the same value is in the same band, whichever side of the survey
        both = pd.concat([seg[[dim, f"{dim}_band"]], others[[dim, f"{dim}_band"]]])
        assert (both.groupby(dim, observed=True)[f"{dim}_band"].nunique() == 1).all()
    values = raw["contract_value"].dropna().to_numpy()
    rows = table[table["dimension"] == "contract_value"]
    allowed = np.array([(values <= v).sum() for v in np.unique(values)])  # every cut between distinct values
    below = rows["customers"].cumsum().to_numpy()[:-1]
    for k, got in enumerate(below, start=1):
        target = k * len(values) / 4
        assert abs(got - target) == np.abs(allowed - target).min() < len(values) / 40
    assert rows["segment"].iloc[0].startswith(f"lowest quartile ({segments._n(values.min())}–")
    assert rows["segment"].iloc[-1].endswith(f"–{segments._n(values.max())})")
    assert set(others.attrs["census_bands"]) >= {"contract_value", "visits_per_month"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 40), min_size=8, max_size=60), st.lists(st.integers(-20, 80), min_size=1, max_size=30),
       st.sampled_from([2, 3, 4]), st.booleans())
def test_bands_are_cut_on_every_customer_as_near_equal_counts_as_ties_allow(resp, other, q, weighted):
    """Any respondents (weighted or not) and customers who did not answer: everyone is in a band,
    a value in one band only, and the customers in the lowest k bands number, of the counts a
    cut between distinct values allows, the nearest to k / q of them (brute force over every cut;
    the respondents' weights play no part: each customer counts one)."""
    cfg = load_config({"segments": {"dimensions": ["visits_per_month"], "quantile_bands": q}})
    respondents = pd.DataFrame({"visits_per_month": np.array(resp, float), "nps_score": 9.0})
    if weighted:
        respondents["weight"] = 1.0 + np.arange(len(resp)) % 3
    others_in = pd.DataFrame({"visits_per_month": np.array(other, float)})
    seg, dims, _ = segments.add_segments(respondents, cfg, others=others_in)
    out = segments.segment_others(others_in, respondents, cfg)
    values = np.array(resp + other, float)
    bands = pd.concat([seg["visits_per_month_band"].astype(str), out["visits_per_month_band"].astype(str)],
                      ignore_index=True)
    assert bands.notna().all() and (bands != "nan").all()
    assert pd.Series(bands.to_numpy()).groupby(values).nunique().max() == 1
    cats = list(seg["visits_per_month_band"].cat.categories)
    assert list(out["visits_per_month_band"].cat.categories) == cats
    if cats == ["all"]:
        return
    allowed = [int((values <= v).sum()) for v in np.unique(values)]  # every cut between distinct values
    below = 0
    for k, c in enumerate(cats[:-1], start=1):
        below += int((bands == c).sum())
        target = k * len(values) / q
        best = min(abs(a - target) for a in allowed)
        # a band is dropped when two edges meet (ties): its count is then the next edge's
        assert abs(below - target) == pytest.approx(best) or len(cats) < q


def test_a_segment_only_nonrespondents_are_in_has_no_row_but_is_in_every_rest():
    cfg = load_config({"segments": {"dimensions": ["plan"], "min_size": 1}})
    resp = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "quarter": "2026Q1", "nps_score": [10, 9, 3, 7],
                         "plan": ["Basic", "Basic", "Pro", "Pro"], "churned": [0, 1, 0, 0], "spend": [1.0, 2, 3, 4]})
    seg, dims, _ = segments.add_segments(resp, cfg)
    others = segments.segment_others(pd.DataFrame({"quarter": "2026Q1", "plan": ["Gold", "Gold", "Pro"],
                                                   "churned": [1, 1, 0], "spend": [10.0, 10, 5]}), resp, cfg)
    table = segments.profile(seg, dims, cfg, others=others).set_index("segment")
    assert list(table.index) == ["Basic", "Pro"]
    assert table.loc["Basic", "churn_rest"] == pytest.approx(2 / 5)  # Pro's three and Gold's two
    assert table.loc["Pro", "customers"] == 3 and table.loc["Pro", "share"] == pytest.approx(3 / 7)
    assert table.loc["Pro", "spend"] == pytest.approx(4.0)


def test_the_customers_a_dimension_leaves_out_are_counted_over_every_customer():
    """A dimension's "no value" group is every customer without one, respondents or not: its churn,
    Wilson interval and test against the others by statsmodels on the rows by hand."""
    rng = np.random.default_rng(3)
    n, m = 400, 900
    resp = pd.DataFrame({"quarter": "2026Q1", "nps_score": rng.integers(0, 11, n).astype(float),
                         "region": np.where(rng.random(n) < 0.2, None, rng.choice(["N", "S"], n)),
                         "churned": (rng.random(n) < 0.1).astype(float)})
    non = pd.DataFrame({"quarter": "2026Q1", "region": np.where(rng.random(m) < 0.3, None, rng.choice(["N", "S"], m)),
                        "churned": (rng.random(m) < 0.2).astype(float)})
    cfg = load_config({"segments": {"dimensions": ["region"]}})
    seg, dims, _ = segments.add_segments(resp, cfg)
    others = segments.segment_others(non, resp, cfg)
    got = segments.unsegmented(seg, dims, cfg, others=others).iloc[0]
    every = pd.concat([resp, non])
    out, rest = every[every["region"].isna()], every[every["region"].notna()]
    assert got["n"] == resp["region"].isna().sum() and got["customers"] == len(out)
    assert got["share"] == pytest.approx(len(out) / len(every)) and got["churn"] == pytest.approx(out["churned"].mean())
    lo, hi = proportion_confint(out["churned"].sum(), len(out), method="wilson")
    assert (got["churn_ci_low"], got["churn_ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    _, p = proportions_ztest([out["churned"].sum(), rest["churned"].sum()], [len(out), len(rest)])
    assert got["churn_p_rest"] == pytest.approx(p, rel=1e-9)
    assert got["leavers_share"] == pytest.approx(out["churned"].sum() / every["churned"].sum())
    text = narrative.unsegmented_summary(segments.unsegmented(seg, dims, cfg, others=others))
    assert f"{len(out):,} customers" in text and f"{got['n']:,} of them respondents" in text


def test_the_page_sentence_and_the_sizes_say_whose_figures_they_are(export):
    raw, cfg, loaded, seg, dims, others, table = _profile(export)
    assert segments.size_column(table) == ("customers", "Customers")
    assert f"of {len(raw):,} customers in the quarter" in narrative.segment_base_sentence(table)
    assert "customers" in segments.for_results(table)
    plain = segments.profile(seg, dims, cfg)
    assert segments.size_column(plain) == ("n", "Respondents") and narrative.segment_base_sentence(plain) == ""
    _, rows = narrative.segment_churn(table)
    assert "customers" in rows and "n" not in rows


def test_the_summary_counts_customers_for_segments_and_respondents_for_clusters():
    from cxanalysis.summary import churn_leaders_html

    seg = {"dimension": "plan", "segment": "Basic", "n": 40, "customers": 400, "churn_rate": 0.2, "churn_rest": 0.1,
           "churn_rate_ci_low": 0.16, "churn_rate_ci_high": 0.24, "churn_differs": True, "churn_p_holm": 0.001,
           "leavers_share": 0.5, "nps": 10.0, "ci_low": 0.0, "ci_high": 20.0}
    clus = {"name": "Light users", "n": 70, "churn_rate": 0.3, "churn_rest": 0.1, "churn_rate_ci_low": 0.2,
            "churn_rate_ci_high": 0.4, "churn_differs": True, "churn_p_holm": 0.001, "leavers_share": 0.3,
            "nps": 5.0, "nps_ci_low": -5.0, "nps_ci_high": 15.0, "stability": 0.9}
    alone = churn_leaders_html([seg], [], churn=0.12, weighted=True, census=True)
    assert ">Customers<" in alone and ">400<" in alone and "over every customer in it" in alone
    assert "respondents', weighted" not in alone
    mixed = churn_leaders_html([seg], [clus], churn=0.12, weighted=True, census=True)
    assert "Customers (clusters: respondents)" in mixed and ">70<" in mixed
    assert "A cluster's churn is its respondents', weighted" in mixed
    # an export every customer answered (e-commerce): its respondents are its customers
    plain = {k: v for k, v in seg.items() if k != "customers"}
    assert ">Respondents<" in churn_leaders_html([plain], [clus], churn=0.12)
    everyone = churn_leaders_html([plain], [clus], churn=0.12, all_answered=True)
    assert ">Customers<" in everyone and ">Respondents<" not in everyone and ">40<" in everyone


def test_the_sentence_names_the_bands_cut_on_every_customer_and_the_uneven_answers(export):
    """The lowest and highest response rates are named, and the numeric dimensions cut on every
    customer; configured edges (age) are not among them."""
    raw, cfg, loaded, seg, dims, others, table = _profile(export)
    text = narrative.segment_base_sentence(table, others)
    assert "age" not in others.attrs["census_bands"]
    assert "Contract value" in text.split("cut into bands of equal shares of every customer")[0]
    rate = (table["n"] / table["customers"])[table["customers"] >= 30]
    lo = table.loc[rate.idxmin()]
    assert f"from {rate.min():.0%} of {narrative.segment_name(lo['dimension'], lo['segment'])}" in text
    assert "cut into bands" not in narrative.segment_base_sentence(table, None)


def test_a_relabelled_column_names_clusters_by_its_label():
    from cxanalysis.clusters import _cluster_word
    from cxanalysis.fmt import use_labels

    member, everyone = np.array([1.0, 1, 1]), np.array([0.0, 1, 1, 0])
    assert _cluster_word("support_tickets", True, member, everyone) == "raised tickets"
    use_labels({"support_tickets": "Complained (0/1)"})
    # a 0/1 flag: yes or no for the whole cluster, else the share that is yes; never "> 0" or "high"
    assert _cluster_word("support_tickets", True, member, everyone) == "complained = yes"
    assert _cluster_word("support_tickets", False, np.zeros(3), everyone) == "complained = no"
    assert _cluster_word("support_tickets", True, np.array([0.0, 1, 1, np.nan]), everyone) == "complained: 67% yes"
    assert _cluster_word("support_tickets", False, np.r_[np.ones(1), np.zeros(999)], everyone) == "complained: 1% yes"
    # a relabelled count: zero or not zero, else high or low
    use_labels({"support_tickets": "Contacts (count)"})
    counts = np.array([0.0, 2, 3, 0])
    assert _cluster_word("support_tickets", True, np.array([2.0, 3]), counts) == "contacts > 0"
    assert _cluster_word("support_tickets", False, np.zeros(2), counts) == "contacts = 0"
    assert _cluster_word("support_tickets", True, np.array([0.0, 3]), counts) == "high contacts"
    # a yes/no column of the export's own, not relabelled
    use_labels({})
    assert _cluster_word("coupon_used", True, np.ones(4), everyone).endswith(" = yes")


from .messy import interval_contains, messy_exports  # noqa: E402


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_exports(), st.integers(0, 400), st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.5, 1.0]))
def test_a_census_profile_of_any_export_never_raises_and_adds_up(case, n_others, seed, blank):
    """Any messy export with any customers who did not answer (none, a category no respondent has,
    blanks in every column, values far beyond the respondents'): no crash; each dimension's
    customers add up to those with a value that some respondent shares; every churn interval holds
    its rate."""
    df, cfg, _ = case
    rng = np.random.default_rng(seed)
    others = pd.DataFrame({
        "quarter": "2026Q3", "plan": rng.choice(["Basic", "Plus", "Gold"], n_others).astype(object),
        "region": rng.choice(["North", "South"], n_others).astype(object),
        "spend": rng.gamma(2, 50, n_others), "churned": rng.binomial(1, 0.3, n_others).astype(float),
        "orders": rng.poisson(3, n_others).astype(float),
        "visits_per_month": rng.poisson(2, n_others).astype(float) * rng.choice([1, 100], n_others)})
    for col in ("plan", "spend", "churned", "visits_per_month"):
        others.loc[rng.random(n_others) < blank, col] = np.nan
    seg, dims, _ = segments.add_segments(df, cfg)
    extra = segments.segment_others(others, df, cfg)
    table = segments.profile(seg, dims, cfg, others=extra)
    segments.churn_holm_together(table, segments.unsegmented(seg, dims, cfg, others=extra), cfg.alpha)
    narrative.segment_base_sentence(table, extra)
    if table.empty or extra is None:
        return
    assert (table["customers"] >= table["n"]).all()
    assert interval_contains(table["churn_rate"], table["churn_rate_ci_low"], table["churn_rate_ci_high"])
    everyone = pd.concat([seg.assign(_r=1), extra.assign(_r=0)], ignore_index=True)
    for dim in table["dimension"].unique():
        col = f"{dim}_band" if f"{dim}_band" in seg else dim
        shown = table.loc[table["dimension"] == dim, "segment"]
        answered = everyone.loc[everyone["_r"] == 1, col].dropna().astype(str).unique()
        held = everyone[col].dropna().astype(str).isin(answered)
        assert table.loc[table["dimension"] == dim, "customers"].sum() == held.sum()
        assert set(shown) <= set(answered)


def test_the_at_risk_note_says_how_many_of_each_segments_customers_answered():
    """The share of a segment's customers who answered, by hand (7 of 70: 10%); rows without a count
    of customers (the respondents' own figures) add nothing; a name from the export is escaped."""
    from cxanalysis.summary import _answered_note

    rows = [{"dimension": "plan", "segment": "<b>Basic</b>", "n": 7, "customers": 70},
            {"dimension": "region", "segment": "North", "n": 30}]
    note = _answered_note(rows)
    assert "7 of its 70 customers (10%)" in note and "North" not in note
    assert "<b>" not in note and "&lt;b&gt;Basic&lt;/b&gt;" in note
    assert _answered_note(rows[1:]) == ""


def test_band_rules_cut_once_give_both_sides_the_same_bands_as_cutting_each_alone(export, monkeypatch):
    """Page 02 cuts the bands once (``band_rules``) and hands them to ``add_segments`` and
    ``segment_others``: the same segments, labels and census flags as each cutting its own, and
    the quantiles computed once per dimension, not twice."""
    _, cfg, loaded = export
    resp, non = loaded.data, loaded.nonrespondents
    alone = segments.add_segments(resp, cfg, others=non)[0], segments.segment_others(non, resp, cfg)
    calls = []
    real = segments._band_rule
    monkeypatch.setattr(segments, "_band_rule", lambda *a, **k: calls.append(1) or real(*a, **k))
    rules = segments.band_rules(resp, cfg, others=non)
    seg, dims, _ = segments.add_segments(resp, cfg, others=non, rules=rules)
    others = segments.segment_others(non, resp, cfg, rules=rules)
    numeric = [d for d in dims if d.endswith("_band")]
    assert numeric and len(calls) == len(rules) == len(numeric)
    quantiled = [d[:-5] for d in numeric if cfg.segments["bands"].get(d[:-5]) is None]
    assert quantiled and len(quantiled) < len(numeric)  # configured edges (age) are not a census cut
    assert others.attrs["census_bands"] == [d for d, r in rules.items() if r.census] == quantiled
    for d in numeric:
        pd.testing.assert_series_equal(seg[d], alone[0][d])
        pd.testing.assert_series_equal(others[d], alone[1][d])
    # without customers who did not answer, the bands are the respondents' weighted quantiles
    assert not any(r.census for r in segments.band_rules(resp, cfg).values())
