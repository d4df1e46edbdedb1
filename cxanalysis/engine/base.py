"""The engine interface, and the part every SQL engine shares.

An engine holds one canonical customer table (the columns of DESIGN.md) and computes the exact
tables over every row of it: NPS with its interval overall, per quarter and per segment, the CX
metrics per quarter, and row counts. :class:`PandasEngine` computes them in memory with the
functions of :mod:`cxanalysis.metrics` (the reference); :class:`SQLEngine` subclasses (DuckDB,
Spark, sqlite) run the one SQL text of :mod:`cxanalysis.engine.sql` and turn its sums into
estimates with :mod:`cxanalysis.engine.exact`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..config import Config, load_config
from ..metrics import configured_nps, cx_metrics
from ..schema import CATEGORICAL, CX_SCORES, Problem, check_rules, clashing_names, rules
from ..schema import sql_name as q
from . import exact, sql

__all__ = ["Engine", "SQLEngine", "PandasEngine", "EXACT_TABLES", "canonical_select", "quarter_given", "stratified_sql",
           "finish_sample", "MISSING_LEVEL", "crm_columns", "base_metrics"]

#: The exact tables every engine computes (:meth:`Engine.exact_tables`).
EXACT_TABLES = ("nps_overall", "nps_quarter", "nps_segments", "metrics", "metrics_skipped", "counts")


def crm_columns(columns: Sequence[str], config: Config) -> list[str]:
    """The columns of a table over every customer, respondents or not (:func:`base_metrics`):
    ``quarter`` and the CRM's facts the metrics read, without the CX scores (only respondents
    have them) and without the respondents' weights (every customer counts once)."""
    scores = {*CX_SCORES, config.categories["score"]}
    return [c for c in columns if c == "quarter" or (c in sql.USED_BY_METRICS and c not in scores and c != "weight")]


def base_metrics(respondents: pd.DataFrame, nonrespondents: pd.DataFrame | None, config: Config) -> pd.DataFrame | None:
    """The exact metrics of the CRM's facts per quarter over every customer, respondents (after
    cleaning) and non-respondents together, unweighted: churn and the other rates, spend and the
    other averages, retention cost, MRR, CLV (``metrics_base`` of a run's exact tables; the large
    route's engine computes the same with :meth:`SQLEngine.metrics_over`). None when the export
    holds no non-respondent: the respondents are then the base, and their own table says it all.
    """
    if nonrespondents is None or not len(nonrespondents):
        return None
    cols = crm_columns(list(dict.fromkeys([*respondents.columns, *nonrespondents.columns])), config)
    base = pd.concat([respondents.reindex(columns=cols), nonrespondents.reindex(columns=cols)], ignore_index=True)
    return PandasEngine(base, config).metrics(by=("quarter",))[0]


