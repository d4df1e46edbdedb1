"""Rows that pass every rule but look wrong together: copies under new ids, orders without spend
(page 01, ``data_quality.suspect``). Checked against a brute-force comparison of every pair of rows,
a hand-built export, and the real e-commerce export's 556 copied pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cxanalysis.schema import (
    NEAR_DUPLICATE_MIN_DISTINCT,
    near_duplicates,
    orders_without_spend,
    suspect_rows,
)

from .conftest import real_export


def _export(n=300, seed=0):
    """``n`` distinct customers with one fine-grained money column and a few coarse ones."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": np.arange(1, n + 1), "quarter": "2026Q3",
                         "spend": np.round(rng.gamma(2, 50, n), 2), "plan": rng.choice(["Basic", "Pro"], n),
                         "orders": rng.integers(0, 5, n), "nps_score": rng.integers(0, 11, n).astype(float)})


def test_a_block_copied_under_new_ids_is_found_with_its_offset():
    d = _export()
    copies = d.iloc[[4, 9, 19, 29]].assign(customer_id=lambda x: x["customer_id"] + 1000)
    copies.iloc[3, copies.columns.get_loc("customer_id")] = 7777  # one pair with another gap
    found = near_duplicates(pd.concat([d, copies], ignore_index=True))
    assert (found["rows"], found["groups"], found["pairs"], found["of"]) == (8, 4, True, 304)
    assert (found["ids_apart"], found["groups_apart"]) == (1000, 3)
    assert found["example_ids"] == ["5 and 1005", "10 and 1010", "20 and 1020"]  # the common gap first
    assert found["columns"] == 4  # every column but the id and the quarter
    assert found["note"].startswith("4 pairs of rows (8 rows, 2.6% of the 304) are identical in all 4 columns besides "
                                    "the customer id and the quarter (e.g. ids 5 and 1005; 10 and 1010; 20 and 1020).")
    assert "In 3 of the 4 pairs the ids are exactly 1,000 apart" in found["note"]
    assert "4 customers are counted twice" in found["note"]


def test_rows_differing_in_any_column_or_without_a_fine_value_are_not_flagged():
    d = _export()
    other = d.iloc[[3]].assign(customer_id=999, plan="Enterprise")  # same spend, another plan
    assert near_duplicates(pd.concat([d, other], ignore_index=True)) is None
    blank = d.copy()
    blank.loc[:9, "spend"] = np.nan  # ten rows alike in their coarse columns are not evidence
    blank.loc[:9, ["plan", "orders", "nps_score"]] = ["Basic", 1, 7.0]
    assert near_duplicates(blank) is None
    coarse = d.drop(columns="spend")  # no column fine enough: different customers match by chance
    assert coarse.duplicated([c for c in coarse if c != "customer_id"]).any()
    assert near_duplicates(coarse) is None


def test_three_copies_form_one_group_and_text_ids_have_no_offset():
    d = _export().assign(customer_id=lambda x: "C" + x["customer_id"].astype(str))
    copies = pd.concat([d.iloc[[0]].assign(customer_id="X1"), d.iloc[[0]].assign(customer_id="X2")])
    found = near_duplicates(pd.concat([d, copies], ignore_index=True))
    assert (found["rows"], found["groups"], found["pairs"], found["ids_apart"]) == (3, 1, False, None)
    assert found["note"].startswith("3 rows (1.0% of the 302), in 1 groups, are identical")
    assert "2 customers are counted twice" in found["note"]


def _brute_force(frame: pd.DataFrame) -> int:
    """Rows with a twin on every column but the id and a value in a fine column, pair by pair."""
    cols = [c for c in frame if c != "customer_id"]
    fine = [c for c in cols if frame[c].nunique() >= NEAR_DUPLICATE_MIN_DISTINCT]
    rows = frame[cols].astype(object).where(frame[cols].notna(), "<NA>").to_numpy().tolist()
    hit = set()
    for i, j in itertools.combinations(range(len(rows)), 2):
        if rows[i] == rows[j] and any(pd.notna(frame[c].iat[i]) for c in fine):
            hit |= {i, j}
    return len(hit)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6), st.floats(0, 0.3))
