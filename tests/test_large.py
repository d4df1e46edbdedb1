"""The large route: an export the engine reads, validates and counts itself, exact tables over
every row, and a weighted stratified sample for the models (cxanalysis.engine.large)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cxanalysis.config import load_config
from cxanalysis.engine.large import prepare_large
from cxanalysis.sample import make_customers, true_effects
from cxanalysis.schema import ValidationError

MESSY = {"customer_id": "Acct ID", "nps_score": "How likely are you to recommend us? (0-10)",
         "spend": "Rev_Q (EUR)", "plan": "Plan Name", "churned": "Churned?"}


def write_messy(df: pd.DataFrame, path) -> dict:
    df.rename(columns=MESSY).to_parquet(path, index=False)
    return {"columns": dict(MESSY)}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The same generated export (messy column names, cx.yaml mapping) reported with pandas and
    with DuckDB and a per-stratum cap of 15, so that the sample is really drawn."""
    from cxanalysis.report import run_report

    tmp = tmp_path_factory.mktemp("large")
    df = make_customers(1500, 2, random_state=5)
    cfg = write_messy(df, tmp / "export.parquet")
    out = {}
    for engine, cap in (("pandas", None), ("duckdb", 15)):
        root = run_report(tmp / "export.parquet", config=load_config(cfg), out=tmp / engine, engine=engine,
                          per_stratum=cap, progress=lambda m: None)
        out[engine] = (root, json.loads((root / "results.json").read_text()))
    return out, df


def test_every_page_renders_and_the_sample_is_recorded(reports):
    out, df = reports
    root, res = out["duckdb"]
    assert res["run"]["engine"] == "duckdb" and "errors" not in res["run"]
    for nb in res["run"]["notebooks"]:
        assert (root / f"{nb}.html").is_file()
    s = res["run"]["sample"]
    n_scored = int(df["nps_score"].notna().sum())
    assert s["per_stratum"] == 15 and s["population"] == n_scored and 0 < s["rows"] < n_scored
    # every stratum holds at most the cap; the weights add up to every respondent of each quarter
    sample = pd.read_parquet(root / "_data" / "customers.parquet")
    assert len(sample) == s["rows"]
    got = sample.groupby("quarter")["weight"].sum()
    want = df.groupby("quarter")["nps_score"].count()
    np.testing.assert_allclose(got.sort_index().to_numpy(), want.sort_index().to_numpy(), rtol=1e-12)
    assert out["pandas"][1]["run"]["sample"] is None
    # the pages say the models ran on a sample, and how large it was
    page = (root / "04-cx-and-outcomes.html").read_text()
    assert f"weighted stratified sample of {s['rows']:,} of the {n_scored:,} respondents" in page
    assert "weighted stratified sample" not in (out["pandas"][0] / "04-cx-and-outcomes.html").read_text()
    # counts over every row: data-quality figures and n_customers are the export's, not the sample's
    assert res["n_customers"] == out["pandas"][1]["n_customers"] == int((df["quarter"] == res["quarter"]).sum())
    assert res["run"]["cleaning"]["rows_in"] == len(df)


def assert_results_agree(big: dict, ref: dict, nps_keys=("value", "ci_low", "ci_high", "promoters", "detractors",
                                                           "unweighted")) -> None:
    """Two results.json of one export on two engines: the headline NPS, the NPS of every segment of
    the categorical dimensions and every trend row (with its change) to 1e-9."""
    for k in nps_keys:
        assert big["nps"][k] == pytest.approx(ref["nps"][k], abs=1e-9), k
    cat = {"plan", "region", "job_title"}
    seg_b = {(r["dimension"], r["segment"]): r for r in big["segments"] if r["dimension"] in cat}
    seg_r = {(r["dimension"], r["segment"]): r for r in ref["segments"] if r["dimension"] in cat}
    assert seg_b.keys() == seg_r.keys() and len(seg_b) >= 10
    for key, r in seg_r.items():
        for k in ("n", "nps", "ci_low", "ci_high"):
            assert seg_b[key][k] == pytest.approx(r[k], abs=1e-9), (key, k)
    assert [t["quarter"] for t in big["trends"]] == [t["quarter"] for t in ref["trends"]]
    for tb, tr in zip(big["trends"], ref["trends"], strict=True):
        for k in ("n", "nps", "ci_low", "ci_high", "csat", "churn_rate"):
            assert tb[k] == pytest.approx(tr[k], abs=1e-9), k
        assert (tb["change"] is None) == (tr["change"] is None)
        if tr["change"] is not None:
            assert tb["change"] == pytest.approx(tr["change"], abs=1e-9)


