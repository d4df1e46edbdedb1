"""The command line: exit codes and messages, run as a user would (a subprocess)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxanalysis.sample import make_customers

from .conftest import real_export


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cxanalysis.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_sample_then_validate_is_clean(tmp_path):
    r = cli("sample", "--customers", 800, "--quarters", 2, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    data = pd.read_csv(tmp_path / "customers.csv")
    assert data.groupby("quarter").size().tolist() == [800, 800]  # the whole base
    answered = data["nps_score"].notna()
    assert 0.2 < answered.mean() < 0.45  # non-respondents have no score
    v = cli("validate", tmp_path / "customers.csv")
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith("OK: 1,600 rows read, 1,600 kept")  # non-respondents are kept, not dropped
    quarters = sorted(data["quarter"].unique())  # counts over every quarter say so
    assert (f"Over the export's 2 quarters ({quarters[0]} to {quarters[1]}), {(~answered).sum():,} customer rows "
            f"have no CX score") in v.stdout
    every = cli("sample", "--customers", 300, "--quarters", 1, "--everyone-answers", "--out", tmp_path / "all")
    assert every.returncode == 0, every.stderr
    assert pd.read_csv(tmp_path / "all" / "customers.csv")["nps_score"].notna().all()


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


# --- issue 12 --------------------------------------------------------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def respondents() -> dict[str, int]:
    """Respondents (rows with an NPS score) per quarter of the bundled sample, oldest first."""
    raw = pd.read_csv(SAMPLE / "customers.csv")
    return raw.dropna(subset=["nps_score"]).groupby("quarter").size().to_dict()


def test_validate_bundled_sample_with_quarter():
    """Regression: --quarter on a file with a quarter column raised 'assignment destination is
    read-only' (pandas 3)."""
    r = cli("validate", SAMPLE, "--quarter", "2026Q3")
    assert r.returncode == 0, r.stderr
    n = respondents()
    assert f"Report quarter 2026Q3: {n['2026Q3']:,} respondents." in r.stdout
    assert "Warnings" not in r.stdout


@pytest.mark.parametrize("command", ["validate", "report"])
def test_quarter_absent_from_the_data_exits_2(tmp_path, command):
    r = cli(command, SAMPLE, "--quarter", "2027Q1", "--out", tmp_path) if command == "report" else \
        cli(command, SAMPLE, "--quarter", "2027Q1")
    assert r.returncode == 2, r.stderr
    n = respondents()
    assert ("--quarter 2027Q1 is not in the data. Quarters present, with their respondents: "
            + ", ".join(f"{q} ({k:,})" for q, k in n.items())) in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "2027Q1").exists()


@pytest.fixture
def tiny_last_quarter(tmp_path):
    """150 and 120 customers in 2026Q1-Q2, then a partial 2026Q3 of 4."""
    frames = [make_customers(n, 1, start=q, random_state=i)
              for i, (n, q) in enumerate([(150, "2026Q1"), (120, "2026Q2"), (4, "2026Q3")])]
    path = tmp_path / "export.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["validate", "report"])
def test_tiny_latest_quarter_exits_2_naming_the_large_ones(tmp_path, tiny_last_quarter, command):
    extra = ["--out", tmp_path / "reports"] if command == "report" else []
    r = cli(command, tiny_last_quarter, *extra)
    assert r.returncode == 2, r.stderr
    assert "Report quarter 2026Q3 (the latest in the data) has 4 respondents" in r.stderr
    assert "Quarters large enough: 2026Q1 (150), 2026Q2 (120)" in r.stderr
    assert "cxanalysis report DATA --quarter 2026Q2" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "reports").exists()  # stopped before any notebook ran


def test_validate_small_quarter_chosen_warns_about_the_tiny_one(tiny_last_quarter):
    r = cli("validate", tiny_last_quarter, "--quarter", "2026Q2")
    assert r.returncode == 0, r.stderr
    assert "Report quarter 2026Q2: 120 respondents." in r.stdout
    warnings = r.stdout.split("Warnings:\n", 1)[1]
    assert "  - Report quarter 2026Q2 has 120 respondents, under twice the minimum of 100" in warnings
    (tiny_last_quarter.parent / "cx.yaml").write_text("min_quarter_respondents: 4\n")
    r = cli("validate", tiny_last_quarter, "--config", tiny_last_quarter.parent / "cx.yaml")
    assert r.returncode == 0 and "Report quarter 2026Q3: 4 respondents." in r.stdout


def test_validate_warns_about_separation_and_empty_columns(tmp_path):
    f = make_customers(300, 1, start="2026Q3", random_state=2)
    f.loc[f["plan"] == "Pro", "churned"] = 0
    f["returns"] = np.nan
    f.to_csv(tmp_path / "e.csv", index=False)
    r = cli("validate", tmp_path / "e.csv")
    assert r.returncode == 0, r.stderr
    assert "Warnings:\n" in r.stdout
    assert "'returns' is in the export but empty in 2026Q3: returns analyses will be skipped." in r.stdout
    assert "the churn model will fall back to Firth's correction" in r.stdout
    assert "customers with plan = Pro have churned = 0" in r.stdout


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "Input 'e.csv' is empty (0 bytes)"),
     (b"customer_id,quarter,nps_score\n", "Input 'e.csv' has a header but no rows")],
)
def test_empty_and_header_only_files_exit_2(tmp_path, content, match):
    (tmp_path / "e.csv").write_bytes(content)
    r = cli("validate", tmp_path / "e.csv")
    assert r.returncode == 2
    assert match in r.stderr and "Traceback" not in r.stderr


def test_european_export_validates_with_a_note(tmp_path):
    f = make_customers(120, 1, start="2026Q3", random_state=4)
    f["region"] = f["region"].replace({"North": "São Paulo", "South": "Córdoba"})
    path = tmp_path / "e.csv"
    f.to_csv(path, sep=";", decimal=",", encoding="cp1252", index=False)
    r = cli("validate", path)
    assert r.returncode == 0, r.stderr
    assert "note: Read as semicolon-separated, decimal comma, encoding cp1252 (detected)." in r.stdout
    path.write_bytes(b"customer_id;quarter;nps_score;spend\nA;2026Q3;9;1,250\nB;2026Q3;7;2,500\n")
    r = cli("validate", path)
    assert r.returncode == 2
    assert "could be a decimal comma (1.250) or a thousands separator (1250)" in r.stderr
    assert "io:\n    decimal:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_exports_validate_and_name_the_report_quarter(name):
    data, config = real_export(name)
    r = cli("validate", data, "--config", config)
    assert r.returncode == 0, r.stderr
    assert "Report quarter 2026Q3:" in r.stdout
    if name == "telco":  # satisfaction 3 (passive) customers never churn in the IBM sample
        assert "customers with CX category = passive have churned = 0" in r.stdout


def test_sample_writes_comments_in_several_languages(tmp_path):
    """`cxanalysis sample --comment-languages pt,es,de` writes Portuguese, Spanish and German
    comments (the languages the themes recover); an unknown code is exit 2."""
    import pandas as pd

    from cxanalysis.cli import main
    from cxanalysis.text import detect_languages

    assert main(["sample", "--customers", "600", "--quarters", "1", "--comment-languages", "pt,es,de",
                 "--out", str(tmp_path)]) == 0
    comments = pd.read_csv(tmp_path / "customers.csv")["comment"].dropna()
    langs = pd.Series(detect_languages(comments.tolist())[0]).value_counts(normalize=True)
    assert {"pt", "es", "de"} <= set(langs[langs > 0.2].index)
    assert main(["sample", "--comment-languages", "xx", "--out", str(tmp_path)]) == 2
