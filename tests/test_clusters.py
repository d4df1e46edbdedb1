import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score

from cxanalysis.clusters import CustomerClusters, adjusted_rand_index, silhouette
from cxanalysis.config import load_config
from cxanalysis.io import load
from cxanalysis.sample import make_clustered

from .conftest import real_export

COLS = ["spend", "orders", "visits_per_month", "tenure_months", "support_tickets"]


@pytest.mark.parametrize("k", [3, 4, 5])
def test_recovers_planted_clusters(k):
    """make_clustered plants k segments; the silhouette picks k and the labels agree (ARI >= 0.9)."""
    d = make_clustered(3000, k, random_state=0)
    c = CustomerClusters(columns=COLS, n_resamples=5).fit(d)
    assert c.k_ == k
    assert adjusted_rand_score(d["_cluster"], c.labels_) >= 0.9
    assert c.stability_["ari_mean"] >= 0.9
    assert list(np.bincount(c.labels_)) == sorted(np.bincount(c.labels_), reverse=True)  # largest first


def test_gmm_chooses_by_bic_and_profiles_name_the_difference():
    d = make_clustered(2000, 3, random_state=1)
    c = CustomerClusters(columns=COLS, method="gmm", k_range=(2, 6), n_resamples=3).fit(d)
    assert c.k_ == int(c.selection_.loc[c.selection_["bic"].idxmin(), "k"]) == 3
    prof = c.profile_
    assert prof["n"].sum() == len(d) and prof["share"].sum() == pytest.approx(1)
    for r in prof.itertuples():  # the profile's means are the cluster's own means
        assert r.spend == pytest.approx(d.loc[c.labels_ == r.cluster, "spend"].mean())
    assert all(isinstance(n, str) and n for n in prof["name"])
    assert prof["name"].is_unique and all(n[0].isupper() for n in prof["name"])
    proj = c.projection(500)
    assert set(proj.columns) == {"pc1", "pc2", "cluster", "name"}
    named = dict(zip(prof["cluster"].astype(str), prof["name"], strict=True))
    assert (proj["name"] == proj["cluster"].map(named)).all()  # the chart's names are the table's names
    res = c.to_results()
    assert [r["name"] for r in res["named"]] == res["names"] and [r["cluster"] for r in res["named"]] == [0, 1, 2]


def test_a_split_on_returning_anything_is_named_so():
    """Two planted groups that differ only in whether they returned anything (0 against 1-2
    returns each): the names say "no returns" and "returned items", not "few" and "many"."""
    rng = np.random.default_rng(4)
    n = 600
    d = pd.DataFrame({"spend": rng.normal(500, 40, n), "orders": rng.integers(3, 6, n),
                      "returns": np.where(np.arange(n) < 400, 0, rng.integers(1, 3, n))})
    c = CustomerClusters(columns=["spend", "orders", "returns"], k=2, n_resamples=2, random_state=0).fit(d)
    by = c.profile_.set_index("cluster")
    assert (c.labels_ == c.labels_[0])[:400].all() and adjusted_rand_score(np.arange(n) < 400, c.labels_) == 1.0
    assert by.loc[0, "name"].startswith("No returns") and by.loc[1, "name"].startswith("Returned items")
    # counts that do not split on zero keep their high / low words
    d2 = d.assign(returns=np.where(np.arange(n) < 400, 1, rng.integers(4, 6, n)))
    names = CustomerClusters(columns=["spend", "orders", "returns"], k=2, n_resamples=2, random_state=0).fit(d2).profile_["name"]
    assert sorted(names) == ["Few returns", "Many returns"]

