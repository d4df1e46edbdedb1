"""Design matrices built once, straight from column codes, and reused for every model.

A formula engine (patsy, formulaic) is the slow part of fitting on a million rows; the matrices
here hold the same columns, in the same order and with the same reference levels as the formula
``y ~ C(cx, Treatment('passive')) + C(cat1) + ... + num1 + ...`` would, a numeric covariate followed by
the curve terms of its restricted cubic spline, so that every fast fit is checked against the plain
statsmodels fit of that formula (the curve as patsy's ``cr()`` with the same knots) in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fmt import label

__all__ = ["Design", "build_design", "CX_TERMS", "rcs_terms", "spline_knots", "term_of", "SPLINE_KNOTS"]

CX_TERMS = ("cx[T.detractor]", "cx[T.promoter]")

#: Columns the experience may itself change (a consequence of the score as much as a cause): not
#: adjusted for in the outcome models unless configured as covariates, fitted in the adjustment
#: sensitivity (:func:`cxanalysis.models.adjustment_sensitivity`), and not used to explain an NPS
#: change when another dimension can.
MAY_FOLLOW_THE_SCORE = ("visits_per_month", "contract_value")

#: What one step of a numeric covariate is, for coefficient labels ("Tenure (months), per month").
_STEP = {"tenure_months": "per month", "age": "per year", "visits_per_month": "per visit a month",
         "support_tickets": "per ticket", "orders": "per order", "nps_score": "per point", "csat": "per point",
         "ces": "per point"}


#: Knots of a numeric covariate's restricted cubic spline, as quantiles of its values (Harrell,
#: *Regression Modeling Strategies*, 2015, section 2.4.6): four knots, or three where four would
#: not be distinct; a covariate with fewer than ``SPLINE_MIN_VALUES`` distinct values, or whose
#: three knots are not distinct either, enters linearly.
SPLINE_KNOTS = ((0.05, 0.35, 0.65, 0.95), (0.10, 0.50, 0.90))
SPLINE_MIN_VALUES = 10


def spline_knots(x: np.ndarray) -> tuple[float, ...] | None:
    """The knots of ``x``'s restricted cubic spline (:data:`SPLINE_KNOTS`), or None: linear."""
    x = x[np.isfinite(x)]
    if len(np.unique(x)) < SPLINE_MIN_VALUES:
        return None
    for probs in SPLINE_KNOTS:
        t = np.quantile(x, probs)
        if np.all(np.diff(t) > 0):
            return tuple(float(v) for v in t)
    return None


def term_of(name: str) -> str:
    """The covariate a design column belongs to: a curve's bend ``tenure_months[rcs2]`` and its
    linear term ``tenure_months`` both give ``tenure_months``; any other column its own name."""
    return name.split("[rcs", 1)[0]


def rcs_terms(x: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """The non-linear terms of a restricted cubic spline in ``x`` (``len(knots) - 2`` columns).

    Harrell's truncated-power form, each term divided by ``(t_k - t_1)^2`` so that its scale is
    that of ``x``: with ``x`` itself they span the cubic splines with these knots that are linear
    beyond the outer two (natural splines), the space of ``patsy``'s ``cr()`` with the same knots.
    """
    t = np.asarray(knots, float)
    k = len(t)
    cube = lambda v: np.maximum(v, 0.0) ** 3  # noqa: E731
    tail_a, tail_b = cube(x - t[k - 2]), cube(x - t[k - 1])
    span = t[k - 1] - t[k - 2]
    return np.column_stack([(cube(x - t[j]) - tail_a * (t[k - 1] - t[j]) / span + tail_b * (t[k - 2] - t[j]) / span)
                            / (t[k - 1] - t[0]) ** 2 for j in range(k - 2)])


@dataclass(frozen=True)
class Design:
    """A design matrix and what its columns mean.

    Attributes
    ----------
    X : ndarray (n, p)
        Intercept, CX terms, then covariates (dummies for categories, values for numbers).
    names : list of str
        Column names, patsy-style (``plan[T.Pro]``).
    rows : ndarray of int
        Positions in the input frame of the rows kept (complete cases).
    n_dropped : int
        Input rows left out for a missing value in a used column.
    cx : {"category", "score"}
        How CX enters: dummies (reference passive) or the score as a number.
    labels : dict
        Column name -> business-readable label.
    knots : dict
        Numeric covariate -> the knots of its restricted cubic spline (absent: it enters linearly).
    """

    X: np.ndarray
    names: list[str]
    rows: np.ndarray
    n_dropped: int
    cx: str
    labels: dict[str, str]
    knots: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def col(self, name: str) -> int:
        return self.names.index(name)


def _level_codes(s: pd.Series) -> tuple[dict[str, int], np.ndarray]:
    """Each row's level as an integer code, levels named by their text (as ``s.astype(str)``).

    Factorises the column once instead of turning a million values into Python strings; values
    whose text is the same (``1`` and ``"1"``) share a level, as they would as strings.
    """
    raw, uniques = pd.factorize(s, use_na_sentinel=True)
    text = [str(u) for u in uniques]
    index = {t: i for i, t in enumerate(dict.fromkeys(text))}
    remap = np.array([index[t] for t in text] + [-1], dtype=np.int64)  # -1: missing stays missing
    return index, remap[raw]


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s)


