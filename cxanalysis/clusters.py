"""Behavioural clusters: segments the business did not define.

:class:`CustomerClusters` scales the chosen behavioural columns (log1p for heavily skewed
non-negative ones, then standardised; categoricals one-hot), picks k over a range by silhouette
(k-means, computed on a sample for large n) or BIC (Gaussian mixture), fits the final model on
every customer, measures stability by the bootstrap adjusted Rand index, and profiles each
cluster with a name stating what sets it apart.

**Gaussian mixtures on counts.** Orders, returns and tickets take a few integer values, many of
them zero. A mixture of continuous densities fitted to such a lattice gains likelihood without
bound by giving a component almost no variance on one value (returns = 0, say): BIC then falls
as k grows and the top of the range wins with a handful of customers in a cluster. Before a
mixture is fitted, every column holding only non-negative integers is therefore *dequantised*:
each count ``y`` becomes ``log1p(y + u)`` with ``u`` uniform on [0, 1) (seeded), a continuous
variable whose density is the count's probability spread evenly over ``[y, y + 1)`` (jittered
counts, Machado & Santos Silva 2005; uniform dequantisation, Theis, van den Oord & Bethge 2016),
on the log scale where counts are closer to symmetric. Its likelihood is then a proper density
with no spikes to collapse onto. The components keep full covariances (behavioural columns are
correlated), with ``reg_covar = 1e-3`` added to their diagonals (the columns are standardised,
so this is a floor of 0.1% of a column's variance) as a guard against singular fits. k-means
uses the columns as they are: it has no likelihood to collapse.

**Stability** is the adjusted Rand index (ARI) between the final clusters and clusters refitted
on ``n_resamples`` (default 50) bootstrap resamples of up to ``STABILITY_ROWS`` (3,000)
customers; its 95% range is the 2.5th and 97.5th percentiles of those ARIs.

When BIC is lowest at the top of ``k_range`` (real exports of a few thousand customers often
are one skewed cloud, not a few Gaussian groups), ``warnings_`` says so.

**Weak structure.** When the silhouette is below ``WEAK_SILHOUETTE`` (0.25) or the mean bootstrap
ARI below ``WEAK_ARI`` (0.6), ``weak_structure_`` holds a plain warning (also in ``warnings_`` and
in :meth:`CustomerClusters.to_results`). Kaufman & Rousseeuw (1990, *Finding Groups in Data*,
ch. 2) read an average silhouette of 0.25 or less as "no substantial structure"; for stability,
Hennig (2007, *Comput. Stat. Data Anal.* 52, 258-271) reads bootstrap agreement below about 0.6
as clusters that do not reproduce (his scale is the Jaccard index; ARI is on a similar 0-1 scale
and the same cut-off is used here as a convention).

**Each cluster's stability** is Hennig's (2007) clusterwise Jaccard: for every refit, the share of
customers a cluster has in common with the refit's most similar cluster (common members over
members of either), averaged over the refits (computed on the stability customers, whom every
refit labels). Hennig reads a mean below 0.6 as a cluster that should not be trusted, 0.6 to 0.75
as a pattern whose exact members are doubtful, and 0.75 or more as a stable cluster
(``CLUSTER_STABLE``, ``CLUSTER_PATTERN``). :func:`stability_band` puts those bands in words; the
summary names no cluster below 0.6 at risk.

Minimum size: clustering runs only with at least ``MIN_CUSTOMERS`` (50) customers whose every
usable behavioural column is filled, and at least ``MIN_COLUMNS`` (2) usable columns (present,
not all missing, not constant). Below that, :meth:`CustomerClusters.fit` does not raise: it sets
``skip_reason_`` (a sentence for ``ctx.skip``) and fits nothing. k never exceeds a tenth of those
customers (at least 2 per cluster is not a segment anyone can act on).

The clusters describe behaviour, so the CX scores are not among the default columns: a cluster
built on ``nps_score`` and then reported as "NPS -100" is circular. When a CX score is listed
explicitly it is kept, with a warning in ``warnings_``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances_chunked
from sklearn.mixture import GaussianMixture

from .fmt import label as _label
from .fmt import listing, relabelled
from .metrics import nps_from_counts, two_proportion_p, wilson_interval
from .segments import _with_churn_holm, holm
from .weighting import kish_n_eff

__all__ = ["CustomerClusters", "MIN_CUSTOMERS", "MIN_COLUMNS", "CX_SCORES", "GMM_REG_COVAR", "STABILITY_ROWS",
           "adjusted_rand_index", "silhouette", "near_ties", "WEAK_SILHOUETTE", "WEAK_ARI", "weak_structure_message", "from_config",
           "cluster_jaccard", "stability_band", "CLUSTER_STABLE", "CLUSTER_PATTERN"]

MIN_CUSTOMERS = 50
CIRCULAR = ("The clusters are built on the CX score itself ({columns}), so each cluster's score is partly circular: "
            "clusters differ in the score partly because they were cut on it, and in churn as far as the score "
            "goes with churn. Leave CX scores out of clusters.columns to describe behaviour only.")
MIN_COLUMNS = 2
CX_SCORES = ("nps_score", "csat", "ces")
GMM_REG_COVAR = 1e-3
STABILITY_ROWS = 3000
WEAK_SILHOUETTE = 0.25
WEAK_ARI = 0.6
CLUSTER_PATTERN = 0.6
CLUSTER_STABLE = 0.75
MIN_SHARE = 0.01


#: Two k whose silhouettes lie within this are a near tie: the silhouette is computed on up to
#: 3,000 customers, and a difference in the third decimal is within what another 3,000 would give.
SILHOUETTE_TIE = 0.01
#: Two k whose BICs lie within this are a near tie: a difference below 2 is "not worth more than a
#: bare mention" (Kass and Raftery, 1995).
BIC_TIE = 2.0


def near_ties(selection: pd.DataFrame, chosen: int) -> pd.DataFrame:
    """The other k of ``selection`` (:attr:`CustomerClusters.selection_`) whose criterion lies
    within a near tie of the chosen k's (:data:`SILHOUETTE_TIE`, :data:`BIC_TIE`): rows ``k`` and
    the criterion, by k. A chart or sentence that says k was "the highest silhouette" names them,
    so a reader does not take a third-decimal win for a clear choice.

    >>> sel = pd.DataFrame({"k": [2, 3, 4, 8], "silhouette": [0.23, 0.321, 0.279, 0.317]})
    >>> near_ties(sel, 3)["k"].tolist()
    [8]
    """
    col, tie = ("silhouette", SILHOUETTE_TIE) if "silhouette" in selection else ("bic", BIC_TIE)
    if col not in selection or chosen not in set(selection["k"]):
        return selection.iloc[:0][["k"]]
    best = float(selection.loc[selection["k"] == chosen, col].iloc[0])
    near = selection[(selection["k"] != chosen) & ((selection[col] - best).abs() < tie)]
    return near[["k", col]].sort_values("k").reset_index(drop=True)


def silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw 1987) of ``labels`` from the square distance matrix ``dist``.

    For each item, ``a`` is its mean distance to the other members of its cluster, ``b`` the
    smallest mean distance to the members of another cluster, and its silhouette is
    ``(b - a) / max(a, b)`` (0 for the only member of a cluster). Every cluster's sum of
    distances comes from one matrix product (``dist`` times the cluster indicators): the same
    value as :func:`sklearn.metrics.silhouette_score` with ``metric="precomputed"``, which walks
    the rows in chunks (the clustering computes nine or ten of them on the same distances).
    Needs 2 to ``n - 1`` distinct labels.
    """
    clusters, codes = np.unique(labels, return_inverse=True)
    n, k = len(codes), len(clusters)
    members = np.zeros((n, k))
    members[np.arange(n), codes] = 1.0
    sums = dist @ members  # row i, column c: the sum of i's distances to cluster c
    size = members.sum(axis=0)
    own = size[codes]
    rows = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sums[rows, codes] / (own - 1)
        means = sums / size
        means[rows, codes] = np.inf
        b = means.min(axis=1)
        s = (b - a) / np.maximum(a, b)
    return float(np.nan_to_num(s).mean())  # a one-member cluster's a is 0 / 0: its silhouette is 0


