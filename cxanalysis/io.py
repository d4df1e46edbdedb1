"""Read a quarterly export, map it onto the canonical table, parse, validate and clean it.

:func:`load` is the single entry point: it reads CSV, Parquet, Excel, a SQL query (SQLAlchemy URL
or DuckDB file) or a folder of quarterly files, and returns the clean canonical frame together
with a :class:`CleaningReport` (rows in, rows out, rows dropped per rule with example ids).
Input files are only ever opened for reading.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import SPEND_PER_QUARTER, Config, load_config, spend_note
from .resources import require_extra
from .schema import (
    CANONICAL,
    CATEGORICAL,
    CX_SCORES,
    NUMERIC_KINDS,
    Problem,
    ValidationError,
    check_rules,
    clashing_names,
    format_examples,
    repeated_keys,
)
from .sniff import FALLBACK_ENCODING, FormatError, TextFormat, detect_format, fix_thousands

__all__ = [
    "CleaningReport",
    "LoadResult",
    "DataError",
    "load",
    "read_source",
    "parse_quarter",
    "quarters",
    "latest_quarter",
    "check_report_quarter",
    "load_with_history",
    "respondents_by_quarter",
    "parse_binary",
    "file_sha256",
    "undated_churn_note",
    "recode_values",
    "recode_note",
    "recode_error",
]

READABLE = {".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx", ".xls", ".xlsm"}
# Cells read as missing. "n/a" and "N/A" are deliberately *not* here: in a score column they are
# usually a mistaken answer code and are reported, with the hint to leave such cells empty.
NA_VALUES = ["", "NA", "NaN", "nan", "NULL", "null", "None", "#N/A"]
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}


class DataError(ValueError):
    """The export cannot be read or mapped (missing file, missing required column, ...)."""


@dataclass
class CleaningReport:
    """What loading did to the export: rows in and out, and every row dropped, by rule."""

    rows_in: int = 0
    rows_out: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    join: Any = None  # survey.JoinReport when a survey export was joined to the customer table
    respondents: int | None = None  # rows kept with a CX score (rows_out less the non-respondents)
    response: list[dict[str, Any]] = field(default_factory=list)  # per quarter, weighting.weight_to_base

    def drop(self, rule: str, ids: pd.Series, n: int) -> None:
        """Record ``n`` rows dropped under ``rule`` with a few example ids."""
        examples = [str(x) for x in ids.dropna().head(5)]
        self.steps.append({"rule": rule, "rows_dropped": int(n), "example_ids": examples})

    def to_frame(self) -> pd.DataFrame:
        """One row per cleaning rule: ``rule, rows_dropped, example_ids``."""
        cols = ["rule", "rows_dropped", "example_ids"]
        rows = [{**s, "example_ids": ", ".join(s["example_ids"])} for s in self.steps]
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "steps": self.steps,
            "notes": self.notes,
            "inputs": self.inputs,
            "join": self.join.to_dict() if self.join is not None else None,
            "respondents": self.respondents,
            "response": self.response,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CleaningReport:
        out = cls(d["rows_in"], d["rows_out"], list(d["steps"]), list(d["notes"]), list(d["inputs"]),
                  respondents=d.get("respondents"), response=list(d.get("response") or []))
        if d.get("join"):
            from .survey import JoinReport

            out.join = JoinReport.from_dict(d["join"])
        return out


@dataclass
class LoadResult:
    """The clean canonical table and the report of how it was obtained."""

    data: pd.DataFrame
    report: CleaningReport
    nonrespondents: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Rows with no CX score (the rest of the base), without the score, comment and driver columns."""

    @property
    def base(self) -> pd.DataFrame:
        """Every customer-quarter: the respondents (``data``) and the non-respondents."""
        return pd.concat([self.data, self.nonrespondents], ignore_index=True)


#: The cleaning report's name for rows dropped by ``cleaning.near_duplicates: drop``.
NEAR_DUPLICATE_DROP = "copy of another row under a new customer id (cleaning.near_duplicates: drop)"


# --------------------------------------------------------------------------------------------
# small parsers


_Q_PATTERNS = [
    re.compile(r"^(?P<y>\d{4})\s*[-_ ]?\s*Q(?P<q>[1-4])$", re.I),  # 2026Q3, 2026-Q3, 2026 Q3
    re.compile(r"^Q(?P<q>[1-4])\s*[-_ /]?\s*(?P<y>\d{4})$", re.I),  # Q3 2026, Q3-2026
]


def quarters(frame: pd.DataFrame) -> list[str]:
    """The quarters present in a canonical table, oldest first (``YYYYQn`` sorts as text)."""
    return sorted(str(q) for q in frame["quarter"].dropna().unique())


def latest_quarter(frame: pd.DataFrame) -> str:
    """The newest quarter of a canonical table."""
    return quarters(frame)[-1]


def respondents_by_quarter(frame: pd.DataFrame, score: str) -> pd.Series:
    """Respondents (rows with ``score``) per quarter, oldest first; quarters without any count 0."""
    counts = frame.loc[frame[score].notna(), "quarter"].astype(str).value_counts()
    return pd.Series({q: int(counts.get(q, 0)) for q in quarters(frame)}, dtype="int64")