def test_nps_segment_and_trend_tables_equal_pandas(reports):
    out, _ = reports
    (_, big), (_, ref) = out["duckdb"], out["pandas"]
    assert_results_agree(big, ref)
    mb = {m["metric"]: m for m in big["metrics"]}
    for m in ref["metrics"]:
        if m["metric"] != "Health score (mean)":  # needs every row at once: from the sample
            assert mb[m["metric"]]["value"] == pytest.approx(m["value"], abs=1e-9), m["metric"]


def test_pandas_pages_read_the_exact_tables(reports):
    """The pandas route reads the same exact tables: the trend and segment NPS on its pages are
    the exact tables' values, computed independently here with plain numpy."""
    out, df = reports
    _, ref = out["pandas"]
    for t in ref["trends"]:
        s = df.loc[df["quarter"] == t["quarter"], "nps_score"].dropna()
        assert t["nps"] == pytest.approx(100 * ((s >= 9).mean() - (s <= 6).mean()), abs=1e-9)
    cur = df[df["quarter"] == ref["quarter"]]
    for r in (r for r in ref["segments"] if r["dimension"] == "plan"):
        s = cur.loc[cur["plan"] == r["segment"], "nps_score"]
        assert r["nps"] == pytest.approx(100 * ((s >= 9).mean() - (s <= 6).mean()), abs=1e-9)


@pytest.mark.parametrize("rare", [1, 3, 7])
def test_the_sample_keeps_every_covariate_level(tmp_path, rare):
    """A region held by only ``rare`` customers is kept, with the weights standing for every
    customer of each stratum (quarter x category x plan x region)."""
    df = make_customers(2000, 1, random_state=rare)
    df["region"] = df["region"].astype(object)
    df.loc[df.index[:rare], "region"] = "Antarctica"
    df.loc[df.index[rare:rare + 2], "plan"] = None  # a missing level is a stratum too
    cfg = load_config(write_messy(df, tmp_path / "e.parquet"))
    run = prepare_large(tmp_path / "e.parquet", cfg, per_stratum=5)
    s = run.sample
    assert set(s["region"].dropna().astype(str)) == set(df["region"].dropna())
    assert set(s["plan"].dropna().astype(str)) == set(df["plan"].dropna())
    assert s["plan"].isna().sum() >= 1
    assert (s["region"].astype(str) == "Antarctica").sum() == rare
    cats = pd.cut(df["nps_score"], [-1, 6, 8, 10], labels=["d", "p", "P"])
    want = df.assign(c=cats).groupby(["region", "plan", "c"], observed=True, dropna=False).size()
    got_cats = pd.cut(s["nps_score"], [-1, 6, 8, 10], labels=["d", "p", "P"])
    got = s.assign(c=got_cats, region=s["region"].astype(object), plan=s["plan"].astype(object)).groupby(
        ["region", "plan", "c"], observed=True, dropna=False)["weight"].sum()
    assert got.sum() == pytest.approx(len(df))
    np.testing.assert_allclose(got.sort_index().to_numpy(), want.sort_index().astype(float).to_numpy())
    assert run.info["by"][-2:] == ["plan", "region"]