def test_the_count_equals_a_pairwise_comparison(seed, n_copies, share_blank):
    """Any export, copies or not, blanks in the fine column or not: the count is the brute force's,
    and injected copies are always found."""
    rng = np.random.default_rng(seed)
    d = _export(250, seed)
    d.loc[rng.random(len(d)) < share_blank, "spend"] = np.nan
    d["spend"] = d["spend"].where(rng.random(len(d)) > 0.2, np.round(d["spend"], -2))  # some spends collide
    picks = rng.integers(0, len(d), n_copies)
    both = pd.concat([d, d.iloc[picks].assign(customer_id=lambda x: x["customer_id"] + 10_000)], ignore_index=True)
    found = near_duplicates(both)
    expected = _brute_force(both)
    if NEAR_DUPLICATE_MIN_DISTINCT > both["spend"].nunique():
        assert found is None
        return
    assert (found["rows"] if found else 0) == expected
    if both["spend"].iloc[len(d):].notna().any():  # a copy with a spend is always found
        assert found is not None and found["rows"] >= 2


def test_orders_without_spend():
    d = _export().assign(mrr=50.0)
    d.loc[[2, 5, 8], ["orders", "spend", "mrr"]] = [[3, 0.0, 0.0], [1, 0.0, 0.0], [7, 0.0, 0.0]]
    d.loc[[11], ["orders", "spend"]] = [0, 0.0]  # no orders, no spend: fine
    found = orders_without_spend(d)
    assert (found["rows"], found["orders_min"], found["orders_max"], found["mrr_zero"]) == (3, 1, 7, True)
    assert found["example_ids"] == ["3", "6", "9"]
    assert found["note"].startswith("3 customers (1.0% of the 300) placed 1 to 7 orders in the quarter but spent 0 "
                                    "(MRR 0 too; e.g. ids 3, 6, 9).")
    without = d["spend"].drop(index=[2, 5, 8]).mean()
    assert (found["spend_mean"], found["spend_mean_without"]) == (pytest.approx(d["spend"].mean()), pytest.approx(without))
    assert f"would be {without:,.0f} instead of {d['spend'].mean():,.0f} (+1.0%)" in found["note"]
    d.loc[5, "mrr"] = 20.0
    assert orders_without_spend(d)["mrr_zero"] is False
    assert orders_without_spend(d.drop(columns="spend")) is None
    assert orders_without_spend(d.assign(spend=1.0)) is None


def test_the_real_ecommerce_export_has_556_copied_pairs():
    """Independently: pandas' own duplicated over the raw CSV's columns but CustomerID."""
    from cxanalysis.config import load_config
    from cxanalysis.io import load

    data, cfg = real_export("ecommerce")
    raw = pd.read_csv(data)
    twin = raw.duplicated([c for c in raw if c != "CustomerID"], keep=False)
    found = suspect_rows(load(data, load_config(cfg)).data)
    assert [f["rule"] for f in found] == ["rows that match another row on every column but the customer id"]
    assert found[0]["rows"] == int(twin.sum()) == 1112 and found[0]["groups"] == 556
    ids = raw.loc[twin].groupby([c for c in raw if c != "CustomerID"], dropna=False)["CustomerID"].agg(
        lambda x: x.max() - x.min())
    assert found[0]["ids_apart"] == ids.mode().iat[0] == 1470 and found[0]["groups_apart"] == (ids == 1470).sum()


@pytest.mark.parametrize("name", ["telco"])
def test_the_telco_export_has_nothing_suspect(name):
    from cxanalysis.config import load_config
    from cxanalysis.io import load

    data, cfg = real_export(name)
    assert suspect_rows(load(data, load_config(cfg)).data) == []


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.booleans(), st.booleans())
def test_nullable_dtypes_and_text_ids_give_the_same_answer(seed, nullable, text_ids, blanks):
    """Exports read with pandas' nullable dtypes (Int64, Float64, pd.NA), text ids, blanks in orders
    and spend: the checks never fail and count what they count on plain floats."""
    rng = np.random.default_rng(seed)
    d = _export(200, seed)
    d.loc[rng.random(len(d)) < 0.1, "spend"] = 0.0
    if blanks:
        d.loc[rng.random(len(d)) < 0.1, ["orders", "spend"]] = np.nan
    d = pd.concat([d, d.iloc[rng.integers(0, len(d), 3)].assign(customer_id=lambda x: x["customer_id"] + 500)],
                  ignore_index=True)
    plain = suspect_rows(d)
    other = d.copy()
    if nullable:
        other = other.astype({"orders": "Float64"}).astype({"orders": "Int64", "spend": "Float64"})
        other.loc[other["spend"].isna(), "spend"] = pd.NA
    if text_ids:
        other["customer_id"] = "C" + other["customer_id"].astype(str)
        plain = suspect_rows(d.assign(customer_id="C" + d["customer_id"].astype(str)))
    got = suspect_rows(other)
    assert [(f["rule"], f["rows"]) for f in got] == [(f["rule"], f["rows"]) for f in plain]


