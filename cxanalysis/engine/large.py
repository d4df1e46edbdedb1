"""The large route: an export too big for memory, read, validated and counted by an engine.

:func:`prepare_large` never loads the whole export. The engine (DuckDB, or Spark) reads the
source with the ``columns:`` mapping applied in SQL; text cells of numeric and yes/no columns,
and the quarter's spellings, are parsed in SQL (unparseable cells are an error naming the column
and example rows, as in :func:`cxanalysis.io.load`); rows without a customer id are dropped and
exact duplicate rows removed, counted (the typed rows with an id are stored once by the
engine, :meth:`~cxanalysis.engine.duckdb.DuckDBEngine.materialise`, and everything after reads
them, not the export); every validation rule is one count; rows without any CX
score are counted as the base, not analysed. The exact tables are computed over every
remaining row. Then a **weighted stratified sample** is drawn (strata: quarter x CX category x
each categorical covariate of the models, so no covariate level is lost; at most ``per_stratum``
rows each; weight = stratum size / rows drawn, multiplied into the export's own weight) and
loaded through the normal cleaning path of :func:`cxanalysis.io.load`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import SPEND_PER_QUARTER, Config, spend_note
from ..io import (
    _FALSE,
    _TRUE,
    CleaningReport,
    DataError,
    _recode_map,
    file_sha256,
    load,
    parse_quarter,
    recode_error,
    recode_note,
    undated_churn_note,
)
from ..schema import CANONICAL, CATEGORICAL, CX_SCORES, NUMERIC_KINDS, Problem, ValidationError
from ..schema import sql_name as q
from . import exact, sql
from .base import crm_columns

__all__ = ["LargeRun", "prepare_large", "sample_covariates", "DEFAULT_PER_STRATUM", "DEFAULT_SAMPLE_ROWS",
           "auto_per_stratum"]

#: Rows drawn at most per stratum (quarter x category x covariate levels) ...
DEFAULT_PER_STRATUM = 50_000
#: ... and the cap is lowered so that the whole sample holds about this many rows (the models'
#: intervals are then about sqrt(rows in the export / 200k) times wider than on every row; on
#: 10M synthetic customers the report took 264 s and 4.6 GB with 50k per stratum, 1.8M rows).
DEFAULT_SAMPLE_ROWS = 200_000
#: DuckDB's memory limit in the large route: beyond it, it spills to disk. Without one, 10M rows
#: peaked at 4.6 GB (the exact tables' window sums); with 1.5 GB, at 1.65 GB.
DUCKDB_MEMORY_LIMIT = "2GB"
#: The cap is never lowered below this many rows per stratum.
MIN_PER_STRATUM = 1_000


def auto_per_stratum(n_strata: int, rows: int = DEFAULT_SAMPLE_ROWS) -> int:
    """The per-stratum cap for ``n_strata`` strata: ``rows / n_strata`` rounded up, within
    :data:`MIN_PER_STRATUM` .. :data:`DEFAULT_PER_STRATUM`.

    >>> auto_per_stratum(36), auto_per_stratum(2), auto_per_stratum(1000)
    (5556, 50000, 1000)
    """
    return int(min(DEFAULT_PER_STRATUM, max(MIN_PER_STRATUM, -(-rows // max(1, n_strata)))))


@dataclass
class LargeRun:
    """What :func:`prepare_large` returns."""

    sample: pd.DataFrame
    """The sample, clean (through :func:`cxanalysis.io.load`), ``weight`` = sampling weight x
    the export's own weight."""
    cleaning: CleaningReport
    """Counted over every row by the engine."""
    tables: dict[str, pd.DataFrame]
    """The exact tables, plus ``nps_quarter_unweighted``."""
    info: dict[str, Any]
    """``rows, per_stratum, strata, population, by, engine`` (``run.sample`` of results.json)."""
    sizes: pd.Series
    """Respondents (rows with the configured score) per quarter, over every row."""