def weak_structure_message(silhouette: float, ari_mean: float) -> str | None:
    """The plain warning for weakly separated or unstable clusters, or None when neither threshold
    is crossed (silhouette < ``WEAK_SILHOUETTE`` or mean bootstrap ARI < ``WEAK_ARI``; NaN never
    triggers it)."""
    weak = (np.isfinite(silhouette) and silhouette < WEAK_SILHOUETTE) or (np.isfinite(ari_mean) and ari_mean < WEAK_ARI)
    if not weak:
        return None
    return (f"The clusters are weakly separated (silhouette {silhouette:.2f}; agreement of refits on resamples, adjusted Rand index, {ari_mean:.2f}): treat them "
            "as a convenient summary, not as distinct kinds of customers.")


def cluster_jaccard(labels: np.ndarray, refits: np.ndarray, k: int) -> np.ndarray:
    """Hennig's clusterwise stability: for each of the ``k`` clusters of ``labels``, the mean over
    the rows of ``refits`` (each a labelling of the same items) of the largest Jaccard index
    ``|A & B| / |A | B|`` between the cluster and any cluster of that refit. NaN for a cluster with
    no items, or when there are no refits.
    """
    labels = np.asarray(labels, np.int64)
    refits = np.asarray(refits, np.int64).reshape(-1, len(labels))
    if not len(refits):
        return np.full(k, np.nan)
    best = np.zeros((len(refits), k))
    for i, r in enumerate(refits):
        kb = int(r.max()) + 1 if len(r) else 1
        table = np.bincount(labels * kb + r, minlength=k * kb).reshape(k, kb).astype(float)
        union = table.sum(axis=1)[:, None] + table.sum(axis=0)[None, :] - table
        with np.errstate(invalid="ignore", divide="ignore"):
            best[i] = (table / union).max(axis=1)
    out = best.mean(axis=0)
    out[np.bincount(labels, minlength=k)[:k] == 0] = np.nan
    return out


