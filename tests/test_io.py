"""Reading, mapping, parsing, validating and cleaning exports."""

import hashlib
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxanalysis.io import DataError, check_report_quarter, load, parse_binary, parse_quarter
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
    # one column read as a month's revenue (mrr) and as a quarter's (spend): said, with the fix
    (note,) = [n for n in load(path, cfg, quarter="2026Q3").report.notes if "Spend and MRR" in n]
    assert "'Rev_Q'" in note and "spend_period: month" in note
    monthly = load(path, {**cfg, "spend_period": "month"}, quarter="2026Q3")
    assert not any("Spend and MRR" in n for n in monthly.report.notes)
    assert monthly.data["spend"].tolist() == [300.0, 151.5, 0.0, 60.0, 30.0, 15.0]


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
    # the row with no score is a non-respondent: kept as the base, not dropped
    assert (rep.rows_in, rep.rows_out, rep.respondents) == (9, 7, 6)
    steps = {s["rule"]: s for s in rep.steps}
    assert set(steps) == {"no customer_id", "exact duplicate of an earlier row"}
    assert steps["no customer_id"]["rows_dropped"] == 1
    assert steps["exact duplicate of an earlier row"] == {"rule": "exact duplicate of an earlier row", "rows_dropped": 1, "example_ids": ["A1"]}
    assert res.nonrespondents["customer_id"].tolist() == ["B9"] and len(res.data) == 6
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


# --- issue 12: --quarter on a file with a quarter column (pandas 3 read-only arrays) -----------


def test_quarter_given_for_a_file_with_a_quarter_column(tmp_path):
    """Regression: ``missing[:] = False`` wrote into the read-only array pandas 3 returns."""
    f = _frame().assign(quarter=["2026Q3", "2026Q3", None, "2026Q2", "2026Q2", None])
    p = tmp_path / "e.csv"
    f.to_csv(p, index=False)
    d = load(p, quarter="2026Q3").data
    assert d["quarter"].tolist() == ["2026Q3", "2026Q3", "2026Q3", "2026Q2", "2026Q2", "2026Q3"]
    with pytest.raises(ValidationError, match="'quarter' must not be empty; 2 rows"):
        load(p)


def test_quarter_given_for_the_bundled_sample():
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "data" / "sample"
    loaded = load(sample, quarter="2026Q3")
    raw = pd.read_csv(sample / "customers.csv")  # the whole base; respondents are the rows with a score
    assert loaded.data.groupby("quarter").size().to_dict() == raw.dropna(subset=["nps_score"]).groupby("quarter").size().to_dict()
    assert len(loaded.data) + len(loaded.nonrespondents) == len(raw)
    assert [r["base"] for r in loaded.report.response] == raw.groupby("quarter").size().tolist()


# --- issue 12: empty and header-only files -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [("e.csv", b"", r"Input 'e.csv' is empty \(0 bytes\)\. Expected an export with a header row"),
     ("e.csv", b"\xef\xbb\xbf \r\n\n", r"Input 'e.csv' is empty"),
     ("e.xlsx", b"", r"Input 'e.xlsx' is empty \(0 bytes\)"),
     ("e.parquet", b"", r"Input 'e.parquet' is empty"),
     ("e.csv", b"customer_id,nps_score,spend\n", r"'e.csv' has a header but no rows \(columns: customer_id, nps_score, spend\)"),
     ("e.csv", b"customer_id;nps_score\r\n", r"has a header but no rows")],
)
def test_empty_and_header_only_files_are_data_errors(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=match):
        load(tmp_path / name, quarter="2026Q3")


def test_header_only_parquet_and_empty_query(tmp_path):
    _frame().iloc[:0].to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match="has a header but no rows"):
        load(tmp_path / "e.parquet", quarter="2026Q3")
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as con:
        _frame().to_sql("customers", con, index=False)
    with pytest.raises(DataError, match="returned no rows"):
        load(f"sqlite:///{db}", quarter="2026Q3", query="select * from customers where 1 = 0")


# --- issue 12: European / Latin-American spreadsheet exports -------------------------------------


EU_ROWS = [
    ("A1", 9, "1.234,5", "Señor", "São Paulo", "0"),
    ("A2", 6, "12,5", "Básico", "Córdoba", "1"),
    ("A3", 10, "0,75", "Señor", "Ñuñoa", "0"),
    ("A4", 7, "2.000", "Básico", "São Paulo", "1"),
]


