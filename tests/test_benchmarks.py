"""The benchmark script runs end to end at a reduced size (the 1M figures in the README come from
the same script at full size)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_script_smoke(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--customers", "20000", "--skip-report",
                        "--plain-reps", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "results_20000.json").read_text())
    assert {"outcome models (3 + per-point)", "ROI interval (1,000 joint draws)", "segment profiles (3 dimensions)"} <= set(res["ours_s"])
    assert res["ratios"]["models"] > 0 and res["peak_mb"] > 0
    assert res["targets"]["full report < 60 s"] is None  # not run here
    assert isinstance(res["targets"]["models >= 5x faster than formula fits"], bool)
    assert "| stage | seconds |" in r.stdout


def _bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cx_bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peer_keeps_the_respondents_and_computes_nps_by_segment(tmp_path):
    """The hand-written peer reads the same whole-base file the report reads, keeps the rows with
    a score as an analyst would, and its NPS by segment matches a count by hand."""
    from cxanalysis.sample import RESPONSE_RATES, make_customers

    df = make_customers(3000, 1, random_state=5, response_rates=RESPONSE_RATES)
    assert df["nps_score"].isna().any()  # non-respondents are in the file
    csv = tmp_path / "customers.csv"
    df.to_csv(csv, index=False)
    times: dict = {}
    out = _bench_module().peer(csv, times)
    resp = df[df["nps_score"].notna()]
    for plan, rows in resp.groupby("plan"):
        s = rows["nps_score"].to_numpy()
        hand = 100 * ((s >= 9).sum() - (s <= 6).sum()) / len(s)
        assert out["nps"]["plan"].loc[plan, "n"] == len(s)
        assert abs(out["nps"]["plan"].loc[plan, "nps"] - hand) < 1e-9
    assert out["churn"].nobs == len(resp)  # the formula fits see the respondents only
    assert out["churn"].cov_type == "HC1" and out["spend"].cov_type == "HC1" and out["returns"].cov_type == "HC1"
    assert set(times) == {"peer: read CSV", "peer: respondents + NPS by segment", "peer: spend (gamma GLM, HC1)",
                          "peer: churn (logit, HC1)", "peer: returns (Poisson GLM, HC1)", "peer: k-means (k = 4)"}


@pytest.mark.slow
def test_benchmark_ratio_of_report_to_peer(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--customers", "20000", "--ratio-only",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads((tmp_path / "ratio_20000.json").read_text())
    stages = {k: v for k, v in res["peer_s"].items() if k != "peer: total"}
    assert len(stages) == 6 and abs(res["peer_s"]["peer: total"] - sum(stages.values())) < 1e-9
    assert abs(res["ratio"] - res["report_s"] / res["peer_s"]["peer: total"]) < 1e-12
    assert set(res["notebook_seconds"]) == {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert "ratio = report / peer" in r.stdout
