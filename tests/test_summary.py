"""The executive summary's sentences and tiles say only what the intervals support (issue 12)."""

import html
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cxanalysis import summary


def _results(**over):
    r = {"quarter": "2026Q3", "n_customers": 1000,
         "nps": {"value": 20.0, "ci_low": 15.0, "ci_high": 25.0, "promoters": 0.4, "passives": 0.4, "detractors": 0.2},
         "effects": {"churn": {"promoter_vs_passive": {"estimate": -1.5, "ci_low": -3.8, "ci_high": 0.9, "scale": "pp"}}},
         "roi": {"passive_to_promoter": {"customers_moved": 40, "value_per_customer": 212.0, "horizon_years": 3,
                                         "benefit": 8480.0, "cost": 6000.0, "net": 2480.0, "roi": 0.41,
                                         "roi_ci_low": -0.3, "roi_ci_high": 1.2,
                                         "value_per_customer_ci_low": 100.0, "value_per_customer_ci_high": 330.0}}}
    r.update(over)
    return r


def test_headline_effect_spanning_no_effect_and_roi_spanning_break_even():
    s = summary.headline_sentences(_results())
    assert "Promoters and comparable passives show no detectable difference in churn (estimate for promoters against passives: -1.5 pp, likely range -3.8 to +0.9 pp)." in s
    assert not any("percentage points lower" in x for x in s)
    assert any(x.startswith("The data cannot tell whether the program pays for itself") for x in s)
    assert not any("does not pay for itself" in x for x in s)
    assert any("per moved passive over 3 years (likely range 100 to 330)" in x for x in s)


def test_roi_tile_shows_its_interval_and_survives_missing_limits():
    tile = summary.roi_tile(_results()["roi"]["passive_to_promoter"])
    assert "<b>41%</b>" in tile and "likely range -30% to 120%" in tile
    assert "<b>–</b><span class='muted'>no likely range available" in summary.roi_tile(
        {"roi": None, "roi_ci_low": None, "roi_ci_high": None})


def test_write_index_roi_tile(tmp_path):
    html = summary.write_index(tmp_path, _results(), []).read_text()
    assert "ROI, passives to promoters<b>41%</b><span class='muted'>likely range -30% to 120%" in html


SEGS = [
    {"dimension": "plan", "segment": "Basic", "n": 400, "nps": 10.0, "ci_low": 5.0, "ci_high": 15.0, "differs": True},
    {"dimension": "plan", "segment": "Pro", "n": 300, "nps": 30.0, "ci_low": 25.0, "ci_high": 35.0, "differs": True},
    {"dimension": "region", "segment": "North", "n": 300, "nps": 12.0, "ci_low": 2.0, "ci_high": 22.0, "differs": False},
    {"dimension": "region", "segment": "Tiny", "n": 1, "nps": -100.0, "ci_low": -100.0, "ci_high": 48.5, "differs": None},
]


def test_segments_at_risk_differ_and_lie_below_the_overall_nps():
    assert [r["segment"] for r in summary.segments_at_risk(SEGS, 20.0)] == ["Basic"]
    html = summary.segments_at_risk_html(SEGS, 20.0)
    assert "Basic" in html and "Pro" not in html and "Tiny" not in html and "North" not in html
    assert ">Respondents</th>" in html and ">Customers</th>" not in html  # n counts those who answered
    assert ">NPS</th>" in html and "Churn rate" not in html  # no churn figures: no churn column
    # a score that is not NPS is named as the page names it, and the churn rate stands beside it
    churn = [dict(r, churn_rate=0.184) for r in SEGS]
    html = summary.segments_at_risk_html(churn, 20.0, label="Net score (CSAT)", churn=0.168)
    assert ">Net score (CSAT)</th>" in html and ">NPS</th>" not in html and "Segments whose Net score (CSAT) is" in html
    assert ">Churn rate</th>" in html and ">18.4%</td>" in html
    assert "and whose churn is above the rest's, each beyond chance allowing for the number of segments compared: a " \
           "low score is a risk where it goes with leaving" in html
    # a low-scoring segment that churns less than all customers is not at risk (e-commerce: tenure
    # 3-8 months, 7.4% against 16.8%); the block says why none is
    calm = [dict(r, churn_rate=0.074) for r in SEGS]
    assert summary.segments_at_risk(calm, 20.0, 0.168) == [] and len(summary.segments_at_risk(calm, 20.0)) == 1
    html = summary.segments_at_risk_html(calm, 20.0, label="Net score (CSAT)", churn=0.168)
    assert "No segment is at risk: those whose Net score (CSAT) is below the overall one (and differs from the rest " \
           "of the customers) do not churn more than the rest beyond chance, allowing for the number of segments " \
           "compared." in html and "Basic" not in html


def test_a_segment_churning_more_only_within_chance_is_not_at_risk():
    """The churn rule uses the segment's churn interval: 11.1% (8.0% to 15.2%) against 10.7% overall
    is within chance (the sample's second quartile of visits); 18.4% (16.0% to 21.0%) is not. The
    table gives the interval beside the rate."""
    from cxanalysis.metrics import wilson_interval

    noisy = [dict(r, churn_rate=0.111, churn_rate_ci_low=0.080, churn_rate_ci_high=0.152) for r in SEGS]
    assert summary.segments_at_risk(noisy, 20.0, 0.107) == []
    lo, hi = wilson_interval(0.184 * 1000, 1000)
    clear = [dict(r, churn_rate=0.184, churn_rate_ci_low=lo, churn_rate_ci_high=hi) for r in SEGS]
    assert [r["segment"] for r in summary.segments_at_risk(clear, 20.0, 0.107)] == ["Basic"]
    html = summary.segments_at_risk_html(clear, 20.0, churn=0.107)
    assert ">Churn, likely range</th>" in html and f">{100 * lo:.1f}% to {100 * hi:.1f}%</td>" in html


def test_the_churn_rule_compares_with_the_rest_after_holm():
    """With the test against the rest in results (``churn_differs`` after Holm, ``churn_rest``), a
    segment is at risk when its churn differs and is the higher, whatever its interval against the
    overall rate (the sample's Basic plan: 13.7%, 10.6% to 17.5%, against 10.7% overall and 8.0%
    for the rest); one that churns less than the rest, or was not tested, is not."""
    row = dict(SEGS[0], churn_rate=0.137, churn_rate_ci_low=0.106, churn_rate_ci_high=0.175, churn_rest=0.080)
    assert summary.segments_at_risk([dict(row, churn_differs=True)], 20.0, 0.107)[0]["segment"] == "Basic"
    assert summary.segments_at_risk([dict(row, churn_differs=False)], 20.0, 0.107) == []
    assert summary.segments_at_risk([dict(row, churn_differs=None)], 20.0, 0.107) == []
    assert summary.segments_at_risk([dict(row, churn_differs=True, churn_rest=0.2)], 20.0, 0.107) == []
    html = summary.segments_at_risk_html([dict(row, churn_differs=True)], 20.0, churn=0.107)
    assert ">The rest&#39;s churn</th>" in html
    assert ">8.0%</td>" in html


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.sampled_from([True, False, None]),
                          st.sampled_from([0.3, 0.7, 0.9, None])), min_size=0, max_size=12))