def _eu_file(tmp_path, *, sep=";", encoding="cp1252", rows=EU_ROWS, name="eu.csv", header=None):
    header = header or ["customer_id", "nps_score", "spend", "plan", "region", "churned"]
    text = "\r\n".join(sep.join(map(str, r)) for r in [header, *rows]) + "\r\n"
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_decimal_comma_cp1252_export(tmp_path):
    path = _eu_file(tmp_path)
    before = path.read_bytes()
    res = load(path, quarter="2026Q3")
    d = res.data
    assert d["spend"].tolist() == [1234.5, 12.5, 0.75, 2000.0]  # thousands dot and decimal comma
    assert d["plan"].tolist() == ["Señor", "Básico", "Señor", "Básico"]
    assert d["region"].tolist() == ["São Paulo", "Córdoba", "Ñuñoa", "São Paulo"]
    assert d["churned"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert "Read as semicolon-separated, decimal comma, encoding cp1252 (detected)." in res.report.notes
    assert res.report.inputs[0]["format"]["encoding"] == "cp1252"
    assert path.read_bytes() == before  # never modified


@pytest.mark.parametrize(
    ("sep", "encoding", "note"),
    [("\t", "utf-8-sig", "tab-separated, decimal comma, encoding utf-8-sig"),
     ("|", "utf-8", "pipe-separated, decimal comma, encoding utf-8"),
     ("\t", "utf-16", "tab-separated, decimal comma, encoding utf-16")],  # Excel "Unicode text"
)
def test_other_delimiters_and_encodings(tmp_path, sep, encoding, note):
    res = load(_eu_file(tmp_path, sep=sep, encoding=encoding, name="e.txt"), quarter="2026Q3")
    assert res.data["spend"].tolist() == [1234.5, 12.5, 0.75, 2000.0]
    assert res.data["region"].tolist()[0] == "São Paulo"
    assert any(note in n for n in res.report.notes)


def test_plain_csv_gets_no_format_note(csv):
    assert not any(n.startswith("Read ") for n in load(csv, quarter="2026Q3").report.notes)


def test_decimal_point_with_thousands_commas_in_a_semicolon_file(tmp_path):
    rows = [("A1", 9, "1,234.5"), ("A2", 6, "12.5"), ("A3", 7, "3")]
    res = load(_eu_file(tmp_path, rows=rows, header=["customer_id", "nps_score", "spend"]), quarter="2026Q3")
    assert res.data["spend"].tolist() == [1234.5, 12.5, 3.0]


def test_decimal_comma_column_with_a_bad_cell_reports_the_cell(tmp_path):
    rows = [(*r[:2], "n/a" if r[0] == "A2" else r[2], *r[3:]) for r in EU_ROWS]
    with pytest.raises(ValidationError, match=r"'spend' must hold numbers; 1 row do not \(e.g. row 2 \(id A2\): 'n/a'\)"):
        load(_eu_file(tmp_path, rows=rows), quarter="2026Q3")
    d = load(_eu_file(tmp_path, rows=rows), {"cleaning": {"invalid_rows": "drop"}}, quarter="2026Q3").data
    assert d["spend"].tolist() == [1234.5, 0.75, 2000.0]


def test_ids_and_labels_that_look_like_numbers_stay_text(tmp_path):
    rows = [("1.234", 9, "12,5", "1.000"), ("2.345", 6, "3,5", "2.000")]
    d = load(_eu_file(tmp_path, rows=rows, header=["customer_id", "nps_score", "spend", "plan"]),
             quarter="2026Q3").data
    assert d["customer_id"].tolist() == ["1.234", "2.345"]
    assert d["plan"].tolist() == ["1.000", "2.000"]


def test_columns_read_in_chunks_are_typed_as_if_read_whole(tmp_path):
    """The CSV is read in chunks (fast), but a column that is numbers in one chunk and text in a
    later one is read as text throughout, as a whole-column read would: zero-padded ids keep
    their zeros, and every row keeps its value."""
    from cxanalysis.io import NA_VALUES, _read_csv_columns
    from cxanalysis.sniff import detect_format

    n = 300_000  # several of pandas' chunks
    ids = [f"{i:06d}" for i in range(n)]
    ids[-1] = "X-1"
    tickets = [str(i % 5) for i in range(n)]
    tickets[-2] = "n/a"
    frame = pd.DataFrame({"customer_id": ids, "nps_score": np.arange(n) % 11, "support_tickets": tickets,
                          "plan": ["Gold"] * n})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    fmt = detect_format(path)
    whole = pd.read_csv(path, sep=fmt.delimiter, encoding=fmt.encoding, keep_default_na=False,
                        na_values=NA_VALUES, low_memory=False)
    chunked = _read_csv_columns(path, fmt)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["customer_id"].iloc[0] == "000000" and chunked["customer_id"].iloc[-1] == "X-1"
    d = load(path, {"cleaning": {"invalid_rows": "drop"}}, quarter="2026Q3")
    assert d.data["customer_id"].iloc[0] == "000000"
    assert d.report.rows_out == n - 1  # the 'n/a' ticket count breaks a rule: dropped and counted


def test_cp1252_after_the_first_megabyte(tmp_path):
    """UTF-8-looking start, a Latin-1 name near the end: read again as cp1252."""
    rows = [(f"A{i}", 9, "1.5", "Gold", "North", "0") for i in range(40_000)]
    rows.append(("Z1", 7, "2.5", "Gold", "São Paulo", "1"))
    path = _eu_file(tmp_path, sep=",", rows=rows)
    assert path.stat().st_size > 1 << 20
    res = load(path, quarter="2026Q3")
    assert res.data["region"].iat[-1] == "São Paulo"
    assert any("encoding cp1252" in n for n in res.report.notes)


@pytest.mark.parametrize(
    ("io_options", "expected_spend", "note"),
    [({"delimiter": ";", "decimal": ",", "encoding": "latin-1"}, [1234.5, 12.5, 0.75, 2000.0],
      "(from 'io' in cx.yaml)"),
     ({"encoding": "cp1252"}, [1234.5, 12.5, 0.75, 2000.0], "(delimiter and decimal detected, the rest from 'io' in cx.yaml)")],
)
def test_io_options_in_config_are_used(tmp_path, io_options, expected_spend, note):
    res = load(_eu_file(tmp_path), {"io": io_options}, quarter="2026Q3")
    assert res.data["spend"].tolist() == expected_spend
    assert res.data["plan"].tolist()[0] == "Señor"
    assert any(n.endswith(note + ".") for n in res.report.notes)


@pytest.mark.parametrize(
    ("rows", "sep", "encoding", "io_options", "match"),
    [
        # '1,234' alone: decimal comma or thousands separator?
        ([("A1", 9, "1,234"), ("A2", 6, "2,500")], ";", "utf-8", {},
         r"(?s)could be a decimal comma \(1.234\) or a thousands separator \(1234\).*io:\n    decimal:"),
        ([("A1", 9, "12,5"), ("A2", 6, "3.25")], ";", "utf-8", {},
         r"(?s)both decimal marks \(e.g. '12,5' and '3.25'\).*io:\n    decimal"),
        # Cyrillic saved in cp1251 reads as accented gibberish in cp1252: refused
        ([("A1", 9, "Привет"), ("A2", 6, "Москва"), ("A3", 7, "Санкт-Петербург"), ("A4", 8, "Новосибирск")],
         ";", "cp1251", {}, r"(?s)looks garbled.*io:\n    encoding: cp1251"),
        ([("A1", 9, "São Paulo")], ";", "cp1252", {"encoding": "utf-8"},
         r"cannot be read as utf-8 \('io.encoding'\): byte 0xe3"),
    ],
)
def test_ambiguous_or_unreadable_format_names_the_io_option(tmp_path, rows, sep, encoding, io_options, match):
    path = _eu_file(tmp_path, rows=rows, sep=sep, encoding=encoding, header=["customer_id", "nps_score", "x"])
    with pytest.raises(DataError, match=match):
        load(path, {"io": io_options}, quarter="2026Q3")


def test_no_delimiter_and_two_delimiters(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("customer_id nps_score\nA1 9\n")
    with pytest.raises(DataError, match=r"(?s)no comma, semicolon, tab or pipe splits the header.*io:\n    delimiter"):
        load(p, quarter="2026Q3")
    p.write_text("customer_id;nps_score,spend\nA1;9,1\nA2;8,2\n")
    with pytest.raises(DataError, match=r"(?s)delimiter is ambiguous.*io:\n    delimiter"):
        load(p, quarter="2026Q3")
    p.write_text("customer_id;nps_score,x\nA1;9,1\nA2;8,2\n")
    d = load(p, {"io": {"delimiter": ";", "decimal": "."}, "columns": {"nps_score": "nps_score,x"},
                 "cleaning": {"invalid_rows": "drop"}}, quarter="2026Q3").data
    assert d["customer_id"].tolist() == []  # read with the delimiter given; '9,1' is not a score


PLACES = ["São Paulo", "Córdoba", "Ñuñoa", "Zürich", "Île-de-France", "Bogotá, D.C.", "Señor Plan",
          "Gold", "Köln", "Málaga", "Curaçao", "Lodz", "O'Higgins", 'Plan "Plus"']


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 10), st.floats(0, 999_999, allow_nan=False).map(lambda x: round(x, 2)),
                            st.sampled_from(PLACES), st.sampled_from(PLACES)), min_size=1, max_size=12),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    comma=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_spreadsheet_round_trip(tmp_path, rows, sep, comma, encoding):
    """Frames written with a random delimiter, decimal mark and encoding load back unchanged."""
    decimal = "," if comma and sep != "," else "."
    f = pd.DataFrame(rows, columns=["nps_score", "spend", "plan", "region"])
    f.insert(0, "customer_id", [f"C{i:03d}" for i in range(len(f))])
    path = tmp_path / f"rt_{abs(hash((sep, decimal, encoding, len(rows))))}.csv"
    f.to_csv(path, sep=sep, decimal=decimal, encoding=encoding, index=False)
    res = load(path, quarter="2026Q3")
    d = res.data
    assert d["customer_id"].tolist() == f["customer_id"].tolist()
    assert d["nps_score"].tolist() == f["nps_score"].tolist()
    assert d["spend"].tolist() == f["spend"].tolist()
    assert d["plan"].astype(str).tolist() == f["plan"].tolist()
    assert d["region"].astype(str).tolist() == f["region"].tolist()
    fmt = res.report.inputs[0]["format"]
    assert (fmt["delimiter"], fmt["decimal"]) == (sep, decimal)
    ascii_only = all(str(v).isascii() for v in [*f["plan"], *f["region"]])
    assert fmt["encoding"] == ("utf-8" if encoding == "cp1252" and ascii_only else encoding)