def sample_covariates(config: Config, columns, text_columns=()) -> list[str]:
    """The models' categorical covariates present: the strata's extra columns."""
    from ..models import DEFAULT_COVARIATES

    covs = config.covariates if config.covariates is not None else DEFAULT_COVARIATES
    return [c for c in covs if c in columns and (c in CATEGORICAL or c in text_columns)]


def _examples(eng, cond: str, show: str) -> str:
    ex = eng.query(f"SELECT customer_id, {q(show)} AS v FROM {eng.table} WHERE {cond} "
                   "ORDER BY customer_id LIMIT 3")
    return ", ".join(f"id {cid}: {v!r}" for cid, v in zip(ex["customer_id"], ex["v"], strict=True))


def _typed_select(eng, quarter_map: dict[str, str]) -> tuple[list[str], list[Problem]]:
    """Per column, the SQL that gives it its canonical type; problems for unparseable cells."""
    types = eng.query(f"SELECT * FROM {eng.table} LIMIT 0").dtypes
    exprs, problems = [], []
    for col in eng.columns:
        kind = CANONICAL.get(col, "driver" if str(col).startswith("driver_") else None)
        c = q(col)
        text = not (pd.api.types.is_numeric_dtype(types[col]) or pd.api.types.is_bool_dtype(types[col]))
        if col == "spend" and (factor := SPEND_PER_QUARTER[eng.config.spend_period]) != 1.0:
            expr = f"TRY_CAST(NULLIF(TRIM(CAST({c} AS STRING)), '') AS DOUBLE)" if text else f"CAST({c} AS DOUBLE)"
            exprs.append(f"{expr} * {factor!r} AS {c}")
            if text:
                problems += _unparsed_numbers(eng, col)
            continue
        if col == "quarter":
            cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in quarter_map.items())
            exprs.append(f"CASE CAST({c} AS STRING) {cases} END AS {c}" if cases else f"{c}")
        elif kind == "binary" and (text or pd.api.types.is_bool_dtype(types[col])):
            t = f"LOWER(TRIM(CAST({c} AS STRING)))"
            yes = ", ".join(_lit(v) for v in sorted(_TRUE))
            no = ", ".join(_lit(v) for v in sorted(_FALSE))
            bad = f"{c} IS NOT NULL AND {t} <> '' AND {t} NOT IN ({yes}, {no})"
            n = int(eng.query(f"SELECT COUNT(*) AS n FROM {eng.table} WHERE {bad}")["n"].iloc[0])
            if n:
                problems.append(Problem(col, "must be a yes/no flag (1/0, true/false, yes/no, y/n)", n,
                                        _examples(eng, bad, col),
                                        "Use one of those spellings, or leave the cell empty when unknown."))
            exprs.append(f"CASE WHEN {t} IN ({yes}) THEN 1.0 WHEN {t} IN ({no}) THEN 0.0 END AS {c}")
        elif (kind in NUMERIC_KINDS or kind == "driver" or kind == "binary") and text:
            problems += _unparsed_numbers(eng, col)
            exprs.append(f"TRY_CAST(NULLIF(TRIM(CAST({c} AS STRING)), '') AS DOUBLE) AS {c}")
        elif kind in ("category", "id"):
            exprs.append(_recoded(col, f"NULLIF(TRIM(CAST({c} AS STRING)), '')", eng.config.recode) + f" AS {c}")
        else:
            exprs.append(_recoded(col, c, eng.config.recode) + f" AS {c}" if col in eng.config.recode else c)
    return exprs, problems


def _recoded(col: str, expr: str, recode) -> str:
    """``expr`` with cx.yaml's ``recode`` of ``col`` applied (a cell matches a spelling once
    stripped of surrounding spaces), as :func:`cxanalysis.io.recode_values` does in memory."""
    if col not in recode:
        return expr
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in _recode_map(recode[col]).items())
    return f"CASE TRIM(CAST({q(col)} AS STRING)) {whens} ELSE {expr} END"


