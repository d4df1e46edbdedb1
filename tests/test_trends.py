import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cxanalysis import metrics, trends
from cxanalysis.config import load_config
from cxanalysis.engine.base import base_metrics


def _panel(n: int, recur: float, rng, shift: float = 0.0) -> pd.DataFrame:
    """Two quarters; a share ``recur`` of customers answers in both, with correlated scores.

    Each customer has a persistent latent satisfaction; the score in each quarter is that
    latent plus independent noise, so a recurring customer's two answers are positively
    correlated (about 0.7 on the latent scale).
    """
    latent = rng.normal(7.5, 1.8, n)
    q1 = np.clip(np.round(latent + rng.normal(0, 1.1, n)), 0, 10)
    q2 = np.clip(np.round(latent + shift + rng.normal(0, 1.1, n)), 0, 10)
    ids = np.array([f"C{i}" for i in range(n)])
    new = rng.random(n) >= recur  # replaced by a new customer in the second quarter
    ids2 = np.where(new, np.char.add("N", np.arange(n).astype(str)), ids)
    q2 = np.where(new, np.clip(np.round(rng.normal(7.5, 1.8, n) + shift + rng.normal(0, 1.1, n)), 0, 10), q2)
    return pd.concat([pd.DataFrame({"customer_id": ids, "quarter": "2026Q1", "nps_score": q1}),
                      pd.DataFrame({"customer_id": ids2, "quarter": "2026Q2", "nps_score": q2})], ignore_index=True)


def test_quarterly_without_recurring_customers_is_the_two_sample_test(sample_frame):
    """The sample's quarters hold different customers: the paired test reduces exactly to the
    independent two-sample z-tests (NPS: Wald trinomial variances; churn: unpooled)."""
    cfg = load_config()
    t = trends.quarterly(sample_frame, cfg)
    q0, q1 = sorted(sample_frame["quarter"].unique())
    a, b = sample_frame[sample_frame["quarter"] == q1], sample_frame[sample_frame["quarter"] == q0]
    assert t.iloc[1]["n_both"] == len(set(a["customer_id"]) & set(b["customer_id"]))
    assert str(t["n_both"].dtype) == "Int64" and pd.isna(t.iloc[0]["n_both"])
    a = a.assign(customer_id="A" + a["customer_id"])  # force disjoint ids for the reference
    d = metrics.nps_difference(a, b).iloc[0]
    t = trends.quarterly(pd.concat([a, b]), cfg)
    assert t["quarter"].tolist() == [q0, q1]
    assert pd.isna(t.iloc[0]["change"])
    assert t.iloc[1]["change"] == pytest.approx(d["difference"], rel=1e-12)
    assert t.iloc[1]["p_value"] == pytest.approx(d["p_value"], rel=1e-9)
    assert t.iloc[1]["nps"] == pytest.approx(metrics.nps(a).iloc[0]["nps"])
    ra, rb = a["churned"].mean(), b["churned"].mean()
    se = np.sqrt(ra * (1 - ra) / len(a) + rb * (1 - rb) / len(b))
    assert t.iloc[1]["churn_p_value"] == pytest.approx(2 * stats.norm.sf(abs(ra - rb) / se), rel=1e-9)


def test_change_equals_cluster_robust_regression():
    """Independent computation: OLS of y on a quarter dummy over the stacked data, CR0
    cluster-robust by customer (statsmodels, no small-sample correction). Same estimate and SE."""
    rng = np.random.default_rng(3)
    df = _panel(400, 0.8, rng, shift=0.3)
    df["y"] = np.where(df["nps_score"] >= 9, 100.0, np.where(df["nps_score"] <= 6, -100.0, 0.0))
    cur, prev = df[df["quarter"] == "2026Q2"], df[df["quarter"] == "2026Q1"]
    d = trends.change(cur, prev, value="y")
    X = sm.add_constant((df["quarter"] == "2026Q2").astype(float).to_numpy())
    groups = pd.factorize(df["customer_id"])[0]
    fit = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    assert d["change"] == pytest.approx(fit.params[1], rel=1e-12)
    assert d["se"] == pytest.approx(fit.bse[1], rel=1e-9)
    assert d["n_both"] == int((~cur["customer_id"].str.startswith("N")).sum())