def stability_band(jaccard: float) -> str:
    """Hennig's reading of a cluster's mean bootstrap Jaccard, in words."""
    if not np.isfinite(jaccard):
        return "not measured"
    if jaccard >= CLUSTER_STABLE:
        return "stable"
    if jaccard >= CLUSTER_PATTERN:
        return "a pattern; who belongs is doubtful"
    return "does not reproduce"


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings (non-negative integers) of the same items.

    Hubert & Arabie's index from the pair counts of the contingency table, in exact integer
    arithmetic (ordered pairs, as scikit-learn counts them): the same value as
    :func:`sklearn.metrics.adjusted_rand_score`, without its input checks and sparse table (the
    stability bootstrap calls it once per refit).
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    n = len(a)
    kb = int(b.max()) + 1 if n else 1
    table = np.bincount(a * kb + b, minlength=(int(a.max()) + 1 if n else 1) * kb).reshape(-1, kb)
    n_a, n_b = table.sum(axis=1), table.sum(axis=0)
    sq = int((table**2).sum())
    fp = int((table @ n_b).sum()) - sq  # ordered pairs together in b, apart in a
    fn = int((table.T @ n_a).sum()) - sq  # together in a, apart in b
    tp = sq - n
    tn = n * n - fp - fn - sq
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


#: A cluster is named after a column only when its mean lies at least this many standard deviations
#: (of the clustered, transformed column) from the average: a medium difference in Cohen's terms.
#: Smaller gaps (0.3 SD, a fraction of an order) named a cluster "frequent buyers" that a
#: reader could not tell from the rest.
NAME_MIN_SD = 0.5

_WORDS = {
    "spend": ("high spend", "low spend"), "orders": ("frequent buyers", "few orders"),
    "returns": ("many returns", "few returns"), "visits_per_month": ("frequent visitors", "rare visitors"),
    "tenure_months": ("long-tenured", "new"), "support_tickets": ("many tickets", "few tickets"),
    "nps_score": ("high NPS", "low NPS"), "csat": ("high CSAT", "low CSAT"), "ces": ("easy effort", "hard effort"),
}
#: counts a cluster can split on zero / not zero: then "no returns" and "returned items" say what
#: the clusters are, where "few" and "many" would not (a cluster with 1 return each is not "many")
_ZERO_WORDS = {"returns": ("returned items", "no returns"), "support_tickets": ("raised tickets", "no tickets"),
               "orders": ("ordered", "no orders")}


def _short_label(label: str) -> str:
    """A column's label in a cluster's name: without a closing note in brackets, lower case first
    ("Complained (0/1)" -> "complained")."""
    name = re.sub(r"\s*\([^()]*\)$", "", label) or label
    return name[:1].lower() + name[1:]


def _flag_words(label: str, member: np.ndarray) -> str:
    """A cluster's words for a yes/no column: "complained = yes" when every member is 1, "= no"
    when none is, else the share that is ("complained: 45% yes"). "> 0" and "high" misread a
    flag, and a cluster is not the set of the flag's customers unless every member has it."""
    name = _short_label(label)
    share = float(member.mean())
    if share == 1:
        return f"{name} = yes"
    if share == 0:
        return f"{name} = no"
    return f"{name}: {min(max(round(100 * share), 1), 99)}% yes"


def _cluster_word(f: str, high: bool, member: np.ndarray, everyone: np.ndarray) -> str:
    """The words for column ``f`` of a cluster whose mean is above (``high``) or below the rest:
    "no returns" when every member has none, "returned items" when every member has some and
    other customers have none, else the column's high / low words. A column the run names itself
    (cx.yaml ``labels``) is named by its label, without a closing note in brackets ("Spend (EUR)"
    gives "high spend"). A yes/no column (every customer 0 or 1), relabelled or not one of the
    canonical counts, says what share of the cluster is yes (:func:`_flag_words`).
    """
    m, a = member[np.isfinite(member)], everyone[np.isfinite(everyone)]
    if len(m) and np.isin(a, (0, 1)).all() and (relabelled(f) or f not in _ZERO_WORDS):
        return _flag_words(_label(f), m)
    if relabelled(f):
        name = _short_label(_label(f))
        if len(m) and not high and (m == 0).all():
            return f"{name} = 0"
        if len(m) and high and (m > 0).all() and (a == 0).any():
            return f"{name} > 0"
        return f"{'high' if high else 'low'} {name}"
    if f in _ZERO_WORDS:
        if len(m) and not high and (m == 0).all():
            return _ZERO_WORDS[f][1]
        if len(m) and high and (m > 0).all() and (a == 0).any():
            return _ZERO_WORDS[f][0]
    return _WORDS.get(f, (f"high {_label(f).lower()}", f"low {_label(f).lower()}"))[0 if high else 1]


