"""The whole report on Spark (local mode): the CLI with ``--engine spark`` against ``--engine
pandas`` on the same Parquet export, every exact table to 1e-9; the shipped spark-submit script
run by the real ``spark-submit``; the README's Databricks cell executed as written; the Spark
report benchmark at a small size.

Every test here skips, saying why, where Java or pyspark is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxanalysis.engine import EXACT_TABLES
from cxanalysis.engine.exact import EXACT_METRICS
from cxanalysis.sample import make_customers
from tests.test_engines import KEYS, _spark_missing, assert_same, spark  # noqa: F401  (spark: the session fixture)

ROOT = Path(__file__).resolve().parent.parent
MESSY = {"customer_id": "Acct ID", "nps_score": "How likely are you to recommend us? (0-10)",
         "spend": "Rev_Q (EUR)", "plan": "Plan Name", "churned": "Churned?", "weight": "Survey Weight"}
SPARK_WARNINGS = ("ignore::FutureWarning", "ignore::DeprecationWarning", "ignore:The copy keyword:Warning")
pytestmark = pytest.mark.filterwarnings(*SPARK_WARNINGS)


def export_frame(n=1500, quarters=2, seed=31) -> pd.DataFrame:
    """Generated customers as an export has them: a survey weight, spend as text with empty
    cells, churn as yes/no, a few customers without a plan."""
    df = make_customers(n, quarters, random_state=seed)
    rng = np.random.default_rng(seed)
    df["weight"] = rng.lognormal(0, 0.4, len(df))
    spend = df["spend"].round(2).astype(str)
    spend[rng.random(len(df)) < 0.03] = ""
    df["spend"] = spend
    df["churned"] = np.where(df["churned"] == 1, "yes", "no")
    df["plan"] = df["plan"].astype(object)
    df.loc[rng.random(len(df)) < 0.02, "plan"] = None
    df.loc[(df["plan"] == "Basic") & (rng.random(len(df)) < 0.1), "plan"] = "BASIC "  # merged by RECODE
    return df


#: cx.yaml's recode of :func:`export_frame`'s second spelling of Basic (applied by both engines)
RECODE = 'recode:\n  plan: {"BASIC": "Basic"}\n'



def write_export(df: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """``export.parquet`` with the messy names and ``cx.yaml`` mapping them."""
    data, cfg = folder / "export.parquet", folder / "cx.yaml"
    df.rename(columns=MESSY).to_parquet(data, index=False)
    cfg.write_text("columns:\n" + "".join(f'  {k}: "{v}"\n' for k, v in MESSY.items()) + RECODE)
    return data, cfg


def read_run(root: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    res = json.loads((root / "results.json").read_text())
    tables = {p.stem: pd.read_parquet(p) for p in sorted((root / "_data" / "exact").glob("*.parquet"))}
    return res, tables


def assert_pages(root: Path, res: dict) -> None:
    assert "errors" not in res["run"], res["run"].get("errors")
    assert len(res["run"]["notebooks"]) == 6
    for nb in res["run"]["notebooks"]:
        page = root / f"{nb}.html"
        assert page.is_file() and page.stat().st_size > 10_000, nb
    assert (root / "index.html").is_file()


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):  # noqa: F811
    """The same export reported through the command line with Spark and with pandas."""
    from cxanalysis.cli import main

    tmp = tmp_path_factory.mktemp("spark_report")
    df = export_frame()
    data, cfg = write_export(df, tmp)
    out = {}
    for engine in ("spark", "pandas"):
        assert main(["report", str(data), "--config", str(cfg), "--out", str(tmp / engine),
                     "--engine", engine]) == 0, engine
        (root,) = (tmp / engine).iterdir()
        out[engine] = (root, *read_run(root))
    return out, df


def test_every_page_and_the_engine_recorded(runs):
    out, df = runs
    for engine, (root, res, _) in out.items():
        assert_pages(root, res)
        assert res["run"]["engine"] == engine
    res = out["spark"][1]
    s = res["run"]["sample"]
    # 1,500 customers: no stratum reaches the cap, so the sample is every respondent
    assert s["rows"] == s["population"] == len(df)
    assert res["run"]["cleaning"]["rows_in"] == len(df)
    page = (out["spark"][0] / "01-data-quality.html").read_text()
    assert "spark" in page.lower()


def test_exact_tables_equal_pandas_to_1e9(runs):
    """Every exact table the Spark run wrote equals the pandas run's: same rows, every number
    to 1e-9; the tables are not empty and reach every exact metric."""
    out, df = runs
    big, ref = out["spark"][2], out["pandas"][2]
    assert set(ref) == set(EXACT_TABLES)
    assert set(big) == set(EXACT_TABLES) | {"nps_quarter_unweighted"}
    for t in EXACT_TABLES:
        assert_same(big[t], ref[t], KEYS[t], f"spark report {t}")
    assert len(ref["nps_quarter"]) == 2 and len(ref["nps_segments"]) >= 20
    assert set(ref["metrics"]["metric"]) >= set(EXACT_METRICS) - {"MRR"}
    assert ref["nps_segments"].query("dimension == 'plan'")["n"].sum() == df["plan"].notna().sum()
    # the recoded spelling is merged by both engines: one Basic, as many customers as both spellings
    for tables in (big, ref):
        plans = tables["nps_segments"].query("dimension == 'plan'").groupby("segment", observed=True)["n"].sum()
        assert set(plans.index.astype(str)) == {"Basic", "Plus", "Pro"}
        assert plans["Basic"] == df["plan"].isin(["Basic", "BASIC "]).sum() > (df["plan"] == "Basic").sum()
    # the weighted headline is really weighted: the unweighted table differs, and is plain counting
    unw = big["nps_quarter_unweighted"].set_index("quarter")
    for qq, g in df.groupby("quarter"):
        s = g["nps_score"].to_numpy()
        assert unw.loc[qq, "nps"] == pytest.approx(100 * (np.mean(s >= 9) - np.mean(s <= 6)), abs=1e-9)
        w = g["weight"].to_numpy()
        want = 100 * (w[s >= 9].sum() - w[s <= 6].sum()) / w.sum()
        got = big["nps_quarter"].set_index("quarter").loc[qq, "nps"]
        assert got == pytest.approx(want, abs=1e-9) and abs(got - unw.loc[qq, "nps"]) > 1e-6


def test_results_headline_segments_and_trends_equal_pandas(runs):
    from tests.test_large import assert_results_agree

    out, _ = runs
    big, ref = out["spark"][1], out["pandas"][1]
    assert len(ref["trends"]) == 2
    assert_results_agree(big, ref, ("value", "ci_low", "ci_high", "promoters", "passives", "detractors", "unweighted",
                                    "n_eff", "n"))


def test_counts_leave_out_the_loaders_own_columns():
    """The in-memory route's table carries the loader's ``_source`` (and ``_row``); the large
    route's does not. The counts per column are of the export's columns on both, so that the
    two routes' ``counts`` tables are the same table."""
    from cxanalysis.config import load_config
    from cxanalysis.engine import DuckDBEngine, PandasEngine

    df = make_customers(200, 2, random_state=4)
    df.loc[df.index[:7], "spend"] = np.nan
    cfg = load_config()
    plain = PandasEngine(df, cfg).counts()
    tagged = df.assign(_source="export.parquet", _row=np.arange(len(df)))
    for counts in (PandasEngine(tagged, cfg).counts(), DuckDBEngine(tagged, cfg).counts()):
        assert not [c for c in counts.columns if c.startswith("present___")]
        assert_same(counts, plain, ["quarter"], "counts")
    want = df.groupby("quarter")["spend"].count()
    assert plain.set_index("quarter")["present__spend"].to_dict() == want.to_dict()
    assert set(plain.columns) == {"quarter", "n_rows", "respondents", *(f"present__{c}" for c in df if c != "quarter")}


