"""Themes in verbatim comments, in the comments' own languages, and how often each comes up among
promoters and detractors.

Method
------
1. **Language.** Each comment's language is detected, and themes are learnt separately in every
   language that holds enough of the comments (at least ``MIN_COMMENTS`` and
   ``MIN_LANGUAGE_SHARE``, 5%, of them). Comments in a language below that — "muy bueno" in an
   otherwise Portuguese export, "sehr schlecht" in an English one — get no theme, as do comments
   without a word (emoji, "...") and comments with fewer than ``min_words`` vocabulary words
   ("ok"). They are counted in the no-theme row, never forced into a theme.

   Detection is by ``py3langid`` (a maintained fork of langid.py: a naive Bayes classifier over
   byte n-grams, BSD licence, its 4 MB model inside the wheel, so offline; deterministic; about
   0.1 ms a comment), restricted to the languages that have a stop-word list. Short comments are
   ambiguous between close languages (Portuguese/Spanish/Italian), so the classifier's
   probabilities are combined with the export's own language shares, estimated by EM over all its
   comments (Saerens, Latinne & Decaestecker 2002, *Adjusting the outputs of a classifier to new
   a priori probabilities*). Each share is floored at ``LANGUAGE_SHARE_FLOOR`` (5%) first, so a
   comment whose own evidence clearly points to another language stays foreign. When the export
   has several main languages, their comments are then told apart by the export's own words as
   well (each language's word frequencies in the comments it holds, re-estimated until the labels
   settle): "entregue no prazo" has Spanish-looking letters but Portuguese words. On the sample's
   four-language bag-of-words comments this lifts accuracy from 88–98% per language (the
   classifier alone) to 99.5–100%. Alternatives
   weighed: ``lingua-language-detector`` is more accurate on very short texts but a 96 MB wheel
   and about 50 times slower; ``langdetect`` is unmaintained since 2021 and random unless seeded;
   fastText-based detectors download their model at run time. ``language="pt"`` (config
   ``themes.language``) skips the estimate and takes the export to be Portuguese: comments
   clearly in another language still get no theme.

2. **Words.** Text is Unicode-normalised (NFC) and lower-cased; a word is two or more letters of
   any alphabet (preço, serviço, não, ótimo, Lieferung, überteuert), split at punctuation into
   clauses. English contractions with "n't" read as "not" (didn't arrive → not arrive).

3. **Negation.** A negation word (not, no, never, without; não, nunca, nem, sem; no, nunca, ni,
   sin; nicht, nie, kein…, ohne; and the French, Italian and Dutch ones) is joined to the next word
   that is not a stop word, within the clause and at most two stop words on: "não foi entregue" →
   ``não_entregue``, "was not delivered" → ``not_delivered``. The joined term replaces the plain
   word, so "não foi entregue" shares no term with "entregue no prazo". Themes show it as
   "não entregue". A negation with nothing after it is dropped. Negation placed after the verb
   (German "kam nicht") is not caught.

4. **Stop words** are removed, from the ``stop-words`` package (BSD, 33 languages, maintained,
   its lists inside the wheel) for every language but English, which keeps scikit-learn's list
   (the one this module always used): the package's English list (1,333 words) drops words that
   carry CX themes — website, order, problem, works. A word typed without its accents also matches
   the accented stop word (nao, voce, ja); an accented word matches only as written. No theme
   label is ever a stop word.

5. **Themes.** TF-IDF (words in at least 2 comments, and in at most half of them; sublinear term
   frequency) and non-negative matrix factorisation (NMF) into up to ``n_themes`` themes *per
   language*; each comment belongs to its highest-weight theme. For large exports the themes are
   learnt on a sample of comments and every comment of the sample is assigned.

Minimum size: themes are learnt in a language only from at least ``MIN_COMMENTS`` (30) comments
with a word in its vocabulary, and each theme needs ``COMMENTS_PER_THEME`` (5) such comments: with
fewer than ``5 * n_themes`` of them, fewer themes are learnt and ``notes_`` says so; when no
language reaches 2 themes (or 30 comments) :meth:`CommentThemes.fit` does not raise but sets
``skip_reason_``, a sentence for ``ctx.skip``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfTransformer

__all__ = [
    "CommentThemes",
    "MIN_COMMENTS",
    "COMMENTS_PER_THEME",
    "MIN_LANGUAGE_SHARE",
    "LANGUAGE_SHARE_FLOOR",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "NEGATIONS",
    "comment_terms",
    "detect_languages",
    "stop_words_for",
    "language_table",
    "with_language_names",
]

MIN_COMMENTS = 30
COMMENTS_PER_THEME = 5
MIN_LANGUAGE_SHARE = 0.05
LANGUAGE_SHARE_FLOOR = 0.05
UNDETERMINED = "und"

# stop-words' languages, by the codes py3langid uses (Norwegian: "no" there, "nb" in stop-words)
_STOP_WORDS_CODE = {"no": "nb"}
_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "nl": "Dutch",
    "en": "English", "fi": "Finnish", "fr": "French", "de": "German", "gu": "Gujarati", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "ms": "Malay", "it": "Italian", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "es": "Spanish",
    "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "fa": "Persian", "el": "Greek",
    "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
}
#: Languages themes are learnt in (ISO 639-1): those with a stop-word list whose words are
#: separated by spaces (Chinese, Japanese and Korean are detected, and get no theme).
LANGUAGES: tuple[str, ...] = tuple(c for c in _NAMES if c not in ("zh", "ja", "ko"))
#: English names of the detected languages, for display.
LANGUAGE_NAMES: dict[str, str] = {**_NAMES, UNDETERMINED: "(no recognisable words)"}
#: Negation words joined to the word they negate (see the module notes).
NEGATIONS: dict[str, frozenset[str]] = {
    "en": frozenset({"not", "no", "never", "without", "nor", "cannot"}),
    "pt": frozenset({"não", "nunca", "nem", "sem", "jamais"}),
    "es": frozenset({"no", "nunca", "ni", "sin", "jamás", "tampoco"}),
    "de": frozenset({"nicht", "nie", "niemals", "kein", "keine", "keinen", "keinem", "keiner", "keines", "ohne"}),
    "fr": frozenset({"pas", "jamais", "sans", "aucun", "aucune"}),
    "it": frozenset({"non", "mai", "senza", "nessun", "nessuno", "nessuna"}),
    "nl": frozenset({"niet", "geen", "nooit", "zonder"}),
}
_JOIN = "_"
_MAX_SKIPPED = 2  # stop words a negation may reach over ("não foi entregue", "not even delivered")
_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
_CLAUSE = re.compile(r"[.,;:!?¡¿()\[\]{}\"“”«»\n\r\t]+|\s[-–—]\s")
_CONTRACTION = re.compile(r"\b\w+n['’]t\b")  # didn't, won't, can't: "not" (the auxiliary is a stop word)


@lru_cache(maxsize=200_000)
def _strip_accents(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", str(text)).lower()


def _distinct_examples(order: np.ndarray, texts: list[str], k: int = 3) -> list[str]:
    """The first ``k`` comments in ``order`` (most typical of the theme first) that differ once
    case and spacing are ignored: a theme shows three different voices, not one comment three times."""
    out, seen = [], set()
    for i in order:
        key = " ".join(_normalise(texts[i]).split())
        if key not in seen:
            seen.add(key)
            out.append(texts[i])
            if len(out) == k:
                break
    return out


#: English fillers and intensifiers scikit-learn's list leaves in: words that name no theme
_EXTRA_ENGLISH_STOP_WORDS = frozenset({"really", "just", "quite", "actually", "got", "lot", "bit", "ok", "okay"})


@cache
def _stop_sets(language: str) -> tuple[frozenset[str], frozenset[str]]:
    """(stop words as listed, their accent-free spellings)."""
    if language == "en":
        words = set(ENGLISH_STOP_WORDS) | _EXTRA_ENGLISH_STOP_WORDS
    else:
        import stop_words

        words = set(stop_words.get_stop_words(_STOP_WORDS_CODE.get(language, language)))
    words = {_normalise(w).strip() for w in words if w.strip()}
    return frozenset(words), frozenset(_strip_accents(w) for w in words)


def _validate_language(language: str, *, auto: bool = False) -> str:
    if auto and language == "auto":
        return language
    if language not in LANGUAGES:
        options = (["auto"] if auto else []) + sorted(LANGUAGES)
        raise ValueError(f"language must be one of {options}; got {language!r}.")
    return language


def stop_words_for(language: str) -> frozenset[str]:
    """Stop words of ``language`` (ISO 639-1), as the themes use them.

    English: scikit-learn's list plus a few fillers it leaves in ("really", "just", "quite"...); others: the
    ``stop-words`` package's (see the module notes).
    Negation words are in most lists: :func:`comment_terms` joins them to the word they negate
    before stop words are removed.
    """
    return _stop_sets(_validate_language(language))[0]


def _is_stop(word: str, listed: frozenset[str], bare: frozenset[str]) -> bool:
    # a word typed without accents also matches the accented stop word ("nao"), never the reverse
    return word in listed or (word == _strip_accents(word) and word in bare)


@cache
def _negation_sets(language: str) -> tuple[frozenset[str], frozenset[str]]:
    cues = NEGATIONS.get(language, frozenset())
    return cues, frozenset(_strip_accents(c) for c in cues)


def comment_terms(text: str, language: str) -> list[str]:
    """The terms of one comment that the themes count, in the order they appear.

    Lower-cased words of two or more letters in any alphabet, negations joined to the word they
    negate (``não_entregue``), stop words of ``language`` removed (module notes 2–4).

    Examples
    --------
    >>> comment_terms("O pedido não foi entregue!", "pt")
    ['pedido', 'não_entregue']
    >>> comment_terms("Entregue no prazo, ótimo preço", "pt")
    ['entregue', 'prazo', 'ótimo', 'preço']
    >>> comment_terms("The parcel wasn't delivered", "en")
    ['parcel', 'not_delivered']
    """
    listed, bare = _stop_sets(language)
    cues, bare_cues = _negation_sets(language)
    text = _normalise(text)
    if language == "en":
        text = _CONTRACTION.sub("not", text)
    out: list[str] = []
    for clause in _CLAUSE.split(text):
        words = _WORD.findall(clause)
        i = 0
        while i < len(words):
            w = words[i]
            if w in cues or (w == _strip_accents(w) and w in bare_cues):
                j = i + 1
                while j < len(words) and j - i <= _MAX_SKIPPED and _is_stop(words[j], listed, bare) \
                        and words[j] not in cues:
                    j += 1
                if j < len(words) and words[j] not in cues and not _is_stop(words[j], listed, bare):
                    out.append(w + _JOIN + words[j])
                    i = j + 1
                    continue
            elif not _is_stop(w, listed, bare):
                out.append(w)
            i += 1
    return out


def _display(term: str) -> str:
    return term.replace(_JOIN, " ")


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(_NAMES))
    return ident


def detect_languages(texts: Sequence[str], *, language: str = "auto") -> tuple[np.ndarray, pd.Series]:
    """Language of each comment, using the export's language shares as the prior.

    Parameters
    ----------
    texts : sequence of str
        The comments.
    language : str
        ``"auto"``: the shares are estimated from the comments by EM. A code (``"pt"``): the export
        is taken to be in that language; every other language keeps only the floor share.

    Returns
    -------
    codes : ndarray of str
        ISO 639-1 code of each comment, ``"und"`` for one without a word of two letters.
    shares : Series
        Estimated share of each language among the comments with words, largest first.

    Notes
    -----
    ``p_il`` is py3langid's probability that comment i is in language l (its naive Bayes
    posterior under equal priors, softmax-normalised with temperature √bytes). With shares π,
    EM iterates ``w_il ∝ p_il π_l``, ``π_l = mean_i w_il`` to convergence (Saerens et al.
    2002). Each comment then gets ``argmax_l p_il π'_l`` with π' = max(π, 5%) renormalised,
    so a comment in a language rare in the export is labelled as such only on strong
    evidence of its own. With several main languages (each with ``MIN_COMMENTS`` comments and
    ``MIN_LANGUAGE_SHARE`` of them), their comments are relabelled among them with their words'
    evidence added (``_refine``).
    """
    language = _validate_language(language, auto=True)
    ident = _identifier()
    labels = ident.labels
    col = {c: j for j, c in enumerate(labels)}
    texts = [str(t) for t in texts]
    # short comments repeat ("ok", "muito bom"): each distinct text is read once
    of_text, distinct = pd.factorize(pd.Series(texts, dtype=object))
    worded = np.flatnonzero([_WORD.search(_normalise(t)) is not None for t in distinct])
    position = np.full(len(distinct), -1)  # a distinct text's row in P; -1: no word
    position[worded] = np.arange(len(worded))
    codes = np.full(len(texts), UNDETERMINED, dtype=object)
    rows = np.flatnonzero(position[of_text] >= 0)
    if not len(rows):
        return codes, pd.Series(dtype=float, name="share")
    P = np.zeros((len(worded), len(labels)))
    for r, t in enumerate(distinct[worded]):
        for code, p in ident.rank(t):
            P[r, col[code]] = p
    of_row = position[of_text[rows]]  # each comment's distinct text
    times = np.bincount(of_row, minlength=len(worded)).astype(float)  # comments per distinct text
    P = P / P.sum(axis=1, keepdims=True)
    if language == "auto":
        pi = np.full(len(labels), 1 / len(labels))
        for _ in range(500):
            post = P * pi
            post /= post.sum(axis=1, keepdims=True)
            new = times @ post / len(rows)  # the mean over comments
            done = np.abs(new - pi).max() < 1e-8
            pi = new
            if done:
                break
    else:
        pi = np.where(np.array(labels) == language, 1.0, 0.0)
    shares = pd.Series(pi, index=labels, name="share").sort_values(ascending=False, kind="stable")
    prior = np.maximum(pi, LANGUAGE_SHARE_FLOOR)
    score = np.log(np.maximum(P * (prior / prior.sum()), 1e-300))[of_row]
    found = np.array(labels, dtype=object)[score.argmax(axis=1)]
    main = [c for c in labels if c in LANGUAGES and (found == c).sum() >= max(MIN_COMMENTS, MIN_LANGUAGE_SHARE * len(rows))]
    if language == "auto" and len(main) > 1:
        found = _refine([texts[i] for i in rows], found, score[:, [col[c] for c in main]], main)
    codes[rows] = found
    return codes, shares[shares > 0]


def _refine(texts: list[str], found: np.ndarray, score: np.ndarray, main: list[str], passes: int = 5) -> np.ndarray:
    """Tell apart the export's main languages with its own words as well as their letters.

    Comments labelled with one of the ``main`` languages are labelled again among them by
    ``score`` (log prior × classifier probability) plus the comment's words' log-probabilities
    under each language's word frequencies in the comments it currently holds (add-one
    smoothing), until the labels settle. Short comments in close languages share letters
    ("entregue no prazo" reads as Spanish to the classifier) but rarely words.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    X = CountVectorizer(analyzer=lambda t: _WORD.findall(_normalise(t))).fit_transform(texts)
    X = sparse.csr_matrix(X, dtype=float)
    main_arr = np.array(main, dtype=object)
    movable = np.isin(found, main_arr)
    for _ in range(passes):
        counts = np.vstack([np.asarray(X[found == c].sum(axis=0)).ravel() for c in main]) + 1.0
        log_q = np.log(counts / counts.sum(axis=1, keepdims=True))
        new = np.where(movable, main_arr[(score + X @ log_q.T).argmax(axis=1)], found)
        if (new == found).all():
            break
        found = new
    return found