def _flag_notes(flags, data: pd.DataFrame, labels: np.ndarray, names: Sequence[str]) -> list[str]:
    """For each cluster named after a yes/no column's value ("complained = yes": every member has
    it), a note when customers with that value are in other clusters too: the cluster is not
    the set of them, so its churn is not theirs. ``flags`` holds (cluster, column, value, words)."""
    notes = []
    for c, f, value, word in flags:
        has = data[f].to_numpy(float) == value
        inside, total = int((has & (labels == c)).sum()), int(has.sum())
        if inside >= total:
            continue
        elsewhere = pd.Series(labels[has & (labels != c)]).value_counts()
        where = (f"in {names[int(elsewhere.index[0])]}" if len(elsewhere) == 1 else
                 "in " + listing(f"{names[int(k)]} ({int(n):,})" for k, n in elsewhere.items()))
        notes.append(f"{names[c]} holds {inside:,} of the {total:,} respondents with {word} ({inside / total:.0%}); "
                     f"the other {total - inside:,} {'is' if total - inside == 1 else 'are'} {where}. The cluster is "
                     "not the set of them: its "
                     "churn and score are not theirs.")
    return notes


class CustomerClusters:
    """k-means or Gaussian-mixture clusters of customers on behavioural columns.

    Parameters
    ----------
    columns : list of str
        Behavioural columns; those absent are skipped (listed in ``skipped_``). Non-numeric
        columns are one-hot encoded.
    k : int, optional
        Fixed number of clusters; None chooses it over ``k_range``.
    k_range : (int, int)
    method : {"kmeans", "gmm"}
        k-means chooses k by the highest silhouette; the mixture by the lowest BIC, on the
        dequantised columns (see the module notes).
    sample_size : int
        Customers used to choose k and for the stability bootstrap (all when fewer).
    fit_rows : int
        Customers the final model is fitted on (all when fewer); every customer is then assigned.
    n_resamples : int
        Bootstrap refits for stability (default 50).
    random_state : int

    Attributes
    ----------
    selection_ : DataFrame
        For every k tried, the method's own criterion: ``k, silhouette, inertia`` (k-means) or
        ``k, bic`` (mixture, on the first 5,000 customers of the selection sample).
    selection_rows_ : ndarray
        Rows of ``X_`` the criterion was computed on (the silhouette uses up to 3,000 of them).
    k_ : int
    labels_ : ndarray
        Cluster of every customer (0..k-1, ordered by size, largest first).
    silhouette_ : float
    stability_ : dict
        ``ari_mean, ari_low, ari_high`` (2.5th and 97.5th percentiles) over the bootstrap refits,
        and ``n_resamples`` (``n_boot``, the same number, kept for older results) that succeeded.
    stability_aris_ : ndarray
        The ARI of each refit.
    cluster_stability_ : ndarray
        Each cluster's mean bootstrap Jaccard (:func:`cluster_jaccard`; module notes).
    weak_structure_ : str or None
        The weak-structure warning (see the module notes), else None.
    X_ : ndarray
        The transformed matrix every customer was clustered on (rows as in the data).
    profile_ : DataFrame
        One row per cluster: ``cluster, name, n, share, stability, stability_band`` (its mean
        bootstrap Jaccard and Hennig's reading of it), ``<column means>, nps, nps_ci_low,
        nps_ci_high, churn_rate, churn_rate_ci_low, churn_rate_ci_high, churn_rest, churn_p_rest,
        churn_p_holm, churn_differs, leavers_share, spend, passives`` (``leavers_share``: the
        cluster's share of every customer who churned; the churn rate's interval is Wilson's, on
        Kish's effective n when weighted; ``churn_rest`` is every other customer's churn rate, and
        ``churn_differs`` is True when the pooled two-proportion z-test on Kish's numbers finds the
        two different at 5% after Holm's correction over the clusters; with two clusters, each the
        other's rest, there is one comparison and nothing to correct). With a ``weight`` column (respondents weighted
        to the base) shares, means, NPS (interval on Kish's n_eff) and churn are weighted, and
        ``passives`` counts the base's passives (sum of their weights); ``n`` counts respondents.
    zscores_ : DataFrame
        Standardised cluster means (for the heatmap).
    skip_reason_ : str or None
        Why clustering was skipped (below the minimum size, see the module notes), else None.
    warnings_ : list of str
        What a reader must know, e.g. that the clusters use a CX score.
    """

    def __init__(self, *, columns: Sequence[str], k: int | None = None, k_range=(2, 10), method: str = "kmeans",
                 sample_size: int = 10000, n_resamples: int = 50, fit_rows: int = 50000, random_state: int = 0, score: str = "nps_score",
                 promoter_min: float = 9, detractor_max: float = 6):
        self.columns = list(columns)
        self.k = k
        self.k_range = tuple(k_range)
        self.method = method
        self.sample_size = sample_size
        self.fit_rows = fit_rows
        self.n_resamples = n_resamples
        self.random_state = random_state
        self.score = score
        self.promoter_min = promoter_min
        self.detractor_max = detractor_max

    def _matrix(self, data: pd.DataFrame) -> np.ndarray:
        parts, names = [], []
        self.skipped_ = {c: f"no {c} column" for c in self.columns if c not in data or data[c].notna().sum() == 0}
        for c in self.columns:
            if c not in self.skipped_ and data[c].dropna().nunique() < 2:
                self.skipped_[c] = f"{c} is constant (one value)"
        self.used_ = [c for c in self.columns if c not in self.skipped_]
        self.imputed_ = 0
        self.transform_ = {}
        jitter = np.random.default_rng([self.random_state, 14]) if self.method == "gmm" else None
        for c in self.used_:
            s = data[c]
            if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
                d = pd.get_dummies(s.astype(str), prefix=c, dtype=float)
                parts.append(d.to_numpy() / np.sqrt(2))
                names += list(d.columns)
                continue
            v = s.to_numpy(float)
            miss = np.isnan(v)
            self.imputed_ += int(miss.sum())
            counts = bool(np.nanmin(v) >= 0 and np.all(np.mod(v[~miss], 1) == 0))
            v = np.where(miss, np.nanmedian(v), v)
            if jitter is not None and counts:  # dequantised counts for the mixture (module notes)
                v = np.log1p(np.floor(v) + jitter.uniform(0.0, 1.0, size=len(v)))
                self.transform_[c] = "log1p(count + uniform jitter)"
            elif v.min() >= 0 and pd.Series(v).skew() > 2:
                v = np.log1p(v)
                self.transform_[c] = "log1p"
            sd = v.std()
            parts.append(((v - v.mean()) / (sd if sd > 0 else 1.0))[:, None])
            names.append(c)
        self.features_ = names
        return np.hstack(parts) if parts else np.empty((len(data), 0))

    def _model(self, k: int, random_state: int | None = None, n_init: int = 2):
        rs = self.random_state if random_state is None else random_state
        if self.method == "gmm":
            return GaussianMixture(k, covariance_type="full", reg_covar=GMM_REG_COVAR, random_state=rs, n_init=n_init)
        return KMeans(k, random_state=rs, n_init=2 * n_init)

    def fit(self, data: pd.DataFrame) -> CustomerClusters:
        """Choose k, fit on every customer, measure stability and profile. Returns ``self``."""
        data = data.reset_index(drop=True)
        self.skip_reason_ = None
        self.weak_structure_ = None
        self.warnings_ = []
        X = self._matrix(data)
        cx = [c for c in self.used_ if c in (*CX_SCORES, self.score)]
        self.cx_columns_ = cx
        if cx:
            msg = CIRCULAR.format(columns=", ".join(cx))
            self.warnings_.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        complete = int(data[self.used_].notna().all(axis=1).sum()) if self.used_ else 0
        self.n_complete_ = complete
        if len(self.used_) < MIN_COLUMNS:
            self.skip_reason_ = (f"clustering needs at least {MIN_COLUMNS} usable behavioural columns (present, not "
                                 f"constant); found {len(self.used_)}" + (f" ({', '.join(self.used_)})" if self.used_ else ""))
            return self
        if complete < MIN_CUSTOMERS:
            self.skip_reason_ = (f"too few customers for clustering: {complete} with every behavioural column filled "
                                 f"({', '.join(self.used_)}); at least {MIN_CUSTOMERS} needed")
            return self
        rng = np.random.default_rng(self.random_state)
        n = len(X)
        sample = np.sort(rng.choice(n, size=min(n, self.sample_size), replace=False))
        Xs = X[sample]
        sil_idx = rng.choice(len(Xs), size=min(len(Xs), 3000), replace=False)
        lo, hi = self.k_range
        distinct = len(np.unique(Xs.round(12), axis=0))
        k_max = max(2, min(hi, complete // 10, distinct - 1 if distinct > 2 else 2))
        ks = [min(self.k, max(2, complete // 10))] if self.k is not None else list(range(min(lo, k_max), k_max + 1))
        if self.k is not None and ks[0] != self.k:
            self.warnings_.append(f"k = {self.k} asks for more clusters than {complete} customers support; "
                                  f"{ks[0]} used (at least 10 customers a cluster).")
        rows = []
        gm_rows = Xs[: min(len(Xs), 5000)]
        # every silhouette (each k tried, then the final clusters) is over the same customers
        # Xs[sil_idx]: their distances are computed once, and each silhouette reads them
        dist = []

        def sil_dist() -> np.ndarray:
            if not dist:
                chunks = list(pairwise_distances_chunked(Xs[sil_idx]))
                dist.append(chunks[0] if len(chunks) == 1 else np.vstack(chunks))
            return dist[0]

        self.selection_rows_ = sample[: len(gm_rows)] if self.method == "gmm" else sample
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # k-means on few distinct points: ConvergenceWarning
            for k in ks:
                if self.method == "gmm":  # each method is judged by its own criterion only
                    try:
                        bic = self._model(k).fit(gm_rows).bic(gm_rows)
                    except (ValueError, np.linalg.LinAlgError):
                        bic = np.nan
                    rows.append(dict(k=k, bic=bic))
                    continue
                km = self._model(k).fit(Xs)
                sil = (silhouette(sil_dist(), km.labels_[sil_idx])
                       if 1 < len(set(km.labels_[sil_idx])) < len(sil_idx) else np.nan)
                rows.append(dict(k=k, silhouette=sil, inertia=km.inertia_))
        self.selection_ = pd.DataFrame(rows)
        sel = self.selection_
        if self.k is not None or len(sel) == 1:
            self.k_ = int(sel["k"].iloc[0])
        elif self.method == "gmm" and sel["bic"].notna().any():
            self.k_ = int(sel.loc[sel["bic"].idxmin(), "k"])
            if self.k_ == int(sel["k"].max()):
                self.warnings_.append(
                    f"BIC still falls at k = {self.k_}, the top of the range: more components keep fitting better, "
                    "which usually means the columns are not a few Gaussian groups but one skewed or curved cloud "
                    "the mixture approximates piece by piece. Read the clusters as slices of that cloud.")
        elif "silhouette" in sel and sel["silhouette"].notna().any():
            self.k_ = int(sel.loc[sel["silhouette"].idxmax(), "k"])
        else:
            self.k_ = int(sel["k"].iloc[0])
        # the final model is fitted on up to fit_rows customers, then every customer is assigned to
        # its nearest centre (k-means) or most likely component (mixture)
        fit_rows = np.sort(rng.choice(n, size=min(n, self.fit_rows), replace=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = self._model(self.k_).fit(X[fit_rows])
            except (ValueError, np.linalg.LinAlgError):  # a mixture on degenerate data: k-means instead
                model = KMeans(self.k_, random_state=self.random_state, n_init=4).fit(X[fit_rows])
                self.warnings_.append("The Gaussian mixture could not be fitted (degenerate data); k-means used.")
        raw = model.predict(X)
        order = np.argsort(-np.bincount(raw, minlength=self.k_))  # largest cluster first
        relabel = np.empty_like(order)
        relabel[order] = np.arange(self.k_)
        self.labels_ = relabel[raw]
        self.model_ = model
        lab = self.labels_[sample][sil_idx]
        self.silhouette_ = (silhouette(sil_dist(), lab)
                            if 1 < len(set(lab)) < len(sil_idx) else float("nan"))
        del dist[:]
        # stability: refit on bootstrap resamples of up to STABILITY_ROWS customers of the sample,
        # compare their labels of those customers with the final fit's
        stab = np.sort(sample[rng.choice(len(sample), size=min(len(sample), STABILITY_ROWS), replace=False)])
        self.stability_rows_ = stab
        aris, refits = [], []
        X_stab, labels_stab = X[stab], self.labels_[stab]
        for b in range(self.n_resamples):
            idx = rng.choice(stab, size=len(stab), replace=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    m = self._model(self.k_, random_state=b, n_init=1).fit(X[idx])
                except (ValueError, np.linalg.LinAlgError):
                    continue
            refits.append(m.predict(X_stab))
            aris.append(adjusted_rand_index(labels_stab, refits[-1]))
        aris = np.asarray(aris)
        self.stability_aris_ = aris
        self.stability_labels_ = np.asarray(refits).reshape(len(refits), len(stab))
        self.stability_ = {"ari_mean": float(aris.mean()) if len(aris) else np.nan,
                           "ari_low": float(np.percentile(aris, 2.5)) if len(aris) else np.nan,
                           "ari_high": float(np.percentile(aris, 97.5)) if len(aris) else np.nan,
                           "n_resamples": int(len(aris)), "n_boot": int(len(aris))}
        self.cluster_stability_ = cluster_jaccard(labels_stab, self.stability_labels_, self.k_)
        self.weak_structure_ = weak_structure_message(self.silhouette_, self.stability_["ari_mean"])
        if self.weak_structure_:
            self.warnings_.append(self.weak_structure_)
        sizes = np.bincount(self.labels_, minlength=self.k_)
        if sizes.min() < MIN_SHARE * n:
            self.warnings_.append(f"The smallest cluster holds {sizes.min():,} customers ({sizes.min() / n:.1%}), "
                                  f"under {MIN_SHARE:.0%} of the total: too small to act on as a segment.")
        self.X_ = X
        self._profile(data, X)
        if cx and not self.circular:  # the score was used but hardly differs: say so instead
            self.warnings_ = [w for w in self.warnings_ if not w.startswith("The clusters are built on the CX score")]
            self.warnings_.insert(0, (
                f"The clusters use the CX score ({', '.join(_label(c) for c in cx)}), but no cluster's mean score lies {NAME_MIN_SD} "
                f"standard deviations or more from the average (largest {self.score_spread():.2f} SD): the score hardly "
                "shaped them, so their score is read as a finding, not as how they were made."))
        return self

    def _profile(self, data: pd.DataFrame, X: np.ndarray) -> None:
        labels = self.labels_
        num = [c for c in self.used_ if c in self.features_]
        # respondents weighted to the base (a ``weight`` column) are profiled with their weights,
        # so a cluster's NPS, churn and spend compare with the report's weighted overall figures
        w_all = (data["weight"].to_numpy(float) if "weight" in data else np.ones(len(data)))
        w_all = np.where(np.isfinite(w_all), w_all, 0.0)
        data = data[list(dict.fromkeys(c for c in (*num, self.score, "churned", "spend") if c in data))]
        z = pd.DataFrame(X[:, [self.features_.index(c) for c in num]], columns=num).groupby(labels).mean().reindex(range(self.k_))
        self.zscores_ = z
        rows, flags = [], []
        for c in range(self.k_):
            sel = labels == c
            part = data[sel]
            top = z.loc[c].abs().sort_values(ascending=False)
            named = [f for f in top.index[:3] if abs(z.loc[c, f]) >= NAME_MIN_SD]
            words = [_cluster_word(f, z.loc[c, f] > 0, part[f].to_numpy(float), data[f].to_numpy(float)) for f in named]
            flags += [(c, f, 1.0 if word.endswith(" = yes") else 0.0, word) for f, word in zip(named, words, strict=True)
                      if word.endswith((" = yes", " = no"))]
            name = ", ".join(words) or "average on every column"
            w = w_all[sel]
            stab = float(self.cluster_stability_[c])
            row = {"cluster": c, "name": name[:1].upper() + name[1:], "n": int(sel.sum()),
                   "share": float(w.sum() / w_all.sum()) if w_all.sum() > 0 else float(sel.mean()),
                   "stability": stab, "stability_band": stability_band(stab)}

            def wmean(col, w=w, part=part):
                x = part[col].to_numpy(float)
                ok = np.isfinite(x) & (w > 0)
                return float(np.average(x[ok], weights=w[ok])) if ok.any() else np.nan

            for f in num:
                row[f] = wmean(f)
            if self.score in data:
                sc = part[self.score].to_numpy(float)
                ok = np.isfinite(sc)
                ws, sc = w[ok], sc[ok]
                p, d = ws[sc >= self.promoter_min].sum(), ws[sc <= self.detractor_max].sum()
                n_eff = kish_n_eff(ws) if (ws**2).sum() > 0 else 0.0
                r = nps_from_counts(p, ws.sum() - p - d, d, n_eff=n_eff)
                row.update(nps=r["nps"], nps_ci_low=r["ci_low"], nps_ci_high=r["ci_high"],
                           passives=int(round(ws.sum() - p - d)))
            if "churned" in data:
                row["churn_rate"] = wmean("churned")
                churned = data["churned"].to_numpy(float)
                has = np.isfinite(churned) & (w_all > 0)
                n_eff = kish_n_eff(w_all[has & sel])  # every weight here is positive
                row["churn_rate_ci_low"], row["churn_rate_ci_high"] = (
                    wilson_interval(row["churn_rate"] * n_eff, n_eff) if n_eff > 0 else (np.nan, np.nan))
                rest = has & ~sel  # every other customer: the cluster's churn against theirs
                row["churn_rest"] = float(np.average(churned[rest], weights=w_all[rest])) if rest.any() else np.nan
                row["churn_p_rest"] = two_proportion_p(row["churn_rate"], n_eff, row["churn_rest"],
                                                        kish_n_eff(w_all[rest]) if rest.any() else 0.0)
                left = np.where(has, w_all * np.nan_to_num(churned), 0.0)  # the weighted leavers
                row["leavers_share"] = float(left[sel].sum() / left.sum()) if left.sum() > 0 else np.nan
            if "spend" in data:
                row["spend_mean"] = wmean("spend")
            rows.append(row)
        self.profile_ = pd.DataFrame(rows)
        if "churned" in num:  # cut on churn itself: a cluster's churn against the rest is no finding
            self.profile_ = self.profile_.drop(columns=["churn_rest", "churn_p_rest"], errors="ignore")
        if "churn_p_rest" in self.profile_:  # Holm over the clusters, as segments over segments
            raw = self.profile_["churn_p_rest"].to_numpy(float)
            # two clusters are each other's rest: one comparison, not two to correct for
            holm_p = raw.copy() if self.k_ == 2 else holm(raw)
            self.profile_ = _with_churn_holm(self.profile_, holm_p, 0.05)  # the clusters' intervals are 95% ones
        dup = self.profile_["name"].duplicated(keep=False)  # two clusters alike on their top columns
        self.profile_.loc[dup, "name"] = [f"{n} ({c + 1})" for n, c in
                                          zip(self.profile_.loc[dup, "name"], self.profile_.loc[dup, "cluster"], strict=True)]
        self.warnings_ += _flag_notes(flags, data, labels, self.profile_["name"].tolist())

    @property
    def summary(self) -> pd.DataFrame:
        return self.profile_

    @property
    def circular(self) -> bool:
        """Whether the clusters were cut on a CX score (so their NPS is partly how they were made):
        a CX score is among the columns and some cluster's mean of it lies at least
        ``NAME_MIN_SD`` standard deviations from the average (:meth:`score_spread`). A score the
        clusters barely differ on did not shape them."""
        spread = self.score_spread()
        return bool(getattr(self, "cx_columns_", [])) and not (np.isfinite(spread) and spread < NAME_MIN_SD)

    def score_spread(self) -> float:
        """The largest distance, in standard deviations, of a cluster's mean CX score from the
        average, over the CX scores among the columns (NaN when none is, or before fitting)."""
        z = getattr(self, "zscores_", None)
        cols = [c for c in getattr(self, "cx_columns_", []) if z is not None and c in z]
        return float(np.nanmax(np.abs(z[cols].to_numpy(float)))) if cols else float("nan")

    def unstable_names(self) -> list[str]:
        """Names of the clusters that do not reproduce (stability below ``CLUSTER_PATTERN``)."""
        if self.skip_reason_ is not None:
            return []
        p = self.profile_
        return p.loc[p["stability"] < CLUSTER_PATTERN, "name"].tolist()

    def unstable_targets(self) -> list[str]:
        """The clusters :meth:`target_names` leaves out for not reproducing (none when the clusters
        are circular: then none is a target at all)."""
        return [] if self.skip_reason_ is not None or self.circular else self.unstable_names()

    def target_names(self) -> np.ndarray | None:
        """Each fitted row's cluster name where its cluster may be a program's target, else missing:
        None when clustering was skipped or is circular (cut on the CX score); a cluster that does
        not reproduce (:meth:`unstable_names`) leaves its rows unnamed, so it is no target."""
        names = self.row_names()
        if names is None or self.circular:
            return None
        names = names.astype(object)
        names[np.isin(names, self.unstable_names())] = None
        return names if pd.notna(names).any() else None

    def row_names(self) -> np.ndarray | None:
        """The cluster name of every fitted row, in the order of the data given to :meth:`fit`
        (``None`` when clustering was skipped)."""
        if self.skip_reason_ is not None:
            return None
        return self.profile_["name"].to_numpy()[self.labels_]

    def to_results(self) -> dict:
        """``clusters`` of results.json (DESIGN.md) plus the profile and the stability; when
        skipped, ``{"skipped": reason}``."""
        if self.skip_reason_ is not None:
            return {"skipped": self.skip_reason_}
        return {"k": self.k_, "method": self.method, "silhouette": self.silhouette_,
                "sizes": [int(v) for v in np.bincount(self.labels_, minlength=self.k_)],
                "stability_ari": self.stability_, "weak_structure": self.weak_structure_, "columns": self.used_,
                "transforms": self.transform_, "warnings": self.warnings_, "circular": self.circular,
                "names": self.profile_["name"].tolist(),
                "named": [{"cluster": int(r.cluster), "name": r.name, "n": int(r.n)} for r in self.profile_.itertuples()],
                "profile": self.profile_, "selection": self.selection_}

    def projection(self, max_points: int = 5000) -> pd.DataFrame:
        """First two principal components of a sample of customers: ``pc1, pc2, cluster, name``
        (``name``: the cluster's name from its profile)."""
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(len(self.X_), size=min(max_points, len(self.X_)), replace=False)
        pcs = PCA(2, random_state=self.random_state).fit(self.X_).transform(self.X_[idx])
        names = self.profile_["name"].to_numpy()
        return pd.DataFrame({"pc1": pcs[:, 0], "pc2": pcs[:, 1], "cluster": self.labels_[idx].astype(str),
                             "name": names[self.labels_[idx]]})

    def _repr_html_(self) -> str:
        return self.profile_.to_html(index=False, float_format=lambda v: f"{v:,.2f}")

    def plot(self, ax=None):
        from .plots import profile_heatmap

        return profile_heatmap(self.zscores_.set_axis(self.profile_["name"]), ax=ax)


def from_config(config) -> CustomerClusters:
    """An unfitted :class:`CustomerClusters` set up from the ``clusters:`` and ``categories:``
    sections of a :class:`~cxanalysis.config.Config` (the report's one way to build it)."""
    cl, cats = config.clusters, config.categories
    return CustomerClusters(columns=cl["columns"], k=cl["k"], k_range=cl["k_range"], method=cl["method"],
                            n_resamples=cl["n_resamples"], random_state=config.seed, score=cats["score"],
                            promoter_min=cats["promoter_min"], detractor_max=cats["detractor_max"])