def _recode_notes(eng, recode) -> list[str]:
    """Check each ``recode`` column (present, text) and count its rows per spelling: the notes
    :func:`cxanalysis.io.recode_values` gives in memory."""
    types = eng.query(f"SELECT * FROM {eng.table} LIMIT 0").dtypes
    notes = []
    for col, mapping in recode.items():
        if col not in eng.columns:
            raise recode_error(col, eng.columns)
        if pd.api.types.is_numeric_dtype(types[col]) or pd.api.types.is_bool_dtype(types[col]):
            raise recode_error(col, [], numbers=True)
        m = _recode_map(mapping)
        t = f"TRIM(CAST({q(col)} AS STRING))"
        found = eng.query(f"SELECT {t} AS v, COUNT(*) AS n FROM {eng.table} WHERE {t} IN "
                          f"({', '.join(_lit(k) for k in m)}) GROUP BY {t}")
        notes.append(recode_note(col, dict(zip(found["v"].astype(str), found["n"].astype(int), strict=True)), m))
    return notes


def _unparsed_numbers(eng, col: str) -> list[Problem]:
    """The problem of a text column's cells that are not numbers (none: an empty list)."""
    c = q(col)
    t = f"TRIM(CAST({c} AS STRING))"
    bad = f"{c} IS NOT NULL AND {t} <> '' AND TRY_CAST({t} AS DOUBLE) IS NULL"
    n = int(eng.query(f"SELECT COUNT(*) AS n FROM {eng.table} WHERE {bad}")["n"].iloc[0])
    if not n:
        return []
    return [Problem(col, "must hold numbers", n, _examples(eng, bad, col),
                    "Replace text such as 'n/a' with an empty cell (missing) or a number.")]


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _count(eng, where: str = "1 = 1", table: str | None = None) -> int:
    return int(eng.query(f"SELECT COUNT(*) AS n FROM {table or eng.table} WHERE {where}")["n"].iloc[0])


def prepare_large(source, config: Config, *, engine: str = "duckdb", quarter: str | None = None,
                  per_stratum: int | None = None, seed: int | None = None,
                  progress: Callable[[str], None] = lambda msg: None) -> LargeRun:
    """Read, validate and count ``source`` with ``engine`` over every row; exact tables; the
    weighted stratified sample, cleaned (``per_stratum`` rows at most per stratum; default
    :func:`auto_per_stratum`).

    Raises
    ------
    DataError
        The source cannot be read, a mapped or required column is missing, no quarter.
    ValidationError
        Values break rules and ``cleaning.invalid_rows`` is ``"error"``.
    """
    from .choose import QuarterFolders, open_engine

    qtr = parse_quarter(quarter) if quarter is not None else config.quarter
    try:
        eng = open_engine(engine, source if isinstance(source, QuarterFolders) else str(source), config, quarter=qtr)
    except ValueError as exc:  # the mapping names a column the export lacks, or no quarter
        raise DataError(str(exc)) from None
    except Exception as exc:  # the engine's own read error (no such file, not Parquet/CSV)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"The {engine} engine cannot read {source}: {first}") from None
    spill = None
    if eng.name == "duckdb":
        # the stored table and the windows spill beyond the limit, into a folder of this run's own
        spill = tempfile.TemporaryDirectory(prefix="cx-duckdb-")
        eng.con.execute(f"SET temp_directory='{spill.name}'")
        eng.con.execute(f"SET memory_limit='{DUCKDB_MEMORY_LIMIT}'")
        eng.con.execute("SET preserve_insertion_order=false")  # the sample is sorted afterwards
    try:
        return _prepare(eng, source, config, qtr, per_stratum, config.seed if seed is None else seed, progress)
    finally:
        eng.close()
        if spill is not None:
            spill.cleanup()