def test_sample_effects_agree_with_the_full_fit_and_cover_the_truth(tmp_path):
    """On 120k customers: the models fitted on the weighted stratified sample agree with the fit
    on every row within their intervals, and their intervals cover the generator's truth."""
    from cxanalysis.models import fit_outcome_models

    df = make_customers(120_000, 1, random_state=11)
    cfg = load_config(write_messy(df, tmp_path / "big.parquet"))
    run = prepare_large(tmp_path / "big.parquet", cfg, per_stratum=800)
    assert len(run.sample) <= 36 * 800 < len(df) / 4
    full = fit_outcome_models(df, cfg).effects().set_index(["outcome", "contrast"])
    samp = fit_outcome_models(run.sample, cfg).effects().set_index(["outcome", "contrast"])
    truth = true_effects(df)
    for (outcome, contrast), r in samp.iterrows():
        if contrast == "per_point":
            continue
        f = full.loc[(outcome, contrast)]
        assert r["ci_low"] <= f["estimate"] <= r["ci_high"], (outcome, contrast)
        assert r["ci_high"] - r["ci_low"] > f["ci_high"] - f["ci_low"]  # a sample knows less
        t = truth[contrast][outcome]
        assert r["ci_low"] <= t <= r["ci_high"], (outcome, contrast, t)


def test_text_in_a_numeric_column_is_an_error_naming_it(tmp_path):
    df = make_customers(300, 1, random_state=2)
    df["spend"] = df["spend"].round(2).astype(str)
    df.loc[4, "spend"] = "n/a"
    cfg = load_config(write_messy(df, tmp_path / "e.parquet"))
    with pytest.raises(ValidationError) as err:
        prepare_large(tmp_path / "e.parquet", cfg, per_stratum=50)
    (p,) = err.value.problems
    assert (p.column, p.rule, p.n_rows) == ("spend", "must hold numbers", 1) and "'n/a'" in p.examples


def test_a_mapped_column_the_export_lacks_is_a_data_error(tmp_path):
    from cxanalysis.io import DataError

    df = make_customers(200, 1, random_state=2)
    write_messy(df, tmp_path / "e.parquet")
    with pytest.raises(DataError, match="column 'Rev Q', which the export does not have.*Fix the mapping"):
        prepare_large(tmp_path / "e.parquet", load_config({"columns": {**MESSY, "spend": "Rev Q"}}))


def test_rows_without_id_and_exact_duplicates_are_counted_and_left_out(tmp_path):
    """The rows stored by the engine: ids missing and exact duplicate rows dropped and counted;
    the exact NPS is that of the rows kept, computed here with plain numpy."""
    df = make_customers(600, 2, random_state=8)
    df["customer_id"] = df["customer_id"].astype(object)
    df.loc[df.index[:4], "customer_id"] = None
    dups = df.iloc[10:17]
    messy = pd.concat([df, dups], ignore_index=True)
    cfg = load_config(write_messy(messy, tmp_path / "e.parquet"))
    run = prepare_large(tmp_path / "e.parquet", cfg, per_stratum=40)
    steps = {s["rule"]: s["rows_dropped"] for s in run.cleaning.steps}
    assert steps == {"no customer_id": 4, "exact duplicate of an earlier row": 7}
    assert run.cleaning.rows_in == len(messy)
    kept = df.iloc[4:]
    for t in run.tables["nps_quarter"].to_dict("records"):
        s = kept.loc[kept["quarter"] == t["quarter"], "nps_score"].dropna().to_numpy()
        assert t["n"] == len(s)
        assert t["nps"] == pytest.approx(100 * (np.mean(s >= 9) - np.mean(s <= 6)), abs=1e-9)


def test_a_customer_twice_in_a_quarter_with_different_values_is_a_validation_error(tmp_path):
    """Not an exact duplicate: the uniqueness rule is counted (not skipped as already known)."""
    df = make_customers(300, 1, random_state=4)
    twin = df.iloc[[5]].assign(spend=df["spend"].iloc[5] + 1.0)
    cfg = load_config(write_messy(pd.concat([df, twin], ignore_index=True), tmp_path / "e.parquet"))
    with pytest.raises(ValidationError) as err:
        prepare_large(tmp_path / "e.parquet", cfg, per_stratum=50)
    (p,) = err.value.problems
    assert (p.column, p.rule, p.n_rows) == ("customer_id", "must be unique within a quarter", 2)
    assert str(df["customer_id"].iloc[5]) in p.examples


