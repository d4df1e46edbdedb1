"""Weight survey respondents back to the customer base they stand for (raking).

Exports often hold every customer, with a CX score only for those who answered the survey. When
some kinds of customers answer more often (premium plans, long tenure), the respondents' NPS
describes respondents, not customers. Raking (iterative proportional fitting; Deming & Stephan
1940) gives each respondent a weight so that the weighted respondents match the base on the
margins of the chosen covariates: each pass multiplies the weights of every level of one
covariate by ``base count / weighted respondent count`` of that level, until every margin
matches (to ``tol``, relative).

* Numeric covariates are cut into bands (explicit edges, else quantiles of the *base*), so
  respondents and base share the bands.
* A missing value is a level of its own, "(missing)".
* A level present in the base but with no respondent cannot be represented: its customers are
  left out of that margin's targets (the other levels are matched to their own base counts, so
  the weights still sum to the base less those customers), and a note names it.
* With one covariate, raking is post-stratification: ``w = N_level / n_level`` exactly.

Weights sum to the size of the base they could be matched to, so a weighted share times the
base size is a count of customers. Kish's effective sample size ``(sum w)^2 / sum w^2`` is what
every interval on the weighted respondents uses (:func:`cxanalysis.metrics.nps`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fmt import shift, words

__all__ = ["RakingResult", "rake", "kish_n_eff", "weighting_columns", "weight_to_base", "compare_margins",
           "response_by_quarter", "response_summary", "band_words", "readable_margins", "NO_NONRESPONDENTS"]

#: Raked on when neither ``weighting.by`` nor ``covariates`` is set: the outcome models' default
#: covariates (:data:`cxanalysis.models.DEFAULT_COVARIATES`, not imported here to keep loading light).
DEFAULT_BY = ("plan", "region", "tenure_months")

#: ``response.weighting`` when every customer of the quarter answered.
NO_NONRESPONDENTS = "none (no non-respondents)"

MISSING = "(missing)"


def kish_n_eff(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (``n`` for equal weights)."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if len(w) else 0.0


@dataclass
class RakingResult:
    """Raked weights (aligned with the respondents' index) and what the raking did."""

    weights: pd.Series
    by: list[str]
    converged: bool
    n_iter: int
    n_eff: float
    notes: list[str] = field(default_factory=list)
    margins: pd.DataFrame | None = field(default=None, repr=False)
    n_respondents: int | None = None
    """Respondents the weights stand for when :func:`rake` was given ``counts`` (each weight is
    then the total of a group of respondents); None: one weight per respondent."""
    scale: float = 1.0
    """One respondent's weight before the first pass (matched base size / respondents)."""
    factors: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    """Per covariate raked on, each level's product of the passes' adjustments: one respondent's
    weight is ``scale`` times its levels' factors (how an engine applies the raking in SQL)."""
    cuts: dict[str, list[float]] = field(default_factory=dict, repr=False)
    """Band edges of the numeric covariates cut into bands (``-inf`` and ``inf`` at the ends)."""

    @property
    def design_effect(self) -> float:
        """``n / n_eff``: how much the weighting inflates variances (1 = none)."""
        n = len(self.weights) if self.n_respondents is None else self.n_respondents
        return float(n / self.n_eff) if self.n_eff else float("nan")


def _banded(base: pd.Series, q: int, n_unique: int | None = None) -> bool:
    """Whether a covariate is numeric with more than ``q`` values, hence cut into bands
    (``n_unique``: ``base.nunique()`` when already counted)."""
    return (pd.api.types.is_numeric_dtype(base) and not pd.api.types.is_bool_dtype(base)
            and (base.nunique() if n_unique is None else n_unique) > q)


def _text_levels(values: pd.Series) -> pd.Series:
    """A covariate's values as a categorical of text labels, missing values as ``MISSING``
    (labels are built once per distinct value, not per row)."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    labels = [str(c) for c in cat.cat.categories]
    codes = cat.cat.codes.to_numpy()
    return _from_codes(codes, labels, values.index)


def _from_codes(codes: np.ndarray, labels: list[str], index) -> pd.Series:
    """Categorical of ``labels[codes]`` with code -1 as ``MISSING``; equal labels merged."""
    uniq, inverse = np.unique(np.asarray(labels + [MISSING], dtype=object), return_inverse=True)
    mapped = inverse[np.where(codes < 0, len(labels), codes)]
    used = np.flatnonzero(np.bincount(mapped, minlength=len(uniq)))  # np.unique(mapped), without a sort
    remap = np.full(len(uniq), -1)
    remap[used] = np.arange(len(used))
    return pd.Series(pd.Categorical.from_codes(remap[mapped], categories=list(uniq[used])), index=index)


def _nanquantile_counts(values: np.ndarray, counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``np.nanquantile`` (its default, linear method) of ``values`` each repeated ``counts``
    times, without repeating them: the order statistics are found on the cumulative counts, and
    interpolated with numpy's own formula, so the result is numpy's to the last bit."""
    ok = ~np.isnan(values)
    v, c = values[ok], np.asarray(counts, float)[ok]
    order = np.argsort(v, kind="stable")
    v, cum = v[order], np.cumsum(c[order])
    n = cum[-1] if len(cum) else 0
    if n == 0:
        return np.full(len(probs), np.nan)
    h = (n - 1) * np.asarray(probs, float)
    lo = np.floor(h)
    a = v[np.searchsorted(cum, lo, side="right")]
    b = v[np.searchsorted(cum, np.minimum(lo + 1, n - 1), side="right")]
    t = h - lo
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _cuts(b: np.ndarray, edges: Sequence[float] | None, q: int, base_counts: np.ndarray | None = None) -> np.ndarray:
    """Band edges of a numeric covariate: ``edges`` (inner ones), else the base's ``q``-quantiles;
    ``-inf`` and ``inf`` at the ends."""
    if edges is None:
        probs = np.linspace(0, 1, q + 1)
        cuts = np.unique(np.nanquantile(b, probs) if base_counts is None
                         else _nanquantile_counts(b, base_counts, probs))
        cuts[0], cuts[-1] = -np.inf, np.inf
        return cuts
    return np.unique(np.r_[-np.inf, np.asarray(edges, float)[1:-1], np.inf])


def _levels(series: pd.Series, base: pd.Series, edges: Sequence[float] | None, q: int,
            base_counts: np.ndarray | None = None) -> tuple[pd.Series, pd.Series]:
    """Respondent and base levels of one covariate (categoricals of text), numeric ones in shared
    bands ``[a, b)``. ``base_counts``: each base row stands for that many customers (the band
    edges are then the quantiles of the rows repeated)."""
    if _banded(base, q):
        b = base.astype(float).to_numpy()
        cuts = _cuts(b, edges, q, base_counts)
        labels = [f"[{lo}, {hi})" for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)]

        def band(x: np.ndarray) -> np.ndarray:
            codes = np.searchsorted(cuts, x, side="right") - 1
            return np.where(np.isnan(x), -1, np.clip(codes, 0, len(labels) - 1))

        return (_from_codes(band(series.astype(float).to_numpy()), labels, series.index),
                _from_codes(band(b), labels, base.index))
    return _text_levels(series), _text_levels(base)


