"""The charts draw what their tables say: bar lengths, panels, colours and labels."""

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from cxanalysis import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _frame(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "spend": rng.gamma(2, 100, n),
        "orders": rng.poisson(4, n) + 1 + (np.arange(n) % 40),  # whole numbers, > 12 levels
        "csat": rng.integers(1, 6, n).astype(float),
        "churned": rng.binomial(1, 0.2, n).astype(float),
        "renewed": rng.binomial(1, 0.7, n).astype(float),
        "plan": pd.Categorical(rng.choice(["Basic", "Plus", "A very long plan name indeed"], n)),
    })


def test_distributions_panels_and_yes_no_shares():
    df = _frame(2_000)
    fig = plots.distributions(df, list(df.columns))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["Spend", "Orders", "CSAT", "Plan", "Yes/no columns: share of yes"]
    shares = visible[-1]
    widths = [p.get_width() for p in shares.patches]  # drawn bottom-up: last column first
    assert widths == pytest.approx([df["renewed"].mean(), df["churned"].mean()])
    assert [t.get_text() for t in shares.get_yticklabels()] == ["Renewed", "Churned"]  # in words, not column names
    csat = visible[2]
    assert [t.get_text() for t in csat.get_yticklabels()] == ["5", "4", "3", "2", "1"]
    assert sorted(p.get_width() for p in csat.patches) == sorted(df["csat"].value_counts().tolist())
    assert "A very long pla…" in [t.get_text() for t in visible[3].get_yticklabels()]  # 16 characters
    assert fig._suptitle is None  # every row drawn


def test_distributions_whole_numbers_get_whole_bins_and_large_data_a_sample():
    df = _frame(3_000)
    fig = plots.distributions(df, ["orders"], max_rows=1_000)
    stairs = fig.axes[0].patches[0]
    edges = stairs.get_data().edges
    assert np.allclose(edges % 1, 0.5)
    assert stairs.get_data().values.sum() == 1_000  # the sample, all within the clipped range or on its edge
    assert "random sample of 1,000" in fig._suptitle.get_text()


def test_distribution_tails_joined_to_the_last_bar_are_said():
    """Values above the 99.5th percentile are counted in the last bar, and the panel says from
    which value and how many (counted by hand); a column without such a tail gets no note."""
    spend = np.random.default_rng(5).gamma(2.0, 300.0, 4_000)
    ax = plots.distributions(pd.DataFrame({"spend": spend}), ["spend"], unit="respondents").axes[0]
    cap = np.quantile(spend, 0.995)
    assert ax.get_xlabel() == f"last bar also holds values above {cap:,.0f} ({int((spend > cap).sum()):,} respondents)"
    assert ax.patches[0].get_data().values.sum() == len(spend)  # the tail is in the bars, not dropped
    flat = plots.distributions(pd.DataFrame({"x": np.tile(np.arange(20.0), 50)}), ["x"]).axes[0]
    assert flat.get_xlabel() == ""

def test_distribution_histograms_count_with_thousands_separators():
    df = pd.DataFrame({"spend": np.random.default_rng(3).gamma(2.0, 300.0, 40_000)})
    ax = plots.distributions(df, ["spend"]).axes[0]
    fig = ax.figure
    fig.canvas.draw()
    ticks = [v for v in ax.get_yticks() if ax.get_ylim()[0] <= v <= ax.get_ylim()[1]]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert 2 <= len(ticks) <= 5 and all(float(v).is_integer() for v in ticks)
    assert max(ticks) >= 1_000 and f"{int(max(ticks)):,}" in labels  # "2,000", not "2000" or "1e3"