def _tfidf(texts: Sequence[str], analyzer, *, min_df: int, max_df: float):
    """scikit-learn's ``TfidfVectorizer(analyzer=analyzer, min_df=min_df, max_df=max_df,
    sublinear_tf=True).fit_transform(texts)``, with each distinct text analysed and counted once.

    Short comments repeat ("ok", "great service"); the vectorizer walks every one of them in
    Python. Here the distinct texts are counted, their rows repeated for the comments, and terms
    kept by their document frequency over every comment, as the vectorizer keeps them
    (``min_df`` comments at least, ``max_df`` of them at most), before the same TF-IDF weighting.

    Returns
    -------
    V : sparse matrix of shape (len(texts), n_terms)
    vocabulary : ndarray of str
        The terms of V's columns, sorted.

    Raises
    ------
    ValueError
        No term at all, or none left after the frequency limits (as the vectorizer raises).
    """
    codes, distinct = pd.factorize(pd.Series(list(texts), dtype=object), sort=False)
    counter = CountVectorizer(analyzer=analyzer)
    X = counter.fit_transform(list(distinct))[codes]
    df = np.bincount(X.indices, minlength=X.shape[1])  # comments holding each term
    keep = np.flatnonzero((df >= min_df) & (df <= max_df * len(texts)))
    if not len(keep):
        raise ValueError("After pruning, no terms remain.")
    V = TfidfTransformer(sublinear_tf=True).fit_transform(X[:, keep])
    return V, counter.get_feature_names_out()[keep]