def test_where_customers_leave_lists_the_groups_churning_more_than_the_rest(groups):
    """Exactly the segments and reproducible clusters whose churn differs from the rest's and is the
    higher, highest churn first, at most six; unstable clusters and, when the clusters were cut
    on churn, every cluster are left out; names from the export are escaped."""
    segs, clus, gaps = [], [], []
    for i, (rate, rest, differs, stab) in enumerate(groups):
        row = {"n": 100, "nps": 0.0, "ci_low": -5.0, "ci_high": 5.0, "churn_rate": rate, "churn_rest": rest,
               "churn_differs": differs}
        if i % 3 == 1:
            segs.append(dict(row, dimension="plan", segment=f"<b>{i}</b>"))
        elif i % 3 == 2:  # respondents a dimension leaves out: their churn under its own names
            gaps.append({"dimension": f"d{i}_band", "n": 100, "nps": 0.0, "nps_ci_low": -5.0, "nps_ci_high": 5.0,
                         "churn": rate, "churn_rest": rest, "churn_differs": differs})
        else:
            clus.append(dict(row, name=f"c{i}", stability=stab, nps_ci_low=-5.0, nps_ci_high=5.0))
    more = [r["churn"] for r in gaps if r["churn_differs"] is True and r["churn"] > r["churn_rest"]]
    want = [r["churn_rate"] for r in segs if r["churn_differs"] is True and r["churn_rate"] > r["churn_rest"]] + more + \
        [r["churn_rate"] for r in clus if r["churn_differs"] is True and r["churn_rate"] > r["churn_rest"]
         and not (r["stability"] is not None and r["stability"] < 0.6)]
    got = summary.churn_leaders(segs, clus, unsegmented=gaps)
    assert [r["churn_rate"] for r in got] == sorted(want, reverse=True)[:6]
    assert all(not r["group"].startswith("Cluster") for r in summary.churn_leaders(segs, clus, clusters_usable=False))
    assert all(r["group"].endswith(": no value") == (r.get("segment") == "no value") for r in got)
    assert "Cluster: " not in summary.churn_leaders_html(segs, clus, churn=0.1, circular=True)  # cut on the score
    page = summary.churn_leaders_html(segs, clus, churn=0.1, unsegmented=gaps)
    assert "<b>" not in page
    # the clusters shown that reproduce only as a pattern (0.6 to 0.75) are named under the table, the others not
    doubtful = [r["name"] for r in got if "name" in r and r["stability"] is not None and r["stability"] < 0.75]
    assert ("only as a pattern" in page) == bool(doubtful)
    for r in clus:
        assert (f"{r['name']} (stability" in page) == (r["name"] in doubtful)
    if got:
        assert "<h2>Where customers leave</h2>" in page and page.count("<tr") == len(got) + 1
    elif any(r["churn_differs"] is not None for r in segs + clus + gaps):
        assert "No segment or cluster churns more than the rest of the customers beyond chance" in page
    else:
        assert page == ""  # nothing tested: no block
    assert summary.churn_leaders_html(segs, clus, churn=None) == ""  # no churn in the export


def test_where_customers_leave_reads_its_rows_honestly():
    """Telco's case: the clusters were cut on the score itself, so a cluster's churn restates it
    and is left out, said so; every churner is a detractor (the score tracks churn), so the
    caveat says a low score and high churn are one fact; rows already at risk are marked; each
    group's share of the respondents and of the leavers stands beside its rate; a narrow
    cluster interval reads with one decimal like a segment's; the segments' overlap is said."""
    seg = {"n": 1724, "share": 0.245, "leavers_share": 0.47, "nps": -54.9, "ci_low": -58.22, "ci_high": -51.33,
           "churn_rate": 0.509, "churn_rate_ci_low": 0.485, "churn_rate_ci_high": 0.532, "churn_rest": 0.187,
           "churn_differs": True, "dimension": "tenure_months", "segment": "lowest quartile (1–8)"}
    plan = dict(seg, dimension="plan", segment="Month-to-Month", churn_rate=0.458, share=0.51, leavers_share=0.89)
    clus = {"name": "Low CSAT, new", "n": 2065, "share": 0.29, "leavers_share": 0.83, "nps": -96.2,
            "nps_ci_low": -96.94, "nps_ci_high": -95.23, "churn_rate": 0.754, "churn_rate_ci_low": 0.735,
            "churn_rate_ci_high": 0.772, "churn_rest": 0.063, "churn_differs": True, "stability": 0.9}
    page = summary.churn_leaders_html([seg, plan], [clus], churn=0.265, label="Net score (CSAT)", circular=True,
                                      tracks="no promoter and no passive", at_risk={"Plan: Month-to-Month"})
    assert "Low CSAT" not in page and "Clusters are left out: they were cut on the CX score itself" in page
    assert ("In this export no promoter and no passive churned (see Read before acting), so a group churns more to "
            "the extent that it holds more of the low scorers. Here and in Segments at risk, a high churn rate and a "
            "low Net score (CSAT) are close to one fact, not two warnings.") in page
    assert page.count("class='caveat'") == 1
    assert ">Share of all who left</th>" in page and ">89.0%</td>" in page and "Share of customers" not in page
    assert ">-58.2 to -51.3</td>" in page and "-58.22" not in page
    assert ">In the at-risk tables</th>" in page and page.count(">yes</td>") == 1 and page.count(">no</td>") == 1
    assert "A customer can be in several rows" in page
    usable = summary.churn_leaders_html([seg], [clus], churn=0.265)
    assert "Cluster: Low CSAT, new" in usable and ">-96.9 to -95.2</td>" in usable and "left out" not in usable
    assert "caveat" not in usable and "at-risk tables" not in usable and "several rows" in usable  # and a cluster
    assert "several rows" not in summary.churn_leaders_html([seg], [], churn=0.265)
    assert "(one per dimension)." in summary.churn_leaders_html([seg, plan], [], churn=0.265)
    assert "Churn is the respondents', weighted to the whole customer base" in summary.churn_leaders_html(
        [seg], [], churn=0.265, weighted=True)
    census = summary.churn_leaders_html([seg], [], churn=0.265, weighted=True, census=True)
    assert ("Each group's churn is its respondents', weighted to the whole customer base, so that it sits beside "
            "their score; the churn of all customers is over every customer of the quarter") in census
    assert "can differ a little" not in census
    # respondents a dimension leaves out are a group of their own (e-commerce: 264 without a tenure)
    gap = {"dimension": "tenure_months_band", "n": 264, "share": 0.047, "leavers_share": 0.086, "nps": -30.0,
           "nps_ci_low": -40.0, "nps_ci_high": -20.0, "churn": 0.307, "churn_ci_low": 0.25, "churn_ci_high": 0.36,
           "churn_rest": 0.16, "churn_differs": True}
    page = summary.churn_leaders_html([seg], [], churn=0.265, unsegmented=[gap])
    assert ">Tenure (months): no value</td>" in page and ">30.7%</td>" in page and ">-40.0 to -20.0</td>" in page
    assert summary.churn_leaders_html([], [], churn=0.265, unsegmented=[gap]).count("<tr") == 2
    assert "no value" not in summary.churn_leaders_html([seg], [], churn=0.265,
                                                        unsegmented=[dict(gap, churn_differs=False)])
    # the at-risk block gives each segment's share of the leavers; the caveat is the leave block's alone
    risky = dict(seg, differs=True)
    at_risk = summary.segments_at_risk_html([risky], 20.0, churn=0.265)
    assert ">Share of all who left</th>" in at_risk and ">47.0%</td>" in at_risk and "caveat" not in at_risk
    # nothing churns more, yet the score tracks churn: the caveat still stands
    assert "close to one fact" in summary.churn_leaders_html([dict(seg, churn_differs=False)], [], churn=0.265,
                                                             tracks="no promoter")