def test_weighted_change_by_hand():
    """Weighted means and the linearised variance, worked by hand on six rows."""
    prev = pd.DataFrame({"customer_id": ["a", "b", "c"], "y": [100.0, 0.0, -100.0], "w": [1.0, 2.0, 1.0]})
    cur = pd.DataFrame({"customer_id": ["a", "b", "d"], "y": [100.0, 100.0, 0.0], "w": [1.0, 1.0, 2.0]})
    d = trends.change(cur, prev, value="y", weight="w")
    m1, m2 = 0.0, 50.0  # (100 + 0 - 100) / 4 ; (100 + 100 + 0) / 4
    u = {"a": 1 * (100 - m2) / 4 - 1 * (100 - m1) / 4, "b": 1 * (100 - m2) / 4 - 2 * (0 - m1) / 4,
         "c": -1 * (-100 - m1) / 4, "d": 2 * (0 - m2) / 4}
    assert d["change"] == pytest.approx(50.0)
    assert d["se"] == pytest.approx(np.sqrt(sum(v**2 for v in u.values())), rel=1e-12)
    assert d["n_both"] == 2



def test_year_change_is_the_paired_change_from_four_quarters_back(sample_frame):
    """Five quarters: the year's change runs from the quarter four before the report quarter
    (not the earliest loaded) and is exactly :func:`trends.change` of those two quarters; with
    fewer quarters it runs from the earliest, and it is None when that is the previous quarter."""
    cfg = load_config()
    base = sample_frame[sample_frame["quarter"] == sorted(sample_frame["quarter"].unique())[-1]]
    rng = np.random.default_rng(7)
    quarters = ["2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"]
    frames = []
    for i, q in enumerate(quarters):  # NPS climbs by small steps; every customer answers each quarter
        score = np.clip(base["nps_score"].to_numpy() + (rng.random(len(base)) < 0.06 * i), 0, 10)
        frames.append(base.assign(quarter=q, nps_score=score))
    df = pd.concat(frames, ignore_index=True)
    y = lambda f: f.assign(y=np.where(f["nps_score"] >= 9, 100.0, np.where(f["nps_score"] <= 6, -100.0, 0.0)))  # noqa: E731
    d = trends.year_change(df, cfg, current="2026Q2")
    ref = trends.change(y(frames[4]), y(frames[0]), value="y")
    assert (d["from"], d["to"], d["quarters_apart"]) == ("2025Q2", "2026Q2", 4)
    assert (d["change"], d["ci_low"], d["ci_high"]) == pytest.approx((ref["change"], ref["ci_low"], ref["ci_high"]), rel=1e-12)
    assert d["n_both"] == len(base) and d["ci_low"] > 0  # a climb no single step shows is detected over the year
    steps = trends.quarterly(df, cfg)
    assert d["change"] == pytest.approx(steps["change"].iloc[1:].sum(), rel=1e-12)  # the steps add up to it
    split = trends.year_change(df, cfg, current="2026Q2", decompose=True)["decomposition"]
    ref = trends.nps_change_decomposition(df, cfg, current="2026Q2", previous="2025Q2")
    assert (split["from"], split["to"]) == ("2025Q2", "2026Q2") and split["change"] == pytest.approx(d["change"], rel=1e-12)
    assert [r["mix"] for r in split["by"]] == pytest.approx([r["mix"] for r in ref["by"]], rel=1e-12)
    d = trends.year_change(df[df["quarter"] <= "2026Q1"], cfg)
    assert (d["from"], d["to"], d["quarters_apart"]) == ("2025Q2", "2026Q1", 3)
    assert trends.year_change(df[df["quarter"] <= "2025Q3"], cfg) is None
    assert trends.year_change(df[df["quarter"] == "2025Q3"], cfg) is None