def check_report_quarter(data: pd.DataFrame | None, quarter: str | None = None,
                         config: Config | None = None, *, sizes: pd.Series | None = None) -> str:
    """The report's quarter, after checking it is in the data and large enough.

    Parameters
    ----------
    data : DataFrame
        The clean canonical table (from :func:`load`).
    quarter : str, optional
        The quarter asked for (``--quarter``); default the latest quarter in the data.
    config : Config, optional
        Gives ``categories.score`` (respondents are the rows with that score) and
        ``min_quarter_respondents`` (default 100).
    sizes : Series, optional
        Respondents per quarter (index ``YYYYQn``, sorted) counted elsewhere, by an engine over
        every row of an export too large for memory; ``data`` is then not read.

    Returns
    -------
    str
        The quarter as ``YYYYQn``.

    Raises
    ------
    DataError
        No rows; a quarter that is not in the data (the message lists those present, with their
        sizes); a quarter with fewer respondents than ``min_quarter_respondents`` (the message
        names the quarters large enough and how to pick one).

    Examples
    --------
    >>> from cxanalysis.sample import make_customers
    >>> check_report_quarter(make_customers(200, 2, start="2026Q1", random_state=1))
    '2026Q2'
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    score, minimum = cfg.score, int(cfg.min_quarter_respondents)
    if sizes is not None:
        data = pd.DataFrame({"quarter": pd.Series(sizes.index[sizes > 0], dtype="string"), score: 0})
    if len(data) == 0 or "quarter" not in data or data["quarter"].isna().all():
        raise DataError("No customer rows are left after cleaning, so there is no quarter to report on. "
                        "Check the cleaning steps listed by `cxanalysis validate`.")
    if score not in data:
        raise DataError(f"'categories.score' is {score!r}, but the data have no such column. Set "
                        "'categories.score' in cx.yaml to one of nps_score, csat, ces that is present.")
    sizes = respondents_by_quarter(data, score) if sizes is None else sizes[sizes > 0].sort_index()
    listing = ", ".join(f"{q} ({n:,})" for q, n in sizes.items())
    if quarter is None:
        q, how = str(sizes.index[-1]), " (the latest in the data)"
    else:
        q, how = parse_quarter(quarter), ""
        if q is None:
            raise DataError(f"--quarter must look like 2026Q3, 'Q3 2026' or 2026-Q3; got {quarter!r}.")
        if q not in sizes.index:
            raise DataError(
                f"--quarter {q} is not in the data. Quarters present, with their respondents: "
                f"{listing}. Pick one of them, e.g. --quarter {sizes.index[-1]}."
            )
    n = int(sizes[q])
    if n >= minimum:
        return q
    large = sizes[sizes >= minimum]
    msg = (f"Report quarter {q}{how} has {n:,} respondent{'s' if n != 1 else ''} (rows with "
           f"{score!r}); a report needs at least {minimum:,} ('min_quarter_respondents' in cx.yaml), "
           "or its intervals are too wide to act on and most analyses are skipped.")
    if len(large):
        best = large.index[-1]
        msg += (" Quarters large enough: " + ", ".join(f"{k} ({v:,})" for k, v in large.items())
                + f". Report on one of them with --quarter {best}, e.g.\n  cxanalysis report DATA "
                f"--quarter {best}")
    else:
        msg += (f" No quarter has that many (quarters: {listing}). To report on this data anyway, "
                f"lower the minimum in cx.yaml, e.g.\n  min_quarter_respondents: {max(1, n)}")
    raise DataError(msg)


def parse_quarter(value: object) -> str | None:
    """Parse one quarter label to ``YYYYQn``; None when it is not recognised.

    Accepts ``2026Q3``, ``2026-Q3``, ``2026 Q3``, ``Q3 2026``, ``Q3-2026`` and ISO dates
    (``2026-08-15`` is in 2026Q3).

    Examples
    --------
    >>> parse_quarter("Q3 2026"), parse_quarter("2026-08-15"), parse_quarter("Q3")
    ('2026Q3', '2026Q3', None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return f"{value.year}Q{value.quarter}"
    text = str(value).strip()
    for pat in _Q_PATTERNS:
        m = pat.match(text)
        if m:
            return f"{m['y']}Q{m['q']}"
    if re.match(r"^\d{4}-\d{1,2}(-\d{1,2})?([ T].*)?$", text) or re.match(
        r"^\d{1,2}/\d{1,2}/\d{4}$", text
    ):
        ts = pd.to_datetime(text, errors="coerce")
        if not pd.isna(ts):
            return f"{ts.year}Q{ts.quarter}"
    return None


def _quarter_in_name(path: Path) -> str | None:
    m = re.search(r"(\d{4})[-_ ]?Q([1-4])|Q([1-4])[-_ ]?(\d{4})", path.stem, re.I)
    if not m:
        return None
    return f"{m[1]}Q{m[2]}" if m[1] else f"{m[4]}Q{m[3]}"


def parse_binary(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse flags written 0/1, true/false, yes/no, y/n (any case) to float 0/1.

    Returns the parsed series (NaN where missing) and a mask of cells that were present but not
    recognised.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float), np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
        bad = values.notna() & ~values.isin([0.0, 1.0])
        return values.where(~bad), bad.to_numpy()
    text = series.astype("string").str.strip().str.lower()
    uniques = text.dropna().unique()
    mapping = {u: 1.0 if u in _TRUE else 0.0 if u in _FALSE else np.nan for u in uniques}
    out = text.map(mapping).astype(float)
    bad = (text.notna() & out.isna()).to_numpy()
    return out, bad


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (read in chunks; the file is opened read-only)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# reading


def read_source(
    source: str | Path,
    *,
    query: str | None = None,
    io_options: Mapping[str, Any] | None = None,
    keep: frozenset[str] = frozenset(),
    exclude: tuple[str | Path, ...] = (),
) -> tuple[pd.DataFrame, list[dict]]:
    """Read one export into a raw frame (no mapping or validation).

    Parameters
    ----------
    source : str or Path
        A CSV / TSV / Parquet / Excel file, a folder of such files (stacked; each file's quarter
        comes from a ``quarter`` column or from its name, e.g. ``2026Q3.csv``), a DuckDB file
        (``.duckdb``) or a SQLAlchemy URL such as ``sqlite:///crm.db`` (``query`` required).
    query : str, optional
        SQL query for database sources.
    io_options : mapping, optional
        ``delimiter``, ``decimal``, ``encoding`` of text files (the ``io`` section of cx.yaml);
        each one missing or None is detected (:func:`cxanalysis.sniff.detect_format`).
    keep : set of str, optional
        Columns never converted from text to numbers (ids, labels), whatever they look like.
    exclude : tuple of paths, optional
        Files of a folder not to read (the survey export, when it sits beside the customer files).

    Returns
    -------
    frame : DataFrame
        The raw rows, plus ``_source`` (file name) and, for folders, ``_file_quarter``.
    inputs : list of dict
        ``path``, ``sha256`` (files only) and ``rows`` for each input read; text files add
        ``format`` (delimiter, decimal, encoding, which were detected, and a note).

    Raises
    ------
    DataError
        Missing, empty or header-only file; a format that cannot be detected (the message names
        the ``io`` option that settles it); unreadable CSV.
    """
    text = str(source)
    if text.startswith("spark:"):
        return _read_spark(text)
    if "://" in text or text.endswith((".duckdb", ".ddb")):
        return _read_sql(text, query)
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in READABLE and p.is_file())
        files = [p for p in files if p.resolve() not in {Path(x).resolve() for x in exclude}]
        if not files:
            raise DataError(
                f"Folder {text!r} holds no CSV, Parquet or Excel file. Point DATA at the export."
            )
        frames, inputs = [], []
        for f in files:
            frame, info = read_source(f, io_options=io_options, keep=keep)
            frame["_file_quarter"] = _quarter_in_name(f)
            frames.append(frame)
            inputs += info
        return pd.concat(frames, ignore_index=True), inputs
    if not path.is_file():
        raise DataError(f"Input {text!r} does not exist. Check the path (relative to {Path.cwd()}).")
    suffix = path.suffix.lower()
    if _is_empty(path):
        raise DataError(
            f"Input {path.name!r} is empty ({path.stat().st_size} bytes). Expected an export with a "
            "header row naming the columns (at least a customer id and a CX score such as "
            "nps_score) and one row per customer. Re-export it, or point DATA at the right file."
        )
    fmt = None
    if suffix in (".csv", ".txt", ".tsv"):
        frame, fmt = _read_text(path, io_options or {}, keep)
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif suffix in (".xlsx", ".xls", ".xlsm"):
        require_extra("io", ("openpyxl",), "Reading Excel files")
        frame = pd.read_excel(path, keep_default_na=False, na_values=NA_VALUES)
    else:
        raise DataError(
            f"Input {text!r} has an unknown file type {suffix!r}; use CSV, Parquet or Excel."
        )
    if len(frame) == 0:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(
            f"Input {path.name!r} has a header but no rows (columns: {cols}). Expected one row per "
            "customer; the export may have been cut off or filtered to nothing. Re-export it."
        )
    frame["_source"] = path.name
    info = {"path": str(path), "sha256": file_sha256(path), "rows": int(len(frame))}
    if fmt is not None:
        info["format"] = {"delimiter": fmt.delimiter, "decimal": fmt.decimal,
                          "encoding": fmt.encoding, "detected": list(fmt.detected),
                          "note": fmt.note(), "plain": fmt.is_plain}
    return frame, [info]