def test_a_low_scoring_segment_that_churns_less_is_named_so():
    """E-commerce: tenure 3-8 months scores low but churns 7.4% against 16.8% for the rest, beyond
    chance after Holm: the block says that a low score there does not go with leaving."""
    calm = [dict(SEGS[0], churn_rate=0.074, churn_rest=0.168, churn_differs=True)]
    page = summary.segments_at_risk_html(calm, 20.0, churn=0.15)
    assert "No segment is at risk" in page and "Plan: Basic (7.4% against 16.8%) scores low but churns <b>less</b> " \
        "than the rest, beyond chance. A low score there does not go with leaving." in page
    two = calm + [dict(SEGS[2], churn_rate=0.05, churn_rest=0.17, churn_differs=True, differs=True)]
    assert "Some score low but churn <b>less</b> than the rest, beyond chance: Plan: Basic (7.4% against 16.8%); " \
        "Region: North (5.0% against 17.0%)." in summary.segments_at_risk_html(two, 20.0, churn=0.15)
    within = summary.segments_at_risk_html([dict(calm[0], churn_differs=False)], 20.0, churn=0.15)
    assert "No segment is at risk" in within and "less" not in within


def test_no_segment_at_risk_says_so_instead_of_listing_all(tmp_path):
    none = [dict(r, differs=False if r["differs"] is not None else None) for r in SEGS]
    page = summary.write_index(tmp_path, _results(segments=none), []).read_text()
    assert ("No segment's NPS differs from the rest of the customers, allowing for the number of segments compared."
            in page)
    assert "Basic" not in page and "Tiny" not in page


CLUSTERS = [
    {"name": "high-spend", "n": 500, "nps": 45.0, "nps_ci_low": 40.0, "nps_ci_high": 50.0, "passives": 100},
    {"name": "rare visitors", "n": 300, "nps": 5.0, "nps_ci_low": -2.0, "nps_ci_high": 12.0, "passives": 90},
    {"name": "new", "n": 40, "nps": 10.0, "nps_ci_low": -20.0, "nps_ci_high": 38.0, "passives": 10},
]


def test_clusters_at_risk_are_below_the_overall_nps_with_their_whole_interval():
    assert [r["name"] for r in summary.clusters_at_risk(CLUSTERS, 20.0)] == ["rare visitors"]
    html = summary.clusters_at_risk_html(CLUSTERS, 20.0)
    assert "rare visitors" in html and "high-spend" not in html and ">new</td>" not in html and ">rare visitors</td>" in html
    # respondents and weighted passives in one row: each column says which it counts
    assert ">Respondents</th>" in html and ">Passives in the customer base</th>" in html and ">Customers</th>" not in html
    none = summary.clusters_at_risk_html(CLUSTERS, 0.0)
    assert "No cluster's NPS stands out" in none and "Churn does tell" not in none and "high-spend" not in none
    # clusters cut on the CX score: none is named at risk (its low NPS is how it was made)
    circular = summary.clusters_at_risk_html(CLUSTERS, 20.0, circular=True)
    assert "rare visitors" not in circular and "cut on the CX score itself" in circular


def test_assumptions_sentence_states_a_range_of_passives_moved():
    from cxanalysis.summary import assumptions_sentence

    a = dict(gross_margin=0.35, cost_per_return=12.0, discount_rate=0.08, horizon_years=3, program_cost_per_year=50000,
             team_cost_per_year=120000, customers_moved=None, share_of_passives_moved=0.10,
             share_of_passives_moved_range=[0.05, 0.15])
    s = assumptions_sentence({"roi": {"passive_to_promoter": {"assumptions": a}}})
    assert "between 5% and 15% of passives moved (figures at the midpoint, 10%)" in s
    assert s.endswith("Amounts are in the export's own currency (set currency: in cx.yaml, e.g. EUR, to show its symbol).")
    euros = assumptions_sentence({"roi": {"passive_to_promoter": {"assumptions": a}}, "run": {"config": {"currency": "EUR"}}})
    assert "€50,000" in euros and "own currency" not in euros


# --- the summary page in words (issue 15): fmt for every number, no raw material ----------------

def _visible(page: str) -> str:
    import html as html_
    import re

    text = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html_.unescape(re.sub(r"<[^>]+>", " ", text))


def _page_results():
    segs = [dict(SEGS[0], dimension="visits_per_month", segment="lowest quartile (0–2)"), *SEGS[1:]]
    trends = [{"quarter": "2026Q2", "nps": 16.0, "ci_low": 11.0, "ci_high": 21.0},
              {"quarter": "2026Q3", "nps": 20.0, "ci_low": 15.0, "ci_high": 25.0, "change": 4.0,
               "change_ci_low": -1.5, "change_ci_high": 9.5, "p_value": 0.197}]
    r = _results(segments=segs, trends=trends, clusters={"profile": CLUSTERS}, run={"config": {"currency": "EUR"}})
    r["roi"]["passive_to_promoter"]["assumptions"] = dict(
        gross_margin=0.35, cost_per_return=12.0, discount_rate=0.08, horizon_years=3, program_cost_per_year=50000,
        team_cost_per_year=120000, customers_moved=None, share_of_passives_moved=0.10)
    r["roi"]["by_segment"] = [{"dimension": "visits_per_month", "segment": "highest quartile", "value_per_customer": 400.0,
                               "ci_low": 250.0, "ci_high": 550.0}]
    return r