# --- issue 12: the report quarter must be present and large enough -------------------------------


def _quarters(sizes, start="2026Q1", seed=5):
    """A clean canonical table with ``sizes[i]`` customers in the i-th quarter from ``start``."""
    from cxanalysis.sample import make_customers

    q0 = parse_quarter(start)
    frames = []
    for i, n in enumerate(sizes):
        y, q = divmod(int(q0[:4]) * 4 + int(q0[-1]) - 1 + i, 4)
        frames.append(make_customers(n, 1, start=f"{y}Q{q + 1}", random_state=seed + i))
    return pd.concat(frames, ignore_index=True)


def test_report_quarter_defaults_to_the_latest():
    assert check_report_quarter(_quarters([120, 150])) == "2026Q2"
    assert check_report_quarter(_quarters([120, 150]), "Q1 2026") == "2026Q1"


def test_tiny_latest_quarter_names_the_large_ones_and_how_to_pick():
    data = _quarters([150, 130, 4])
    with pytest.raises(DataError) as info:
        check_report_quarter(data)
    msg = str(info.value)
    assert "Report quarter 2026Q3 (the latest in the data) has 4 respondents" in msg
    assert "at least 100 ('min_quarter_respondents' in cx.yaml)" in msg
    assert "Quarters large enough: 2026Q1 (150), 2026Q2 (130)" in msg
    assert "--quarter 2026Q2" in msg and "quarter:" not in msg
    with pytest.raises(DataError, match="Report quarter 2026Q3 has 4 respondents"):
        check_report_quarter(data, "2026Q3")
    assert check_report_quarter(data, config={"min_quarter_respondents": 4}) == "2026Q3"