def test_segment_nps_says_the_overall_line_under_the_axis_not_in_a_legend_over_the_bars():
    table = pd.DataFrame({"segment": ["Basic", "Pro"], "nps": [10.0, 60.0], "ci_low": [-20.0, 40.0],
                          "ci_high": [40.0, 80.0]})
    ax = plots.segment_nps(table, overall=21.8)
    assert ax.get_legend() is None
    assert ax.get_xlabel() == "NPS (95% CI); dashed line: all customers, 21.8"
    assert [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--"] == [21.8]
    assert plots.segment_nps(table).get_xlabel() == "NPS (95% CI)"
    assert plots.segment_nps(table, score="Net score (CSAT)").get_xlabel() == "Net score (CSAT) (95% CI)"


def test_segment_nps_bars_neutral_with_significance_as_outline():
    table = pd.DataFrame({
        "dimension": ["plan", "plan", "region", "region"], "segment": ["Basic", "Pro", "North", "South"],
        "nps": [10.0, 30.0, 15.0, 20.0], "ci_low": [5.0, 20.0, 10.0, 12.0], "ci_high": [15.0, 40.0, 20.0, 28.0],
        "differs": [True, True, False, False],
    })
    ax = plots.segment_nps(table, overall=18.0)
    bars = [p for p in ax.patches if p.get_height() == pytest.approx(0.8)]
    assert [b.get_width() for b in bars] == table["nps"].tolist()
    assert [to_hex(b.get_facecolor()) for b in bars] == [plots.NEUTRAL.lower()] * 4
    assert [b.get_linewidth() for b in bars] == [2.0, 2.0, 0, 0]  # differs: outlined
    assert [to_hex(b.get_edgecolor()) for b in bars[:2]] == [plots.SIGNIFICANT_EDGE] * 2
    top_down = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert top_down == ["Plan: Basic", "Plan: Pro", "Region: North", "Region: South"]  # the table's order
    assert any(line.get_xdata()[0] == 18.0 for line in ax.get_lines())


def test_category_heatmap_annotates_the_shares():
    shares = pd.DataFrame([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], index=["plan: Basic", "plan: Pro"],
                          columns=["detractor", "passive", "promoter"])
    ax = plots.category_heatmap(shares)
    assert [t.get_text() for t in ax.texts] == ["20%", "30%", "50%", "60%", "10%", "30%"]


def test_house_theme_is_seaborns_whitegrid():
    """The theme is written out (no seaborn import when drawing); it must stay seaborn's: every
    setting but the colour map and the palette (ours is Okabe-Ito) equal after either."""
    import seaborn as sns

    with matplotlib.rc_context():
        sns.set_theme(style="whitegrid")
        ref = dict(matplotlib.rcParams)
    with matplotlib.rc_context():
        matplotlib.rcParams.update(plots.WHITEGRID)
        ours = dict(matplotlib.rcParams)
    assert {k for k in ref if str(ref[k]) != str(ours[k])} == {"image.cmap", "axes.prop_cycle"}


def test_profile_heatmap_is_centred_and_projection_has_a_colour_per_cluster():
    z = pd.DataFrame([[1.5, -0.5], [-2.0, 0.25]], index=["a", "b"], columns=["spend", "visits"])
    ax = plots.profile_heatmap(z)
    image = ax.images[0]
    assert image.norm.vmin == -2.0 and image.norm.vmax == 2.0
    assert [t.get_text() for t in ax.texts] == ["1.5", "-0.5", "-2.0", "0.2"]
    near_zero = plots.profile_heatmap(pd.DataFrame([[-0.04, 0.04], [-0.0, -0.06]], columns=["spend", "visits"]))
    assert [t.get_text() for t in near_zero.texts] == ["0.0", "0.0", "0.0", "-0.1"]  # never "-0.0"
    pts = pd.DataFrame({"pc1": [0.0, 1.0, 2.0, 3.0], "pc2": [0.0, 1.0, 0.0, 1.0], "cluster": ["0", "1", "1", "2"]})
    ax = plots.cluster_projection(pts)
    assert [c.get_offsets().shape[0] for c in ax.collections] == [1, 2, 1]
    assert len({to_hex(c.get_facecolor()[0]) for c in ax.collections}) == 3


# --- any chart draws any interval (issue 12, items 5 and 7) -----------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_value = st.one_of(st.floats(-150, 150, allow_nan=False), st.just(np.nan), st.just(np.inf), st.just(-np.inf))


@st.composite
def _interval_tables(draw):
    """0-6 rows of estimate / low / high: NaN, inf, reversed and non-containing intervals."""
    n = draw(st.integers(0, 6))
    est = [draw(_value) for _ in range(n)]
    lo = [draw(_value) for _ in range(n)]
    hi = [draw(_value) for _ in range(n)]
    return pd.DataFrame({"estimate": est, "ci_low": lo, "ci_high": hi}, dtype=float)


def _segments_of(ax, gid="ci"):
    lines = [c for c in ax.collections if c.get_gid() == gid]
    assert len(lines) == 1
    return [np.asarray(seg) for seg in lines[0].get_segments()]


def _check_endpoints(ax, t, *, horizontal):
    """The drawn interval lines are exactly the rows whose limits are finite, end to end."""
    finite = t[np.isfinite(t["ci_low"]) & np.isfinite(t["ci_high"])]
    segs = _segments_of(ax)
    assert len(segs) == len(finite)
    axis = 0 if horizontal else 1
    for seg, (_, row) in zip(segs, finite.iterrows(), strict=True):
        assert seg[0, axis] == pytest.approx(row["ci_low"]) and seg[1, axis] == pytest.approx(row["ci_high"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_interval_tables())
def test_every_interval_chart_draws_any_interval(t):
    """segment_nps, forest (both scales), predicted_by_category and driver_quadrant draw the given
    limits without raising, whatever the table: empty, one row, NaN, inf, reversed limits, or an
    interval that does not contain its estimate (e.g. [-98.5, 48.5] around -100)."""
    labels = [f"r{i}" for i in range(len(t))]
    seg = pd.DataFrame({"segment": labels, "nps": t["estimate"], "ci_low": t["ci_low"], "ci_high": t["ci_high"],
                        "differs": [True, False, None, False, True, None][: len(t)]})
    ax = plots.segment_nps(seg, overall=0.0)
    _check_endpoints(ax, t, horizontal=True)
    for scale, null in (("pp", 0.0), ("ratio", 1.0)):
        eff = t.assign(label=labels, null=null, scale=scale)
        fig = plt.figure()
        ax = plots.forest(eff, ax=fig.add_subplot())
        if len(t):
            _check_endpoints(ax, t, horizontal=True)
        else:  # nothing to draw: the panel says so (test_forest_with_every_contrast_skipped_says_so)
            assert "No effect could be estimated" in ax.texts[0].get_text()
        fig.canvas.draw()
    cats = ["detractor", "passive", "promoter", "x", "y", "z"][: len(t)]
    ax = plots.predicted_by_category(t.assign(category=cats), ylabel="spend")
    _check_endpoints(ax, t, horizontal=False)
    drv = t.rename(columns={"estimate": "importance"}).assign(driver=labels, performance=np.arange(len(t), dtype=float))
    ax = plots.driver_quadrant(drv)
    _check_endpoints(ax, t, horizontal=False)
    ax.figure.canvas.draw()
    plt.close("all")


def test_one_customer_segment_interval_is_drawn_around_its_estimate():
    """The case of issue 12 item 5: one detractor gives NPS -100 and an adjusted-Wald interval
    whose centred limits exclude it; the table reports [-100, 48.5] and the chart draws it."""
    from cxanalysis import metrics

    r = metrics.nps_from_counts(0, 0, 1)
    t = pd.DataFrame({"segment": ["one"], "nps": [r["nps"]], "ci_low": [r["ci_low"]], "ci_high": [r["ci_high"]],
                      "tested": [False]})
    ax = plots.segment_nps(t)
    (seg,) = _segments_of(ax)
    assert seg[:, 0].tolist() == pytest.approx([-100.0, r["ci_high"]])
    assert [x.get_text() for x in ax.get_yticklabels()] == ["one (too small to test)"]


def test_forest_with_every_contrast_skipped_says_so():
    """All contrasts skipped (e.g. no passives): one panel with a sentence, no empty grid."""
    empty = pd.DataFrame(columns=["label", "estimate", "ci_low", "ci_high", "null", "scale"])
    ax = plots.forest(empty)
    assert "No effect could be estimated" in ax.texts[0].get_text()


def test_change_decomposition_bars_and_intervals():
    dec = {"from": "2026Q1", "to": "2026Q2", "change": 7.3, "ci_low": 5.1, "ci_high": 9.5,
           "by": [{"dimension": "plan", "mix": 7.1, "mix_ci_low": 5.9, "mix_ci_high": 8.3,
                   "within": 0.2, "within_ci_low": -1.9, "within_ci_high": 2.3}]}
    ax = plots.change_decomposition(dec)
    assert sorted(round(p.get_width(), 6) for p in ax.patches) == [0.2, 7.1]
    segs = [np.asarray(s) for c in ax.collections if c.get_gid() == "ci" for s in c.get_segments()]
    assert sorted((round(s[0, 0], 6), round(s[1, 0], 6)) for s in segs) == [(-1.9, 2.3), (5.9, 8.3)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Plan: customer mix", "Plan: within segments"]
    assert ax.get_title() == "What moved NPS: customer mix or change within segments"
    other = plots.change_decomposition(dec, score="Net score (CSAT)")
    assert other.get_title() == "What moved Net score (CSAT): customer mix or change within segments"
    assert other.get_xlabel() == "Net score (CSAT) points, 2026Q1 to 2026Q2"


# --- one colour meaning, readable axes (issue 15) ----------------------------------------------

from matplotlib.colors import to_rgba  # noqa: E402

_CATEGORY_HEX = {to_hex(c) for c in plots.CATEGORY_COLORS.values()}


def _colours(fig) -> set[str]:
    """Every colour drawn in a figure's axes: patch faces and edges, lines, collections."""
    out = set()
    for ax in fig.axes:
        for p in ax.patches:
            for c in (p.get_facecolor(), p.get_edgecolor()):
                if to_rgba(c)[3] > 0:
                    out.add(to_hex(c))
        for line in ax.get_lines():
            for c in (line.get_color(), line.get_markerfacecolor(), line.get_markeredgecolor()):
                if c not in ("none", None) and to_rgba(c)[3] > 0:
                    out.add(to_hex(c))
        for coll in ax.collections:
            for arr in (coll.get_facecolor(), coll.get_edgecolor()):
                out |= {to_hex(c) for c in np.atleast_2d(arr) if len(c) and c[3] > 0}
    return out


def _fig(drawn):
    return drawn if isinstance(drawn, plt.Figure) else drawn.figure


def _non_category_charts():
    seg = pd.DataFrame({"dimension": ["plan", "plan"], "segment": ["Basic", "Pro"], "nps": [10.0, 30.0],
                        "ci_low": [5.0, 20.0], "ci_high": [15.0, 40.0], "differs": [True, False]})
    effects = pd.DataFrame({"label": ["spend: promoter", "churn: promoter"], "estimate": [1.2, -3.0],
                            "ci_low": [1.1, -5.0], "ci_high": [1.3, 1.0], "null": [1.0, 0.0], "scale": ["ratio", "pp"]})
    steps = pd.DataFrame({"label": ["benefit", "cost", "net"], "value": [96_000.0, -473_000.0, -377_000.0]})
    sens = pd.DataFrame({"assumption": ["margin"], "low_label": ["28%"], "high_label": ["42%"], "roi_low": [-0.84],
                         "roi_high": [-0.76]})
    drivers = pd.DataFrame({"driver": ["driver_delivery", "driver_price"], "importance": [0.18, 0.02],
                            "ci_low": [0.16, -0.01], "ci_high": [0.2, 0.05], "performance": [7.0, 7.05]})
    scen = pd.DataFrame({"retained_per_month": [1, 1, 10, 10], "horizon_years": [1, 3, 1, 3],
                         "net": [-1.6e6, -1.2e6, 2e5, 3e6], "net_ci_low": [-1.7e6, -1.3e6, 1e5, 2e6],
                         "net_ci_high": [-1.5e6, -1.1e6, 3e5, 4e6]})
    pts = pd.DataFrame({"pc1": np.arange(6.0), "pc2": np.arange(6.0) % 2, "cluster": list("001122"),
                        "name": ["High spend"] * 2 + ["Rare visitors"] * 2 + ["New"] * 2})
    trend = pd.DataFrame({"quarter": ["2026Q1", "2026Q2"], "nps": [10.0, 12.0], "ci_low": [8.0, 10.0], "ci_high": [12.0, 14.0]})
    return {
        "distributions": lambda: plots.distributions(_frame(500), list(_frame(500).columns)),
        "segment_nps": lambda: plots.segment_nps(seg, overall=18.0),
        "trend": lambda: plots.trend(trend),
        "forest": lambda: plots.forest(effects),
        "waterfall": lambda: plots.waterfall(steps, currency="EUR"),
        "tornado": lambda: plots.tornado(sens, base=-0.8),
        "k_selection": lambda: plots.k_selection(pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.3, 0.4, 0.35]}), chosen=3),
        "cluster_projection": lambda: plots.cluster_projection(pts),
        "driver_quadrant": lambda: plots.driver_quadrant(drivers),
        "calibration": lambda: plots.calibration(pd.DataFrame({"predicted": [0.1, 0.2], "observed": [0.12, 0.18]})),
        "residuals": lambda: plots.residuals(pd.DataFrame({"fitted": [1.0, 10.0], "pearson_residual": [0.5, -0.5]})),
        "scenarios": lambda: plots.scenarios(scen, currency="EUR"),
    }