def test_a_cluster_is_named_only_after_columns_that_clearly_set_it_apart():
    """Two planted groups apart on returns (0 against 1-2) whose orders differ by a small shift
    (under 0.5 SD of the pooled column, computed here by hand) and whose spend
    differs by about 1.5 SD: the names carry returns and spend, never "frequent buyers"."""
    rng = np.random.default_rng(5)
    n = 900
    group = np.arange(n) >= 600
    d = pd.DataFrame({"spend": rng.normal(500, 40, n) + np.where(group, 130, 0),
                      "orders": np.round(rng.normal(8, 2, n) + np.where(group, 1.2, 0)).clip(0),
                      "returns": np.where(group, rng.integers(1, 3, n), 0)})
    c = CustomerClusters(columns=["spend", "orders", "returns"], k=2, n_resamples=2, random_state=0).fit(d)
    assert adjusted_rand_score(group, c.labels_) > 0.95  # the planted groups, to a customer or two
    gaps = [abs(part["orders"].mean() - d["orders"].mean()) / d["orders"].std(ddof=0)  # in SDs, by hand
            for part in (d[~group], d[group])]
    assert max(gaps) < 0.5 and max(gaps) > 0.2  # a real but small difference
    names = " ".join(c.profile_["name"]).lower()
    assert "buyers" not in names and "orders" not in names
    assert "returned items" in names and "high spend" in names
    assert c.zscores_["spend"].abs().max() > 0.5
    assert 0.3 < c.zscores_["orders"].abs().max() < 0.5  # a gap the former 0.3 rule would have named


def test_missing_columns_are_skipped_and_fixed_k_is_honoured():
    d = make_clustered(800, 2, random_state=2).drop(columns=["orders"])
    c = CustomerClusters(columns=COLS, k=3, n_resamples=2).fit(d)
    assert c.k_ == 3 and c.skipped_ == {"orders": "no orders column"}
    c = CustomerClusters(columns=["spend", "absent"], n_resamples=1).fit(d)
    assert c.skip_reason_.startswith("clustering needs at least 2 usable behavioural columns")
    assert c.to_results() == {"skipped": c.skip_reason_}


def test_below_the_minimum_size_clustering_skips_with_the_reason():
    d = make_clustered(800, 2, random_state=2)
    c = CustomerClusters(columns=COLS, n_resamples=1).fit(d.head(49))
    assert c.skip_reason_ == ("too few customers for clustering: 49 with every behavioural column filled "
                              "(spend, orders, visits_per_month, tenure_months, support_tickets); at least 50 needed")
    gappy = d.head(200).copy()
    gappy.loc[gappy.index[60:], "spend"] = np.nan  # 60 complete rows: enough
    c = CustomerClusters(columns=COLS, n_resamples=1).fit(gappy)
    assert c.skip_reason_ is None and c.k_ <= 6  # at most one cluster per 10 complete customers
    const = d.head(200).assign(orders=3, visits_per_month=1.0, tenure_months=np.nan, support_tickets=0)
    c = CustomerClusters(columns=COLS, n_resamples=1).fit(const)
    assert "found 1 (spend)" in c.skip_reason_ and c.skipped_["orders"] == "orders is constant (one value)"


def test_a_cx_score_among_the_columns_is_kept_with_a_circularity_warning(config):
    assert not {"nps_score", "csat", "ces"} & set(config.clusters["columns"])
    d = make_clustered(400, 2, random_state=3)
    with pytest.warns(UserWarning, match="partly circular"):
        c = CustomerClusters(columns=[*COLS, "nps_score"], n_resamples=1).fit(d)
    assert "nps_score" in c.used_ and "each cluster's score is partly circular" in c.warnings_[0]
    assert c.to_results()["warnings"] == c.warnings_
    assert c.circular and c.to_results()["circular"] is True
    assert not CustomerClusters(columns=COLS, n_resamples=1).fit(d).circular


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_exports_cluster(name):
    data, cfg = real_export(name)
    config = load_config(cfg)
    df = load(data, config).data
    c = CustomerClusters(columns=config.clusters["columns"], k_range=(2, 6), n_resamples=3, score="csat",
                         promoter_min=5, detractor_max=3).fit(df)
    assert 2 <= c.k_ <= 6 and len(c.labels_) == len(df)
    assert c.profile_["nps"].between(-100, 100).all()


# --- messy exports: a result or a skip reason, never an exception (issue 12) ------------------

import warnings  # noqa: E402

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .messy import interval_contains, messy_exports  # noqa: E402


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_exports(max_rows=250))
def test_clustering_messy_exports_gives_a_result_or_a_skip(case):
    df, cfg, score = case
    cats = cfg.categories
    for method in ("kmeans", "gmm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = CustomerClusters(columns=[*cfg.clusters["columns"], "plan"], k_range=(2, 4), method=method, n_resamples=1,
                                 score=score, promoter_min=cats["promoter_min"],
                                 detractor_max=cats["detractor_max"]).fit(df)
        if c.skip_reason_ is not None:
            assert isinstance(c.skip_reason_, str) and c.skip_reason_
            assert c.to_results() == {"skipped": c.skip_reason_}
            continue
        assert len(c.labels_) == len(df) and c.profile_["n"].sum() == len(df)
        if "nps" in c.profile_:
            p = c.profile_
            assert interval_contains(p["nps"], p["nps_ci_low"], p["nps_ci_high"])