def test_respondents_are_rows_with_the_categories_score():
    """Rows with a CSAT but no NPS are customers, not NPS respondents."""
    data = _quarters([150])
    data.loc[data.index[:60], "nps_score"] = np.nan
    with pytest.raises(DataError, match=r"has 90 respondents \(rows with 'nps_score'\)"):
        check_report_quarter(data)
    assert check_report_quarter(data, config={"categories": {"score": "csat", "promoter_min": 5,
                                                             "detractor_max": 3}}) == "2026Q1"


def test_no_quarter_large_enough_suggests_lowering_the_minimum():
    with pytest.raises(DataError, match=r"(?s)No quarter has that many \(quarters: 2026Q1 \(30\), 2026Q2 \(20\)\).*min_quarter_respondents: 20"):
        check_report_quarter(_quarters([30, 20]))


def test_absent_quarter_lists_the_quarters_present():
    with pytest.raises(DataError, match=r"--quarter 2027Q1 is not in the data. Quarters present, with their respondents: 2026Q1 \(120\), 2026Q2 \(110\)"):
        check_report_quarter(_quarters([120, 110]), "2027Q1")
    with pytest.raises(DataError, match="No customer rows are left"):
        check_report_quarter(_quarters([120]).iloc[:0])


def test_ragged_rows_name_the_line_and_the_delimiter_option(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("customer_id;nps_score;spend\n" + "".join(f"A{i};9;1\n" for i in range(30)) + "B;9;1;extra\n")
    with pytest.raises(DataError, match=r"(?s)Could not read 'e.csv' as semicolon-separated, decimal point, "
                       r"encoding utf-8 \(detected\): .*line 32.*io:\n    delimiter"):
        load(p, quarter="2026Q3")


def test_quoted_decimal_commas_in_a_comma_file(tmp_path):
    """Comma-separated with quoted "12,5" (e.g. a pt-BR Google Sheets export): not guessed, but
    the error says which io option reads it, and that option does."""
    p = tmp_path / "e.csv"
    p.write_text('customer_id,nps_score,spend\nA1,9,"12,5"\nA2,7,"1.234,75"\nA3,3,4\n')
    with pytest.raises(ValidationError, match=r"(?s)'spend' must hold numbers; 2 rows do not.*"
                       r"Values such as '12,5' use a decimal comma.*io:\n    decimal: \",\""):
        load(p, quarter="2026Q3")
    d = load(p, {"io": {"decimal": ","}}, quarter="2026Q3").data
    assert d["spend"].tolist() == [12.5, 1234.75, 4.0]


def test_notebook_context_with_quarter_on_the_sample():
    """Regression: a notebook run with ``quarter`` set (RunContext.open) hit the read-only array."""
    from pathlib import Path

    from cxanalysis.report import RunContext

    sample = Path(__file__).resolve().parent.parent / "data" / "sample" / "customers.csv"
    ctx = RunContext.open(str(sample), quarter="2026Q3")
    raw = pd.read_csv(sample)
    q3 = raw[raw["quarter"] == "2026Q3"]
    assert ctx.quarter == "2026Q3" and len(ctx.current) == q3["nps_score"].notna().sum()
    assert len(ctx.base) == len(q3) and ctx.response["base"] == len(q3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["Gold", " Gold", "Gold ", "", " ", "silver", "Basic plan",
                                                        "1", "1.0", "ÉLITE"]), st.integers(-2, 3)), min_size=1, max_size=40))