# ------------------------------------------------------- the README's cluster commands, run locally

def readme_block(lang: str, marker: str) -> str:
    """The README's ```lang code block that holds ``marker``, as written."""
    blocks = [b for b in re.findall(rf"```{lang}\n(.*?)```", (ROOT / "README.md").read_text(), re.S) if marker in b]
    assert len(blocks) == 1, f"README.md: {len(blocks)} {lang} blocks hold {marker!r}"
    return blocks[0]


def weighted_nps(df: pd.DataFrame, quarter: str) -> float:
    g = df[df["quarter"] == quarter]
    s, w = g["nps_score"].to_numpy(), g["weight"].to_numpy()
    return 100 * (w[s >= 9].sum() - w[s <= 6].sum()) / w.sum()


@pytest.mark.slow
def test_the_readme_spark_submit_line_runs_the_report(tmp_path):
    """The README's spark-submit line, run through bash by pyspark's own spark-submit, with
    ``--master local[2]`` for ``yarn`` and a Parquet file for the catalog table: the shipped
    script starts the session spark-submit configured and writes every page."""
    why = _spark_missing()
    if why:
        pytest.skip(why)
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    if not submit.is_file():
        pytest.skip(f"pyspark ships no {submit}")
    (line,) = [x for x in readme_block("bash", "spark-submit --master yarn").splitlines() if x.startswith("spark-submit")]
    local = line
    for old, new in (("spark-submit --master yarn", f"{submit} --master 'local[2]'"),
                     ("$(python -c", f"$({sys.executable} -c"), ("spark:main.cx.customers", "export.parquet")):
        assert line.count(old) == 1, old
        local = local.replace(old, new)
    df = export_frame(500, 2, seed=41)
    write_export(df, tmp_path)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    r = subprocess.run(["bash", "-c", local], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    # spark-submit sends the script's stderr to its stdout; the master is spark-submit's, not local[*]
    assert "master local[2], application cxanalysis report" in r.stdout
    q = df["quarter"].max()
    root = tmp_path / "reports" / q
    res = json.loads((root / "results.json").read_text())
    assert_pages(root, res)
    assert res["run"]["engine"] == "spark" and res["run"]["sample"]["population"] == len(df)
    assert res["nps"]["value"] == pytest.approx(weighted_nps(df, q), abs=1e-9)
    assert f"Report ready: {(root / 'index.html').resolve()}" in r.stdout


def test_spark_submit_script_input_errors_exit_2(spark, tmp_path, capsys):  # noqa: F811
    """A file that is not there is an input error (exit 2, one line); the session the script
    found active is left running."""
    from cxanalysis import spark_submit

    code = spark_submit.main([str(tmp_path / "nothing.parquet"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "error: " in err and "nothing.parquet" in err and "Traceback" not in err
    assert spark.range(3).count() == 3


def test_the_readme_databricks_cell_runs_on_the_active_session(spark, tmp_path, monkeypatch):  # noqa: F811
    """The README's Databricks cell, executed as written: the export saved as the table it names
    in the test's active session (the notebook's ``spark`` on Databricks), ``displayHTML`` the
    notebook's function, cx.yaml in the working folder."""
    from pyspark.sql import SparkSession

    cell = readme_block("python", "# Databricks notebook cell")
    (table,) = re.findall(r'"spark:([\w.]+)"', cell)
    schema = table.rsplit(".", 1)[0]
    df = export_frame(600, 2, seed=43)
    data, _ = write_export(df, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert SparkSession.getActiveSession() is not None
    shown: list[str] = []
    ns = {"spark": spark, "displayHTML": shown.append}
    # the session's catalog makes its default warehouse folder (where the session started) when
    # first used: removed again when it was made here and is empty
    from urllib.parse import urlparse

    warehouse = Path(urlparse(spark.conf.get("spark.sql.warehouse.dir")).path)
    made = not warehouse.exists()
    try:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema} LOCATION '{tmp_path / 'warehouse'}'")
        spark.read.parquet(str(data)).write.mode("overwrite").saveAsTable(table)
        exec(compile(cell, "README.md (Databricks cell)", "exec"), ns)
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {schema} CASCADE")
        if made and warehouse.is_dir() and not any(warehouse.iterdir()):
            warehouse.rmdir()
    root = ns["root"]
    q = df["quarter"].max()
    assert root == Path("reports") / q or root.resolve() == (tmp_path / "reports" / q).resolve()
    res = json.loads((root / "results.json").read_text())
    assert_pages(root, res)
    assert res["run"]["engine"] == "spark" and res["run"]["inputs"][0]["path"] == f"spark:{table}"
    assert res["run"]["sample"]["population"] == len(df)
    assert res["nps"]["value"] == pytest.approx(weighted_nps(df, q), abs=1e-9)
    assert shown == [(root / "index.html").read_text()]


# -------------------------------------------------------------- benchmarks/spark_report.py

def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cx_bench_spark_report", ROOT / "benchmarks" / "spark_report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_comparison_finds_a_difference_beyond_1e9(tmp_path):
    """The benchmark's comparison of two exact-table folders: equal folders give 0; one number
    moved by 1e-7 of itself, or a row left out, is reported and fails."""
    from cxanalysis.config import load_config
    from cxanalysis.engine import PandasEngine

    bench = _bench()
    tables = PandasEngine(make_customers(400, 2, random_state=6), load_config()).exact_tables()
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        for t, v in tables.items():
            v.to_parquet(tmp_path / name / f"{t}.parquet", index=False)
    same = bench.compare_exact(tmp_path / "b", tmp_path / "a")
    assert all(r["ok"] and r["max_abs"] == 0 for r in same.values()) and same["metrics"]["numbers"] > 50
    m = tables["metrics"].copy()
    i = int(np.argmax(m["value"].abs().to_numpy()))
    m.loc[i, "value"] *= 1 + 1e-7
    m.to_parquet(tmp_path / "b" / "metrics.parquet", index=False)
    tables["nps_segments"].iloc[1:].to_parquet(tmp_path / "c" / "nps_segments.parquet", index=False)
    moved = bench.compare_exact(tmp_path / "b", tmp_path / "a")
    assert not moved["metrics"]["ok"] and moved["metrics"]["max_rel"] == pytest.approx(1e-7, rel=1e-6)
    assert moved["nps_quarter"]["ok"]
    assert not bench.compare_exact(tmp_path / "c", tmp_path / "a")["nps_segments"]["ok"]


@pytest.mark.slow
def test_spark_report_benchmark_smoke(tmp_path):
    """benchmarks/spark_report.py (the README's Spark report figures) end to end at 3,000
    customers: both reports with every page, run.engine spark, every exact table within 1e-9,
    and the headline NPS that of the generated export, counted here."""
    why = _spark_missing()
    if why:
        pytest.skip(why)
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "spark_report.py"), "--customers", "3000",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    res = json.loads((tmp_path / "spark_report_3000.json").read_text())
    assert res["ok"] and res["engine"] == "spark" and res["numbers"] >= 200
    assert res["max_rel"] <= 1e-9 and set(res["tables"]) == set(EXACT_TABLES)
    for engine in ("spark", "pandas"):
        run = res["runs"][engine]
        assert (run["exit"], run["pages"], run["missing_pages"], run["errors"]) == (0, 6, [], [])
        assert run["wall_s"] > 0 and run["peak_process_gb"] > 0
    s = make_customers(3000, 1, random_state=20260101)["nps_score"].to_numpy()
    want = 100 * (np.mean(s >= 9) - np.mean(s <= 6))
    assert res["nps"]["spark"] == pytest.approx(want, abs=1e-9) and res["nps"]["pandas"] == pytest.approx(want, abs=1e-9)
    assert "largest relative difference" in r.stdout