# --- Gaussian mixtures on counts, stability, weak structure (issue 14) -----------------------

from math import comb  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from cxanalysis import clusters as clusters_mod  # noqa: E402
from cxanalysis import plots, summary  # noqa: E402
from cxanalysis.sample import make_customers  # noqa: E402

COUNT_COLS = ["spend", "orders", "returns", "visits_per_month", "tenure_months", "support_tickets"]


def _with_counts(k, seed, n=3000):
    """make_clustered's planted segments with orders and tickets as integer counts and a
    zero-heavy returns count (Binomial(orders, 0.03): about 80% zeros), as in real exports."""
    d = make_clustered(n, k, random_state=seed)
    rng = np.random.default_rng(seed)
    d["orders"] = d["orders"].round().astype(int)
    d["support_tickets"] = d["support_tickets"].round().astype(int)
    d["returns"] = rng.binomial(d["orders"], 0.03)
    return d


@pytest.mark.parametrize("k,seed", [(3, 1), (4, 2)])
def test_gmm_on_count_and_zero_heavy_columns_finds_the_planted_k(k, seed):
    """Regression: on counts the mixture used to collapse onto single values (BIC falling to the top
    of k_range, a cluster of 15 customers). With dequantised counts it picks the planted k, below
    the top of the range, no cluster under 1% of customers, and recovers the segments."""
    d = _with_counts(k, seed)
    assert (d["returns"] == 0).mean() > 0.7
    c = CustomerClusters(columns=COUNT_COLS, method="gmm", k_range=(2, 10), n_resamples=10).fit(d)
    assert c.k_ == k < 10
    assert np.bincount(c.labels_).min() >= 0.01 * len(d)
    assert adjusted_rand_score(d["_cluster"], c.labels_) >= 0.9
    assert {"orders", "returns", "support_tickets"} <= set(c.transform_)
    assert list(c.selection_.columns) == ["k", "bic"]


def test_gmm_on_planted_structure_stays_below_the_top_of_the_range():
    d = make_clustered(3000, 4, random_state=0)
    c = CustomerClusters(columns=COLS, method="gmm", k_range=(2, 10), n_resamples=10).fit(d)
    assert c.k_ < 10 and np.bincount(c.labels_).min() >= 0.01 * len(d)


def test_dequantised_counts_keep_their_order():
    """Each count y becomes log1p(y + u), u in [0, 1): customers with more orders lie strictly
    above those with fewer (the intervals [log1p(y), log1p(y + 1)) do not overlap), and no two
    customers share a value (no lattice left to collapse onto)."""
    d = _with_counts(3, 1, n=600)
    c = CustomerClusters(columns=COUNT_COLS, method="gmm", k=3, n_resamples=2).fit(d)
    x = c.X_[:, c.features_.index("orders")]
    by = pd.Series(x).groupby(d["orders"].to_numpy())
    assert (by.min().iloc[1:].to_numpy() > by.max().iloc[:-1].to_numpy()).all()
    assert len(np.unique(x)) == len(x)
    km = CustomerClusters(columns=COUNT_COLS, k=3, n_resamples=2).fit(d)
    assert "orders" not in km.transform_  # k-means uses the counts as they are


def test_bic_matches_a_hand_computation_from_the_fitted_mixture():
    """Independent check: refit sklearn's GaussianMixture with the documented settings (full
    covariances, reg_covar 1e-3, n_init 2, the same seed) on the same rows of X_, then compute
    BIC = -2 log L + p log n by hand, log L from scipy's multivariate normal densities and
    p = (k - 1) + k d + k d (d + 1) / 2 free parameters."""
    d = _with_counts(3, 1, n=800)
    c = CustomerClusters(columns=COUNT_COLS, method="gmm", k_range=(2, 4), n_resamples=2, random_state=5).fit(d)
    X = c.X_[c.selection_rows_]
    n, dim = X.shape
    for r in c.selection_.itertuples():
        gm = GaussianMixture(r.k, covariance_type="full", reg_covar=1e-3, n_init=2, random_state=5).fit(X)
        dens = sum(w * multivariate_normal(mu, cov).pdf(X) for w, mu, cov in zip(gm.weights_, gm.means_, gm.covariances_, strict=True))
        params = (r.k - 1) + r.k * dim + r.k * dim * (dim + 1) / 2
        assert r.bic == pytest.approx(-2 * np.log(dens).sum() + params * np.log(n), rel=1e-8)
    assert c.k_ == int(c.selection_.loc[c.selection_["bic"].idxmin(), "k"])


