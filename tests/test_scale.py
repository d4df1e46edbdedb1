"""Large exports in SQL: the DuckDB path gives the same numbers as the in-memory path, the SQL is
portable (sqlite runs it too), validation finds the same problems, the sample is stratified."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from cxanalysis.config import load_config
from cxanalysis.metrics import nps
from cxanalysis.sample import make_customers
from cxanalysis.scale import LargeExport, aggregate_sql


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "customers.parquet"
    df = make_customers(20000, 2, random_state=4)
    df.to_parquet(path, index=False)
    return path, df


def test_sql_nps_equals_in_memory(export):
    path, df = export
    big = LargeExport(path)
    got = big.nps(by=["quarter", "plan"]).set_index(["quarter", "plan"])
    want = nps(df, by=["quarter", "plan"]).set_index(["quarter", "plan"])
    for col in ("n", "nps", "ci_low", "ci_high", "promoters"):
        np.testing.assert_allclose(got[col].to_numpy(float), want.loc[got.index, col].to_numpy(float), rtol=1e-12)
    seg = big.segment_table(["plan", "region"])
    pro = seg[(seg["dimension"] == "plan") & (seg["segment"] == "Pro") & (seg["quarter"] == "2026Q1")].iloc[0]
    part = df[(df["plan"] == "Pro") & (df["quarter"] == "2026Q1")]
    assert pro["churn_rate"] == pytest.approx(part["churned"].mean()) and pro["spend"] == pytest.approx(part["spend"].mean())
    assert big.n_rows == len(df) and big.validate() == []


def test_aggregate_sql_is_portable_to_sqlite(export):
    """The same SQL text run by sqlite (another engine) gives the same counts."""
    _, df = export
    cfg = load_config()
    with sqlite3.connect(":memory:") as con:
        df[["customer_id", "quarter", "plan", "nps_score"]].to_sql("cust", con, index=False)
        via_sqlite = pd.read_sql(aggregate_sql("cust", cfg, ["quarter", "plan"]), con)
    counts = df.groupby(["quarter", "plan"])["nps_score"].agg(
        promoters=lambda s: int((s >= 9).sum()), detractors=lambda s: int((s <= 6).sum())).reset_index()
    merged = via_sqlite.merge(counts, on=["quarter", "plan"], suffixes=("", "_pd"))
    assert len(merged) == len(counts)
    assert (merged["promoters"] == merged["promoters_pd"]).all() and (merged["detractors"] == merged["detractors_pd"]).all()


def test_sql_validation_reports_problems(tmp_path):
    df = make_customers(300, 1, random_state=1)
    df.loc[0, "nps_score"] = 11
    df.loc[1, "spend"] = -3.0
    df.loc[2, "returns"] = df.loc[2, "orders"] + 1
    df.loc[4, "customer_id"] = df.loc[3, "customer_id"]
    df.to_parquet(tmp_path / "bad.parquet", index=False)
    problems = {(p.column, p.rule): p for p in LargeExport(tmp_path / "bad.parquet").validate()}
    assert problems[("nps_score", "must hold integers from 0 to 10")].n_rows == 1
    assert problems[("spend", "must be 0 or more")].n_rows == 1
    assert problems[("returns", "must not exceed 'orders' (returns <= orders)")].n_rows == 1
    assert problems[("customer_id", "must be unique within a quarter")].n_rows == 2


def test_sql_and_in_memory_validation_find_the_same_problems(tmp_path):
    """One rule table serves both engines: every rule broken once or twice, the same problems
    (column, rule, rows) come back from DuckDB and from pandas."""
    from cxanalysis.schema import check_rules

    df = make_customers(300, 1, random_state=2).astype({"orders": float, "nps_score": float})
    df["weight"] = 1.0
    df.loc[0, "nps_score"], df.loc[5, "nps_score"] = 11, 7.5
    df.loc[6, "csat"], df.loc[7, "ces"] = 6, 0
    df.loc[1, "spend"], df.loc[9, "tenure_months"] = -3.0, -1.0
    df.loc[8, ["orders", "returns"]] = [2.5, 0]
    df.loc[2, "returns"] = df.loc[2, "orders"] + 1
    df.loc[10, "age"], df.loc[11, "weight"] = 130, 0.0
    df.loc[4, "customer_id"] = df.loc[3, "customer_id"]
    df.to_parquet(tmp_path / "bad.parquet", index=False)
    cfg = load_config()
    in_memory = {(p.column, p.rule, p.n_rows) for p in check_rules(df, cfg.scales)}
    in_sql = {(p.column, p.rule, p.n_rows) for p in LargeExport(tmp_path / "bad.parquet", cfg).validate()}
    assert in_sql == in_memory
    assert {c for c, _, _ in in_memory} == {"nps_score", "csat", "ces", "spend", "orders", "tenure_months",
                                            "age", "weight", "returns", "customer_id"}
    assert ("nps_score", "must hold integers from 0 to 10", 2) in in_memory


def test_stratified_sample_weights_add_up(export):
    path, df = export
    s = LargeExport(path).stratified_sample(per_stratum=1000, seed=3)
    assert s.groupby("_stratum").size().max() == 1000
    assert s["_sampling_weight"].sum() == pytest.approx(len(df))
    assert s.groupby(["customer_id", "quarter"]).size().max() == 1
    again = LargeExport(path).stratified_sample(per_stratum=1000, seed=3)
    assert again["customer_id"].tolist() == s["customer_id"].tolist()  # reproducible