def test_year_change_on_the_exact_route_takes_the_engines_nps():
    """With the engine's exact NPS per quarter, the year's change is the difference of those
    figures and keeps the paired standard error of the rows in memory."""
    cfg = load_config()
    rng = np.random.default_rng(11)
    df = pd.concat([_panel(300, 0.8, rng), _panel(300, 0.8, rng).replace({"2026Q1": "2025Q4", "2026Q2": "2026Q3"})])
    df = df[df["quarter"].isin(["2025Q4", "2026Q1", "2026Q3"])]
    exact = pd.DataFrame({"quarter": ["2025Q4", "2026Q1", "2026Q3"], "nps": [10.0, 12.0, 21.0]})
    d, plain = trends.year_change(df, cfg, exact=exact), trends.year_change(df, cfg)
    assert (d["from"], d["to"], d["quarters_apart"]) == ("2025Q4", "2026Q3", 3)
    half = (plain["ci_high"] - plain["ci_low"]) / 2
    assert d["change"] == 11.0
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((11.0 - half, 11.0 + half), rel=1e-12)

@pytest.mark.slow
def test_paired_change_keeps_its_size_with_recurring_customers():
    """Size by simulation: no true change, 90% of customers recur with correlated answers.

    The paired test rejects at the nominal 5% (within a 99% binomial band over 600 exports),
    where the independent-samples test is conservative (rejects far less than 5%).
    """
    rng = np.random.default_rng(20261123)
    cfg = load_config()
    reps, paired, independent = 600, 0, 0
    for _ in range(reps):
        df = _panel(300, 0.9, rng)
        t = trends.quarterly(df, cfg).iloc[1]
        paired += t["p_value"] < 0.05
        a, b = df[df["quarter"] == "2026Q2"], df[df["quarter"] == "2026Q1"]
        independent += metrics.nps_difference(a, b).iloc[0]["p_value"] < 0.05
    half = 2.576 * np.sqrt(0.05 * 0.95 / reps)
    assert abs(paired / reps - 0.05) < half, paired / reps
    assert independent / reps < 0.05 - half, independent / reps


# --------------------------------------------------------------------------- shift-share
TIER_P = {"Gold": (0.10, 0.30, 0.60), "Silver": (0.25, 0.30, 0.45), "Bronze": (0.40, 0.30, 0.30)}  # det, pas, pro
TIER_NPS = {t: 100 * (p[2] - p[0]) for t, p in TIER_P.items()}  # Gold 50, Silver 20, Bronze -10


def _tiers(rng, n: int, shares: dict[str, float], quarter: str, lift: float = 0.0, prefix: str = "") -> pd.DataFrame:
    tier = rng.choice(list(shares), n, p=list(shares.values()))
    p = np.array([TIER_P[t] for t in tier]) + np.array([-lift, 0.0, lift])
    u = rng.random(n)
    rows = np.where(u < p[:, 0], 3, np.where(u < p[:, 0] + p[:, 1], 8, 10))
    return pd.DataFrame({"customer_id": [f"{prefix}{quarter}-{i}" for i in range(n)], "quarter": quarter,
                         "nps_score": rows, "plan": tier})