def _ari_by_hand(a, b):
    """Hubert & Arabie (1985): (Σ C(n_ij,2) - E) / (max - E), E = Σ C(a_i,2) Σ C(b_j,2) / C(n,2)."""
    t = pd.crosstab(a, b).to_numpy()
    s_ij = sum(comb(int(v), 2) for v in t.ravel())
    s_a = sum(comb(int(v), 2) for v in t.sum(axis=1))
    s_b = sum(comb(int(v), 2) for v in t.sum(axis=0))
    e = s_a * s_b / comb(int(t.sum()), 2)
    return (s_ij - e) / ((s_a + s_b) / 2 - e)


def test_stability_uses_the_configured_resamples_and_percentile_range():
    """Every resample's ARI equals the hand-computed index of its labels against the final
    clusters; the 95% range is the 2.5th and 97.5th percentiles of those ARIs; default 50."""
    assert CustomerClusters(columns=COLS).n_resamples == 50
    d = make_customers(1500, 1, random_state=2)
    c = CustomerClusters(columns=COLS, k=3, n_resamples=60).fit(d)
    assert len(c.stability_aris_) == 60 == c.stability_["n_resamples"] == c.stability_labels_.shape[0]
    ref = c.labels_[c.stability_rows_]
    for b in range(0, 60, 7):
        assert c.stability_aris_[b] == pytest.approx(_ari_by_hand(ref, c.stability_labels_[b]), abs=1e-12)
    assert c.stability_["ari_mean"] == pytest.approx(np.mean(c.stability_aris_))
    assert c.stability_["ari_low"] == pytest.approx(np.percentile(c.stability_aris_, 2.5))
    assert c.stability_["ari_high"] == pytest.approx(np.percentile(c.stability_aris_, 97.5))


def test_adjusted_rand_index_is_scikit_learns_exactly():
    """Same value as sklearn's adjusted_rand_score (to the last bit) on random labelings with
    unused label values, on identical and on relabelled partitions, and on one cluster each."""
    rng = np.random.default_rng(5)
    for n, ka, kb in [(3000, 2, 2), (3000, 6, 9), (500, 10, 3), (40, 4, 4)]:
        a, b = rng.integers(0, ka, size=n), rng.integers(0, kb, size=n)
        b[: n // 2] = a[: n // 2]  # partly agreeing
        assert adjusted_rand_index(a, b) == adjusted_rand_score(a, b)
        assert adjusted_rand_index(a * 3, b + 2) == adjusted_rand_score(a * 3, b + 2)
        assert adjusted_rand_index(a, a) == 1.0 == adjusted_rand_index(a, (a + 1) % ka)
    assert adjusted_rand_index(np.zeros(50, int), np.zeros(50, int)) == adjusted_rand_score(np.zeros(50), np.zeros(50))



@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_silhouette_is_scikit_learns(data):
    """The same mean silhouette as sklearn's silhouette_score on a precomputed matrix, for any
    labelling with 2 to n - 1 clusters: unused and non-contiguous label values, one-member
    clusters (silhouette 0), tied points (distance 0 within and across clusters)."""
    n = data.draw(st.integers(3, 60), label="n")
    k = data.draw(st.integers(2, n - 1), label="k")
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n), label="labels")) * 7 + 3
    assume(1 < len(np.unique(labels)) < n)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.normal(size=(n, 3))
    if data.draw(st.booleans(), label="ties"):
        x = np.round(x)  # many points on top of each other
    dist = pairwise_distances(x)
    assert silhouette(dist, labels) == pytest.approx(silhouette_score(dist, labels, metric="precomputed"),
                                                     rel=1e-12, abs=1e-12)