def _format_note(f: dict[str, Any], name: str | None = None) -> str:
    return TextFormat(f["delimiter"], f["decimal"], f["encoding"], tuple(f["detected"])).note(name)


def _is_empty(path: Path) -> bool:
    """0 bytes, or nothing but a byte-order mark and blank space."""
    size = path.stat().st_size
    if size == 0:
        return True
    if size > 4096:
        return False
    return not path.read_bytes().lstrip(codecs.BOM_UTF8).strip()


def _read_csv_columns(path: Path, fmt: TextFormat) -> pd.DataFrame:
    """``pandas.read_csv`` in chunks (about 3x faster than whole columns at 1M rows), with each
    column typed as if read whole.

    A chunked read types each chunk's column on its own; a column that is numbers in one chunk and
    text in another comes out as a mix of Python numbers and strings ("007" read as 7), where a
    whole-column read gives strings throughout. Those columns (rare) are read again, as text.
    """
    opts = dict(sep=fmt.delimiter, decimal=fmt.decimal, encoding=fmt.encoding, engine="c",
                keep_default_na=False, na_values=NA_VALUES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # the mixed columns are re-read below
        frame = pd.read_csv(path, **opts)
    mixed = [c for c in frame.columns if frame[c].dtype == object
             and pd.api.types.infer_dtype(frame[c], skipna=True).startswith("mixed")]
    if mixed:
        names = list(frame.columns)
        positions = [names.index(c) for c in mixed]  # by position: a repeated name was renamed 'x.1'
        again = pd.read_csv(path, **opts, usecols=positions, dtype=str, low_memory=False)
        for pos, col in zip(positions, again.columns, strict=True):
            frame[names[pos]] = again[col].to_numpy(dtype=object)
    return frame


def _read_text(path: Path, options: Mapping[str, Any], keep: frozenset[str]) -> tuple[pd.DataFrame, TextFormat]:
    """Read a CSV / TSV / TXT export with its detected (or configured) format.

    The file is read as cp1252 instead of UTF-8 only when UTF-8 fails (see
    :data:`cxanalysis.sniff.FALLBACK_ENCODING` for why cp1252); the choice is recorded in the
    returned :class:`~cxanalysis.sniff.TextFormat`.
    """
    try:
        fmt = detect_format(path, delimiter=options.get("delimiter"), decimal=options.get("decimal"),
                            encoding=options.get("encoding"))
    except FormatError as exc:
        raise DataError(str(exc)) from None
    for attempt in (0, 1):
        try:
            frame = _read_csv_columns(path, fmt)
            break
        except UnicodeDecodeError as exc:
            if attempt == 0 and "encoding" in fmt.detected and fmt.encoding == "utf-8":
                # UTF-8 in the first megabyte, not further on: a cp1252 file with a plain start
                fmt = TextFormat(fmt.delimiter, fmt.decimal, FALLBACK_ENCODING, fmt.detected)
                continue
            raise DataError(
                f"{path.name!r} cannot be read as {fmt.encoding}: {exc.reason} at byte {exc.start:,}. "
                "Save it as UTF-8, or set its encoding in cx.yaml, e.g.\n  io:\n    encoding: cp1252"
            ) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"Input {path.name!r} is empty: it has no header row.") from None
        except pd.errors.ParserError as exc:
            raise DataError(
                f"Could not read {path.name!r} {fmt.note().removeprefix('Read ')[:-1]}: {exc}. "
                "If the delimiter is wrong, set it in cx.yaml, e.g.\n  io:\n    delimiter: \";\""
            ) from None
    fix_thousands(frame, fmt.decimal, keep=keep)
    return frame, fmt