@pytest.mark.parametrize("name", list(_non_category_charts()))
def test_category_colours_appear_on_no_other_chart(name):
    plots.set_theme()
    colours = _colours(_fig(_non_category_charts()[name]()))
    assert colours, "nothing drawn"
    assert not colours & _CATEGORY_HEX, (name, colours & _CATEGORY_HEX)


def test_category_charts_use_the_category_colours_for_their_categories():
    counts = pd.DataFrame({"score": [0, 7, 10], "n": [5, 8, 9], "category": ["detractor", "passive", "promoter"]})
    ax = plots.score_histogram(counts)
    bars = [p for p in ax.patches if p.get_height() in (5, 8, 9)]
    assert [to_hex(b.get_facecolor()) for b in bars] == [to_hex(plots.CATEGORY_COLORS[c]) for c in counts["category"]]
    table = pd.DataFrame({"category": ["passive", "promoter"], "estimate": [400.0, 480.0], "ci_low": [380.0, 450.0],
                          "ci_high": [420.0, 510.0]})
    ax = plots.predicted_by_category(table, ylabel="spend", currency="EUR", money_axis_=True)
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == [to_hex(plots.CATEGORY_COLORS[c]) for c in table["category"]]
    assert not any(p.get_hatch() for p in ax.patches) and "indicative" not in ax.get_title()