def rake(
    respondents: pd.DataFrame,
    base: pd.DataFrame,
    by: Sequence[str],
    *,
    bands: Mapping[str, Sequence[float]] | None = None,
    quantile_bands: int = 4,
    max_iter: int = 200,
    tol: float = 1e-10,
    counts: Sequence[float] | None = None,
    base_counts: Sequence[float] | None = None,
) -> RakingResult:
    """Rake respondents to the base's margins on the covariates ``by``.

    Parameters
    ----------
    respondents : DataFrame
        The customers with a CX score.
    base : DataFrame
        Every customer the respondents stand for (respondents included).
    by : list of str
        Covariates whose margins the weighted respondents must match. Columns absent from either
        frame, or with one level in the base, are skipped with a note.
    bands : dict, optional
        Explicit band edges per numeric covariate; others get ``quantile_bands`` base quantiles.
    max_iter, tol : int, float
        Raking stops when every margin matches to ``tol`` (relative) or after ``max_iter`` passes.
    counts, base_counts : array-like, optional
        How many customers each row of ``respondents`` / ``base`` stands for: the rows are then
        groups of customers alike on ``by`` (an engine's ``GROUP BY``), and each returned weight
        is its group's total (divide by ``counts`` for one customer's). The weights are those of
        the rows repeated (``tests/test_weighting.py``).

    Returns
    -------
    RakingResult
        ``weights`` (sum = matched base size), ``converged``, ``n_iter``, ``n_eff``, ``notes`` and
        ``margins``: ``covariate, level, base, respondents, weighted`` (counts).

    Examples
    --------
    >>> base = pd.DataFrame({"plan": ["A"] * 6 + ["B"] * 4})
    >>> resp = base.iloc[[0, 1, 2, 6]]
    >>> rake(resp, base, ["plan"]).weights.tolist()
    [2.0, 2.0, 2.0, 4.0]
    """
    bands = dict(bands or {})
    notes: list[str] = []
    n = len(respondents)
    cnt = np.ones(n) if counts is None else np.asarray(counts, float)
    n_resp = float(cnt.sum())
    bcnt = None if base_counts is None else np.asarray(base_counts, float)
    n_base = float(len(base) if bcnt is None else bcnt.sum())
    w = cnt.copy()
    cols = []
    for c in by:
        if c not in respondents or c not in base:
            notes.append(f"{c!r} is not in the data: not used for weighting.")
            continue
        r, b = _levels(respondents[c], base[c], bands.get(c), quantile_bands, bcnt)
        if b.nunique() < 2:
            notes.append(f"{c!r} has a single value in the base: nothing to weight on.")
            continue
        target = b.value_counts() if bcnt is None else pd.Series(bcnt, index=b.index).groupby(b, observed=True).sum()
        target = target[target > 0]
        target.index = target.index.astype(str)
        present = set(map(str, r.cat.categories[np.flatnonzero(np.bincount(r.cat.codes, minlength=len(r.cat.categories)))]))
        unrepresented = [lv for lv in target.index if lv not in present]
        if unrepresented:
            lost = int(target[unrepresented].sum())
            notes.append(f"{c}: {lost:,} customers in levels with no respondent ({', '.join(map(str, unrepresented[:5]))}) "
                         "cannot be represented and are left out of its targets.")
            target = target.drop(unrepresented)
        codes, uniques = pd.factorize(r)
        uniques = [str(u) for u in np.asarray(uniques, dtype=object)]
        cols.append((c, codes, target.reindex(uniques).to_numpy(float), uniques))
    def n_eff(w: np.ndarray) -> float:  # Kish's, of the weights of single customers
        return kish_n_eff(w) if counts is None else float(w.sum() ** 2 / np.sum(w**2 / cnt)) if len(w) else 0.0

    counted = None if counts is None else int(round(n_resp))
    if not cols or n == 0:
        weights = pd.Series(cnt * (n_base / n_resp) if n else np.zeros(0), index=respondents.index, name="weight")
        return RakingResult(weights, [], True, 0, n_eff(weights.to_numpy()), notes, n_respondents=counted)
    # every margin's targets are scaled to one common total, so the margins are consistent
    total = min(t.sum() for _, _, t, _ in cols)
    cols = [(c, codes, t * total / t.sum(), u) for c, codes, t, u in cols]
    w *= total / n_resp
    scale = total / n_resp
    g = [np.ones(len(t)) for _, _, t, _ in cols]  # each level's adjustments, multiplied up
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        for k, (_, codes, target, _) in enumerate(cols):
            current = np.bincount(codes, weights=w, minlength=len(target))
            f = target / np.where(current > 0, current, 1.0)
            w *= f[codes]
            g[k] *= f
        worst = max(np.max(np.abs(np.bincount(codes, weights=w, minlength=len(t)) / t - 1)) for _, codes, t, _ in cols)
        if worst < tol:
            converged = True
            break
    if not converged:
        notes.append(f"Raking did not converge in {max_iter} passes (largest margin error {worst:.1e}): the "
                     "covariates' levels may be too fine for the respondents; weights are from the last pass.")
    rows = []
    for c, codes, target, uniques in cols:
        got = np.bincount(codes, weights=w, minlength=len(target))
        k_resp = np.bincount(codes, weights=cnt, minlength=len(target))
        rows += [dict(covariate=c, level=lv, base=t, respondents=int(round(k)), weighted=g)
                 for lv, t, k, g in zip(uniques, target, k_resp, got, strict=True)]
    weights = pd.Series(w, index=respondents.index, name="weight")
    factors = {c: dict(zip(u, gk.tolist(), strict=True)) for (c, _, _, u), gk in zip(cols, g, strict=True)}
    cuts = {c: _cuts(base[c].astype(float).to_numpy(), bands.get(c), quantile_bands, bcnt).tolist()
            for c in factors if _banded(base[c], quantile_bands)}
    return RakingResult(weights, [c for c, *_ in cols], converged, it, n_eff(w), notes, pd.DataFrame(rows),
                        n_respondents=counted, scale=scale, factors=factors, cuts=cuts)


