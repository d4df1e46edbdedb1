"""NPS categories, business segments and segment profiles.

A segment profile states, per segment: size, share, NPS with its interval, CSAT, spend, churn,
returns rate, CLV and health, and whether its NPS, and its churn rate, differ from the rest of
the customers after a Holm correction over every segment in the table.

Minimum size: a segment is tested against the rest only when it holds at least
``segments.min_size`` scored respondents (default 30). Smaller segments are still shown, with
their NPS and its interval, but flagged ``"too small to test"``: no p-value, and ``differs`` is
missing (``<NA>``), not False. They are never named as the highest or lowest segment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr  # normal tail without importing scipy.stats

from .metrics import (
    clv_simple,
    clv_simple_interval,
    health_score,
    nps_from_counts,
    two_proportion_p,
    wilson_interval,
)
from .schema import MAX_AGE

__all__ = [
    "CATEGORY_ORDER", "nps_category", "band", "add_segments", "profile", "holm", "score_counts",
    "category_shares", "unsegmented", "churn_holm_together", "missing_as_segments", "segment_others",
    "others_columns", "band_rules", "BandRule", "for_results", "size_column", "profile_columns",
]

CATEGORY_ORDER = ["detractor", "passive", "promoter"]
CATEGORY_ORDER_PLURAL = ["detractors", "passives", "promoters"]


def nps_category(score: pd.Series, *, promoter_min: float = 9, detractor_max: float = 6) -> pd.Series:
    """Promoter / passive / detractor from a score (missing stays missing).

    Returns
    -------
    Series
        Categorical with categories ``detractor, passive, promoter`` in that order.
    """
    s = score.astype(float).to_numpy()
    # codes into CATEGORY_ORDER (-1: missing), not a text value per row
    codes = np.where(s >= promoter_min, 2, np.where(s <= detractor_max, 0, 1)).astype(np.int8)
    codes[np.isnan(s)] = -1
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(CATEGORY_ORDER)), index=score.index)


def band(series: pd.Series, *, edges: Sequence[float] | None = None, q: int = 4,
         top: float | None = None, weights: pd.Series | np.ndarray | None = None) -> pd.Series:
    """Cut a numeric column into bands: explicit ``edges`` ([a, b) intervals) or ``q`` quantiles.

    Labels are readable, e.g. ``"25-34"`` for integer edges or ``"second quartile (310–520)"`` for
    quantiles (never "Q2", which reads as a calendar quarter). ``top``: the largest valid value of
    the column (:data:`cxanalysis.schema.MAX_AGE` for age); when the last edge reaches it, the last
    band keeps it too and reads ``"65+"`` (not ``"65-119"``). Quantile bands of whole numbers name
    the whole numbers they hold: ``(2, 5]`` reads ``"3–5"``, and the next band starts at 6, so
    no value seems to sit in two bands; their edges are chosen as near to equal counts as ties
    allow (:func:`_nearest_share_edges`), so the band sizes shown beside them are as even as the
    data permit. With ``weights`` (respondents weighted to the base) the bands are quantiles of
    the base: each edge is the value whose weighted share at or below it is nearest ``k / q``, so
    a "quartile" holds about a quarter of the customers the respondents stand for (a missing or
    non-positive weight counts 0).
    """
    return _band_rule(series, edges=edges, q=q, top=top, weights=weights)(series)


def _band_rule(series: pd.Series, *, edges: Sequence[float] | None = None, q: int = 4, top: float | None = None,
               weights: pd.Series | np.ndarray | None = None):
    """The cut :func:`band` makes of ``series``, as a function of a series (so other customers can
    be put in the same bands: :func:`band_rules` cuts on every customer, so none is beyond
    the edges)."""
    s = series.astype(float)
    if edges is not None:
        e = [float(x) for x in edges]
        labels = [f"{_n(a)}-{_n(b - 1) if float(b).is_integer() else _n(b)}" for a, b in zip(e[:-1], e[1:], strict=True)]
        if top is not None and e[-1] >= top:
            labels[-1] = f"{_n(e[-2])}+"
            e[-1] = np.nextafter(e[-1], np.inf)  # [a, b]: the top value belongs to the last band
        return lambda x: pd.cut(x.astype(float), e, right=False, labels=labels)
    values = s.to_numpy()
    ok = ~np.isnan(values)
    known = values[ok]
    whole = bool(np.all(np.mod(known, 1) == 0))
    w = None
    if weights is not None:
        w = np.asarray(weights, float)[ok]
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if not w.sum() > 0:
            w = None
    if (whole or w is not None) and len(known):
        qs = _nearest_share_edges(known, q, w)
        if not whole:  # bands (a, b] of any numbers: the first holds the smallest value too
            qs[0] = np.nextafter(known.min(), -np.inf)
        qs = np.unique(qs)
    else:
        qs = np.unique(np.nanquantile(s, np.linspace(0, 1, q + 1)))
    whole_labels = whole or w is not None
    if len(qs) < 3:
        return lambda x: pd.Series(pd.Categorical(np.where(x.notna(), "all", None)), index=x.index)
    if whole_labels and not whole:  # (a, b] named by the values it holds: from the next value up to b
        above = np.unique(known)
        lows = [above[np.searchsorted(above, a, "right")] for a in qs[:-1]]
        labels = [f"{_quantile_word(i, len(qs) - 1)} ({_n(lo) if lo == b else f'{_n(lo)}–{_n(b)}'})"
                  for i, (lo, b) in enumerate(zip(lows, qs[1:], strict=True))]
    else:
        labels = [f"{_quantile_word(i, len(qs) - 1)} ({_span(a, b, i == 0 and not whole, whole)})"
                  for i, (a, b) in enumerate(zip(qs[:-1], qs[1:], strict=True))]
    return lambda x: pd.cut(x.astype(float), qs, include_lowest=not whole_labels, labels=labels, duplicates="drop")


def _nearest_share_edges(values: np.ndarray, q: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Edges of ``q`` bands of whole numbers as near to equal counts as their ties allow.

    Ties make exact quantile bands impossible (a quarter of the customers may sit on one value).
    Each inner edge is the value whose cumulative share (the share at or below it) is nearest the
    target ``k / q`` (the lower value when two are equally near), so a band takes a tied value
    only when that brings it nearer its share. The edges bound bands ``(a, b]``: the first edge
    is one below the smallest value (so the smallest value can make a band of its own), the last
    is the largest value. With ``weights`` the shares are weighted (each value counts its weight)."""
    u, inverse = np.unique(values, return_inverse=True)
    counts = np.bincount(inverse, weights=weights, minlength=len(u))
    share = np.cumsum(counts) / counts.sum()
    inner = [u[int(np.argmin(np.abs(share - k / q)))] for k in range(1, q)]
    return np.array([u[0] - 1, *inner, u[-1]], dtype=float)


