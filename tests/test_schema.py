"""Readiness warnings: what will make an analysis skip or flag, found before the run (issue 12)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis.config import load_config
from cxanalysis.sample import make_customers
from cxanalysis.schema import readiness_warnings


@pytest.fixture
def data():
    """300 customers in each of 2026Q1 and 2026Q2: clean, large enough, no warning."""
    return make_customers(300, 2, start="2026Q1", random_state=5)


def warnings_for(data, quarter="2026Q2", **config):
    return readiness_warnings(data, load_config(config), quarter)


def _in_q2(data):
    return (data["quarter"] == "2026Q2").to_numpy()


def test_clean_data_has_no_warning(data):
    assert warnings_for(data) == []


def test_small_report_quarter_and_tiny_earlier_quarter(data):
    small = data[~_in_q2(data) | (np.arange(len(data)) % 2 == 0)]  # 150 in 2026Q2
    w = [x for x in warnings_for(small) if "quarter" in x.split(":")[0]]  # separation may follow
    assert w == ["Report quarter 2026Q2 has 150 respondents, under twice the minimum of 100: "
                 "intervals will be wide and small segments will not be tested."]
    tiny_early = data[_in_q2(data) | (np.arange(len(data)) < 20)]
    w = [x for x in warnings_for(tiny_early) if "quarter" in x.split(":")[0]]
    assert w == ["Earlier quarter 2026Q1 has only 20 respondents (minimum 100): "
                                        "its point in the trends will have a wide interval."]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [((10, 3), "No passives in 2026Q2 (nps_score between 6 and 9, exclusive): effects against "
               "passives and the passive-to-promoter ROI will be skipped."),
     ((8, 3), "No promoters in 2026Q2 (nps_score >= 9): promoter-vs-passive effects"),
     ((10, 8), "No detractors in 2026Q2 (nps_score <= 6): detractor-vs-passive effects will be skipped.")],
)
def test_absent_cx_category(data, scores, expected):
    q2 = _in_q2(data)
    data.loc[q2, "nps_score"] = np.where(np.arange(q2.sum()) % 2 == 0, *scores)
    assert any(w.startswith(expected) for w in warnings_for(data)), warnings_for(data)


def test_column_empty_in_the_report_quarter(data):
    data.loc[_in_q2(data), ["churned", "comment"]] = np.nan
    w = warnings_for(data)
    assert "'churned' is in the export but empty in 2026Q2: churn analyses will be skipped." in w
    assert "'comment' is in the export but empty in 2026Q2: comment themes will be skipped." in w


def test_constant_outcome_and_covariate(data):
    q2 = _in_q2(data)
    data["plan"] = data["plan"].astype(object)
    data.loc[q2, "plan"] = "Gold"
    data.loc[q2, "churned"] = 0
    w = warnings_for(data)
    assert ("'churned' has one value (0) for every respondent in 2026Q2: churn analyses will be "
            "skipped.") in w
    assert ("'plan' has one value (Gold) for every respondent in 2026Q2: it will not be adjusted "
            "for in the outcome models.") in w
    assert not any(x.startswith("Separation") for x in w)  # a constant outcome is not separation


def test_churn_separated_by_a_covariate_level(data):
    q2 = _in_q2(data)
    data.loc[q2 & (data["plan"] == "Pro").to_numpy(), "churned"] = 0
    n = int((q2 & (data["plan"] == "Pro").to_numpy()).sum())
    assert warnings_for(data) == [
        "Separation in 2026Q2: the churn model will fall back to Firth's correction and flag its "
        f"effects: e.g. all {n} customers with plan = Pro have churned = 0."]


def test_churn_separated_by_cx_category(data):
    q2 = _in_q2(data)
    promoters = q2 & (data["nps_score"] >= 9).to_numpy()
    data.loc[promoters, "churned"] = 0
    w = warnings_for(data)
    assert f"e.g. all {promoters.sum()} customers with CX category = promoter have churned = 0" in w[0]


def test_any_spend_separated_and_binary_covariate(data):
    """Zero spend everywhere but in one region; a 0/1 complaint flag where every complainer churned."""
    q2 = _in_q2(data)
    north = (data["region"] == "North").to_numpy()
    data.loc[q2 & ~north & (np.arange(len(data)) % 3 == 0), "spend"] = 0.0
    data.loc[q2 & north, "spend"] = data.loc[q2 & north, "spend"].clip(lower=1.0)
    data["complained"] = (np.arange(len(data)) % 10 == 0).astype(int)
    data.loc[data["complained"] == 1, "churned"] = 1
    w = warnings_for(data, covariates=["region", "complained"])
    spend = [x for x in w if "any-spend" in x]
    assert spend == [f"Separation in 2026Q2: the any-spend part of the spend model will fall back to "
                     f"Firth's correction and flag its effects: e.g. all {(q2 & north).sum()} customers "
                     "with region = North spent more than 0."]
    churn = [x for x in w if "churn model" in x]
    assert len(churn) == 1 and "customers with complained = 1 have churned = 1" in churn[0]


def test_returns_separated(data):
    q2 = _in_q2(data)
    basic = q2 & (data["plan"] == "Basic").to_numpy()
    data.loc[basic, "returns"] = 0
    with_orders = int((basic & (data["orders"] > 0).to_numpy()).sum())
    w = [x for x in warnings_for(data) if "returns model" in x]
    assert w == [f"Separation in 2026Q2: the returns model's effects will be flagged: e.g. all "
                 f"{with_orders} customers with plan = Basic returned nothing."]


def test_works_on_a_frame_with_only_the_required_columns():
    d = pd.DataFrame({"customer_id": list("abc"), "quarter": ["2026Q1"] * 3, "nps_score": [10, 7, 2]})
    assert warnings_for(d, "2026Q1") == [
        "Report quarter 2026Q1 has 3 respondents, under twice the minimum of 100: intervals will be "
        "wide and small segments will not be tested."]


def test_configured_covariate_absent(data):
    assert warnings_for(data, covariates=["plan", "segment"]) == [
        "Covariate 'segment' (from 'covariates' in cx.yaml) is not in the export: the outcome models "
        "will not adjust for it. Map it under 'columns' or remove it."]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    n_quarters=st.integers(1, 3),
    data=st.data(),
)
def test_readiness_never_raises_on_messy_tables(n, n_quarters, data):
    """Tiny groups, all-missing and constant columns, absent categories: always a list of sentences."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    quarter = [f"2026Q{1 + i % n_quarters}" for i in range(n)]
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "quarter": quarter,
                          "nps_score": rng.integers(0, 11, n).astype(float)})
    optional = {
        "churned": lambda: rng.integers(0, 2, n).astype(float),
        "spend": lambda: rng.choice([0.0, 10.0, 55.5], n),
        "orders": lambda: rng.integers(0, 3, n).astype(float),
        "plan": lambda: pd.Categorical(rng.choice(["Gold", "Basic"], n)),
        "region": lambda: rng.choice(["North", "São Paulo"], n).astype(object),
        "tenure_months": lambda: rng.integers(0, 60, n).astype(float),
        "comment": lambda: rng.choice(["late", "great"], n).astype(object),
    }
    for col, make in optional.items():
        kind = data.draw(st.sampled_from(["absent", "values", "missing", "constant", "holes"]))
        if kind == "absent":
            continue
        values = pd.Series(make())
        if kind == "missing":
            values[:] = np.nan
        elif kind == "constant":
            values[:] = values.iloc[0]
        elif kind == "holes":
            values = values.where(rng.random(n) > 0.5)
        frame[col] = values.to_numpy() if not isinstance(values.dtype, pd.CategoricalDtype) else values.array
    if "orders" in frame:
        frame["returns"] = np.minimum(frame["orders"], rng.integers(0, 2, n))
    frame.loc[rng.random(n) < 0.2, "nps_score"] = np.nan
    covs = data.draw(st.sampled_from([None, ["plan", "region"], ["tenure_months", "missing_col"]]))
    out = readiness_warnings(frame, load_config({"covariates": covs}), "2026Q1")
    assert isinstance(out, list) and all(isinstance(w, str) and w for w in out)