def test_the_engine_rakes_respondents_to_the_base_as_the_pandas_route_does(tmp_path):
    """An export with non-respondents (Pro customers answer 4.5x as often as Basic ones): the
    engine rakes each quarter's respondents to its base, so every exact table equals the pandas
    route's raked one to 1e-9, with the same weighting, n_eff and design effect per quarter; the
    sample's weights carry the raking (raked weight x sampling weight)."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.engine.base import base_metrics
    from cxanalysis.io import load
    from cxanalysis.weighting import compare_margins
    from tests.test_engines import KEYS, assert_engines_agree, assert_same

    df = make_customers(3000, 2, random_state=4, response_rates={"Basic": 0.2, "Plus": 0.5, "Pro": 0.9})
    assert df["nps_score"].isna().sum() > 1000
    cfg = write_messy(df, tmp_path / "export.parquet")
    cfg = load_config(cfg)
    ref = load(tmp_path / "export.parquet", cfg)
    big = prepare_large(tmp_path / "export.parquet", cfg, engine="duckdb", per_stratum=40)
    assert_engines_agree(big.tables, PandasEngine(ref.data.drop(columns=["_row", "_source"]), cfg).exact_tables(), "raked")
    # the CRM's metrics over every customer (page 03), by the engine as in memory
    assert_same(big.tables["metrics_base"], base_metrics(ref.data, ref.nonrespondents, cfg), KEYS["metrics"], "base")
    assert len(big.tables["metrics_base"]) >= 20
    for got, want in zip(big.cleaning.response, ref.report.response, strict=True):
        assert got["weighting"] == want["weighting"] == "raking on plan, region, tenure (months) in 4 bands"
        assert got["n_eff"] == pytest.approx(want["n_eff"], rel=1e-9)
        assert got["design_effect"] == pytest.approx(want["design_effect"], rel=1e-9)
        assert (got["base"], got["respondents"]) == (want["base"], want["respondents"])
        # the non-respondents' MRR (the census of page 03), counted by the engine as in memory
        assert got["nonrespondents_mrr"]["n"] == want["nonrespondents_mrr"]["n"] > 0
        assert got["nonrespondents_mrr"]["total"] == pytest.approx(want["nonrespondents_mrr"]["total"], rel=1e-9)
        # page 01's margins table, from the engine's counts: compare_margins of the rows in memory
        qq = ref.data["quarter"].astype(str) == got["quarter"]
        nq = ref.nonrespondents["quarter"].astype(str) == got["quarter"]
        pd.testing.assert_frame_equal(pd.DataFrame(got["margins"]),
                                      compare_margins(ref.data[qq], ref.nonrespondents[nq], cfg),
                                      check_exact=False, rtol=1e-9, atol=1e-12)
    # the raked NPS differs from the respondents' own: the raking is not a no-op
    raw = big.tables["nps_quarter_unweighted"].set_index("quarter")["nps"]
    raked = big.tables["nps_quarter"].set_index("quarter")["nps"]
    assert (raw - raked).abs().min() > 1.0
    # the sample's weights: sampling x raked, adding up to about each quarter's base
    got = big.sample.groupby("quarter")["weight"].sum()
    np.testing.assert_allclose(got.to_numpy(), [3000, 3000], rtol=0.02)


def test_raking_turned_off_leaves_the_respondents_unweighted(tmp_path):
    df = make_customers(800, 1, random_state=2, response_rates={"Basic": 0.3, "Plus": 0.6, "Pro": 0.9})
    cfg = load_config({**write_messy(df, tmp_path / "export.parquet"), "weighting": {"method": "none"}})
    big = prepare_large(tmp_path / "export.parquet", cfg, engine="duckdb", per_stratum=40)
    assert big.cleaning.response[0]["weighting"] == "none (weighting turned off in cx.yaml: the NPS describes respondents)"
    np.testing.assert_allclose(big.tables["nps_quarter"]["nps"], big.tables["nps_quarter_unweighted"]["nps"],
                               atol=1e-12)


def test_too_many_raking_groups_is_said_not_hidden(tmp_path, monkeypatch):
    """A continuous raking covariate (a value per customer) makes too many groups to rake in the
    engine: the respondents stay unweighted and the report says why."""
    import cxanalysis.engine.large as large

    monkeypatch.setattr(large, "MAX_RAKING_GROUPS", 50)
    df = make_customers(800, 1, random_state=2, response_rates={"Basic": 0.3, "Plus": 0.6, "Pro": 0.9})
    big = prepare_large(write_messy_path(df, tmp_path), load_config({"columns": dict(MESSY)}), engine="duckdb",
                        per_stratum=40)
    why = big.cleaning.response[0]["weighting"]
    assert why.startswith("none (more than 50 groups of customers alike on plan, region, tenure_months") \
        and "weighting.by" in why
    np.testing.assert_allclose(big.tables["nps_quarter"]["nps"], big.tables["nps_quarter_unweighted"]["nps"],
                               atol=1e-12)


def write_messy_path(df, tmp_path):
    write_messy(df, tmp_path / "export.parquet")
    return tmp_path / "export.parquet"


def test_a_raked_report_on_the_engine_shows_the_bases_margins(tmp_path):
    """The whole report on DuckDB with non-respondents: the headline NPS is the raked one of the
    pandas route, and page 01's margins table compares the respondents with the base the engine
    counted (the large route never loads the non-respondents)."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.io import load
    from cxanalysis.report import run_report
    from cxanalysis.weighting import compare_margins

    df = make_customers(1500, 1, random_state=6, response_rates={"Basic": 0.2, "Plus": 0.5, "Pro": 0.9})
    cfg = load_config(write_messy(df, tmp_path / "export.parquet"))
    root = run_report(tmp_path / "export.parquet", config=cfg, out=tmp_path / "out", engine="duckdb",
                      per_stratum=200, progress=lambda m: None)
    res = json.loads((root / "results.json").read_text())
    ref = load(tmp_path / "export.parquet", cfg)
    want = PandasEngine(ref.data.drop(columns=["_row", "_source"]), cfg).nps(by=["quarter"]).iloc[0]
    assert res["nps"]["value"] == pytest.approx(want["nps"], abs=1e-9)
    assert res["response"]["weighting"].startswith("raking on plan")
    pd.testing.assert_frame_equal(pd.DataFrame(res["response"]["margins"]),
                                  compare_margins(ref.data, ref.nonrespondents, cfg), check_exact=False, rtol=1e-9)
    page = (root / "01-data-quality.html").read_text()
    basic = next(m for m in res["response"]["margins"] if m["level"] == "Basic")
    assert basic["base_share"] > basic["respondents_share"] + 0.1  # the page shows the gap raking closes
    assert "Basic" in page


