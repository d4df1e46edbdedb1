"""Behavioural clusters: segments the business did not define.

:class:`CustomerClusters` scales the chosen behavioural columns (log1p for heavily skewed
non-negative ones, then standardised; categoricals one-hot), picks k over a range by silhouette
(k-means, computed on a sample for large n) or BIC (Gaussian mixture), fits the final model on
every customer, measures stability by the bootstrap adjusted Rand index, and profiles each
cluster with a name stating what sets it apart.

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

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture

from .metrics import nps_from_counts

__all__ = ["CustomerClusters", "MIN_CUSTOMERS", "MIN_COLUMNS", "CX_SCORES"]

MIN_CUSTOMERS = 50
MIN_COLUMNS = 2
CX_SCORES = ("nps_score", "csat", "ces")

_WORDS = {
    "spend": ("high-spend", "low-spend"), "orders": ("frequent buyers", "few orders"),
    "returns": ("many returns", "few returns"), "visits_per_month": ("frequent visitors", "rare visitors"),
    "tenure_months": ("long-tenured", "new"), "support_tickets": ("many tickets", "few tickets"),
    "nps_score": ("high NPS", "low NPS"), "csat": ("high CSAT", "low CSAT"), "ces": ("easy effort", "hard effort"),
}


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
        k-means chooses k by the highest silhouette; the mixture by the lowest BIC.
    sample_size : int
        Customers used to choose k and for the stability bootstrap (all when fewer).
    fit_rows : int
        Customers the final model is fitted on (all when fewer); every customer is then assigned.
    n_boot : int
        Bootstrap refits for stability.
    random_state : int

    Attributes
    ----------
    selection_ : DataFrame
        ``k, silhouette, bic, inertia`` for every k tried.
    k_ : int
    labels_ : ndarray
        Cluster of every customer (0..k-1, ordered by size, largest first).
    silhouette_ : float
    stability_ : dict
        ``ari_mean, ari_low, ari_high`` over the bootstrap refits.
    profile_ : DataFrame
        One row per cluster: ``cluster, name, n, share, <column means>, nps, nps_ci_low,
        nps_ci_high, churn_rate, spend, passives``.
    zscores_ : DataFrame
        Standardised cluster means (for the heatmap).
    skip_reason_ : str or None
        Why clustering was skipped (below the minimum size, see the module notes), else None.
    warnings_ : list of str
        What a reader must know, e.g. that the clusters use a CX score.
    """

    def __init__(self, *, columns: Sequence[str], k: int | None = None, k_range=(2, 10), method: str = "kmeans",
                 sample_size: int = 10000, n_boot: int = 10, fit_rows: int = 50000, random_state: int = 0, score: str = "nps_score",
                 promoter_min: float = 9, detractor_max: float = 6):
        self.columns = list(columns)
        self.k = k
        self.k_range = tuple(k_range)
        self.method = method
        self.sample_size = sample_size
        self.fit_rows = fit_rows
        self.n_boot = n_boot
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
            v = np.where(miss, np.nanmedian(v), v)
            if v.min() >= 0 and pd.Series(v).skew() > 2:
                v = np.log1p(v)
                self.transform_[c] = "log1p"
            sd = v.std()
            parts.append(((v - v.mean()) / (sd if sd > 0 else 1.0))[:, None])
            names.append(c)
        self.features_ = names
        return np.hstack(parts) if parts else np.empty((len(data), 0))

    def _model(self, k: int):
        rs = self.random_state
        if self.method == "gmm":
            return GaussianMixture(k, covariance_type="full", random_state=rs, n_init=2)
        return KMeans(k, random_state=rs, n_init=4)

    def fit(self, data: pd.DataFrame) -> CustomerClusters:
        """Choose k, fit on every customer, measure stability and profile. Returns ``self``."""
        data = data.reset_index(drop=True)
        self.skip_reason_ = None
        self.warnings_ = []
        X = self._matrix(data)
        cx = [c for c in self.used_ if c in (*CX_SCORES, self.score)]
        if cx:
            msg = (f"The clusters are built on the CX score itself ({', '.join(cx)}), so 'NPS by cluster' is partly "
                   "circular: clusters differ in NPS partly because they were cut on it. Leave CX scores out of "
                   "clusters.columns to describe behaviour only.")
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # k-means on few distinct points: ConvergenceWarning
            for k in ks:
                km = KMeans(k, random_state=self.random_state, n_init=4).fit(Xs)
                sil = (silhouette_score(Xs[sil_idx], km.labels_[sil_idx])
                       if 1 < len(set(km.labels_[sil_idx])) < len(sil_idx) else np.nan)
                gm_rows = Xs[: min(len(Xs), 5000)]
                try:
                    gm = GaussianMixture(k, covariance_type="full", random_state=self.random_state,
                                         reg_covar=1e-4).fit(gm_rows)
                    bic = gm.bic(gm_rows)
                except (ValueError, np.linalg.LinAlgError):
                    bic = np.nan
                rows.append(dict(k=k, silhouette=sil, bic=bic, inertia=km.inertia_))
        self.selection_ = pd.DataFrame(rows)
        sel = self.selection_
        if self.k is not None or len(sel) == 1:
            self.k_ = int(sel["k"].iloc[0])
        elif self.method == "gmm" and sel["bic"].notna().any():
            self.k_ = int(sel.loc[sel["bic"].idxmin(), "k"])
        elif sel["silhouette"].notna().any():
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
        self.silhouette_ = (float(silhouette_score(X[sample][sil_idx], lab))
                            if 1 < len(set(lab)) < len(sil_idx) else float("nan"))
        # stability: refit on bootstrap resamples, compare labels of the sample with the final fit's
        aris = []
        for b in range(self.n_boot):
            idx = rng.choice(sample, size=len(sample), replace=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    m = (KMeans(self.k_, random_state=b, n_init=2) if self.method == "kmeans"
                         else GaussianMixture(self.k_, random_state=b, reg_covar=1e-4)).fit(X[idx])
                except (ValueError, np.linalg.LinAlgError):
                    continue
            aris.append(adjusted_rand_score(self.labels_[sample], m.predict(X[sample])))
        aris = np.asarray(aris)
        self.stability_ = {"ari_mean": float(aris.mean()) if len(aris) else np.nan,
                           "ari_low": float(np.percentile(aris, 2.5)) if len(aris) else np.nan,
                           "ari_high": float(np.percentile(aris, 97.5)) if len(aris) else np.nan,
                           "n_boot": int(len(aris))}
        self._X = X
        self._profile(data, X)
        return self

    def _profile(self, data: pd.DataFrame, X: np.ndarray) -> None:
        labels = self.labels_
        num = [c for c in self.used_ if c in self.features_]
        data = data[list(dict.fromkeys(c for c in (*num, self.score, "churned", "spend") if c in data))]
        z = pd.DataFrame(X[:, [self.features_.index(c) for c in num]], columns=num).groupby(labels).mean().reindex(range(self.k_))
        self.zscores_ = z
        rows = []
        for c in range(self.k_):
            sel = labels == c
            part = data[sel]
            top = z.loc[c].abs().sort_values(ascending=False)
            words = [(_WORDS.get(f, (f"high {f}", f"low {f}"))[0 if z.loc[c, f] > 0 else 1])
                     for f in top.index[:3] if abs(z.loc[c, f]) >= 0.3]
            row = {"cluster": c, "name": ", ".join(words) or "average on every column", "n": int(sel.sum()),
                   "share": float(sel.mean())}
            for f in num:
                row[f] = float(part[f].mean())
            if self.score in data:
                s = part[self.score].dropna()
                p, d = (s >= self.promoter_min).sum(), (s <= self.detractor_max).sum()
                r = nps_from_counts(p, len(s) - p - d, d)
                row.update(nps=r["nps"], nps_ci_low=r["ci_low"], nps_ci_high=r["ci_high"], passives=int(len(s) - p - d))
            if "churned" in data:
                row["churn_rate"] = float(part["churned"].mean())
            if "spend" in data:
                row["spend_mean"] = float(part["spend"].mean())
            rows.append(row)
        self.profile_ = pd.DataFrame(rows)

    @property
    def summary(self) -> pd.DataFrame:
        return self.profile_

    def to_results(self) -> dict:
        """``clusters`` of results.json (DESIGN.md) plus the profile and the stability; when
        skipped, ``{"skipped": reason}``."""
        if self.skip_reason_ is not None:
            return {"skipped": self.skip_reason_}
        return {"k": self.k_, "method": self.method, "silhouette": self.silhouette_,
                "sizes": [int(v) for v in np.bincount(self.labels_, minlength=self.k_)],
                "stability_ari": self.stability_, "columns": self.used_, "warnings": self.warnings_, "names": self.profile_["name"].tolist(),
                "profile": self.profile_, "selection": self.selection_}

    def projection(self, max_points: int = 5000) -> pd.DataFrame:
        """First two principal components of a sample of customers: ``pc1, pc2, cluster``."""
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(len(self._X), size=min(max_points, len(self._X)), replace=False)
        pcs = PCA(2, random_state=self.random_state).fit(self._X).transform(self._X[idx])
        return pd.DataFrame({"pc1": pcs[:, 0], "pc2": pcs[:, 1], "cluster": self.labels_[idx].astype(str)})

    def _repr_html_(self) -> str:
        return self.profile_.to_html(index=False, float_format=lambda v: f"{v:,.2f}")

    def plot(self, ax=None):
        from .plots import profile_heatmap

        return profile_heatmap(self.zscores_.set_axis(self.profile_["name"]), ax=ax)