def test_index_page_has_no_raw_names_ci_columns_holm_or_p_values(tmp_path):
    """Before: "visits_per_month" in the segments table, "CI low"/"CI high" headers, "after
    Holm's correction", the change tile "p = 0.197" and amounts without the currency."""
    import re

    page = summary.write_index(tmp_path, _page_results(), ["02-segments"]).read_text()
    text = _visible(page)
    assert re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text) == []
    for raw in ("CI low", "CI high", "Holm", "p = ", "95% CI", "95% interval "):
        assert raw not in text, raw
    assert "Since 2026Q2 +4.0 A change within chance (likely range -1.5 to +9.5)" in " ".join(text.split())
    assert "Since last quarter (2026Q2) NPS moved +4.0 points (likely range -1.5 to +9.5): a change within chance." in text
    assert ("differs from the rest of the customers, allowing for the number of segments compared" in text)
    # the segments table: dimension in words, one "Likely range" column formatted by fmt
    assert re.search(r"<th[^>]*>NPS, likely range</th>", page) and not re.search(r"<th[^>]*>CI", page)
    assert re.search(r"<td[^>]*>Visits per month</td>\s*<td[^>]*>lowest quartile \(0–2\)</td>\s*<td[^>]*>400</td>"
                     r"\s*<td[^>]*>10.0</td>\s*<td[^>]*>5.0 to 15.0</td>", page)
    # clusters: the name column is "Cluster", the interval one column
    assert re.search(r"<th[^>]*>Cluster</th>", page)
    assert re.search(r"<td[^>]*>rare visitors</td>\s*<td[^>]*>300</td>\s*<td[^>]*>5.0</td>\s*<td[^>]*>-2.0 to 12.0</td>"
                     r"\s*<td[^>]*>90</td>", page)
    # every amount in the configured currency, the evidence list included
    assert "worth €212 per moved passive over 3 years (likely range €100 to €330): benefit €8,480 against cost €6,000" in text
    assert "Visits per month: highest quartile, at €400 per moved passive (likely range €250 to €550)" in text
    assert "cost per return €12.00" in text and "program cost €50,000 and team cost €120,000 a year" in text


def test_change_in_words_follows_the_likely_range():
    """A change is real only when its likely range excludes 0 (hand-worked cases)."""
    assert summary.change_in_words(6.2, 0.7, 11.7) == "a change beyond chance"
    assert summary.change_in_words(-4.0, -7.0, -1.5) == "a change beyond chance"
    assert summary.change_in_words(4.0, -1.5, 9.5) == "a change within chance"
    assert summary.change_in_words(4.0, None, 9.5) == "a change whose reliability cannot be judged"



def test_the_years_climb_is_stated_beside_the_last_step(tmp_path):
    """A last step within chance does not hide a real rise over the year: the headline, the
    evidence and the tiles give both, each judged by its own likely range."""
    trends = [{"quarter": "2025Q4"}, {"quarter": "2026Q1"}, {"quarter": "2026Q2"},
              {"quarter": "2026Q3", "change": 4.1, "change_ci_low": -1.7, "change_ci_high": 10.0}]
    year = {"from": "2025Q4", "to": "2026Q3", "quarters_apart": 3, "change": 11.1, "ci_low": 5.3, "ci_high": 16.9}
    r = _results(trends=trends, nps_change_year=year)
    assert summary.headline(r) == ("NPS is 20.0 in 2026Q3, up 4.1 points since 2026Q2, a change within chance "
                                   "(likely range -1.7 to +10.0); up 11.1 points since 2025Q4, a change beyond chance "
                                   "(likely range +5.3 to +16.9).")
    assert ("Over the 3 quarters since 2025Q4 NPS moved +11.1 points (likely range +5.3 to +16.9): a change beyond chance."
            in summary.headline_sentences(r))
    page = summary.write_index(tmp_path, r, []).read_text()
    assert "Since 2025Q4<b>+11.1</b><span class='muted'>A change beyond chance (likely range +5.3 to +16.9)" in page
    four = dict(year, **{"from": "2025Q3", "quarters_apart": 4, "ci_low": -0.5})
    assert summary.year_change_sentence(four) == ("Over the year since 2025Q3 NPS moved +11.1 points "
                                                  "(likely range -0.5 to +16.9): a change within chance.")
    assert summary.year_change_sentence(None) is None
    assert "since 2025Q4" not in summary.headline(_results(trends=trends))

def test_respondents_tile_names_the_base_when_non_respondents_were_kept(tmp_path):
    resp = {"base": 8000, "respondents": 1000, "rate": 0.125, "weighting": "raking on plan"}
    page = summary.write_index(tmp_path, _results(response=resp), []).read_text()
    assert "Respondents<b>1,000</b><span class='muted'>of 8,000 customers (12%)</span>" in page
    assert "Customers<b>1,000</b>" not in page
    page = summary.write_index(tmp_path, _results(), []).read_text()  # everyone answered
    assert "Customers<b>1,000</b>" in page


def test_recommendation_names_the_assumption_it_hinges_on():
    """Break-even share cost / (passives x value) at the value's interval limits, by hand:
    6000 / (400 x 330) = 4.5% and 6000 / (400 x 100) = 15%; the point 6000 / (400 x 212) = 7.1%."""
    r = _results()
    r["roi"]["passive_to_promoter"].update(n_passives=400, break_even_share=6000 / (400 * 212.0))
    kind, text = summary.recommendation(r)
    assert kind == "pilot"
    assert text.endswith("This rests on the program moving 10% of passives (40 customers, moved once); it breaks even at 7.1% "
                         "(likely range 4.5% to 15.0%).")
    r["roi"]["passive_to_promoter"].update(break_even_share=1.4)
    assert "break even only by moving 140.0% (likely range 4.5% to 15.0%) of them, more than there are" in \
        summary.recommendation(r)[1]
    assert summary.assumption_hinge({"n_passives": 0}) == ""


def test_skipped_analyses_are_named_in_words_with_their_reasons(tmp_path):
    skipped = {"nps_change": "only one quarter loaded: no change to split", "metric csat": "no csat column",
               "segment age": "no age column", "cluster column visits_per_month": "constant", "<b>odd</b>": "x"}
    page = summary.write_index(tmp_path, _results(analyses_skipped=skipped), []).read_text()
    items = re.findall(r"<li><b>(.*?)</b>:? (.*?)</li>", page[page.index("Analyses skipped"):])
    assert items[:5] == [("What moved NPS: customer mix or real change", "only one quarter loaded"),
                         ("&lt;b&gt;odd&lt;/b&gt;", "x"),  # an unknown key as it is, escaped
                         ("Cluster column: Visits per month", "constant"),
                         ("Segment dimension: Age", "no age column"),
                         # the metrics whose column is absent, in one line
                         ("Metrics", "whose column this export lacks: CSAT")]
    # the absent metrics are counted as metrics, not as analyses
    assert "<details><summary>4 analyses and 1 metric could not run on this export (open for the list" in page
    assert "<summary>3 metrics could not run" in summary.skipped_html({"metric CES": "no ces column",
                                                                      "metric MRR": "no mrr column",
                                                                      "metric CLV": "no spend column"})
    many = summary.skipped_html({"metric CES": "no ces column", "metric NPS": "no nps_score column",
                                 "metric Renewal rate": "no renewed column", "metric CLV": "spend is constant"})
    assert "<li><b>Metrics</b> whose column this export lacks: CES, NPS and Renewal rate</li>" in many
    assert "<li><b>Metric: CLV</b>: spend is constant</li>" in many  # another reason keeps its own line
    assert summary.skipped_html({}) == ""
    # the three analyses that one loaded quarter rules out share one line
    one = summary.skipped_html({"trends": "only one quarter loaded", "nps_change": "only one quarter loaded: no change "
                                "to split", "nps_change_year": "only one quarter loaded", "themes": "no comment column"})
    assert ("<li><b>What moved NPS: customer mix or real change, NPS change over the year and Quarter-over-quarter "
            "trends</b>: only one quarter loaded</li>") in one and one.count("<li>") == 2
    # another net score is named as itself in the analyses' names; the absent NPS metric says which NPS it is
    csat = summary.skipped_html({"nps_change_year": "only one quarter loaded", "metric NPS": "no nps_score column"},
                                score="Net score (CSAT)")
    assert "<li><b>Net score (CSAT) change over the year</b>: only one quarter loaded</li>" in csat
    assert "whose column this export lacks: NPS of the 0-10 recommend question</li>" in csat
    page = summary.write_index(tmp_path, _results(nps={**_results()["nps"], "score": "csat"},
                                                  analyses_skipped={"nps_change": "only one quarter loaded"}), [])
    assert "<li><b>What moved Net score (CSAT): customer mix or real change</b>" in page.read_text()


