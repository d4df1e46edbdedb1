"""DuckDB: exports larger than memory, read out of core from Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Config, load_config
from .base import SQLEngine, canonical_select

__all__ = ["DuckDBEngine", "reader_sql"]


def reader_sql(path: str | Path) -> str:
    """DuckDB's reader for a Parquet or CSV file or glob."""
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
        if isinstance(source, pd.DataFrame):
            import pyarrow as pa

            self._arrow = pa.Table.from_pandas(source, preserve_index=False)  # NaN -> NULL
            self.con.register("_source", self._arrow)
            self.con.execute(f"CREATE VIEW {self.table} AS SELECT * FROM _source")
        else:
            reader = reader_sql(source)
            cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
            select = canonical_select(cols, self.config, quarter)
            self.con.execute(f"CREATE VIEW {self.table} AS SELECT {select} FROM {reader}")
        self.columns = [r[0] for r in self.con.execute(f"DESCRIBE {self.table}").fetchall()]

    def query(self, text: str) -> pd.DataFrame:
        return self.con.execute(text).df()

    def stratified_sample(self, per_stratum: int = 50_000, *, seed: int = 0) -> pd.DataFrame:
        """Up to ``per_stratum`` random respondents per quarter x category, with weights.

        A reservoir sample (simple random sampling without replacement) is drawn in each stratum;
        the same ``seed`` draws the same customers.

        Returns the sampled rows plus ``_stratum`` and ``_sampling_weight`` (stratum size /
        rows drawn): weighted sums over the sample estimate totals over the export.
        """
        cats = self.config.categories
        s = f'"{cats["score"]}"'
        stratum = (f"quarter || ':' || CASE WHEN {s} >= {cats['promoter_min']} THEN 'promoter' "
                   f"WHEN {s} <= {cats['detractor_max']} THEN 'detractor' ELSE 'passive' END")
        sizes = self.query(f"SELECT {stratum} AS _stratum, COUNT(*) AS _size FROM {self.table} "
                           f"WHERE {s} IS NOT NULL GROUP BY 1 ORDER BY 1")
        # one reservoir sample per stratum: memory bounded by the sample, not the export;
        # single-threaded so that the seed reproduces the same customers
        self.con.execute("SET threads=1")
        parts = []
        try:
            for name, size in zip(sizes["_stratum"], sizes["_size"], strict=True):
                take = min(int(per_stratum), int(size))
                literal = "'" + str(name).replace("'", "''") + "'"
                part = self.query(
                    f"SELECT * FROM (SELECT * FROM {self.table} WHERE {stratum} = {literal}) "
                    f"USING SAMPLE reservoir({take} ROWS) REPEATABLE ({int(seed)})")
                part["_stratum"] = name
                part["_sampling_weight"] = size / take
                parts.append(part.sort_values("customer_id", kind="stable"))
        finally:
            self.con.execute(f"SET threads={self.threads}")
        return pd.concat(parts, ignore_index=True)

    def close(self) -> None:
        self.con.close()