def _prepare(eng, source, config: Config, qtr, per_stratum: int | None, seed: int, progress) -> LargeRun:
    import time

    from .choose import QuarterFolders

    t0 = time.perf_counter()
    cols = list(eng.columns)
    if "customer_id" not in cols:
        raise DataError("Required column 'customer_id' is missing. Map it in cx.yaml, e.g.\n"
                        "  columns:\n    customer_id: <the id column in your export>")
    scores = [c for c in CX_SCORES if c in cols]
    if not scores:
        raise DataError("None of the CX scores (nps_score, csat, ces) is in the export. Map at least one in "
                        "cx.yaml, e.g.\n  columns:\n    nps_score: <your 0-10 recommend column>")
    if config.score not in cols:
        raise DataError(f"'categories.score' is {config.score!r}, but the export has no such column "
                        f"(it has {', '.join(scores)}). Set 'categories.score' to one of those.")
    rows_in = _count(eng)
    report = CleaningReport(rows_in=rows_in)
    # quarters: each spelling parsed once, mapped in SQL
    raw_q = eng.query(f"SELECT DISTINCT CAST(quarter AS STRING) AS q FROM {eng.table}")["q"]
    qmap = {str(v): parse_quarter(v) for v in raw_q if v is not None and not pd.isna(v)}
    problems = []
    bad_q = [k for k, v in qmap.items() if v is None]
    if bad_q:
        n = _count(eng, "CAST(quarter AS STRING) IN (" + ", ".join(_lit(b) for b in bad_q) + ")")
        problems.append(Problem("quarter", "must look like 2026Q3, 'Q3 2026', 2026-Q3 or a date", n,
                                ", ".join(repr(b) for b in bad_q[:3]),
                                "A quarter without a year (e.g. 'Q3') is ambiguous: give the year."))
    if raw_q.isna().any():
        problems.append(Problem("quarter", "must not be empty", _count(eng, "quarter IS NULL"), "",
                                "Fill the quarter, or pass --quarter for a single-quarter export."))
    recoded = _recode_notes(eng, config.recode)
    exprs, parse_problems = _typed_select(eng, {k: v for k, v in qmap.items() if v is not None})
    problems += parse_problems
    if problems:
        raise ValidationError(problems)
    typed = f"SELECT {', '.join(exprs)} FROM customers_src"
    # always-on cleaning, counted: no id; exact duplicates. The typed rows with an id are stored
    # once by the engine; every later count, exact table and the sample read them, not the export.
    keep = "customer_id IS NOT NULL"
    eng.materialise(f"SELECT * FROM ({typed}) t WHERE {keep}", "customers_typed")
    text_cols = [c for c, t in eng.query(f"SELECT * FROM {eng.table} LIMIT 0").dtypes.items()
                 if not pd.api.types.is_numeric_dtype(t)]
    n_kept = _count(eng)
    no_id = rows_in - n_kept
    if no_id:
        report.drop("no customer_id", pd.Series([], dtype=str), no_id)
    dup_keys = _count(eng, "1 = 1", "(SELECT customer_id, quarter FROM customers GROUP BY customer_id, quarter "
                      "HAVING COUNT(*) > 1) d")
    stored = "customers_typed"
    if dup_keys:
        eng.materialise("SELECT DISTINCT * FROM customers_typed", "customers_clean")
        stored = "customers_clean"
        n_dup = n_kept - _count(eng)
        if n_dup:
            ids = eng.query("SELECT customer_id FROM customers GROUP BY customer_id, quarter HAVING COUNT(*) > 1 "
                            "ORDER BY customer_id LIMIT 5")["customer_id"].astype(str)
            report.drop("exact duplicate of an earlier row", ids, n_dup)
    clean_select = f"SELECT * FROM {stored}"
    if config.cleaning["near_duplicates"] == "drop":  # said, not silently ignored
        report.notes.append(f"cleaning.near_duplicates: drop is applied by the pandas engine only; this {eng.name} run "
                            "keeps rows that copy another under a new customer id.")
    # respondents and the base, per quarter
    answered = " OR ".join(f"{q(c)} IS NOT NULL" for c in scores)
    # with the MRR of those who did not answer, for the census of MRR (metrics.add_nonrespondent_totals)
    mrr = (f", COUNT(CASE WHEN NOT ({answered}) THEN mrr END) AS non_mrr_n, "
           f"COALESCE(SUM(CASE WHEN NOT ({answered}) THEN CAST(mrr AS DOUBLE) END), 0.0) AS non_mrr_total"
           if "mrr" in eng.columns else "")
    base = eng.query(f"SELECT quarter, COUNT(*) AS base, SUM(CASE WHEN {answered} THEN 1 ELSE 0 END) AS respondents"
                     f"{mrr} FROM {eng.table} GROUP BY quarter ORDER BY quarter")
    resp_select = f"SELECT * FROM ({clean_select}) c WHERE {answered}"
    eng.derive_view(resp_select)
    # validation: every rule one count over the respondents
    # (customer_id, quarter) was counted unique over the stored rows above when dup_keys is 0
    problems = eng.validate(unique=() if dup_keys else ("customer_id", "quarter"))
    if problems:
        if config.cleaning["invalid_rows"] == "error":
            raise ValidationError(problems)
        from ..schema import rules

        active = [r for r in rules(config.scales) if all(c in eng.columns for c in r.columns)]
        if any("SELECT" in r.sql.upper() for r in active if any(p.rule == r.rule for p in problems)):
            raise ValidationError(problems)  # duplicated customers are not dropped row by row here
        cond = " AND ".join(f"NOT COALESCE(({r.sql}), FALSE)" for r in active if "SELECT" not in r.sql.upper())
        n0 = _count(eng)
        for p in problems:
            report.drop(f"{p.column} {p.rule}", pd.Series([e.split(":")[0] for e in p.examples.split(", ")]),
                        p.n_rows)
        resp_select = f"SELECT * FROM ({clean_select}) c WHERE ({answered}) AND {cond}"
        eng.derive_view(resp_select)
        dropped = n0 - _count(eng)
        report.notes.append(f"{dropped:,} respondent rows breaking a validation rule dropped (cleaning.invalid_rows: drop).")
    # what the cleaning report says
    own = "weight" in eng.columns
    by_q = base.set_index("quarter")
    n_resp = eng.query(f"SELECT quarter, COUNT(*) AS n FROM {eng.table} GROUP BY quarter").set_index("quarter")["n"]
    raked: dict[str, dict] = {}
    not_raked = "weighting turned off in cx.yaml"
    if not own and int((by_q["base"] - by_q["respondents"]).sum()) and config.weighting.get("method", "raking") == "raking":
        t_rake = time.perf_counter()
        raked, why = _rake_in_engine(eng, config, resp_select, f"SELECT * FROM ({clean_select}) c WHERE NOT ({answered})")
        not_raked = why or "no covariate to rake on"
        if raked:
            progress(f"  respondents raked to the base by {eng.name} ({time.perf_counter() - t_rake:.1f} s)")
    for qq, r in by_q.iterrows():
        non = int(r["base"] - r["respondents"])
        resp = int(n_resp.get(qq, 0))
        weighting = ("the export's own weight column" if own and non else
                     "none (no non-respondents)" if not non else
                     f"none ({not_raked}: the NPS describes respondents)")
        info = {"quarter": str(qq), "base": resp + non, "respondents": resp,
                "rate": resp / (resp + non) if resp + non else float("nan"),
                "weighting": weighting, "n_eff": float(resp), "design_effect": 1.0,
                "converged": True, "notes": []}
        if non and str(qq) in raked:
            info.update(raked[str(qq)])
        if mrr:
            info["nonrespondents_mrr"] = {"n": int(r["non_mrr_n"]), "total": float(r["non_mrr_total"])}
        report.response.append(info)
    n_non = int((by_q["base"] - by_q["respondents"]).sum())
    report.respondents = int(n_resp.sum())
    report.rows_out = report.respondents + n_non
    if n_non:
        how = ("respondents weighted to the base: " + ", ".join(sorted({r["weighting"] for r in report.response
                                                                        if r["base"] > r["respondents"]})))
        report.notes.append(f"{n_non:,} customers have no CX score (did not answer the survey): counted as the base "
                            f"the {report.respondents:,} respondents stand for, not analysed; {how}.")
    report.notes += recoded
    if eng.quarter_given and "churned" in eng.columns:
        report.notes.append(undated_churn_note(str(qtr)))
    if "spend" in eng.columns and (note := spend_note(config)) is not None:
        report.notes.append(note)
    report.notes.append(f"Read, validated and counted by the {eng.name} engine over every row; the models, "
                        "drivers, clusters and themes use a weighted stratified sample (see each page).")
    report.inputs = _inputs(source, rows_in)
    if isinstance(source, QuarterFolders):
        report.notes.append("Earlier quarters read from their sibling folders for trends: "
                            + ", ".join(f"{qq} ({path})" for path, qq in source.parts[:-1]) + ".")
    absent = [c for c in CANONICAL if c not in eng.columns and c not in ("quarter", "weight")]
    if absent:
        report.notes.append(f"Absent optional columns (their analyses are skipped): {', '.join(absent)}")
    progress(f"  {rows_in:,} rows read and validated by {eng.name}; {report.respondents:,} respondents "
             f"({time.perf_counter() - t0:.1f} s)")
    # exact tables over every respondent
    t0 = time.perf_counter()
    tables = eng.exact_tables()
    if n_non:  # the CRM's metrics over every customer, respondents or not (base.base_metrics in memory)
        crm = crm_columns(eng.columns, config)
        cols = ", ".join(q(c) for c in crm)
        tables["metrics_base"] = eng.metrics_over(
            f"SELECT {cols} FROM {eng.table} UNION ALL SELECT {cols} FROM ({clean_select}) c WHERE NOT ({answered})", crm)
    unweighted = [c for c in eng.columns if c != "weight"]
    tables["nps_quarter_unweighted"] = exact.nps_table(
        eng.query(sql.nps_sql(eng.table, config, unweighted, ("quarter",))), config, ("quarter",))
    for r in report.response:  # Kish n_eff of the export's own weights
        row = tables["nps_quarter"][tables["nps_quarter"]["quarter"].astype(str) == r["quarter"]]
        if len(row) and own:
            r["n_eff"] = float(row["n_eff"].iloc[0])
            r["design_effect"] = r["respondents"] / r["n_eff"] if r["n_eff"] else None
    sizes = tables["nps_quarter"].set_index(tables["nps_quarter"]["quarter"].astype(str))["n"].astype("int64")
    # the weighted stratified sample, through the normal cleaning path
    progress(f"  exact tables by {eng.name} ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    by = sample_covariates(config, eng.columns, text_cols)
    if per_stratum is None:
        from .base import _category_sql

        keys = ", ".join(["quarter", _category_sql(config), *(q(b) for b in by)])
        strata = _count(eng, "1 = 1", f"(SELECT {keys} FROM {eng.table} WHERE {q(config.score)} IS NOT NULL "
                                      f"GROUP BY {keys}) s")
        per_stratum = auto_per_stratum(strata)
    drawn = eng.stratified_sample(per_stratum, seed=seed, by=by)
    info = {"rows": len(drawn), "per_stratum": int(per_stratum), "strata": int(drawn["_stratum"].nunique()),
            "population": int(sizes.sum()), "by": ["quarter", f"{config.score} category", *by], "engine": eng.name}
    sample = _load_sample(drawn, config)
    progress(f"  weighted stratified sample: {len(sample):,} of {info['population']:,} respondents "
             f"({info['strata']} strata, up to {per_stratum:,} each; {time.perf_counter() - t0:.1f} s)")
    return LargeRun(sample, report, tables, info, sizes.sort_index())


#: Beyond this many groups of customers alike on the raking covariates (a continuous covariate
#: with a value per customer), the engine does not rake; the report says so.
MAX_RAKING_GROUPS = 1_000_000


def _sql_double(x: float) -> str:
    """A double literal both engines parse exactly (DuckDB reads ``0.1`` as a DECIMAL)."""
    return f"CAST('{float(x)!r}' AS DOUBLE)"


def _rake_in_engine(eng, config: Config, resp_select: str, non_select: str) -> tuple[dict[str, dict], str | None]:
    """Rake each quarter's respondents to its whole base, as :func:`cxanalysis.weighting.weight_to_base`
    does in memory, and make ``weight`` a column of the respondents' view.

    The engine counts the respondents and the base per quarter and per combination of the
    raking covariates' values (a small table: plan x region x tenure); :func:`~cxanalysis.weighting.rake`
    rakes those groups (``counts``), which gives each respondent the weight of the rows repeated;
    the weight is then ``scale x`` one factor per covariate level, applied in SQL as ``CASE``
    expressions (no table shipped back to the engine). Returns, per raked quarter, the
    ``response`` fields (``weighting, n_eff, design_effect, converged, notes``), and why nothing
    could be raked (None when something was) (the respondents then keep no weight column: the NPS
    describes them).
    """
    from ..weighting import MISSING, _describe, _text_levels, rake, weighting_columns

    by = [c for c in weighting_columns(config) if c in eng.columns]
    if not by:
        return {}, "none of the raking covariates is in the export"
    keys = ", ".join(["quarter", *(q(c) for c in by)])
    groups = eng.query(f"SELECT {keys}, 1 AS _resp, COUNT(*) AS _n FROM {eng.table} GROUP BY {keys} "
                       f"UNION ALL SELECT {keys}, 0 AS _resp, COUNT(*) AS _n FROM ({non_select}) x GROUP BY {keys} "
                       f"LIMIT {MAX_RAKING_GROUPS + 1}")
    if len(groups) > MAX_RAKING_GROUPS:
        return {}, (f"more than {MAX_RAKING_GROUPS:,} groups of customers alike on {', '.join(by)}, the most "
                    "the engine rakes: set weighting.by in cx.yaml to categorical covariates")
    groups["quarter"] = groups["quarter"].astype(str)
    bands = dict(config.segments.get("bands", {}))
    qb = int(config.segments.get("quantile_bands", 4))
    out, cases = {}, []
    for qq in sorted(groups["quarter"].unique()):
        g = groups[groups["quarter"] == qq].reset_index(drop=True)
        resp, n_non = g[g["_resp"] == 1], int(g.loc[g["_resp"] == 0, "_n"].sum())
        if not n_non or not len(resp):
            continue
        r = rake(resp, g, by, bands=bands, quantile_bands=qb, counts=resp["_n"].to_numpy(float),
                 base_counts=g["_n"].to_numpy(float))
        expr = [_sql_double(r.scale)]
        for c, factor in r.factors.items():
            col = q(c)
            whens = [f"WHEN {col} IS NULL THEN {_sql_double(factor.get(MISSING, 1.0))}"]
            if c in r.cuts:
                cuts = r.cuts[c]
                labels = [f"[{lo}, {hi})" for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
                whens += [f"WHEN {col} < {_sql_double(hi)} THEN {_sql_double(factor.get(lv, 1.0))}"
                          for lv, hi in zip(labels[:-1], cuts[1:-1], strict=True)]
                whens.append(f"ELSE {_sql_double(factor.get(labels[-1], 1.0))}")
            else:
                values = g[c].dropna().drop_duplicates()
                labels = _text_levels(values).astype(str)
                for v, lv in zip(values, labels, strict=True):
                    lit = _lit(v) if isinstance(v, str) else _sql_double(v)
                    whens.append(f"WHEN {col} = {lit} THEN {_sql_double(factor.get(lv, 1.0))}")
            expr.append("CASE " + " ".join(whens) + " END")
        cases.append(f"WHEN {_lit(qq)} THEN " + " * ".join(expr))
        out[qq] = {"weighting": _describe(r, g, qb, bands), "n_eff": r.n_eff, "design_effect": r.design_effect,
                   "converged": r.converged, "notes": r.notes,
                   "margins": _group_margins(resp, g, r.weights.to_numpy(), by, bands, qb)}
    if cases:
        weight = f"CASE CAST(quarter AS STRING) {' '.join(cases)} ELSE {_sql_double(1.0)} END"
        eng.derive_view(f"SELECT r.*, {weight} AS weight FROM ({resp_select}) r")
    return out, None


def _group_margins(resp: pd.DataFrame, base: pd.DataFrame, weights: np.ndarray, by, bands, qb: int) -> list[dict]:
    """:func:`cxanalysis.weighting.compare_margins` of counted groups (``_n`` customers each;
    ``weights``: each respondent group's raked total): the page's margins table, which in memory
    compares the respondents' rows with the non-respondents' rows the large route never loads."""
    from ..weighting import _banded, _levels, ordered_levels

    rows = []
    for c in by:
        if base[c].nunique(dropna=False) < 2:
            continue
        r, b = _levels(resp[c], base[c], bands.get(c), qb, base["_n"].to_numpy(float))
        share = {}
        for key, lv, v in (("base_share", b, base["_n"]), ("respondents_share", r, resp["_n"]),
                           ("weighted_share", r, pd.Series(weights, index=resp.index))):
            tot = v.groupby(lv.astype(str).to_numpy()).sum()
            share[key] = tot[tot > 0] / tot.sum() if tot.sum() > 0 else tot
        levels = ordered_levels(set(share["base_share"].index) | set(share["respondents_share"].index),
                                _banded(base[c], qb))
        for lv in levels:
            row = {"covariate": c, "level": lv, **{k: float(v.get(lv, 0.0)) for k, v in share.items()}}
            rows.append({**row, "difference": row["respondents_share"] - row["base_share"]})
    return rows


def _load_sample(drawn: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The drawn rows through :func:`cxanalysis.io.load` (columns canonical already), with
    ``weight`` = sampling weight x the export's own weight."""
    flat = Config({**config.to_dict(), "columns": {}, "weighting": {**config.weighting, "method": "none"}}, config.source)
    for col in CATEGORICAL:
        if col in drawn:
            drawn[col] = drawn[col].astype(object)
    with tempfile.TemporaryDirectory(prefix="cx-sample-") as tmp:
        path = Path(tmp) / "sample.parquet"
        drawn.drop(columns=["_stratum"]).to_parquet(path, index=False)
        frame = load(path, flat).data
    w = frame.pop("_sampling_weight").to_numpy(float)
    own = frame["weight"].to_numpy(float) if "weight" in frame else np.ones(len(frame))
    frame["weight"] = w * own
    return frame.drop(columns=["_row", "_source"], errors="ignore")


def _inputs(source, rows: int) -> list[dict[str, Any]]:
    from ..engine.choose import QuarterFolders, _files

    if isinstance(source, QuarterFolders):  # each quarter folder's files; the rows of all of them
        return [{"path": path, "quarter": qq, "files": len(_files(path))} for path, qq in source.parts[:-1]] + \
               [{"path": source.parts[-1][0], "quarter": source.parts[-1][1], "files": len(_files(source.parts[-1][0])),
                 "rows": rows}]
    files = _files(str(source))
    if len(files) == 1:
        return [{"path": str(source), "sha256": file_sha256(files[0]), "rows": rows}]
    return [{"path": str(source), "files": len(files), "rows": rows}]