def _span(a: float, b: float, first: bool, whole: bool) -> str:
    """The values of the band ``(a, b]`` (``[a, b]`` for the first), as a reader counts them:
    for whole-number edges, the whole numbers it holds."""
    if not whole:
        return f"{_n(a)}–{_n(b)}"
    lo = a if first else a + 1
    return _n(lo) if lo == b else f"{_n(lo)}–{_n(b)}"


_PARTS = {2: "half", 3: "third", 4: "quartile", 5: "quintile", 10: "decile"}
_ORDINALS = ["second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]


def _quantile_word(i: int, q: int) -> str:
    """``"lowest quartile"``, ``"second quartile"``, ..., ``"highest quartile"`` for band ``i`` of ``q``."""
    part = _PARTS.get(q)
    if part is None:
        return f"band {i + 1} of {q}"
    if i == 0:
        return f"lowest {part}"
    if i == q - 1:
        return f"highest {part}"
    return f"{_ORDINALS[i - 1]} {part}"


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.1f}"


def add_segments(data: pd.DataFrame, config, *, others: pd.DataFrame | None = None,
                 rules: dict[str, BandRule] | None = None) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Add ``cx_category``, ``health_score`` and a segment column per configured dimension.

    A numeric dimension without configured edges is cut into ``segments.quantile_bands`` bands of
    equal shares of the customers: of every customer when ``others`` (the quarter's customers who
    did not answer) hold the column, otherwise of the respondents weighted to the base
    (:func:`band_rules`; :func:`segment_others` puts ``others`` in the same bands). ``rules``, when
    given, are those bands already cut (``band_rules(data, config, others)``), so a caller that
    also calls :func:`segment_others` cuts them once.

    Returns
    -------
    data : DataFrame
        A copy with the new columns (numeric dimensions as ``<column>_band``).
    dimensions : list of str
        The segment columns added, in the configured order.
    skipped : dict
        Dimension -> why it was skipped.
    """
    out = data.copy()
    cats = config.categories
    out["cx_category"] = nps_category(out[cats["score"]], promoter_min=cats["promoter_min"],
                                      detractor_max=cats["detractor_max"])
    out["health_score"] = health_score(out, weights=config.health_score["weights"], score=cats["score"],
                                       scale=config.scales.get(cats["score"], [0, 10]))
    if rules is None:
        rules = band_rules(data, config, others)
    dims, skipped = [], {}
    for dim in config.segments["dimensions"]:
        if dim not in out or out[dim].notna().sum() == 0:
            skipped[dim] = f"no {dim} column"
            continue
        if dim in rules:
            name = f"{dim}_band"
            out[name] = rules[dim].cut(out[dim])
            dims.append(name)
        else:
            out[dim] = out[dim].astype("category")
            dims.append(dim)
    return out, dims, skipped


#: The CRM columns a segment's census figures are computed from (:func:`segment_others`).
CENSUS_COLUMNS = ("quarter", "spend", "churned", "returns", "orders")


def others_columns(config) -> list[str]:
    """The columns :func:`segment_others` needs of the customers who did not answer: the
    configured segment dimensions and :data:`CENSUS_COLUMNS`."""
    return list(dict.fromkeys([*CENSUS_COLUMNS, *config.segments["dimensions"]]))


@dataclass(frozen=True)
class BandRule:
    """How a numeric segment dimension is cut into bands (:func:`band_rules`).

    ``cut`` maps a numeric series to its band labels; ``census`` is whether the bands are
    quantiles of every customer (the respondents and the customers who did not answer alike)
    rather than of the respondents weighted to the base, or configured edges.
    """

    cut: Callable[[pd.Series], pd.Series]
    census: bool


def _is_numeric_dimension(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not isinstance(column.dtype, pd.CategoricalDtype)


def band_rules(respondents: pd.DataFrame, config, others: pd.DataFrame | None = None) -> dict[str, BandRule]:
    """The band rule of every numeric segment dimension the respondents hold a value of.

    Configured edges (``segments.bands``) are used as they are. Otherwise the bands are
    ``segments.quantile_bands`` quantiles of every customer, respondents and ``others`` (the
    quarter's customers who did not answer) each counting one, when ``others`` hold a value of the
    dimension: a quartile then holds a quarter of the customers whose figures it shows. Without
    ``others``, they are quantiles of the respondents weighted to the base (the weights standing
    them for the customers). Labels name the values the bands hold; ages are capped at
    :data:`~cxanalysis.schema.MAX_AGE`.
    """
    seg = config.segments
    weights = respondents["weight"] if "weight" in respondents else None
    rules = {}
    for dim in seg["dimensions"]:
        if dim not in respondents or respondents[dim].notna().sum() == 0 or not _is_numeric_dimension(respondents[dim]):
            continue
        values, w, census = respondents[dim].astype(float), weights, False
        edges = seg["bands"].get(dim)
        if edges is None and others is not None and dim in others:
            theirs = pd.to_numeric(others[dim], errors="coerce").astype(float)
            if theirs.notna().any():
                values, census = pd.concat([values, theirs], ignore_index=True), True
                w = np.ones(len(values))  # each customer counts one: the same edges and labels as the weighted cut's
        rules[dim] = BandRule(_band_rule(values, edges=edges, q=seg["quantile_bands"],
                                         top=MAX_AGE if dim == "age" else None, weights=w), census)
    return rules


def segment_others(others: pd.DataFrame | None, respondents: pd.DataFrame, config, *,
                   rules: dict[str, BandRule] | None = None) -> pd.DataFrame | None:
    """The customers who did not answer (``others``: the quarter's non-respondents) in the segments
    :func:`add_segments` cuts ``respondents`` into, for figures over every customer of a segment
    (:func:`profile` and :func:`unsegmented` with ``others``).

    A numeric dimension's bands are those :func:`add_segments` cuts with the same ``others``
    (:func:`band_rules`; pass the same ``rules`` to both to cut them once): quantiles of every customer, or configured edges, the same edges and
    labels on both sides of the survey (``attrs["census_bands"]`` names the dimensions cut on
    every customer). A
    category no respondent has stays as it is: those customers are in no row of the profile (it
    has no score to show) but in every segment's rest. None when ``others`` is None or empty.
    """
    if others is None or not len(others):
        return None
    if rules is None:
        rules = band_rules(respondents, config, others)
    out = others.copy()
    out.attrs["census_bands"] = []
    for dim in config.segments["dimensions"]:
        if dim not in respondents or respondents[dim].notna().sum() == 0 or dim not in out:
            continue
        if dim in rules:
            out[f"{dim}_band"] = rules[dim].cut(pd.to_numeric(out[dim], errors="coerce"))
            if rules[dim].census:
                out.attrs["census_bands"].append(dim)
        else:
            out[dim] = out[dim].astype("category")
    return out


def unsegmented(data: pd.DataFrame, dimensions: Sequence[str], config, *, others: pd.DataFrame | None = None
                ) -> pd.DataFrame:
    """The respondents each segment dimension leaves out (its value is missing), beside the rest.

    A dimension's segments cover only the respondents with a value; those without one are in
    none of them, and they are rarely like the others (an export that lacks tenure for new
    accounts, say). Per dimension with such respondents: ``dimension, n, share`` (of the
    respondents, weighted when ``weight`` is present), their ``nps, nps_ci_low, nps_ci_high``
    against ``nps_rest``, and their churn rate against the rest's (``churn, churn_ci_low,
    churn_ci_high, churn_rest``) when ``churned`` is present, with ``leavers_share`` (their share
    of every respondent who churned) and the test of the two rates, ``churn_p_rest`` (the pooled
    two-proportion z-test on Kish's effective numbers, as for a segment), ``churn_p_holm`` and
    ``churn_differs``. Groups below ``segments.min_size`` respondents are not tested. Holm's
    correction runs over these groups alone; :func:`churn_holm_together` runs it over them and
    the segments together, so a missing group is held to the same bar as the segments it sits
    beside. Empty when every dimension is complete.

    With ``others`` (:func:`segment_others`) the churn columns are over every customer without a
    value, respondents or not, against every customer with one, unweighted (tested when at least
    ``segments.min_size`` of them have a churn value); ``customers`` counts them and ``share`` is
    their share of every customer. ``n`` and the score stay the respondents'.
    """
    from .metrics import configured_nps, proportion
    from .weighting import kish_n_eff

    score = config.categories["score"]
    answered = data[data[score].notna()]
    w = answered["weight"].to_numpy(float) if "weight" in answered else np.ones(len(answered))
    # the census: every customer of the quarter, whether or not they gave this score
    crm, _, wc, census = _census_frame(answered if others is None else data, dimensions, others)
    rows = []
    for dim in dimensions:
        missing = answered[dim].isna().to_numpy()
        if not missing.any() or missing.all():
            continue
        parts = {"missing": answered[missing], "rest": answered[~missing]}
        nps = {k: configured_nps(v, config).iloc[0] for k, v in parts.items()}
        out_of = crm[dim].isna().to_numpy()
        row = dict(dimension=dim, n=int(missing.sum()), **({"customers": int(out_of.sum())} if census else {}),
                   share=float(out_of.mean() if census else w[missing].sum() / w.sum()),
                   nps=float(nps["missing"]["nps"]), nps_ci_low=float(nps["missing"]["ci_low"]),
                   nps_ci_high=float(nps["missing"]["ci_high"]), nps_rest=float(nps["rest"]["nps"]))
        if "churned" in crm and crm["churned"].notna().any():
            weight = "weight" if "weight" in crm and not census else None
            churn = {k: proportion(v, column="churned", weight=weight, alpha=config.alpha).iloc[0]
                     for k, v in {"missing": crm[out_of], "rest": crm[~out_of]}.items()}
            row.update(churn=float(churn["missing"]["rate"]), churn_ci_low=float(churn["missing"]["ci_low"]),
                       churn_ci_high=float(churn["missing"]["ci_high"]), churn_rest=float(churn["rest"]["rate"]))
            has = crm["churned"].notna().to_numpy() & (wc > 0)
            left = np.where(has, wc * crm["churned"].fillna(0).to_numpy(float), 0.0)
            row["leavers_share"] = float(left[out_of].sum() / left.sum()) if left.sum() > 0 else np.nan
            if (has & out_of).sum() >= config.segments["min_size"] if census else missing.sum() >= config.segments["min_size"]:
                row["churn_p_rest"] = two_proportion_p(row["churn"], kish_n_eff(wc[has & out_of]), row["churn_rest"],
                                                       kish_n_eff(wc[has & ~out_of]))
        rows.append(row)
    cols = ["dimension", "n", *(["customers"] if census else []), "share", "nps", "nps_ci_low", "nps_ci_high",
            "nps_rest", "churn", "churn_ci_low", "churn_ci_high", "churn_rest", "leavers_share", "churn_p_rest"]
    table = pd.DataFrame(rows, columns=cols)
    return _with_churn_holm(table, holm(table["churn_p_rest"].to_numpy(float)), config.alpha)


def _with_churn_holm(table: pd.DataFrame, adjusted: np.ndarray, alpha: float) -> pd.DataFrame:
    """``table`` with ``churn_p_holm`` (``adjusted``) and ``churn_differs`` (it below ``alpha``;
    missing where it is)."""
    out = table.copy()
    out["churn_p_holm"] = adjusted
    differs = pd.array(adjusted < alpha, dtype="boolean")
    differs[np.isnan(adjusted)] = pd.NA
    out["churn_differs"] = differs
    return out


#: The columns of :func:`unsegmented` under the names of :func:`profile`'s, for a missing group
#: read as one more segment of its dimension.
MISSING_AS_SEGMENT = {"churn": "churn_rate", "churn_ci_low": "churn_rate_ci_low", "churn_ci_high": "churn_rate_ci_high",
                      "nps_ci_low": "ci_low", "nps_ci_high": "ci_high"}


def missing_as_segments(table: pd.DataFrame) -> pd.DataFrame:
    """The groups a dimension leaves out (:func:`unsegmented`) as rows of a :func:`profile` table:
    the dimension's own name, the segment "no value", the profile's column names."""
    out = table.rename(columns=MISSING_AS_SEGMENT)
    out["dimension"] = out["dimension"].astype(str).str.removesuffix("_band")
    out.insert(1, "segment", "no value")
    return out


def churn_holm_together(table: pd.DataFrame, missing: pd.DataFrame, alpha: float
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The segments' churn tests (:func:`profile`) and those of the groups a dimension leaves out
    (:func:`unsegmented`) corrected together by Holm's method: copies of both tables with
    ``churn_p_holm`` and ``churn_differs`` over the one family, so neither is held to a lower bar
    than the other. Tables without churn tests come back unchanged."""
    if "churn_p_rest" not in table or missing.empty or "churn_p_rest" not in missing:
        return table, missing
    p = np.concatenate([table["churn_p_rest"].to_numpy(float), missing["churn_p_rest"].to_numpy(float)])
    keys = np.concatenate([one_test_keys(table, "churn_p_rest"), len(table) + np.arange(len(missing))])
    adjusted = holm(p, keys)
    return (_with_churn_holm(table, adjusted[: len(table)], alpha),
            _with_churn_holm(missing, adjusted[len(table):], alpha))


def one_test_keys(table: pd.DataFrame, column: str) -> np.ndarray:
    """A key per row of a :func:`profile` table, shared by rows that are one test: the two segments
    of a dimension with exactly two, whose tests against the rest (each other) give the same
    p-value in ``column``. Holm (:func:`holm`) counts such a pair once; with respondents missing
    the dimension, each segment's rest also holds them, the p-values differ, and both count."""
    keys = np.arange(len(table))
    if "dimension" not in table or not len(table):
        return keys
    dims = table["dimension"].astype(str).to_numpy()
    p = table[column].to_numpy(float)
    for d in pd.unique(dims):
        rows = np.flatnonzero(dims == d)
        if len(rows) == 2 and np.isfinite(p[rows]).all() and np.isclose(p[rows[0]], p[rows[1]], rtol=1e-9, atol=0):
            keys[rows[1]] = keys[rows[0]]
    return keys


def holm(p: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN left as NaN). ``same``: a key per p-value; p-values
    sharing one are one test, counted once (:func:`one_test_keys`), and get its adjusted value.

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> holm([0.01, 0.04, 0.04], same=[0, 1, 1]).round(3).tolist()
    [0.02, 0.04, 0.04]
    """
    p = np.asarray(p, float)
    if same is not None:
        same = np.asarray(same)
        first = ~pd.Series(same).duplicated().to_numpy() | np.isnan(p)
        adjusted = np.full_like(p, np.nan)
        adjusted[first] = holm(p[first])
        by_key = dict(zip(same[first & ~np.isnan(p)], adjusted[first & ~np.isnan(p)], strict=True))
        return np.array([by_key.get(k, np.nan) if not np.isnan(v) else np.nan for k, v in zip(same, p, strict=True)])
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    order = np.argsort(q)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * q[i])
        adj[i] = min(running, 1.0)
    out = np.full_like(p, np.nan)
    out[ok] = adj
    return out


def profile(data: pd.DataFrame, dimensions: Sequence[str], config, *, exact: pd.DataFrame | None = None,
            quarter: str | None = None, others: pd.DataFrame | None = None) -> pd.DataFrame:
    """Profile every segment of every dimension (``data`` from :func:`add_segments`).

    Returns
    -------
    DataFrame
        ``dimension, segment, n, share, nps, ci_low, ci_high, promoters, passives, detractors,
        csat, spend, churn_rate, churn_rate_ci_low, churn_rate_ci_high, churn_rest, churn_p_rest,
        leavers_share, returns_rate, clv, clv_ci_low, clv_ci_high, health, diff_vs_rest, p_value, p_holm, differs, churn_p_holm,
        churn_differs, tested, note`` — the category columns are shares of the segment's scored (weighted)
        customers, so ``nps = 100 * (promoters - detractors)``; ``differs`` is True
        when the segment's NPS differs from the rest at ``alpha`` after Holm's correction over all
        segments in the table; segments with fewer than ``segments.min_size`` scored
        respondents are not tested: ``tested`` is False, ``note`` says "too small to test
        (n < min_size)", and ``p_value``, ``p_holm`` and ``differs`` are missing. The NPS
        interval always contains the NPS (:func:`cxanalysis.metrics.nps`). ``churn_rest`` is the
        churn rate of every other customer, and ``churn_differs`` is True when the segment's churn
        rate differs from it at ``alpha`` after Holm's correction over the segments tested (the
        same minimum size; missing when untested or the export has no churn). ``leavers_share`` is
        the segment's share of every customer who churned (weighted), beside ``share``, its share of
        the scored customers: how much of the leaving it holds, not only how often its customers leave.

    Notes
    -----
    Aggregates are computed in one grouped pass per dimension. The NPS interval is the
    configured method; the test against the rest is a two-sample z-test on the Wald variances of
    the segment and of the rest of the scored customers, each on its own effective sample size;
    the churn test against the rest is the pooled two-proportion z-test on Kish's effective numbers
    (:func:`cxanalysis.metrics.two_proportion_p`).
    ``returns_rate`` is returns per order (ratio of totals over customers with both); ``clv`` is
    the simple CLV (margin x mean spend / churn rate, both over the customers with spend and churn,
    as the dashboard's CLV), with ``clv_ci_low, clv_ci_high`` by the same delta method on its log
    (:func:`cxanalysis.metrics.clv_simple_interval`); unbounded (inf, no interval) where nobody
    churned. The churn rate's interval is Wilson's, on
    Kish's effective number of customers with a churn value (their count when unweighted).

    **Weights.** With a ``weight`` column, the category shares, NPS, ``share`` and every mean
    (csat, spend, churn_rate, health) are weighted (``sum w x / sum w`` over the rows with a
    value), ``returns_rate`` is ``sum w returns / sum w orders``, and both the segment's and the
    rest's NPS variances use Kish's effective sample size ``(sum w)^2 / sum w^2`` of their scored
    customers. Rows with a missing weight count as unweighted-out (weight 0). A constant weight
    gives the unweighted table (to rounding).

    **Exact tables.** With ``exact`` (``RunContext.exact("nps_segments")``) and ``quarter``, the
    NPS, its interval, category shares and ``n`` of every segment the exact table holds (the
    categorical dimensions) are the engine's, over every row of the export; the other columns,
    the numeric dimensions' bands and the test against the rest come from ``data`` (every row, or
    the run's weighted sample).

    **Every customer.** With ``others`` (the quarter's customers who did not answer, in the same
    segments: :func:`segment_others`) the CRM's figures of a segment are over every customer in it,
    respondents or not, unweighted, as the dashboard's (:func:`cxanalysis.metrics.with_base`):
    ``spend``, ``churn_rate`` and its interval and test against every other customer (tested when
    at least ``segments.min_size`` customers have a churn value), ``leavers_share``,
    ``returns_rate`` and ``clv``. ``customers`` counts them and ``share`` is their share of every
    customer. The score, its categories and test, ``n``, ``csat`` and ``health`` stay the
    respondents' (weighted). A segment only non-respondents are in has no row.
    """
    table = _profile(data, dimensions, config, others)
    if exact is None or not len(table):
        return table
    ex = exact if "quarter" not in exact else exact[exact["quarter"].astype(str) == str(quarter)]
    cols = ["n", "nps", "ci_low", "ci_high", "promoters", "passives", "detractors"]
    ex = ex.assign(segment=ex["segment"].astype(str)).set_index(["dimension", "segment"])[cols]
    key = pd.MultiIndex.from_arrays([table["dimension"], table["segment"].astype(str)])
    hit = key.isin(ex.index)
    for c in cols:
        values = ex[c].reindex(key).to_numpy()
        table[c] = np.where(hit, values, table[c].to_numpy())
    table["n"] = table["n"].astype("int64")
    return table


def _churn_against_rest(a: pd.Series, tot: pd.Series, churn: float, churn_n: float,
                        n_eff: Callable[[float, float], float]) -> tuple[float, float]:
    """A segment's rest's churn rate (every other customer with a churn value) and the p-value of
    the segment's against it (:func:`cxanalysis.metrics.two_proportion_p` on Kish's effective
    numbers); NaN for both when the export has no churn or no customer is outside the segment."""
    if "_n_churned" not in tot or not tot["_n_churned"] - a["_n_churned"] > 0:
        return np.nan, np.nan
    rest_w = tot["_n_churned"] - a["_n_churned"]
    rest = (tot["_x_churned"] - a["_x_churned"]) / rest_w
    return rest, two_proportion_p(churn, churn_n, rest, n_eff(rest_w, tot["_n2_churned"] - a["_n2_churned"]))


def _census_frame(data: pd.DataFrame, dimensions: Sequence[str], others: pd.DataFrame | None
                  ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, bool]:
    """``data`` with ``others`` (:func:`segment_others`) below it, the survey weight of each row
    (the respondents' ``weight``, 1 without one; 0 for the others) and the weight of each row in
    the CRM's figures (the survey weight, or 1 for every customer when ``others`` are given: the
    census), and whether it is a census."""
    w = data["weight"].to_numpy(float) if "weight" in data else np.ones(len(data))
    w = np.where(np.isnan(w), 0.0, w)
    if others is None or not len(others):
        return data, w, w, False
    used = [*dimensions, *CENSUS_COLUMNS, "cx_category", "csat", "health_score"]
    mine = data[[c for c in dict.fromkeys(used) if c in data]]
    theirs = others.reindex(columns=[c for c in dict.fromkeys([*dimensions, *CENSUS_COLUMNS]) if c in data or c in others])
    for dim in dimensions:  # one categorical of both sides' values: concatenated and grouped as codes
        if dim in mine and dim in theirs and isinstance(mine[dim].dtype, pd.CategoricalDtype):
            known = mine[dim].cat.categories
            other = theirs[dim] if isinstance(theirs[dim].dtype, pd.CategoricalDtype) else theirs[dim].astype("category")
            new = known.append(other.cat.categories.difference(known))  # the categories only: no row converted
            mine = mine.assign(**{dim: mine[dim].cat.set_categories(new)})
            theirs = theirs.assign(**{dim: other.cat.set_categories(new)})
    frame = pd.concat([mine, theirs], ignore_index=True)
    frame["_respondent"] = np.r_[np.ones(len(data)), np.zeros(len(others))]
    return frame, np.r_[w, np.zeros(len(others))], np.ones(len(frame)), True


def _profile(data: pd.DataFrame, dimensions: Sequence[str], config, others: pd.DataFrame | None = None
             ) -> pd.DataFrame:
    """:func:`profile` from ``data`` (and ``others``) alone."""
    alpha = config.alpha
    data, w, wc, census = _census_frame(data, dimensions, others)
    cat = data["cx_category"]
    scored = cat.notna().to_numpy() & (w > 0)
    ws = w * scored
    base = {
        "_p": ws * (cat == "promoter").to_numpy(), "_d": ws * (cat == "detractor").to_numpy(),
        "_a": ws, "_a2": ws**2, "_r": scored.astype(float),
        "_resp": data["_respondent"].to_numpy(float) if census else np.ones(len(data)), "_all": np.ones(len(data)),
    }
    extra, present = {}, {}
    for col in ("csat", "spend", "churned", "health_score"):
        if col in data:
            x = data[col].astype(float).to_numpy()
            has = ~np.isnan(x)
            v = wc if col in CENSUS_COLUMNS else w  # the CRM's facts over every customer; the survey's, respondents
            extra[f"_x_{col}"] = np.where(has, v * x, 0.0)
            present[f"_n_{col}"] = np.where(has, v, 0.0)
            if col == "churned":  # Kish's n for the churn rate's interval
                present["_n2_churned"] = np.where(has, v**2, 0.0)
    if "spend" in data and "churned" in data:  # the CLV's means and their covariance, over rows with both
        sp, ch = data["spend"].astype(float).to_numpy(), data["churned"].astype(float).to_numpy()
        wb = np.where(np.isnan(sp) | np.isnan(ch), 0.0, wc)
        sp, ch = np.nan_to_num(sp), np.nan_to_num(ch)
        extra.update(_b_w=wb, _b_w2=wb**2, _b_s=wb * sp, _b_c=wb * ch, _b_ss=wb * sp**2, _b_cc=wb * ch**2,
                     _b_sc=wb * sp * ch)
    if "returns" in data and "orders" in data:
        ret, orders = data["returns"].astype(float).to_numpy(), data["orders"].astype(float).to_numpy()
        both = ~(np.isnan(ret) | np.isnan(orders))
        extra["_ret"], extra["_ord"] = np.where(both, wc * ret, 0.0), np.where(both, wc * orders, 0.0)
    # one frame of one float block: each grouped sum below is one pass over the rows, not one
    # per column
    columns = {**base, **extra, **present}
    block = np.empty((len(data), len(columns)), order="F")  # filled in place, a column at a time: one allocation
    for j, v in enumerate(columns.values()):
        block[:, j] = v
    base = pd.DataFrame(block, index=data.index, columns=list(columns), copy=False)
    tot = base[[c for c in ("_p", "_d", "_a", "_a2", "_r", "_all", "_x_churned", "_n_churned", "_n2_churned")
                if c in base]].sum()
    total_w = tot["_all"] if census else tot["_a"]
    margin = config.roi["gross_margin"]
    min_size = config.segments["min_size"]

    def n_eff(a, a2):
        return a**2 / a2 if a2 > 0 else 0.0

    def clv(agg):
        """The segment's simple CLV and its interval, as the dashboard's (metrics.add_clv): at the
        weighted means of spend and churn over its customers with both, the covariance of the two
        means the weighted one x n_eff / (n_eff - 1), over n_eff."""
        if "_b_w" not in agg or not agg["_b_w"] > 0:
            return np.nan, np.nan, np.nan
        W, ne = agg["_b_w"], n_eff(agg["_b_w"], agg["_b_w2"])
        sbar, cbar = agg["_b_s"] / W, agg["_b_c"] / W
        if not ne > 1:
            return clv_simple(sbar, cbar, margin=margin), np.nan, np.nan
        m = np.array([[agg["_b_ss"] - W * sbar**2, agg["_b_sc"] - W * sbar * cbar],
                      [agg["_b_sc"] - W * sbar * cbar, agg["_b_cc"] - W * cbar**2]]) / W / (ne - 1)
        return clv_simple_interval(sbar, cbar, m, margin=margin, alpha=alpha)

    def wmean(agg, col):
        if f"_x_{col}" not in agg:
            return np.nan
        den = agg[f"_n_{col}"]
        return agg[f"_x_{col}"] / den if den > 0 else np.nan

    rows = []
    for dim in dimensions:
        g = base.groupby(data[dim], observed=True)
        sums = g.sum()
        for seg, a in sums.iterrows():
            if not a["_resp"] > 0:  # only customers who did not answer: no score to show, in the rest
                continue
            pas = a["_a"] - a["_p"] - a["_d"]
            ne = n_eff(a["_a"], a["_a2"])
            r = nps_from_counts(a["_p"], pas, a["_d"], ci=config.nps_ci, alpha=alpha, n_eff=ne)
            wald = nps_from_counts(a["_p"], pas, a["_d"], ci="wald", alpha=alpha, n_eff=ne)
            has_rest = tot["_r"] - a["_r"] > 0  # scored customers outside the segment
            if has_rest:
                rp, rd, ra = tot["_p"] - a["_p"], tot["_d"] - a["_d"], tot["_a"] - a["_a"]
                rest = nps_from_counts(rp, ra - rp - rd, rd, ci="wald", alpha=alpha,
                                       n_eff=n_eff(ra, tot["_a2"] - a["_a2"]))
            else:
                rest = {"nps": np.nan, "se": np.nan}
            se = np.hypot(wald["se"], rest["se"])
            diff = wald["nps"] - rest["nps"]
            n = int(a["_resp"])
            large = a["_r"] >= min_size
            churn_large = (a["_n_churned"] >= min_size if census and "_n_churned" in a else large)
            testable = bool(large and has_rest and se > 0 and np.isfinite(se))
            p = 2 * ndtr(-abs(diff / se)) if testable else np.nan
            churn, spend = wmean(a, "churned"), wmean(a, "spend")
            churn_n = n_eff(a["_n_churned"], a["_n2_churned"]) if "_n2_churned" in a else 0.0
            churn_ci = wilson_interval(churn * churn_n, churn_n, alpha) if churn == churn else (np.nan, np.nan)
            churn_rest, churn_p = (_churn_against_rest(a, tot, churn, churn_n, n_eff) if churn_large
                                   else (np.nan, np.nan))
            clv_value, clv_low, clv_high = clv(a)
            rows.append({
                "dimension": dim.removesuffix("_band"), "segment": str(seg), "n": n,
                **({"customers": int(a["_all"])} if census else {}),
                "share": (a["_all"] if census else a["_a"]) / total_w if total_w else np.nan,
                "nps": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "promoters": r["promoters"], "passives": r["passives"], "detractors": r["detractors"],
                "csat": wmean(a, "csat"), "spend": spend, "churn_rate": churn,
                "churn_rate_ci_low": churn_ci[0], "churn_rate_ci_high": churn_ci[1],
                "churn_rest": churn_rest, "churn_p_rest": churn_p,
                "leavers_share": (a["_x_churned"] / tot["_x_churned"] if "_x_churned" in a and tot["_x_churned"] > 0
                                  else np.nan),
                "returns_rate": a["_ret"] / a["_ord"] if "_ord" in a and a["_ord"] > 0 else np.nan,
                "clv": clv_value, "clv_ci_low": clv_low, "clv_ci_high": clv_high,
                "health": wmean(a, "health_score"),
                "diff_vs_rest": diff, "p_value": p, "tested": testable,
                "note": "" if testable else (f"too small to test (n < {min_size:g})" if not large
                                             else "not testable (no variation)"),
            })
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = holm(table["p_value"].to_numpy(float), one_test_keys(table, "p_value"))
        differs = pd.array(table["p_holm"] < alpha, dtype="boolean")
        differs[~table["tested"].to_numpy(bool)] = pd.NA
        table["differs"] = differs
        table["churn_p_holm"] = holm(table["churn_p_rest"].to_numpy(float), one_test_keys(table, "churn_p_rest"))
        churn_differs = pd.array(table["churn_p_holm"] < alpha, dtype="boolean")
        churn_differs[table["churn_p_holm"].isna().to_numpy()] = pd.NA
        table["churn_differs"] = churn_differs
        cols = [c for c in table.columns if c not in ("tested", "note")] + ["tested", "note"]
        table = table[cols]
    return table


#: The columns of a :func:`profile` table results.json keeps (``segments``); ``customers`` only
#: when the segments' CRM figures are over every customer.
RESULT_COLUMNS = ["dimension", "segment", "n", "customers", "share", "nps", "ci_low", "ci_high", "spend",
                  "churn_rate", "churn_rate_ci_low", "churn_rate_ci_high", "churn_rest", "leavers_share",
                  "returns_rate", "clv", "clv_ci_low", "clv_ci_high", "health", "p_holm", "differs", "churn_p_holm",
                  "churn_differs"]


def for_results(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of a :func:`profile` table that results.json keeps (:data:`RESULT_COLUMNS`)."""
    return table[[c for c in RESULT_COLUMNS if c in table]]


def profile_columns(table: pd.DataFrame) -> list[str]:
    """The columns page 02's profile table shows of a :func:`profile` table: both sizes (customers
    and respondents) when the segments' CRM figures are over every customer (spend is then in the
    CLV table beside it), else the respondents and spend."""
    if "customers" in table:
        return ["dimension", "segment", "customers", "n", "nps", "ci_low", "churn_rate", "differs"]
    return ["dimension", "segment", "n", "nps", "ci_low", "spend", "churn_rate", "differs"]


def size_column(table: pd.DataFrame) -> tuple[str, str]:
    """The column of a :func:`profile` table that sizes a segment's spend, churn and CLV, and
    its header: ``("customers", "Customers")`` when they are over every customer, else
    ``("n", "Respondents")``."""
    return ("customers", "Customers") if "customers" in table else ("n", "Respondents")


def score_counts(data: pd.DataFrame, config) -> pd.DataFrame:
    """Respondents per score value with its category: ``score, n, category``.

    Every whole value of the configured scale is listed, those nobody gave with ``n`` 0, so a
    chart of the counts shows the empty ends of the scale instead of starting where the answers
    do (a 0–10 axis that began at 2 would hide that nobody scored 0 or 1)."""
    cats = config.categories
    s = data[cats["score"]].dropna()
    counts = s.value_counts().sort_index()
    scale = config.scales.get(cats["score"])
    if scale is not None and (s % 1 == 0).all():
        every = np.arange(int(scale[0]), int(scale[1]) + 1, dtype=float)
        counts = counts.reindex(np.union1d(every, counts.index.to_numpy(float)), fill_value=0)
    frame = pd.DataFrame({"score": counts.index.astype(float), "n": counts.to_numpy()})
    frame["category"] = nps_category(frame["score"], promoter_min=cats["promoter_min"],
                                     detractor_max=cats["detractor_max"]).astype(str)
    frame["score"] = [int(v) if float(v).is_integer() else v for v in frame["score"]]
    return frame


def category_shares(table: pd.DataFrame, dimension: str | None = None) -> pd.DataFrame:
    """Share of each NPS category within each segment (rows sum to 1), from a :func:`profile` table.

    With ``dimension`` the rows are that dimension's segments; without, every segment, labelled
    with the dimension in words and the segment: "Plan: Basic", "Visits per month: lowest
    quartile (0–2)" (:func:`cxanalysis.fmt.segment_name`).
    """
    from .fmt import segment_name

    t = table if dimension is None else table[table["dimension"] == dimension.removesuffix("_band")]
    labels = (t["segment"] if dimension is not None
              else pd.Series([segment_name(d, s) for d, s in zip(t["dimension"], t["segment"], strict=True)],
                             index=t.index))
    return pd.DataFrame(t[CATEGORY_ORDER_PLURAL].to_numpy(), index=labels.to_numpy(), columns=CATEGORY_ORDER)
