"""The full report on generated exports shaped like the real ones that broke the first version
(``tests/shapes.py``): every page, no error cell, and no claim the data do not support."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .shapes import BANK_CONFIG, MARKETPLACE_CONFIG, bank_churn_like, marketplace_like

pytestmark = pytest.mark.slow


def _report(tmp_path, frame, config, *extra):
    data = tmp_path / "export.csv"
    frame.to_csv(data, index=False)
    cfg = tmp_path / "cx.yaml"
    cfg.write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "cxanalysis.cli", "report", str(data), "--config", str(cfg),
                           "--out", str(tmp_path / "reports"), *extra], capture_output=True, text=True, timeout=900)


def _results(tmp_path):
    return json.loads(next((tmp_path / "reports").glob("*/results.json")).read_text())


def test_bank_shape_report_is_whole_and_claims_nothing_unsupported(tmp_path):
    """Near-separation through a complaint flag, any-spend separated by a country, 1-5 score.
    CX has no effect on churn in the generator, so a churn effect must be flagged or cover 0."""
    proc = _report(tmp_path, bank_churn_like(), BANK_CONFIG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LinAlgWarning" not in proc.stderr
    res = _results(tmp_path)
    assert not res["run"].get("errors")
    assert len(list((tmp_path / "reports").glob("*/0*.html"))) == 6
    for contrast, eff in res["effects"]["churn"].items():
        assert eff["flagged"] or eff["ci_low"] <= 0 <= eff["ci_high"], (contrast, eff)
    assert "roi" in res and "passive_to_promoter" in res["roi"]


def test_marketplace_shape_tiny_last_quarter_is_refused_then_report_runs(tmp_path):
    """A partial last quarter of four customers: exit 2 naming the quarters large enough;
    ``--quarter`` on one of them gives every page; one-customer states are not tested."""
    frame = marketplace_like()
    proc = _report(tmp_path, frame, MARKETPLACE_CONFIG)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "2018Q2" in proc.stderr and "2018Q1" in proc.stderr and "--quarter" in proc.stderr
    proc = _report(tmp_path, frame, MARKETPLACE_CONFIG, "--quarter", "2018Q1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path)
    assert res["quarter"] == "2018Q1"
    assert not res["run"].get("errors")
    assert len(list((tmp_path / "reports").glob("*/0*.html"))) == 6
    small = [s for s in res["segments"] if s["n"] < 30]
    assert small and all(not s.get("differs") for s in small)