def test_weak_structure_thresholds_and_message():
    assert clusters_mod.weak_structure_message(0.18, 0.52) == (
        "The clusters are weakly separated (silhouette 0.18; agreement of refits on resamples, adjusted Rand "
        "index, 0.52): treat them as a convenient summary, "
        "not as distinct kinds of customers.")
    assert clusters_mod.weak_structure_message(0.24, 0.9) is not None  # silhouette alone
    assert clusters_mod.weak_structure_message(0.5, 0.59) is not None  # stability alone
    assert clusters_mod.weak_structure_message(0.25, 0.6) is None
    assert clusters_mod.weak_structure_message(float("nan"), float("nan")) is None


def test_unstructured_customers_get_the_weak_structure_warning_and_planted_ones_do_not():
    """The sample customers have no planted clusters: silhouette about 0.2, so the warning is set,
    listed among the warnings and saved for the summary; planted segments get none."""
    d = make_customers(3000, 1, random_state=0)
    c = CustomerClusters(columns=COUNT_COLS, n_resamples=20).fit(d)
    assert c.silhouette_ < 0.25 and c.weak_structure_ is not None
    assert c.weak_structure_.startswith("The clusters are weakly separated (silhouette ")
    res = c.to_results()
    assert res["weak_structure"] == c.weak_structure_ and c.weak_structure_ in res["warnings"]
    html = summary.clusters_at_risk_html(c.profile_.to_dict("records"), 99.0, weak=res["weak_structure"])
    assert "weakly separated" in html
    good = CustomerClusters(columns=COLS, n_resamples=10).fit(make_clustered(2000, 3, random_state=1))
    assert good.weak_structure_ is None and good.to_results()["weak_structure"] is None
    assert "weakly separated" not in summary.clusters_at_risk_html(good.profile_.to_dict("records"), 99.0)


@pytest.mark.parametrize("method,criterion", [("kmeans", "silhouette"), ("gmm", "BIC")])
def test_each_selection_chart_shows_only_its_own_criterion(method, criterion):
    d = make_clustered(600, 3, random_state=4)
    c = CustomerClusters(columns=COLS, method=method, k_range=(2, 5), n_resamples=2).fit(d)
    fig = plots.k_selection(c.selection_, chosen=c.k_)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert criterion in ax.get_ylabel()
    assert ("BIC" if method == "kmeans" else "silhouette") not in ax.get_ylabel() + ax.get_title()
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), c.selection_["silhouette" if method == "kmeans" else "bic"])
    plt.close(fig)


def test_config_n_resamples_default_and_validation(tmp_path):
    from cxanalysis.config import ConfigError

    assert load_config(None).clusters["n_resamples"] == 50
    p = tmp_path / "cx.yaml"
    p.write_text("clusters:\n  n_resamples: 5\n")
    with pytest.raises(ConfigError, match="clusters.n_resamples"):
        load_config(p)