def test_category_columns_are_cleaned_as_text_per_value(values):
    """Category cells are cleaned once per distinct value: the same categorical as stripping every
    cell as text (blank = missing), categories and their order included."""
    from cxanalysis.io import _category

    s = pd.Series(values, dtype=object)
    expected = s.astype("string").str.strip().replace("", pd.NA).astype("category")
    pd.testing.assert_series_equal(_category(s), expected)


@pytest.mark.parametrize("held", [["Pro", None, "Basic", "Pro"], [None, None], [" b", "a"], []])
def test_present_categories_are_the_values_held_as_text(held):
    """The non-respondents' categories: those their rows hold, sorted text, as the plain
    conversion through Python objects gives them (unused categories of the whole export gone)."""
    from cxanalysis.io import _category, _present_categories

    whole = _category(pd.Series(["Zeta", "", *held], dtype=object))
    part = whole.iloc[2:].reset_index(drop=True)  # "Zeta" not held; "" is a missing value
    pd.testing.assert_series_equal(_present_categories(part), part.astype(object).astype("category"))
    plain = pd.Series(held, dtype=object)
    pd.testing.assert_series_equal(_present_categories(plain), plain.astype(object).astype("category"))


@pytest.mark.parametrize(("period", "factor"), [("month", 3.0), ("year", 0.25), ("quarter", 1.0)])
def test_spend_of_another_period_is_converted_to_the_quarter_and_said(tmp_path, period, factor):
    """spend_period: a monthly spend is 3 times its value a quarter, a yearly one a quarter of it;
    the cleaning notes say so (the data-quality page shows them). Nothing else changes."""
    from cxanalysis.sample import make_customers

    df = make_customers(400, 1, random_state=3)
    df.to_csv(tmp_path / "e.csv", index=False)
    plain = load(tmp_path / "e.csv")
    got = load(tmp_path / "e.csv", {"spend_period": period})
    np.testing.assert_array_equal(got.data["spend"].to_numpy(), df.loc[df["nps_score"].notna(), "spend"].to_numpy()
                                  * factor)
    pd.testing.assert_frame_equal(got.data.drop(columns="spend"), plain.data.drop(columns="spend"))
    said = [n for n in got.report.notes if "spend_period" in n]
    assert len(said) == (period != "quarter")
    if said:
        assert f"export's {period}ly figure" in said[0] and ("multiplied by 3" if period == "month" else "divided by 4") in said[0]