class CommentThemes:
    """Comment themes by TF-IDF + NMF, learnt in each language of the comments.

    Parameters
    ----------
    n_themes : int
        Themes learnt in each language with enough comments.
    n_terms : int
        Top terms listed per theme.
    min_words : int
        Comments with fewer vocabulary words get no theme.
    max_comments : int
        Themes are learnt on at most this many comments (a random sample).
    random_state : int
    alpha : float
        1 − confidence level of the detractor − promoter differences.
    language : str
        ``"auto"`` (detected, see the module notes) or the ISO 639-1 code of the export's language
        (one of :data:`LANGUAGES`); with a code, only that language gets themes.

    Attributes
    ----------
    themes_ : DataFrame
        ``theme, name, language, top_terms, n, share, examples`` — one row per theme, then the
        no-theme row (``theme`` -1, ``language`` ""). ``name`` is the top three terms; a negated
        term reads "não entregue".
    by_category_ : DataFrame
        ``theme, name, language, share_promoters, share_passives, share_detractors, diff,
        diff_ci_low, diff_ci_high, p_value`` — ``diff`` is detractors minus promoters
        (two-proportion z).
    assigned_ : Series
        Theme of every comment (-1 for none, or not in the sample), aligned with the input.
    analysed_ : Series
        True for the customers whose comment was analysed (non-empty, and in the sample).
    language_ : Series
        Detected language of every analysed comment (ISO 639-1, "und" without words; "" when not
        analysed), aligned with the input.
    languages_ : DataFrame
        ``language, name, n, share, n_themes, note`` — comments per detected language, themes
        learnt in it, and why none were (too few comments, or not enough words).
    sampled_ : bool
        True when the export held more than ``max_comments`` comments and a random sample of
        that many was used.
    n_themes_ : int
        Themes learnt in all languages (fewer than ``n_themes`` a language when its comments do
        not support that many).
    skip_reason_ : str or None
        Why no theme was learnt (below the minimum, see the module notes), else None.
    notes_ : list of str
        E.g. that fewer themes than configured were learnt, and why; comments set aside as in
        another language.

    Examples
    --------
    >>> from cxanalysis.sample import make_customers
    >>> from cxanalysis.segments import nps_category
    >>> df = make_customers(2000, 1, random_state=1, comment_languages=("en", "pt"))
    >>> th = CommentThemes(n_themes=6).fit(df.assign(cx_category=nps_category(df["nps_score"])))
    >>> sorted(th.languages_.query("n_themes > 0")["language"])
    ['en', 'pt']
    """

    def __init__(self, *, n_themes: int = 6, n_terms: int = 8, min_words: int = 2, max_comments: int = 50_000,
                 random_state: int = 0, alpha: float = 0.05, language: str = "auto"):
        self.n_themes = n_themes
        self.n_terms = n_terms
        self.min_words = min_words
        self.max_comments = max_comments
        self.random_state = random_state
        self.alpha = alpha
        self.language = language

    def fit(self, data: pd.DataFrame, *, comment: str = "comment", category: str = "cx_category") -> CommentThemes:
        language = _validate_language(self.language, auto=True)
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
            self.notes_.append(f"Themes are learnt and measured on a random sample of {self.max_comments:,} of the "
                               f"{len(positions):,} comments (every customer's comment equally likely to be drawn).")
            positions = positions[np.sort(rng.choice(len(positions), self.max_comments, replace=False))]
        has = np.zeros(len(data), dtype=bool)
        has[positions] = True
        texts = text.iloc[positions].tolist()
        n = len(texts)
        codes, _ = detect_languages(texts, language=language)
        counts = pd.Series(codes).value_counts(sort=False)
        counts = counts.iloc[np.lexsort((counts.index.to_numpy(str), -counts.to_numpy()))]
        # languages with enough comments to learn themes in, largest first
        candidates = [c for c, m in counts.items() if c in LANGUAGES and m >= MIN_COMMENTS
                      and m >= MIN_LANGUAGE_SHARE * n and language in ("auto", c)]
        theme = np.full(n, -1)
        learnt: dict[str, dict] = {}
        reasons: dict[str, str] = {}
        for code in candidates:
            idx = np.flatnonzero(codes == code)
            fitted = self._fit_language(code, [texts[i] for i in idx], n)
            if isinstance(fitted, str):
                reasons[code] = fitted
                continue
            fitted["idx"] = idx
            learnt[code] = fitted
        if not learnt:
            self.skip_reason_ = reasons[candidates[0]] if candidates else self._no_language_reason(counts, n, language)
            return self
        rows, first = [], 0
        several = len(learnt) > 1 or bool(reasons)
        for code, f in learnt.items():
            theme[f["idx"]] = np.where(f["theme"] >= 0, f["theme"] + first, -1)
            for k in range(f["k"]):
                top = f["terms"][np.argsort(-f["nmf"].components_[k])[: self.n_terms]].tolist()
                members = np.flatnonzero(f["theme"] == k)
                rows.append(dict(theme=first + k, name=" / ".join(top[:3]), language=code, top_terms=top,
                                 n=len(members), share=len(members) / n,
                                 examples=_distinct_examples(members[np.argsort(-f["W"][members, k], kind="stable")],
                                                             [texts[i] for i in f["idx"]])))
            if f["k"] < self.n_themes:
                note = (f"{f['k']} themes learnt instead of {self.n_themes}: {f['n_vocab']} comments with "
                        f"recognisable words support at most {f['k']} (at least {COMMENTS_PER_THEME} comments a theme).")
                self.notes_.append(f"{LANGUAGE_NAMES[code]}: {note}" if several else note)
            first += f["k"]
        self.n_themes_ = first
        for code, reason in reasons.items():
            self.notes_.append(f"{LANGUAGE_NAMES[code]}: no themes: {reason}.")
        if len(learnt) > 1:
            self.notes_.append("Themes are learnt separately in each language: " + ", ".join(
                f"{LANGUAGE_NAMES[c]} ({int(counts[c]):,} comments, {f['k']} themes)" for c, f in learnt.items()) + ".")
        other = counts[[c not in learnt and c not in reasons and c != UNDETERMINED for c in counts.index]]
        if other.sum():
            listed = ", ".join(f"{LANGUAGE_NAMES[c]} {int(m):,}" for c, m in other.items())
            self.notes_.append(
                f"{int(other.sum()):,} comments in other languages get no theme ({listed}): too few in their "
                "language, or a language themes are not learnt in." if language == "auto" else
                f"{int(other.sum()):,} comments not in {LANGUAGE_NAMES[language]} get no theme ({listed}).")
        rows.append(dict(theme=-1, name="(no theme: very short, unrecognised or in another language)", language="",
                         top_terms=[], n=int((theme == -1).sum()), share=float((theme == -1).mean()), examples=[]))
        self.themes_ = pd.DataFrame(rows)
        self.languages_ = pd.DataFrame([
            dict(language=c, name=LANGUAGE_NAMES[c], n=int(m), share=m / n,
                 n_themes=learnt[c]["k"] if c in learnt else 0, note=self._language_note(c, learnt, reasons))
            for c, m in counts.items()])
        assigned = np.full(len(data), -1)
        assigned[positions] = theme
        self.assigned_ = pd.Series(assigned, index=data.index, name="theme")
        self.analysed_ = pd.Series(has, index=data.index, name="analysed")
        detected = np.full(len(data), "", dtype=object)
        detected[positions] = codes
        self.language_ = pd.Series(detected, index=data.index, name="language")
        self.n_comments_ = n
        if category in data:
            self.by_category_ = self._by_category(data[category].to_numpy(object)[has], theme)
        return self

    def _fit_language(self, code: str, texts: list[str], n_all: int) -> dict | str:
        """TF-IDF + NMF on one language's comments; a skip reason (str) when they are too few."""
        name = LANGUAGE_NAMES[code]
        try:  # each distinct comment's terms are read once (_tfidf)
            V, vocabulary = _tfidf(texts, lambda doc: comment_terms(doc, code),
                                   min_df=max(2, int(0.001 * len(texts))), max_df=0.5)
        except ValueError:  # no word repeated in two comments: empty vocabulary
            V = None
        n_words = np.asarray((V > 0).sum(axis=1)).ravel() if V is not None else np.zeros(len(texts))
        n_vocab = int((n_words > 0).sum())
        if n_vocab < MIN_COMMENTS:
            return (f"too few comments with recognisable words for themes: {n_vocab} of {n_all}; at least "
                    f"{MIN_COMMENTS} needed ({name} words used in two comments or more)")
        k = min(self.n_themes, n_vocab // COMMENTS_PER_THEME, V.shape[1])
        if k < 2:
            return (f"the comments support fewer than 2 themes ({n_vocab} comments with recognisable words, "
                    f"{V.shape[1]} distinct words)")
        nmf = NMF(k, init="nndsvda", random_state=self.random_state, max_iter=400).fit(V)
        W = nmf.transform(V)
        theme = np.where((n_words >= self.min_words) & (W.max(axis=1) > 0), W.argmax(axis=1), -1)
        terms = np.array([_display(t) for t in vocabulary], dtype=object)
        return dict(k=k, nmf=nmf, W=W, theme=theme, terms=terms, n_vocab=n_vocab)

    def _language_note(self, code: str, learnt: dict, reasons: dict) -> str:
        """Why a detected language got no themes ("" when it got some)."""
        if code in learnt:
            return ""
        if code in reasons:
            return reasons[code]
        if code == UNDETERMINED:
            return "too short or no words to tell the language from"
        if code not in LANGUAGES:
            return "words not separated by spaces: themes are not learnt in this language"
        if self.language != "auto":
            return f"only {LANGUAGE_NAMES[self.language]} is analysed (language setting)"
        return f"too few comments: at least {MIN_COMMENTS}, and {MIN_LANGUAGE_SHARE:.0%} of them, needed"

    @staticmethod
    def _no_language_reason(counts: pd.Series, n: int, language: str) -> str:
        parts = ", ".join(f"{LANGUAGE_NAMES[c]} {int(m):,}" for c, m in counts.head(4).items())
        if language != "auto":
            return (f"too few comments in {LANGUAGE_NAMES[language]} for themes: {int(counts.get(language, 0)):,} of "
                    f"{n:,} ({parts}); at least {MIN_COMMENTS}, and {MIN_LANGUAGE_SHARE:.0%} of the comments, needed "
                    f"(the language setting is {language})")
        return (f"too few comments in any one language for themes: {n:,} comments ({parts}); at least "
                f"{MIN_COMMENTS} with recognisable words in one language, and {MIN_LANGUAGE_SHARE:.0%} of the "
                "comments, needed")

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
            rows.append(dict(theme=t.theme, name=t.name, language=t.language, share_promoters=pp,
                             share_passives=share["passive"], share_detractors=pd_, diff=diff,
                             diff_ci_low=diff - z * se, diff_ci_high=diff + z * se,
                             p_value=2 * stats.norm.sf(abs(diff / se0)) if se0 and se0 > 0 else np.nan))
        return pd.DataFrame(rows)

    def to_results(self) -> list[dict]:
        """``themes`` of results.json (DESIGN.md keys, plus ``language``); empty when skipped."""
        if self.skip_reason_ is not None:
            return []
        by = self.by_category_.set_index("theme") if hasattr(self, "by_category_") else None
        out = []
        for t in self.themes_[self.themes_["theme"] >= 0].itertuples():
            row = dict(theme=t.name, top_terms=t.top_terms, n=t.n, share=t.share, examples=t.examples,
                       language=t.language)
            if by is not None:
                row.update(share_promoters=by.loc[t.theme, "share_promoters"],
                           share_passives=by.loc[t.theme, "share_passives"],
                           share_detractors=by.loc[t.theme, "share_detractors"],
                           diff=by.loc[t.theme, "diff"], diff_ci_low=by.loc[t.theme, "diff_ci_low"],
                           diff_ci_high=by.loc[t.theme, "diff_ci_high"])
            out.append(row)
        return out

    @property
    def summary(self) -> pd.DataFrame:
        return self.themes_

    def _repr_html_(self) -> str:
        return self.themes_.drop(columns=["examples"]).to_html(index=False)


def with_language_names(table: pd.DataFrame) -> pd.DataFrame:
    """A themes table for the page: its ``language`` codes as names ("en" → "English"; an
    unknown code stays as it is, an empty one, the row of comments with no theme, stays empty)."""
    out = table.copy()
    if "language" in out:
        out["language"] = out["language"].map(lambda c: LANGUAGE_NAMES.get(c, c) if c else c)
    return out


def language_table(languages: pd.DataFrame) -> pd.DataFrame:
    """:attr:`CommentThemes.languages_` for the page: each language by its name only (the code
    stays in the data and in results.json)."""
    out = languages.drop(columns=["language"]).rename(columns={"name": "language"})
    return out