def _read_spark(source: str) -> tuple[pd.DataFrame, list[dict]]:
    """``spark:catalog.schema.table``: the table of the active SparkSession (or a local one)."""
    from .engine.spark import spark_session, to_pandas

    name = source.removeprefix("spark:")
    spark = spark_session()
    try:
        frame = to_pandas(spark.table(name))
    except Exception as exc:  # pyspark's AnalysisException: a table that is not in the catalog
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"Spark cannot read the table {name!r}: {first}. Name it as catalog.schema.table "
                        "(spark:main.cx.customers) as the session's catalog knows it.") from None
    if len(frame) == 0:
        raise DataError(f"The Spark table {name!r} has no rows.")
    frame["_source"] = "spark"
    return frame, [{"path": source, "rows": int(len(frame))}]


def _driver_url(url: str) -> str:
    """``postgresql://`` with the driver the ``io`` extra installs (psycopg 3): SQLAlchemy's
    default for a bare ``postgresql://`` is psycopg2, which it does not."""
    import importlib.util

    if url.startswith(("postgresql://", "postgres://")) and importlib.util.find_spec("psycopg2") is None:
        require_extra("io", ("psycopg",), "Reading a PostgreSQL database")
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    import re

    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _read_sql(url: str, query: str | None) -> tuple[pd.DataFrame, list[dict]]:
    if not query:
        raise DataError(f"Database source {url!r} needs a query: pass --query or set 'query'.")
    if url.startswith("duckdb:///") or url.endswith((".duckdb", ".ddb")):
        require_extra("io", ("duckdb",), "Reading DuckDB files")
        import duckdb

        path = url.removeprefix("duckdb:///")
        with duckdb.connect(path, read_only=True) as con:
            frame = con.execute(query).df()
    else:
        require_extra("io", ("sqlalchemy",), "Reading a database")
        import sqlalchemy

        engine = sqlalchemy.create_engine(_driver_url(url))
        try:
            with engine.connect() as con:
                frame = pd.read_sql(sqlalchemy.text(query), con)
        except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
            first = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
            raise DataError(f"Reading {_safe_url(url)!r} failed: {first}. Check the URL (host, port, "
                            f"user, database) and the query: {query}") from None
        finally:
            engine.dispose()
    if len(frame) == 0:
        raise DataError(f"The query on {url!r} returned no rows. Check the query: {query}")
    frame["_source"] = "sql"
    return frame, [{"path": url, "query": query, "rows": int(len(frame))}]


# --------------------------------------------------------------------------------------------
# mapping and parsing


def _apply_mapping(raw: pd.DataFrame, config: Config) -> pd.DataFrame:
    mapping: dict[str, str] = dict(config.columns)
    available = [c for c in raw.columns if not str(c).startswith("_")]
    for canonical, source in mapping.items():
        if canonical not in CANONICAL and not canonical.startswith("driver_"):
            hint = difflib.get_close_matches(canonical, list(CANONICAL), n=1)
            raise DataError(
                f"'columns.{canonical}' in cx.yaml is not a canonical column."
                + (f" Did you mean {hint[0]!r}?" if hint else "")
            )
        if source not in raw.columns:
            hint = difflib.get_close_matches(str(source), [str(c) for c in available], n=1)
            raise DataError(
                f"cx.yaml maps {canonical!r} to column {source!r}, which the export does not have."
                + (f" Did you mean {hint[0]!r}?" if hint else f" Columns are: {', '.join(map(str, available[:30]))}.")
            )
    # copy rather than rename: one export column may feed two canonical ones (spend and mrr)
    mapped = {canonical: raw[source] for canonical, source in mapping.items()}
    sources = set(mapping.values())
    frame = raw.drop(columns=[c for c in raw.columns if c in sources or c in mapping])
    frame = frame.rename(columns=clashing_names([c for c in frame.columns if not str(c).startswith("_")],
                                                list(mapping)))
    frame = pd.concat([pd.DataFrame(mapped, index=raw.index), frame], axis=1)
    return frame


