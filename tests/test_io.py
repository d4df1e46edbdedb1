"""Reading, mapping, parsing, validating and cleaning exports."""

import hashlib
import sqlite3

import numpy as np
import pandas as pd
import pytest

from cxanalysis.io import DataError, load, parse_binary, parse_quarter
from cxanalysis.schema import ValidationError


def _frame(n=6):
    return pd.DataFrame({
        "customer_id": [f"A{i}" for i in range(n)],
        "nps_score": [10, 9, 8, 7, 3, 0][:n],
        "spend": [100.0, 50.5, 0.0, 20.0, 10.0, 5.0][:n],
        "orders": [2, 1, 1, 3, 1, 0][:n],
        "returns": [0, 1, 0, 1, 0, 0][:n],
        "churned": ["Yes", "no", "Y", "n", "TRUE", "false"][:n],
        "plan": ["Gold", "Silver", "Gold", "Gold", "Silver", "Gold"][:n],
    })


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "export.csv"
    _frame().to_csv(path, index=False)
    return path


# --- formats -----------------------------------------------------------------------------------


def _check_loaded(result):
    d = result.data
    assert len(d) == 6
    assert d["churned"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert d["nps_score"].tolist() == [10, 9, 8, 7, 3, 0]
    assert set(d["quarter"]) == {"2026Q3"}


def test_reads_csv(csv):
    _check_loaded(load(csv, quarter="2026Q3"))


def test_reads_parquet_and_excel(tmp_path):
    _frame().to_parquet(tmp_path / "e.parquet")
    _frame().to_excel(tmp_path / "e.xlsx", index=False)
    _check_loaded(load(tmp_path / "e.parquet", quarter="2026Q3"))
    _check_loaded(load(tmp_path / "e.xlsx", quarter="2026Q3"))


def test_reads_sql_via_sqlalchemy_and_duckdb(tmp_path):
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as con:
        _frame().to_sql("customers", con, index=False)
    _check_loaded(load(f"sqlite:///{db}", quarter="2026Q3", query="select * from customers"))
    import duckdb

    ddb = tmp_path / "crm.duckdb"
    with duckdb.connect(str(ddb)) as con:
        frame = _frame()  # noqa: F841 - read by duckdb by name
        con.execute("create table customers as select * from frame")
    _check_loaded(load(ddb, quarter="2026Q3", query="select * from customers"))
    with pytest.raises(DataError, match="needs a query"):
        load(f"sqlite:///{db}", quarter="2026Q3")


def test_folder_of_quarterly_files_is_stacked(tmp_path):
    _frame().to_csv(tmp_path / "export_2026Q2.csv", index=False)
    _frame().to_csv(tmp_path / "export_2026Q3.csv", index=False)
    d = load(tmp_path).data
    assert d.groupby("quarter").size().to_dict() == {"2026Q2": 6, "2026Q3": 6}
    assert d["customer_id"].duplicated().sum() == 6  # same ids, different quarters: allowed


def test_input_file_is_never_modified(csv):
    before = hashlib.sha256(csv.read_bytes()).hexdigest(), csv.stat().st_mtime_ns
    res = load(csv, quarter="2026Q3")
    assert (hashlib.sha256(csv.read_bytes()).hexdigest(), csv.stat().st_mtime_ns) == before
    assert res.report.inputs[0]["sha256"] == before[0]
    assert res.report.inputs[0]["rows"] == 6


# --- mapping -----------------------------------------------------------------------------------


def test_column_mapping(tmp_path):
    f = _frame().rename(columns={"customer_id": "Acct ID", "nps_score": "How likely (0-10)?", "spend": "Rev_Q"})
    path = tmp_path / "e.csv"
    f.to_csv(path, index=False)
    cfg = {"columns": {"customer_id": "Acct ID", "nps_score": "How likely (0-10)?", "spend": "Rev_Q",
                       "mrr": "Rev_Q"}}
    d = load(path, cfg, quarter="2026Q3").data
    assert d["spend"].tolist() == d["mrr"].tolist() == [100.0, 50.5, 0.0, 20.0, 10.0, 5.0]
    assert "Rev_Q" not in d


def test_mapping_to_absent_column_names_it_with_a_hint(csv):
    with pytest.raises(DataError, match=r"maps 'spend' to column 'Spnd'.*Did you mean 'spend'"):
        load(csv, {"columns": {"spend": "Spnd"}}, quarter="2026Q3")
    with pytest.raises(DataError, match=r"'columns.spnd' in cx.yaml is not a canonical column. Did you mean 'spend'"):
        load(csv, {"columns": {"spnd": "spend"}}, quarter="2026Q3")


def test_missing_required_columns(tmp_path):
    p = tmp_path / "e.csv"
    _frame().drop(columns="customer_id").to_csv(p, index=False)
    with pytest.raises(DataError, match="Required column 'customer_id' is missing"):
        load(p, quarter="2026Q3")
    _frame().drop(columns="nps_score").to_csv(p, index=False)
    with pytest.raises(DataError, match=r"None of the CX scores \(nps_score, csat, ces\)"):
        load(p, quarter="2026Q3")


def test_no_quarter_anywhere_is_an_error(csv):
    with pytest.raises(DataError, match="no 'quarter' column and no quarter was given"):
        load(csv)


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026Q3", "2026Q3"), ("2026-Q3", "2026Q3"), ("2026 q3", "2026Q3"), ("Q3 2026", "2026Q3"),
     ("Q1-2027", "2027Q1"), ("2026-08-15", "2026Q3"), ("2026-12-31 10:00", "2026Q4"), ("12/31/2025", "2025Q4"),
     ("Q3", None), ("2026Q5", None), ("next quarter", None), (None, None)],
)
def test_parse_quarter(text, expected):
    assert parse_quarter(text) == expected