# --- cleaning.near_duplicates: drop ---------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6), st.integers(1, 3))
@example(536, 0, 1)  # the generator's own rows hold a chance match: its later id is the copy
def test_dropping_copies_keeps_the_first_id_of_each_group_and_leaves_none(seed, n_copies, times):
    """Any export with ``times`` copies of some rows under new ids: the copies marked are every
    row of a group but the lowest id's (checked by the brute force), and without them nothing is
    flagged."""
    from cxanalysis.schema import near_duplicate_copies

    rng = np.random.default_rng(seed)
    d = _export(250, seed)
    picks = rng.choice(len(d), n_copies, replace=False)
    both = pd.concat([d] + [d.iloc[picks].assign(customer_id=lambda x, k=k: x["customer_id"] + 10_000 * k)
                            for k in range(1, times + 1)], ignore_index=True).sample(frac=1, random_state=seed)
    copies = near_duplicate_copies(both)
    if NEAR_DUPLICATE_MIN_DISTINCT > both["spend"].nunique():
        assert not copies.any()
        return
    flagged = _brute_force(both)
    found = near_duplicates(both)
    assert copies.sum() == flagged - (found["groups"] if found else 0)
    assert near_duplicates(both.loc[~copies]) is None
    # each row marked has a kept twin (equal but for the id) with a lower id: the first id of each
    # group stays, whether the group is a planted copy or a chance match the generator drew
    rest = [c for c in both.columns if c != "customer_id"]
    kept = both.loc[~copies]
    for _, row in both.loc[copies].iterrows():
        same = (kept[rest] == row[rest]) | (kept[rest].isna() & row[rest].isna().to_numpy())
        twins = kept[same.all(axis=1)]
        assert len(twins) and (twins["customer_id"] < row["customer_id"]).all()
    assert set(both.loc[copies, "customer_id"]).isdisjoint(kept["customer_id"])


def test_the_real_ecommerce_export_loads_without_its_556_copies(tmp_path):
    """cleaning.near_duplicates: drop on the real export: the 556 later ids dropped and counted,
    the rows left pandas' own drop_duplicates of the raw CSV over every column but CustomerID (the
    first id kept), the input file untouched; by default they stay and are flagged."""
    import hashlib

    import yaml

    from cxanalysis.config import load_config
    from cxanalysis.io import NEAR_DUPLICATE_DROP, load

    data, cfg_path = real_export("ecommerce")
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    user = yaml.safe_load(cfg_path.read_text())
    user["cleaning"] = {"near_duplicates": "drop"}
    loaded = load(data, load_config(user))
    raw = pd.read_csv(data).sort_values("CustomerID")
    expected = raw.drop_duplicates([c for c in raw if c != "CustomerID"], keep="first")
    assert sorted(loaded.base["customer_id"].astype(int)) == sorted(expected["CustomerID"]) and len(expected) == 5074
    drop = [d for d in loaded.report.steps if d["rule"] == NEAR_DUPLICATE_DROP]
    assert drop and drop[0]["rows_dropped"] == 556 and loaded.report.rows_out == 5074
    assert set(drop[0]["example_ids"]) <= set(raw.loc[~raw.index.isin(expected.index), "CustomerID"].astype(str))
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    assert suspect_rows(loaded.data) == []
    kept = load(data, load_config(cfg_path))
    assert len(kept.base) == 5630 and not any(d["rule"] == NEAR_DUPLICATE_DROP for d in kept.report.steps)


def test_the_large_route_says_it_keeps_the_copies(tmp_path):
    """The DuckDB route does not drop them: its cleaning notes say so, the run goes on."""
    from cxanalysis.config import load_config
    from cxanalysis.engine.large import prepare_large

    d = _export(400)
    pd.concat([d, d.iloc[:3].assign(customer_id=lambda x: x["customer_id"] + 1000)]).to_parquet(tmp_path / "e.parquet")
    run = prepare_large(tmp_path / "e.parquet", load_config({"cleaning": {"near_duplicates": "drop"},
                                                              "min_quarter_respondents": 10}), per_stratum=50)
    assert any("cleaning.near_duplicates: drop is applied by the pandas engine only; this duckdb run keeps" in n
               for n in run.cleaning.notes)
