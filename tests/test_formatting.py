"""The one formatting layer (cxanalysis.fmt): every expected string below is worked by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis import fmt, narrative
from cxanalysis.config import ConfigError, load_config


@pytest.mark.parametrize(("value", "currency", "expected"), [
    (1234.5, "EUR", "€1,234"),  # round half to even: 1234.5 -> 1234
    (1235.5, "EUR", "€1,236"),
    (-400000, "EUR", "-€400,000"),
    (1_000_000, "USD", "$1,000,000"),
    (1234, "GBP", "£1,234"),
    (1234, "CHF", "CHF 1,234"),  # no common symbol: the code as a prefix
    (-1234, "CHF", "-CHF 1,234"),
    (1234567.8, None, "1,234,568"),
    (0.4, "EUR", "€0"),
    (float("nan"), "EUR", "–"),
    (None, None, "–"),
    (float("inf"), "EUR", "–"),
])
def test_money(value, currency, expected):
    assert fmt.money(value, currency) == expected


def test_money_decimals_and_missing_text():
    assert fmt.money(12.345, "EUR", decimals=2) == "€12.35"  # 12.345 is stored as 12.3450000000000006
    assert fmt.money(float("nan"), missing="n/a") == "n/a"


@pytest.mark.parametrize(("func", "value", "expected"), [
    (fmt.number, 1234.5678, "1,234.57"),
    (fmt.number, 0.0031, "0.0031"),  # would round to 0.00: two significant digits instead
    (fmt.number, -0.00004, "-0.000040"),
    (fmt.number, 0.0, "0.00"),
    (fmt.number, -0.001, "-0.0010"),
    (fmt.integer, 12000.0, "12,000"),
    (fmt.integer, 7, "7"),
    (fmt.percent, 0.1234, "12.3%"),
    (fmt.percent, 1.0, "100.0%"),
    (fmt.percent, -0.0001, "-0.01%"),  # not "-0.0%": a share that is not zero gets the decimals it needs
    (fmt.percent, -1e-9, "0.000%"),  # beyond three decimals: zero, without a sign
    (fmt.percent, 0.0026, "0.3%"),
    (fmt.points, 1.44, "+1.4"),
    (fmt.points, -0.26, "-0.3"),
    (fmt.points, 0.04, "0.0"),
    (fmt.p_value, 0.0009, "< 0.001"),
    (fmt.p_value, 0.001, "0.001"),
    (fmt.p_value, 0.04249, "0.042"),
    (fmt.p_value, np.nan, "–"),
])
def test_scalar_formatters(func, value, expected):
    assert func(value) == expected


def test_interval_in_the_kind_of_its_estimate():
    assert fmt.interval(0.21, 0.92, "percent") == "21.0% to 92.0%"
    assert fmt.interval(-398053.8, -356144.4, "money", currency="EUR") == "-€398,054 to -€356,144"
    assert fmt.interval(np.nan, np.nan, "number") == "–"


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-9, 0.999))
def test_a_small_ratio_keeps_two_significant_digits(v):
    """Telco's churn baseline odds read "0.001" beside its lower limit "0.0000055": below 1 a ratio
    keeps at least two significant digits, so what is shown is within 5% of the value."""
    shown = fmt.format_value(v, "ratio", decimals=3)
    assert abs(float(shown.replace(",", "")) - v) <= 0.05 * v
    assert fmt.format_value(0.00123, "ratio", decimals=3) == "0.0012" and fmt.format_value(0.808, "ratio") == "0.81"


def test_ratios_keep_their_significant_digits_not_a_fixed_count_of_decimals():
    """A separated term's odds ratio reads "2,811 (414.3 to 353,469)", not "2,810.715 (414.279 to
    353,468.802)": one decimal fewer per digit before the point, down to none."""
    assert fmt.kind_of("ratio") == fmt.kind_of("ratio_ci_low") == fmt.kind_of("rr") == "ratio"
    shown = [fmt.format_value(v, "ratio", decimals=3) for v in (1.1213, 0.0381, 12.345, 145.978, 2810.7151)]
    assert shown == ["1.121", "0.038", "12.35", "146.0", "2,811"]
    assert fmt.interval(414.279, 353468.802, "ratio", decimals=3) == "414.3 to 353,469"
    assert fmt.format_value(0.0000055, "ratio", decimals=3) == "0.0000055"  # small ratios keep two significant digits
    table = pd.DataFrame({"label": ["Detractor"], "ratio": [2810.7151], "ratio_ci_low": [414.279],
                          "ratio_ci_high": [353468.802]})
    html = narrative.styled(table, digits=3).to_html()
    assert "2,811" in html and "414.3 to 353,469" in html and "2,810.715" not in html