def recode_error(col: str, columns: Sequence[str], *, numbers: bool = False) -> DataError:
    """The error for a ``recode`` entry the export cannot take: its column is absent, or holds numbers."""
    if numbers:
        return DataError(f"'recode.{col}' in cx.yaml recodes {col!r}, which holds numbers: recode is for text "
                         "columns that name categories. Remove the entry, or recode the text column meant.")
    hint = difflib.get_close_matches(str(col), [str(c) for c in columns], n=1)
    return DataError(f"'recode.{col}' in cx.yaml names a column the export does not have (a mapped column goes by "
                     "its canonical name)." + (f" Did you mean {hint[0]!r}?" if hint else ""))


def recode_note(col: str, counts: Mapping[str, int], mapping: Mapping[str, str]) -> str:
    """The data-quality note of one ``recode`` entry: rows recoded per spelling, and the spellings
    no row holds."""
    done = [f"{counts[k]:,} {k!r} to {v!r}" for k, v in mapping.items() if counts.get(k)]
    absent = [repr(k) for k in mapping if not counts.get(k)]
    return (f"{col!r} recoded as cx.yaml asks: " + (", ".join(done) if done else "no row changed")
            + (f" ({', '.join(absent)} in no row)" if absent else "") + ".")


def _recode_map(mapping: Mapping) -> dict[str, str]:
    return {str(k).strip(): str(v).strip() for k, v in mapping.items()}


