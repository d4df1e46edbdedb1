"""Engines: the exact tables over every row, in memory, in DuckDB, in Spark (or sqlite).

:class:`Engine` is the interface. The SQL text lives once in :mod:`cxanalysis.engine.sql`, the
arithmetic from its sums once in :mod:`cxanalysis.engine.exact`; :class:`PandasEngine` is the
in-memory reference (the functions of :mod:`cxanalysis.metrics`).
"""

from __future__ import annotations

from .base import EXACT_TABLES, Engine, PandasEngine, SQLEngine, canonical_select
from .choose import AUTO_THRESHOLD_BYTES, AUTO_THRESHOLD_ROWS, ENGINES, choose_engine, open_engine
from .duckdb import DuckDBEngine
from .sqlite import SqliteEngine

__all__ = ["Engine", "SQLEngine", "PandasEngine", "DuckDBEngine", "SqliteEngine", "SparkEngine",
           "EXACT_TABLES", "ENGINES", "AUTO_THRESHOLD_BYTES", "AUTO_THRESHOLD_ROWS", "choose_engine", "open_engine",
           "canonical_select"]


def __getattr__(name):
    if name == "SparkEngine":  # pyspark is an optional extra: imported only when asked for
        from .spark import SparkEngine

        return SparkEngine
    raise AttributeError(name)
