"""Tables as the reader sees them: rounding, counts and percentages."""

import pandas as pd
import pytest

from cxanalysis import narrative


def test_styled_formats_counts_percentages_and_decimals():
    """Hand-worked: counts with separators and no decimals, shares to 0.1%, NPS points to 0.1,
    other numbers to ``digits``; headers in words."""
    t = pd.DataFrame({"cluster": [0, 1], "n": [1945.0, 12000.0], "share": [0.389, 0.2612],
                      "nps": [63.391, -49.6249], "passives": [650, 1521], "coef": [0.123456, 2.0]})
    html = narrative.styled(t, percent=("share",)).to_html()
    for text in (">0<", ">1<", ">1,945<", ">12,000<", ">38.9%<", ">63.4<", ">-49.6<", ">650<", ">1,521<",
                 ">0.12<", ">2.00<", ">Customers<", ">Share<", ">NPS<", ">Coefficient<"):
        assert text in html, text
    assert "650.00" not in html and "0.00<" not in html


# --- sentences the intervals support (issue 12, item 12) --------------------------------------

import numpy as np  # noqa: E402

from cxanalysis.summary import effect_sentence  # noqa: E402


def _effects(**over):
    row = dict(outcome="churn", contrast="promoter_vs_passive", estimate=-1.5, ci_low=-3.8, ci_high=0.9, scale="pp",
               evalue=1.4, evalue_ci=1.0, flagged=False)
    row.update(over)
    return pd.DataFrame([row])


@pytest.mark.parametrize(("outcome", "scale", "est", "lo", "hi", "expected"), [
    ("churn", "pp", -1.5, -3.8, 0.9,
     "Promoters and comparable passives show no detectable difference in churn (estimate for promoters against passives: -1.5 pp, likely range -3.8 to +0.9 pp)."),
    ("churn", "pp", -3.1, -3.8, -2.4, "Promoters churn 3.1 percentage points lower than comparable passives (likely range 2.4 to 3.8 pp lower)."),
    ("spend", "ratio", 1.02, 0.97, 1.08,
     "Promoters and comparable passives show no detectable difference in spend (estimate for promoters against passives: +2%, likely range -3% to +8%)."),
    ("returns", "ratio", 0.74, 0.69, 0.80,
     "Promoters return 26% fewer items per order than comparable passives (likely range 20% to 31% fewer)."),
    ("returns", "ratio", 0.9, 0.7, 1.0,  # touching no effect is not a detected difference
     "Promoters and comparable passives show no detectable difference in returns per order (estimate for promoters against passives: -10%, likely range -30% to 0%)."),
])
def test_effect_sentence_says_no_detectable_difference_when_the_interval_spans_no_effect(outcome, scale, est, lo, hi, expected):
    assert effect_sentence(outcome, "promoter_vs_passive", dict(estimate=est, ci_low=lo, ci_high=hi, scale=scale)) == expected


def test_effect_sentence_handles_missing_numbers_and_flags():
    s = effect_sentence("churn", "promoter_vs_passive", dict(estimate=-2.0, ci_low=None, ci_high=None, scale="pp"))
    assert "no likely range available" in s and "lower" in s
    s = effect_sentence("spend", "detractor_vs_passive", dict(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, scale="ratio"))
    assert s == "Detractors: the spend effect could not be estimated from this export."
    s = effect_sentence("churn", "promoter_vs_passive", dict(estimate=-3.0, ci_low=-5.0, ci_high=-1.0, scale="pp", flagged=True))
    assert s.endswith("(likely range 1.0 to 5.0 pp lower) (indicative: separation).")


def test_effects_summary_flags_separation_and_prints_no_e_value():
    plain = narrative.effects_summary(_effects(estimate=-3.0, ci_low=-5.0, ci_high=-1.0, evalue=2.1, evalue_ci=1.5))
    assert "E-value 2.10" in plain and "indicative" not in plain
    flagged = narrative.effects_summary(_effects(estimate=-3.0, ci_low=-5.0, ci_high=-1.0, flagged=True))
    assert "(indicative: separation)" in flagged and "E-value" not in flagged
    spans = narrative.effects_summary(_effects())
    assert "no detectable difference in churn (estimate for promoters against passives: -1.5 pp, likely range -3.8 to +0.9 pp)" in spans and "lower" not in spans


