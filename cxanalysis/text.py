"""Themes in verbatim comments, and how often each comes up among promoters and detractors.

TF-IDF on English words (stop words removed) and non-negative matrix factorisation (NMF) into
``n_themes`` themes; each comment belongs to its highest-weight theme. Comments with no word in
the vocabulary — empty, a single word such as "ok", emoji, most non-English ones — get no theme
and are counted as such, not forced into one. For large exports the themes are learnt on a sample
of comments and every comment is then assigned.

Minimum size: themes are learnt only from at least ``MIN_COMMENTS`` (30) comments with a word in
the vocabulary, and each theme needs ``COMMENTS_PER_THEME`` (5) such comments: with fewer than
``5 * n_themes`` of them, fewer themes are learnt and ``notes_`` says so; below 2 themes (or 30
comments) :meth:`CommentThemes.fit` does not raise but sets ``skip_reason_``, a sentence for
``ctx.skip``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["CommentThemes", "MIN_COMMENTS", "COMMENTS_PER_THEME"]

MIN_COMMENTS = 30
COMMENTS_PER_THEME = 5


class CommentThemes:
    """Comment themes by TF-IDF + NMF.

    Parameters
    ----------
    n_themes : int
    n_terms : int
        Top terms listed per theme.
    min_words : int
        Comments with fewer vocabulary words get no theme.
    max_comments : int
        Themes are learnt on at most this many comments (a random sample).
    random_state : int

    Attributes
    ----------
    themes_ : DataFrame
        ``theme, name, top_terms, n, share, examples``.
    by_category_ : DataFrame
        ``theme, name, share_promoters, share_passives, share_detractors, diff, diff_ci_low,
        diff_ci_high, p_value`` — ``diff`` is detractors minus promoters (two-proportion z).
    assigned_ : Series
        Theme of every comment (-1 for none, or not in the sample), aligned with the input.
    analysed_ : Series
        True for the customers whose comment was analysed (non-empty, and in the sample).
    sampled_ : bool
        True when the export held more than ``max_comments`` comments and a random sample of
        that many was used.
    n_themes_ : int
        Themes learnt (fewer than ``n_themes`` when the comments do not support that many).
    skip_reason_ : str or None
        Why no theme was learnt (below the minimum, see the module notes), else None.
    notes_ : list of str
        E.g. that fewer themes than configured were learnt, and why.
    """

    def __init__(self, *, n_themes: int = 6, n_terms: int = 8, min_words: int = 2, max_comments: int = 50_000,
                 random_state: int = 0, alpha: float = 0.05):
        self.n_themes = n_themes
        self.n_terms = n_terms
        self.min_words = min_words
        self.max_comments = max_comments
        self.random_state = random_state
        self.alpha = alpha

    def fit(self, data: pd.DataFrame, *, comment: str = "comment", category: str = "cx_category") -> CommentThemes:
        self.skip_reason_ = None
        self.notes_ = []
        self.n_themes_ = 0
        if comment not in data:
            self.skip_reason_ = f"no {comment} column"
            return self
        text = data[comment].astype("string").fillna("").str.strip()
        positions = np.flatnonzero((text.str.len() > 0).to_numpy())
        if len(positions) < MIN_COMMENTS:
            self.skip_reason_ = (f"too few comments for themes: {len(positions)}; at least {MIN_COMMENTS} with "
                                 "recognisable words needed")
            return self
        rng = np.random.default_rng(self.random_state)
        self.sampled_ = len(positions) > self.max_comments
        if self.sampled_:
            # learn and measure on a random sample of comments; shares from 50,000 comments are
            # precise to about half a percentage point
            positions = positions[np.sort(rng.choice(len(positions), self.max_comments, replace=False))]
        has = np.zeros(len(data), dtype=bool)
        has[positions] = True
        texts = text.iloc[positions].tolist()
        self.vectorizer_ = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
                                           min_df=max(2, int(0.001 * len(texts))), max_df=0.5, sublinear_tf=True)
        try:
            Vall = self.vectorizer_.fit_transform(texts)
        except ValueError:  # no word repeated in two comments: empty vocabulary
            Vall = None
        n_vocab = int((np.asarray((Vall > 0).sum(axis=1)).ravel() > 0).sum()) if Vall is not None else 0
        if n_vocab < MIN_COMMENTS:
            self.skip_reason_ = (f"too few comments with recognisable words for themes: {n_vocab} of {len(texts)}; "
                                 f"at least {MIN_COMMENTS} needed (English words used in two comments or more)")
            return self
        k = min(self.n_themes, n_vocab // COMMENTS_PER_THEME, Vall.shape[1])
        if k < 2:
            self.skip_reason_ = (f"the comments support fewer than 2 themes ({n_vocab} comments with "
                                 f"recognisable words, {Vall.shape[1]} distinct words)")
            return self
        if k < self.n_themes:
            self.notes_.append(f"{k} themes learnt instead of {self.n_themes}: {n_vocab} comments with recognisable "
                               f"words support at most {k} (at least {COMMENTS_PER_THEME} comments a theme).")
        self.n_themes_ = k
        self.nmf_ = NMF(k, init="nndsvda", random_state=self.random_state, max_iter=400).fit(Vall)
        terms = np.array(self.vectorizer_.get_feature_names_out())
        W = self.nmf_.transform(Vall)
        n_words = np.asarray((Vall > 0).sum(axis=1)).ravel()
        theme = np.where((n_words >= self.min_words) & (W.max(axis=1) > 0), W.argmax(axis=1), -1)
        assigned = np.full(len(data), -1)
        assigned[positions] = theme
        self.assigned_ = pd.Series(assigned, index=data.index, name="theme")
        self.analysed_ = pd.Series(has, index=data.index, name="analysed")
        rows = []
        for k in range(self.n_themes_):
            top = terms[np.argsort(-self.nmf_.components_[k])[: self.n_terms]].tolist()
            members = np.flatnonzero(theme == k)
            ex = members[np.argsort(-W[members, k])[:3]]
            rows.append(dict(theme=k, name=" / ".join(top[:3]), top_terms=top, n=len(members),
                             share=len(members) / len(texts), examples=[texts[i] for i in ex]))
        rows.append(dict(theme=-1, name="(no theme: very short or unrecognised)", top_terms=[],
                         n=int((theme == -1).sum()), share=float((theme == -1).mean()), examples=[]))
        self.themes_ = pd.DataFrame(rows)
        self.n_comments_ = len(texts)
        if category in data:
            self.by_category_ = self._by_category(data[category].to_numpy(object)[has], theme)
        return self

    def _by_category(self, cat: np.ndarray, theme: np.ndarray) -> pd.DataFrame:
        """Theme shares by category among the analysed comments (``cat``, ``theme`` aligned)."""
        z = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        counts = {c: int((cat == c).sum()) for c in ("promoter", "passive", "detractor")}
        for t in self.themes_.itertuples():
            share = {c: ((cat == c) & (theme == t.theme)).sum() / counts[c] if counts[c] else np.nan
                     for c in counts}
            pd_, pp = share["detractor"], share["promoter"]
            nd, np_ = counts["detractor"], counts["promoter"]
            diff = pd_ - pp
            se = np.sqrt(pd_ * (1 - pd_) / nd + pp * (1 - pp) / np_) if nd and np_ else np.nan
            pooled = (pd_ * nd + pp * np_) / (nd + np_) if nd + np_ else np.nan
            se0 = np.sqrt(pooled * (1 - pooled) * (1 / nd + 1 / np_)) if nd and np_ else np.nan
            rows.append(dict(theme=t.theme, name=t.name, share_promoters=pp, share_passives=share["passive"],
                             share_detractors=pd_, diff=diff, diff_ci_low=diff - z * se, diff_ci_high=diff + z * se,
                             p_value=2 * stats.norm.sf(abs(diff / se0)) if se0 and se0 > 0 else np.nan))
        return pd.DataFrame(rows)

    def to_results(self) -> list[dict]:
        """``themes`` of results.json (DESIGN.md keys); empty when skipped."""
        if self.skip_reason_ is not None:
            return []
        by = self.by_category_.set_index("theme") if hasattr(self, "by_category_") else None
        out = []
        for t in self.themes_[self.themes_["theme"] >= 0].itertuples():
            row = dict(theme=t.name, top_terms=t.top_terms, n=t.n, share=t.share, examples=t.examples)
            if by is not None:
                row.update(share_promoters=by.loc[t.theme, "share_promoters"], share_detractors=by.loc[t.theme, "share_detractors"],
                           diff=by.loc[t.theme, "diff"], diff_ci_low=by.loc[t.theme, "diff_ci_low"],
                           diff_ci_high=by.loc[t.theme, "diff_ci_high"])
            out.append(row)
        return out

    @property
    def summary(self) -> pd.DataFrame:
        return self.themes_

    def _repr_html_(self) -> str:
        return self.themes_.drop(columns=["examples"]).to_html(index=False)
