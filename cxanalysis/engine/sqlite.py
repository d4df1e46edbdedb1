"""sqlite: a third, independent runner of the same SQL text (tests and small databases)."""

from __future__ import annotations

import sqlite3

import pandas as pd

from ..config import Config, load_config
from .base import SQLEngine

__all__ = ["SqliteEngine"]


class SqliteEngine(SQLEngine):
    """The exact tables computed by sqlite over a canonical frame copied into memory.

    Its purpose is a check: the SQL text of :mod:`cxanalysis.engine.sql` is portable when a
    third engine, with its own parser and arithmetic, returns the same sums.
    """

    name = "sqlite"

    def __init__(self, data: pd.DataFrame, config=None):
        self.config = config if isinstance(config, Config) else load_config(config)
        self.con = sqlite3.connect(":memory:")
        frame = data.copy()
        for c in frame.columns:  # sqlite stores no categoricals or booleans
            if isinstance(frame[c].dtype, pd.CategoricalDtype) or frame[c].dtype == "string":
                frame[c] = frame[c].astype(object)
            elif frame[c].dtype == bool or str(frame[c].dtype) == "boolean":
                frame[c] = frame[c].astype("Int64")
        frame.to_sql(self.table, self.con, index=False)
        self.columns = [str(c) for c in data.columns]

    def query(self, text: str) -> pd.DataFrame:
        return pd.read_sql_query(text, self.con)

    def close(self) -> None:
        self.con.close()