def test_shift_share_parts_add_up_and_match_a_hand_computation():
    """Four customers a quarter; shares and means by hand. Previous: Gold {10, 3}, Bronze {8, 3};
    current: Gold {10, 10, 3}, Bronze {3}. Scores -> y: 10 -> 100, 8 -> 0, 3 -> -100.
    w0 = (.5, .5), N0 = (0, -50); w1 = (.75, .25), N1 = (33.3, -100).
    mix = (.75-.5)*0 + (.25-.5)*(-50) = 12.5; within = .75*33.3 + .25*(-50) = 12.5; change = 25."""
    prev = pd.DataFrame({"customer_id": list("abcd"), "nps_score": [10, 3, 8, 3], "plan": ["Gold", "Gold", "Bronze", "Bronze"]})
    cur = pd.DataFrame({"customer_id": list("efgh"), "nps_score": [10, 10, 3, 3], "plan": ["Gold", "Gold", "Gold", "Bronze"]})
    for f in (prev, cur):
        f["y"] = np.select([f["nps_score"] >= 9, f["nps_score"] <= 6], [100.0, -100.0], 0.0)
    r = trends.shift_share(cur, prev, value="y", segment="plan")
    assert r["mix"] == pytest.approx(12.5, abs=1e-12)
    assert r["within"] == pytest.approx(100 * 0.75 / 3 + 0.25 * -50, abs=1e-12)
    assert r["mix"] + r["within"] == pytest.approx(r["change"], abs=1e-12)
    d = trends.change(cur, prev, value="y")
    assert r["change"] == pytest.approx(d["change"], abs=1e-12)
    assert r["change_se"] == pytest.approx(d["se"], rel=1e-10)  # the parts' gradients add up to the change's


def test_shift_share_new_and_vanished_segments_still_add_up():
    rng = np.random.default_rng(1)
    prev = _tiers(rng, 300, {"Gold": 0.5, "Bronze": 0.5}, "2026Q1")
    cur = _tiers(rng, 300, {"Gold": 0.4, "Silver": 0.6}, "2026Q2")
    for f in (prev, cur):
        f["y"] = np.select([f["nps_score"] >= 9, f["nps_score"] <= 6], [100.0, -100.0], 0.0)
    r = trends.shift_share(cur, prev, value="y", segment="plan")
    assert r["mix"] + r["within"] == pytest.approx(r["change"], abs=1e-10)
    assert all(np.isfinite([r["mix_se"], r["within_se"]])) and r["mix_ci_low"] <= r["mix"] <= r["mix_ci_high"]


@pytest.mark.slow
def test_shift_share_se_matches_a_customer_bootstrap():
    """Independent computation: 600 bootstrap resamples of customers (both quarters' answers of a
    recurring customer resampled together). Delta-method SEs within 10% of the bootstrap's."""
    rng = np.random.default_rng(7)
    prev = _tiers(rng, 1500, {"Gold": 0.2, "Silver": 0.3, "Bronze": 0.5}, "2026Q1")
    cur = _tiers(rng, 1500, {"Gold": 0.35, "Silver": 0.3, "Bronze": 0.35}, "2026Q2", lift=0.03)
    cur.loc[:899, "customer_id"] = prev.loc[:899, "customer_id"].to_numpy()  # 900 recurring customers
    cur.loc[:899, "plan"] = prev.loc[:899, "plan"].to_numpy()
    cur.loc[:899, "nps_score"] = np.where(rng.random(900) < 0.7, prev.loc[:899, "nps_score"], cur.loc[:899, "nps_score"])
    for f in (prev, cur):
        f["y"] = np.select([f["nps_score"] >= 9, f["nps_score"] <= 6], [100.0, -100.0], 0.0)
    r = trends.shift_share(cur, prev, value="y", segment="plan")
    ids = np.union1d(prev["customer_id"], cur["customer_id"])
    pi, ci = prev.set_index("customer_id"), cur.set_index("customer_id")
    boot = []
    for _ in range(600):
        pick = rng.choice(ids, len(ids))
        p_ = pi.reindex(pick).dropna(subset=["y"]).reset_index()
        c_ = ci.reindex(pick).dropna(subset=["y"]).reset_index()
        b = trends.shift_share(c_.assign(customer_id=np.arange(len(c_)).astype(str)),
                               p_.assign(customer_id=np.arange(len(p_)).astype(str)), value="y", segment="plan",
                               id_col="none")  # rows are already resampled as clusters
        boot.append((b["mix"], b["within"]))
    sd = np.std(boot, axis=0, ddof=1)
    assert r["mix_se"] == pytest.approx(sd[0], rel=0.10)
    assert r["within_se"] == pytest.approx(sd[1], rel=0.10)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["mix_only", "within_only"])
