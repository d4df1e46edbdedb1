import pandas as pd
import pytest

from cxanalysis.sample import TOPICS, make_customers
from cxanalysis.segments import nps_category
from cxanalysis.text import CommentThemes


def test_themes_recover_planted_topics():
    """Each planted topic is the top theme of most (>= 80%) of its comments, and each theme's
    top terms come from its topic's vocabulary."""
    df = make_customers(4000, 1, random_state=3, include_truth=True)
    df["cx_category"] = nps_category(df["nps_score"])
    th = CommentThemes(n_themes=6).fit(df)
    planted = df["_topic"] != ""
    table = pd.crosstab(df.loc[planted, "_topic"], th.assigned_[planted])
    for topic, row in table.iterrows():
        theme = row.idxmax()
        assert theme >= 0 and row.max() / row.sum() >= 0.8, topic
        terms = th.themes_.set_index("theme").loc[theme, "top_terms"][:3]
        assert set(terms) <= set(TOPICS[topic]), (topic, terms)
    by = th.by_category_.set_index("theme")
    late = by.loc[table.loc["late delivery"].idxmax()]
    assert late["diff"] > 0 and late["diff_ci_low"] > 0  # detractors complain of late delivery more
    service = by.loc[table.loc["friendly service"].idxmax()]
    assert service["diff_ci_high"] < 0  # and praise friendly service less


def test_empty_short_and_foreign_comments_get_no_theme():
    base = ["late delivery parcel waited days", "rude support agent ticket hold", "great friendly helpful staff service"] * 10
    odd = ["", "ok", "👍", "muy bueno", None]
    df = pd.DataFrame({"comment": base + odd, "cx_category": ["detractor"] * len(base) + ["promoter"] * len(odd)})
    th = CommentThemes(n_themes=3).fit(df)
    assert (th.assigned_.iloc[len(base):] == -1).all()
    assert (th.assigned_.iloc[: len(base)] >= 0).all()
    small = CommentThemes(n_themes=6).fit(df.head(10))
    assert small.skip_reason_ == "too few comments for themes: 10; at least 30 with recognisable words needed"
    assert small.to_results() == []


def test_a_tiny_quarter_gets_a_skip_or_fewer_themes_with_a_note():
    """Issue 12 item 6: 'Too few comments (3) for 6 themes' crashed the page."""
    three = pd.DataFrame({"comment": ["late delivery", "late parcel", "great staff"], "cx_category": ["detractor"] * 3})
    assert CommentThemes(n_themes=6).fit(three).skip_reason_.startswith("too few comments for themes: 3")
    base = ["late delivery parcel waited days", "rude support agent ticket hold", "great friendly helpful staff service"] * 12
    df = pd.DataFrame({"comment": base, "cx_category": ["detractor", "passive", "promoter"] * 12})
    th = CommentThemes(n_themes=10).fit(df)  # 36 comments: at most 7 themes of 5 comments each
    assert th.skip_reason_ is None and th.n_themes_ == 7 and len(th.themes_) == 8
    assert th.notes_ == ["7 themes learnt instead of 10: 36 comments with recognisable words support at most 7 "
                         "(at least 5 comments a theme)."]
    unique = pd.DataFrame({"comment": [f"word{i} " * 3 for i in range(40)]})
    assert "recognisable words" in CommentThemes().fit(unique).skip_reason_
    assert CommentThemes().fit(pd.DataFrame({"x": [1]})).skip_reason_ == "no comment column"


def test_shares_add_up_and_match_a_direct_count_on_the_sample():
    """With a sample of 1,500 of the comments: theme shares (with the no-theme row) add up to 1
    over the analysed comments, and the by-category shares equal a plain crosstab of them."""
    df = make_customers(3000, 1, random_state=5)
    df["cx_category"] = nps_category(df["nps_score"])
    df.loc[df.index[::7], "comment"] = ""  # customers without a comment are never analysed
    th = CommentThemes(n_themes=6, max_comments=1500).fit(df)
    assert th.sampled_ and th.n_comments_ == 1500 and th.analysed_.sum() == 1500
    assert not df.loc[th.analysed_, "comment"].str.strip().eq("").any()
    assert (th.assigned_[~th.analysed_] == -1).all()
    assert th.themes_["n"].sum() == 1500 and th.themes_["share"].sum() == pytest.approx(1.0)
    analysed = df[th.analysed_].assign(theme=th.assigned_[th.analysed_])
    direct = pd.crosstab(analysed["theme"], analysed["cx_category"], normalize="columns")
    by = th.by_category_.set_index("theme")
    for col, cat in (("share_promoters", "promoter"), ("share_passives", "passive"), ("share_detractors", "detractor")):
        assert by[col].to_numpy() == pytest.approx(direct.loc[by.index, cat].to_numpy(), abs=1e-12)


# --- messy exports: a result or a skip reason, never an exception (issue 12) ------------------

import warnings  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .messy import interval_contains, messy_exports  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_exports(), st.integers(1, 12))
def test_themes_on_messy_exports_give_a_result_or_a_skip(case, n_themes):
    df, cfg, score = case
    cats = cfg.categories
    df = df.assign(cx_category=nps_category(df[score], promoter_min=cats["promoter_min"],
                                            detractor_max=cats["detractor_max"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        th = CommentThemes(n_themes=n_themes).fit(df)
    if th.skip_reason_ is not None:
        assert isinstance(th.skip_reason_, str) and th.to_results() == []
        return
    # up to n_themes themes in each language that got themes (word salads may read as two languages)
    per_language = th.themes_[th.themes_["theme"] >= 0].groupby("language").size()
    assert 2 <= th.n_themes_ == per_language.sum() and per_language.max() <= n_themes
    assert th.n_themes_ * 5 <= th.n_comments_
    b = th.by_category_
    assert interval_contains(b["diff"], b["diff_ci_low"], b["diff_ci_high"])
    assert len(th.to_results()) == th.n_themes_