def test_quarter_column_in_every_spelling(tmp_path):
    f = _frame().assign(quarter=["2026Q3", "Q3 2026", "2026-Q3", "2026-07-01", "2026Q2", "Q2 2026"])
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    assert load(p).data["quarter"].tolist() == ["2026Q3"] * 4 + ["2026Q2"] * 2


@pytest.mark.parametrize(
    ("values", "parsed"),
    [(["yes", "No", "Y", "n", "TRUE", "false", "1", "0", "t", "F", None],
      [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, np.nan]),
     ([1, 0, 1.0, None], [1, 0, 1, np.nan]),
     ([True, False], [1, 0])],
)
def test_parse_binary(values, parsed):
    out, bad = parse_binary(pd.Series(values))
    np.testing.assert_array_equal(out.to_numpy(), np.array(parsed, dtype=float))
    assert not bad.any()


def test_parse_binary_flags_unknown_words():
    out, bad = parse_binary(pd.Series(["yes", "maybe", "2"]))
    assert bad.tolist() == [False, True, True]


# --- validation rules: one test per rule, with its message --------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"nps_score": [11, 9, 8, 7, 3, 0]}, r"'nps_score' must hold integers from 0 to 10; 1 row do not \(e.g. row 1 \(id A0\): 11\)"),
        ({"nps_score": [10, 9.5, 8, 7, 3, 0]}, r"'nps_score' must hold integers from 0 to 10.*9.5"),
        ({"nps_score": ["10", "n/a", "8", "7", "3", "0"]}, r"'nps_score' must hold numbers; 1 row do not \(e.g. row 2 \(id A1\): 'n/a'\).*empty cell"),
        ({"spend": [-5.0, 1, 1, 1, 1, 1]}, r"'spend' must be 0 or more.*row 1 \(id A0\): -5"),
        ({"spend": ["abc", 1, 1, 1, 1, 1]}, r"'spend' must hold numbers.*'abc'"),
        ({"orders": [2, 1, 1, 3, 1, -1]}, r"'orders' must hold whole numbers of 0 or more"),
        ({"returns": [3, 1, 0, 1, 0, 0]}, r"'returns' must not exceed 'orders'.*row 1 \(id A0\): 3"),
        ({"churned": ["Yes", "maybe", "Y", "n", "TRUE", "false"]}, r"'churned' must be a yes/no flag.*'maybe'"),
        ({"customer_id": ["A0", "A0", "A2", "A3", "A4", "A5"]}, r"'customer_id' must be unique within a quarter; 2 rows do not"),
        ({"csat": [6, 5, 4, 3, 2, 1]}, r"'csat' must hold numbers from 1 to 5.*scales.csat"),
        ({"ces": [0, 5, 4, 3, 2, 1]}, r"'ces' must hold numbers from 1 to 7"),
        ({"age": [130, 30, 30, 30, 30, 30]}, r"'age' must be between 0 and 120"),
        ({"weight": [0, 1, 1, 1, 1, 1]}, r"'weight' must be a survey weight above 0"),
        ({"quarter": ["Q3"] * 6}, r"'quarter' must look like 2026Q3.*without a year"),
    ],
)
def test_each_rule_reports_column_rule_rows_and_fix(tmp_path, change, match):
    f = _frame()
    for col, values in change.items():
        f[col] = values
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    with pytest.raises(ValidationError, match=match):
        load(p, quarter=None if "quarter" in change else "2026Q3")


