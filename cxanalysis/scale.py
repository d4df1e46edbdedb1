"""Exports too large for memory: the DuckDB engine under its earlier name.

:class:`LargeExport` is :class:`cxanalysis.engine.DuckDBEngine` (kept for code written against
it): it reads Parquet or CSV out of core, validates with the rule table of
:mod:`cxanalysis.schema`, computes the exact tables with the one SQL text of
:mod:`cxanalysis.engine.sql` and draws a stratified sample for the models. :func:`aggregate_sql`
returns the unweighted NPS counts of that same SQL text, for running in another engine over the
customer table there. New code: ``cxanalysis.engine.open_engine("duckdb", path, config)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .config import Config, load_config
from .engine import DuckDBEngine
from .engine.sql import aggregate_sql

__all__ = ["LargeExport", "aggregate_sql"]


class LargeExport(DuckDBEngine):
    """An export read by DuckDB, never loaded whole into memory (see :class:`DuckDBEngine`).

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
        super().__init__(path, config if isinstance(config, Config) else load_config(config), quarter=quarter)

    def sql(self, query: str) -> pd.DataFrame:
        """Run a SQL statement on the export (the view ``customers``)."""
        return self.query(query)

    def segment_table(self, dimensions: Sequence[str]) -> pd.DataFrame:
        """NPS (with CI), churn rate and mean spend per quarter and segment of each dimension.

        Returns ``quarter, dimension, segment`` and the columns of :meth:`nps`, plus
        ``churn_rate`` and ``spend`` (weighted means) from the exact metrics.
        """
        dims = [d for d in dimensions if d in self.columns]
        table = self.segment_nps(dims)
        for dim in dims:
            metrics, _ = self.metrics(by=("quarter", dim))
            for col, metric in (("churn_rate", "Churn rate"), ("spend", "Average spend per customer")):
                m = metrics[metrics["metric"] == metric]
                if m.empty:
                    continue
                m = m.assign(dimension=dim, segment=m[dim].astype(str))[["quarter", "dimension", "segment", "value"]]
                table = table.merge(m.rename(columns={"value": col}), on=["quarter", "dimension", "segment"],
                                    how="left", suffixes=("", "_new"))
                if f"{col}_new" in table:
                    table[col] = table[col].fillna(table.pop(f"{col}_new"))
        return table
