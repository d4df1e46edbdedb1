"""The one SQL text behind the exact tables: sufficient statistics per group.

Every statement here runs unchanged on DuckDB, Spark SQL (with ANSI double-quoted identifiers,
which :class:`~cxanalysis.engine.spark.SparkEngine` switches on) and sqlite. They read a table or
view of canonical columns (named ``customers`` by the engines) and return, per group, only
sums: row counts, sums of weights ``sum w``, sums of squared weights ``sum w^2``, weighted sums
``sum w x`` and, for intervals, weighted sums of squared deviations from the group's weighted
mean ``sum w (x - m)^2`` (two passes, the group's mean joined back to its rows, never the cancelling ``sum w x^2 -
(sum w x)^2 / sum w``). :mod:`cxanalysis.engine.exact` turns those sums into estimates and
intervals, once, for every engine.

Portable SQL only: ``CASE``, ``SUM``, ``COUNT``, ``NULLIF``, ``CAST(... AS DOUBLE)`` and
joins on the group keys; no engine-specific function, no division that can fail
under ANSI rules (every denominator goes through ``NULLIF(..., 0)``).

Rows with a missing group key are left out, as :meth:`pandas.DataFrame.groupby` leaves them out
in the in-memory functions of :mod:`cxanalysis.metrics`. The weight is the ``weight`` column
when the table has one, else 1 for every row; a row missing the weight (or the value) is left
out of that figure, as in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Config
from ..schema import sql_name as q

__all__ = ["MeanSpec", "metric_specs", "nps_sql", "metrics_sql", "counts_sql", "aggregate_sql"]


def _d(expr: str) -> str:
    return f"CAST({expr} AS DOUBLE)"


def _weight(columns: Sequence[str]) -> str:
    return _d(q("weight")) if "weight" in columns else "1.0"


def _keys(by: Sequence[str]) -> tuple[str, str, str]:
    """(select list prefix, WHERE condition, PARTITION BY clause) for the group keys."""
    if not by:
        return "", "1 = 1", "OVER ()"
    cols = ", ".join(q(b) for b in by)
    where = " AND ".join(f"{q(b)} IS NOT NULL" for b in by)
    return cols + ", ", where, f"OVER (PARTITION BY {cols})"


def _group(by: Sequence[str]) -> str:
    cols = ", ".join(q(b) for b in by)
    return f" GROUP BY {cols} ORDER BY {cols}" if by else ""


def _as_keys(by: Sequence[str]) -> str:
    """The group keys renamed ``_k0, _k1, ...`` (select list prefix), so that a join on them
    leaves the row's own columns unambiguous."""
    return "".join(f"{q(b)} AS _k{i}, " for i, b in enumerate(by))


def _group_only(by: Sequence[str]) -> str:
    return f" GROUP BY {', '.join(q(b) for b in by)}" if by else ""


def _on(by: Sequence[str], right: str, left: str | None = None) -> str:
    """Join condition of the rows (``left``, or unqualified) with ``right``'s ``_k`` keys."""
    if not by:
        return "1 = 1"
    return " AND ".join(f"{left + '.' if left else ''}{q(b)} = {right}._k{i}" for i, b in enumerate(by))


def nps_sql(table: str, config: Config, columns: Sequence[str], by: Sequence[str] = ()) -> str:
    """Sufficient statistics of the configured net score per group.

    Returns one row per group: ``[by...], n_rows, n, sw, sw2, sw_promoters, sw_detractors``
    (``n`` rows with a score and a weight; ``sw`` their weights' sum, ``sw2`` the sum of the
    squared weights, ``sw_promoters`` / ``sw_detractors`` the weights of each category).
    """
    cats = config.categories
    s = _d(q(cats["score"]))
    w = _weight(columns)
    keys, where, _ = _keys(by)
    ok = f"{s} IS NOT NULL AND {w} IS NOT NULL"
    return (
        f"SELECT {keys}COUNT(*) AS n_rows, "
        f"SUM(CASE WHEN {ok} THEN 1 ELSE 0 END) AS n, "
        f"SUM(CASE WHEN {ok} THEN {w} ELSE 0.0 END) AS sw, "
        f"SUM(CASE WHEN {ok} THEN {w} * {w} ELSE 0.0 END) AS sw2, "
        f"SUM(CASE WHEN {ok} AND {s} >= {float(cats['promoter_min'])!r} THEN {w} ELSE 0.0 END) AS sw_promoters, "
        f"SUM(CASE WHEN {ok} AND {s} <= {float(cats['detractor_max'])!r} THEN {w} ELSE 0.0 END) AS sw_detractors "
        f"FROM {table} WHERE {where}{_group(by)}"
    )


@dataclass(frozen=True)
class MeanSpec:
    """One weighted mean or ratio of totals ``sum w y / sum w x`` computed in SQL.

    ``y`` and ``x`` are SQL expressions over the row (``x = "1.0"`` for a mean); a row counts
    when both and its weight are present. ``top`` (optional) is a condition whose weighted share
    is also returned (top-box shares).
    """

    key: str
    y: str
    x: str = "1.0"
    top: str | None = None