def test_column_summary_in_words_and_blanks_that_mean_not_applicable():
    """Counted by hand on four rows: kinds in words, the renewal column's blanks explained, a
    column with no blank gets no note, an unknown column is an extra."""
    from cxanalysis import schema

    frame = pd.DataFrame({"spend": [1.0, 2.0, 3.0, 4.0], "renewed": [1.0, None, None, 0.0],
                          "tenure_months": [1, 2, 3, 4], "favourite_colour": ["red", "blue", None, "red"],
                          "support_tickets": [0, 1, None, 1], "returns": [0, 1, 2, 0]})
    t = schema.column_summary(frame).set_index("column")
    assert t.loc["spend", "kind"] == "amount of money" and t.loc["spend", "note"] == ""
    assert t.loc["renewed", "kind"] == "yes/no" and t.loc["renewed", "missing_share"] == 0.5
    assert t.loc["renewed", "note"] == "blank for customers not up for renewal this quarter"
    assert t.loc["tenure_months", "kind"] == "number, 0 or more"
    assert t.loc["favourite_colour", "kind"] == "extra (not analysed unless cx.yaml names it)"
    assert t.loc["favourite_colour", "note"] == ""
    # a count holding only 0 and 1 (a complaint flag in the tickets column) says so; a real count does not
    assert t.loc["support_tickets", "kind"] == "count (only 0 and 1 here: a yes/no flag)"
    assert t.loc["returns", "kind"] == "count"
    # the report's own raking weight is said to be computed, an export's own weight is not
    w = pd.DataFrame({"weight": [1.2, 3.4]})
    assert schema.column_summary(w, raked=True).loc[0, "kind"].startswith("survey weight (computed by this report")
    assert schema.column_summary(w).loc[0, "kind"] == "survey weight"
    assert (t.loc["renewed", "non_missing"], t.loc["favourite_colour", "unique"]) == (2, 2)


