"""Which engine runs: ``--engine`` / ``engine:`` in cx.yaml, and what ``auto`` picks."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import Config

__all__ = ["ENGINES", "AUTO_THRESHOLD_ROWS", "AUTO_THRESHOLD_BYTES", "choose_engine", "open_engine"]

#: The engines a run may ask for.
ENGINES = ("auto", "pandas", "duckdb", "spark")
#: ``auto`` picks DuckDB above this many rows (read from Parquet metadata, no data read) ...
AUTO_THRESHOLD_ROWS = 2_000_000
#: ... or, for CSV and other files whose rows are not counted up front, above this many bytes
#: on disk. In memory a customer row costs about 1.7 KB at the report's peak (1M rows: 1.7 GB).
AUTO_THRESHOLD_BYTES = 500 * 1024**2


def _files(source: str) -> list[Path]:
    p = Path(source)
    if p.is_dir():
        return sorted(x for x in p.iterdir() if x.is_file())
    if any(ch in source for ch in "*?["):
        return [Path(x) for x in sorted(glob.glob(source))]
    return [p] if p.is_file() else []


@dataclass(frozen=True)
class QuarterFolders:
    """A quarter folder and its earlier sibling quarter folders (``data/2026Q2/`` beside
    ``data/2026Q3/``), read as one table: each folder's files get the folder's quarter when they
    have no quarter column, as :func:`cxanalysis.io.load_with_history` reads them in memory."""

    parts: tuple[tuple[str, str], ...]
    """``(folder, quarter)``, oldest first."""

    def __str__(self) -> str:
        return self.parts[-1][0]

    @classmethod
    def of(cls, folder) -> QuarterFolders | None:
        """``folder`` (a ``YYYYQn`` folder) with its earlier siblings; None when ``folder`` is not
        a quarter folder."""
        from ..io import parse_quarter

        path = Path(str(folder))
        q_self = parse_quarter(path.name) if path.is_dir() else None
        if q_self is None:
            return None
        parts = [(str(sib), q) for sib in sorted(path.parent.iterdir())
                 if sib.is_dir() and (q := parse_quarter(sib.name)) is not None and q < q_self and _files(str(sib))]
        return cls(tuple(sorted(parts, key=lambda t: t[1])) + ((str(path), q_self),))


def _parquet_rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def choose_engine(source, requested: str = "auto") -> str:
    """The engine to run: ``requested`` unless it is ``auto``.

    ``auto`` picks ``spark`` for a ``spark:catalog.schema.table`` source, ``duckdb`` for files
    holding more than :data:`AUTO_THRESHOLD_ROWS` rows (Parquet) or :data:`AUTO_THRESHOLD_BYTES`
    bytes (other files), and ``pandas`` otherwise (database URLs included: a query's result is
    read into memory).
    """
    if requested not in ENGINES:
        raise ValueError(f"The engine must be one of {', '.join(ENGINES)}; got {requested!r}.")
    if requested != "auto":
        return requested
    if isinstance(source, pd.DataFrame):
        return "duckdb" if len(source) > AUTO_THRESHOLD_ROWS else "pandas"
    text = str(source)
    if text.startswith("spark:"):
        return "spark"
    if "://" in text:
        return "pandas"
    files = _files(text)
    parquet = [f for f in files if f.suffix.lower() in (".parquet", ".pq")]
    if parquet and _parquet_rows(parquet) > AUTO_THRESHOLD_ROWS:
        return "duckdb"
    if sum(f.stat().st_size for f in files if f not in parquet) > AUTO_THRESHOLD_BYTES:
        return "duckdb"
    return "pandas"


def open_engine(name: str, source, config: Config, *, quarter: str | None = None):
    """An engine over ``source`` (a canonical frame, a Parquet / CSV path or glob, or for
    Spark a ``spark:catalog.schema.table``)."""
    if name == "pandas":
        from .base import PandasEngine

        if not isinstance(source, pd.DataFrame):
            from ..io import load

            source = load(source, config, quarter=quarter).data
        return PandasEngine(source, config)
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(source, config, quarter=quarter)
    if name == "spark":
        from .spark import SparkEngine

        return SparkEngine(source, config, quarter=quarter)
    raise ValueError(f"The engine must be one of pandas, duckdb, spark; got {name!r}.")
