"""Survey-platform exports joined to the customer table (issue 17).

Every file is written in tmp_path in its platform's layout from generated customers
(:func:`cxanalysis.sample.make_survey_sample`), which plants preview, test, spam and unfinished
responses, repeat answers and unknown ids in known numbers; the expected counts below are those
planted numbers, and the expected answers the generator's own.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis.config import ConfigError, load_config
from cxanalysis.io import DataError, file_sha256, load
from cxanalysis.sample import (
    SURVEY_MAPPING,
    SURVEY_QUESTIONS,
    make_customers,
    make_survey_sample,
    true_effects,
    write_qualtrics,
    write_surveymonkey,
)
from cxanalysis.survey import (
    JoinReport,
    detect_format,
    join_lines,
    join_summary,
    parse_choice,
    read_survey,
)

SCORES = ["nps_score", "csat", "ces", *[c for c in SURVEY_MAPPING if c.startswith("driver_")]]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cxanalysis.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.fixture(scope="module")
def customers():
    return make_customers(600, 2, random_state=5)


@pytest.fixture(scope="module")
def sample(customers):
    return make_survey_sample(customers, random_state=2)


def two_files(tmp_path, sample, **kw):
    crm, survey = tmp_path / "crm.csv", tmp_path / "responses.csv"
    sample.crm.to_csv(crm, index=False)
    write_qualtrics(sample, survey, **kw)
    return crm, survey


def by_key(frame):
    return frame.set_index(["customer_id", "quarter"]).sort_index()


# --------------------------------------------------------------------------------------------
# reading


@pytest.mark.parametrize(("name", "options"), [
    ("responses.csv", {}),  # UTF-8 CSV, Status and Finished as text, choice text
    ("responses.tsv", {"tsv": True, "numeric_status": True}),  # UTF-16 TSV, Status codes, 1/0
])
def test_qualtrics_keeps_real_finished_answers_and_counts_each_drop(tmp_path, sample, name, options):
    path = tmp_path / name
    write_qualtrics(sample, path, **options)
    assert detect_format(path) == "qualtrics"
    ex = read_survey(path)
    c = sample.counts
    assert ex.format == "qualtrics" and ex.responses == c["responses"]
    assert ex.dropped == {k: c[k] for k in ("preview", "test", "spam", "unfinished")}
    assert len(ex.data) == c["responses"] - sum(ex.dropped.values())
    r = sample.responses
    bad = r.loc[(r["Status"] != "IP Address") | ~r["Finished"].astype(bool), "ResponseId"]
    assert not ex.data["ResponseId"].isin(bad).any()
    assert set(ex.examples["spam"]) <= set(r.loc[r["Status"] == "Spam", "ResponseId"])
    # field ids are the column names, the question text their labels
    assert ex.labels == sample.labels
    # "10 - Extremely likely", "0 - Not at all likely" and plain numbers read as numbers
    assert ex.data["Q1"].dtype == float and ex.data["Q2"].dtype == float
    expected = r.set_index("ResponseId").loc[ex.data["ResponseId"], "Q1"].to_numpy(float)
    np.testing.assert_array_equal(ex.data["Q1"].to_numpy(), expected)
    assert ex.data["Q5"].dtype != float  # comments stay text


def test_keep_unfinished_keeps_them(tmp_path, sample):
    _, path = two_files(tmp_path, sample)
    ex = read_survey(path, keep_unfinished=True)
    assert ex.dropped["unfinished"] == 0
    assert len(ex.data) == sample.counts["responses"] - 4 - 3 - 5


def test_parse_choice():
    s = pd.Series(["10 - Extremely likely", "0 - Not at all likely", "7", None, "3: Neutral"])
    np.testing.assert_array_equal(parse_choice(s).to_numpy(), [10, 0, 7, np.nan, 3])
    for unchanged in (["late delivery", "5 - fine"], ["2026-08-15", "2026-09-01"], ["Basic", "Pro"]):
        s = pd.Series(unchanged)
        assert parse_choice(s) is s


def test_surveymonkey_two_header_rows(tmp_path, sample):
    crm, path = tmp_path / "crm.csv", tmp_path / "sm.csv"
    sample.crm.to_csv(crm, index=False)
    write_surveymonkey(sample, path)
    assert detect_format(path) == "surveymonkey"
    ex = read_survey(path)
    grid = "How satisfied are you with each of the following?"
    q = {k: t for k, (_, t) in SURVEY_QUESTIONS.items()}
    # unique names: the question, or question - option for a grid's columns
    assert {q["Q1"], f"{grid} - Delivery", f"{grid} - Website", q["Q5"]} <= set(ex.data.columns)
    assert ex.labels[f"{grid} - Support"] == grid
    mapping = {"nps_score": q["Q1"], "csat": q["Q2"], "ces": q["Q3"], "comment": q["Q5"],
               "driver_delivery": f"{grid} - Delivery"}
    loaded = load(crm, {"columns": mapping}, survey=path)
    j = loaded.report.join
    assert j.format == "surveymonkey" and j.key == "Custom Data 1"
    assert j.matched == sample.counts["respondents"]
    assert j.unmatched_responses == sample.counts["unmatched"]
    assert j.repeat_answers == sample.counts["repeat_answers"]
    got = by_key(loaded.data)[["nps_score", "csat", "driver_delivery"]]
    want = by_key(sample.truth)[["nps_score", "csat", "driver_delivery"]]
    np.testing.assert_array_equal(got.to_numpy(float), want.to_numpy(float))


def test_spss_value_labels_become_numbers_or_categories(tmp_path, sample):
    """A .sav written by pyreadstat.write_sav: the NPS item is labelled at its ends (0 and 10) and
    stays a 0-10 number; Q6 (plan, coded 1-3 with labels) becomes its labels; Status and Finished
    are labelled codes."""
    pyreadstat = pytest.importorskip("pyreadstat")
    r = sample.responses.rename(columns={"Duration (in seconds)": "Duration__in_seconds_"})
    plans = {"Basic": 1, "Plus": 2, "Pro": 3}
    truth_plan = sample.crm.set_index(["customer_id", "quarter"])["plan"]
    r["Status"] = r["Status"].map({"IP Address": 0, "Survey Preview": 1, "Survey Test": 2, "Spam": 8})
    r["Finished"] = r["Finished"].astype(int)
    quarter = r["RecordedDate"].dt.to_period("Q").astype(str).str.replace("Q", "Q")
    keys = pd.MultiIndex.from_arrays([r["ExternalReference"], quarter])
    r["Q6"] = pd.Series(truth_plan.reindex(keys).to_numpy()).map(plans).fillna(1).to_numpy()
    path = tmp_path / "responses.sav"
    pyreadstat.write_sav(
        r, str(path),
        column_labels={**sample.labels, "Q6": "Which plan are you on?"},
        variable_value_labels={
            "Q1": {0: "Not at all likely", 10: "Extremely likely"},
            "Q6": {1: "Basic", 2: "Plus", 3: "Pro"},
            "Status": {0: "IP Address", 1: "Survey Preview", 2: "Survey Test", 8: "Spam"},
            "Finished": {0: "False", 1: "True"},
        })
    crm = tmp_path / "crm.csv"
    sample.crm.drop(columns="plan").to_csv(crm, index=False)
    assert detect_format(path) == "spss"
    loaded = load(crm, {"columns": {**SURVEY_MAPPING, "plan": "Which plan are you on?"}}, survey=path)
    j = loaded.report.join
    assert j.dropped["preview"] == 4 and j.dropped["test"] == 3 and j.dropped["spam"] == 5
    assert j.dropped["unfinished"] == 12
    assert j.matched == sample.counts["respondents"]
    got, want = by_key(loaded.data), by_key(sample.truth)
    np.testing.assert_array_equal(got["nps_score"].to_numpy(), want["nps_score"].to_numpy())
    assert got["nps_score"].dtype == np.int64
    assert got["plan"].dtype == "category" and set(got["plan"].cat.categories) <= set(plans)
    np.testing.assert_array_equal(got["plan"].astype(str).to_numpy(),
                                  truth_plan.reindex(got.index).to_numpy())
    assert j.labels["Q6"] == "Which plan are you on?" and j.mapped["Q6"] == "plan"


def test_plain_csv_with_a_quarter_column(tmp_path, customers):
    crm, path = tmp_path / "crm.csv", tmp_path / "answers.csv"
    customers.drop(columns=["nps_score", "csat", "ces"]).to_csv(crm, index=False)
    answers = customers[["customer_id", "quarter", "nps_score"]].iloc[::3]
    answers.rename(columns={"customer_id": "id"}).to_csv(path, index=False)
    assert detect_format(path) == "plain"
    loaded = load(crm, {"survey": {"key": "id"}}, survey=path)
    j = loaded.report.join
    assert (j.format, j.matched, j.unmatched_responses) == ("plain", len(answers), 0)
    assert j.customers_without_response == len(customers) - len(answers)
    np.testing.assert_array_equal(by_key(loaded.data)["nps_score"].to_numpy(),
                                  by_key(answers)["nps_score"].to_numpy())


# --------------------------------------------------------------------------------------------
# the join


def test_join_counts_are_exact_and_latest_answer_is_kept(tmp_path, sample, customers):
    crm, path = two_files(tmp_path, sample)
    before = {p: file_sha256(p) for p in (crm, path)}
    loaded = load(crm, {"columns": SURVEY_MAPPING}, survey=path)
    j, c = loaded.report.join, sample.counts
    assert j.responses == c["responses"]
    assert j.matched == c["respondents"]
    assert j.unmatched_responses == c["unmatched"]
    assert j.customers == len(customers)
    assert j.customers_without_response == len(customers) - c["respondents"]
    assert j.repeat_answers == j.repeat_rows == c["repeat_answers"]
    assert (sum(j.dropped.values()) + j.repeat_rows + j.matched + j.unmatched_responses
            == j.responses)
    assert set(j.examples["unmatched_responses"]) <= {f"C9{i:06d} ({q})" for i in range(10)
                                                      for q in ("2025Q4", "2026Q1")}
    assert len(j.repeats) == 10 and all(r["kept"].startswith("latest: R_") for r in j.repeats)
    assert j.match_rate == pytest.approx(c["respondents"] / (c["respondents"] + c["unmatched"]),
                                         rel=1e-12)
    # the rows kept are exactly the respondents, with their own answers
    assert len(loaded.data) == c["respondents"]
    got, want = by_key(loaded.data), by_key(sample.truth)
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got[SCORES].to_numpy(float), want[SCORES].to_numpy(float))
    assert (got["comment"].fillna("") == want["comment"].fillna("")).all()
    np.testing.assert_allclose(got["spend"].to_numpy(), by_key(customers).loc[got.index, "spend"],
                               rtol=1e-12)
    # the non-respondents were counted as the base, not lost
    assert not loaded.report.steps
    assert len(loaded.nonrespondents) == len(customers) - c["respondents"]
    assert loaded.report.rows_out == len(customers)
    assert sum(r["base"] for r in loaded.report.response) == len(customers)
    assert {p: file_sha256(p) for p in (crm, path)} == before  # inputs never modified


@pytest.mark.parametrize("keep", ["first", "mean"])
def test_keep_first_and_mean(tmp_path, sample, keep):
    crm, path = two_files(tmp_path, sample)
    loaded = load(crm, {"columns": SURVEY_MAPPING, "survey": {"keep": keep}}, survey=path)
    j = loaded.report.join
    assert j.keep == keep and j.repeat_answers == sample.counts["repeat_answers"]
    got = by_key(loaded.data)
    early = by_key(sample.earlier)
    late = by_key(sample.truth).loc[early.index]
    if keep == "first":
        want = early["nps_score"].astype(float)
        assert all(r["kept"].startswith("first: R_") for r in j.repeats)
    else:  # mean of the two answers, whole-number items rounded half up
        want = np.floor((early["nps_score"] + late["nps_score"]) / 2 + 0.5)
        assert all(r["kept"] == "mean of 2 answers" for r in j.repeats)
    np.testing.assert_array_equal(got.loc[early.index, "nps_score"].to_numpy(float), want.to_numpy())
    others = got.index.difference(early.index)
    np.testing.assert_array_equal(got.loc[others, "nps_score"].to_numpy(),
                                  by_key(sample.truth).loc[others, "nps_score"].to_numpy())


def test_mapping_by_question_text(tmp_path, sample):
    crm, path = two_files(tmp_path, sample)
    q = {c: t for _, (c, t) in SURVEY_QUESTIONS.items()}
    loaded = load(crm, {"columns": {"nps_score": q["nps_score"], "csat": q["csat"]}}, survey=path)
    got = by_key(loaded.data)
    np.testing.assert_array_equal(got["nps_score"].to_numpy(),
                                  by_key(sample.truth).loc[got.index, "nps_score"].to_numpy())
    assert loaded.report.join.mapped["Q1"] == "nps_score"
    assert loaded.report.join.labels["Q1"] == q["nps_score"]


def test_single_quarter_customer_table_takes_the_quarter_from_the_survey(tmp_path):
    cust = make_customers(300, 1, random_state=9)
    s = make_survey_sample(cust, random_state=1)
    crm, path = tmp_path / "crm.csv", tmp_path / "r.csv"
    s.crm.drop(columns="quarter").to_csv(crm, index=False)
    write_qualtrics(s, path)
    loaded = load(crm, {"columns": SURVEY_MAPPING}, survey=path)
    assert set(loaded.data["quarter"]) == {"2025Q4"}
    assert loaded.report.join.matched == s.counts["respondents"]


def test_quarter_folders_holding_both_files(tmp_path):
    """data/2025Q4/ and data/2026Q1/, each with crm.csv and responses.csv: the survey file is not
    stacked with the customer files, and the earlier quarter is joined to its own survey."""
    from cxanalysis.io import load_with_history

    cust = make_customers(300, 2, random_state=4)
    counts = {}
    for q in ("2025Q4", "2026Q1"):
        s = make_survey_sample(cust[cust["quarter"] == q], random_state=1)
        folder = tmp_path / "data" / q
        folder.mkdir(parents=True)
        two_files(folder, s)
        counts[q] = s.counts["respondents"]
    cfg = load_config({"columns": SURVEY_MAPPING})
    current = tmp_path / "data" / "2026Q1"
    loaded = load_with_history(current, cfg, survey=current / "responses.csv")
    assert loaded.report.rows_in == 300 and loaded.report.join.matched == counts["2026Q1"]
    assert loaded.data.groupby("quarter").size().to_dict() == counts
    assert [i.get("role") for i in loaded.report.inputs] == [None, "survey", None, "survey"]


def test_no_match_is_an_error_with_ids_from_both_sides(tmp_path, sample):
    crm, path = two_files(tmp_path, sample)
    sample.crm.assign(customer_id="X" + sample.crm["customer_id"]).to_csv(crm, index=False)
    with pytest.raises(DataError, match=r"No survey response matched a customer") as e:
        load(crm, {"columns": SURVEY_MAPPING}, survey=path)
    assert "survey ids ('ExternalReference'): C1" in str(e.value)
    assert "customer ids ('customer_id'): XC100001" in str(e.value)


def test_join_report_round_trips_and_renders(tmp_path, sample):
    crm, path = two_files(tmp_path, sample)
    j = load(crm, {"columns": SURVEY_MAPPING}, survey=path).report.join
    d = json.loads(json.dumps(j.to_dict()))
    assert set(d) >= {"responses", "matched", "unmatched_responses", "customers_without_response",
                      "repeat_answers", "dropped", "match_rate"}
    assert set(d["dropped"]) >= {"preview", "test", "spam", "unfinished"}
    assert JoinReport.from_dict(d) == j
    frame = j.to_frame()
    assert frame.set_index("item").loc["dropped: spam", "n"] == 5
    text = join_summary(j)
    assert "matched a customer" in text and "5 spam" in text and "4 survey preview(s)" in text and "latest answer was kept" in text
    assert "Warning" not in text
    low = JoinReport(responses=10, matched=3, unmatched_responses=7)
    assert low.low_match and "Warning" in join_summary(low) and "warning" in join_lines(low)[-1]


@pytest.mark.parametrize(("survey", "match"), [
    ({"kep": "first"}, "Did you mean 'keep'"),
    ({"format": "qualtrix"}, "must be one of"),
    ({"keep": "last"}, "must be one of"),
    ({"min_match_rate": 2}, "fraction between 0 and 1"),
])
def test_bad_survey_config(survey, match):
    with pytest.raises(ConfigError, match=match):
        load_config({"survey": survey})


def test_join_recovers_the_true_effects(tmp_path):
    """Outcome models fitted on the joined table give exactly the fit on the generator's own
    respondent rows, and each effect lies within 1.5 CI half-widths (about 3 standard errors) of
    the generator's truth averaged over the current passives."""
    from cxanalysis.models import fit_outcome_models

    cust = make_customers(15000, 1, random_state=21)
    s = make_survey_sample(cust, random_state=3)
    crm, path = two_files(tmp_path, s)
    cfg = load_config({"columns": SURVEY_MAPPING})
    joined = load(crm, cfg, survey=path).data
    direct = cust.set_index(["customer_id", "quarter"]).loc[
        pd.MultiIndex.from_frame(joined[["customer_id", "quarter"]])].reset_index()
    direct["weight"] = joined["weight"].to_numpy()  # the same respondents, weighted to the same base
    e = fit_outcome_models(joined, cfg).effects().set_index(["outcome", "contrast"])
    e_direct = fit_outcome_models(direct, cfg).effects().set_index(["outcome", "contrast"])
    np.testing.assert_allclose(e["estimate"], e_direct["estimate"], rtol=1e-9)
    truth = true_effects(direct)
    for contrast in ("promoter_vs_passive", "detractor_vs_passive"):
        for outcome in ("spend", "churn", "returns"):
            row, t = e.loc[(outcome, contrast)], truth[contrast][outcome]
            half = (row["ci_high"] - row["ci_low"]) / 2
            assert abs(row["estimate"] - t) < 1.5 * half, (outcome, contrast, row.to_dict(), t)


