import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from cxanalysis import metrics, trends
from cxanalysis.config import load_config


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