def test_all_problems_are_reported_at_once(tmp_path):
    f = _frame()
    f["nps_score"] = ["11", "n/a", "8", "7", "3", "0"]
    f["spend"] = [-1.0, 1, 1, 1, 1, 1]
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    with pytest.raises(ValidationError) as info:
        load(p, quarter="2026Q3")
    cols = sorted(pr.column for pr in info.value.problems)
    assert cols == ["nps_score", "nps_score", "spend"]
    assert "3 problems" in str(info.value)


# --- cleaning ----------------------------------------------------------------------------------


def test_cleaning_counts_every_dropped_row(tmp_path):
    f = _frame()
    f = pd.concat([f, f.iloc[[1]]], ignore_index=True)  # exact duplicate
    f.loc[len(f)] = [None, 5, 1.0, 1, 0, "no", "Gold"]  # no id
    f.loc[len(f)] = ["B9", None, 1.0, 1, 0, "no", "Gold"]  # no score
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    res = load(p, quarter="2026Q3")
    rep = res.report
    assert (rep.rows_in, rep.rows_out) == (9, 6)
    steps = {s["rule"]: s for s in rep.steps}
    assert steps["no customer_id"]["rows_dropped"] == 1
    assert steps["exact duplicate of an earlier row"] == {"rule": "exact duplicate of an earlier row", "rows_dropped": 1, "example_ids": ["A1"]}
    assert steps["no CX score (did not answer the survey)"]["example_ids"] == ["B9"]
    assert sum(s["rows_dropped"] for s in rep.steps) == rep.rows_in - rep.rows_out


def test_drop_mode_removes_and_counts_invalid_rows(tmp_path):
    f = _frame()
    f["nps_score"] = ["11", "n/a", "8", "7", "3", "0"]
    f["spend"] = [-1.0, 1, 1, 1, 1, 1]  # same row as the 11: counted once
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    res = load(p, {"cleaning": {"invalid_rows": "drop"}}, quarter="2026Q3")
    assert res.report.rows_out == 4
    assert sorted(res.data["customer_id"]) == ["A2", "A3", "A4", "A5"]
    assert sum(s["rows_dropped"] for s in res.report.steps) == 2
    assert res.data["nps_score"].dtype == np.int64


def test_na_markers_are_missing_but_na_text_is_not(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("customer_id,nps_score,spend\nA,9,NA\nB,8,\nC,7,NULL\n")
    d = load(p, quarter="2026Q3").data
    assert d["spend"].isna().all()
