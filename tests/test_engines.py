"""Every engine computes the same exact tables: pandas (the in-memory functions of
cxanalysis.metrics, the reference) against the one SQL text run by DuckDB, sqlite and Spark, to
1e-9, on generated data with survey weights, missing values, a missing segment value and a
one-customer segment; and on random small frames (hypothesis)."""

from __future__ import annotations

import importlib.util
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cxanalysis.config import load_config
from cxanalysis.engine import (
    EXACT_TABLES,
    DuckDBEngine,
    PandasEngine,
    SqliteEngine,
    choose_engine,
)
from cxanalysis.engine.exact import EXACT_METRICS, IN_MEMORY_ONLY
from cxanalysis.engine.sql import nps_sql
from cxanalysis.metrics import cx_metrics, nps_from_counts
from cxanalysis.sample import make_customers

RTOL = ATOL = 1e-9
KEYS = {"nps_overall": [], "nps_quarter": ["quarter"], "nps_segments": ["quarter", "dimension", "segment"],
        "metrics": ["quarter", "metric"], "metrics_skipped": ["quarter", "metric"], "counts": ["quarter"]}


def messy_frame(n=1500, quarters=3, seed=7, weighted=True) -> pd.DataFrame:
    """Generated customers with what real exports have: survey weights, missing scores and
    values, customers without a plan, a region holding one customer."""
    df = make_customers(n, quarters, random_state=seed)
    rng = np.random.default_rng(seed)
    if weighted:
        df["weight"] = rng.lognormal(0, 0.5, len(df))
    df.loc[rng.random(len(df)) < 0.1, "nps_score"] = np.nan  # non-respondents
    df.loc[rng.random(len(df)) < 0.05, "plan"] = None  # a missing segment value
    df.loc[rng.random(len(df)) < 0.05, "spend"] = np.nan
    df.loc[5, "region"] = "Solo"  # a one-customer segment
    return df


def assert_same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], what: str) -> None:
    """Same rows (matched on ``keys``), numbers equal to 1e-9, text equal."""
    assert sorted(got.columns) == sorted(want.columns), what
    assert len(got) == len(want), what
    if keys:
        got = got.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
        want = want.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
    for c in want.columns:
        a, b = got[c], want[c]
        if pd.api.types.is_numeric_dtype(b) or c in ("n", "n_eff", "value", "ci_low", "ci_high"):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=RTOL, atol=ATOL,
                                       equal_nan=True, err_msg=f"{what}: column {c}")
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), f"{what}: column {c}"


def assert_engines_agree(tables: dict, reference: dict, name: str) -> None:
    for t in EXACT_TABLES:
        assert_same(tables[t], reference[t], KEYS[t], f"{name} {t}")


@pytest.fixture(scope="module", params=[True, False], ids=["weighted", "unweighted"])
def case(request):
    df = messy_frame(weighted=request.param)
    cfg = load_config()
    return df, cfg, PandasEngine(df, cfg).exact_tables()


@pytest.mark.parametrize("engine", [DuckDBEngine, SqliteEngine], ids=["duckdb", "sqlite"])
def test_sql_engines_equal_pandas_to_1e9(case, engine):
    df, cfg, reference = case
    with engine(df, cfg) as e:
        assert_engines_agree(e.exact_tables(), reference, e.name)


def test_reference_tables_cover_what_the_checks_need(case):
    """The comparison is not vacuous: the messy frame reaches every exact metric, the missing
    plan is left out of the segments (as pandas' groupby does), the one-customer region has its
    row, and only the in-memory-only health score is missing from the exact metrics."""
    df, cfg, ref = case
    assert set(ref["metrics"]["metric"]) >= set(EXACT_METRICS)
    plans = ref["nps_segments"].query("dimension == 'plan'")
    assert plans.groupby("quarter")["n"].sum().sum() == df["plan"].notna().mul(df["nps_score"].notna()).sum()
    solo = ref["nps_segments"].query("segment == 'Solo'")
    assert len(solo) == 1 and solo["n"].iloc[0] in (0, 1)
    assert ref["nps_overall"]["n"].iloc[0] == df["nps_score"].notna().sum()
    assert ref["metrics_skipped"].empty


