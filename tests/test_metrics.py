"""Every metric against an independent computation: a hand-worked example, scipy or statsmodels."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from cxanalysis import metrics
from cxanalysis.config import load_config

Z = 1.959963984540054


def _scores(n_p, n_pa, n_d):
    return pd.DataFrame({"nps_score": [10] * n_p + [8] * n_pa + [3] * n_d})


def test_nps_wald_hand_worked():
    """9 promoters, 6 passives, 5 detractors (n = 20).

    NPS = (9 - 5) / 20 = 0.20 -> 20 points.
    var = (p_P + p_D - NPS^2) / n = (0.45 + 0.25 - 0.04) / 20 = 0.033; se = 0.181659
    CI = 0.20 +- 1.959964 x 0.181659 = [-0.156045, 0.556045] -> [-15.60, 55.60] points.
    """
    r = metrics.nps(_scores(9, 6, 5), ci="wald").iloc[0]
    assert r["nps"] == pytest.approx(20.0, abs=1e-12)
    assert (r["promoters"], r["passives"], r["detractors"]) == pytest.approx((0.45, 0.30, 0.25))
    assert r["se"] == pytest.approx(18.1659, abs=1e-4)
    assert r["ci_low"] == pytest.approx(-15.6045, abs=1e-4)
    assert r["ci_high"] == pytest.approx(55.6045, abs=1e-4)


def test_nps_adjusted_wald_hand_worked():
    """Same 9/6/5 sample, adjusted-Wald (Rocks 2016): n' = 23, p_P' = 9.75/23 = 0.423913,
    p_D' = 5.75/23 = 0.25, NPS' = 0.173913, var = (0.423913 + 0.25 - 0.030246) / 23 = 0.0279855,
    se = 0.167289, CI = 0.173913 +- 0.327881 = [-15.397, 50.179] points; the point estimate stays 20.
    """
    r = metrics.nps(_scores(9, 6, 5)).iloc[0]
    assert r["nps"] == pytest.approx(20.0)
    assert r["method"] == "adjusted-wald"
    assert r["ci_low"] == pytest.approx(-15.397, abs=1e-3)
    assert r["ci_high"] == pytest.approx(50.179, abs=1e-3)


def test_nps_difference_hand_worked():
    """A: 9/6/5 (NPS 20, var 0.033). B: 30/40/30 (NPS 0, var (0.3 + 0.3 - 0) / 100 = 0.006).
    diff = 20 points, se = sqrt(0.039) = 0.197484 -> 19.7484 points, z = 1.012739,
    p = 2 (1 - Phi(1.012739)) = 0.31118; CI = 20 +- 1.959964 x 19.7484 = [-18.706, 58.706].
    """
    r = metrics.nps_difference(_scores(9, 6, 5), _scores(30, 40, 30)).iloc[0]
    assert r["difference"] == pytest.approx(20.0)
    assert r["se"] == pytest.approx(19.7484, abs=1e-4)
    assert r["z"] == pytest.approx(1.012739, abs=1e-6)
    assert r["p_value"] == pytest.approx(0.31118, abs=1e-5)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-18.706, 58.706), abs=1e-3)


def test_nps_by_group_and_custom_thresholds():
    df = pd.DataFrame({"csat": [5, 5, 4, 3, 1, 5, 4, 4], "g": list("aaaaabbb")})
    r = metrics.nps(df, score="csat", by="g", promoter_min=5, detractor_max=3)
    assert r["g"].tolist() == ["a", "b"]
    assert r["nps"].tolist() == pytest.approx([0.0, 100 / 3])


def test_weighted_nps_uses_kish_effective_n():
    """Weights 1,1,2,4 on P, Pa, D, P: shares P = 5/8, D = 2/8; n_eff = 8^2 / (1+1+4+16) = 64/22."""
    df = pd.DataFrame({"nps_score": [10, 8, 2, 9], "weight": [1.0, 1.0, 2.0, 4.0]})
    r = metrics.nps(df, weight="weight", ci="wald").iloc[0]
    n_eff = 64 / 22
    assert r["n_eff"] == pytest.approx(n_eff)
    assert r["nps"] == pytest.approx(100 * (5 / 8 - 2 / 8))
    se = np.sqrt((5 / 8 + 2 / 8 - (3 / 8) ** 2) / n_eff)
    assert r["se"] == pytest.approx(100 * se)


def test_configured_nps_follows_the_config():
    """A 1-5 CSAT scored with top-box thresholds, Wald interval at alpha 0.10, weights used:
    P = 5/8, D = 2/8 as in the weighted example above, z = 1.645; the upper end is cut at 100."""
    df = pd.DataFrame({"csat": [5, 4, 1, 5], "weight": [1.0, 1.0, 2.0, 4.0], "g": list("abab")})
    cfg = load_config({"categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3},
                       "nps_ci": "wald", "alpha": 0.10})
    r = metrics.configured_nps(df, cfg).iloc[0]
    se = 100 * np.sqrt((5 / 8 + 2 / 8 - (3 / 8) ** 2) / (64 / 22))
    assert r["nps"] == pytest.approx(37.5)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((37.5 - stats.norm.ppf(0.95) * se, 100.0))
    assert 37.5 + stats.norm.ppf(0.95) * se > 100
    by = metrics.configured_nps(df, cfg, by="g")
    assert by["nps"].tolist() == pytest.approx([100 * (1 / 3 - 2 / 3), 100 * 4 / 5])  # a: P w1, D w2; b: Pa w1, P w4


@pytest.mark.parametrize("n", [50, 5000])
def test_nps_ci_coverage(n):
    """Coverage study: 1,000 samples from a trinomial with known NPS = 20 (45/30/25%). The 95%
    adjusted-Wald interval must cover the truth 92-98% of the time."""
    rng = np.random.default_rng(n)
    hits = 0
    draws = 1000
    for _ in range(draws):
        cats = rng.choice([10, 8, 3], size=n, p=[0.45, 0.30, 0.25])
        r = metrics.nps(pd.DataFrame({"nps_score": cats})).iloc[0]
        hits += r["ci_low"] <= 20.0 <= r["ci_high"]
    assert 0.92 <= hits / draws <= 0.98


def test_mean_score_against_scipy():
    s = pd.DataFrame({"csat": [1, 2, 3, 4, 5, 5, 4, 4, 2, 5]})
    r = metrics.mean_score(s, score="csat", scale=(1, 5)).iloc[0]
    lo, hi = stats.t.interval(0.95, df=9, loc=s["csat"].mean(), scale=stats.sem(s["csat"]))
    assert (r["mean"], r["ci_low"], r["ci_high"]) == pytest.approx((3.5, lo, hi))
    assert r["top_box"] == pytest.approx(6 / 10)  # 4s and 5s
    assert r["bottom_box"] == pytest.approx(3 / 10)  # 1s and 2s


def test_proportion_is_wilson_as_in_statsmodels():
    df = pd.DataFrame({"churned": [1, 0, 0, 0, 1, 0, 0, 0, 0, np.nan]})
    r = metrics.proportion(df, column="churned").iloc[0]
    lo, hi = proportion_confint(2, 9, method="wilson")
    assert (r["n"], r["rate"]) == (9, pytest.approx(2 / 9))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-10)


def test_ratio_of_totals_delta_method():
    """R = sum y / sum x; var = (s_y^2 + R^2 s_x^2 - 2 R s_xy) / (n xbar^2), written out."""
    y = np.array([10.0, 30, 20, 50, 0, 40])
    x = np.array([1.0, 3, 1, 4, 1, 2])
    r = metrics.ratio_of_totals(y, x)
    R = y.sum() / x.sum()
    c = np.cov(y, x, ddof=1)
    se = np.sqrt((c[0, 0] + R**2 * c[1, 1] - 2 * R * c[0, 1]) / (len(y) * x.mean() ** 2))
    assert r["value"] == pytest.approx(150 / 12)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((R - Z * se, R + Z * se))


def test_clv_simple_and_discounted_hand_worked():
    """Simple: 0.35 x 300 / 0.1 = 1050.
    Discounted (DESIGN.md), m = 0.5, s = 100, c = 0.1, k = 5, r = 2, d = 0.08, H = 1 year:
    each quarter's margin is 0.5 x 100 - 5 x 2 = 40; q = 1..4 weights 0.9^(q-1) / 1.08^(q/4):
    40 x (0.980944 + 0.866025 + 0.764570 + 0.675000) = 40 x 3.286539 = 131.4616.
    """
    assert metrics.clv_simple(300, 0.1, margin=0.35) == pytest.approx(1050)
    v = metrics.clv_discounted(100, 0.1, 2, margin=0.5, cost_per_return=5, discount_rate=0.08, horizon_years=1)
    by_hand = 40 * (1 / 1.08**0.25 + 0.9 / 1.08**0.5 + 0.81 / 1.08**0.75 + 0.729 / 1.08)
    assert v == pytest.approx(by_hand, rel=1e-12)
    assert v == pytest.approx(131.4616, abs=1e-3)
    vec = metrics.clv_discounted(np.array([100.0, 200.0]), np.array([0.1, 0.1]), margin=0.5,
                                 cost_per_return=0, discount_rate=0.0, horizon_years=2)
    assert vec[1] == pytest.approx(2 * vec[0])
    assert vec[0] == pytest.approx(50 * (1 - 0.9**8) / 0.1)  # geometric sum without discounting


def test_health_score_hand_worked():
    """Weights cx 0.5, tickets 0.5. CX on 0-10: 10 -> 1, 0 -> 0. Tickets' percentile ranks of
    [0, 2] are [0.5, 1] and count against health: [0.5, 0]. Health = 100 x (0.5 x [1, 0] +
    0.5 x [0.5, 0]) = [75, 0]."""
    df = pd.DataFrame({"nps_score": [10, 0], "support_tickets": [0, 2]})
    h = metrics.health_score(df, weights={"cx": 0.5, "support_tickets": 0.5, "absent": 1.0},
                             score="nps_score", scale=(0, 10))
    assert h.tolist() == pytest.approx([75.0, 0.0])


def test_cx_metrics_table_and_skips(sample_frame):
    cfg = load_config()
    cur = sample_frame[sample_frame["quarter"] == sample_frame["quarter"].max()]
    table, skipped = metrics.cx_metrics(cur.drop(columns=["mrr", "trial_converted"]), cfg)
    by = table.set_index("metric")
    assert by.loc["NPS", "value"] == pytest.approx(metrics.nps(cur).iloc[0]["nps"])
    assert by.loc["Churn rate", "value"] == pytest.approx(cur["churned"].mean())
    assert by.loc["Average transaction size", "value"] == pytest.approx(cur["spend"].sum() / cur["orders"].sum())
    assert by.loc["Renewal rate", "n"] == cur["renewed"].notna().sum()
    assert set(skipped) == {"MRR", "Trial conversion"}
    assert (table["ci_low"].dropna() <= table.loc[table["ci_low"].notna(), "value"]).all()
    # top-2-box shares: the share of 4s and 5s (CSAT 1-5), with statsmodels' Wilson interval
    csat = cur["csat"].dropna()
    top = int((csat >= 4).sum())
    assert by.loc["CSAT top-2-box", "value"] == pytest.approx(top / len(csat))
    assert (by.loc["CSAT top-2-box", "ci_low"], by.loc["CSAT top-2-box", "ci_high"]) == pytest.approx(
        proportion_confint(top, len(csat), method="wilson"), rel=1e-12)


def test_weighted_mean_score_uses_kish_effective_n():
    """Weights 1, 1, 2, 4 on CSAT 5, 4, 2, 5: weighted mean = (5 + 4 + 4 + 20) / 8 = 4.125;
    n_eff = 64 / 22; variance = sum w (x - m)^2 / sum w x n_eff / (n_eff - 1); t interval on
    n_eff - 1 degrees of freedom; top-2 box = (1 + 1 + 4) / 8."""
    df = pd.DataFrame({"csat": [5, 4, 2, 5], "weight": [1.0, 1.0, 2.0, 4.0]})
    r = metrics.mean_score(df, score="csat", scale=(1, 5), weight="weight").iloc[0]
    w, x = df["weight"].to_numpy(), df["csat"].to_numpy(float)
    m = 33 / 8
    n_eff = 64 / 22
    var = (w * (x - m) ** 2).sum() / 8 * n_eff / (n_eff - 1)
    half = stats.t.ppf(0.975, n_eff - 1) * np.sqrt(var / n_eff)
    assert r["mean"] == pytest.approx(4.125)
    assert r["n_eff"] == pytest.approx(n_eff)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((m - half, m + half))
    assert r["top_box"] == pytest.approx(6 / 8) and r["bottom_box"] == pytest.approx(2 / 8)


@pytest.mark.parametrize(("p", "a", "d"), [(0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 2), (3, 0, 0), (1, 0, 1)])
def test_nps_interval_contains_its_estimate_in_tiny_groups(p, a, d):
    """Adjusted-Wald centres the interval on (P + 3/4 - D - 3/4) / (n + 3), which for one
    detractor is [-98.5, 48.5] around -100 (issue 12 item 5): the reported limits are widened to
    contain the estimate, within [-100, 100]; where the centred interval already contains it,
    nothing changes."""
    r = metrics.nps_from_counts(p, a, d)
    assert r["ci_low"] <= r["nps"] <= r["ci_high"] and -100 <= r["ci_low"] and r["ci_high"] <= 100
    if (p, a, d) == (0, 0, 1):
        # hand-worked: n=1, p*_D = 1.75/4, p*_P = 0.75/4, centre -0.25, se = sqrt((0.625 - 0.0625) / 4)
        se = np.sqrt((0.625 - 0.0625) / 4)
        assert r["ci_high"] == pytest.approx(100 * (-0.25 + 1.959963984540054 * se), rel=1e-12)
        assert r["ci_low"] == -100.0


def test_contain_only_widens_and_keeps_missing_limits():
    lo, hi = metrics.contain(np.array([0.1, 5.0, np.nan, 2.0]), np.array([0.2, 1.0, 0.0, np.nan]),
                             np.array([0.5, 4.0, 1.0, 3.0]))
    np.testing.assert_array_equal(lo, [0.1, 1.0, 0.0, np.nan])
    np.testing.assert_array_equal(hi, [0.5, 5.0, 1.0, 3.0])
    assert metrics.contain(120.0, 90.0, 110.0, lower=-100, upper=100) == (90.0, 100.0)
    assert metrics.wilson_interval(0, 7)[0] == 0.0 and metrics.wilson_interval(7, 7)[1] == 1.0


def test_metrics_that_cannot_be_computed_are_named_skips_not_nan():
    """No orders (transaction size divides by zero) and no churner (CLV = spend / churn is
    unbounded): both metrics are listed as skipped with the reason, never printed as NaN or inf."""
    from cxanalysis.config import load_config

    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)], "nps_score": [9, 7, 3, 10] * 10,
                       "spend": 100.0, "orders": 0.0, "churned": 0.0})
    table, skipped = metrics.cx_metrics(df, load_config())
    assert "Average transaction size" in skipped and "zero total" in skipped["Average transaction size"]
    assert "unbounded" in skipped["CLV"]
    assert np.isfinite(table["value"]).all()
    assert not table["metric"].str.startswith(("Average transaction", "CLV")).any()


# --- survey weights everywhere (issue 14 item 1) -------------------------------------------------


def test_a_constant_weight_reproduces_every_unweighted_metric(sample_frame):
    """Weights matter only relative to each other: a weight of 50 on every customer must give
    the unweighted dashboard (every value, limit and n; n_eff equal to n), to rounding. The one
    exception is by design: the retention cost spreads the fixed program cost over the customers
    the rows stand for, 50 times as many (checked by hand below)."""
    cfg = load_config()
    cur = sample_frame[sample_frame["quarter"] == sample_frame["quarter"].max()]
    plain, sk_plain = metrics.cx_metrics(cur, cfg)
    weighted, sk_weighted = metrics.cx_metrics(cur.assign(weight=50.0), cfg)
    assert sk_plain == sk_weighted and plain["metric"].tolist() == weighted["metric"].tolist()
    assert len(plain) >= 15
    retention = "Retention cost per retained customer"
    fixed = (cfg.roi["program_cost_per_year"] + cfg.roi["team_cost_per_year"]) / 4
    both = cur[["support_cost", "churned"]].dropna()
    for table, base in ((plain, len(cur)), (weighted, 50.0 * len(cur))):
        by_hand = (both["support_cost"].sum() + fixed * len(both) / base) / (1 - both["churned"]).sum()
        assert table.set_index("metric").loc[retention, "value"] == pytest.approx(by_hand, rel=1e-10)
    plain, weighted = plain[plain["metric"] != retention], weighted[weighted["metric"] != retention]
    for c in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(weighted[c].to_numpy(float), plain[c].to_numpy(float), rtol=1e-10, equal_nan=True)
    assert weighted["n"].tolist() == plain["n"].tolist()
    np.testing.assert_allclose(weighted["n_eff"].to_numpy(float), plain["n_eff"].to_numpy(float), rtol=1e-10,
                               equal_nan=True)
    has = plain["n_eff"].notna()
    np.testing.assert_allclose(plain.loc[has, "n_eff"].to_numpy(float), plain.loc[has, "n"].to_numpy(float))
    assert weighted["method"].str.contains("weighted").sum() >= 10


@pytest.fixture(scope="module")
def weighted_frame():
    """200 customers with weights that matter: churners and big spenders are under-represented
    (weight 3 against 1 on average), so the weighted and unweighted figures differ."""
    rng = np.random.default_rng(14)
    n = 200
    churned = (rng.random(n) < 0.15).astype(float)
    spend = rng.gamma(2.0, 150.0, n)
    w = np.where(churned == 1, 3.0, 1.0) * rng.uniform(0.5, 1.5, n)
    churned[[3, 17]] = np.nan
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "nps_score": rng.integers(0, 11, n).astype(float),
        "csat": rng.integers(1, 6, n).astype(float), "spend": spend, "orders": rng.integers(1, 6, n).astype(float),
        "churned": churned, "support_cost": rng.gamma(1.5, 10.0, n), "weight": w,
    })


def test_weighted_rate_is_wilson_on_kish_n_eff(weighted_frame):
    """Churn = sum w y / sum w over rows with churned recorded (by hand); the Wilson interval on
    n_eff trials with rate x n_eff successes, as statsmodels computes it for those (fractional)
    counts."""
    df = weighted_frame
    ok = df["churned"].notna()
    y, w = df.loc[ok, "churned"].to_numpy(), df.loc[ok, "weight"].to_numpy()
    rate = (w * y).sum() / w.sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    r = metrics.proportion(df, column="churned", weight="weight").iloc[0]
    assert r["rate"] == pytest.approx(rate, rel=1e-12) and r["n"] == ok.sum()
    assert r["n_eff"] == pytest.approx(n_eff, rel=1e-12)
    assert abs(rate - y.mean()) > 0.05  # the weights matter here
    lo, hi = proportion_confint(rate * n_eff, n_eff, method="wilson")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-10)
    table, _ = metrics.cx_metrics(df, load_config())
    churn = table.set_index("metric").loc["Churn rate"]
    assert churn["value"] == pytest.approx(rate, rel=1e-12) and churn["n_eff"] == pytest.approx(n_eff)


def test_weighted_means_match_statsmodels_descrstatsw(weighted_frame):
    """Weighted means against statsmodels' DescrStatsW. Its t interval treats weights as
    frequencies (n = sum w), so the weights are rescaled to sum to Kish's n_eff: then its
    variance sum w'(x - m)^2 / (n_eff - 1), its standard error and its n_eff - 1 degrees of
    freedom are exactly the module's."""
    from statsmodels.stats.weightstats import DescrStatsW

    df = weighted_frame
    table, _ = metrics.cx_metrics(df, load_config())
    by = table.set_index("metric")
    w = df["weight"].to_numpy()
    n_eff = w.sum() ** 2 / (w**2).sum()
    for col, metric in (("spend", "Average spend per customer"), ("csat", "CSAT (mean)"),
                        ("support_cost", "Support cost per customer")):
        d = DescrStatsW(df[col].to_numpy(), weights=w * n_eff / w.sum())
        lo, hi = d.tconfint_mean(alpha=0.05)
        row = by.loc[metric]
        assert row["value"] == pytest.approx(d.mean, rel=1e-12), metric
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), rel=1e-10), metric
        assert row["n_eff"] == pytest.approx(n_eff, rel=1e-12)
    assert by.loc["Average spend per customer", "value"] != pytest.approx(df["spend"].mean(), rel=1e-3)