def test_a_category_running_against_the_expected_direction_is_dotted():
    """The e-commerce export: detractors churn less than passives (13.5% against 16.0%, the whole
    interval of the difference below 0): that bar is dotted and the title says why."""
    table = pd.DataFrame({"category": ["detractor", "passive", "promoter"], "estimate": [13.5, 16.0, 18.2],
                          "ci_low": [12.4, 14.1, 16.4], "ci_high": [14.5, 18.0, 20.0], "flagged": [False] * 3,
                          "observed": [False] * 3, "direction": ["unexpected", "", "undetermined"]})
    ax = plots.predicted_by_category(table, ylabel="churn probability (%)", title="Churn as each category")
    assert [p.get_hatch() for p in ax.patches] == ["..", None, None]
    assert ax.get_title().endswith("\ndotted: against what a better experience should do (check what the score measures)")
    plt.close("all")


def test_a_flagged_models_bars_are_hatched_and_an_observed_rate_is_named():
    """The flagged model's bars are hatched and the title says so; a category at its observed rate
    says so under its name (the IBM Telco passives, of whom nobody churned)."""
    table = pd.DataFrame({"category": ["detractor", "passive"], "estimate": [29.8, 0.0], "ci_low": [28.6, 0.0],
                          "ci_high": [31.0, 0.21], "flagged": [True, True], "observed": [False, True]})
    ax = plots.predicted_by_category(table, ylabel="churn probability (%)", title="Churn as each category")
    assert [p.get_hatch() for p in ax.patches] == ["//", "//"]
    assert ax.get_title() == "Churn as each category\nhatched: indicative only (the model is flagged)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["detractor", "passive\n(observed rate)"]
    plt.close("all")


def test_significance_is_a_filled_or_hollow_marker():
    """Hand-worked: [1.1, 1.3] excludes 1 (filled); [-5, 1] includes 0 (hollow)."""
    effects = pd.DataFrame({"label": ["a", "b"], "estimate": [1.2, -2.0], "ci_low": [1.1, -5.0], "ci_high": [1.3, 1.0],
                            "null": [1.0, 0.0], "scale": ["ratio", "pp"]})
    fig = plots.forest(effects)
    ratio, pp = fig.axes
    filled = {ax: [ln for ln in ax.get_lines() if ln.get_gid() == "significant"][0] for ax in (ratio, pp)}
    hollow = {ax: [ln for ln in ax.get_lines() if ln.get_gid() == "not_significant"][0] for ax in (ratio, pp)}
    assert list(filled[ratio].get_xdata()) == [1.2] and len(hollow[ratio].get_xdata()) == 0
    assert list(hollow[pp].get_xdata()) == [-2.0] and len(filled[pp].get_xdata()) == 0
    assert to_hex(hollow[pp].get_markerfacecolor()) == "#ffffff"


def _tick_texts(ax, which="y"):
    ax.figure.canvas.draw()
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs(), strict=True) if lo <= v <= hi]


@pytest.mark.parametrize("name", ["waterfall", "scenarios"])
def test_money_axes_have_currency_and_no_multiplier(name):
    plots.set_theme()
    ax = _non_category_charts()[name]()
    texts = _tick_texts(ax)
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert all("e" not in t for t in texts), texts
    assert any("€" in t and "," in t for t in texts), texts


def test_forest_ratio_axis_has_at_least_three_ticks_and_the_title_fits():
    effects = pd.DataFrame({"label": ["spend", "returns"], "estimate": [1.05, 0.98], "ci_low": [1.01, 0.95],
                            "ci_high": [1.09, 1.01], "null": [1.0, 1.0], "scale": ["ratio", "ratio"]})
    ax = plots.forest(effects, title="Promoters and detractors against comparable passives")
    texts = _tick_texts(ax, "x")
    assert len([t for t in texts if t]) >= 3, texts
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    assert ax.title.get_window_extent(renderer).x0 >= 0 and ax.title.get_window_extent(renderer).x1 <= fig.bbox.x1


@settings(max_examples=300, deadline=None)
@given(lo=st.floats(1e-3, 1e3), ratio=st.floats(1.001, 1e4))
def test_ratio_ticks_are_three_or_more_inside_the_axis_and_never_crowded(lo, ratio):
    hi = lo * ratio
    ticks = plots._ratio_ticks(lo, hi)
    gaps = np.diff(np.log(ticks))
    assert len(ticks) >= 3 and np.all(gaps > 0)
    assert ticks[0] >= lo * (1 - 1e-9) and ticks[-1] <= hi * (1 + 1e-9)
    assert gaps.min() >= plots._MIN_TICK_GAP * np.log(ratio) * (1 - 1e-6)  # no two labels overprint


def test_ratio_ticks_on_a_log_axis_are_evenly_stepped():
    """The bundled sample's effects panel: 0.75 ... 1.75 in steps of 0.25 printed "1.501.75";
    leaving 1.50 out read as an uneven scale. A ratio and its reciprocal either side of 1 are even
    on the log axis; narrow ranges keep even linear steps through 1."""
    assert plots._ratio_ticks(0.55, 1.8).tolist() == [0.8, 1.0, 1.25]
    assert plots._ratio_ticks(0.3, 3.0).tolist() == [0.5, 1.0, 2.0]
    assert np.allclose(plots._ratio_ticks(0.9, 1.1), [0.9, 0.95, 1.0, 1.05, 1.1])
    assert np.allclose(plots._ratio_ticks(1.05, 1.4), [1.1, 1.2, 1.3, 1.4])
    # over effect ranges around 1 (a ratio of 0.5 to 2), steps are even (in value or on the axis)
    # for all but a sliver of ranges where no three even ticks fit uncrowded
    rng = np.random.default_rng(1)
    uneven = 0
    for lo, hi in zip(rng.uniform(0.5, 0.999, 2000), rng.uniform(1.001, 2, 2000), strict=True):
        t = plots._ratio_ticks(lo, hi)
        d, g = np.diff(t), np.diff(np.log(t))
        uneven += not (np.allclose(d, d[0], rtol=1e-6) or np.allclose(g, g[0], rtol=1e-6))
    assert uneven < 0.02 * 2000


def test_residuals_log_axis_reads_plain_numbers():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"fitted": rng.uniform(180, 1500, 400), "pearson_residual": rng.normal(size=400)})
    ax = plots.residuals(table)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_visible()]
    shown = [t for t in labels if t]
    assert len(shown) >= 3 and all(re.fullmatch(r"[\d,]+(\.\d+)?", t) for t in shown), labels  # no "10^3"
    lo, hi = ax.get_xlim()
    assert lo <= 180 and hi >= 1500


