"""The command line: exit codes and messages, run as a user would (a subprocess)."""

import subprocess
import sys

import pandas as pd
import pytest

from cxanalysis.sample import make_customers


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cxanalysis.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_sample_then_validate_is_clean(tmp_path):
    r = cli("sample", "--customers", 300, "--quarters", 2, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    data = pd.read_csv(tmp_path / "customers.csv")
    assert data.groupby("quarter").size().tolist() == [300, 300]
    v = cli("validate", tmp_path / "customers.csv")
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith("OK: 600 rows read, 600 kept")


def test_corrupted_export_exits_2_with_one_message_per_problem(tmp_path):
    """Scores of 11 and "n/a", negative spend, duplicate ids, text in a numeric column."""
    f = make_customers(50, 1, random_state=3)
    f["nps_score"] = f["nps_score"].astype(object)
    f.loc[3, "nps_score"] = 11
    f.loc[4, "nps_score"] = "n/a"
    f.loc[5, "spend"] = -20.0
    f.loc[7, "customer_id"] = f.loc[6, "customer_id"]
    f["orders"] = f["orders"].astype(object)
    f.loc[8, "orders"] = "three"
    path = tmp_path / "bad.csv"
    f.to_csv(path, index=False)
    r = cli("validate", path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    for expected in ["'nps_score' must hold integers from 0 to 10", "'nps_score' must hold numbers",
                     "'spend' must be 0 or more", "'customer_id' must be unique within a quarter",
                     "'orders' must hold numbers"]:
        assert expected in r.stderr, expected
    assert "row 5 (id C100005): 'n/a'" in r.stderr


def test_missing_required_column_exits_2(tmp_path):
    f = make_customers(20, 1, random_state=3).drop(columns="customer_id")
    f.to_csv(tmp_path / "e.csv", index=False)
    r = cli("validate", tmp_path / "e.csv")
    assert r.returncode == 2 and "Required column 'customer_id' is missing" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "match"),
    [(["validate", "no/such/file.csv"], "does not exist"),
     (["report", "no/such/file.csv"], "does not exist"),
     (["validate", "{sample}", "--config", "{bad_config}"], "Did you mean 'gross_margin'"),
     (["validate", "{sample}", "--quarter", "Q9"], "--quarter must look like")],
)
def test_user_mistakes_exit_2_without_traceback(tmp_path, args, match):
    make_customers(20, 1, random_state=1).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "cx.yaml").write_text("roi:\n  gross_margn: 0.3\n")
    args = [a.format(sample=tmp_path / "s.csv", bad_config=tmp_path / "cx.yaml") for a in args]
    r = cli(*args)
    assert r.returncode == 2
    assert match in r.stderr
    assert "Traceback" not in r.stderr