@pytest.mark.parametrize(("lo", "hi", "start"), [
    (0.2, 0.9, "The program pays for itself"),
    (-0.9, -0.2, "The program does not pay for itself"),
    (-0.4, 0.6, "The data cannot tell whether the program pays for itself (the ROI's likely range is -40% to 60%)"),
    (0.0, 0.6, "The data cannot tell whether"),
    (None, None, "The data cannot tell whether"),
])
def test_roi_verdict_never_claims_a_loss_the_interval_does_not_support(lo, hi, start):
    v = narrative.roi_verdict(lo, hi)
    assert v.startswith(start)
    if lo is None or lo <= 0 <= hi:
        assert "does not pay for itself" not in v


def test_break_even_is_stated_only_when_the_value_is_surely_positive():
    s = narrative.break_even_summary(0.05, 2000, 400.0, (-50.0, 900.0))
    assert s == ("**Break-even:** no break-even can be stated: the value per moved customer may be zero or negative "
                 "(likely range -50 to 900).")
    assert "no break-even" in narrative.break_even_summary(float("inf"), 2000, -10.0, (-80.0, 40.0))
    s = narrative.break_even_summary(0.05, 2000, 400.0, (200.0, 800.0))
    # share(v) = share * value / v: 0.05 * 400 / 800 = 2.5% and 0.05 * 400 / 200 = 10%
    assert "once 5.0% of passives are moved (100 customers)" in s and "likely range 2.5% to 10.0%" in s
    assert "even moving every passive" in narrative.break_even_summary(1.5, 2000, 10.0, (5.0, 20.0))


def _profile(**cols):
    base = dict(dimension=["plan", "plan", "region"], segment=["Basic", "Pro", "Tiny"], n=[400, 300, 1],
                nps=[10.0, 30.0, -100.0], ci_low=[5.0, 25.0, -100.0], ci_high=[15.0, 35.0, 48.5],
                differs=pd.array([True, True, pd.NA], dtype="boolean"), tested=[True, True, False])
    base.update(cols)
    return pd.DataFrame(base)


def test_segments_summary_names_only_tested_segments():
    s = narrative.segments_summary(_profile())
    assert "Tiny" not in s.split("information only.")[1]
    assert "lowest: **Plan: Basic**" in s and "Highest tested: **Plan: Pro**" in s
    assert "1 segment is too small to test" in s
    assert "have an NPS that differs" in s
    assert "have a Net score (CSAT) that differs" in narrative.segments_summary(_profile(), score="Net score (CSAT)")
    none = narrative.segments_summary(_profile(tested=[False, False, False], differs=pd.array([pd.NA] * 3, dtype="boolean")))
    assert none.startswith("No segment is large enough to be tested") and "Tiny" not in none


def test_styled_shows_export_text_escaped():
    t = pd.DataFrame({"<b>col</b>": ["<img src=x onerror=alert(1)>"], "plan": pd.Categorical(["a&b"]),
                      "terms": [["<i>late</i>", "wait"]], "n": [3]})
    html = narrative.styled(t).to_html()
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    for text in ("&lt;b&gt;col&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;", "a&amp;b",
                 "&lt;i&gt;late&lt;/i&gt;, wait", ">3<", 'class="tex2jax_ignore cx-table"'):
        assert text in html, text


def test_escape_markdown_keeps_emphasis_and_breaks_links_images_code_and_math():
    """Hand-worked: html.escape first, then [ ] \\ ` $ as decimal character references."""
    assert narrative.escape_markdown("**<b>Gold</b>** [x](javascript:alert(1))") == (
        "**&lt;b&gt;Gold&lt;/b&gt;** &#91;x&#93;(javascript:alert(1))")
    assert narrative.escape_markdown("![i](u) `c` $x$ a\\b & c") == (
        "!&#91;i&#93;(u) &#96;c&#96; &#36;x&#36; a&#92;b &amp; c")
    assert narrative.md("- **a** <s>").data == "- **a** &lt;s&gt;"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+A1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"])
def test_neutralise_csv_prefixes_formula_cells(cell):
    out = narrative.neutralise_csv(pd.DataFrame({"comment": [cell, "fine"]}))
    assert out["comment"].tolist() == ["'" + cell, "fine"]