def test_waterfall_labels_stay_inside_the_axes_below_the_title():
    plots.set_theme()
    steps = pd.DataFrame({"label": ["benefit", "returns saved", "cost", "net"],
                          "value": [96_000.0, 300.0, -473_000.0, -376_700.0]})
    assert plots.waterfall(steps).get_ylabel() == "Money (currency of the export)"  # no currency configured
    ax = plots.waterfall(steps, currency="EUR", title="Net value of moving 184 passives to promoters")
    assert ax.get_ylabel() == "Money (EUR)"
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_gid() == "value_label"]
    assert [t.get_text() for t in labels] == ["€96,000", "€300", "-€473,000", "-€376,700"]
    for t in labels:
        ext = t.get_window_extent(renderer)
        assert box.y0 <= ext.y0 and ext.y1 <= box.y1, t.get_text()
    heights = [abs(p.get_height()) for p in ax.patches if p.get_width() == pytest.approx(0.6)]
    assert min(heights) > 0.005 * (96_300 + 376_700)  # the 300 bar is drawn at a visible height (of the span)


def test_driver_quadrant_zoom_is_said_and_whole_scale_used_when_it_shows_the_spread():
    drivers = pd.DataFrame({"driver": ["driver_delivery", "driver_price"], "importance": [0.18, 0.02],
                            "ci_low": [0.16, -0.01], "ci_high": [0.2, 0.05], "performance": [6.99, 7.06]})
    ax = plots.driver_quadrant(drivers, scale=(0, 10))
    assert "axis zoomed: means 6.99–7.06 on the 0–10 scale" in ax.get_xlabel()
    assert "+" not in "".join(_tick_texts(ax, "x")) and ax.xaxis.get_offset_text().get_text() == ""
    assert sorted(t.get_text() for t in ax.texts) == ["Delivery", "Price"]
    wide = drivers.assign(performance=[4.0, 8.0])
    ax = plots.driver_quadrant(wide, scale=(0, 10))
    assert ax.get_xlim() == (0, 10) and "scale 0 to 10" in ax.get_xlabel()


def test_driver_quadrant_draws_each_mean_ratings_interval_and_keeps_it_in_view():
    """The performance intervals are horizontal lines at each driver's importance, end to end
    at the table's limits, inside the zoomed axis; without the columns none is drawn."""
    drivers = pd.DataFrame({"driver": ["driver_delivery", "driver_price"], "importance": [0.18, 0.02],
                            "ci_low": [0.16, -0.01], "ci_high": [0.2, 0.05], "performance": [6.99, 7.06],
                            "performance_ci_low": [6.90, 7.03], "performance_ci_high": [7.08, 7.09]})
    ax = plots.driver_quadrant(drivers, scale=(0, 10))
    segs = _segments_of(ax, "performance_ci")
    for seg, (_, row) in zip(segs, drivers.iterrows(), strict=True):
        assert seg[:, 1] == pytest.approx([row["importance"]] * 2)
        assert sorted(seg[:, 0]) == pytest.approx([row["performance_ci_low"], row["performance_ci_high"]])
    lo, hi = ax.get_xlim()
    assert lo < 6.90 and hi > 7.09 and "95% interval" in ax.get_xlabel()
    assert ax.get_title().startswith("Key drivers: the ratings do not differ reliably")  # 7.03 <= 7.08: all overlap
    apart = drivers.assign(performance_ci_high=[6.95, 7.09], performance=[6.92, 7.06])
    assert "fix what is important" in plots.driver_quadrant(apart, scale=(0, 10)).get_title()
    bare = plots.driver_quadrant(drivers.drop(columns=["performance_ci_low", "performance_ci_high"]), scale=(0, 10))
    assert not [c for c in bare.collections if c.get_gid() == "performance_ci"]


def test_driver_quadrant_tells_apart_ticks_and_means_that_differ_in_the_third_decimal():
    # the 1M report's drivers: means within 0.006 of each other read "6.99, 6.99, 7.00, 7.00"
    perf = [6.9922, 6.9914, 6.9962, 6.9906, 6.9858]
    drivers = pd.DataFrame({"driver": [f"driver_{c}" for c in "abcde"], "importance": [0.18, 0.13, 0.1, 0.06, 0.04],
                            "ci_low": [0.17, 0.12, 0.09, 0.05, 0.03], "ci_high": [0.19, 0.14, 0.11, 0.07, 0.05],
                            "performance": perf})
    ax = plots.driver_quadrant(drivers, scale=(1, 10))
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if lo <= v <= hi]
    assert len(shown) >= 3 and len(set(shown)) == len(shown), shown
    assert "axis zoomed: means 6.986–6.996 on the 1–10 scale" in ax.get_xlabel()
    assert ax.get_ylabel() == "Importance (R² it adds, 95% interval)"  # R² units, as the table's importance


@pytest.mark.parametrize("extra", [0, 10])
def test_tornado_shows_both_values_when_both_lower_the_roi_and_keeps_its_legend_off_the_bars(extra):
    sens = pd.DataFrame({"assumption": ["Horizon", "Margin"], "low_label": ["2 y", "28%"], "high_label": ["5 y", "42%"],
                         "roi_low": [36.5, 30.0], "roi_high": [36.1, 45.0]})
    more = pd.DataFrame({"assumption": [f"a{i}" for i in range(extra)], "low_label": "lo", "high_label": "hi",
                         "roi_low": 37.6 - np.arange(extra) / 200, "roi_high": 37.6 + np.arange(extra) / 200})
    ax = plots.tornado(pd.concat([sens, more], ignore_index=True), base=37.6)
    fig = ax.figure
    fig.canvas.draw()
    low, high = ax.containers  # light bars (lower value), dark bars (higher value)
    for a, b in zip(low.patches, high.patches, strict=True):  # the same row, never on top of each other
        assert a.get_y() >= b.get_y() + b.get_height() - 1e-9
    assert [p.get_width() for p in low.patches][-2:] == pytest.approx([36.5 - 37.6, 30.0 - 37.6])  # the widest last
    assert [p.get_width() for p in high.patches][-2:] == pytest.approx([36.1 - 37.6, 45.0 - 37.6])
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.y0 >= max(p.get_window_extent(renderer).y1 for p in low.patches + high.patches)  # above every bar
    assert ax.get_window_extent(renderer).contains(legend.x0, legend.y0) and ax.get_legend().get_frame().get_alpha() == 1


