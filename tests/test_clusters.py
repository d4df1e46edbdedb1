import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from cxanalysis.clusters import CustomerClusters
from cxanalysis.config import load_config
from cxanalysis.io import load
from cxanalysis.sample import make_clustered

from .conftest import real_export

COLS = ["spend", "orders", "visits_per_month", "tenure_months", "support_tickets"]


@pytest.mark.parametrize("k", [3, 4, 5])
def test_recovers_planted_clusters(k):
    """make_clustered plants k segments; the silhouette picks k and the labels agree (ARI >= 0.9)."""
    d = make_clustered(3000, k, random_state=0)
    c = CustomerClusters(columns=COLS, n_boot=5).fit(d)
    assert c.k_ == k
    assert adjusted_rand_score(d["_cluster"], c.labels_) >= 0.9
    assert c.stability_["ari_mean"] >= 0.9
    assert list(np.bincount(c.labels_)) == sorted(np.bincount(c.labels_), reverse=True)  # largest first


def test_gmm_chooses_by_bic_and_profiles_name_the_difference():
    d = make_clustered(2000, 3, random_state=1)
    c = CustomerClusters(columns=COLS, method="gmm", k_range=(2, 6), n_boot=3).fit(d)
    assert c.k_ == int(c.selection_.loc[c.selection_["bic"].idxmin(), "k"]) == 3
    prof = c.profile_
    assert prof["n"].sum() == len(d) and prof["share"].sum() == pytest.approx(1)
    for r in prof.itertuples():  # the profile's means are the cluster's own means
        assert r.spend == pytest.approx(d.loc[c.labels_ == r.cluster, "spend"].mean())
    assert all(isinstance(n, str) and n for n in prof["name"])
    assert set(c.projection(500).columns) == {"pc1", "pc2", "cluster"}


def test_missing_columns_are_skipped_and_fixed_k_is_honoured():
    d = make_clustered(800, 2, random_state=2).drop(columns=["orders"])
    c = CustomerClusters(columns=COLS, k=3, n_boot=2).fit(d)
    assert c.k_ == 3 and c.skipped_ == {"orders": "no orders column"}
    c = CustomerClusters(columns=["spend", "absent"], n_boot=1).fit(d)
    assert c.skip_reason_.startswith("clustering needs at least 2 usable behavioural columns")
    assert c.to_results() == {"skipped": c.skip_reason_}


def test_below_the_minimum_size_clustering_skips_with_the_reason():
    d = make_clustered(800, 2, random_state=2)
    c = CustomerClusters(columns=COLS, n_boot=1).fit(d.head(49))
    assert c.skip_reason_ == ("too few customers for clustering: 49 with every behavioural column filled "
                              "(spend, orders, visits_per_month, tenure_months, support_tickets); at least 50 needed")
    gappy = d.head(200).copy()
    gappy.loc[gappy.index[60:], "spend"] = np.nan  # 60 complete rows: enough
    c = CustomerClusters(columns=COLS, n_boot=1).fit(gappy)
    assert c.skip_reason_ is None and c.k_ <= 6  # at most one cluster per 10 complete customers
    const = d.head(200).assign(orders=3, visits_per_month=1.0, tenure_months=np.nan, support_tickets=0)
    c = CustomerClusters(columns=COLS, n_boot=1).fit(const)
    assert "found 1 (spend)" in c.skip_reason_ and c.skipped_["orders"] == "orders is constant (one value)"


def test_a_cx_score_among_the_columns_is_kept_with_a_circularity_warning(config):
    assert not {"nps_score", "csat", "ces"} & set(config.clusters["columns"])
    d = make_clustered(400, 2, random_state=3)
    with pytest.warns(UserWarning, match="partly circular"):
        c = CustomerClusters(columns=[*COLS, "nps_score"], n_boot=1).fit(d)
    assert "nps_score" in c.used_ and "'NPS by cluster' is partly circular" in c.warnings_[0]
    assert c.to_results()["warnings"] == c.warnings_


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_exports_cluster(name):
    data, cfg = real_export(name)
    config = load_config(cfg)
    df = load(data, config).data
    c = CustomerClusters(columns=config.clusters["columns"], k_range=(2, 6), n_boot=3, score="csat",
                         promoter_min=5, detractor_max=3).fit(df)
    assert 2 <= c.k_ <= 6 and len(c.labels_) == len(df)
    assert c.profile_["nps"].between(-100, 100).all()


# --- messy exports: a result or a skip reason, never an exception (issue 12) ------------------

import warnings  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402

from .messy import interval_contains, messy_exports  # noqa: E402


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_exports(max_rows=250))
def test_clustering_messy_exports_gives_a_result_or_a_skip(case):
    df, cfg, score = case
    cats = cfg.categories
    for method in ("kmeans", "gmm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = CustomerClusters(columns=[*cfg.clusters["columns"], "plan"], k_range=(2, 4), method=method, n_boot=1,
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