def test_bic_falling_to_the_top_of_the_range_is_said():
    """One skewed, correlated cloud (lognormal and gamma) with no groups: the mixture approximates
    it piece by piece, BIC is lowest at the top of k_range, and a warning says so."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"a": rng.lognormal(0, 1, 3000) + rng.normal(0, 0.1, 3000),
                      "b": rng.gamma(0.7, 1, 3000) + rng.normal(0, 0.1, 3000)})
    d["b"] += 0.5 * d["a"]
    c = CustomerClusters(columns=["a", "b"], method="gmm", k_range=(2, 4), n_resamples=5).fit(d)
    assert c.k_ == 4 and any(w.startswith("BIC still falls at k = 4, the top of the range") for w in c.warnings_)
    planted = CustomerClusters(columns=COLS, method="gmm", k_range=(2, 6), n_resamples=2).fit(make_clustered(1000, 3, random_state=1))
    assert not any("BIC still falls" in w for w in planted.warnings_)


def test_silhouette_matches_a_hand_computation():
    """Kaufman & Rousseeuw's s(i) = (b - a) / max(a, b) from scipy's pairwise distances, a the mean
    distance to the own cluster (others only), b the smallest mean distance to another cluster;
    with fewer customers than the 3,000 sampled, the silhouette is averaged over all of them."""
    from scipy.spatial.distance import cdist

    d = make_clustered(400, 3, random_state=8)
    c = CustomerClusters(columns=COLS, n_resamples=2).fit(d)
    D = cdist(c.X_, c.X_)
    lab = c.labels_
    s = []
    for i in range(len(lab)):
        own = lab == lab[i]
        a = D[i, own].sum() / (own.sum() - 1)
        b = min(D[i, lab == j].mean() for j in set(lab) if j != lab[i])
        s.append((b - a) / max(a, b))
    assert c.silhouette_ == pytest.approx(np.mean(s), rel=1e-10)


def test_profile_weights_follow_the_base():
    """With a ``weight`` column the cluster profile is weighted: each cluster's NPS equals
    metrics.nps on that cluster's rows with the same weights (interval on Kish's n_eff), spend and
    churn are weighted means, and passives count the base (sum of weights)."""
    from cxanalysis import clusters as cl
    from cxanalysis.config import load_config
    from cxanalysis.metrics import nps

    df = make_customers(3000, 1, random_state=11)
    rng = np.random.default_rng(0)
    df["weight"] = np.where(df["plan"] == "Basic", 4.0, 1.0) * rng.uniform(0.5, 1.5, len(df))
    fit = cl.from_config(load_config()).fit(df)
    names = fit.row_names()
    for row in fit.profile_.itertuples():
        part = df[names == row.name]
        ref = nps(part, weight="weight").iloc[0]
        assert (row.nps, row.nps_ci_low, row.nps_ci_high) == pytest.approx(
            (ref["nps"], ref["ci_low"], ref["ci_high"]), rel=1e-9)
        assert row.spend_mean == pytest.approx(np.average(part["spend"], weights=part["weight"]), rel=1e-12)
        assert row.churn_rate == pytest.approx(np.average(part["churned"], weights=part["weight"]), rel=1e-12)
        is_passive = part["nps_score"].between(7, 8)
        assert row.passives == round(part.loc[is_passive, "weight"].sum())
        assert row.n == len(part)
    assert fit.profile_["share"].sum() == pytest.approx(1.0)


def _jaccard_by_sets(labels, refits):
    """Hennig's clusterwise Jaccard written out with Python sets, one cluster and refit at a time."""
    out = []
    for c in sorted(set(labels)):
        a = {i for i, v in enumerate(labels) if v == c}
        best = [max(len(a & b) / len(a | b) for b in ({i for i, v in enumerate(r) if v == c2} for c2 in set(r)))
                for r in refits]
        out.append(sum(best) / len(best))
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.integers(0, k - 1), min_size=k, max_size=40).filter(lambda x: set(x) == set(range(k))),
    st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))))
def test_cluster_jaccard_equals_the_set_computation(case):
    k, labels, n_refits, kb, seed = case
    rng = np.random.default_rng(seed)
    refits = rng.integers(0, kb, size=(n_refits, len(labels)))
    got = clusters_mod.cluster_jaccard(np.array(labels), refits, k)
    assert got == pytest.approx(_jaccard_by_sets(labels, refits.tolist()), abs=1e-12)