def test_trend_of_one_quarter_draws_its_interval_as_a_bar_and_of_two_a_band():
    one = pd.DataFrame({"quarter": ["2025Q4"], "nps": [9.8], "ci_low": [9.5], "ci_high": [10.1]})
    ax = plots.trend(one)
    (bar,) = [c for c in ax.collections if c.get_gid() == "interval"]
    (segment,) = bar.get_segments()
    assert segment[:, 1].tolist() == pytest.approx([9.5, 10.1])
    assert ax.get_ylim()[0] <= 9.5 and ax.get_ylim()[1] >= 10.1  # the whole interval shown
    two = pd.DataFrame({"quarter": ["2025Q3", "2025Q4"], "nps": [9.0, 9.8], "ci_low": [8.6, 9.5], "ci_high": [9.4, 10.1]})
    ax = plots.trend(two)
    assert not [c for c in ax.collections if c.get_gid() == "interval"] and len(ax.collections) == 1  # the band
    no_interval = plots.trend(one.assign(ci_low=np.nan))
    assert not [c for c in no_interval.collections if c.get_gid() == "interval"]


def test_cluster_projection_names_the_clusters():
    ax = _non_category_charts()["cluster_projection"]()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["High spend", "Rare visitors", "New"]


# --- labels in words and the cluster heatmap's colours (issue 15, remaining raw labels) ---------

def test_heatmap_forest_and_decomposition_labels_are_words():
    """The rows of the segment heatmap, the forest and the change decomposition read as words,
    not as column names ("plan: Basic", "spend: promoter vs passive (ratio)", "plan: mix")."""
    from cxanalysis import models, segments

    table = pd.DataFrame({"dimension": ["plan", "visits_per_month"], "segment": ["Basic", "lowest quartile (0–2)"],
                          "promoters": [0.4, 0.3], "passives": [0.4, 0.3], "detractors": [0.2, 0.4]})
    shares = segments.category_shares(table)
    assert list(shares.index) == ["Plan: Basic", "Visits per month: lowest quartile (0–2)"]
    ax = plots.category_heatmap(shares)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(shares.index)

    effects = pd.DataFrame({"outcome": ["spend", "churn", "returns", "churn"],
                            "contrast": ["promoter_vs_passive", "promoter_vs_passive", "detractor_vs_passive",
                                         "per_point"],
                            "estimate": [1.2, -3.0, 1.1, -0.5], "ci_low": [1.1, -5.0, 0.9, -0.8],
                            "ci_high": [1.3, -1.0, 1.3, -0.2], "scale": ["ratio", "pp", "ratio", "pp"]})
    rows = models.forest_table(effects)
    assert list(rows["label"]) == ["Spend, promoters vs passives (ratio)",
                                   "Churn, promoters vs passives (percentage points)",
                                   "Returns, detractors vs passives (ratio)"]
    fig = plots.forest(rows)
    assert {t.get_text() for a in fig.axes for t in a.get_yticklabels()} == set(rows["label"])
    assert sorted(a.get_xlabel().split("\n")[0] for a in fig.axes) == [  # each panel names its scale
        "Effect (difference in percentage points; 0 = none)", "Effect (ratio, log scale; 1 = no difference)"]
    # a flagged effect (separation) is labelled and drawn as a cross, never as a confident dot,
    # whatever its interval; the others keep their dots
    flagged = models.forest_table(effects.assign(flagged=[False, True, False, True]))
    assert flagged["label"].tolist()[1] == "Churn, promoters vs passives (percentage points) [flagged]"
    ax = plots.forest(flagged[flagged["scale"] == "pp"], ax=plt.figure().add_subplot())
    marks = {line.get_gid(): len(line.get_xdata()) for line in ax.lines if line.get_gid()}
    assert marks == {"significant": 0, "not_significant": 0, "flagged": 1}
    assert "x: flagged (separation), indicative only" in ax.get_xlabel()
    assert "flagged" not in plots.forest(rows[rows["scale"] == "pp"], ax=plt.figure().add_subplot()).get_xlabel()

    dec = {"from": "2026Q1", "to": "2026Q2", "change": 2.0,
           "by": [{"dimension": "visits_per_month", "mix": 1.0, "mix_ci_low": 0.5, "mix_ci_high": 1.5,
                   "within": 1.0, "within_ci_low": -0.5, "within_ci_high": 2.5}]}
    ax = plots.change_decomposition(dec)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Visits per month: customer mix",
                                                            "Visits per month: within segments"]


def _hue_degrees(rgb) -> float:
    import colorsys

    return 360 * colorsys.rgb_to_hsv(*rgb[:3])[0]


def test_cluster_profile_heatmap_uses_no_category_colour():
    """Every cell colour of the cluster-profile heatmap, read back from the drawn image, is
    either nearly grey or at least 40 degrees of hue away from all three category colours
    (red-blue, as before, has its blue end at 8 degrees from the promoter blue), and the columns
    are labelled in words."""
    from matplotlib.colors import to_rgb

    z = pd.DataFrame({"visits_per_month": [-2.0, 0.0, 1.0, 2.0], "spend": [1.5, -1.5, 0.3, -0.7]},
                     index=["Rare visitors", "Average", "Loyal", "Big spenders"])
    ax = plots.profile_heatmap(z)
    image = ax.get_images()[0]
    cells = image.cmap(image.norm(image.get_array())).reshape(-1, 4)
    category_hues = [_hue_degrees(to_rgb(c)) for c in plots.CATEGORY_COLORS.values()]
    import colorsys

    coloured = [c for c in cells if colorsys.rgb_to_hsv(*c[:3])[1] > 0.15]
    assert coloured, "the extreme cells carry a hue"
    for c in coloured:
        h = _hue_degrees(c)
        assert min(min(abs(h - k), 360 - abs(h - k)) for k in category_hues) >= 40, (to_hex(c), h)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Visits per month", "Spend"]
    # the old red-blue map fails this check: its blue end is the promoter's hue
    old = plt.get_cmap("RdBu_r")(0.0)
    assert min(min(abs(_hue_degrees(old) - k), 360 - abs(_hue_degrees(old) - k)) for k in category_hues) < 40