def weighting_columns(config) -> list[str]:
    """The covariates raked on: ``weighting.by``, else the configured covariates (default plan,
    region and tenure_months)."""
    by = config.weighting.get("by")
    if by:
        return list(by)
    return list(config.covariates) if config.covariates is not None else list(DEFAULT_BY)


def _describe(result: RakingResult, base: pd.DataFrame, quantile_bands: int, bands: Mapping) -> str:
    parts = []
    for c in result.by:
        if _banded(base[c], quantile_bands):
            k = len(bands[c]) - 1 if c in bands else quantile_bands
            parts.append(f"{words(c)} in {k} bands")
        else:
            parts.append(words(c))
    return "raking on " + ", ".join(parts) if parts else "none (no usable covariate)"


def weight_to_base(
    respondents: pd.DataFrame,
    nonrespondents: pd.DataFrame,
    config,
) -> tuple[pd.Series | None, list[dict]]:
    """Weights that rake each quarter's respondents to that quarter's whole base.

    Parameters
    ----------
    respondents : DataFrame
        Canonical rows with a CX score (``quarter`` and the covariates).
    nonrespondents : DataFrame
        Rows of the same export with no CX score.
    config : Config
        ``weighting`` (method and columns) and ``segments.bands`` / ``quantile_bands`` for the
        numeric covariates' bands.

    Returns
    -------
    weights : Series or None
        Aligned with ``respondents``; None when no weighting applies (no non-respondents, weighting
        turned off, or the export brings its own ``weight`` column). A quarter without
        non-respondents gets weight 1 for every respondent.
    response : list of dict
        Per quarter: ``quarter, base, respondents, rate, weighting, n_eff, design_effect,
        converged, notes``.

    Notes
    -----
    Each quarter is raked on its own (:func:`rake`), so each quarter's weights sum to that quarter's
    base (less customers in levels with no respondent, noted). A quarter whose base has no
    non-respondent keeps weights of 1.
    """
    method = config.weighting.get("method", "raking")
    by = weighting_columns(config)
    bands = {c: e for c, e in config.segments.get("bands", {}).items()}
    qb = int(config.segments.get("quantile_bands", 4))
    rq = respondents["quarter"].astype(str)
    nq = nonrespondents["quarter"].astype(str) if len(nonrespondents) else pd.Series([], dtype=str)
    own = "weight" in respondents and respondents["weight"].notna().any()
    apply = method == "raking" and len(nonrespondents) > 0 and not own
    weights = pd.Series(1.0, index=respondents.index, name="weight") if apply else None
    out = []
    for q in sorted(set(rq.unique()) | set(nq.unique())):
        resp, non = respondents[rq == q], nonrespondents[nq == q] if len(nonrespondents) else nonrespondents
        n_base = len(resp) + len(non)
        info = {"quarter": q, "base": n_base, "respondents": len(resp),
                "rate": len(resp) / n_base if n_base else float("nan"),
                "n_eff": float(len(resp)), "design_effect": 1.0, "converged": True, "notes": []}
        if len(non) == 0:
            info["weighting"] = NO_NONRESPONDENTS
        elif own:
            info["weighting"] = "the export's own weight column"
            info["n_eff"] = kish_n_eff(resp["weight"].dropna().to_numpy(float))
        elif method != "raking":
            info["weighting"] = "none (turned off in cx.yaml: the NPS describes respondents)"
        elif len(resp) == 0:
            info["weighting"] = "none (no respondents)"
        else:
            cols = [c for c in by if c in resp or c in non]
            base = pd.concat([resp[[c for c in cols if c in resp]], non[[c for c in cols if c in non]]],
                             ignore_index=True)
            r = rake(resp, base, by, bands=bands, quantile_bands=qb)
            weights.loc[resp.index] = r.weights.to_numpy()
            info.update(weighting=_describe(r, base, qb, bands), n_eff=r.n_eff, design_effect=r.design_effect,
                        converged=r.converged, notes=r.notes)
        out.append(info)
    return weights, out