def test_earlier_sibling_quarter_folders_feed_the_trends_on_the_engine(tmp_path):
    """``data/2026Q3/`` beside ``data/2026Q1/`` and ``data/2026Q2/`` (files without a quarter
    column, messy names, non-respondents): the engine reads the earlier folders as the pandas
    route does, so every exact table over the three quarters equals the pandas route's to 1e-9;
    a later folder (2026Q4) is left out, and the report's trends have the three quarters."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.engine.choose import QuarterFolders
    from cxanalysis.io import load_with_history
    from cxanalysis.report import run_report
    from tests.test_engines import assert_engines_agree

    df = make_customers(900, 4, random_state=9, response_rates={"Basic": 0.3, "Plus": 0.6, "Pro": 0.9})
    quarters = sorted(df["quarter"].unique())
    names = ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    for q_old, q_new in zip(quarters, names, strict=True):
        (tmp_path / "data" / q_new).mkdir(parents=True)
        part = df[df["quarter"] == q_old].drop(columns="quarter")
        part.rename(columns=MESSY).to_parquet(tmp_path / "data" / q_new / "export.parquet", index=False)
    cfg = load_config({"columns": dict(MESSY)})
    folders = QuarterFolders.of(tmp_path / "data" / "2026Q3")
    assert [q for _, q in folders.parts] == ["2026Q1", "2026Q2", "2026Q3"]
    big = prepare_large(folders, cfg, engine="duckdb", per_stratum=40)
    ref = load_with_history(tmp_path / "data" / "2026Q3", cfg)
    assert_engines_agree(big.tables, PandasEngine(ref.data.drop(columns=["_row", "_source"]), cfg).exact_tables(),
                         "quarter folders")
    assert [r["quarter"] for r in big.cleaning.response] == ["2026Q1", "2026Q2", "2026Q3"]
    assert any("Earlier quarters read from their sibling folders" in n for n in big.cleaning.notes)
    root = run_report(tmp_path / "data" / "2026Q3", config=cfg, out=tmp_path / "out", engine="duckdb",
                      per_stratum=40, progress=lambda m: None)
    res = json.loads((root / "results.json").read_text())
    assert res["quarter"] == "2026Q3" and [t["quarter"] for t in res["trends"]] == ["2026Q1", "2026Q2", "2026Q3"]


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_exports_on_the_engine_equal_the_pandas_route(name):
    """The real exports through DuckDB's large route: every exact table equals the pandas
    route's to 1e-9. The telco export has a "Quarter" column saying "Q3" beside the quarter its
    cx.yaml gives: SQL reads names without regard to case, so the column is kept as "Quarter
    (export)" on both routes, never taken for the run's quarter."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.io import load
    from tests.conftest import real_export
    from tests.test_engines import assert_engines_agree

    data, config = real_export(name)
    cfg = load_config(config)
    ref = load(data, cfg)
    big = prepare_large(data, cfg, engine="duckdb", per_stratum=200)
    assert_engines_agree(big.tables, PandasEngine(ref.data.drop(columns=["_row", "_source"]), cfg).exact_tables(), name)
    if name == "telco":
        assert "Quarter (export)" in ref.data and "present__Quarter (export)" in big.tables["counts"]
        assert big.tables["nps_quarter"]["quarter"].astype(str).tolist() == ["2026Q3"]