def test_cluster_jaccard_marks_an_empty_cluster_and_no_refits():
    assert np.isnan(clusters_mod.cluster_jaccard(np.array([0, 0, 2]), np.array([[0, 0, 1]]), 3)[1])
    assert np.isnan(clusters_mod.cluster_jaccard(np.array([0, 1]), np.zeros((0, 2)), 2)).all()
    assert [clusters_mod.stability_band(v) for v in (0.75, 0.6, 0.59, float("nan"))] == [
        "stable", "a pattern; who belongs is doubtful", "does not reproduce", "not measured"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_cluster_stability_separates_planted_clusters_from_an_arbitrary_split(seed):
    """Planted, well-separated clusters reproduce in every refit (stability about 1); forcing k = 3
    on two planted clusters cuts one of them arbitrarily, and that cut does not reproduce."""
    planted = CustomerClusters(columns=COLS, n_resamples=20).fit(make_clustered(2000, 3, random_state=seed))
    assert planted.k_ == 3 and (planted.cluster_stability_ >= 0.99).all()
    assert (planted.profile_["stability_band"] == "stable").all()
    split = CustomerClusters(columns=COLS, k=3, n_resamples=20).fit(make_clustered(2000, 2, random_state=seed))
    assert split.cluster_stability_.min() < clusters_mod.CLUSTER_STABLE
    assert list(split.profile_["stability"]) == list(split.cluster_stability_)
    assert split.to_results()["profile"]["stability"].notna().all()


def test_each_cluster_churn_rate_has_wilsons_interval():
    """Unweighted, a cluster's churn interval is statsmodels' Wilson interval on its customers."""
    from statsmodels.stats.proportion import proportion_confint

    d = make_clustered(1500, 3, random_state=4)
    d["churned"] = np.random.default_rng(4).binomial(1, 0.2, len(d)).astype(float)
    c = CustomerClusters(columns=COLS, n_resamples=20).fit(d)
    for r in c.profile_.itertuples():
        part = d.loc[c.labels_ == r.cluster, "churned"]
        want = proportion_confint(int(part.sum()), len(part), method="wilson")
        assert (r.churn_rate_ci_low, r.churn_rate_ci_high) == pytest.approx(want, rel=1e-10)


def test_a_cluster_that_churns_more_than_the_rest_is_found_after_holm():
    """Each cluster's churn against every other customer is statsmodels' pooled z-test, Holm over
    the clusters; a planted segment that churns 40% against 10% differs, and no other does
    (their churn is the same 10%, so a difference beyond chance would be a false alarm)."""
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    d = make_clustered(2000, 3, random_state=4)
    p = np.where(d["_cluster"] == 0, 0.4, 0.1)
    d["churned"] = np.random.default_rng(5).binomial(1, p).astype(float)
    c = CustomerClusters(columns=COLS, n_resamples=20).fit(d)
    prof = c.profile_
    for r in prof.itertuples():
        inside = c.labels_ == r.cluster
        x = [int(d.loc[inside, "churned"].sum()), int(d.loc[~inside, "churned"].sum())]
        assert r.churn_rest == pytest.approx(d.loc[~inside, "churned"].mean(), rel=1e-12)
        assert r.churn_p_rest == pytest.approx(proportions_ztest(x, [inside.sum(), (~inside).sum()])[1], rel=1e-9)
    np.testing.assert_allclose(prof["churn_p_holm"], multipletests(prof["churn_p_rest"], method="holm")[1], rtol=1e-12)
    planted = pd.crosstab(c.labels_, d["_cluster"])[0].idxmax()  # the fitted cluster holding segment 0
    more = prof["churn_differs"].fillna(False).to_numpy(bool) & (prof["churn_rate"] > prof["churn_rest"]).to_numpy()
    assert more.tolist() == [k == planted for k in prof["cluster"]]
    # each cluster's share of the leavers, and together all of them
    for r in prof.itertuples():
        inside = c.labels_ == r.cluster
        assert r.leavers_share == pytest.approx(d.loc[inside, "churned"].sum() / d["churned"].sum(), rel=1e-12)
    assert prof["leavers_share"].sum() == pytest.approx(1.0, rel=1e-12)
    # two clusters are each other's rest: one test, its p-value not doubled by Holm
    two = CustomerClusters(columns=COLS, k=2, n_resamples=20).fit(d).profile_
    assert two["churn_p_holm"].tolist() == two["churn_p_rest"].tolist()
    assert two["churn_p_rest"].iloc[0] == pytest.approx(two["churn_p_rest"].iloc[1], rel=1e-12)


def test_a_cx_score_the_clusters_hardly_differ_on_is_not_circular():
    """A CSAT unrelated to the planted clusters is among the columns: every cluster's mean CSAT
    lies within 0.5 SD of the average (checked by hand), so the clusters are not circular and the
    warning says why; a score the clusters are cut on (planted in nps_score) stays circular."""
    d = make_clustered(1500, 3, random_state=6)
    d["csat"] = np.random.default_rng(6).integers(1, 6, len(d)).astype(float)
    with pytest.warns(UserWarning, match="partly circular"):
        c = CustomerClusters(columns=[*COLS, "csat"], n_resamples=20, score="csat", promoter_min=5,
                             detractor_max=3).fit(d)
    z = d.groupby(c.labels_)["csat"].mean().sub(d["csat"].mean()).div(d["csat"].std(ddof=0))
    assert c.score_spread() == pytest.approx(z.abs().max(), abs=0.02) and c.score_spread() < 0.5
    assert not c.circular and c.to_results()["circular"] is False
    assert c.warnings_[0].startswith("The clusters use the CX score (CSAT), but no cluster's mean score lies 0.5 "
                                     "standard deviations or more from the average (largest ")
    assert not any("partly circular" in w for w in c.warnings_)
    with pytest.warns(UserWarning, match="partly circular"):
        cut = CustomerClusters(columns=[*COLS, "nps_score"], n_resamples=20).fit(d)
    assert cut.score_spread() >= 0.5 and cut.circular


def test_a_cluster_that_does_not_reproduce_is_no_target():
    """Forcing k = 3 on two planted clusters cuts one arbitrarily: the pieces below 0.6 stability
    get no target name (their rows are missing), the stable ones keep theirs; circular clusters
    give no targets and name none as left out."""
    from cxanalysis import narrative

    split = None
    for seed in range(6):  # a split whose pieces do not reproduce (seed 1 and 2 above)
        split = CustomerClusters(columns=COLS, k=3, n_resamples=20).fit(make_clustered(2000, 2, random_state=seed))
        if split.unstable_names():
            break
    unstable = split.unstable_names()
    assert unstable and set(unstable) == set(split.profile_.loc[split.profile_["stability"] < 0.6, "name"])
    names = split.target_names()
    rows = np.isin(split.row_names(), unstable)
    assert pd.isna(names[rows]).all() and pd.notna(names[~rows]).all()
    assert split.unstable_targets() == unstable
    text = narrative.untargeted_clusters(unstable)
    assert text.startswith("Not among the targets: the cluster") and "stability below 0.6, page 06" in text
    assert narrative.untargeted_clusters([]) == ""
    with pytest.warns(UserWarning, match="partly circular"):
        cut = CustomerClusters(columns=[*COLS, "nps_score"], k=3, n_resamples=20).fit(make_clustered(2000, 2,
                                                                                                      random_state=1))
    assert cut.circular and cut.target_names() is None and cut.unstable_targets() == []


def test_near_ties_of_the_chosen_k_are_named_with_their_values():
    """The chosen k's criterion against every other k's, by hand: silhouettes within 0.01 and BICs
    within 2 are near ties, named on page 06 and in the chart's title; none, no words."""
    from cxanalysis import narrative
    from cxanalysis.clusters import near_ties

    sel = pd.DataFrame({"k": [2, 3, 4, 5, 8], "silhouette": [0.232, 0.3212, 0.3113, 0.3111, 0.3209],
                        "inertia": 1.0})
    # 4 is 0.0099 below the best (a tie), 5 is 0.0101 below (not), 8 is 0.0003 below (a tie)
    assert near_ties(sel, 3)["k"].tolist() == [4, 8]
    text = narrative.k_choice(sel, 3)
    assert text == ("k = 4 and 8 come within 0.01 of it (0.311 and 0.321): the silhouette barely prefers 3 clusters "
                    "(it is the simplest of them)")
    assert near_ties(sel, 2).empty and narrative.k_choice(sel, 2) == ""
    bic = pd.DataFrame({"k": [2, 3, 4], "bic": [1000.0, 990.0, 991.5]})
    assert near_ties(bic, 3)["k"].tolist() == [4]
    assert narrative.k_choice(bic, 3) == ("k = 4 comes within 2 of it (991.5): the BIC barely prefers 3 clusters "
                                          "(it is the simplest of them)")
    assert near_ties(bic, 7).empty  # a k not tried: nothing to compare


def test_a_cluster_named_after_a_flag_says_when_others_hold_it_too():
    """A cluster named "complained = yes" holds only complainers, but not every complainer: the
    note counts them by hand, cluster by cluster; a cluster that holds all of them gets none."""
    import numpy as np

    from cxanalysis.clusters import _flag_notes

    labels = np.array([0] * 6 + [1] * 4 + [2] * 3)
    flag = np.array([1.0] * 6 + [1, 0, 0, np.nan] + [1, 1, 0])
    data = pd.DataFrame({"complained": flag})
    names = ["Complained = yes", "Few orders", "Frequent buyers"]
    notes = _flag_notes([(0, "complained", 1.0, "complained = yes")], data, labels, names)
    assert notes == ["Complained = yes holds 6 of the 9 respondents with complained = yes (67%); the other 3 are in "
                     "Frequent buyers (2) and Few orders (1). The cluster is not the set of them: its churn and score "
                     "are not theirs."]
    only = np.array([1.0] * 6 + [0, 0, 0, np.nan] + [0, 0, 0])
    assert _flag_notes([(0, "complained", 1.0, "complained = yes")], pd.DataFrame({"complained": only}), labels,
                       names) == []
    one = _flag_notes([(1, "complained", 0.0, "complained = no")], data, labels, names)
    assert one[0].startswith("Complained = yes") is False and "the other 1 is in Frequent buyers." in one[0]