def _simple_clv_by_hand(s, c, w, margin=0.35):
    """The simple CLV and its interval by hand: weighted means of spend ``s`` and churn ``c``, their
    covariance (weighted, x n_eff / (n_eff - 1), over n_eff), the delta method on the log."""
    sb, cb = (w * s).sum() / w.sum(), (w * c).sum() / w.sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    cov = np.cov(np.vstack([s, c]), aweights=w, ddof=0) * n_eff / (n_eff - 1) / n_eff
    g = np.array([1 / sb, -1 / cb])
    se_log = np.sqrt(g @ cov @ g)
    clv = margin * sb / cb
    return {"sb": sb, "cb": cb, "cov": cov, "clv": (clv, clv * np.exp(-Z * se_log), clv * np.exp(Z * se_log))}


def test_a_segments_clv_interval_is_the_dashboards_on_its_customers(weighted_frame):
    """A segment's simple CLV and interval (segments.profile) are the dashboard's formula on its
    own customers: a segment holding everyone gives the dashboard's CLV row exactly, and each of
    two halves the hand computation (weighted covariance of spend and churn over n_eff)."""
    from cxanalysis import segments

    df = weighted_frame.assign(everyone="all", half=np.where(np.arange(200) % 2, "odd", "even"))
    df["cx_category"] = pd.cut(df["nps_score"], [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"])
    cfg = load_config()
    table = segments.profile(df, ["everyone", "half"], cfg).set_index(["dimension", "segment"])
    dash = metrics.cx_metrics(df, cfg)[0].set_index("metric").loc["CLV (simple)"]
    whole = table.loc[("everyone", "all")]
    assert (whole["clv"], whole["clv_ci_low"], whole["clv_ci_high"]) == pytest.approx(
        (dash["value"], dash["ci_low"], dash["ci_high"]), rel=1e-9)
    for name in ("odd", "even"):
        part = df[(df["half"] == name) & df["churned"].notna()]
        by_hand = _simple_clv_by_hand(part["spend"].to_numpy(), part["churned"].to_numpy(), part["weight"].to_numpy())
        row = table.loc[("half", name)]
        assert (row["clv"], row["clv_ci_low"], row["clv_ci_high"]) == pytest.approx(by_hand["clv"], rel=1e-9)
    # nobody churned in a segment: its CLV is unbounded, with no interval
    calm = segments.profile(df.assign(churned=0.0), ["everyone"], cfg).iloc[0]
    assert np.isinf(calm["clv"]) and np.isnan(calm["clv_ci_low"]) and np.isnan(calm["clv_ci_high"])


def test_weighted_ratio_of_totals_and_clv_by_hand(weighted_frame):
    """Average transaction size = sum w spend / sum w orders; its delta-method variance
    var_w(spend - R orders) / (n_eff xbar_w^2), with var_w = sum w z^2 / sum w x n_eff / (n_eff - 1).
    Simple CLV = 0.35 x weighted mean spend / weighted churn (rows with both), the delta method
    on its log from the weighted covariance of (spend, churned) over n_eff."""
    df = weighted_frame
    cfg = load_config()
    by = metrics.cx_metrics(df, cfg)[0].set_index("metric")
    s, o, w = df["spend"].to_numpy(), df["orders"].to_numpy(), df["weight"].to_numpy()
    R = (w * s).sum() / (w * o).sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    var_z = (w * (s - R * o) ** 2).sum() / w.sum() * n_eff / (n_eff - 1)
    se = np.sqrt(var_z / (n_eff * ((w * o).sum() / w.sum()) ** 2))
    row = by.loc["Average transaction size"]
    assert row["value"] == pytest.approx(R, rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((R - Z * se, R + Z * se), rel=1e-10)

    ok = df["churned"].notna().to_numpy()
    by_hand = _simple_clv_by_hand(s[ok], df["churned"].to_numpy()[ok], w[ok])
    sb, cb, cov = by_hand["sb"], by_hand["cb"], by_hand["cov"]
    row = by.loc["CLV (simple)"]
    assert row["value"] == pytest.approx(by_hand["clv"][0], rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(by_hand["clv"][1:], rel=1e-10)
    # discounted CLV: the delta method on its log with a numerical gradient of metrics.clv_discounted
    r = cfg.roi
    f = lambda sv, cv: np.log(metrics.clv_discounted(sv, cv, margin=r["gross_margin"], cost_per_return=0.0,  # noqa: E731
                                                     discount_rate=r["discount_rate"], horizon_years=r["horizon_years"]))
    h = 1e-6
    g = np.array([(f(sb * (1 + h), cb) - f(sb * (1 - h), cb)) / (2 * h * sb),
                  (f(sb, cb + h) - f(sb, cb - h)) / (2 * h)])
    disc, se_log = np.exp(f(sb, cb)), np.sqrt(g @ cov @ g)
    row = by.loc[f"CLV (discounted, {r['horizon_years']} years)"]
    assert row["value"] == pytest.approx(disc, rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((disc * np.exp(-Z * se_log), disc * np.exp(Z * se_log)),
                                                            rel=1e-6)


def test_rows_with_a_missing_weight_are_left_out_of_weighted_figures(weighted_frame):
    df = weighted_frame.copy()
    df.loc[:9, "weight"] = np.nan
    full = metrics.cx_metrics(df, load_config())[0].set_index("metric")
    dropped = metrics.cx_metrics(df.iloc[10:], load_config())[0].set_index("metric")
    for metric in ("NPS", "Churn rate", "Average spend per customer", "Average transaction size", "CLV (simple)"):
        assert full.loc[metric, "value"] == pytest.approx(dropped.loc[metric, "value"], rel=1e-12), metric
        assert np.isfinite(full.loc[metric, "ci_low"]), metric


def test_clv_when_nobody_spent_anything_is_zero_not_an_error():
    """A quarter where every spend is 0 (found by the property test): the simple CLV is 0 with a
    zero-width interval (no spread in spend), not a division by zero on the log scale."""
    from cxanalysis.config import load_config

    df = pd.DataFrame({"customer_id": [f"C{i}" for i in range(40)], "quarter": "2026Q1",
                       "nps_score": np.arange(40) % 11, "spend": 0.0,
                       "churned": (np.arange(40) % 7 == 0).astype(float)})
    table, _ = metrics.cx_metrics(df, load_config())
    row = table.set_index("metric").loc["CLV (simple)"]
    assert row["value"] == 0.0 and row["ci_low"] == 0.0 and row["ci_high"] == 0.0


def test_mrr_is_a_census_of_the_whole_base_when_the_export_holds_it(tmp_path):
    """With non-respondents in the export, MRR (total) and MRR per customer add up every
    customer of the quarter (checked against the generator's frame summed by pandas), have no
    interval, and say so; the other metrics stay the respondents' (weighted) figures (without the
    run's ``metrics_base``: see the next tests). With no
    non-respondent the rows are the base: the same census, of them alone."""
    from cxanalysis.engine import PandasEngine
    from cxanalysis.io import load
    from cxanalysis.narrative import metrics_summary
    from cxanalysis.sample import make_customers

    df = make_customers(2000, 1, random_state=8, response_rates={"Basic": 0.2, "Plus": 0.5, "Pro": 0.9})
    df.loc[df.index[::7], "mrr"] = np.nan  # some customers without an MRR, among both groups
    df.to_csv(tmp_path / "export.csv", index=False)
    cfg = load_config()
    loaded = load(tmp_path / "export.csv", cfg)
    entry = loaded.report.response[0]
    tables = PandasEngine(loaded.data.drop(columns=["_row", "_source"]), cfg).exact_tables()
    q = entry["quarter"]
    table, _ = metrics.exact_metrics(tables["metrics"], tables["metrics_skipped"], loaded.data, cfg, q, entry)
    by = table.set_index("metric")
    answered = df["nps_score"].notna()
    assert 0 < answered.sum() < len(df) and entry["base"] == len(df)
    assert by.loc["MRR (total)", "value"] == pytest.approx(df["mrr"].sum(), rel=1e-12)
    assert by.loc["MRR (total)", "n"] == df["mrr"].notna().sum() < len(df)
    assert by.loc["MRR per customer", "value"] == pytest.approx(df["mrr"].mean(), rel=1e-12)
    assert by.loc[["MRR (total)", "MRR per customer"], ["ci_low", "ci_high", "n_eff"]].isna().all().all()
    assert by.loc["MRR (total)", "method"].startswith(f"census of the quarter's {len(df):,} customers, "
                                                      f"the {(~answered).sum():,} who did not answer")
    # the respondents' own sum is a different, smaller number: the census is not a no-op
    assert df.loc[answered, "mrr"].sum() < 0.8 * df["mrr"].sum()
    # every other row is the exact table's
    exact = metrics._of_quarter(tables["metrics"], q).set_index("metric")
    other = exact.index.difference(["MRR (total)", "MRR per customer"])
    pd.testing.assert_frame_equal(by.loc[other, exact.columns], exact.loc[other])
    assert "a census, so it has no interval" in metrics_summary({}, table)
    # everyone answered: nothing to add, the rows are the base, and its mean per customer is as much a
    # census as its total (no interval, as with non-respondents)
    full = make_customers(300, 1, random_state=9)
    full.to_csv(tmp_path / "full.csv", index=False)
    lf = load(tmp_path / "full.csv", cfg)
    t_full = PandasEngine(lf.data.drop(columns=["_row", "_source"]), cfg).exact_tables()
    got, _ = metrics.exact_metrics(t_full["metrics"], t_full["metrics_skipped"], lf.data, cfg,
                                   lf.report.response[0]["quarter"], lf.report.response[0])
    g = got.set_index("metric")
    assert lf.report.response[0]["base"] == lf.report.response[0]["respondents"] == len(full)
    assert g.loc["MRR (total)", "value"] == pytest.approx(full["mrr"].sum(), rel=1e-12)
    assert g.loc["MRR per customer", "value"] == pytest.approx(full["mrr"].mean(), rel=1e-12)
    assert g.loc[["MRR (total)", "MRR per customer"], ["ci_low", "ci_high", "n_eff"]].isna().all().all()
    assert g.loc["MRR per customer", "method"] == f"census of the quarter's {len(full):,} customers, every one of whom answered (no sampling error)"
    assert "every one of whom answered the survey: a census of the business's size, so it and MRR per customer " \
           "have no interval. The other averages keep theirs" in metrics_summary({}, got)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.one_of(st.none(), st.floats(0, 1e4)), st.sampled_from(["2026Q1", "2026Q2"])),
                min_size=1, max_size=30))
def test_mrr_census_adds_respondents_and_nonrespondents_whatever_the_split(rows):
    """Any split of customers into respondents and non-respondents, any missing MRR, one or two
    quarters: each quarter's census is the plain sum over all its rows, or the skip stands when
    no respondent has an MRR (the row is never made up)."""
    frame = pd.DataFrame(rows, columns=["answered", "mrr", "quarter"]).astype({"mrr": float})
    resp, non = frame[frame["answered"]], frame[~frame["answered"]]
    response = [{"quarter": q, "base": int((frame["quarter"] == q).sum()),
                 "respondents": int((resp["quarter"] == q).sum())} for q in sorted(frame["quarter"].unique())]
    metrics.add_nonrespondent_totals(response, non[["quarter", "mrr"]])
    cfg = load_config()
    for entry in response:
        q = entry["quarter"]
        r_q, all_q = resp[resp["quarter"] == q], frame[frame["quarter"] == q]
        assert entry["nonrespondents_mrr"]["n"] == non.loc[non["quarter"] == q, "mrr"].notna().sum()
        table, skipped = metrics.cx_metrics(r_q[["mrr"]], cfg, part="exact")
        got = metrics._mrr_census(table, entry) if len(table) else table
        if r_q["mrr"].notna().sum() == 0:
            assert "MRR" in skipped and (len(got) == 0 or "MRR (total)" not in set(got["metric"]))
            continue
        by = got.set_index("metric")
        assert by.loc["MRR (total)", "value"] == pytest.approx(all_q["mrr"].sum(), rel=1e-12, abs=1e-9)
        assert by.loc["MRR (total)", "n"] == all_q["mrr"].notna().sum()
        assert by.loc["MRR per customer", "value"] == pytest.approx(all_q["mrr"].mean(), rel=1e-12, abs=1e-9)


def test_every_money_metric_names_what_it_is_per():
    """A reader cannot compare "1,849" with "507 per quarter" unless every amount says what it is per:
    a quarter, a month, an order, a contract, a customer over a lifetime or over the ROI's horizon.
    Independent check: the expected unit of each money metric, written out here."""
    from cxanalysis.sample import make_customers

    df = make_customers(3000, 1, random_state=5)
    table, _ = metrics.cx_metrics(df, load_config())
    units = dict(zip(table["metric"], table["unit"], strict=True))
    expected = {"Average transaction size": "money per order", "Average spend per customer": "money per quarter",
                "Average contract value": "money per contract, over its term",
                "Support cost per customer": "money per quarter",
                "Retention cost per retained customer": "money per quarter",
                "MRR (total)": "money per month", "MRR per customer": "money per month",
                "CLV (simple)": "money per customer, over a lifetime",
                "CLV (discounted, 3 years)": "money per customer, over 3 years"}
    assert {m: units.get(m) for m in expected} == expected
    assert not [m for m, u in units.items() if u == "money"]


@pytest.mark.parametrize("weighted", [True, False])
def test_retention_cost_per_retained_customer_hand_worked(weighted):
    """(support cost + the quarter's program and team cost) / customers retained, with the fixed
    cost spread over the customers the rows stand for. Program 100,000 + team 60,000 a year: 40,000
    a quarter. Support 10, 20, 30, 40; the third churned.
    Weighted 100, 200, 300, 400 (a base of 1,000 customers): (30,000 + 40,000) / 700 = 100.
    Unweighted (the 4 rows are the customers): (100 + 40,000) / 3 = 13,366.67."""
    cfg = load_config({"roi": {"program_cost_per_year": 100_000, "team_cost_per_year": 60_000}})
    df = pd.DataFrame({"support_cost": [10.0, 20.0, 30.0, 40.0], "churned": [0.0, 0.0, 1.0, 0.0]})
    if weighted:
        df["weight"] = [100.0, 200.0, 300.0, 400.0]
    table, _ = metrics.cx_metrics(df, cfg)
    row = table.set_index("metric").loc["Retention cost per retained customer"]
    assert row["value"] == pytest.approx(100.0 if weighted else 40_100 / 3, rel=1e-12)
    assert row["ci_low"] < row["value"] < row["ci_high"]


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 400), st.integers(0, 400), st.integers(1, 400), st.integers(0, 400))
def test_two_proportion_p_is_statsmodels_pooled_z_test(n_a, x_a, n_b, x_b):
    """On counts, ``two_proportion_p`` is statsmodels' ``proportions_ztest`` (pooled variance);
    NaN exactly where nothing varies (both groups all 0 or all 1), never a p-value outside [0, 1]."""
    from statsmodels.stats.proportion import proportions_ztest

    x_a, x_b = min(x_a, n_a), min(x_b, n_b)
    p = metrics.two_proportion_p(x_a / n_a, n_a, x_b / n_b, n_b)
    if x_a + x_b in (0, n_a + n_b):
        assert np.isnan(p)
        return
    assert 0 <= p <= 1
    assert p == pytest.approx(proportions_ztest([x_a, x_b], [n_a, n_b])[1], rel=1e-9, abs=1e-300)
    assert np.isnan(metrics.two_proportion_p(0.5, 0, 0.5, 10))