@pytest.mark.parametrize(("column", "expected"), [
    ("visits_per_month", "Visits per month"),
    ("n", "Customers"),
    ("ci_low", "95% interval, low"),
    ("roi_ci_high", "ROI, 95% interval, high"),
    ("p_value", "p-value"),
    ("driver_delivery", "Delivery"),
    ("churn_rate", "Churn rate"),
    ("How likely (0-10)", "How likely (0-10)"),  # an export's own heading is kept
    ("plan", "Plan"),
])
def test_label_humanises_column_names(column, expected):
    assert fmt.label(column) == expected


@pytest.mark.parametrize("code", ["eur", "EURO", "E1R", 978, ""])
def test_currency_key_must_be_an_iso_code(code):
    with pytest.raises(ConfigError, match=r"'currency' must be an ISO 4217 code .* got"):
        load_config({"currency": code})


def test_currency_key_default_and_set():
    assert load_config(None).currency is None
    assert load_config({"currency": "JPY"}).currency == "JPY"


def _wide():
    return pd.DataFrame({
        "dimension": ["plan", "plan"], "segment": ["Gold", "=HYPERLINK(1)"], "n": [2331, 40], "share": [0.4662, 0.008],
        "nps": [11.674, -3.04], "ci_low": [8.53, np.nan], "ci_high": [14.78, np.nan], "promoters": [0.363, 0.2],
        "spend": [1341.15, 12.0], "churn_rate": [0.116, 0.0], "p_value": [1e-7, 0.3], "p_holm": [3e-7, 0.6],
        "differs": [True, False], "tested": [True, False], "terms": [["staff", "friendly"], []], "note": ["", None],
    })


def test_table_reader_view_is_narrow_formatted_and_in_words():
    """16 columns (one interval pair): the view keeps 8, the interval as one column, in words."""
    t = fmt.table(_wide(), currency="EUR")
    v = t.view
    assert len(v.columns) == 8
    assert list(v.columns[:6]) == ["Dimension", "Segment", "Customers", "Share", "NPS", "95% interval"]
    row = v.iloc[0].tolist()
    assert row[:6] == ["Plan", "Gold", "2,331", "46.6%", "11.7", "8.5 to 14.8"]  # a dimension's name in words
    assert v.iloc[1]["95% interval"] == "–"
    assert t.hidden == 16 - 9  # 8 shown, one of them standing for two columns
    assert "7 of 16 columns are left out here." in t.to_html()


def test_table_chosen_columns_money_p_values_and_lists():
    t = fmt.table(_wide(), columns=["segment", "spend", "p_value", "differs", "terms", "note"], currency="EUR")
    assert t.view.to_dict("list") == {
        "Segment": ["Gold", "=HYPERLINK(1)"], "Spend": ["€1,341", "€12"], "p-value": ["< 0.001", "0.300"],
        "Score differs from the rest": ["yes", "no"], "Terms": ["staff, friendly", ""], "Note": ["", "–"]}
    # an optional column absent from this export is skipped, not an error
    assert list(fmt.table(_wide(), columns=["segment", "churn_rate_absent", "n"]).view.columns) == ["Segment", "Customers"]


def test_table_writes_the_full_table_as_csv_and_links_it(tmp_path):
    class Ctx:
        cache_dir = tmp_path / "2026Q3" / "_cache"

    target = fmt.csv_target(Ctx(), "02 segments/profile")
    assert target == {"csv": tmp_path / "2026Q3" / "tables" / "02-segments-profile.csv",
                      "href": "tables/02-segments-profile.csv"}
    t = narrative.styled(_wide(), **target)
    html = t.to_html()
    assert '<a class="cx-table-csv" href="tables/02-segments-profile.csv" download>Full table as CSV</a>' in html
    assert "(2 rows, 16 columns)" in html
    back = pd.read_csv(target["csv"])
    # full table, names as in the data; the bare count ``n`` named by its header ("Customers" by default)
    assert list(back.columns) == [("customers" if c == "n" else c) for c in _wide().columns]
    assert back["customers"].tolist() == [2331, 40]
    narrative.styled(_wide(), headers={"n": "Respondents"}, **target)
    assert "respondents" in pd.read_csv(target["csv"]).columns
    both = _wide().assign(customers=[5000, 90])  # a column of the header's name already: n stays n
    narrative.styled(both, headers={"n": "Customers"}, **target)
    assert {"n", "customers"} <= set(pd.read_csv(target["csv"]).columns)
    assert back.loc[1, "segment"] == "'=HYPERLINK(1)"  # formula neutralised
    assert math.isclose(back.loc[0, "share"], 0.4662, rel_tol=0, abs_tol=1e-12)  # full precision
    assert fmt.csv_target(type("NoRun", (), {"cache_dir": None})(), "x") == {}