def test_a_weight_missing_on_some_rows_and_a_net_score_on_csat():
    """Rows without a weight are left out of weighted figures in every engine; a configured
    net score on another scale (CSAT 1-5) is computed by the same SQL."""
    df = messy_frame(400, 2, seed=3)
    df.loc[df.index[::17], "weight"] = np.nan
    cfg = load_config({"categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3}})
    ref = PandasEngine(df, cfg).exact_tables()
    assert "Net score (CSAT)" in set(ref["metrics"]["metric"])
    for engine in (DuckDBEngine, SqliteEngine):
        with engine(df, cfg) as e:
            assert_engines_agree(e.exact_tables(), ref, e.name)


def test_skips_agree_when_a_quarter_has_no_churner_and_no_mrr():
    df = make_customers(300, 2, random_state=5)
    df.loc[df["quarter"] == df["quarter"].max(), "churned"] = 0
    df["mrr"] = np.nan
    cfg = load_config()
    ref = PandasEngine(df, cfg).exact_tables()
    assert {"CLV", "MRR"} <= set(ref["metrics_skipped"]["metric"])
    with DuckDBEngine(df, cfg) as e:
        assert_engines_agree(e.exact_tables(), ref, "duckdb")


def test_nps_statistics_by_hand():
    """Hand-worked: scores 10, 9, 7, 3 with weights 1, 2, 1, 4. Promoters weigh 3, detractors 4
    of 8: NPS = (3 - 4) / 8 = -12.5 points; n_eff = 8^2 / (1 + 4 + 1 + 16) = 64 / 22."""
    df = pd.DataFrame({"customer_id": list("abcd"), "quarter": "2026Q1", "nps_score": [10, 9, 7, 3],
                       "weight": [1.0, 2.0, 1.0, 4.0]})
    cfg = load_config()
    with DuckDBEngine(df, cfg) as e:
        stats = e.query(nps_sql("customers", cfg, e.columns)).iloc[0]
        got = e.nps().iloc[0]
    assert (stats["sw"], stats["sw2"], stats["sw_promoters"], stats["sw_detractors"]) == (8, 22, 3, 4)
    assert got["nps"] == pytest.approx(-12.5, abs=1e-12)
    assert got["n_eff"] == pytest.approx(64 / 22, rel=1e-12)
    want = nps_from_counts(3, 1, 4, n_eff=64 / 22)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((want["ci_low"], want["ci_high"]), rel=1e-12)


def test_validation_counts_agree(tmp_path):
    df = make_customers(200, 1, random_state=2)
    df.loc[0, "nps_score"], df.loc[1, "spend"] = 11, -3.0
    df.loc[3, "customer_id"] = df.loc[2, "customer_id"]
    cfg = load_config()
    want = {(p.column, p.rule, p.n_rows) for p in PandasEngine(df, cfg).validate()}
    assert {c for c, _, _ in want} == {"nps_score", "spend", "customer_id"}
    for engine in (DuckDBEngine, SqliteEngine):
        with engine(df, cfg) as e:
            assert {(p.column, p.rule, p.n_rows) for p in e.validate()} == want


def test_health_score_is_in_memory_only():
    assert IN_MEMORY_ONLY == ("Health score (mean)",)
    assert not set(IN_MEMORY_ONLY) & set(EXACT_METRICS)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_exact_and_in_memory_parts_of_the_metrics_make_the_whole(weighted):
    """cx_metrics(part="exact") is what the engines' tables hold, part="in memory" the health
    score; together, rows and skips, they are the whole dashboard."""
    df = make_customers(400, 1, random_state=3)
    df = df[df["nps_score"].notna()].drop(columns="mrr")  # a skipped metric too
    if weighted:
        df = df.assign(weight=np.random.default_rng(0).uniform(0.5, 2.0, len(df)))
    cfg = load_config()
    whole, whole_skips = cx_metrics(df, cfg)
    exact_rows, exact_skips = cx_metrics(df, cfg, part="exact")
    memory_rows, memory_skips = cx_metrics(df, cfg, part="in memory")
    assert list(memory_rows["metric"]) == list(IN_MEMORY_ONLY)
    assert not set(exact_rows["metric"]) & set(IN_MEMORY_ONLY)
    pd.testing.assert_frame_equal(pd.concat([exact_rows, memory_rows], ignore_index=True), whole)
    assert {**exact_skips, **memory_skips} == whole_skips and "MRR" in whole_skips
    with pytest.raises(ValueError, match="part"):
        cx_metrics(df, cfg, part="sums")


score = st.one_of(st.none(), st.integers(0, 10))
row = st.fixed_dictionaries({
    "nps_score": score, "plan": st.sampled_from(["A", "B", None]), "spend": st.one_of(st.none(), st.floats(0, 500)),
    "orders": st.integers(0, 5), "churned": st.sampled_from([0, 1]), "weight": st.floats(0.2, 5),
    "csat": st.one_of(st.none(), st.integers(1, 5)),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=25), weighted=st.booleans())
@example(rows=[  # spend and churn perfectly correlated: the CLV's variance cancels to rounding error
    {"nps_score": None, "plan": "A", "spend": 0.0, "orders": 0, "churned": 0, "weight": 1.0, "csat": None},
    {"nps_score": None, "plan": "A", "spend": 3.0, "orders": 0, "churned": 1, "weight": 0.5, "csat": None}],
    weighted=True)
def test_random_small_frames_agree(rows, weighted):
    """Any small frame (one row, all scores missing, empty segments, a single promoter...):
    pandas, DuckDB and sqlite give the same exact tables."""
    df = pd.DataFrame(rows).astype({"nps_score": float, "spend": float, "csat": float})
    df.insert(0, "customer_id", [f"c{i}" for i in range(len(df))])
    df.insert(1, "quarter", "2026Q1")
    if not weighted:
        df = df.drop(columns="weight")
    cfg = load_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pandas' own 0/0 on empty groups
        ref = PandasEngine(df, cfg).exact_tables()
        for engine in (DuckDBEngine, SqliteEngine):
            with engine(df, cfg) as e:
                assert_engines_agree(e.exact_tables(), ref, e.name)


@pytest.mark.parametrize("by", [(), ("plan", "region")], ids=["quarter-category", "with-covariates"])
def test_duckdb_sample_draws_the_rows_of_the_portable_sql(by):
    """DuckDB's sample (a bounded heap per stratum, min_by) holds exactly the rows that the
    portable ROW_NUMBER() text of stratified_sql ranks first under the same key, with the same
    strata and sizes; weights add up to every respondent of each stratum."""
    from cxanalysis.engine.base import finish_sample, stratified_sql

    df = messy_frame(3000, 2, seed=5)
    cfg = load_config()
    with DuckDBEngine(df, cfg) as e:
        got = e.stratified_sample(40, seed=9, by=by)
        want = finish_sample(e.query(stratified_sql(e.table, cfg, by, 40, "hash(customer_id, quarter, 9), customer_id")))
        other = e.stratified_sample(40, seed=10, by=by)
    assert len(got) < df["nps_score"].notna().sum()
    pd.testing.assert_frame_equal(got, want)
    assert got["customer_id"].tolist() != other["customer_id"].tolist()  # the seed changes the draw
    assert got.groupby("_stratum").size().max() == 40
    sizes = got.groupby("_stratum")["_sampling_weight"].sum()
    scored = df[df["nps_score"].notna()]
    cat = np.where(scored["nps_score"] >= 9, "promoter", np.where(scored["nps_score"] <= 6, "detractor", "passive"))
    label = scored["quarter"].astype(str) + ":" + cat
    for b in by:
        label = label + ":" + scored[b].astype(object).where(scored[b].notna(), "(missing)").astype(str)
    np.testing.assert_allclose(sizes.sort_index().to_numpy(), label.value_counts().sort_index().to_numpy())


def test_auto_picks_by_size(tmp_path):
    from cxanalysis.engine import choose as ch

    small = tmp_path / "small.parquet"
    make_customers(50, 1, random_state=1).to_parquet(small)
    assert choose_engine(str(small)) == "pandas"
    assert choose_engine("spark:main.cx.customers") == "spark"
    assert choose_engine("postgresql://u@h/db") == "pandas"
    assert choose_engine(str(small), "duckdb") == "duckdb"
    old = ch.AUTO_THRESHOLD_ROWS
    try:
        ch.AUTO_THRESHOLD_ROWS = 49
        assert choose_engine(str(small)) == "duckdb"
    finally:
        ch.AUTO_THRESHOLD_ROWS = old
    with pytest.raises(ValueError, match="must be one of auto, pandas, duckdb, spark; got 'polars'"):
        choose_engine(str(small), "polars")


# ------------------------------------------------------------------------------------ Spark

def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install "cxanalysis[spark]")'
    if shutil.which("java") is None:
        return "no Java runtime on PATH (Spark needs Java 17)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session (it takes ~20 s to start)."""
    why = _spark_missing()
    if why:
        pytest.skip(why)
    from cxanalysis.engine.spark import spark_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark on pandas 3
        session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning:pyspark.*", "ignore:The copy keyword:Warning")
def test_spark_equals_pandas_to_1e9(spark, tmp_path):
    """Spark SQL runs the same text: every exact table equals pandas', weighted, with the
    missing plan and the one-customer region; validation finds the same problems; the export is
    read from Parquet with a mapped column name; the stratified sample's weights add up."""
    df = messy_frame(700, 2, seed=11)
    df.loc[0, "spend"] = -1.0
    cfg = load_config({"columns": {"nps_score": "Likelihood to recommend"}})
    path = tmp_path / "export.parquet"
    df.rename(columns={"nps_score": "Likelihood to recommend"}).to_parquet(path, index=False)
    from cxanalysis.engine.spark import SparkEngine

    ref_engine = PandasEngine(df, cfg)
    with SparkEngine(str(path), cfg, spark=spark) as e:
        assert e.name == "spark" and "nps_score" in e.columns
        assert_engines_agree(e.exact_tables(), ref_engine.exact_tables(), "spark")
        want = {(p.column, p.rule, p.n_rows) for p in ref_engine.validate()}
        assert {(p.column, p.rule, p.n_rows) for p in e.validate()} == want == {("spend", "must be 0 or more", 1)}
        s = e.stratified_sample(100, seed=1)
    assert s.groupby("_stratum").size().max() == 100
    assert s["_sampling_weight"].sum() == pytest.approx(df["nps_score"].notna().sum())


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning:pyspark.*", "ignore:The copy keyword:Warning")
def test_spark_large_route_equals_duckdb(spark, tmp_path):
    """The large route on Spark (its stored rows a temporary view): rows without an id and an
    exact duplicate counted as on DuckDB, the respondents raked to the base in SQL as on DuckDB
    (no weight column of its own; 10% without a score), and the same exact tables to 1e-9."""
    from cxanalysis.engine.large import prepare_large

    df = messy_frame(600, 2, seed=3, weighted=False)
    quiet = np.random.default_rng(3).random(len(df)) < np.where(df["plan"] == "Pro", 0.1, 0.5)
    df.loc[quiet, ["nps_score", "csat", "ces"]] = np.nan  # non-respondents, fewer among Pro customers
    df["customer_id"] = df["customer_id"].astype(object)
    df.loc[df.index[:2], "customer_id"] = None
    df = pd.concat([df, df.iloc[[20]]], ignore_index=True)
    path = tmp_path / "export.parquet"
    df.rename(columns={"nps_score": "Likelihood to recommend"}).to_parquet(path, index=False)
    cfg = load_config({"columns": {"nps_score": "Likelihood to recommend"}})
    runs = {e: prepare_large(path, cfg, engine=e, per_stratum=30) for e in ("duckdb", "spark")}
    steps = [{s["rule"]: s["rows_dropped"] for s in r.cleaning.steps} for r in runs.values()]
    assert steps[0] == steps[1] == {"no customer_id": 2, "exact duplicate of an earlier row": 1}
    assert_engines_agree(runs["spark"].tables, runs["duckdb"].tables, "spark large route")
    assert_same(runs["spark"].tables["metrics_base"], runs["duckdb"].tables["metrics_base"], KEYS["metrics"],
                "spark metrics_base")
    for a, b in zip(*(r.cleaning.response for r in runs.values()), strict=True):
        assert a["weighting"] == b["weighting"] and a["weighting"].startswith("raking on plan")
        assert a["n_eff"] == pytest.approx(b["n_eff"], rel=1e-9) and a["n_eff"] < a["respondents"]
        assert a["nonrespondents_mrr"]["n"] == b["nonrespondents_mrr"]["n"] > 0
        assert a["nonrespondents_mrr"]["total"] == pytest.approx(b["nonrespondents_mrr"]["total"], rel=1e-9)


# ----------------------------------------------------------------------- report integration

def test_engine_key_is_validated():
    from cxanalysis.config import ConfigError

    assert load_config().engine == "auto"
    with pytest.raises(ConfigError, match=r"'engine' must be one of \['auto', 'duckdb', 'pandas', 'spark'\]; got 'polars'"):
        load_config({"engine": "polars"})


def test_cli_rejects_an_unknown_engine(capsys):
    from cxanalysis.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["report", "data.csv", "--engine", "polars"])
    assert exit_.value.code == 2 and "invalid choice: 'polars'" in capsys.readouterr().err