#: The columns the metric statistics read.
USED_BY_METRICS = ("nps_score", "csat", "ces", "churned", "first_contact_resolved", "renewed", "trial_converted",
                   "spend", "orders", "contract_value", "support_cost", "mrr", "weight")


def metric_specs(config: Config, columns: Sequence[str]) -> list[MeanSpec]:
    """The means and ratios behind :func:`cxanalysis.metrics.cx_metrics`, for the columns present.

    ``_n_all`` in an expression is the customers the group stands for, the sum of its weights
    (its number of rows without weights): the retention cost spreads the quarter's fixed cost
    over them, so weighted respondents carry the fixed cost of the whole base, not of themselves.
    """
    has = set(columns)
    specs = []
    for c in ("nps_score", "csat", "ces", "churned", "first_contact_resolved", "renewed",
              "trial_converted", "spend", "contract_value", "support_cost", "mrr"):
        if c in has:
            top = None
            if c in ("csat", "ces"):
                top = f"{_d(q(c))} > {float(config.scales[c][1] - 2)!r}"
            specs.append(MeanSpec(c, _d(q(c)), top=top))
    if {"spend", "orders"} <= has:
        specs.append(MeanSpec("ats", _d(q("spend")), _d(q("orders"))))
    if {"support_cost", "churned"} <= has:
        fixed = float(config.roi["program_cost_per_year"] + config.roi["team_cost_per_year"]) / 4
        specs.append(MeanSpec("retention", f"({_d(q('support_cost'))} + {fixed!r} / _n_all)",
                              f"(1.0 - {_d(q('churned'))})"))
    return specs