def test_crm_figures_are_over_every_customer_when_the_export_holds_the_nonrespondents(tmp_path):
    """The sample (a third answer): churn and the other rates, spend and the other averages and
    CLV per quarter are the plain figures over every row of the CSV (read here with pandas alone),
    with statsmodels' Wilson and t intervals on those customers; MRR is their census without an
    interval; the CX scores stay the respondents' (weighted)."""
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    from cxanalysis.engine.base import base_metrics
    from cxanalysis.io import load
    from cxanalysis.sample import RESPONSE_RATES, make_customers

    make_customers(3000, 2, random_state=8, response_rates=RESPONSE_RATES).to_csv(tmp_path / "x.csv", index=False)
    raw = pd.read_csv(tmp_path / "x.csv")
    cfg = load_config()
    loaded = load(tmp_path / "x.csv", cfg)
    base = base_metrics(loaded.data, loaded.nonrespondents, cfg)
    for entry in loaded.report.response:
        q = entry["quarter"]
        rows, resp = raw[raw["quarter"] == q], loaded.data[loaded.data["quarter"] == q]
        table, _ = metrics.cx_metrics(resp, cfg, part="exact")
        got = metrics.with_base(table, base[base["quarter"] == q].drop(columns="quarter"), entry).set_index("metric")
        n_non = int(rows["nps_score"].isna().sum())
        assert entry["base"] - entry["respondents"] == n_non > 0
        for col, name in (("churned", "Churn rate"), ("renewed", "Renewal rate"), ("trial_converted", "Trial conversion"),
                          ("first_contact_resolved", "First-contact resolution")):
            values = rows[col].dropna()
            assert got.loc[name, "value"] == pytest.approx(values.mean(), rel=1e-12)
            lo, hi = proportion_confint(values.sum(), len(values), alpha=0.05, method="wilson")
            assert (got.loc[name, "ci_low"], got.loc[name, "ci_high"]) == (pytest.approx(lo, rel=1e-9),
                                                                           pytest.approx(hi, rel=1e-9))
            assert got.loc[name, "n"] == len(values)
            assert got.loc[name, "method"] == (
                f"every customer of the quarter ({len(rows):,}, the {n_non:,} who did not answer included); Wilson"
                if len(values) == len(rows) else
                f"every customer of the quarter with a value ({len(values):,} of {len(rows):,}, respondents or not); Wilson")
        spend = rows["spend"]
        t = stats.t.ppf(0.975, len(spend) - 1) * spend.std(ddof=1) / np.sqrt(len(spend))
        assert got.loc["Average spend per customer", ["value", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [spend.mean(), spend.mean() - t, spend.mean() + t], rel=1e-9)
        assert got.loc["Average transaction size", "value"] == pytest.approx(spend.sum() / rows["orders"].sum(), rel=1e-12)
        clv = cfg.roi["gross_margin"] * spend.mean() / rows["churned"].mean()
        assert got.loc["CLV (simple)", "value"] == pytest.approx(clv, rel=1e-12)
        assert got.loc["MRR (total)", "value"] == pytest.approx(rows["mrr"].sum(), rel=1e-12)
        assert np.isnan(got.loc["MRR per customer", "ci_low"]) and got.loc["MRR (total)", "method"].startswith(
            f"census of the quarter's {len(rows):,} customers, the {n_non:,} who did not answer included")
        # the respondents' weighted estimate differs: the replacement is not a no-op
        assert table.set_index("metric").loc["Churn rate", "value"] != pytest.approx(got.loc["Churn rate", "value"],
                                                                                     rel=1e-6)
        for score in ("NPS", "CSAT (mean)", "CES (mean)"):  # the scores stay the respondents'
            assert got.loc[score].equals(table.set_index("metric").loc[score])


def test_with_base_leaves_the_scores_and_a_table_without_base():
    table = pd.DataFrame({"quarter": ["2026Q1", "2026Q2"], "metric": "Churn rate", "value": [0.25, 0.5],
                          "ci_low": 0.0, "ci_high": 1.0, "n": 4, "n_eff": 4.0, "unit": "share", "method": "Wilson"})
    base = pd.DataFrame({"quarter": ["2026Q2"], "metric": "Churn rate", "value": [0.6], "ci_low": 0.2, "ci_high": 0.9,
                         "n": 5, "n_eff": 5.0, "unit": "share", "method": "Wilson"})
    got = metrics.with_base(table, base, [{"quarter": "2026Q1", "base": 4, "respondents": 4},
                                          {"quarter": "2026Q2", "base": 6, "respondents": 4}])
    assert got["value"].tolist() == [0.25, 0.6] and got["n"].tolist() == [4, 5]
    assert got["method"].tolist() == ["Wilson", "every customer of the quarter with a value (5 of 6, respondents or "
                                                "not); Wilson"]
    assert metrics.with_base(table, None).equals(table) and metrics.with_base(table, base.iloc[:0]).equals(table)
