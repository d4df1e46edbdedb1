import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

from cxanalysis import metrics, trends
from cxanalysis.config import load_config


def test_quarterly_changes_match_two_sample_tests(sample_frame):
    cfg = load_config()
    t = trends.quarterly(sample_frame, cfg)
    q0, q1 = sorted(sample_frame["quarter"].unique())
    a, b = sample_frame[sample_frame["quarter"] == q1], sample_frame[sample_frame["quarter"] == q0]
    d = metrics.nps_difference(a, b).iloc[0]
    assert t["quarter"].tolist() == [q0, q1]
    assert pd.isna(t.iloc[0]["change"])
    assert t.iloc[1]["change"] == pytest.approx(d["difference"])
    assert t.iloc[1]["p_value"] == pytest.approx(d["p_value"])
    assert t.iloc[1]["nps"] == pytest.approx(metrics.nps(a).iloc[0]["nps"])
    _, p = proportions_ztest([a["churned"].sum(), b["churned"].sum()], [len(a), len(b)])
    assert t.iloc[1]["churn_p_value"] == pytest.approx(p)