def test_key_driver_chart_spans_the_configured_scale():
    """KeyDrivers.plot with the configuration's scales: the chart knows the items' scale when
    every driver has one (here ``drivers: [1, 10]``): it spans it, or, with means as close as the
    sample's (within a tenth of the scale), zooms and names the scale; with no scale known the
    label says only "zoomed". A driver moved far apart makes the axis span the whole scale."""
    from cxanalysis import drivers
    from cxanalysis.sample import make_customers

    df = make_customers(400, 1, random_state=3)
    kd = drivers.KeyDrivers(target="nps_score", n_boot=5, random_state=0).fit(df)
    ax = kd.plot(scale={"csat": [1, 5], "drivers": [1, 10]})
    assert ax.get_xlabel().endswith("on the 1–10 scale)")
    plt.close("all")
    ax = kd.plot(scale={"csat": [1, 5]})
    assert "zoomed" in ax.get_xlabel() and "scale" not in ax.get_xlabel()
    plt.close("all")
    wide = df.assign(driver_price=(df["driver_price"] - 4).clip(1, 10))
    kd = drivers.KeyDrivers(target="nps_score", n_boot=5, random_state=0).fit(wide)
    ax = kd.plot(scale={"drivers": [1, 10]})
    assert ax.get_xlim() == (1.0, 10.0) and ax.get_xlabel() == "Performance: mean rating, 95% interval (scale 1 to 10)"
    assert drivers.rating_scale({"driver_delivery": [1, 5], "driver_price": [1, 7]},
                                ["driver_delivery", "driver_price"]) is None


def _png(fig) -> bytes:
    """The PNG a notebook shows: IPython's printer with the inline backend's options, wrapped by
    cxanalysis.alt as the notebooks' theme wraps it."""
    import functools

    from IPython.core.pylabtools import print_figure

    from cxanalysis import alt

    return alt._with_alt(functools.partial(print_figure, fmt="png", bbox_inches="tight"))(fig)[0]


@pytest.mark.parametrize("name", list(_non_category_charts()))
def test_a_chart_is_laid_out_once_drawn_alike_each_time_and_fits_its_canvas(name):
    """A notebook draws a chart two or three times; laid out once when made, it is the same
    picture each time (so a kernel and the in-process runner make the same PNG), and its layout
    keeps every label inside the figure."""
    plots.set_theme()
    fig = _fig(_non_category_charts()[name]())
    assert fig.get_layout_engine() is None  # not even a placeholder: printing draws it once
    first = _png(fig)
    fig.canvas.draw()
    assert _png(fig) == first
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    assert box.x0 >= -0.01 and box.y0 >= -0.01 and box.x1 <= width + 0.01 and box.y1 <= height + 0.01, (box, width, height)
    assert fig._cx_fits_canvas  # printed whole, uncropped (alt); the distributions' fixed grid measured too


def test_a_chart_whose_labels_cannot_fit_keeps_the_crop_and_says_why():
    """A segment name longer than the figure is wide: tight layout gives up with a warning,
    which is passed on, and the chart is not marked as fitting, so its PNG is cropped to (and
    shows) the whole label."""
    seg = pd.DataFrame({"segment": ["x" * 400, "Pro"], "nps": [10.0, 30.0], "ci_low": [5.0, 20.0],
                        "ci_high": [15.0, 40.0]})
    with pytest.warns(UserWarning, match="[Tt]ight layout not applied"):
        ax = plots.segment_nps(seg)
    assert not getattr(ax.figure, "_cx_fits_canvas", False)


def test_mostly_unique_text_columns_are_named_not_drawn():
    """Coordinates written as text (the IBM Telco export's "Lat Long") have no shape: no panel of
    one-high bars, a line under the grid instead. A text column of few levels is still drawn."""
    n = 300
    df = pd.DataFrame({"Lat Long": [f"{33 + i / 1000:.6f}, {-118 - i / 1000:.6f}" for i in range(n)],
                       "Contract": np.resize(["Month-to-Month", "One Year", "Two Year"], n), "spend": np.arange(n, dtype=float)})
    fig = plots.distributions(df, list(df.columns))
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Contract", "Spend"]
    assert [t.get_text() for t in fig.texts] == ["Not drawn, too many values to show a shape: Lat Long"]
    assert not plots.distributions(df, ["Contract", "spend"]).texts
    plt.close("all")


def test_a_column_whose_top_bars_hold_a_sliver_or_one_value_is_named_not_drawn():
    """Cities: 60 values, a few seen often, the 12 most frequent holding 40% of rows, so their bars
    show a sliver of the column: named, as is a column with one value for every row (with the
    value). A text column whose 12 most frequent values hold half or more is drawn; the alt text
    reads the lines under the grid."""
    from cxanalysis import alt

    rng = np.random.default_rng(0)
    n = 1000
    city = np.where(np.arange(n) < 400, np.resize([f"Big city {i}" for i in range(12)], n),
                    [f"Town {i}" for i in rng.integers(0, 48, n)])
    top12 = pd.Series(city).value_counts().iloc[:12].sum() / n
    common = np.where(np.arange(n) < 500, np.resize([f"Region {i}" for i in range(12)], n),
                      [f"Area {i}" for i in rng.integers(0, 48, n)])
    assert top12 < 0.5 <= pd.Series(common).value_counts().iloc[:12].sum() / n
    df = pd.DataFrame({"City": city, "Country": "United States", "Common": common, "spend": rng.gamma(2, 50, n),
                       "Quarter (export)": "Q3"})
    fig = plots.distributions(df, list(df.columns))
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Common", "Spend"]
    lines = [t.get_text() for t in fig.texts]
    assert lines == ["Not drawn, too many values to show a shape: City",
                     "One value for every row: Country (United States), Quarter (export) (Q3)"]
    assert fig.texts[0].get_position()[1] > fig.texts[1].get_position()[1]  # read top down
    described = alt.describe(fig)
    assert described.endswith("Not drawn, too many values to show a shape: City. One value for every row: Country "
                              "(United States), Quarter (export) (Q3).")
    plt.close("all")


def test_a_numeric_code_is_named_not_drawn_as_a_quantity():
    """The IBM Telco export's "Zip Code" is a number but no quantity: its histogram has no meaning.
    A whole-number column named as a code or identifier (zip, postal code, ID) is named under the
    grid instead; a column whose name only contains such letters (Tenure Months, Paid, Valid
    orders) is still drawn, and so is a code with few values (drawn as levels)."""
    rng = np.random.default_rng(1)
    n = 500
    df = pd.DataFrame({"Zip Code": rng.integers(90001, 96161, n), "Customer_ID": np.arange(n) + 1000,
                       "Postal code": rng.integers(1000, 9999, n).astype(float), "Paid": rng.gamma(2, 30, n),
                       "Valid orders": rng.integers(0, 40, n), "Zipped size": rng.integers(0, 400, n),
                       "Area code": np.resize([212, 415, 617], n)})
    fig = plots.distributions(df, list(df.columns))
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Paid", "Valid orders", "Zipped size", "Area code"]
    assert [t.get_text() for t in fig.texts] == ["Not drawn, a code or identifier, not a quantity: Zip Code, "
                                                 "Customer_ID, Postal code"]
    plt.close("all")