def metrics_sql(table: str, config: Config, columns: Sequence[str], by: Sequence[str] = ()) -> str:
    """Sufficient statistics of every exact CX metric per group (see :func:`metric_specs`).

    Returns ``[by...], n_rows`` and, for each spec ``k``: ``k__n`` (rows used), ``k__sw``,
    ``k__sw2``, ``k__swy``, ``k__swx``, ``k__ss`` (``sum w (y - R x)^2`` with ``R`` the group's
    ``sum w y / sum w x``: the weighted squared deviations for a mean, the linearised values'
    for a ratio) and ``k__top`` (weighted count meeting ``top``) when it has one. With spend and
    churned: ``clv__n, clv__sw, clv__sw2, clv__sws, clv__swc, clv__ss_s, clv__ss_c, clv__sc``
    (joint rows, their sums, weighted squared deviations and cross-products), for the simple CLV
    and its delta-method interval. Also ``k__count`` (non-missing values) for every column a
    metric needs, and ``mrr__total`` (the unweighted sum).
    """
    w = _weight(columns)
    keys, where, _ = _keys(by)
    specs = metric_specs(config, columns)
    has = set(columns)
    # layer 1: each spec's weight (missing where the row does not count), y and x
    inner_cols = "".join(f"{q(c)}, " for c in columns if c in USED_BY_METRICS and c not in by)
    if any("_n_all" in s.y or "_n_all" in s.x for s in specs):  # the group's rows, joined on
        n_all = f"SELECT {_as_keys(by)}NULLIF(SUM({w}), 0) AS _n_all FROM {table} WHERE {where}{_group_only(by)}"
        layer1 = (f"SELECT {keys}{inner_cols}g1._n_all FROM {table} JOIN ({n_all}) g1 ON {_on(by, 'g1')} "
                  f"WHERE {where}")
    else:
        layer1 = f"SELECT {keys}{inner_cols}1 AS _n_all FROM {table} WHERE {where}"
    l2, agg = [], ["COUNT(*) AS n_rows"]
    for s in specs:
        k = s.key
        ok = f"{s.y} IS NOT NULL AND {s.x} IS NOT NULL AND {w} IS NOT NULL"
        l2 += [f"CASE WHEN {ok} THEN {w} END AS {k}__w", f"CASE WHEN {ok} THEN {s.y} END AS {k}__y",
               f"CASE WHEN {ok} THEN {s.x} END AS {k}__x"]
        if s.top:
            l2.append(f"CASE WHEN {ok} AND {s.top} THEN {w} END AS {k}__t")
    if {"spend", "churned"} <= has:
        ok = f"{q('spend')} IS NOT NULL AND {q('churned')} IS NOT NULL AND {w} IS NOT NULL"
        l2 += [f"CASE WHEN {ok} THEN {w} END AS clv__w", f"CASE WHEN {ok} THEN {_d(q('spend'))} END AS clv__s",
               f"CASE WHEN {ok} THEN {_d(q('churned'))} END AS clv__c"]
    if "mrr" in has:
        l2.append(f"{_d(q('mrr'))} AS mrr__raw")
    layer2 = f"SELECT {keys}{', '.join(l2) or '1 AS _none'} FROM ({layer1}) l1"
    # layer 3: the group's ratio R (the weighted mean when x = 1): one aggregate per group,
    # joined back to the rows (a hash join, parallel over the rows, where a window over a few
    # large partitions runs on one thread per partition)
    l3 = []
    for s in specs:
        k = s.key
        l3.append((f"SUM({k}__w * {k}__y) / NULLIF(SUM({k}__w * {k}__x), 0)", f"{k}__r"))
    if {"spend", "churned"} <= has:
        l3 += [("SUM(clv__w * clv__s) / NULLIF(SUM(clv__w), 0)", "clv__ms"),
               ("SUM(clv__w * clv__c) / NULLIF(SUM(clv__w), 0)", "clv__mc")]
    if l3:
        ratios = (f"SELECT {_as_keys(by)}{', '.join(f'{e} AS {a}' for e, a in l3)} "
                  f"FROM ({layer2}) l2g{_group_only(by)}")
        layer3 = (f"SELECT l2.*{''.join(f', g2.{a}' for _, a in l3)} FROM ({layer2}) l2 "
                  f"JOIN ({ratios}) g2 ON {_on(by, 'g2', 'l2')}")
    else:
        layer3 = f"SELECT l2.* FROM ({layer2}) l2"
    for s in specs:
        k = s.key
        agg += [f"COUNT({k}__w) AS {k}__n", f"COALESCE(SUM({k}__w), 0.0) AS {k}__sw",
                f"COALESCE(SUM({k}__w * {k}__w), 0.0) AS {k}__sw2",
                f"COALESCE(SUM({k}__w * {k}__y), 0.0) AS {k}__swy",
                f"COALESCE(SUM({k}__w * {k}__x), 0.0) AS {k}__swx",
                f"COALESCE(SUM({k}__w * ({k}__y - {k}__r * {k}__x) * ({k}__y - {k}__r * {k}__x)), 0.0) AS {k}__ss"]
        if s.top:
            agg.append(f"COALESCE(SUM({k}__t), 0.0) AS {k}__top")
    if {"spend", "churned"} <= has:
        agg += ["COUNT(clv__w) AS clv__n", "COALESCE(SUM(clv__w), 0.0) AS clv__sw",
                "COALESCE(SUM(clv__w * clv__w), 0.0) AS clv__sw2",
                "COALESCE(SUM(clv__w * clv__s), 0.0) AS clv__sws",
                "COALESCE(SUM(clv__w * clv__c), 0.0) AS clv__swc",
                "COALESCE(SUM(clv__w * (clv__s - clv__ms) * (clv__s - clv__ms)), 0.0) AS clv__ss_s",
                "COALESCE(SUM(clv__w * (clv__c - clv__mc) * (clv__c - clv__mc)), 0.0) AS clv__ss_c",
                "COALESCE(SUM(clv__w * (clv__s - clv__ms) * (clv__c - clv__mc)), 0.0) AS clv__sc"]
    if "mrr" in has:
        agg.append("COALESCE(SUM(mrr__raw), 0.0) AS mrr__total")
    return f"SELECT {keys}{', '.join(agg)} FROM ({layer3}) l3{_group(by)}"


def counts_sql(table: str, config: Config, columns: Sequence[str], by: Sequence[str] = ()) -> str:
    """Row counts for data quality: ``[by...], n_rows, respondents`` (rows with the configured
    score) and ``present__<column>`` (non-missing values) for every column of the export (not the
    loader's own ``_source``, ``_row``..., which only the in-memory route has)."""
    keys, where, _ = _keys(by)
    score = config.categories["score"]
    parts = ["COUNT(*) AS n_rows",
             f"COUNT({q(score)}) AS respondents" if score in columns else "0 AS respondents"]
    parts += [f"COUNT({q(c)}) AS {q('present__' + c)}" for c in columns if c not in by and not str(c).startswith("_")]
    return f"SELECT {keys}{', '.join(parts)} FROM {table} WHERE {where}{_group(by)}"


def aggregate_sql(table: str, config: Config, by: Sequence[str] = ()) -> str:
    """Unweighted NPS counts per group: ``[by...], n, n_scored, promoters, detractors``.

    The form :mod:`cxanalysis.scale` has always returned, now a view of :func:`nps_sql` (the
    weights set to 1), so the counts come from the one SQL text.
    """
    keys, _, _ = _keys(by)
    inner = nps_sql(table, config, columns=(), by=by)
    cols = "".join(f"{q(b)}, " for b in by)
    return (f"SELECT {cols}n_rows AS n, n AS n_scored, CAST(sw_promoters AS BIGINT) AS promoters, "
            f"CAST(sw_detractors AS BIGINT) AS detractors FROM ({inner}) t"
            + (f" ORDER BY {', '.join(q(b) for b in by)}" if by else ""))
