"""Spark: the table where it lives (a cluster, Databricks), or Spark's local mode.

The exact tables run the same SQL text as DuckDB and sqlite (:mod:`cxanalysis.engine.sql`). That
text quotes identifiers with double quotes, as standard SQL does; Spark reads them so with ANSI
mode on and ``spark.sql.ansi.doubleQuotedIdentifiers``, which :func:`spark_session` sets on the
session it returns (both are runtime settings of the session, not of the cluster).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd

from ..config import Config, load_config
from ..resources import require_extra
from .base import SQLEngine, canonical_select, finish_sample, quarter_given, stratified_sql

__all__ = ["SparkEngine", "spark_session"]

#: Settings of the local session started when none is active: small, for one machine.
LOCAL_SETTINGS = {
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # no stage bars between the report's progress lines
    "spark.sql.session.timeZone": "UTC",
}


def to_pandas(frame) -> pd.DataFrame:
    """``frame.toPandas()`` without pyspark's warning that it does not yet fully support pandas 3
    (printed once per query, a dozen times per report): the queries' results are plain numbers,
    text and dates, compared with the pandas engine's to 1e-9 by the tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        return frame.toPandas()


def spark_session():
    """The active SparkSession (a cluster, Databricks), else a new ``local[*]`` one.

    Either way ANSI SQL with double-quoted identifiers is switched on for the session.
    """
    require_extra("spark", ("pyspark",), "The Spark engine")
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.master("local[*]").appName("cxanalysis")
        for key, value in LOCAL_SETTINGS.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # no Java, or a Java Spark cannot run on
            from ..resources import InstallError

            raise InstallError(
                f"Spark could not start a local session ({type(exc).__name__}: {str(exc).strip()[:200]}). "
                "The Spark engine needs Java 17 (Debian: apt-get install openjdk-17-jre-headless; "
                "or set JAVA_HOME), or run with --engine duckdb."
            ) from None
    spark.conf.set("spark.sql.ansi.enabled", "true")
    spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
    return spark


class SparkEngine(SQLEngine):
    """The exact tables computed by Spark SQL over every row.

    Parameters
    ----------
    source : str, Path or DataFrame
        A Parquet or CSV path or glob, ``spark:catalog.schema.table`` (a table of the session's
        catalog), or a canonical pandas frame (written to a temporary Parquet file first, so
        that missing values are NULLs, as in the other engines).
    config : Config, path or mapping, optional
    quarter : str, optional
        Quarter of a table without a quarter column.
    spark : SparkSession, optional
        Default: :func:`spark_session`.
    """

    name = "spark"

    def __init__(self, source, config=None, *, quarter: str | None = None, spark=None):
        self.config = config if isinstance(config, Config) else load_config(config)
        # a session of its own (sharing the SparkContext): its temporary view ``customers``,
        # which the validation rules name, cannot clash with another engine's
        base = spark or spark_session()
        try:
            self.spark = base.newSession()
        except Exception:  # noqa: BLE001 - Spark Connect (Databricks shared, serverless) has no newSession
            self.spark = base  # its own temporary views then live in that session, dropped on close
        self.spark.conf.set("spark.sql.ansi.enabled", "true")
        self.spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
        self._tmp = None
        self._derived = False
        if isinstance(source, pd.DataFrame):
            self._tmp = tempfile.TemporaryDirectory(prefix="cx-spark-")
            path = Path(self._tmp.name) / "customers.parquet"
            source.to_parquet(path, index=False)
            raw = self.spark.read.parquet(str(path))
        else:
            from .choose import QuarterFolders

            if isinstance(source, QuarterFolders):  # one view per quarter folder, columns matched by name
                frames = []
                for i, (path, qq) in enumerate(source.parts):
                    self._read(path).createOrReplaceTempView(f"customers_raw_{i}")
                    self._views = [*getattr(self, "_views", []), f"customers_raw_{i}"]
                    select = canonical_select(self.spark.table(f"customers_raw_{i}").columns, self.config, qq)
                    frames.append(self.spark.sql(f"SELECT {select} FROM customers_raw_{i}"))
                table = frames[0]
                for f in frames[1:]:
                    table = table.unionByName(f, allowMissingColumns=True)
                table.createOrReplaceTempView(self.table)
                self.columns = list(self.spark.table(self.table).columns)
                return
            raw = self._read(str(source))
        raw.createOrReplaceTempView("customers_raw")
        select = canonical_select(raw.columns, self.config, quarter)
        self.quarter_given = quarter_given(raw.columns, self.config) and not isinstance(source, pd.DataFrame)
        self.spark.sql(f"SELECT {select} FROM customers_raw").createOrReplaceTempView(self.table)
        self.columns = list(self.spark.table(self.table).columns)

    def _read(self, text: str):
        """A Spark table (``spark:catalog.schema.table``), or Parquet or CSV files."""
        if text.startswith("spark:"):
            return self.spark.table(text.removeprefix("spark:"))
        if text.lower().endswith((".parquet", ".pq")) or Path(text).is_dir():
            return self.spark.read.parquet(text)
        return self.spark.read.csv(text, header=True, inferSchema=True)

    def query(self, text: str) -> pd.DataFrame:
        return to_pandas(self.spark.sql(text))

    def derive_view(self, select: str) -> None:
        """Redefine the table as ``select`` over the table as first read (``customers_src``)."""
        if not self._derived:
            self.spark.table(self.table).createOrReplaceTempView("customers_src")
            self._derived = True
        self.spark.sql(select).createOrReplaceTempView(self.table)
        self.columns = list(self.spark.table(self.table).columns)

    def materialise(self, select: str, name: str) -> None:
        """Name ``select`` (a temporary view ``name``) and redefine the table as that. Spark
        keeps it lazy: the cluster's own caching decides what stays in memory."""
        if not self._derived:
            self.spark.table(self.table).createOrReplaceTempView("customers_src")
            self._derived = True
        self.spark.sql(select).createOrReplaceTempView(name)
        self.spark.sql(f"SELECT * FROM {name}").createOrReplaceTempView(self.table)
        self._views = [*getattr(self, "_views", []), name]
        self.columns = list(self.spark.table(self.table).columns)

    def stratified_sample(self, per_stratum: int = 50_000, *, seed: int = 0, by=()) -> pd.DataFrame:
        """Up to ``per_stratum`` random respondents per quarter x category (x each ``by``
        column's level; ranked by ``rand(seed)`` within the stratum), with ``_stratum`` and
        ``_sampling_weight``."""
        text = stratified_sql(self.table, self.config, by, per_stratum, f"rand({int(seed)}), customer_id")
        return finish_sample(self.query(text))

    def close(self) -> None:
        for view in (self.table, "customers_raw", "customers_src", *getattr(self, "_views", [])):
            self.spark.catalog.dropTempView(view)
        if self._tmp is not None:
            self._tmp.cleanup()