def recode_values(frame: pd.DataFrame, recode: Mapping[str, Mapping]) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with each ``recode`` column's spellings replaced (cx.yaml ``recode``: a cell
    matches a spelling when equal once stripped of surrounding spaces), and one note per column.

    Raises
    ------
    DataError
        A recoded column is absent, or holds numbers.
    """
    notes = []
    for col, mapping in recode.items():
        if col not in frame:
            raise recode_error(col, [c for c in frame.columns if not str(c).startswith("_")])
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise recode_error(col, [], numbers=True)
        m = _recode_map(mapping)
        codes, uniques = pd.factorize(s)  # each distinct spelling looked up once
        labels = pd.Series(uniques, dtype=object).map(lambda v: str(v).strip())
        target = labels.map(m)
        hit = np.append(target.notna().to_numpy(), False)
        per_label = np.bincount(codes[codes >= 0], minlength=len(uniques))
        counts = {k: int(per_label[(labels == k).to_numpy()].sum()) for k in m}
        rows = hit[codes]
        if rows.any():
            new = np.append(target.to_numpy(object), None)[codes]
            out = s.astype(object).where(~rows, pd.Series(new, index=s.index))
            frame[col] = out if s.dtype == object else out.astype(s.dtype)  # text stays the export's text type
        notes.append(recode_note(col, counts, m))
    return frame, notes


def _unparsed(frame: pd.DataFrame, col: str, raw: pd.Series, bad: np.ndarray, problems: list[Problem],
              rule: str, fix: str) -> None:
    """Record cells of ``col`` that could not be parsed, keeping their text for the message."""
    if bad.any():
        frame[f"_raw_{col}"] = raw
        problems.append(Problem(col, rule, int(bad.sum()), format_examples(frame, bad, col), fix, np.flatnonzero(bad)))


def _category(s: pd.Series) -> pd.Series:
    """``s`` as text, stripped, blank as missing, as a categorical (sorted categories): the labels
    are cleaned once per distinct value, not once per row."""
    codes, uniques = pd.factorize(s)
    labels = pd.Series(uniques).astype("string").str.strip().replace("", pd.NA).astype("category")
    recode = np.append(labels.cat.codes.to_numpy(), -1)  # a missing value's code -1 stays -1
    return pd.Series(pd.Categorical.from_codes(recode[codes], dtype=labels.dtype), index=s.index)


def undated_churn_note(quarter: str) -> str:
    """The data-quality note for an export dated by cx.yaml or ``--quarter`` that has a churn
    column (every engine gives it): the churn column's window is read as the quarter's."""
    return (f"Every row is dated {quarter} (given in cx.yaml or by --quarter; no quarter column is mapped): churn "
            "is counted over whatever window the export's churn column covers, and read as this quarter's. The "
            "quarterly figures (churn a quarter, lifetime values, retention) hold only if that window is a quarter.")


def _parse_columns(frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """Coerce canonical columns to their types, reporting unparseable cells."""
    for col in list(frame.columns):
        kind = CANONICAL.get(col, "driver" if str(col).startswith("driver_") else None)
        if kind is None or col == "quarter":
            continue
        s = frame[col]
        if kind == "id":
            frame[col] = s.astype("string").str.strip().replace("", pd.NA)
        elif kind == "binary":
            parsed, bad = parse_binary(s)
            _unparsed(frame, col, s, bad, problems, "must be a yes/no flag (1/0, true/false, yes/no, y/n)",
                      "Use one of those spellings, or leave the cell empty when unknown.")
            frame[col] = parsed
        elif kind in NUMERIC_KINDS or kind == "driver":
            if pd.api.types.is_numeric_dtype(s):
                frame[col] = s.astype(float)
                continue
            stripped = s.astype("string").str.strip()
            parsed = pd.to_numeric(stripped, errors="coerce")
            bad = (stripped.notna() & (stripped != "") & parsed.isna()).to_numpy()
            fix = "Replace text such as 'n/a' with an empty cell (missing) or a number."
            comma = stripped[bad].str.fullmatch(r"[-+]?[\d.]*\d,\d+")
            if bad.any() and comma.mean() > 0.5:
                example = stripped[bad][comma.to_numpy(dtype=bool)].iat[0]
                fix = (f"Values such as {example!r} use a decimal comma: say so in cx.yaml, e.g.\n"
                       "  io:\n    decimal: \",\"")
            _unparsed(frame, col, s, bad, problems, "must hold numbers", fix)
            frame[col] = parsed.astype(float)
        elif kind == "category":
            frame[col] = _category(s)
        elif kind == "text":
            frame[col] = s.astype("string")
    return frame


def _parse_quarters(frame: pd.DataFrame, quarter: str | None, problems: list[Problem]) -> pd.DataFrame:
    if "quarter" in frame:
        raw = frame["quarter"]
        codes, uniques = pd.factorize(raw)  # each distinct value parsed once; missing: code -1
        labels = np.array([parse_quarter(u) for u in uniques] + [None], dtype=object)
        parsed = pd.Series(labels[codes], index=raw.index, dtype=object)
        bad = (raw.notna() & parsed.isna()).to_numpy()
        # a new array, never written in place: pandas 3 hands out read-only views
        missing = raw.isna().to_numpy() if quarter is None else np.zeros(len(raw), dtype=bool)
        if quarter is not None:  # fill blanks with the given quarter
            parsed = parsed.fillna(quarter)
        if bad.any():
            frame["_raw_quarter"] = raw
            problems.append(
                Problem("quarter", "must look like 2026Q3, 'Q3 2026', 2026-Q3 or a date",
                        int(bad.sum()), format_examples(frame, bad, "quarter"),
                        "A quarter without a year (e.g. 'Q3') is ambiguous: give the year, or drop "
                        "the mapping and pass --quarter.", np.flatnonzero(bad))
            )
        if missing.any():
            problems.append(
                Problem("quarter", "must not be empty", int(missing.sum()),
                        format_examples(frame, missing, None),
                        "Fill the quarter, or pass --quarter for a single-quarter export.",
                        np.flatnonzero(missing))
            )
        frame["quarter"] = parsed
    elif "_file_quarter" in frame and frame["_file_quarter"].notna().all():
        frame["quarter"] = frame["_file_quarter"]
    elif quarter is not None:
        frame["quarter"] = quarter
    else:
        raise DataError(
            "The export has no 'quarter' column and no quarter was given. Add `quarter: 2026Q3` "
            "to cx.yaml, pass --quarter 2026Q3, or map a quarter/date column in 'columns'."
        )
    frame["quarter"] = frame["quarter"].astype("string")
    return frame


def load(
    source: str | Path,
    config: Config | str | Path | dict | None = None,
    *,
    quarter: str | None = None,
    query: str | None = None,
    survey: str | Path | None = None,
) -> LoadResult:
    """Load an export into the clean canonical table.

    Parameters
    ----------
    source : str or Path
        File, folder or database source (see :func:`read_source`).
    config : Config, path or mapping, optional
        Column mapping, scales and the cleaning mode (``cleaning.invalid_rows``).
    quarter : str, optional
        Quarter of a single-quarter export without a quarter column (overrides ``config.quarter``).
    query : str, optional
        SQL query for database sources.
    survey : str or Path, optional
        A survey-platform export joined to the customer table before the mapping (default
        ``survey.path`` of the config; see :mod:`cxanalysis.survey`). The join is counted in
        ``report.join``.

    Returns
    -------
    LoadResult
        ``data``: canonical columns (plus any extra columns of the export, kept unvalidated) and
        ``_row``, the row number in the export, and ``weight`` when respondents are weighted to
        the base; ``nonrespondents``: the rows with no CX score; ``report``: the
        :class:`CleaningReport`.

    Raises
    ------
    DataError
        The export cannot be read or a required column is missing.
    ValidationError
        Values break rules and ``cleaning.invalid_rows`` is ``"error"`` (the default). Each
        problem names the column, the rule, how many rows, example rows and the fix.

    Notes
    -----
    Cleaning steps, always applied and counted in the report: rows without a customer id; rows
    that repeat another row exactly. Rows with none of the CX scores are non-respondents: they are
    not dropped but kept in ``nonrespondents`` (unvalidated, without score, comment and driver
    columns) as the base, and each quarter's respondents are weighted to it (``weight`` column,
    :func:`cxanalysis.weighting.weight_to_base`; ``report.response`` per quarter). With
    ``cleaning.near_duplicates: drop``, rows identical to another in every column but the
    customer id (:func:`cxanalysis.schema.near_duplicate_copies`) are dropped, the first id's row
    of each group kept, and counted (:data:`NEAR_DUPLICATE_DROP`). With
    ``cleaning.invalid_rows: drop``, rows breaking a validation rule are also dropped and
    counted per rule instead of stopping the run.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    q = parse_quarter(quarter) if quarter is not None else cfg.quarter
    if quarter is not None and q is None:
        raise DataError(f"--quarter must look like 2026Q3, 'Q3 2026' or 2026-Q3; got {quarter!r}.")
    keep = frozenset(str(cfg.columns.get(c, c)) for c, kind in CANONICAL.items()
                     if kind in ("id", "quarter", "category", "text"))
    survey = survey or cfg.data.get("survey", {}).get("path")
    # a survey export in the DATA folder is not one of the customer files
    raw, inputs = read_source(source, query=query or cfg.data.get("query"), io_options=cfg.io, keep=keep,
                              exclude=(survey,) if survey else ())
    join = None
    if survey:
        from .survey import attach_survey

        joined = attach_survey(raw, cfg, path=survey, quarter=q)
        raw, join, inputs = joined.data, joined.report, inputs + joined.inputs
        cfg = cfg.with_overrides(columns=joined.columns)  # question texts resolved to column ids
    report = CleaningReport(rows_in=len(raw), inputs=inputs, join=join)
    formats = [i["format"] for i in inputs if "format" in i]
    if formats and len({f["note"] for f in formats}) > 1:  # files written differently: one note each
        report.notes += [f"{_format_note(f, Path(i['path']).name)}" for i in inputs if (f := i.get("format"))]
    elif formats and not formats[0]["plain"]:
        report.notes.append(_format_note(formats[0]))
    frame = _apply_mapping(raw, cfg)
    frame, recoded = recode_values(frame, cfg.recode)
    report.notes += recoded
    frame.insert(0, "_row", np.arange(1, len(frame) + 1))

    if "customer_id" not in frame:
        raise DataError(
            "Required column 'customer_id' is missing. Map it in cx.yaml, e.g.\n"
            "  columns:\n    customer_id: <the id column in your export>"
        )
    present_scores = [c for c in CX_SCORES if c in frame]
    if not present_scores:
        raise DataError(
            "None of the CX scores (nps_score, csat, ces) is in the export. Map at least one in "
            "cx.yaml, e.g.\n  columns:\n    nps_score: <your 0-10 recommend column>"
        )
    if cfg.score not in frame:
        raise DataError(
            f"'categories.score' is {cfg.score!r}, but the export has no such column "
            f"(it has {', '.join(present_scores)}). Set 'categories.score' to one of those."
        )

    problems: list[Problem] = []
    frame = _parse_columns(frame, problems)
    dated = "quarter" in frame or ("_file_quarter" in frame and frame["_file_quarter"].notna().all())
    frame = _parse_quarters(frame, q, problems)
    if not dated and "churned" in frame:
        report.notes.append(undated_churn_note(q))
    if "spend" in frame:
        if (factor := SPEND_PER_QUARTER[cfg.spend_period]) != 1.0:
            frame["spend"] = frame["spend"] * factor
        if (note := spend_note(cfg)) is not None:
            report.notes.append(note)

    # always-on cleaning, counted
    missing_id = frame["customer_id"].isna().to_numpy()
    if missing_id.any():
        report.drop("no customer_id", frame.loc[missing_id, "_row"].astype(str).radd("row "),
                    int(missing_id.sum()))
    keep = ~missing_id
    value_cols = [c for c in frame.columns if not str(c).startswith("_")]
    # an exact duplicate repeats its (customer_id, quarter): only those rows are compared whole
    dup = np.zeros(len(frame), dtype=bool)
    same_key = repeated_keys(frame) & keep
    if same_key.any():
        dup[same_key] = frame.loc[same_key, value_cols].duplicated(keep="first").to_numpy()
    if dup.any():
        report.drop("exact duplicate of an earlier row", frame.loc[dup, "customer_id"], int(dup.sum()))
    keep &= ~dup
    if cfg.cleaning["near_duplicates"] == "drop":  # one customer under two ids: the first id's row kept
        from .schema import near_duplicate_copies

        copy = np.zeros(len(frame), dtype=bool)
        copy[np.flatnonzero(keep)] = near_duplicate_copies(frame.loc[keep])
        if copy.any():
            report.drop(NEAR_DUPLICATE_DROP, frame.loc[copy, "customer_id"], int(copy.sum()))
        keep &= ~copy
    # a score cell holding unparseable text is a problem to report, not a non-response
    empty = [frame[c].isna() & (frame[f"_raw_{c}"].isna() if f"_raw_{c}" in frame else True)
             for c in present_scores]
    no_score = np.logical_and.reduce([e.to_numpy() for e in empty]) & keep
    # non-respondents are the base the respondents stand for: kept apart, not dropped
    nonresp = frame.loc[no_score].reset_index(drop=True)
    keep &= ~no_score
    # parse problems refer to positions before this filter; map them through
    if not keep.all():
        positions = np.cumsum(keep) - 1
        problems = [_subset_problem(p, keep, positions) for p in problems]
        problems = [p for p in problems if p.n_rows]
        frame = frame.loc[keep].reset_index(drop=True)

    problems += check_rules(frame, cfg.scales)
    if problems:
        if cfg.cleaning["invalid_rows"] == "error":
            raise ValidationError(problems)
        bad = np.zeros(len(frame), dtype=bool)
        for p in problems:
            new = np.zeros(len(frame), dtype=bool)
            new[p.rows] = True
            new &= ~bad
            report.drop(f"{p.column} {p.rule}", frame.loc[new, "customer_id"], int(new.sum()))
            bad |= new
        frame = frame.loc[~bad].reset_index(drop=True)

    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith(("_raw_", "_file_"))])
    for col in ("nps_score", "orders", "returns", "support_tickets"):
        if col in frame and frame[col].notna().all():
            frame[col] = frame[col].astype(np.int64)
    extras = [c for c in frame.columns if c not in CANONICAL and not str(c).startswith(("_", "driver_"))]
    if extras:
        report.notes.append(
            f"{len(extras)} column(s) not in the canonical table kept as they are, not analysed unless cx.yaml "
            f"names them (models.covariates, segments.dimensions, clusters.columns): {', '.join(map(str, extras[:40]))}"
            + (f" and {len(extras) - 40} more (every column is in the columns table and its CSV)" if len(extras) > 40 else "")
        )
    from .weighting import weight_to_base

    weights, report.response = weight_to_base(frame, nonresp, cfg)
    from .metrics import add_nonrespondent_totals

    add_nonrespondent_totals(report.response, nonresp)
    if weights is not None:
        frame["weight"] = weights.to_numpy()
    absent = [c for c in CANONICAL if c not in frame and c not in ("quarter",)]
    if absent:
        report.notes.append(f"Absent optional columns (their analyses are skipped): {', '.join(absent)}")
    nonresp = nonresp.drop(columns=[c for c in nonresp.columns if str(c).startswith(("_raw_", "_file_"))]
                           + [c for c in (*CX_SCORES, "comment") if c in nonresp]
                           + [c for c in nonresp.columns if str(c).startswith("driver_")])
    for col in CATEGORICAL:
        if col in frame:
            frame[col] = frame[col].cat.remove_unused_categories()
        if col in nonresp:
            nonresp[col] = _present_categories(nonresp[col])
    if len(nonresp):
        kind = ", ".join(sorted({r["weighting"] for r in report.response if r["base"] > r["respondents"]}))
        quarters = sorted({str(r["quarter"]) for r in report.response if r.get("quarter") is not None})
        over = (f"Over the export's {len(quarters)} quarters ({quarters[0]} to {quarters[-1]}), "
                if len(quarters) > 1 else "")
        report.notes.append(
            f"{over}{len(nonresp):,} customer rows have no CX score (did not answer the survey): kept as the base the "
            f"{len(frame):,} respondent rows stand for, not dropped. Respondents weighted to the base: {kind}.")
    report.respondents = len(frame)
    report.rows_out = len(frame) + len(nonresp)
    return LoadResult(frame, report, nonresp)