def test_neutralise_csv_keeps_numbers_numeric_and_checks_headers(tmp_path):
    t = pd.DataFrame({"=cmd": ["a", None], "plan": pd.Categorical(["@x", "Gold"]), "spend": [-5.5, 2.0],
                      "n": [-1, 3], "mixed": [-2, "-2"]})
    out = narrative.neutralise_csv(t)
    assert list(out.columns) == ["'=cmd", "plan", "spend", "n", "mixed"]
    assert out["plan"].tolist() == ["'@x", "Gold"] and out["mixed"].tolist() == [-2, "'-2"]
    assert out["spend"].dtype == t["spend"].dtype and out["n"].dtype == t["n"].dtype
    assert pd.isna(out["'=cmd"].iloc[1]) and t.columns[0] == "=cmd"  # the input is not changed
    narrative.safe_csv(t, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["spend"].tolist() == [-5.5, 2.0] and back["n"].tolist() == [-1, 3]
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "'=cmd,plan,spend,n,mixed"
    # a lone sign (a driver's slope, "+") holds no formula and stays as it is; "+1" or "-x" do not
    signs = narrative.neutralise_csv(pd.DataFrame({"sign": ["+", "-", "+1", "-x", "++"]}))
    assert signs["sign"].tolist() == ["+", "-", "'+1", "'-x", "'++"]


def test_flagged_effect_says_why_instead_of_an_e_value():
    e = pd.DataFrame([dict(outcome="churn", contrast="promoter_vs_passive", estimate=-3.0, ci_low=-5.0, ci_high=-1.0,
                           scale="pp", evalue=float("nan"), evalue_ci=float("nan"), flagged=True,
                           flag_reason="all 37 customers with plan = Pro have churned = 0")])
    out = narrative.effects_summary(e)
    assert out.endswith("Why flagged: all 37 customers with plan = Pro have churned = 0.") and "E-value" not in out


def _decomposition(mix=(7.1, 5.9, 8.3), within=(0.2, -1.9, 2.3)):
    return {"from": "2026Q1", "to": "2026Q2", "change": mix[0] + within[0], "ci_low": 5.1, "ci_high": 9.5,
            "by": [{"dimension": "plan", "mix": mix[0], "mix_ci_low": mix[1], "mix_ci_high": mix[2],
                    "within": within[0], "within_ci_low": within[1], "within_ci_high": within[2],
                    "top_mix_segment": "Gold", "top_mix_share_before": 0.2, "top_mix_share_now": 0.4}]}


def test_change_decomposition_sentences_follow_their_intervals():
    """The issue's example: of +7.3 points, +7.1 from more Gold customers; within plans, nothing
    detectable. And the reverse case: a real change within, a mix whose interval spans 0."""
    s = narrative.change_decomposition_sentence(_decomposition()["by"][0])
    assert s == ("By plan: +7.1 points come from the changed mix of plan (likely range +5.9 to +8.3), mostly more Gold "
                 "customers (20% of respondents then, 40% now); within each plan, NPS did not detectably change "
                 "(+0.2, likely range -1.9 to +2.3).")
    s = narrative.change_decomposition_sentence(_decomposition(mix=(0.4, -0.8, 1.6), within=(6.0, 3.9, 8.1))["by"][0])
    assert "explains no detectable part of it (+0.4, likely range -0.8 to +1.6)" in s
    assert "within each plan, NPS moved +6.0 points (likely range +3.9 to +8.1)" in s
    md = narrative.change_decomposition_summary(_decomposition())
    assert md.startswith("NPS moved **+7.3 points** from 2026Q1 to 2026Q2") and "- By plan:" in md
    csat = narrative.change_decomposition_summary(_decomposition(mix=(0.4, -0.8, 1.6), within=(6.0, 3.9, 8.1)),
                                                  "Net score (CSAT)")
    assert csat.startswith("Net score (CSAT) moved **+6.4 points**") and "NPS" not in csat
    assert "within each plan, Net score (CSAT) moved +6.0 points" in csat


def test_summary_names_what_moved_nps():
    from cxanalysis.summary import headline_sentences

    res = {"quarter": "2026Q2", "n_customers": 10, "nps_change": _decomposition()}
    noisy = dict(_decomposition(mix=(9.0, -20.0, 38.0))["by"][0], dimension="region")  # larger, but unclear
    res["nps_change"]["by"].append(noisy)
    said = headline_sentences(res)
    split = [s for s in said if s.startswith("Of the ")]  # the sentence names the change it splits
    assert len(split) == 1 and ", by plan: +7.1 points come from the changed mix" in split[0]
    assert split[0].startswith(f"Of the {res['nps_change']['change']:+.1f} points since {res['nps_change']['from']}, ")
    assert not any("by region" in s for s in said)


def test_targeting_sentence_says_when_the_best_segment_is_not_singled_out():
    best = {"dimension": "plan", "segment": "Pro", "value_per_customer": 690.0, "ci_low": 610.0, "ci_high": 770.0}
    s = narrative.targeting_sentence(best, 523.0, (408.0, 636.0))
    assert s == ("A moved passive is worth most in Plan: Pro, at 690 per moved passive (likely range 610 to 770), "
                 "against 523 (408 to 636) over all passives.")
    s = narrative.targeting_sentence({**best, "ci_low": 500.0}, 523.0, (408.0, 636.0))
    assert s.endswith("its likely range reaches the overall value, so the data do not single it out.")
    s = narrative.targeting_sentence({**best, "value_per_customer": 40.0, "ci_low": -10.0, "ci_high": 90.0}, 5.0, (-30.0, 40.0))
    assert s.endswith("its likely range includes no value at all, so the data cannot tell whether it is worth anything there.")
    # the telco case: every segment loses value; "pays most" would be wrong
    s = narrative.targeting_sentence({**best, "value_per_customer": -24.0, "ci_low": -34.0, "ci_high": -12.0}, -29.0,
                                     (-38.0, -20.0))
    assert s.startswith("Moving passives loses value in every segment on this evidence; the smallest loss is in "
                        "Plan: Pro, at -24 per moved passive") and "pays most" not in s
    # ... and whether that smallest loss stands out from the rest, as a lead would be judged
    lead = {"diff_vs_all": 5.0, "diff_ci_low": -2.0, "diff_ci_high": 12.0}
    s = narrative.targeting_sentence({**best, "value_per_customer": -24.0, "ci_low": -34.0, "ci_high": -12.0, **lead,
                                      "diff_adj_ci_low": -6.0}, -29.0, (-38.0, -20.0), n_compared=12)
    assert s.endswith("over all passives; allowing for the 12 segments compared, the data do not single it out.")
    s = narrative.targeting_sentence({**best, "value_per_customer": -24.0, "ci_low": -34.0, "ci_high": -12.0, **lead,
                                      "diff_adj_ci_low": 1.0}, -29.0, (-38.0, -20.0), n_compared=12)
    assert s.endswith("over all passives.")


def test_targeting_summary_says_where_it_loses_most_when_the_worst_segment_loses():
    import pandas as pd

    rows = [{"dimension": "plan", "segment": s, "value_per_customer": v, "ci_low": v - 10, "ci_high": v + 10}
            for s, v in (("Pro", 30.0), ("Basic", -20.0))]
    result = type("R", (), {"value_per_customer": 5.0, "intervals": {"value_per_customer": (-5.0, 15.0)},
                            "cost": 1000.0, "customers_moved": 100})()
    text = narrative.targeting_summary(pd.DataFrame(rows), result)
    assert "It loses most in Plan: Basic, at -20 per moved passive (likely range -30 to -10)." in text
    rows[1]["value_per_customer"], rows[1]["ci_low"], rows[1]["ci_high"] = 10.0, 0.0, 20.0
    text = narrative.targeting_summary(pd.DataFrame(rows), result)
    assert "A moved passive is worth least in Plan: Basic, at 10 per moved passive" in text


def test_sentences_write_money_in_the_configured_currency():
    """Hand-worked: the same figures as above, with the euro sign and thousands separators."""
    best = {"dimension": "plan", "segment": "Pro", "value_per_customer": 6900.0, "ci_low": 6100.0, "ci_high": 7700.0}
    s = narrative.targeting_sentence(best, 5230.0, (4080.0, 6360.0), currency="EUR")
    assert s == ("A moved passive is worth most in Plan: Pro, at €6,900 per moved passive (likely range €6,100 to "
                 "€7,700), against €5,230 (€4,080 to €6,360) over all passives.")
    s = narrative.break_even_summary(0.05, 2000, 400.0, (-50.0, 900.0), currency="CHF")
    assert "(likely range -CHF 50 to CHF 900)" in s


def test_assumptions_table_shows_each_value_in_its_unit():
    """Hand-worked from the config: 35% margin, €12.50 a return, 8% discount, 3 years, €50,000 and
    €120,000 a year, 5% to 15% of passives."""
    from cxanalysis import roi
    from cxanalysis.config import load_config

    a = roi.Assumptions.from_config(load_config({"roi": {"share_of_passives_moved": [0.05, 0.15],
                                                         "cost_per_return": 12.5}}))
    view = narrative.assumptions_table(a, currency="EUR").view
    assert view["Value"].tolist() == ["35.0%", "€12.50", "8.0%", "3", "€50,000", "€120,000", "5.0% to 15.0%",
                                    "not set: the share of passives moved is used"]
    assert view["Assumption"].tolist() == a.to_frame()["assumption"].tolist()
    default = narrative.assumptions_table(roi.Assumptions.from_config(load_config(None))).view
    assert default["Value"].tolist() == ["35.0%", "12", "8.0%", "3", "50,000", "120,000", "10.0%",
                                         "not set: the share of passives moved is used"]


def test_health_weights_sentence_names_columns_in_words():
    assert (narrative.health_weights_sentence({"visits_per_month": 0.3, "support_tickets": -0.25})
            == "Health score weights: visits per month 0.3, support tickets -0.25.")
    assert narrative.health_weights_sentence({}) == "Health score weights: none configured."
    # every component present: the CX score named as the score it is, never the config's key "cx"
    every = {"cx": 0.4, "visits_per_month": 0.2, "support_tickets": 0.2, "tenure_months": 0.2}
    assert (narrative.health_weights_sentence(every, ["nps_score", *every], score="nps_score")
            == "Health score weights: CX score (NPS score) 0.4, visits per month 0.2, support tickets 0.2, "
               "tenure (months) 0.2.")


def test_health_weights_sentence_gives_the_weights_used_when_components_are_missing():
    """The weights metrics.health_score applies: those present, rescaled to their sum. Checked by
    recomputing a customer's score from the sentence's weights."""
    from cxanalysis.metrics import health_score

    weights = {"cx": 0.4, "visits_per_month": 0.2, "support_tickets": 0.2, "tenure_months": 0.2}
    s = narrative.health_weights_sentence(weights, present=["csat", "tenure_months", "churned"], score="csat")
    assert s.startswith("Health score weights, as used: CX score (CSAT) 0.67, tenure (months) 0.33.")
    assert s.endswith("not in it: visits per month and support tickets.")
    df = pd.DataFrame({"csat": [1.0, 5.0, 3.0, 4.0], "tenure_months": [3.0, 40.0, 12.0, 1.0]})
    h = health_score(df, weights=weights, score="csat", scale=[1, 5])
    by_hand = 100 * ((2 / 3) * (df["csat"] - 1) / 4 + (1 / 3) * df["tenure_months"].rank(pct=True))
    np.testing.assert_allclose(h, by_hand, rtol=1e-12)
    # every component present: the configured weights as they are
    assert narrative.health_weights_sentence(weights, present=["csat", *weights], score="csat") == \
        narrative.health_weights_sentence(weights, score="csat")
    assert "none of its components" in narrative.health_weights_sentence(weights, present=["churned"], score="csat")


def test_estimand_list_heads_each_effect_in_words():
    from cxanalysis import narrative

    e = pd.DataFrame({"outcome": ["spend", "returns", "churn"],
                      "contrast": ["promoter_vs_passive", "detractor_vs_passive", "per_point"],
                      "estimand": ["A <b>", "B", "C"]})
    text = narrative.estimand_list(e)
    assert text.splitlines() == ["- **Spend, promoters vs passives**: A <b>", "- **Returns, detractors vs passives**: B",
                                 "- **Churn, per point of the score**: C"]
    assert "&lt;b&gt;" in narrative.md(text).data and "_vs_" not in text  # shown as text, never raw names


def test_cleaning_summary_says_its_counts_span_every_quarter():
    """Rows read and kept count every quarter of the export; the line says which, so they are
    not read against the report quarter's figures. One quarter: no span to state."""
    from cxanalysis.io import CleaningReport

    rep = CleaningReport(rows_in=32_000, rows_out=31_990,
                         response=[{"quarter": q, "base": 8000, "respondents": 2500}
                                   for q in ("2026Q1", "2025Q4", "2026Q3", "2026Q2")])
    rep.drop("no customer id", pd.Series(["row 7"]), 10)
    text = narrative.cleaning_summary(rep)
    assert text.startswith("**32,000 rows read, 31,990 kept** (10 dropped) over the export's 4 quarters "
                           "(2025Q4 to 2026Q3); the report quarter's own counts follow.")
    one = narrative.cleaning_summary(CleaningReport(rows_in=5, rows_out=5, response=[{"quarter": "2026Q3"}]))
    assert one.startswith("**5 rows read, 5 kept** (0 dropped).")


def test_adjustment_summary_reads_each_effect_both_ways():
    t = pd.DataFrame({"outcome": ["spend", "churn"], "scale": ["ratio", "pp"], "estimate": [1.12, -4.8],
                      "ci_low": [1.02, -8.3], "ci_high": [1.23, -1.2], "estimate_adj": [1.05, -4.1],
                      "ci_low_adj": [0.96, -7.7], "ci_high_adj": [1.15, -0.4], "n_adj": [2540, 2540]})
    t.attrs["added"] = ["visits_per_month", "contract_value"]
    md = narrative.adjustment_summary(t)
    assert md.startswith("**Adjusted also for visits per month and contract value**")
    assert ("- Promoters and comparable passives show no detectable difference in spend (estimate for promoters against passives: +5%, likely range "
            "-4% to +15%). As reported above: +12%.") in md
    assert "- Promoters churn 4.1 percentage points lower than comparable passives (likely range 0.4 to 7.7 pp " \
           "lower). As reported above: -4.8 pp." in md
    assert "Refitted on 2,540 respondents." in md


def test_metrics_summary_says_what_was_complete_in_the_pages_words():
    assert narrative.metrics_summary({}) == "Every metric could be computed from this export."
    assert narrative.metrics_summary({}, none_skipped="Every configured segment dimension is in this export.") == \
        "Every configured segment dimension is in this export."
    assert narrative.metrics_summary({"segment age": "no age column"}, none_skipped="unused") == \
        "Not computed (column absent): **segment age** (no age column)."
    # on a CSAT export the pages call its net score "NPS": the absent metric says which NPS it is
    assert narrative.metrics_summary({"NPS": "no nps_score column"}) == \
        "Not computed (column absent): **NPS of the 0-10 recommend question** (no nps_score column)."


def test_the_roi_page_says_once_at_its_top_when_it_has_nothing_to_show():
    assert narrative.roi_missing_summary({}) == "The spend and churn models the ROI needs were fitted."
    text = narrative.roi_missing_summary({"spend": "no spend column"})
    assert text == ("**No ROI on this export.** It needs a spend model (no spend column), so the page's ROI sections "
                    "are skipped for that reason and left out: the assumptions above are those it would use.")


def test_the_page_says_which_outcomes_were_modelled():
    """E-commerce has churn only: the method text describes three models, the sentence says which
    ran and why the others did not; a skipped contrast is left to the warnings."""
    said = narrative.outcomes_sentence(["churn"], {"spend": "no spend column", "returns": "no returns or orders column",
                                                   "churn.promoter_vs_passive": "no promoters"})
    assert said == ("**Modelled on this export:** churn. Not modelled: spend (no spend column); returns (no returns "
                    "or orders column).")
    assert narrative.outcomes_sentence(["spend", "churn", "returns"], {}) == (
        "**Modelled on this export:** spend, churn and returns.")
    assert narrative.outcomes_sentence([], {"churn": "no churned column"}) == (
        "**No outcome could be modelled on this export:** churn (no churned column).")


def test_the_baseline_row_has_no_p_value_on_the_page():
    """The intercept's test (that the baseline odds are 1) is no finding: its p-value is empty on
    the page; every other row keeps the model's, and the table given is not changed."""
    t = pd.DataFrame({"term": ["Intercept", "cx_category[T.detractor]"], "p_value": [1e-9, 0.02]})
    shown = narrative.baseline_untested(t)
    assert np.isnan(shown["p_value"].iloc[0]) and shown["p_value"].iloc[1] == 0.02
    assert t["p_value"].tolist() == [1e-9, 0.02]


def test_firth_sentence_names_only_the_rows_the_data_do_not_bound():
    """No Firth fit: nothing said. A Firth fit: its rows with intervals wider than 100-fold are
    named per outcome (computed from the ratio limits), the well-estimated ones are not."""
    t = pd.DataFrame({"outcome": ["spend", "churn", "churn", "churn", "any_spend"],
                      "label": ["Promoter (vs passive)", "Detractor (vs passive)", "Promoter (vs passive)", "Plan: Pro",
                                "Region: North"],
                      "ratio_ci_low": [0.8, 414.3, 0.006, 0.15, 0.5], "ratio_ci_high": [0.9, 353469.0, 210.6, 0.24, 40.0],
                      "ci_method": ["Wald (robust sandwich)", "profile penalised likelihood", "profile penalised likelihood",
                                    "profile penalised likelihood", "Wald (model-based)"]})
    assert narrative.firth_sentence(t.iloc[:1]) == ""
    base = pd.DataFrame({"outcome": ["churn"], "term": ["Intercept"], "label": ["Baseline (intercept)"],
                         "ratio_ci_low": [5e-6], "ratio_ci_high": [0.006], "ci_method": ["profile penalised likelihood"]})
    assert "Baseline" not in narrative.firth_sentence(base) and "100-fold" not in narrative.firth_sentence(base)
    text = narrative.firth_sentence(t)
    assert text.startswith("The churn and any spend models fell back to Firth's penalised likelihood")
    assert ("In churn, Detractor (vs passive) and Promoter (vs passive) have intervals spanning more than a 100-fold "
            "range: the data say little about their sizes") in text
    assert "Plan: Pro" not in text and "Region: North" not in text  # 1.6-fold and 80-fold
    assert text.endswith("Read such a row only for its direction, and only where its whole interval is on one side of 1.")


def test_respondents_without_a_value_are_read_with_their_churn_test():
    """E-commerce: 264 customers without a tenure churn 30.7% against 16.0%, beyond chance after Holm
    over them and the segments; the line says so, and says "not different" when the test does not
    find it; an untested group gets no verdict."""
    row = {"dimension": "tenure_months_band", "n": 264, "share": 0.047, "nps": -30.0, "nps_ci_low": -40.0,
           "nps_ci_high": -20.0, "nps_rest": -10.0, "churn": 0.307, "churn_ci_low": 0.25, "churn_ci_high": 0.36,
           "churn_rest": 0.16, "churn_differs": True}
    text = narrative.unsegmented_summary(pd.DataFrame([row]))
    assert ("and 30.7% of them churned (25.0% to 36.0%) against 16.0%: more than the others beyond chance, "
            "allowing for the number of groups compared.") in text
    text = narrative.unsegmented_summary(pd.DataFrame([dict(row, churn_differs=False)]))
    assert "against 16.0%: not different beyond chance" in text
    text = narrative.unsegmented_summary(pd.DataFrame([dict(row, churn_differs=None)]))
    assert text.endswith("against 16.0%.")


def test_segment_and_cluster_churn_sentences_name_who_churns_more_and_less():
    """The sentence counts the groups tested, names those whose churn differs (Holm) as more or
    less than the rest with both rates, and the rows are those, highest churn first; without a
    churn column, or with no group tested, it says why."""
    seg = pd.DataFrame({"dimension": ["plan", "plan", "region"], "segment": ["Basic", "Pro", "North"], "n": [400, 300, 50],
                        "nps": [5.0, 30.0, 10.0], "ci_low": [0.0, 25.0, -5.0], "ci_high": [10.0, 35.0, 25.0],
                        "churn_rate": [0.137, 0.06, 0.2], "churn_rate_ci_low": [0.1, 0.04, 0.1],
                        "churn_rate_ci_high": [0.17, 0.08, 0.3], "churn_rest": [0.08, 0.12, 0.1],
                        "churn_p_holm": [0.001, 0.01, 0.4], "churn_differs": [True, True, False]})
    text, rows = narrative.segment_churn(seg)
    assert text.startswith("2 of 3 tested segments churn differently from the rest of the customers (at the 5% level, "
                           "corrected for testing all 3 at once;")
    assert text.endswith("More than the rest: **Plan: Basic** (13.7% against 8.0%). Less than the rest: **Plan: Pro** "
                         "(6.0% against 12.0%).")
    assert rows["segment"].tolist() == ["Basic", "Pro"] and "churn_p_holm" not in rows
    assert rows["direction"].tolist() == ["more", "less"]
    calm = seg.assign(churn_differs=False)
    assert narrative.segment_churn(calm)[0].endswith("Churn does not tell any segment apart beyond chance.")
    assert narrative.segment_churn(calm)[1].empty
    assert narrative.segment_churn(seg.drop(columns=["churn_p_holm", "churn_differs"]))[0] == (
        "No segment's churn is compared with the rest: no segment is large enough to test.")
    assert narrative.segment_churn(seg.drop(columns=["churn_rate", "churn_p_holm"]))[0].endswith(
        "the export has no churn column.")
    clus = seg.drop(columns=["dimension", "segment"]).assign(name=["leavers", "stayers", "<b>x</b>"])
    text, rows = narrative.cluster_churn(clus)
    assert "2 of 3 tested clusters" in text and "**leavers** (13.7% against 8.0%)" in text
    assert rows["name"].tolist() == ["<b>x</b>", "leavers", "stayers"]  # every cluster tested, highest churn first
    assert rows["direction"].tolist() == ["within chance", "more", "less"]  # x does not differ after Holm
    assert narrative.cluster_churn(clus.drop(columns=["churn_p_holm"]))[0].endswith("the clusters were cut on churn itself.")
    two = clus.iloc[:2]
    text, rows = narrative.cluster_churn(two)
    assert text == ("With two clusters each is the other's rest, so this is one comparison (a pooled two-proportion "
                    "z-test): **leavers** churns more than **stayers** beyond chance (13.7% against 6.0%).")
    assert len(rows) == 2
    assert narrative.cluster_churn(two.assign(churn_differs=False))[0].endswith(
        "**leavers** churns 13.7% and **stayers** 6.0%, not different beyond chance.")
    assert narrative.cluster_churn(clus, circular=True)[0].endswith(
        "partly restate the score's link with churn; the summary's Where customers leave leaves them out.")
    # many groups: the sentence names the first three each way (most churn first, least churn
    # first), the table all of them
    many = pd.DataFrame({"dimension": ["plan"] * 9, "segment": [f"s{i}" for i in range(9)], "n": [100] * 9,
                         "churn_rate": [0.5, 0.4, 0.3, 0.25, 0.2, 0.01, 0.02, 0.03, 0.04], "churn_rest": [0.1] * 9,
                         "churn_p_holm": [0.001] * 9, "churn_differs": [True] * 9})
    text, rows = narrative.segment_churn(many)
    assert text.endswith("More than the rest: **Plan: s0** (50.0% against 10.0%); **Plan: s1** (40.0% against 10.0%); "
                         "**Plan: s2** (30.0% against 10.0%); and 2 more in the table. Less than the rest: **Plan: s5** "
                         "(1.0% against 10.0%); **Plan: s6** (2.0% against 10.0%); **Plan: s7** (3.0% against 10.0%); "
                         "and 1 more in the table.")
    assert len(rows) == 9


def test_trend_summary_states_the_last_change_and_the_year_in_the_scores_name():
    """The page's trend sentence, worked by hand: the last step with its interval and p-value, then
    the year's change; one quarter has no trend; the net score of CSAT is named as such."""
    trend = pd.DataFrame({"quarter": ["2026Q2", "2026Q3"], "nps": [16.04, 20.0], "change": [np.nan, 3.96],
                          "change_ci_low": [np.nan, -1.5], "change_ci_high": [np.nan, 9.5], "p_value": [np.nan, 0.197]})
    year = {"from": "2025Q4", "to": "2026Q3", "quarters_apart": 3, "change": 11.1, "ci_low": 5.3, "ci_high": 16.9}
    text = narrative.trend_summary(trend, year)
    assert text.startswith("NPS moved from 16.0 in 2026Q2 to 20.0 in 2026Q3: a change of +4.0 points (likely range "
                           "-1.5 to +9.5, p = 0.197), not statistically significant at the 5% level. Over the 3 quarters "
                           "since 2025Q4 NPS moved +11.1 points (likely range +5.3 to +16.9): a change beyond chance.")
    csat = narrative.trend_summary(trend, year, "Net score (CSAT)")
    assert csat.startswith("Net score (CSAT) moved from 16.0") and "NPS" not in csat
    assert narrative.trend_summary(trend.iloc[:1]).startswith("Only one quarter is loaded")


def test_dimensions_sentence_names_the_configured_dimensions_and_the_skipped():
    """Page 02 names the dimensions this run used, not the defaults; a skipped one with its reason."""
    from cxanalysis.config import load_config
    from cxanalysis.sample import make_customers
    from cxanalysis.segments import add_segments

    cfg = load_config({"segments": {"dimensions": ["region", "tenure_months", "job_title"]}})
    data = make_customers(400, 1, random_state=3).drop(columns="job_title")
    _, _, skipped = add_segments(data, cfg)
    assert set(skipped) == {"job_title"}
    text = narrative.dimensions_sentence(cfg, skipped)
    assert text.startswith("Segmented by the dimensions configured (segments.dimensions in cx.yaml, or its defaults): Region and "
                           "Tenure (months). Not computed (column absent): **segment job_title** (")
    assert "Plan" not in text


def test_the_profile_caption_defines_what_the_page_shows_then_what_only_the_csv_holds():
    full = pd.DataFrame({"customers": [10], "spend": [100.0], "churn_rate": [0.1], "clv": [350.0],
                         "returns_rate": [0.05], "health": [60.0]})
    assert narrative.profile_caption(full) == (
        "Spend is per quarter (a monthly or yearly figure in the export is converted: spend_period in cx.yaml); churn "
        "is the share who left in the quarter; CLV, below, is margin x spend / churn (see page 03 for its "
        "definition). The full table (CSV) adds returns rate (returns per order) and health (the configured 0-100 "
        "composite).")
    # respondents only, no CLV: spend is in the profiles' table itself; nothing at all: no caption
    assert narrative.profile_caption(full.drop(columns=["customers", "clv", "returns_rate", "health"])).startswith(
        "Spend is per quarter") and narrative.profile_caption(pd.DataFrame({"n": [3]})) == ""