@pytest.mark.slow
def test_report_records_the_engine_and_reads_its_exact_tables(tmp_path):
    """A report run with --engine duckdb (one notebook, to keep it short): results.json says
    which engine ran and that the sample is every respondent (no stratum reaches the default
    cap), its headline NPS is the engine's and equals
    the in-memory one to 1e-9, and RunContext.exact reads the engine's tables."""
    import json

    from cxanalysis.cli import main
    from cxanalysis.metrics import configured_nps
    from cxanalysis.report import RunContext, notebook_paths

    df = messy_frame(600, 2, seed=21)
    path = tmp_path / "export.parquet"
    df.to_parquet(path, index=False)
    first = notebook_paths()[:1]
    import cxanalysis.report as report

    orig = report.notebook_paths
    report.notebook_paths = lambda folder=None: first
    try:
        assert main(["report", str(path), "--out", str(tmp_path / "r"), "--engine", "duckdb"]) == 0
    finally:
        report.notebook_paths = orig
    q = df["quarter"].max()
    res = json.loads((tmp_path / "r" / q / "results.json").read_text())
    assert res["run"]["engine"] == "duckdb"
    assert res["run"]["sample"]["rows"] == res["run"]["sample"]["population"] == df["nps_score"].notna().sum()
    want = configured_nps(df[df["quarter"] == q], load_config()).iloc[0]
    for key, col in (("value", "nps"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        assert res["nps"][key] == pytest.approx(want[col], rel=1e-9, abs=1e-9)
    ctx = RunContext.open(str(tmp_path / "r" / q / "_data" / "customers.parquet"), quarter=q)
    seg = ctx.exact("nps_segments")
    ref = PandasEngine(ctx.data, ctx.config).exact_tables()
    assert_same(seg, ref["nps_segments"], KEYS["nps_segments"], "report nps_segments")
    with pytest.raises(KeyError, match="No exact table 'nps_by_moon'"):
        ctx.exact("nps_by_moon")


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning:pyspark.*", "ignore:The copy keyword:Warning")
def test_spark_table_source(spark, tmp_path):
    """``spark:catalog.schema.table`` is read from the session's catalog by io (the report's
    loader); a table the catalog does not know is a readable error."""
    from cxanalysis.io import DataError, read_source

    df = make_customers(100, 1, random_state=3)
    path = tmp_path / "t.parquet"
    df.to_parquet(path, index=False)
    spark.read.parquet(str(path)).createOrReplaceGlobalTempView("cx_test_export")
    frame, inputs = read_source("spark:global_temp.cx_test_export")
    assert len(frame) == len(df) and inputs == [{"path": "spark:global_temp.cx_test_export", "rows": len(df)}]
    assert sorted(frame["customer_id"]) == sorted(df["customer_id"])
    with pytest.raises(DataError, match="Spark cannot read the table 'main.cx.nothing'"):
        read_source("spark:main.cx.nothing")


def test_engines_benchmark_smoke(tmp_path):
    """benchmarks/engines.py (the README's engine figures) runs end to end at a small size and
    finds DuckDB's tables equal to pandas'."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "engines.py"
    r = subprocess.run([sys.executable, str(script), "--customers", "3000", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "engines_3000.json").read_text())
    assert res["max_difference_vs_pandas"]["duckdb"] < 1e-9 and res["seconds"]["duckdb"] > 0


def test_spark_without_java_is_an_install_error(tmp_path):
    """Where Java is missing, the Spark engine stops with what to install (exit 2), no traceback."""
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("pyspark") is None:
        pytest.skip('pyspark is not installed (pip install "cxanalysis[spark]")')
    path = tmp_path / "x.parquet"
    make_customers(200, 1, random_state=1).to_parquet(path, index=False)
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "cxanalysis.cli", "validate", str(path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0  # validate does not need Spark
    code = ("import sys; from cxanalysis.engine.spark import spark_session\n"
            "from cxanalysis.resources import InstallError\n"
            "try:\n    spark_session()\nexcept InstallError as e:\n    print(e); sys.exit(2)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "needs Java 17" in r.stdout, r.stderr[-1000:]


def test_spark_connect_without_new_session_uses_the_session_itself(tmp_path):
    """Spark Connect sessions (Databricks shared and serverless clusters) have no newSession():
    the engine then works in the session it was given instead of failing."""
    pytest.importorskip("pyspark")
    from cxanalysis.engine.spark import SparkEngine

    class ConnectLike:
        def __init__(self):
            self.conf = type("Conf", (), {"set": lambda self, k, v: None})()

        def newSession(self):  # noqa: N802 - pyspark's name
            raise NotImplementedError("newSession() is not implemented in Spark Connect")

        @property
        def read(self):
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):  # past the session: reading the table
        SparkEngine(pd.DataFrame({"customer_id": ["a"], "nps_score": [9]}), spark=ConnectLike())


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning:pyspark.*", "ignore:The copy keyword:Warning")
def test_spark_reads_sibling_quarter_folders_as_duckdb_does(spark, tmp_path):
    """Quarter folders without a quarter column, one with an extra column: Spark unions them by
    name as DuckDB does, and every exact table agrees to 1e-9."""
    from cxanalysis.engine.choose import QuarterFolders
    from cxanalysis.engine.large import prepare_large

    df = messy_frame(500, 2, seed=5, weighted=False)
    for i, q in enumerate(sorted(df["quarter"].unique())):
        part = df[df["quarter"] == q].drop(columns="quarter")
        if i == 1:
            part = part.assign(extra_note="x")
        (tmp_path / f"2026Q{i + 1}").mkdir()
        part.to_parquet(tmp_path / f"2026Q{i + 1}" / "export.parquet", index=False)
    folders = QuarterFolders.of(tmp_path / "2026Q2")
    runs = {e: prepare_large(folders, load_config(), engine=e, per_stratum=30) for e in ("duckdb", "spark")}
    assert_engines_agree(runs["spark"].tables, runs["duckdb"].tables, "spark quarter folders")
    assert sorted(runs["spark"].tables["nps_quarter"]["quarter"].astype(str)) == ["2026Q1", "2026Q2"]