def test_names_differing_from_a_canonical_one_only_by_case_are_renamed():
    from cxanalysis.schema import clashing_names

    assert clashing_names(["Quarter", "PLAN", "Region Name", "quarter", "Notes"]) == {
        "Quarter": "Quarter (export)", "PLAN": "PLAN (export)"}
    assert clashing_names(["Score"], ["score"]) == {"Score": "Score (export)"}


@pytest.mark.parametrize("as_text", [False, True], ids=["numbers", "text"])
def test_a_monthly_spend_is_converted_by_the_engine_as_in_pandas(tmp_path, as_text):
    """spend_period: month on the large route: the engine multiplies spend by 3 in its SQL (a text
    column too), so every exact table equals the pandas route's, whose spend is checked by hand."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.io import load
    from tests.test_engines import assert_engines_agree

    df = make_customers(500, 2, random_state=4)
    if as_text:
        df["spend"] = df["spend"].map(repr)
    cfg = load_config({**write_messy(df, tmp_path / "e.parquet"), "spend_period": "month"})
    ref = load(tmp_path / "e.parquet", cfg)
    answered = df["nps_score"].notna().to_numpy()
    np.testing.assert_allclose(ref.data["spend"], df.loc[answered, "spend"].astype(float) * 3, rtol=1e-15)
    big = prepare_large(tmp_path / "e.parquet", cfg, engine="duckdb", per_stratum=60)
    assert any("spend_period: month" in n for n in big.cleaning.notes)
    assert_engines_agree(big.tables, PandasEngine(ref.data.drop(columns=["_row", "_source"]), cfg).exact_tables(),
                         "monthly spend")


def test_recode_merges_spellings_alike_in_memory_and_in_duckdb(tmp_path):
    """cx.yaml's recode merges one category's spellings: the in-memory loader and DuckDB give the
    same notes (rows per spelling, spellings in no row), the same levels and the same exact NPS by
    plan, equal to NPS computed by hand on the recoded column."""
    from cxanalysis.io import load

    df = make_customers(1500, 1, random_state=8)
    df["plan"] = df["plan"].astype(object)
    df.loc[df.index[:40], "plan"] = " basic"   # spaces around a spelling do not stop it matching
    df.loc[df.index[40:70], "plan"] = "BASIC"
    df["channel"] = np.resize(["Mobile Phone", "Phone", "Computer"], len(df))
    cfg = {**write_messy(df, tmp_path / "e.parquet"),
           "recode": {"plan": {"basic": "Basic", "BASIC": "Basic", "Platinum": "Gold"}, "channel": {"Phone": "Mobile Phone"}}}
    config = load_config(cfg)
    memory = load(tmp_path / "e.parquet", config=config)
    run = prepare_large(tmp_path / "e.parquet", config, per_stratum=50)

    def recoded(notes):
        return sorted(n for n in notes if "recoded as cx.yaml asks" in n)

    assert recoded(memory.report.notes) == recoded(run.cleaning.notes) == [
        "'channel' recoded as cx.yaml asks: 500 'Phone' to 'Mobile Phone'.",
        "'plan' recoded as cx.yaml asks: 40 'basic' to 'Basic', 30 'BASIC' to 'Basic' ('Platinum' in no row)."]
    assert set(memory.data["plan"].dropna().astype(str)) == set(run.sample["plan"].dropna().astype(str)) == set(
        df["plan"].replace({" basic": "Basic", "BASIC": "Basic"}).dropna())
    assert set(run.sample["channel"]) == {"Mobile Phone", "Computer"}
    truth = df.assign(plan=df["plan"].replace({" basic": "Basic", "BASIC": "Basic"}))
    seg = run.tables["nps_segments"]
    by_plan = {str(r["segment"]): r["nps"] for r in seg.to_dict("records") if r["dimension"] == "plan"}
    assert set(by_plan) == set(truth["plan"].dropna())
    for plan, part in truth.groupby("plan"):
        s = part["nps_score"].dropna()
        assert by_plan[plan] == pytest.approx(100 * ((s >= 9).mean() - (s <= 6).mean()), abs=1e-9)


def test_recode_errors_name_the_entry_and_the_fix(tmp_path):
    from cxanalysis.config import ConfigError
    from cxanalysis.io import DataError, load

    df = make_customers(300, 1, random_state=2).assign(tier=lambda d: np.arange(len(d)) % 3)
    cfg = write_messy(df, tmp_path / "e.parquet")
    for engine_load in (lambda c: load(tmp_path / "e.parquet", config=c),
                        lambda c: prepare_large(tmp_path / "e.parquet", c, per_stratum=20)):
        with pytest.raises(DataError, match=r"'recode.plann' in cx.yaml names a column the export does not have.*"
                                            r"Did you mean 'plan'\?"):
            engine_load(load_config({**cfg, "recode": {"plann": {"a": "b"}}}))
        with pytest.raises(DataError, match="'recode.tier' in cx.yaml recodes 'tier', which holds numbers"):
            engine_load(load_config({**cfg, "recode": {"tier": {"1": "one"}}}))
    with pytest.raises(ConfigError, match="'recode.churned' recodes the binary column 'churned'; recode is for text"):
        load_config({"recode": {"churned": {"Y": "1"}}})
    with pytest.raises(ConfigError, match=r"quote it \('Yes'\)"):
        load_config({"recode": {"plan": {True: "Basic"}}})
    with pytest.raises(ConfigError, match="both recodes and targets 'b'"):
        load_config({"recode": {"plan": {"a": "b", "b": "c"}}})
