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