def build_design(
    data: pd.DataFrame,
    *,
    covariates: Sequence[str],
    cx: str = "category",
    category: str = "cx_category",
    score: str | None = None,
    extra_required: Sequence[str] = (),
) -> Design:
    """Build the design matrix for CX + covariates on the complete cases.

    Parameters
    ----------
    data : DataFrame
    covariates : list of str
        Adjusted-for columns; categorical ones become treatment dummies (first level in sorted
        order is the reference, as in patsy); numeric ones enter as a restricted cubic spline
        (the value, then its curve terms, :func:`rcs_terms`, knots from :func:`spline_knots` on
        the rows kept), so that a covariate whose link with the outcome bends (churn falling
        steeply over the first months of tenure, then flat) is adjusted for, not a straight line
        through it; with few distinct values, linearly.
    cx : {"category", "score"}
        ``"category"``: dummies for detractor and promoter, reference passive (from ``category``);
        ``"score"``: the numeric ``score`` column (effect per point).
    extra_required : list of str
        Further columns that must be present on a row for it to be kept (e.g. the outcome).

    Returns
    -------
    Design
    """
    cx_col = category if cx == "category" else score
    used = [cx_col, *covariates, *extra_required]
    ok = np.ones(len(data), dtype=bool)
    for c in used:
        ok &= data[c].notna().to_numpy()
    rows = np.flatnonzero(ok)
    d = data.iloc[rows]
    cols = [np.ones(len(d))]
    knots: dict[str, tuple[float, ...]] = {}
    names = ["Intercept"]
    labels = {"Intercept": "Baseline (intercept)"}
    if cx == "category":
        cat = _level_codes(d[category])
        for level, name in zip(("detractor", "promoter"), CX_TERMS, strict=True):
            cols.append((cat[1] == cat[0].get(level, -1)).astype(float))
            names.append(name)
            labels[name] = f"{level.capitalize()} (vs passive)"
    else:
        cols.append(d[score].to_numpy(float))
        names.append(score)
        labels[score] = f"{label(score)} (per point)"
    for c in covariates:
        s = d[c]
        if _is_categorical(s):
            index, codes = _level_codes(s)
            levels = sorted(index)
            for level in levels[1:]:
                name = f"{c}[T.{level}]"
                cols.append((codes == index[level]).astype(float))
                names.append(name)
                labels[name] = f"{label(c)}: {level} (vs {levels[0]})"
        else:
            x = s.to_numpy(float)
            cols.append(x)
            names.append(c)
            t = spline_knots(x)
            if t is None:
                labels[c] = f"{label(c)}, {_STEP.get(c, 'per one more')}"
                continue
            knots[c] = t
            labels[c] = f"{label(c)}: curve, linear term"
            for j, term in enumerate(rcs_terms(x, t).T, start=1):
                cols.append(term)
                names.append(f"{c}[rcs{j}]")  # term_of() reads the covariate back
                labels[f"{c}[rcs{j}]"] = f"{label(c)}: curve, bend {j}"
    X = np.empty((len(d), len(cols)), order="F")  # column-major: faster X'WX on tall matrices
    for j, c in enumerate(cols):
        X[:, j] = c
    return Design(X, names, rows, int(len(data) - len(rows)), cx, labels, knots)


def row_codes(X: np.ndarray) -> np.ndarray:
    """One integer per row of ``X``, equal for equal rows, numbered in order of first appearance
    (0, 1, 2, ...; ``-0.0`` and ``0.0`` one value).

    Each column becomes small integer codes (a 0/1 column is its own code; any other column is
    factorised, by hashing, no sort); they are combined as the digits of one number, and that
    number is factorised again before it could overflow, and at the end."""
    X = np.asarray(X)
    n = len(X)
    codes, radix = np.zeros(n, dtype=np.int64), 1
    for j in range(X.shape[1]):
        col = X[:, j]
        if np.all((col == 0) | (col == 1)):
            digit, k = (col == 1).astype(np.int64), 2
        else:
            digit, levels = pd.factorize(col + 0.0)
            digit, k = digit.astype(np.int64), max(len(levels), 1)
        if radix > (2**62) // k:  # the next digit could overflow: renumber what there is
            codes, uniques = pd.factorize(codes)
            codes, radix = codes.astype(np.int64), max(len(uniques), 1)
        codes = codes + digit * radix
        radix *= k
    return pd.factorize(codes)[0].astype(np.int64)