class Engine(ABC):
    """One canonical customer table and the exact tables over all its rows.

    Subclasses set ``name`` and ``columns`` and implement :meth:`nps`, :meth:`metrics`,
    :meth:`counts`, :meth:`validate` and :meth:`to_pandas`.
    """

    name: str = ""
    config: Config
    columns: list[str]

    @abstractmethod
    def nps(self, by: Sequence[str] = ()) -> pd.DataFrame:
        """The configured net score per group: the columns of :func:`cxanalysis.metrics.nps`."""

    @abstractmethod
    def metrics(self, by: Sequence[str] = ("quarter",), *,
                counts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The exact CX metrics per group (``[by...], metric, value, ci_low, ci_high, n, n_eff,
        unit, method``) and the skipped ones (``[by...], metric, reason``). ``counts``: the
        result of :meth:`counts` for the same ``by``, when already at hand."""

    @abstractmethod
    def counts(self, by: Sequence[str] = ("quarter",)) -> pd.DataFrame:
        """``[by...], n_rows, respondents, present__<column>...`` per group."""

    @abstractmethod
    def validate(self) -> list[Problem]:
        """The validation rules of :mod:`cxanalysis.schema`, each as one count."""

    @abstractmethod
    def to_pandas(self) -> pd.DataFrame:
        """The whole table in memory."""

    @property
    def n_rows(self) -> int:
        return int(self.counts(by=())["n_rows"].iloc[0])

    def segment_dimensions(self) -> list[str]:
        """The configured segment dimensions that are categories (``plan``, ``region``,
        ``job_title``) and present. Numeric dimensions are cut into bands in memory
        (:mod:`cxanalysis.segments`), not in the exact tables."""
        return [d for d in self.config.segments["dimensions"] if d in CATEGORICAL and d in self.columns]

    def segment_nps(self, dimensions: Sequence[str] | None = None) -> pd.DataFrame:
        """NPS per quarter and segment of each dimension, stacked: ``quarter, dimension,
        segment, n, ...`` (the columns of :meth:`nps`). Rows missing the segment are left out."""
        parts = []
        for dim in self.segment_dimensions() if dimensions is None else dimensions:
            t = self.nps(by=["quarter", dim]).rename(columns={dim: "segment"})
            if t.empty:  # every row misses this dimension
                continue
            t.insert(1, "dimension", dim)
            t["segment"] = t["segment"].astype(str)
            parts.append(t)
        if not parts:
            return pd.DataFrame(columns=["quarter", "dimension", "segment"])
        return pd.concat(parts, ignore_index=True)

    def exact_tables(self) -> dict[str, pd.DataFrame]:
        """Every exact table (:data:`EXACT_TABLES`) over all rows."""
        counts = self.counts(by=("quarter",))
        metrics, skipped = self.metrics(by=("quarter",), counts=counts)
        return {"nps_overall": self.nps(by=()), "nps_quarter": self.nps(by=("quarter",)),
                "nps_segments": self.segment_nps(), "metrics": metrics, "metrics_skipped": skipped,
                "counts": counts}

    def close(self) -> None:  # noqa: B027 - nothing to release in memory
        """Release the engine's connection (nothing to do in memory)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PandasEngine(Engine):
    """The in-memory reference: a canonical frame and the functions of :mod:`cxanalysis.metrics`."""

    name = "pandas"

    def __init__(self, data: pd.DataFrame, config: Config | None = None):
        self.data = data
        self.config = config if isinstance(config, Config) else load_config(config)
        self.columns = [str(c) for c in data.columns]

    def nps(self, by: Sequence[str] = ()) -> pd.DataFrame:
        return configured_nps(self.data, self.config, by=list(by) or None)

    def _groups(self, by: Sequence[str]):
        if not by:
            yield (), self.data
            return
        for key, part in self.data.groupby(list(by), observed=True, sort=True):
            yield (key if isinstance(key, tuple) else (key,)), part

    def metrics(self, by: Sequence[str] = ("quarter",), *,
                counts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        out, skips = [], []
        for key, part in self._groups(by):
            table, skipped = cx_metrics(part, self.config, part="exact")
            keys = dict(zip(by, key, strict=True))
            out.append(table.assign(**keys)[[*by, *table.columns]])
            skips += [{**keys, "metric": m, "reason": why} for m, why in skipped.items()]
        cols = [*by, "metric", "value", "ci_low", "ci_high", "n", "n_eff", "unit", "method"]
        table = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
        return table.reindex(columns=cols), pd.DataFrame(skips, columns=[*by, "metric", "reason"])

    def counts(self, by: Sequence[str] = ("quarter",)) -> pd.DataFrame:
        score = self.config.categories["score"]
        rows = []
        for key, part in self._groups(by):
            row = {**dict(zip(by, key, strict=True)), "n_rows": len(part),
                   "respondents": int(part[score].notna().sum()) if score in part else 0}
            row.update({f"present__{c}": int(part[c].notna().sum()) for c in self.columns
                        if c not in by and not str(c).startswith("_")})
            rows.append(row)
        return pd.DataFrame(rows)

    def validate(self) -> list[Problem]:
        return check_rules(self.data, self.config.scales)

    def to_pandas(self) -> pd.DataFrame:
        return self.data

    def stratified_sample(self, per_stratum: int = 50_000, *, seed: int = 0,
                          by: Sequence[str] = ()) -> pd.DataFrame:
        """Up to ``per_stratum`` random respondents per quarter x category (x each ``by``
        column's level), with ``_stratum`` and ``_sampling_weight`` (stratum size / rows drawn)."""
        stratum = _stratum_labels(self.data, self.config, by)
        scored = self.data[stratum.notna()].assign(_stratum=stratum[stratum.notna()])
        parts = []
        for _name, part in scored.groupby("_stratum", sort=True):
            take = min(int(per_stratum), len(part))
            s = part.sample(n=take, random_state=seed).assign(_sampling_weight=len(part) / take)
            parts.append(s.sort_values("customer_id", kind="stable"))
        return pd.concat(parts, ignore_index=True)


#: A level of a stratifying column that is missing.
MISSING_LEVEL = "(missing)"


def _category_sql(config: Config) -> str:
    cats = config.categories
    s = q(cats["score"])
    return (f"CASE WHEN {s} >= {float(cats['promoter_min'])!r} THEN 'promoter' "
            f"WHEN {s} <= {float(cats['detractor_max'])!r} THEN 'detractor' ELSE 'passive' END")


def stratified_sql(table: str, config: Config, by: Sequence[str], per_stratum: int, order: str) -> str:
    """A stratified sample in one SQL statement: strata quarter x category x each ``by`` column
    (a missing value is a level of its own), up to ``per_stratum`` rows each, ranked by
    ``order`` (a random key). The ranking reads only the id, quarter and stratum columns; the
    rows drawn are joined back in full. Returns the rows plus ``_stratum`` (a label) and
    ``_size`` (the stratum's rows)."""
    s = q(config.categories["score"])
    cat = _category_sql(config)
    part = ", ".join(["quarter", cat, *(q(b) for b in by)])
    label = " || ':' || ".join(["quarter", cat, *(f"COALESCE(CAST({q(b)} AS STRING), '{MISSING_LEVEL}')"
                                                   for b in by)])
    pick = (f"SELECT customer_id AS _id, quarter AS _q, {label} AS _stratum, "
            f"COUNT(*) OVER (PARTITION BY {part}) AS _size, "
            f"ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY {order}) AS _rank "
            f"FROM {table} WHERE {s} IS NOT NULL")
    return (f"SELECT c.*, p._stratum, p._size FROM {table} c JOIN "
            f"(SELECT _id, _q, _stratum, _size FROM ({pick}) r WHERE _rank <= {int(per_stratum)}) p "
            f"ON c.customer_id = p._id AND c.quarter = p._q")


def finish_sample(out: pd.DataFrame) -> pd.DataFrame:
    """``_sampling_weight`` = stratum size / rows drawn, rows in stratum and id order."""
    take = out.groupby("_stratum")["_stratum"].transform("size")
    out["_sampling_weight"] = out["_size"].astype(float) / take
    return (out.drop(columns=["_size"]).sort_values(["_stratum", "customer_id"], kind="stable")
            .reset_index(drop=True))


def _stratum_labels(data: pd.DataFrame, config: Config, by: Sequence[str] = ()) -> pd.Series:
    cats = config.categories
    s = data[cats["score"]].astype(float)
    cat = np.where(s >= cats["promoter_min"], "promoter", np.where(s <= cats["detractor_max"], "detractor", "passive"))
    out = data["quarter"].astype(str) + ":" + pd.Series(cat, index=data.index)
    for b in by:
        out = out + ":" + data[b].astype(object).where(data[b].notna(), MISSING_LEVEL).astype(str)
    return out.where(s.notna())


class SQLEngine(Engine):
    """An engine that runs SQL over a table or view named ``customers`` of canonical columns.

    Subclasses implement :meth:`query` (SQL text in, a pandas frame out) and set ``columns``.
    """

    table = "customers"
    #: whether the export's quarter came from cx.yaml or ``--quarter`` (:func:`quarter_given`);
    #: set by engines that read an export file
    quarter_given = False

    @abstractmethod
    def query(self, text: str) -> pd.DataFrame:
        """Run one SQL statement and return its result."""

    def nps(self, by: Sequence[str] = ()) -> pd.DataFrame:
        stats = self.query(sql.nps_sql(self.table, self.config, self.columns, by))
        return exact.nps_table(stats, self.config, by)

    def metrics(self, by: Sequence[str] = ("quarter",), *,
                counts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        cfg = self.config
        stats = self.query(sql.metrics_sql(self.table, cfg, self.columns, by))
        counts = self.counts(by) if counts is None else counts
        nps_stats = None
        if "nps_score" in self.columns:
            cats = cfg.categories
            on_nps = cfg if cats["score"] == "nps_score" else cfg.with_overrides(
                categories={"score": "nps_score", "promoter_min": 9, "detractor_max": 6})
            nps_stats = self.query(sql.nps_sql(self.table, on_nps, self.columns, by))
        net_stats = None
        if cfg.categories["score"] != "nps_score" and cfg.categories["score"] in self.columns:
            net_stats = self.query(sql.nps_sql(self.table, cfg, self.columns, by))
        return exact.metrics_table(stats, counts, nps_stats, net_stats, cfg, by, "weight" in self.columns)

    def counts(self, by: Sequence[str] = ("quarter",)) -> pd.DataFrame:
        return self.query(sql.counts_sql(self.table, self.config, self.columns, by))

    def metrics_over(self, select: str, columns: Sequence[str], by: Sequence[str] = ("quarter",)) -> pd.DataFrame:
        """The exact metrics of ``select`` (a statement over this engine's tables, with
        ``columns``: :func:`crm_columns`, so no score and no weight) per group: what
        :func:`base_metrics` computes in memory, in the one SQL text."""
        src = f"({select}) base_rows"
        stats = self.query(sql.metrics_sql(src, self.config, columns, by))
        counts = self.query(sql.counts_sql(src, self.config, columns, by))
        return exact.metrics_table(stats, counts, None, None, self.config, by, False)[0]

    def validate(self, *, unique: Sequence[str] = ()) -> list[Problem]:
        """Every rule as a count: the row-wise rules in one pass over the table (one
        ``SUM(CASE ...)`` each), the rules with a subquery (uniqueness) one query each; up to
        three example customers for each broken rule. ``unique``: columns whose combination the
        caller has already counted as unique over a superset of these rows; the uniqueness rule
        on exactly those columns then counts 0 without another pass."""
        active = [r for r in rules(self.config.scales) if all(c in self.columns for c in r.columns)]
        counts: dict[int, int] = {}
        if unique:
            counts.update({i: 0 for i, r in enumerate(active)
                           if "SELECT" in r.sql.upper() and set(r.columns) == set(unique)})
        flat = [i for i, r in enumerate(active) if "SELECT" not in r.sql.upper()]
        if flat:
            sums = ", ".join(f"SUM(CASE WHEN {active[i].sql} THEN 1 ELSE 0 END) AS r{i}" for i in flat)
            row = self.query(f"SELECT {sums} FROM {self.table}").iloc[0]
            counts.update({i: int(row[f"r{i}"] or 0) if pd.notna(row[f"r{i}"]) else 0 for i in flat})
        for i, rule in enumerate(active):
            if i not in counts:
                counts[i] = int(self.query(f"SELECT COUNT(*) AS n FROM {self.table} WHERE {rule.sql}")["n"].iloc[0])
        problems = []
        for i, rule in enumerate(active):
            n = counts[i]
            if n:
                show = rule.show or rule.columns[0]
                ex = self.query(f"SELECT customer_id, {q(show)} AS v FROM {self.table} WHERE {rule.sql} "
                                "ORDER BY customer_id LIMIT 3")
                examples = ", ".join(f"id {cid}: {_plain(v)}" for cid, v in zip(ex["customer_id"], ex["v"], strict=True))
                problems.append(Problem(rule.columns[0], rule.rule, n, examples, rule.fix))
        return problems

    def to_pandas(self) -> pd.DataFrame:
        return self.query(f"SELECT * FROM {self.table}")


def _plain(v) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def quarter_given(source_columns: Sequence[str], config: Config) -> bool:
    """Whether an export's quarter must come from cx.yaml or ``--quarter``: it has no quarter
    column, and none is mapped."""
    return "quarter" not in list(source_columns) and "quarter" not in dict(config.columns)


def canonical_select(source_columns: Sequence[str], config: Config, quarter: str | None) -> str:
    """The SELECT list that renames an export's columns to canonical names (``cx.yaml``'s
    ``columns``), keeps the others as they are, and adds ``quarter`` when the export has none.

    Raises
    ------
    ValueError
        A mapped column the export does not have, or no quarter column and no quarter given.
    """
    mapping = dict(config.columns)
    cols = list(source_columns)
    select = []
    for canonical, source in mapping.items():
        if source not in cols:
            raise ValueError(f"cx.yaml maps {canonical!r} to column {source!r}, which the export does not have "
                             f"(it has: {', '.join(cols[:12])}). Fix the mapping under 'columns:'.")
        select.append(f"{q(source)} AS {q(canonical)}")
    kept = [c for c in cols if c not in mapping.values() and c not in mapping]
    renamed = clashing_names(kept, list(mapping))  # "Quarter" beside the run's quarter, as in memory
    select += [f"{q(c)} AS {q(renamed[c])}" if c in renamed else q(c) for c in kept]
    qtr = quarter or config.quarter
    if quarter_given(cols, config):
        if qtr is None:
            raise ValueError("The export has no quarter column: pass quarter= (--quarter) or set 'quarter' in cx.yaml.")
        select.append("'" + str(qtr).replace("'", "''") + "' AS quarter")
    return ", ".join(select)