def response_by_quarter(response: Sequence[Mapping]) -> pd.DataFrame:
    """The per-quarter response table of :func:`weight_to_base`: ``quarter, base, respondents,
    rate, n_eff, weighting``."""
    cols = ["quarter", "base", "respondents", "rate", "n_eff", "weighting"]
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in response], columns=cols)


def ordered_levels(levels, banded: bool) -> list[str]:
    """Levels in reading order, missing last: bands ``[a, b)`` by their lower edge, others
    alphabetically."""
    if banded:
        return sorted(levels, key=lambda lv: (lv == MISSING, float(lv[1:].split(",")[0]) if lv != MISSING else 0.0))
    return sorted(levels, key=lambda lv: (lv == MISSING, lv))


def compare_margins(
    respondents: pd.DataFrame,
    nonrespondents: pd.DataFrame,
    config,
    *,
    weight: str | None = "weight",
) -> pd.DataFrame:
    """Respondents against the base on each weighting covariate.

    Parameters
    ----------
    respondents, nonrespondents : DataFrame
        One quarter's rows with and without a CX score.
    config : Config
        The weighting covariates and their bands (as :func:`weight_to_base`).
    weight : str, optional
        The respondents' weight column (ignored when absent).

    Returns
    -------
    DataFrame
        ``covariate, level, base_share, respondents_share, weighted_share, difference`` (shares
        0-1; ``difference`` = respondents' share minus the base's, what weighting corrects).
        Numeric covariates in the same bands as the raking. Empty when no covariate is present,
        and when there are no non-respondents (the respondents are then the base: nothing to compare).
    """
    if len(nonrespondents) == 0:
        return pd.DataFrame(columns=["covariate", "level", "base_share", "respondents_share", "weighted_share",
                                     "difference"])
    by = [c for c in weighting_columns(config) if c in respondents]
    bands = dict(config.segments.get("bands", {}))
    qb = int(config.segments.get("quantile_bands", 4))
    w = (respondents[weight].to_numpy(float) if weight and weight in respondents
         else np.ones(len(respondents)))
    rows = []
    for c in by:
        # an absent column keeps the respondents' dtype: an empty object Series would turn a numeric
        # covariate into text on concatenation (tenure compared as "1.0", "10.0", ..., not in bands)
        non = (nonrespondents[c] if c in nonrespondents
               else pd.Series(index=nonrespondents.index, dtype=respondents[c].dtype))
        base_col = pd.concat([respondents[c], non], ignore_index=True)
        n_unique = base_col.nunique()
        if n_unique < 2:
            continue
        r, b = _levels(respondents[c], base_col, bands.get(c), qb)
        # shares from the level codes (the categories are text labels, none missing): counting
        # codes instead of text values of a million rows
        base_share, resp_share = _code_shares(b), _code_shares(r)
        ok = ~np.isnan(w)
        r_codes = r.cat.codes.to_numpy()[ok]
        wsum = pd.Series(w[ok]).groupby(r_codes).sum()  # weighted totals of the levels present
        wsum.index = [str(r.cat.categories[i]) for i in wsum.index]
        wshare = wsum / wsum.sum() if wsum.sum() > 0 else wsum
        levels = ordered_levels(set(base_share) | set(resp_share), _banded(base_col, qb, n_unique))
        for lv in levels:
            rows.append(dict(covariate=c, level=lv, base_share=float(base_share.get(lv, 0.0)),
                             respondents_share=float(resp_share.get(lv, 0.0)),
                             weighted_share=float(wshare.get(lv, 0.0))))
    out = pd.DataFrame(rows, columns=["covariate", "level", "base_share", "respondents_share", "weighted_share"])
    out["difference"] = out["respondents_share"] - out["base_share"]
    return out


