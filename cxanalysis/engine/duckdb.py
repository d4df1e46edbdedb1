"""DuckDB: exports larger than memory, read out of core from Parquet or CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..config import Config, load_config
from ..schema import sql_name as q
from .base import (
    MISSING_LEVEL,
    SQLEngine,
    _category_sql,
    canonical_select,
    finish_sample,
    quarter_given,
)

__all__ = ["DuckDBEngine", "reader_sql"]


def reader_sql(path: str | Path) -> str:
    """DuckDB's reader for a Parquet or CSV file or glob, or a folder of them (its Parquet
    files when it holds any, else its CSV files)."""
    if Path(str(path)).is_dir():
        folder = Path(str(path))
        path = str(folder / ("*.parquet" if any(folder.glob("*.parquet")) else "*.csv"))
    p = str(path).replace("'", "''")
    return f"read_parquet('{p}')" if p.endswith((".parquet", ".pq")) else f"read_csv_auto('{p}')"


class DuckDBEngine(SQLEngine):
    """The exact tables computed by DuckDB, embedded, over every row.

    Parameters
    ----------
    source : str, Path or DataFrame
        A Parquet or CSV file or glob (``data/2026Q3/*.parquet``), mapped to canonical columns by
        ``config``; or a canonical frame already in memory.
    config : Config, path or mapping, optional
    quarter : str, optional
        Quarter of an export without a quarter column.
    threads : int
        DuckDB's worker threads.
    """

    name = "duckdb"

    def __init__(self, source, config=None, *, quarter: str | None = None, threads: int = 2):
        import duckdb

        self.config = config if isinstance(config, Config) else load_config(config)
        self.threads = int(threads)
        self.con = duckdb.connect()
        self.con.execute(f"SET threads={self.threads}")
        self._derived = False
        if isinstance(source, pd.DataFrame):
            import pyarrow as pa

            self._arrow = pa.Table.from_pandas(source, preserve_index=False)  # NaN -> NULL
            self.con.register("_source", self._arrow)
            self.con.execute(f"CREATE VIEW {self.table} AS SELECT * FROM _source")
        else:
            from .choose import QuarterFolders

            parts = source.parts if isinstance(source, QuarterFolders) else ((source, quarter),)
            selects = []
            for path, qq in parts:  # quarter folders: one SELECT each, their columns matched by name
                reader = reader_sql(path)
                cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
                selects.append(f"SELECT {canonical_select(cols, self.config, qq)} FROM {reader}")
            self.quarter_given = not isinstance(source, QuarterFolders) and quarter_given(cols, self.config)
            self.con.execute(f"CREATE VIEW {self.table} AS " + " UNION ALL BY NAME ".join(selects))
        self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {self.table}").fetchall()]

    def query(self, text: str) -> pd.DataFrame:
        return self.con.execute(text).df()

    def derive_view(self, select: str) -> None:
        """Redefine the table as ``select`` over the table as the engine first read it (the
        mapped export, kept as ``customers_src``): typed, cleaned, deduplicated columns."""
        if not self._derived:
            self.con.execute(f"ALTER VIEW {self.table} RENAME TO customers_src")
            self._derived = True
        self.con.execute(f"CREATE OR REPLACE VIEW {self.table} AS {select}")
        self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {self.table}").fetchall()]

    def materialise(self, select: str, name: str) -> None:
        """Store ``select`` once as table ``name`` (DuckDB's own columnar format, spilled to its
        temporary directory beyond the memory limit) and redefine the table as that: later
        statements read it instead of re-reading the export and re-applying the mapping and
        the cleaning expressions. ``select`` may read ``customers_src`` (the mapped export) or
        the table stored before, which is dropped once the new one exists."""
        if not self._derived:
            self.con.execute(f"ALTER VIEW {self.table} RENAME TO customers_src")
            self._derived = True
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {select}")
        self.con.execute(f"CREATE OR REPLACE VIEW {self.table} AS SELECT * FROM {name}")
        previous, self._stored = getattr(self, "_stored", None), name
        if previous and previous != name:
            self.con.execute(f"DROP TABLE {previous}")
        self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {self.table}").fetchall()]

    def stratified_sample(self, per_stratum: int = 50_000, *, seed: int = 0,
                          by: Sequence[str] = ()) -> pd.DataFrame:
        """Up to ``per_stratum`` random respondents per quarter x category (x each ``by`` column's
        level), with weights.

        Within a stratum the rows are ranked by a hash of the customer, the quarter and ``seed``
        (the same seed draws the same customers), then by the id. The rows drawn are the
        ``per_stratum`` smallest keys of each stratum, kept by one aggregate (DuckDB's
        ``min_by(arg, key, n)``: a bounded heap per stratum, in parallel, instead of sorting
        every row as ``ROW_NUMBER()`` in :func:`~cxanalysis.engine.base.stratified_sql` does;
        the same rows, which ``tests/test_engines.py`` checks against that SQL); the rows drawn
        are then read in full. Memory is bounded by the sample, not the export.
        ``customer_id`` must be unique within a quarter (the validation rule).

        Returns the sampled rows plus ``_stratum`` and ``_sampling_weight`` (stratum size /
        rows drawn): weighted sums over the sample estimate totals over the export.
        """
        return finish_sample(self.query(self.stratified_text(per_stratum, seed=seed, by=by)))

    def stratified_text(self, per_stratum: int, *, seed: int = 0, by: Sequence[str] = ()) -> str:
        """The SQL of :meth:`stratified_sample`."""
        s = q(self.config.categories["score"])
        cat = _category_sql(self.config)
        part = ", ".join(["quarter", cat, *(q(b) for b in by)])
        label = " || ':' || ".join(["quarter", cat, *(f"COALESCE(CAST({q(b)} AS VARCHAR), '{MISSING_LEVEL}')"
                                                       for b in by)])
        key = f"{{'h': hash(customer_id, quarter, {int(seed)}), 'id': customer_id}}"
        pick = (f"SELECT min_by(customer_id, {key}, {int(per_stratum)}) AS _ids, ANY_VALUE(quarter) AS _q, "
                f"ANY_VALUE({label}) AS _stratum, COUNT(*) AS _size "
                f"FROM {self.table} WHERE {s} IS NOT NULL GROUP BY {part}")
        drawn = f"SELECT UNNEST(_ids) AS _id, _q, _stratum, _size FROM ({pick}) g"
        return (f"SELECT c.*, p._stratum, p._size FROM {self.table} c JOIN ({drawn}) p "
                f"ON c.customer_id = p._id AND c.quarter = p._q")

    def close(self) -> None:
        self.con.close()
