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
    with pytest.raises(ValueError, match="Too few comments"):
        CommentThemes(n_themes=6).fit(df.head(10))


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