def test_causal_caveat_names_what_the_effects_are_adjusted_for(tmp_path):
    r = _results(models={"covariates": ["plan", "region", "tenure_months"]})
    text = summary.causal_caveat(r)
    assert text.startswith("These effects are associations, adjusted for plan, region and tenure (months): they")
    assert "Not for visits per month or contract value: the experience may change them" in text
    assert text.endswith("Churn is recorded in the same quarter as the score, so part of the churn effect may run "
                         "from leaving to the score.")  # _results() holds a churn effect
    assert html.escape(text) in summary.write_index(tmp_path, r, []).read_text()
    assert "Not for" not in summary.causal_caveat(_results(models={"covariates": ["plan", "visits_per_month",
                                                                                   "contract_value"]}))
    assert "adjusted for no covariate" in summary.causal_caveat(_results(models={"covariates": []}))
    # an export without visits: only contract value is explained
    cols = {"columns": [{"column": c} for c in ("customer_id", "nps_score", "plan", "contract_value")]}
    text = summary.causal_caveat(_results(models={"covariates": ["plan"]}, data_quality=cols))
    assert "Not for contract value: the experience may change it, and" in text and "(add it to covariates" in text
    assert "visits" not in text
    cols["columns"].pop()
    assert "Not for" not in summary.causal_caveat(_results(models={"covariates": ["plan"]}, data_quality=cols))
    assert summary.causal_caveat(_results()) == summary.CAUSAL_CAVEAT


def test_the_change_split_into_mix_and_within_is_the_real_one_and_says_which():
    """The summary splits the year's change when its interval excludes 0 (the last step's is
    within chance), and names the change it splits."""
    row = {"dimension": "job_title", "mix": 0.3, "mix_ci_low": -0.2, "mix_ci_high": 0.8, "within": 10.8,
           "within_ci_low": 5.0, "within_ci_high": 16.6}
    last = {"from": "2026Q2", "to": "2026Q3", "change": 4.1, "ci_low": -1.7, "ci_high": 10.0,
            "by": [dict(row, within=3.8, within_ci_low=-2.0, within_ci_high=9.7)]}
    year = {"from": "2025Q4", "to": "2026Q3", "quarters_apart": 3, "change": 11.1, "ci_low": 5.4, "ci_high": 16.9,
            "decomposition": {"from": "2025Q4", "to": "2026Q3", "change": 11.1, "by": [row]}}
    s = summary.headline_sentences(_results(nps_change=last, nps_change_year=year))
    split = [x for x in s if x.startswith("Of the ")]
    assert split == ["Of the +11.1 points since 2025Q4, by job title: the changed mix of job title explains no "
                     "detectable part of it (+0.3, likely range -0.2 to +0.8); within each job title, NPS moved "
                     "+10.8 points (likely range +5.0 to +16.6)."]
    # a net score of CSAT is named as such in every sentence of the change, never "NPS"
    step = {"quarter": "2026Q3", "change": 4.1, "change_ci_low": -1.7, "change_ci_high": 10.0}
    r = _results(nps_change=last, nps_change_year=year, trends=[{"quarter": "2026Q2"}, step])
    r["nps"] = dict(r["nps"], score="csat")
    csat = summary.headline_sentences(r)
    assert sum("Net score (CSAT) moved" in x for x in csat) == 3 and not any("NPS" in x for x in csat), csat
    within_chance = dict(year, ci_low=-0.5)
    s = summary.headline_sentences(_results(nps_change=last, nps_change_year=within_chance))
    assert [x for x in s if x.startswith("Of the ")][0].startswith("Of the +4.1 points since 2026Q2, by job title:")


def test_the_summary_names_the_themes_detractors_raise_more():
    """Only themes whose detractors-minus-promoters interval lies above 0, largest first, at most two."""
    themes = [{"theme": "friendly / staff", "share_promoters": 0.41, "share_detractors": 0.03, "diff": -0.38,
               "diff_ci_low": -0.42, "diff_ci_high": -0.34},
              {"theme": "rude / support", "share_promoters": 0.02, "share_detractors": 0.22, "diff": 0.196,
               "diff_ci_low": 0.16, "diff_ci_high": 0.232},
              {"theme": "late / delivery", "share_promoters": 0.03, "share_detractors": 0.27, "diff": 0.239,
               "diff_ci_low": 0.201, "diff_ci_high": 0.276},
              {"theme": "app / login", "share_promoters": 0.05, "share_detractors": 0.07, "diff": 0.02,
               "diff_ci_low": -0.01, "diff_ci_high": 0.05}]
    s = summary.themes_sentence(themes)
    assert s == ("Where to look first: detractors raise \u201clate / delivery\u201d (in 27% of detractors' comments against 3% "
                 "of promoters', +23.9 pp, likely range +20.1 to +27.6 pp) and \u201crude / support\u201d (in 22% of "
                 "detractors' comments against 2% of promoters', +19.6 pp, likely range +16.0 to +23.2 pp) more often "
                 "than promoters (comment themes, page 06).")
    assert s in summary.headline_sentences(_results(themes=themes))
    assert summary.themes_sentence(themes[:1] + themes[3:]) is None and summary.themes_sentence(None) is None
    # with the passives' shares: their most common named theme (the "no theme" row left out)
    shares = [0.10, 0.12, 0.20, 0.24]
    with_passives = [dict(t, share_passives=sh) for t, sh in zip(themes, shares, strict=True)]
    with_passives.append({"theme": "(no theme: very short)", "share_passives": 0.30, "share_promoters": 0.0,
                          "share_detractors": 0.0, "diff": 0.0, "diff_ci_low": -0.01, "diff_ci_high": 0.01})
    s2 = summary.themes_sentence(with_passives)
    assert s2 == s + (" Passives, whom the program would move, most often raise \u201capp / login\u201d (in 24% of "
                      "their comments).")