def _code_shares(levels: pd.Series) -> dict[str, float]:
    """Share of each level present in a categorical of text labels (no missing codes)."""
    counts = np.bincount(levels.cat.codes.to_numpy(), minlength=len(levels.cat.categories))
    shares = counts / counts.sum()
    return {str(lv): float(v) for lv, v in zip(levels.cat.categories, shares, strict=True) if v > 0}


def band_words(level: str) -> str:
    """A band label ``[a, b)`` of :func:`rake` in words: ``[-inf, 5.0)`` -> "under 5",
    ``[5.0, 13.0)`` -> "5 to under 13", ``[27.0, inf)`` -> "27 or more"; other levels unchanged."""
    m = re.fullmatch(r"\[(\S+), (\S+)\)", str(level))
    if not m:
        return str(level)

    def num(text: str) -> str:
        return f"{float(text):,.10g}"

    lo, hi = m.groups()
    if lo == "-inf" and hi == "inf":
        return "any value"
    if lo == "-inf":
        return f"under {num(hi)}"
    if hi == "inf":
        return f"{num(lo)} or more"
    return f"{num(lo)} to under {num(hi)}"


def readable_margins(margins: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare_margins` for the page: covariates and bands in words (the numbers as they are)."""
    out = margins.copy()
    out["covariate"] = out["covariate"].map(words)
    out["level"] = out["level"].map(band_words)
    return out


def response_summary(respondents: pd.DataFrame, response: Mapping, config) -> str:
    """Plain sentences: who answered, how respondents are weighted, and the NPS both ways.

    Parameters
    ----------
    respondents : DataFrame
        The quarter's respondents (with ``weight`` when weighted).
    response : mapping
        The quarter's ``response`` block (``base, respondents, rate, weighting, n_eff, notes``).
    config : Config
        Categories and interval settings of the NPS.
    """
    from .metrics import configured_nps

    if not response.get("base") or response.get("respondents") == response.get("base"):
        return (f"Every one of the {response.get('respondents', len(respondents)):,} customers in the export has a "
                "CX score: there is no base of non-respondents to weight to, so respondents are not weighted.")
    text = (f"{response['respondents']:,} of the quarter's {response['base']:,} customers answered the survey "
            f"(response rate {response['rate']:.1%}). ")
    raw = configured_nps(respondents.drop(columns="weight", errors="ignore"), config).iloc[0]
    if "weight" in respondents and str(response.get("weighting", "")).startswith("raking"):
        w = configured_nps(respondents, config).iloc[0]
        text += (f"Respondents are weighted to the whole base ({response['weighting']}), so that they match it on "
                 f"each of those covariates; Kish's effective sample size is {w['n_eff']:,.0f} of "
                 f"{len(respondents):,} (design effect {len(respondents) / w['n_eff']:.2f}). NPS weighted to the base: "
                 f"{w['nps']:.1f} (95% CI {w['ci_low']:.1f} to {w['ci_high']:.1f}); respondents' own NPS: "
                 f"{raw['nps']:.1f}. Weighting {shift(w['nps'] - raw['nps'], 1)}. ")
        from .summary import nonresponse_caveat

        text += nonresponse_caveat(response, interval="95% CI")
    else:
        text += (f"Respondents are not weighted ({response.get('weighting')}): the NPS of {raw['nps']:.1f} describes "
                 "those who answered, not every customer.")
    for note in response.get("notes") or []:
        text += f" Note: {note}"
    return text