# --- one category spelt several ways ---------------------------------------------------------

from cxanalysis.schema import similar_values, spelling_warnings  # noqa: E402

from .conftest import real_export  # noqa: E402


def test_similar_values_finds_case_initials_and_contained_words():
    values = ["Debit Card", "Credit Card", "credit-card ", "CC", "COD", "Cash on Delivery", "Phone", "Mobile Phone",
              "UPI", "E wallet", "Bank & Loan", "bank and loan"]
    assert similar_values(values) == [
        ("Credit Card", "credit-card ", "the same words in another case, spacing or punctuation"),
        ("CC", "Credit Card", "the initials of the other"),
        ("CC", "credit-card ", "the initials of the other"),
        ("COD", "Cash on Delivery", "the initials of the other"),
        ("Phone", "Mobile Phone", "its words are all in the other"),
        ("Bank & Loan", "bank and loan", "the same words in another case, spacing or punctuation"),
    ]
    # distinct categories, numbers and small words alone are not paired
    assert similar_values(["Offer A", "Offer B", "Month-to-Month", "One Year", "Two Year", "18-24", "24",
                           "Other", "Attitude of support person", "Attitude of service provider", "of", "of course"]) == []
    assert similar_values(["Yes", None, float("nan"), "No"]) == []


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_WORD, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=6, unique=True),
       st.integers(0, 5), st.sampled_from([str.upper, str.title, lambda t: t.replace(" ", "-") + " ", str.lower]))
def test_a_value_respelt_is_always_paired_with_its_original_and_order_does_not_matter(values, i, respell):
    original = values[i % len(values)]
    other = respell(original)
    if other == original:
        other = original + "."
    found = similar_values([*values, other])
    assert (original, other, "the same words in another case, spacing or punctuation") in found or (
        other, original, "the same words in another case, spacing or punctuation") in found
    # a pair found does not depend on the order the values come in
    assert {frozenset(p[:2]) for p in found} == {frozenset(p[:2]) for p in similar_values([other, *values[::-1]])}


def test_spelling_warnings_on_the_real_exports_name_the_split_columns_only():
    from cxanalysis.io import load

    found = {}
    for name in ("ecommerce", "telco"):
        data, cfg = real_export(name)
        found[name] = spelling_warnings(load(data, config=load_config(cfg)).data)
    assert found["telco"] == []  # 20 churn reasons, 5 offers, 3 contracts: none alike; cities not checked
    ecom = found["ecommerce"]
    assert [w.split(" may spell")[0] for w in ecom] == ["'PreferredLoginDevice'", "'PreferredPaymentMode'",
                                                         "'PreferedOrderCat'"]
    assert ("'CC' and 'Credit Card' (the initials of the other); 'COD' and 'Cash on Delivery' (the initials of the "
            "other). Each spelling counts as a category of its own wherever the column is used") in ecom[1]


def test_readiness_names_a_split_category_and_free_text_is_not_checked():
    d = make_customers(400, 1, random_state=3)
    q = str(d["quarter"].iloc[0])
    d["plan"] = d["plan"].astype(str)
    d.loc[d.index[:5], "plan"] = d.loc[d.index[:5], "plan"].str.upper() + " "
    d["note"] = [f"free text number {i}" for i in range(len(d))]  # 400 values: not a category
    out = [w for w in readiness_warnings(d, load_config({}), q) if "spell" in w]
    assert len(out) == 1 and out[0].startswith("'plan' may spell one category several ways: ")