def test_the_change_is_explained_by_a_dimension_fixed_before_the_score():
    """Visits per month (a consequence of the experience as much as a cause) has the clearest mix
    part here, yet the summary splits by the clearest dimension the score cannot change, says how
    many splits it chose from, and page 03's list warns that visits' mix may be part of the change.
    Weighted shares are named as shares of customers (the base), not of respondents."""
    from cxanalysis import narrative

    def row(dim, mix, lo, hi):
        return {"dimension": dim, "mix": mix, "mix_ci_low": lo, "mix_ci_high": hi, "within": 8.0,
                "within_ci_low": 3.0, "within_ci_high": 13.0, "top_mix_segment": "highest quartile (7–18)",
                "top_mix_share_before": 0.12, "top_mix_share_now": 0.14, "shares_of": "customers"}

    dec = {"from": "2026Q2", "to": "2026Q3", "change": 10.6, "ci_low": 5.0, "ci_high": 16.0,
           "by": [row("visits_per_month", 2.6, 1.0, 4.3), row("plan", 0.6, -0.5, 1.7), row("region", 0.1, -0.2, 0.4)]}
    said = [s for s in summary.headline_sentences(_results(nps_change=dec)) if s.startswith("Of the ")]
    assert len(said) == 1 and said[0].startswith("Of the +10.6 points since 2026Q2, by plan: ")
    assert said[0].endswith("(The clearest of the 2 splits by traits fixed before the score; visits per month may "
                            "follow the experience, so its mix is left to the metrics and trends page, which gives "
                            "every split.)")
    plain = dict(dec, by=dec["by"][1:])  # no dimension that may follow the score: chosen from them all
    said = [s for s in summary.headline_sentences(_results(nps_change=plain)) if s.startswith("Of the ")]
    assert said[0].endswith("(The clearest of 2 splits; the metrics and trends page gives them all.)")
    page = narrative.change_decomposition_summary(dec)
    assert "(12% of customers then, 14% now)" in page and "of respondents" not in page
    assert page.endswith("Visits per month may themselves follow the experience: a change in their mix can be part "
                         "of the improvement rather than an explanation of it.")
    assert "always" not in page
    # only visits split: used, as nothing else can be
    only = dict(dec, by=dec["by"][:1])
    said = [s for s in summary.headline_sentences(_results(nps_change=only)) if s.startswith("Of the ")]
    assert said[0].startswith("Of the +10.6 points since 2026Q2, by visits per month: +2.6 points come from")
    assert "clearest of" not in said[0]


def test_decomposition_names_whose_shares_it_gives():
    from cxanalysis.config import load_config
    from cxanalysis.sample import make_customers
    from cxanalysis.trends import nps_change_decomposition

    df = make_customers(1500, 2, random_state=4)
    q = sorted(df["quarter"].unique())
    cfg = load_config()
    plain = nps_change_decomposition(df, cfg, current=q[1], previous=q[0], dimensions=["plan"])
    weighted = nps_change_decomposition(df.assign(weight=np.random.default_rng(1).uniform(0.5, 2, len(df))), cfg,
                                        current=q[1], previous=q[0], dimensions=["plan"])
    assert plain["by"][0]["shares_of"] == "respondents" and weighted["by"][0]["shares_of"] == "customers"


def test_net_value_tile_names_its_horizon_and_range():
    roi = {"net": -355_869.0, "net_ci_low": -417_901.0, "net_ci_high": -300_288.0, "benefit": 117_286.0,
           "cost": 473_155.0, "horizon_years": 3}
    tile = summary.net_value_tile(roi, lambda x: f"{x:,.0f}")
    assert tile == ("<div>Net value over 3 years<b>-355,869</b><span class='muted'>likely range -417,901 to "
                    "-300,288; benefit 117,286, cost 473,155, discounted</span></div>")