def test_an_unknown_spend_period_is_a_config_error():
    from cxanalysis.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="spend_period"):
        load_config({"spend_period": "week"})


def test_an_export_dated_by_the_config_says_what_its_churn_window_must_be(tmp_path):
    """Without a quarter column, every row takes the given quarter: the notes say the churn column's
    window is read as that quarter. An export with its own quarter column gets no such note."""
    from cxanalysis.sample import make_customers

    df = make_customers(400, 1, random_state=3)
    df.to_csv(tmp_path / "dated.csv", index=False)
    df.drop(columns=["quarter"]).to_csv(tmp_path / "undated.csv", index=False)
    said = [n for n in load(tmp_path / "undated.csv", quarter="2026Q3").report.notes if "Every row is dated" in n]
    assert said == ["Every row is dated 2026Q3 (given in cx.yaml or by --quarter; no quarter column is mapped): "
                    "churn is counted over whatever window the export's churn column covers, and read as this "
                    "quarter's. The quarterly figures (churn a quarter, lifetime values, retention) hold only if that "
                    "window is a quarter."]
    assert not [n for n in load(tmp_path / "dated.csv").report.notes if "Every row is dated" in n]
    no_churn = tmp_path / "no_churn.csv"
    df.drop(columns=["quarter", "churned"]).to_csv(no_churn, index=False)
    assert not [n for n in load(no_churn, quarter="2026Q3").report.notes if "Every row is dated" in n]


def test_the_large_route_gives_the_same_undated_note_as_the_pandas_route(tmp_path):
    """DuckDB reads an export without a quarter column with the quarter given: the notes say the
    same sentence as the in-memory loader; with a quarter column, or no churn column, neither does."""
    from cxanalysis.config import load_config
    from cxanalysis.engine.large import prepare_large
    from cxanalysis.sample import make_customers

    df = make_customers(400, 1, random_state=3)
    df.drop(columns=["quarter"]).to_parquet(tmp_path / "undated.parquet", index=False)
    df.to_parquet(tmp_path / "dated.parquet", index=False)
    df.drop(columns=["quarter", "churned"]).to_parquet(tmp_path / "no_churn.parquet", index=False)
    cfg = load_config({})

    def dated_notes(notes):
        return [n for n in notes if "Every row is dated" in n]

    large = prepare_large(tmp_path / "undated.parquet", cfg, quarter="2026Q3", per_stratum=50).cleaning.notes
    memory = load(tmp_path / "undated.parquet", quarter="2026Q3").report.notes
    assert dated_notes(large) == dated_notes(memory) and len(dated_notes(large)) == 1
    assert not dated_notes(prepare_large(tmp_path / "dated.parquet", cfg, per_stratum=50).cleaning.notes)
    assert not dated_notes(prepare_large(tmp_path / "no_churn.parquet", cfg, quarter="2026Q3", per_stratum=50).cleaning.notes)


@pytest.mark.parametrize("n_extra", [13, 45])
def test_the_extra_columns_note_names_every_one_up_to_forty(tmp_path, n_extra):
    """The ecommerce export's 13 extra columns were listed as 12 and "...": every name up to 40 is
    given, and beyond that how many more, with where to find them."""
    from cxanalysis.sample import make_customers

    df = make_customers(60, 1, random_state=3)
    for i in range(n_extra):
        df[f"Extra{i:02d}"] = i
    path = tmp_path / "x.csv"
    df.to_csv(path, index=False)
    note = next(n for n in load(path).report.notes if "not in the canonical table" in n)
    shown = [f"Extra{i:02d}" for i in range(min(n_extra, 40))]
    assert note.startswith(f"{n_extra} column(s) not in the canonical table") and note.endswith(
        ", ".join(shown) if n_extra <= 40 else f"{', '.join(shown)} and {n_extra - 40} more (every column is in "
                                                "the columns table and its CSV)")
    assert "not analysed unless cx.yaml names them" in note