def test_table_escapes_and_marks_numbers():
    t = fmt.table(pd.DataFrame({"<b>x</b>": ["<img src=x>"], "n": [3]}))
    html = t.to_html()
    assert "<img" not in html and "<b>" not in html and "&lt;img src=x&gt;" in html
    assert 'class="tex2jax_ignore cx-table"' in html and "cx-num" in html


def test_table_never_shows_reprs_or_raw_missing():
    t = fmt.table(pd.DataFrame({"a": [None, np.nan], "b": [float("nan"), 1e-5], "c": [["x", None], ("y",)],
                                "d": [{"k": 1}, pd.NA]}))
    cells = t.view.to_numpy().ravel().tolist()
    for bad in ("nan", "None", "[", "<NA>", "{"):
        assert not any(bad in c for c in cells), (bad, cells)
    assert not {"0.000", "0.00"} & set(cells)  # a non-zero value never reads as zero
    # "a" has no value in any row: left out rather than a column of "–"
    assert list(t.view.columns) == ["B", "C", "D"] and cells == ["–", "x, –", "k: 1", "0.000010", "y", "–"]
    spend = pd.DataFrame({"segment": ["x", "y"], "spend": [np.nan, np.nan], "churn_rate": [0.1, 0.2],
                          "ci_low": [np.nan, 1.0], "ci_high": [np.nan, 2.0]})
    assert list(fmt.table(spend, columns=["segment", "spend", "churn_rate", "ci_low"]).view.columns) == [
        "Segment", "Churn rate", "95% interval"]  # an interval with a value in one row stays
    fmt_cell = fmt.table(pd.DataFrame({"format": [{"delimiter": ",", "note": "Read as comma-separated.", "plain": True}]}))
    assert fmt_cell.view.iloc[0, 0] == "Read as comma-separated."  # a record that says itself in words


def test_differences_of_shares_read_in_percentage_points_with_their_interval():
    t = fmt.table(pd.DataFrame({"share_promoters": [0.399], "diff": [-0.371], "diff_ci_low": [-0.378],
                                "diff_ci_high": [-0.363], "other": [0.117]}), pp=("diff", "other"))
    row = t.view.iloc[0].tolist()
    assert row == ["39.9%", "-37.1 pp", "-37.8 pp to -36.3 pp", "+11.7 pp"]  # never "-37.1%", a relative change
    assert set(t.numeric) == set(t.view.columns)  # right-aligned and kept on one line as every number
    assert fmt.format_value(0.0, "pp") == "0.0 pp" and fmt.format_value(np.nan, "pp") == "–"


def test_a_metrics_table_formats_each_row_in_its_own_unit():
    """Shares read as %, money with its symbol, other numbers as numbers, row by row; counts
    and the unit column itself are left alone."""
    metrics = pd.DataFrame({"metric": ["CSAT (mean)", "Churn rate", "Average spend per customer"],
                            "value": [3.86, 0.107, 506.73], "ci_low": [3.80, 0.094, 481.45],
                            "ci_high": [3.91, 0.121, 532.01], "n": [2540, 2540, 2540],
                            "unit": ["1-5", "share", "money per quarter"]})
    view = fmt.table(metrics, unit="unit", currency="EUR").view
    assert view.iloc[:, 1].tolist() == ["3.86", "10.7%", "€507"]
    assert view.iloc[:, 2].tolist() == ["3.80 to 3.91", "9.4% to 12.1%", "€481 to €532"]
    assert view.iloc[:, 3].tolist() == ["2,540"] * 3 and view.iloc[:, 4].tolist() == metrics["unit"].tolist()
    assert fmt.table(metrics).view.iloc[1, 1] == "0.11"  # without a unit column: plain numbers
    # NPS (points) and the 0-100 health score read with one decimal, as the summary gives them
    scores = pd.DataFrame({"metric": ["NPS", "Health score (mean)"], "value": [21.8339, 59.0978],
                           "ci_low": [17.7152, 58.3125], "ci_high": [25.8571, 59.883], "unit": ["points", "0-100"]})
    view = fmt.table(scores, unit="unit").view
    assert view.iloc[:, 1].tolist() == ["21.8", "59.1"] and view.iloc[:, 2].tolist() == ["17.7 to 25.9", "58.3 to 59.9"]
    assert fmt.kind_of("break_even_per_month") == "points"

