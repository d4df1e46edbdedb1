"""The executive summary's sentences and tiles say only what the intervals support (issue 12)."""

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
    assert "Promoters and comparable passives show no detectable difference in churn (likely range -3.8 to +0.9 pp)." in s
    assert not any("percentage points lower" in x for x in s)
    assert any(x.startswith("The data cannot tell whether the program pays for itself") for x in s)
    assert not any("does not pay for itself" in x for x in s)
    assert any("per customer over 3 years (95% interval 100 to 330)" in x for x in s)


def test_roi_tile_shows_its_interval_and_survives_missing_limits():
    tile = summary.roi_tile(_results()["roi"]["passive_to_promoter"])
    assert "<b>41%</b>" in tile and "95% interval -30% to 120%" in tile
    assert "n/a to n/a" in summary.roi_tile({"roi": None, "roi_ci_low": None, "roi_ci_high": None})


def test_write_index_roi_tile(tmp_path):
    html = summary.write_index(tmp_path, _results(), []).read_text()
    assert "ROI, passives to promoters<b>41%</b><span class='muted'>95% interval -30% to 120%" in html


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


def test_no_segment_at_risk_says_so_instead_of_listing_all(tmp_path):
    none = [dict(r, differs=False if r["differs"] is not None else None) for r in SEGS]
    page = summary.write_index(tmp_path, _results(segments=none), []).read_text()
    assert "No segment's NPS differs from the rest after correction for multiple comparisons." in page
    assert "Basic" not in page and "Tiny" not in page


CLUSTERS = [
    {"name": "high-spend", "n": 500, "nps": 45.0, "nps_ci_low": 40.0, "nps_ci_high": 50.0, "passives": 100},
    {"name": "rare visitors", "n": 300, "nps": 5.0, "nps_ci_low": -2.0, "nps_ci_high": 12.0, "passives": 90},
    {"name": "new", "n": 40, "nps": 10.0, "nps_ci_low": -20.0, "nps_ci_high": 38.0, "passives": 10},
]


def test_clusters_at_risk_are_below_the_overall_nps_with_their_whole_interval():
    assert [r["name"] for r in summary.clusters_at_risk(CLUSTERS, 20.0)] == ["rare visitors"]
    html = summary.clusters_at_risk_html(CLUSTERS, 20.0)
    assert "rare visitors" in html and "high-spend" not in html and "<td>new</td>" not in html
    none = summary.clusters_at_risk_html(CLUSTERS, 0.0)
    assert "No cluster stands out" in none and "high-spend" not in none


def test_assumptions_sentence_states_a_range_of_passives_moved():
    from cxanalysis.summary import assumptions_sentence

    a = dict(gross_margin=0.35, cost_per_return=12.0, discount_rate=0.08, horizon_years=3, program_cost_per_year=50000,
             team_cost_per_year=120000, customers_moved=None, share_of_passives_moved=0.10,
             share_of_passives_moved_range=[0.05, 0.15])
    s = assumptions_sentence({"roi": {"passive_to_promoter": {"assumptions": a}}})
    assert "between 5% and 15% of passives moved (figures at the midpoint, 10%)" in s