def test_decomposition_recovers_the_planted_cause(scenario):
    """Coverage over 300 exports of two quarters of 2,000 customers.

    ``mix_only``: identical within-tier score distributions, Gold's share 0.2 -> 0.4 and Bronze's
    0.5 -> 0.3: true mix = 0.2 * 50 - 0.2 * (-10) = 12 points, true within = 0.
    ``within_only``: same shares, every tier's promoters +5 points and detractors -5: true
    within = 10, true mix = 0. The 95% intervals cover the truths 92-98% of the time."""
    rng = np.random.default_rng(11)
    cfg = load_config({"segments": {"dimensions": ["plan"]}})
    s0 = {"Gold": 0.2, "Silver": 0.3, "Bronze": 0.5}
    s1, lift = ({"Gold": 0.4, "Silver": 0.3, "Bronze": 0.3}, 0.0) if scenario == "mix_only" else (s0, 0.05)
    truth = {"mix": sum((s1[t] - s0[t]) * TIER_NPS[t] for t in s0), "within": 100 * 2 * lift}
    cover = {"mix": 0, "within": 0}
    reps = 300
    for _ in range(reps):
        df = pd.concat([_tiers(rng, 2000, s0, "2026Q1"), _tiers(rng, 2000, s1, "2026Q2", lift)])
        out = trends.nps_change_decomposition(df, cfg, current="2026Q2", previous="2026Q1")
        row = out["by"][0]
        assert row["dimension"] == "plan"
        assert row["mix"] + row["within"] == pytest.approx(out["change"], abs=1e-9)
        for part in cover:
            cover[part] += row[f"{part}_ci_low"] <= truth[part] <= row[f"{part}_ci_high"]
    for part, c in cover.items():
        assert 0.92 <= c / reps <= 0.98, (part, c / reps)


def test_churn_trend_is_over_every_customer_when_the_base_is_given():
    """Respondents and non-respondents, no customer in both quarters: each quarter's churn is the
    plain rate over all its customers, and the change's test is the unpooled two-sample z-test on
    them, worked by hand (not the respondents' weighted test)."""
    rng = np.random.default_rng(12)
    n = 4000
    base = pd.DataFrame({"customer_id": np.arange(n), "quarter": np.where(np.arange(n) < n // 2, "2026Q1", "2026Q2"),
                         "churned": (rng.random(n) < np.where(np.arange(n) < n // 2, 0.10, 0.13)).astype(float),
                         "nps_score": rng.integers(0, 11, n).astype(float)})
    answered = rng.random(n) < 0.3 + 0.4 * base["churned"]  # leavers answer more: respondents overstate churn
    resp = base[answered].reset_index(drop=True)
    non = base[~answered].drop(columns="nps_score").reset_index(drop=True)
    cfg = load_config()
    table = pd.concat([metrics.cx_metrics(resp[resp["quarter"] == q], cfg, part="exact")[0].assign(quarter=q)
                       for q in ("2026Q1", "2026Q2")], ignore_index=True)
    got = trends.quarterly(resp, cfg, metrics=metrics.with_base(table, base_metrics(resp, non, cfg)),
                           base=pd.concat([resp.drop(columns="nps_score"), non], ignore_index=True)).set_index("quarter")
    p = base.groupby("quarter")["churned"].mean()
    n_q = base.groupby("quarter")["churned"].size()
    assert got["churn_rate"].tolist() == pytest.approx(p.tolist(), rel=1e-12)
    se = np.sqrt(sum(p[q] * (1 - p[q]) / n_q[q] for q in p.index))
    z = (p["2026Q2"] - p["2026Q1"]) / se
    assert got.loc["2026Q2", "churn_change"] == pytest.approx(p["2026Q2"] - p["2026Q1"], rel=1e-12)
    assert got.loc["2026Q2", "churn_p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    # without the base, the respondents' own rates: higher, since leavers answered more
    own = trends.quarterly(resp, cfg).set_index("quarter")
    assert (own["churn_rate"] > got["churn_rate"] + 0.05).all()