def test_quantile_bands_read_as_parts_not_calendar_quarters():
    """Hand-worked: 0..99 in quarters has edges 0, 24.75, 49.5, 74.25, 99, so the whole numbers
    0-24 fall in [0, 24.75], 25-49 in (24.75, 49.5], ...; the same edges over numbers with
    decimals read as the edges themselves."""
    from cxanalysis import segments

    q = segments.band(pd.Series(np.arange(100.0)), q=4)
    assert list(q.cat.categories) == ["lowest quartile (0–24)", "second quartile (25–49)",
                                      "third quartile (50–74)", "highest quartile (75–99)"]
    assert q.value_counts(sort=False).tolist() == [25, 25, 25, 25]
    x = segments.band(pd.Series([*np.arange(99.0), 99.5]), q=4)  # 0..98 and 99.5: edges 0, 24.75, ...
    assert list(x.cat.categories)[0] == "lowest quartile (0–24.8)"
    assert segments.band(pd.Series(np.arange(10.0)), q=3).cat.categories[0].startswith("lowest third (")


def test_table_rows_names_and_prefixed_intervals():
    t = pd.DataFrame({"driver": ["driver_delivery", "driver_price_fairness"], "roi": [0.55, -0.1],
                      "roi_ci_low": [0.21, -0.3], "roi_ci_high": [0.92, 0.1]})
    out = fmt.table(t, rows=1)
    assert out.view.to_dict("list") == {"Driver": ["Delivery"], "ROI": ["55.0%"],
                                        "ROI, 95% interval": ["21.0% to 92.0%"]}
    assert "The first 1 of 2 rows are shown." in out.to_html()


# --- the rendered pages (one report run with currency: EUR) ----------------------------------------

@pytest.fixture(scope="module")
def eur_report(tmp_path_factory):
    from cxanalysis.report import run_report
    from cxanalysis.sample import make_customers

    tmp = tmp_path_factory.mktemp("eur")
    make_customers(1500, 2, random_state=21).to_csv(tmp / "customers.csv", index=False)
    (tmp / "cx.yaml").write_text("currency: EUR\n")
    return run_report(tmp / "customers.csv", config=tmp / "cx.yaml", out=tmp / "reports", progress=lambda m: None)


def _cells(html: str) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]


@pytest.mark.slow
def test_rendered_pages_show_formatted_cells_and_link_full_tables(eur_report):
    import re

    pages = sorted(eur_report.glob("0[1-6]-*.html"))
    assert len(pages) == 6
    for page in pages:
        html = page.read_text(encoding="utf-8")
        tables = re.findall(r"<table[^>]*cx-table[^>]*>.*?</table>", html, re.S)
        assert tables, page.name
        for t in tables:
            heads = re.findall(r"<th[^>]*col_heading[^>]*>(.*?)</th>", t, re.S)
            assert len(heads) <= 8, (page.name, heads)
            assert not [h for h in heads if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h.strip())], (page.name, heads)
            for cell in _cells(t):
                assert cell not in ("nan", "None", "NaN", "0.000", "0.00", "<NA>"), (page.name, cell)
                assert not cell.startswith("["), (page.name, cell)
        for href in re.findall(r'class="cx-table-csv" href="([^"]+)"', html):
            assert (eur_report / href).is_file(), href
    seg = (eur_report / "02-segments.html").read_text(encoding="utf-8")
    assert "€" in "".join(_cells(seg))  # spend in euros
    assert 'href="tables/02-segments.csv"' in seg
    roi = (eur_report / "05-roi.html").read_text(encoding="utf-8")
    assert re.search(r"worth \*?\*?(<strong>)?-?€[\d,]+", roi) or "€" in roi
    quality = (eur_report / "01-data-quality.html").read_text(encoding="utf-8")
    assert "rows_dropped" not in quality and "Rows dropped" not in quality  # nothing dropped: a sentence only
    assert "No row was dropped." in quality