@pytest.mark.parametrize(("survey", "config", "match"), [
    ("missing.csv", {}, "does not exist"),
    ("responses.csv", {"survey": {"key": "ExternalRef"}}, "Did you mean 'ExternalReference'"),
    ("responses.csv", {"survey": {"date_column": "RecordDate"}}, "Did you mean 'RecordedDate'"),
    ("plain.csv", {"survey": {"format": "qualtrics"}}, "does not look like a Qualtrics export"),
    ("noid.csv", {}, "Which survey column holds the customer id"),
])
def test_bad_survey_inputs_are_clear_errors(tmp_path, sample, survey, config, match):
    crm, _ = two_files(tmp_path, sample)
    sample.crm.to_csv(tmp_path / "plain.csv", index=False)
    sample.crm.drop(columns="customer_id").to_csv(tmp_path / "noid.csv", index=False)
    with pytest.raises(DataError, match=match):
        load(crm, {"columns": SURVEY_MAPPING, **config}, survey=tmp_path / survey)


# --------------------------------------------------------------------------------------------
# command line


def test_validate_prints_the_join(tmp_path, sample):
    crm, path = two_files(tmp_path, sample)
    cfg = tmp_path / "cx.yaml"
    cfg.write_text("columns:\n" + "".join(f"  {k}: {v}\n" for k, v in SURVEY_MAPPING.items()))
    r = cli("validate", crm, "--survey", path, "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "Survey (qualtrics, key 'ExternalReference')" in r.stdout
    assert f"{sample.counts['respondents']:,} matched a customer" in r.stdout
    assert "dropped 4 response(s): survey preview" in r.stdout
    assert "warning" not in r.stdout
    # a low match rate warns but passes
    sample.crm.iloc[: len(sample.crm) // 3].to_csv(crm, index=False)
    r = cli("validate", crm, "--survey", path, "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "warning: only" in r.stdout and "below 50%" in r.stdout
    # no match at all: exit 2 with ids from both sides
    sample.crm.assign(customer_id="X" + sample.crm["customer_id"]).to_csv(crm, index=False)
    r = cli("validate", crm, "--survey", path, "--config", cfg)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "survey ids" in r.stderr and "XC100001" in r.stderr


@pytest.mark.slow
def test_two_file_sample_report_end_to_end(tmp_path):
    """`sample --survey-format qualtrics` then `report crm.csv --survey responses.csv`: the join
    is in results.json with the planted counts, and the effects' 95% CIs cover the truth of the
    report's quarter (the generator's truth over its respondents)."""
    out = tmp_path / "data"
    r = cli("sample", "--survey-format", "qualtrics", "--customers", 3000, "--quarters", 2,
            "--seed", 7, "--out", out)
    assert r.returncode == 0, r.stderr
    assert (out / "crm.csv").is_file() and detect_format(out / "responses.csv") == "qualtrics"
    before = file_sha256(out / "responses.csv")
    r = cli("report", out / "crm.csv", "--survey", out / "responses.csv", "--out", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    assert file_sha256(out / "responses.csv") == before
    results = json.loads((tmp_path / "rep" / "2026Q1" / "results.json").read_text())
    j = results["join"]
    cust = make_customers(3000, 2, random_state=7)
    s = make_survey_sample(cust, random_state=7, field_ids="canonical")
    assert j["matched"] == s.counts["respondents"] and j["unmatched_responses"] == 10
    assert j["dropped"] == {"preview": 4, "test": 3, "spam": 5, "unfinished": 12, "no_id": 0,
                            "no_quarter": 0}
    assert j["repeat_answers"] == 20
    assert results["n_customers"] == int((s.truth["quarter"] == "2026Q1").sum())
    html = (tmp_path / "rep" / "2026Q1" / "01-data-quality.html").read_text()
    assert "Survey responses joined to the customers" in html and "matched a customer" in html
    current = s.truth[s.truth["quarter"] == "2026Q1"]
    direct = cust.set_index(["customer_id", "quarter"]).loc[
        pd.MultiIndex.from_frame(current[["customer_id", "quarter"]])].reset_index()
    truth = true_effects(direct)
    for outcome, contrasts in results["effects"].items():
        for contrast in ("promoter_vs_passive", "detractor_vs_passive"):
            e, t = contrasts[contrast], truth[contrast][outcome]
            assert e["ci_low"] <= t <= e["ci_high"], (outcome, contrast, e, t)


# --------------------------------------------------------------------------------------------
# properties


@given(st.lists(st.tuples(st.integers(0, 10), st.sampled_from(["", " - Extremely likely", ": ok"]),
                          st.booleans()), min_size=1, max_size=30))
def test_choice_text_reads_as_its_number(cells):
    """Numbers alone or followed by a label, and missing cells, read back as the numbers."""
    s = pd.Series([f"{n}{label}" if present else None for n, label, present in cells], dtype=object)
    want = [float(n) if present else np.nan for n, _, present in cells]
    if s.notna().any():
        np.testing.assert_array_equal(parse_choice(s).to_numpy(), want)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6), st.integers(0, 6),
       st.integers(0, 8), st.integers(0, 8), st.integers(0, 1000))
def test_planted_counts_come_back_exactly(tmp_path_factory, preview, test, spam, unfinished,
                                          repeat, unmatched, seed):
    cust = make_customers(120, 1, random_state=seed)
    s = make_survey_sample(cust, n_preview=preview, n_test=test, n_spam=spam,
                           n_unfinished=unfinished, n_repeat=repeat, n_unmatched=unmatched,
                           random_state=seed)
    tmp = tmp_path_factory.mktemp("prop")
    crm, path = two_files(tmp, s, numeric_status=bool(seed % 2))
    j = load(crm, {"columns": SURVEY_MAPPING}, survey=path).report.join
    assert {k: j.dropped[k] for k in ("preview", "test", "spam", "unfinished")} == {
        "preview": preview, "test": test, "spam": spam, "unfinished": unfinished}
    assert (j.matched, j.unmatched_responses, j.repeat_answers) == (
        s.counts["respondents"], unmatched, s.counts["repeat_answers"])
    assert j.customers_without_response == len(cust) - s.counts["respondents"]