def test_distribution_titles_are_cut_to_their_panel():
    df = pd.DataFrame({"How likely are you to recommend our product to a friend or colleague": np.arange(50.0) % 7,
                       "spend": np.arange(50.0)})
    fig = plots.distributions(df, list(df.columns))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0].endswith("…") and len(titles[0]) == 32 and titles[1] == "Spend"


def test_a_chart_with_a_title_wider_than_the_figure_keeps_the_crop():
    """Tight layout lays out a long centred title without a warning, yet the title reaches past
    the canvas: measured, the chart is not marked as fitting, and its PNG (cropped) shows it."""
    seg = pd.DataFrame({"segment": ["Basic", "Pro"], "nps": [10.0, 30.0], "ci_low": [5.0, 20.0],
                        "ci_high": [15.0, 40.0]})
    ax = plots.segment_nps(seg, title="NPS by segment (outlined: differs from the rest of the customers, "
                                      "adjusted for nothing at all)")
    assert not getattr(ax.figure, "_cx_fits_canvas", False) and not plots._inside(ax.figure)
    fine = plots.segment_nps(seg, title="NPS by segment")
    assert fine.figure._cx_fits_canvas


@pytest.mark.parametrize("long", ["title", "label"])
def test_a_chart_that_does_not_fit_is_printed_in_one_drawing_as_ipython_crops_it(long):
    """Measured when made, a chart that reaches past its canvas is cropped to that measured box
    (padded as matplotlib pads it): the PNG IPython's own crop makes, byte for byte, without the
    extra drawing IPython's measuring costs."""
    import functools

    from IPython.core.pylabtools import print_figure

    seg = pd.DataFrame({"segment": ["x" * 400 if long == "label" else "Basic", "Pro"], "nps": [10.0, 30.0],
                        "ci_low": [5.0, 20.0], "ci_high": [15.0, 40.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unfittable label's tight-layout warning (tested above)
        fig = plots.segment_nps(seg, title="NPS by segment" + " (outlined: differs from the rest)" * 3).figure
    assert not getattr(fig, "_cx_fits_canvas", False) and not fig.stale
    drawn = []
    draw = fig.draw
    fig.draw = lambda renderer: drawn.append(1) or draw(renderer)
    data = _png(fig)
    assert drawn == [1]
    del fig.draw
    assert data == functools.partial(print_figure, fmt="png", bbox_inches="tight")(fig)


def test_a_chart_drawn_into_a_callers_axes_leaves_the_callers_layout_alone():
    fig, ax = plt.subplots(layout="constrained")
    plots.trend(pd.DataFrame({"quarter": ["2026Q1", "2026Q2"], "nps": [10.0, 12.0], "ci_low": [8.0, 10.0],
                              "ci_high": [12.0, 14.0]}), ax=ax)
    assert fig.get_constrained_layout()


@pytest.mark.parametrize("backend", ["svg", "pdf"])
def test_charts_draw_on_a_vector_backend_too(backend, tmp_path):
    """Laying a chart out once needs no raster renderer: on svg or pdf (no canvas renderer to
    measure with) every chart is made, laid out and saved, just not marked for uncropped PNGs."""
    plt.switch_backend(backend)
    try:
        for name, make in _non_category_charts().items():
            fig = _fig(make())
            assert fig.get_layout_engine() is None, name
            assert not getattr(fig, "_cx_fits_canvas", False), name
            fig.savefig(tmp_path / f"{name}.{backend}")
            plt.close(fig)
    finally:
        plt.switch_backend("agg")


def test_silhouette_axis_starts_at_zero_and_marks_weak_structure():
    """Silhouettes of 0.16 to 0.23 drawn on their own narrow axis made k = 2 look distinctive; the
    axis now starts at 0 and shows the 0.25 line below which structure is weak."""
    fig = plots.k_selection(pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.23, 0.17, 0.16]}), chosen=2)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo == 0.0 and hi >= 0.5
    assert any(np.allclose(line.get_ydata(), 0.25) for line in ax.get_lines())
    assert any("0.25" in t.get_text() for t in ax.texts)
    plt.close(fig)
    fig = plots.k_selection(pd.DataFrame({"k": [2, 3], "silhouette": [-0.1, 0.8]}), chosen=3)
    assert fig.axes[0].get_ylim()[0] < -0.1 and fig.axes[0].get_ylim()[1] > 0.8
    plt.close(fig)


def test_yes_no_panel_names_its_columns_in_whole_words():
    """"First contact res…" was cut to fit the fixed grid; the name now wraps onto two lines."""
    data = pd.DataFrame({"churned": [0, 1, 0, 1], "first_contact_resolved": [1, 1, 0, 1], "spend": [1.0, 2, 3, 4]})
    fig = plots.distributions(data, ["churned", "first_contact_resolved", "spend"], unit="respondents")
    panel = [ax for ax in fig.axes if "Yes/no" in ax.get_title()][0]
    names = [t.get_text() for t in panel.get_yticklabels()]
    assert "First contact\nresolved" in names and not any("…" in n for n in names)
    plt.close(fig)


def test_forest_points_axis_keeps_every_whisker_clear_of_the_frame():
    """A percentage-point panel: the axis runs 6% of the span beyond the widest interval and the
    no-difference line, so no whisker's cap touches the frame (the e-commerce +4.8, Telco 31.1)."""
    effects = pd.DataFrame({"label": ["churn P", "churn D"], "estimate": [2.2, -2.6], "ci_low": [-0.5, -4.8],
                            "ci_high": [4.8, -0.3], "null": [0.0, 0.0], "scale": ["pp", "pp"]})
    ax = plots.forest(effects)
    left, right = ax.get_xlim()
    span = 4.8 - (-4.8)
    assert left == pytest.approx(-4.8 - 0.06 * span) and right == pytest.approx(4.8 + 0.06 * span)
    plt.close("all")