def test_a_net_score_on_another_scale_is_named_and_its_cut_offs_are_the_configured_ones(tmp_path):
    """A 1-5 CSAT with 5 = promoter, 4 = passive, 1-3 = detractor: the tile and the glossary say
    "Net score (CSAT)" and 5 / 4 / 1-3, not NPS and 9-10 / 7-8 / 0-6; an NPS run keeps NPS's."""
    config = {"categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3}, "scales": {"csat": [1, 5]}}
    r = _results(run={"config": config})
    r["nps"]["score"] = "csat"
    page = _visible(summary.write_index(tmp_path, r, []).read_text())
    assert "Net score (CSAT) -" not in page and re.search(r"Net score \(CSAT\)\s+20\.0", page)
    assert "at the top of the CSAT scale (5), in the middle (4), and at the bottom (1-3)" in page
    assert "not comparable with an NPS benchmark" in page and "9-10" not in page
    # a 0-10 score cut at 8 and 5: the glossary follows the configuration
    nps = {"categories": {"score": "nps_score", "promoter_min": 8, "detractor_max": 5}, "scales": {"nps_score": [0, 10]}}
    terms = dict(summary.glossary(_results(run={"config": nps})))
    assert "(8-10), in the middle (6-7), and at the bottom (0-5)" in terms["Promoter, passive, detractor"]
    assert dict(summary.glossary(_results()))["NPS"] == summary.GLOSSARY[0][1]
    # a score whose scale is not configured: the cut-offs alone ("4 and above")
    ces = {"categories": {"score": "ces", "promoter_min": 4, "detractor_max": 2}, "scales": {}}
    terms = dict(summary.glossary(_results(run={"config": ces})))
    assert "(4 and above), in the middle (3), and at the bottom (2 and below)" in terms["Promoter, passive, detractor"]


def test_an_roi_below_minus_100_percent_has_a_readable_range_and_says_why():
    """Benefit negative and small beside the cost: the ROI and its range differ in the first decimal;
    shown with that decimal, never "-101% (likely range -101% to -101%)", and explained."""
    roi = {"roi": -1.0111, "roi_ci_low": -1.0152, "roi_ci_high": -1.0082}
    tile = summary.roi_tile(roi)
    assert "<b>-101.1%</b>" in tile and "likely range -101.5% to -100.8%" in tile
    assert "the moved customers' value is itself negative" in tile
    assert "negative" not in summary.roi_tile({"roi": 0.4, "roi_ci_low": -0.3, "roi_ci_high": 1.2})
    from cxanalysis import narrative

    assert "(-101.5% to -100.8%) is below break-even" in narrative.roi_verdict(-1.0152, -1.0082, -1.0111)
    assert "(-102% to -101%) is below break-even" in narrative.roi_verdict(-1.0152, -1.0082)


def test_groups_in_which_nobody_churned_are_read_out_before_acting(tmp_path):
    """A churn contrast given as the observed difference (nobody churned in either group): the
    summary says it in words at the top of "Read before acting"."""
    churn = {"promoter_vs_passive": {"estimate": 0.0, "ci_low": -0.21, "ci_high": 0.33, "scale": "pp", "flagged": True,
                                     "method": "observed: every promoter and every passive stayed; unadjusted ..."},
             "detractor_vs_passive": {"estimate": 30.4, "ci_low": 29.2, "ci_high": 31.6, "scale": "pp", "flagged": True,
                                      "method": "Firth penalised logistic regression"}}
    r = _results(effects={"churn": churn}, models={"warnings": ["Churn (category model): separation — none of the "
                                                                "1,149 promoters churned"]})
    assert summary.effect_sentence("churn", "promoter_vs_passive", churn["promoter_vs_passive"]) == (
        "No promoter and no passive churned: the observed difference is 0.0 pp (likely range -0.2 to +0.3 pp, not "
        "adjusted for the covariates, which cannot adjust a difference between two groups that do not vary).")
    said = summary.separation_in_words(r)
    assert said.startswith("No promoter and no passive churned this quarter.") and "check when it was collected" in said
    page = _visible(summary.write_index(tmp_path, r, []).read_text())
    assert re.search(r"Read before acting\s+No promoter and no passive churned this quarter\.", page)
    # said plainly, the models' own terms (separation, Firth) are left to page 04
    assert "none of the 1,149 promoters churned" not in page and "Churn (category model)" not in page
    assert summary.separation_in_words(_results()) is None
    page = _visible(summary.write_index(tmp_path, _results(models=r["models"]), []).read_text())
    assert "Churn (category model): separation" in page  # nothing plainer to say: the models' warning stays


def test_effects_running_against_the_expected_direction_are_read_out(tmp_path):
    """Detractors churning less (whole range), promoters spending less: each read out before acting;
    an interval spanning no effect, an expected direction or a flagged effect: not."""
    eff = {"churn": {"detractor_vs_passive": {"estimate": -2.6, "ci_low": -4.8, "ci_high": -0.3, "scale": "pp"},
                     "promoter_vs_passive": {"estimate": 2.2, "ci_low": -0.5, "ci_high": 4.8, "scale": "pp"}},
           "spend": {"promoter_vs_passive": {"estimate": 0.87, "ci_low": 0.84, "ci_high": 0.91, "scale": "ratio"},
                     "detractor_vs_passive": {"estimate": 0.8, "ci_low": 0.7, "ci_high": 0.9, "scale": "ratio"}},
           "returns": {"promoter_vs_passive": {"estimate": 1.5, "ci_low": 1.2, "ci_high": 1.9, "scale": "ratio",
                                               "flagged": True}}}
    (said,) = summary.unexpected_directions(eff, "csat")
    assert said.startswith("Unexpected directions: promoters spend 13% less than comparable passives (likely range "
                           "9% to 16% less); detractors churn 2.6 percentage points lower")
    assert "These run against what a better experience is expected to do. Check that a high CSAT means a satisfied " \
           "customer in this export, when the score was collected, and what spend and churn measure here" in said
    page = _visible(summary.write_index(tmp_path, _results(effects=eff), []).read_text())
    assert page.index("Read before acting") < page.index("Unexpected directions: promoters spend")
    # per point: a point more on the score going with more churn is read out too
    per_point = {"churn": {"per_point": {"estimate": 1.8, "ci_low": 1.1, "ci_high": 2.5, "scale": "pp"}},
                 "spend": {"per_point": {"estimate": 0.913, "ci_low": 0.89, "ci_high": 0.94, "scale": "ratio"}}}
    (said,) = summary.unexpected_directions(per_point, "csat")
    rows = [dict(e, outcome=o) for o, v in per_point.items() for e in v.values()]
    assert summary.unexpected_directions({}, "csat", per_point=rows) == [said]  # as results.json holds them
    assert said.startswith("Unexpected directions: one point more on CSAT goes with spend 8.7% lower (likely range "
                           "6.0% to 11.0%); one point more on CSAT goes with churn 1.8 percentage points higher "
                           "(likely range 1.1 to 2.5 pp).")
    (one,) = summary.unexpected_directions({"churn": per_point["churn"]}, "csat")
    assert one.startswith("Unexpected direction: one point") and "This runs against" in one and "churn measures" in one
    # the generator's truth runs the expected way: nothing to read out
    expected = {"churn": {"promoter_vs_passive": {"estimate": -4.0, "ci_low": -6.0, "ci_high": -2.0, "scale": "pp"}},
                "spend": {"promoter_vs_passive": {"estimate": 1.2, "ci_low": 1.1, "ci_high": 1.3, "scale": "ratio"}}}
    assert summary.unexpected_directions(expected) == []


def test_read_before_acting_comes_right_after_the_recommendation(tmp_path):
    eff = {"churn": {"detractor_vs_passive": {"estimate": -2.6, "ci_low": -4.8, "ci_high": -0.3, "scale": "pp"}}}
    page = _visible(summary.write_index(tmp_path, _results(effects=eff), []).read_text())
    assert page.index("Recommendation") < page.index("Read before acting") < page.index("The evidence")


def test_the_evidence_gives_a_detractor_effect_the_data_tell_from_none():
    eff = {"churn": {"promoter_vs_passive": {"estimate": 0.0, "ci_low": -0.2, "ci_high": 0.3, "scale": "pp"},
                     "detractor_vs_passive": {"estimate": 29.8, "ci_low": 28.6, "ci_high": 31.0, "scale": "pp"}},
           "spend": {"detractor_vs_passive": {"estimate": 0.97, "ci_low": 0.9, "ci_high": 1.05, "scale": "ratio"}}}
    said = summary.headline_sentences(_results(effects=eff, roi={}))
    assert any(s.startswith("Detractors churn 29.8 percentage points higher than comparable passives") for s in said)
    assert not any(s.startswith("Detractors spend") for s in said)  # its range includes no difference


def test_no_break_even_says_why_in_the_words_the_range_supports():
    roi = {"customers_moved": 179, "n_passives": 1789, "value_per_customer": -87.0, "horizon_years": 3,
           "benefit": -15614.0, "cost": 473155.0, "net": -488769.0, "break_even_share": float("inf"),
           "value_per_customer_ci_low": -112.0, "value_per_customer_ci_high": -61.0}
    said = " ".join(summary.money_at_stake(_results(roi={"passive_to_promoter": roi})))
    assert "the value of a moved passive is negative (its whole likely range is below zero)" in said
    roi["value_per_customer_ci_high"] = 20.0
    said = " ".join(summary.money_at_stake(_results(roi={"passive_to_promoter": roi})))
    assert "may be zero or negative" in said
    from cxanalysis import narrative

    assert "value per moved customer is negative" in narrative.break_even_summary(
        float("inf"), 1789, -87.0, (-112.0, -61.0))


def test_a_churn_rate_the_base_cannot_sustain_is_read_before_acting(tmp_path):
    """The ROI's steady-churn doubt (roi.steady_churn_note, kept in results.json) heads no figure of
    its own on the summary, yet every money figure there rests on it: it is in Read before acting."""
    import html

    from cxanalysis import narrative

    note = "The quarter's churn (26.5%), taken as a steady rate as the lifetime values take it, keeps ..."
    r = _results()
    r["roi"]["passive_to_promoter"]["steady_churn"] = note
    page = summary.write_index(tmp_path, r, []).read_text()
    block = page[page.index("Read before acting"):]
    assert f"<li>{html.escape(note)}</li>" in block[:block.index("</ul>")]
    r["roi"]["passive_to_promoter"]["steady_churn"] = None
    assert html.escape(note) not in summary.write_index(tmp_path, r, []).read_text()
    # the pages' call-out takes one warning alone, and nothing for None
    assert narrative.warnings_block(note) == f"**Read before using these numbers:**\n\n- {note}"
    assert narrative.warnings_block(None) == "" and narrative.warnings_block([None, ""]) == ""


def test_a_cluster_that_does_not_reproduce_or_churns_little_is_not_named_at_risk():
    """A low cluster is named at risk only when it reproduces in the refits (stability >= 0.6) and,
    given the overall churn rate, churns more than all customers; the others are listed with why."""
    rows = [dict(CLUSTERS[0], stability=0.95, churn_rate=0.05),
            dict(CLUSTERS[1], stability=0.54, churn_rate=0.30),
            {"name": "quiet", "n": 400, "nps": 0.0, "nps_ci_low": -6.0, "nps_ci_high": 6.0, "passives": 80,
             "stability": 0.9, "churn_rate": 0.10},
            {"name": "leavers", "n": 400, "nps": 8.0, "nps_ci_low": 2.0, "nps_ci_high": 14.0, "passives": 70,
             "stability": 0.7, "churn_rate": 0.25}]
    assert [r["name"] for r in summary.low_clusters(rows, 20.0)] == ["quiet", "rare visitors", "leavers"]
    assert [r["name"] for r in summary.clusters_at_risk(rows, 20.0, churn=0.15)] == ["leavers"]
    assert [r["name"] for r in summary.clusters_at_risk(rows, 20.0)] == ["quiet", "leavers"]  # no churn: no churn rule
    page = summary.clusters_at_risk_html(rows, 20.0, churn=0.15)
    assert ">leavers</td>" in page and ">Churn rate</th>" in page
    assert "Not named at risk although its NPS is low: rare visitors (stability 0.54). It does not reproduce" in page
    assert ("Not named at risk although its NPS is low: quiet, which does not churn more than the rest of the "
            "customers beyond chance, allowing for the number of clusters compared.") in page
    alone = summary.clusters_at_risk_html(rows[:2], 20.0, churn=0.15)
    assert "rare visitors (stability 0.54)" in alone and "stands out" not in alone and "<table" not in alone
    assert "<p>No cluster is named at risk.</p><p>Not named at risk" in alone
    # one that neither reproduces nor churns more than the rest is given both reasons (the
    # sample's Returned items: stability 0.54, churn not different, p = 0.18 after Holm)
    both = [dict(rows[1], churn_rate=0.12, churn_rest=0.10, churn_differs=False), dict(rows[3], stability=0.5)]
    page = summary.clusters_at_risk_html(both, 20.0, churn=0.15)
    assert ("so they may not exist in the next quarter's data, and rare visitors does not churn more than the rest "
            "beyond chance.") in page
    page = summary.clusters_at_risk_html(both[:1], 20.0, churn=0.15)
    assert "so it may not exist in the next quarter's data, and it does not churn more than the rest beyond chance." \
        in page
    assert "it does not churn more" not in summary.clusters_at_risk_html(rows[1:2], 20.0, churn=0.15)  # untested
    # results without per-cluster stability (older runs) keep the previous rule
    assert [r["name"] for r in summary.clusters_at_risk(CLUSTERS, 20.0)] == ["rare visitors"]


def test_read_before_acting_carries_a_left_out_group_that_churns_differently(tmp_path):
    """The models' warning that the respondents left out for a missing covariate churn differently
    (beyond chance) reaches the summary; one that finds no difference does not."""
    from cxanalysis.models import LEFT_OUT_DIFFERS

    differs = ("264 customers lack the CX score or a covariate and are left out of the models. Those of them who "
               "answered (264) churned at 30.7%, against 16.2% among the customers modelled (difference +14.5 pp, "
               f"likely range +9.2 to +20.4): {LEFT_OUT_DIFFERS}")
    same = "12 customers lack a covariate and are left out of the models. ... : no detectable difference."
    page = summary.write_index(tmp_path, _results(models={"warnings": [differs, same]}), []).read_text()
    assert "Read before acting" in page and html.escape(differs) in page and "no detectable difference." not in page


@settings(max_examples=200, deadline=None)
@given(st.floats(0.001, 0.999), st.floats(0.001, 0.999))
def test_churn_levels_print_a_difference_that_agrees_with_the_effect(base, other):
    """Any two modelled churn levels: the rates the sentence prints, subtracted, give the effect it
    prints in percentage points (one decimal), so "6.9 pp (18.2% against 11.2%)" cannot happen."""
    import re

    est = 100 * (other - base)
    if abs(est) < 0.05:
        return
    s = summary.effect_sentence("churn", "detractor_vs_passive", {"estimate": est, "ci_low": est - 0.01,
                                "ci_high": est + 0.01, "scale": "pp", "baseline": base, "counterfactual": other})
    gap = float(re.search(r"churn ([\d.]+) percentage points", s).group(1))
    levels = re.search(r"\(([\d.]+)% as detractors against ([\d.]+)% as passives", s).groups()
    a, b = (float(x) for x in levels)
    d = len(levels[0].partition(".")[2])
    # the printed levels' difference rounds to the printed gap (within the levels' own last decimal at 3)
    assert d <= 3 and abs(abs(a - b) - gap) <= 0.05 + (10**-d if d == 3 else 0) + 1e-9, s


def test_the_churn_table_carries_the_note_of_a_flag_cluster_it_shows():
    """A cluster named after a flag that other clusters share: its page-06 note is under the summary's
    churn table when the table shows it, escaped; a note about a cluster not shown is not."""
    clus = [{"name": "Complained = yes", "n": 1471, "nps": -45.5, "nps_ci_low": -49.5, "nps_ci_high": -41.3,
             "churn_rate": 0.329, "churn_rest": 0.112, "churn_differs": True, "stability": 0.93},
            {"name": "Frequent <buyers>", "n": 1009, "nps": -37.1, "nps_ci_low": -41.9, "nps_ci_high": -32.0,
             "churn_rate": 0.094, "churn_rest": 0.185, "churn_differs": True, "stability": 0.74}]
    notes = ["Complained = yes holds 1,471 of the 1,604 respondents with complained = yes (92%); the other 133 are "
             "in Frequent <buyers>. The cluster is not the set of them: its churn and score are not theirs.",
             "Frequent <buyers> holds 5 of the 9 respondents with coupon = yes (56%); the other 4 are in X."]
    page = summary.churn_leaders_html([], clus, churn=0.168, cluster_notes=notes)
    assert "Complained = yes holds 1,471 of the 1,604" in page and "in Frequent &lt;buyers&gt;." in page
    assert "coupon" not in page  # Frequent buyers churns less: not in the table, nor its note
    assert "only as a pattern" not in page  # the doubtful cluster is not shown either
