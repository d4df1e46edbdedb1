"""Exports too large for memory: validate, aggregate and sample in SQL.

DuckDB reads Parquet or CSV out of core, so a 10M-customer export can be validated and turned
into NPS, metric and segment tables without loading it into pandas. The aggregation is plain SQL
(``SUM(CASE ...)`` by group), so the same statements run in a distributed engine (Spark SQL,
BigQuery, Snowflake) over the customer table there; :func:`aggregate_sql` returns the text. The
per-group counts are turned into estimates and intervals by the same functions as in memory
(:func:`cxanalysis.metrics.nps_from_counts`), so the numbers are identical.

Models need individual rows: :func:`stratified_sample` draws a fixed number of customers per
quarter x NPS category (simple random sampling within strata) and returns each row's sampling
weight (stratum size / sample size), so a documented sample stands in for the whole export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .config import Config, load_config
from .metrics import nps_from_counts
from .schema import Problem, rules, sql_name

__all__ = ["LargeExport", "aggregate_sql"]


_q = sql_name


def aggregate_sql(table: str, config: Config, by: Sequence[str] = ()) -> str:
    """SQL that aggregates a canonical customer table into the counts behind NPS and the rates.

    ``table`` is any table or subquery holding canonical column names. Returns one row per group
    with ``n, n_scored, promoters, detractors``.
    Portable SQL: no engine-specific functions.
    """
    cats = config.categories
    s = _q(cats["score"])
    group = ", ".join(_q(b) for b in by)
    select_by = f"{group}, " if by else ""
    return (
        f"SELECT {select_by}COUNT(*) AS n, COUNT({s}) AS n_scored, "
        f"SUM(CASE WHEN {s} >= {cats['promoter_min']} THEN 1 ELSE 0 END) AS promoters, "
        f"SUM(CASE WHEN {s} <= {cats['detractor_max']} THEN 1 ELSE 0 END) AS detractors "
        f"FROM {table}" + (f" GROUP BY {group} ORDER BY {group}" if by else "")
    )


class LargeExport:
    """An export read by DuckDB, never loaded whole into memory.

    Parameters
    ----------
    path : str or Path
        Parquet or CSV file (or a glob such as ``data/2026Q3/*.parquet``).
    config : Config, path or mapping, optional
        Column mapping, scales and categories as for :func:`cxanalysis.io.load`.
    quarter : str, optional
        Quarter of an export without a quarter column.
    """

    def __init__(self, path: str | Path, config=None, *, quarter: str | None = None):
        import duckdb

        self.config = config if isinstance(config, Config) else load_config(config)
        self.con = duckdb.connect()
        self.con.execute("PRAGMA threads=2")
        p = str(path)
        reader = f"read_parquet('{p}')" if p.endswith((".parquet", ".pq")) else f"read_csv_auto('{p}')"
        cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        mapping = dict(self.config.columns)
        select = []
        for canonical, source in mapping.items():
            if source not in cols:
                raise ValueError(f"cx.yaml maps {canonical!r} to column {source!r}, which the export does not have.")
            select.append(f"{_q(source)} AS {_q(canonical)}")
        select += [_q(c) for c in cols if c not in mapping.values() and c not in mapping]
        q = quarter or self.config.quarter
        if "quarter" not in cols and "quarter" not in mapping:
            if q is None:
                raise ValueError("The export has no quarter column: pass quarter= or set it in cx.yaml.")
            select.append(f"'{q}' AS quarter")
        self.con.execute(f"CREATE VIEW customers AS SELECT {', '.join(select)} FROM {reader}")
        self.columns = [r[0] for r in self.con.execute("DESCRIBE customers").fetchall()]

    def sql(self, query: str) -> pd.DataFrame:
        return self.con.execute(query).df()

    @property
    def n_rows(self) -> int:
        return int(self.con.execute("SELECT COUNT(*) FROM customers").fetchone()[0])

    def validate(self) -> list[Problem]:
        """The validation rules of :mod:`cxanalysis.schema` (the same rule table as in memory),
        each as one SQL count with up to three example customers."""
        problems = []
        for rule in rules(self.config.scales):
            if not all(c in self.columns for c in rule.columns):
                continue
            n = int(self.con.execute(f"SELECT COUNT(*) FROM customers WHERE {rule.sql}").fetchone()[0])
            if n:
                show = rule.show or rule.columns[0]
                ex = self.con.execute(f"SELECT customer_id, {_q(show)} FROM customers WHERE {rule.sql} "
                                      "ORDER BY customer_id LIMIT 3").fetchall()
                problems.append(Problem(rule.columns[0], rule.rule, n, ", ".join(f"id {i}: {v}" for i, v in ex), rule.fix))
        return problems

    def nps(self, by: Sequence[str] = ()) -> pd.DataFrame:
        """NPS with its interval per group, from SQL counts (same estimator as in memory).

        Returns ``[by...], n, promoters, passives, detractors, nps, ci_low, ci_high``.
        """
        counts = self.sql(aggregate_sql("customers", self.config, by))
        rows = []
        for r in counts.itertuples(index=False):
            d = r._asdict()
            res = nps_from_counts(d["promoters"], d["n_scored"] - d["promoters"] - d["detractors"], d["detractors"],
                                  ci=self.config.nps_ci, alpha=self.config.alpha)
            rows.append({**{b: d[b] for b in by}, "n": int(d["n_scored"]), "promoters": res["promoters"],
                         "passives": res["passives"], "detractors": res["detractors"], "nps": res["nps"],
                         "ci_low": res["ci_low"], "ci_high": res["ci_high"]})
        return pd.DataFrame(rows)

    def segment_table(self, dimensions: Sequence[str]) -> pd.DataFrame:
        """NPS (with CI), churn rate and mean spend per segment of each categorical dimension."""
        parts = []
        for dim in dimensions:
            if dim not in self.columns:
                continue
            t = self.nps(by=["quarter", dim]).rename(columns={dim: "segment"})
            extra = []
            if "churned" in self.columns:
                extra.append('AVG(CAST("churned" AS DOUBLE)) AS churn_rate')
            if "spend" in self.columns:
                extra.append('AVG("spend") AS spend')
            if extra:
                m = self.sql(f"SELECT quarter, {_q(dim)} AS segment, {', '.join(extra)} FROM customers "
                             f"GROUP BY quarter, {_q(dim)}")
                t = t.merge(m, on=["quarter", "segment"], how="left")
            parts.append(t.assign(dimension=dim))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def stratified_sample(self, per_stratum: int = 50_000, *, seed: int = 0) -> pd.DataFrame:
        """Up to ``per_stratum`` random customers per quarter x NPS category, with weights.

        A reservoir sample (simple random sampling without replacement) is drawn in each stratum;
        the same ``seed`` draws the same customers.

        Returns the sampled rows plus ``_stratum`` and ``_sampling_weight`` (stratum size /
        rows drawn): weighted sums over the sample estimate totals over the export.
        """
        cats = self.config.categories
        s = _q(cats["score"])
        stratum = (f"quarter || ':' || CASE WHEN {s} >= {cats['promoter_min']} THEN 'promoter' "
                   f"WHEN {s} <= {cats['detractor_max']} THEN 'detractor' ELSE 'passive' END")
        sizes = self.sql(f"SELECT {stratum} AS _stratum, COUNT(*) AS _size FROM customers "
                         f"WHERE {s} IS NOT NULL GROUP BY 1 ORDER BY 1")
        # one reservoir sample per stratum: memory bounded by the sample, not the export;
        # single-threaded so that the seed reproduces the same customers
        self.con.execute("SET threads=1")
        parts = []
        try:
            for name, size in zip(sizes["_stratum"], sizes["_size"], strict=True):
                take = min(int(per_stratum), int(size))
                literal = "'" + str(name).replace("'", "''") + "'"
                part = self.sql(
                    f"SELECT * FROM (SELECT * FROM customers WHERE {stratum} = {literal}) "
                    f"USING SAMPLE reservoir({take} ROWS) REPEATABLE ({int(seed)})")
                part["_stratum"] = name
                part["_sampling_weight"] = size / take
                parts.append(part.sort_values("customer_id", kind="stable"))
        finally:
            self.con.execute("PRAGMA threads=2")
        return pd.concat(parts, ignore_index=True)

    def close(self) -> None:
        self.con.close()