@pytest.mark.parametrize(("column", "expected"), [("visits_per_month", "visits per month"), ("plan", "plan"),
                                                   ("nps", "NPS"), ("job_title", "job title")])
def test_words_for_sentences(column, expected):
    assert fmt.words(column) == expected


def test_sentences_name_dimensions_in_words():
    row = {"dimension": "visits_per_month", "mix": 1.0, "mix_ci_low": -0.5, "mix_ci_high": 2.5, "within": 2.0,
           "within_ci_low": 1.0, "within_ci_high": 3.0, "top_mix_segment": "x", "top_mix_share_before": 0.2,
           "top_mix_share_now": 0.3}
    s = narrative.change_decomposition_sentence(row)
    assert s.startswith("By visits per month: the changed mix of visits per month explains no detectable part")
    assert "_" not in s


def test_effect_scale_reads_in_words_and_headers_can_be_named():
    """The effects table's "Scale" column read "ratio" / "pp"; an interval pair's header can be
    named ("Likely range") and the p-value inside a sentence reads "p = 0.042" / "p < 0.001"."""
    eff = pd.DataFrame({"outcome": ["spend", "churn"], "contrast": ["promoter_vs_passive", "promoter_vs_passive"],
                        "estimate": [1.18, -3.1], "ci_low": [1.1, -4.0], "ci_high": [1.25, -2.2],
                        "scale": ["ratio", "pp"]})
    v = fmt.table(eff).view
    assert list(v["Scale"]) == ["Ratio", "Percentage points"]
    assert list(v["Contrast"]) == ["Promoter vs passive"] * 2
    v = fmt.table(eff, columns=["outcome", "estimate", "ci_low"], headers={"ci_low": "Likely range",
                                                                         "outcome": "Outcome measured"}).view
    assert list(v.columns) == ["Outcome measured", "Estimate", "Likely range"]
    assert list(v["Likely range"]) == ["1.10 to 1.25", "-4.00 to -2.20"]
    t = fmt.table(eff, columns=["outcome", "estimate", "ci_low"])
    assert t.numeric == ("Estimate", "95% interval")  # the text column stays left-aligned
    assert [fmt.p_phrase(p) for p in (0.0419, 0.0004, None)] == ["p = 0.042", "p < 0.001", "p not available"]


def test_shift_says_the_direction_in_words():
    assert fmt.shift(-10.44) == "lowers it by 10.4 points"
    assert fmt.shift(2) == "raises it by 2.0 points"
    assert fmt.shift(0.04) == "leaves it unchanged"
    assert fmt.shift(float("nan")) == "changes it by an unknown amount"


def test_columns_mixing_whole_numbers_and_fractions_get_the_decimals_each_value_needs():
    t = pd.DataFrame({"horizon_years": [0.25, 1.0, 3.0], "min": [0.0, 1.5, 1234.567], "estimate": [1.0, 2.5, 3.0]})
    assert fmt.kind_of("horizon_years", t["horizon_years"]) == "trimmed"
    assert [fmt.format_value(v, "trimmed") for v in t["horizon_years"]] == ["0.25", "1", "3"]
    assert [fmt.format_value(v, "trimmed") for v in t["min"]] == ["0", "1.5", "1,234.57"]
    assert [fmt.format_value(v, fmt.kind_of("estimate", t["estimate"])) for v in t["estimate"]] == ["1.00", "2.50", "3.00"]
    # a column of whole numbers only reads as integers
    assert fmt.kind_of("visits", pd.Series([1.0, 3.0, 10.0])) == "int"


def test_listing_joins_items_as_a_sentence_does():
    assert [fmt.listing(x) for x in ([], ["a"], ["a", "b"], ["1", "5", "10"])] == ["", "a", "a and b", "1, 5 and 10"]


def test_an_interval_column_takes_its_estimate_header_when_renamed():
    """A renamed estimate names its interval alike ("Net score (CSAT), 95% interval"), so a table
    does not call one score by two names."""
    t = pd.DataFrame({"name": ["A"], "nps": [10.0], "nps_ci_low": [5.0], "nps_ci_high": [15.0]})
    html = fmt.table(t, headers={"nps": "Net score (CSAT)"})._repr_html_()
    assert ">Net score (CSAT)</th>" in html and ">Net score (CSAT), 95% interval</th>" in html and "NPS" not in html
    assert ">NPS, 95% interval</th>" in fmt.table(t)._repr_html_()