def _present_categories(s: pd.Series) -> pd.Series:
    """``s`` as a categorical of the values it holds (text categories, sorted): what
    ``s.astype(object).astype("category")`` gives, without going through Python objects."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(object).astype("category")
    held = s.cat.remove_unused_categories()
    if len(held.cat.categories) == 0:  # nothing but missing values: no text to type
        return s.astype(object).astype("category")
    return held.cat.rename_categories(held.cat.categories.astype(object).astype("str"))


def _subset_problem(p: Problem, keep: np.ndarray, positions: np.ndarray) -> Problem:
    rows = p.rows[keep[p.rows]]
    return Problem(p.column, p.rule, len(rows), p.examples, p.fix, positions[rows])


def load_with_history(data, cfg: Config, *, quarter: str | None = None, query: str | None = None,
                      survey: str | Path | None = None) -> LoadResult:
    """:func:`load`, and for a ``.../YYYYQn/`` folder its earlier sibling quarter folders too.

    What ``cxanalysis report`` and ``cxanalysis validate`` both read: the folder's name gives its
    files' quarter, and each earlier folder (``data/2026Q2/`` beside ``data/2026Q3/``) is loaded
    for the trends (with its own survey file of the same name in a two-file run).
    """
    path = Path(str(data))
    q_self = parse_quarter(path.name) if path.is_dir() else None
    if q_self is None:
        return load(data, cfg, quarter=quarter, query=query, survey=survey)
    loaded = load(data, cfg, quarter=q_self, survey=survey)
    frames, report, non = [loaded.data], loaded.report, [loaded.nonrespondents]
    for sib in sorted(path.parent.iterdir()):
        q_sib = parse_quarter(sib.name) if sib.is_dir() else None
        if q_sib is None or sib == path or q_sib > q_self:
            continue
        sib_survey = None  # a two-file quarter folder: the survey file of the same name in sib
        if survey_name := Path(str(survey or cfg.survey["path"] or "")).name:
            sib_survey = sib / survey_name
            if not sib_survey.is_file():
                report.notes.append(f"Earlier quarter {q_sib} in {sib} not loaded: it has no {survey_name}.")
                continue
        earlier = load(sib, cfg, quarter=q_sib, survey=sib_survey)
        frames.append(earlier.data)
        non.append(earlier.nonrespondents)
        report.inputs += earlier.report.inputs
        report.response = earlier.report.response + report.response
        report.notes.append(f"Earlier quarter {q_sib} loaded from {sib} for trends "
                            f"({earlier.report.rows_out:,} rows kept of {earlier.report.rows_in:,}).")
    out = pd.concat(frames, ignore_index=True)
    if "weight" in out:  # a quarter without non-respondents has weight 1
        out["weight"] = out["weight"].fillna(1.0)
    loaded.data = out
    loaded.nonrespondents = pd.concat([n for n in non if len(n)] or [non[0]], ignore_index=True)
    return loaded
