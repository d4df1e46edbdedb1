"""The canonical customer table and its validation rules.

Each rule is vectorised (one pass over a column) and reports, when broken, the column, the rule,
how many rows break it, example rows (row number in the export, customer id, value) and how to
fix it. The rules are declared once here; :mod:`cxanalysis.io` applies them after parsing.

The checks are written with pandas rather than pandera: the messages must name example rows and a
fix in the house format, invalid rows can be dropped and counted instead of raising, and the
whole table is checked in one vectorised pass (about a second on 1M customers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "near_duplicate_copies",
    "CANONICAL",
    "CX_SCORES",
    "BINARY",
    "CATEGORICAL",
    "COUNTS",
    "MONEY",
    "Problem",
    "Rule",
    "rules",
    "sql_name",
    "ValidationError",
    "check_rules",
    "format_examples",
    "column_summary",
    "readiness_warnings",
    "similar_values",
    "spelling_warnings",
    "near_duplicates",
    "orders_without_spend",
    "suspect_rows",
]

#: Canonical column -> kind. ``driver_*`` columns (numeric) and ``quarter`` are handled apart.
CANONICAL: dict[str, str] = {
    "customer_id": "id",
    "quarter": "quarter",
    "nps_score": "score",
    "csat": "score",
    "ces": "score",
    "spend": "money",
    "churned": "binary",
    "orders": "count",
    "returns": "count",
    "support_tickets": "count",
    "support_cost": "money",
    "plan": "category",
    "region": "category",
    "job_title": "category",
    "contract_value": "money",
    "tenure_months": "nonneg",
    "visits_per_month": "nonneg",
    "age": "age",
    "first_contact_resolved": "binary",
    "renewed": "binary",
    "trial_converted": "binary",
    "mrr": "money",
    "comment": "text",
    "weight": "weight",
}
CX_SCORES = ("nps_score", "csat", "ces")
BINARY = tuple(c for c, k in CANONICAL.items() if k == "binary")
CATEGORICAL = tuple(c for c, k in CANONICAL.items() if k == "category")
COUNTS = tuple(c for c, k in CANONICAL.items() if k == "count")
MONEY = tuple(c for c, k in CANONICAL.items() if k == "money")
#: The oldest valid age: the rule below, and the open top of the age bands ("65+").
MAX_AGE = 120

NUMERIC_KINDS = {"score", "money", "count", "nonneg", "age", "weight", "binary"}


@dataclass(frozen=True)
class Problem:
    """One broken rule: which column, which rule, how many rows, examples and the fix."""

    column: str
    rule: str
    n_rows: int
    examples: str
    fix: str
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)

    def message(self) -> str:
        s = "" if self.n_rows == 1 else "s"
        ex = f" (e.g. {self.examples})" if self.examples else ""
        return f"Column {self.column!r} {self.rule}; {self.n_rows} row{s} do not{ex}. {self.fix}"


class ValidationError(ValueError):
    """The export breaks one or more rules; ``problems`` lists each."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"- {p.message()}" for p in problems]
        super().__init__(
            f"The data has {len(problems)} problem{'s' if len(problems) != 1 else ''}:\n"
            + "\n".join(lines)
        )


def format_examples(frame: pd.DataFrame, mask: np.ndarray, column: str | None, k: int = 3) -> str:
    """'row 12 (id A-7): 11, row 40 (id B-2): -1' for the first ``k`` rows where ``mask``."""
    idx = np.flatnonzero(mask)[:k]
    parts = []
    for i in idx:
        row = int(frame["_row"].iat[i]) if "_row" in frame else int(i) + 1
        cid = frame["customer_id"].iat[i] if "customer_id" in frame else None
        label = f"row {row}" + (f" (id {cid})" if cid is not None and not pd.isna(cid) else "")
        if column is not None:
            raw = f"_raw_{column}"
            value = frame[raw].iat[i] if raw in frame else frame[column].iat[i]
            label += f": {value!r}" if isinstance(value, str) else f": {_fmt(value)}"
        parts.append(label)
    return ", ".join(parts)


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Rule:
    """One validation rule, stated once for both engines.

    ``bad`` marks the rows that break it in a pandas frame; ``sql`` is the same test as a SQL
    condition on a table named ``customers`` (used by :mod:`cxanalysis.scale`). NULLs never
    break a rule in either.
    """

    columns: tuple[str, ...]
    rule: str
    fix: str
    bad: Callable[[pd.DataFrame], np.ndarray]
    sql: str
    show: str | None = None


def sql_name(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def rules(scales: dict[str, list[float]]) -> list[Rule]:
    """Every validation rule, for the configured score scales."""
    out: list[Rule] = []
    nps_lo, nps_hi = scales.get("nps_score", [0, 10])
    for col in CX_SCORES:
        lo, hi = scales.get(col, [nps_lo, nps_hi] if col == "nps_score" else [1, 5])
        integer = col == "nps_score"
        what = "integers" if integer else "numbers"
        c = sql_name(col)
        out.append(
            Rule(
                (col,),
                f"must hold {what} from {_fmt(lo)} to {_fmt(hi)}",
                f"Fix the values or set 'scales.{col}' in cx.yaml if your scale differs.",
                lambda d, c=col, lo=lo, hi=hi, integer=integer: _notna(d[c])
                & ((d[c] < lo) | (d[c] > hi) | (integer & (d[c] % 1 != 0))),
                f"{c} < {lo} OR {c} > {hi}" + (f" OR {c} <> FLOOR({c})" if integer else ""),
                col,
            )
        )
    for col, kind in CANONICAL.items():
        if kind in ("money", "count", "nonneg"):
            integer = kind == "count"
            c = sql_name(col)
            out.append(
                Rule(
                    (col,),
                    "must hold whole numbers of 0 or more" if integer else "must be 0 or more",
                    "Negative values are usually refunds or data-entry errors: correct or remove them.",
                    lambda d, c=col, integer=integer: _notna(d[c])
                    & ((d[c] < 0) | (integer & (d[c] % 1 != 0))),
                    f"{c} < 0" + (f" OR {c} <> FLOOR({c})" if integer else ""),
                    col,
                )
            )
    out.append(
        Rule(
            ("age",),
            f"must be between 0 and {MAX_AGE}",
            "Fix the ages or leave the cell empty when unknown.",
            lambda d: _notna(d["age"]) & ((d["age"] < 0) | (d["age"] > MAX_AGE)),
            f'"age" < 0 OR "age" > {MAX_AGE}',
            "age",
        )
    )
    out.append(
        Rule(
            ("weight",),
            "must be a survey weight above 0",
            "Weights must be positive; drop the column to analyse unweighted.",
            lambda d: _notna(d["weight"]) & (d["weight"] <= 0),
            '"weight" <= 0',
            "weight",
        )
    )
    out.append(
        Rule(
            ("returns", "orders"),
            "must not exceed 'orders' (returns <= orders)",
            "Returns are counted per order in the same quarter: check both columns.",
            lambda d: _notna(d["returns"]) & _notna(d["orders"]) & (d["returns"] > d["orders"]),
            '"returns" > "orders"',
            "returns",
        )
    )
    out.append(
        Rule(
            ("customer_id", "quarter"),
            "must be unique within a quarter",
            "Each customer appears once per quarter: remove or merge the duplicate rows.",
            repeated_keys,
            '("customer_id", "quarter") IN (SELECT "customer_id", "quarter" FROM customers '
            'GROUP BY "customer_id", "quarter" HAVING COUNT(*) > 1)',
            "customer_id",
        )
    )
    return out


def repeated_keys(d: pd.DataFrame) -> np.ndarray:
    """Rows whose (customer_id, quarter) appears more than once. The quarters are compared only
    where ids repeat: most exports have one row per id, and comparing a second text column of
    every row doubled the cost."""
    out = d["customer_id"].duplicated(keep=False).to_numpy().copy()
    if out.any():
        out[out] = d.loc[out, ["customer_id", "quarter"]].duplicated(keep=False).to_numpy()
    return out


def _notna(s: pd.Series) -> np.ndarray:
    return s.notna().to_numpy()


def check_rules(frame: pd.DataFrame, scales: dict[str, list[float]]) -> list[Problem]:
    """Apply every rule whose columns are present; return the broken ones.

    ``frame`` holds parsed canonical columns, a ``_row`` column (row number in the export) and,
    for columns that failed to parse, ``_raw_<column>`` with the original text.
    """
    problems = []
    for rule in rules(scales):
        if not all(c in frame for c in rule.columns):
            continue
        mask = np.asarray(rule.bad(frame), dtype=bool)
        n = int(mask.sum())
        if n:
            problems.append(
                Problem(
                    column=rule.columns[0],
                    rule=rule.rule,
                    n_rows=n,
                    examples=format_examples(frame, mask, rule.show),
                    fix=rule.fix,
                    rows=np.flatnonzero(mask),
                )
            )
    return problems


#: Each kind of column in words, for readers of the data-quality page.
KIND_WORDS = {"id": "identifier", "quarter": "quarter", "score": "CX score", "money": "amount of money",
              "binary": "yes/no", "count": "count", "category": "category", "nonneg": "number, 0 or more",
              "age": "age", "text": "text", "weight": "survey weight", "driver": "driver rating",
              "extra": "extra (not analysed unless cx.yaml names it)"}


#: Columns whose blanks usually mean "does not apply" rather than "not recorded".
NOT_APPLICABLE = {"renewed": "blank for customers not up for renewal this quarter",
                  "trial_converted": "blank for customers who had no trial",
                  "first_contact_resolved": "blank for customers who raised no ticket",
                  "comment": "blank for respondents who wrote no comment"}


def column_summary(frame: pd.DataFrame, *, raked: bool = False) -> pd.DataFrame:
    """Per column: ``column, kind, non_missing, missing_share, unique, min, max, note``; ``kind``
    in words (:data:`KIND_WORDS`: "yes/no", "amount of money", "number, 0 or more", ...);
    ``note`` says when blanks usually mean "does not apply" (:data:`NOT_APPLICABLE`), so a
    renewal column 71% blank is not read as 71% of the data lost. A count that holds only 0 and 1
    (a complaint flag mapped to ``support_tickets``) says so: "count (only 0 and 1 here: a yes/no
    flag)". ``raked``: the ``weight`` column is the report's own (respondents raked to the base,
    :mod:`cxanalysis.weighting`), said so, not read as the export's."""
    rows = []
    for col in frame.columns:
        if str(col).startswith("_"):
            continue
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
        kind = CANONICAL.get(col, "driver" if str(col).startswith("driver_") else "extra")
        words = KIND_WORDS[kind]
        if kind == "count" and numeric and s.notna().any() and s.dropna().isin((0, 1)).all():
            words = "count (only 0 and 1 here: a yes/no flag)"
        if kind == "weight" and raked:
            words = "survey weight (computed by this report: raking to the base; not in the export)"
        rows.append({
            "column": col,
            "kind": words,
            "non_missing": int(s.notna().sum()),
            "missing_share": float(s.isna().mean()),
            "unique": int(s.nunique()),
            "min": float(s.min()) if numeric and s.notna().any() else None,
            "max": float(s.max()) if numeric and s.notna().any() else None,
            "note": NOT_APPLICABLE.get(col, "") if s.isna().any() else "",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# one category spelt several ways

#: Short words left out of initials ("Cash on Delivery" is COD with them, CD without).
_SMALL_WORDS = frozenset({"a", "an", "and", "by", "for", "in", "of", "on", "or", "the", "to", "with"})
#: A text column with more distinct values than this is free text or an id, not a category.
MAX_CATEGORIES = 100


def _words(value: str) -> list[str]:
    text = re.sub(r"[^0-9a-z]+", " ", str(value).lower().replace("&", " and "))
    return text.split()


def _initials(words: list[str]) -> set[str]:
    out = {"".join(w[0] for w in words)}
    if len(kept := [w for w in words if w not in _SMALL_WORDS]) >= 2:
        out.add("".join(w[0] for w in kept))
    return out


def similar_values(values: Sequence[object]) -> list[tuple[str, str, str]]:
    """Pairs of distinct values that may spell one category two ways, with why.

    Three rules, on the values' words (lower case, ``&`` read as "and", any other punctuation as a
    space): the words are the same ("Credit card" and "credit-card "); one value is a single word
    that is the initials of the other's two or more words, with or without its short words ("CC"
    and "Credit Card", "COD" and "Cash on Delivery"); every word of the shorter value is among the
    longer one's ("Phone" and "Mobile Phone"). Values that are numbers only are never paired.

    Returns
    -------
    list of (str, str, str)
        ``(value, other value, reason)``, the shorter value first, in the values' order.
    """
    texts = list(dict.fromkeys(str(v) for v in values if v is not None and not (isinstance(v, float) and v != v)))
    words = {t: _words(t) for t in texts}
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            wa, wb = words[a], words[b]
            if not wa or not wb or all(w.isdigit() for w in (*wa, *wb)):
                continue
            if len(wa) > len(wb) or (len(wa) == len(wb) and len(a) > len(b)):
                (a1, w1), (b1, w2) = (b, wb), (a, wa)
            else:
                (a1, w1), (b1, w2) = (a, wa), (b, wb)
            if w1 == w2:
                out.append((a1, b1, "the same words in another case, spacing or punctuation"))
            elif len(w1) == 1 and len(w2) >= 2 and w1[0].isalpha() and w1[0] in _initials(w2):
                out.append((a1, b1, "the initials of the other"))
            elif len(w1) < len(w2) and set(w1) <= set(w2) and not set(w1) <= _SMALL_WORDS:
                out.append((a1, b1, "its words are all in the other"))
    return out


def spelling_warnings(frame: pd.DataFrame, *, max_pairs: int = 4) -> list[str]:
    """One sentence per text column whose values may spell one category several ways
    (:func:`similar_values`), naming the column, the pairs (at most ``max_pairs``), what happens
    and the fix (the cx.yaml ``recode`` entry that merges every pair, rarer spelling to commoner). Columns with more than :data:`MAX_CATEGORIES` values (free text, ids) and the
    id, quarter and comment columns are not checked."""
    out = []
    for col in frame.columns:
        s = frame[col]
        if (str(col).startswith("_") or col in ("customer_id", "quarter", "comment")
                or pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            continue
        values = s.dropna().unique()
        if not 2 <= len(values) <= MAX_CATEGORIES:
            continue
        pairs = similar_values(sorted(values, key=str))
        if not pairs:
            continue
        shown = "; ".join(f"{a!r} and {b!r} ({why})" for a, b, why in pairs[:max_pairs])
        more = f" and {len(pairs) - max_pairs} more" if len(pairs) > max_pairs else ""
        counts = s.astype(str).value_counts()
        entry: dict[str, str] = {}
        for a, b, _ in pairs:  # the rarer spelling to the commoner, no spelling both recoded and a target
            if counts.get(a, 0) > counts.get(b, 0):
                a, b = b, a
            if a not in entry and a not in entry.values() and b not in entry:
                entry[a] = b
        example = ", ".join(f"{a}: {b}" for a, b in entry.items())
        out.append(f"{col!r} may spell one category several ways: {shown}{more}. Each spelling counts as a "
                   "category of its own wherever the column is used (a segment, a covariate, a cluster column), which splits "
                   "its customers. If they are the same, "
                   f"merge them under 'recode' in cx.yaml ({col}: {{{example}}}) and run the report again.")
    return out


# --------------------------------------------------------------------------------------------
# readiness: what will make an analysis skip or flag, found before the run

#: What is lost when a column is empty or constant in the report quarter.
_CONSEQUENCE = {
    "churned": "churn analyses will be skipped",
    "spend": "spend effects and the ROI will be skipped",
    "returns": "returns analyses will be skipped",
    "orders": "returns analyses (returns per order) will be skipped",
    "comment": "comment themes will be skipped",
    "weight": "respondents will not be weighted",
}
_CATEGORY_LOSS = {
    "passive": "effects against passives and the passive-to-promoter ROI will be skipped",
    "promoter": "promoter-vs-passive effects and the passive-to-promoter ROI will be skipped",
    "detractor": "detractor-vs-passive effects will be skipped",
}


def _consequence(col: str, covariates: list[str]) -> str:
    if col in _CONSEQUENCE:
        return _CONSEQUENCE[col]
    if col in covariates:
        return "it will not be adjusted for in the outcome models"
    if col.startswith("driver_"):
        return "key-driver analysis will leave it out"
    return "analyses that use it will skip it"


def _label(value: object) -> str:
    return _fmt(value) if isinstance(value, float | int | np.number) else str(value)


def readiness_warnings(data: pd.DataFrame, config, quarter: str) -> list[str]:
    """What will make an analysis of ``quarter`` skip or be flagged, in plain sentences.

    Cheap counts (one group-by per covariate and outcome) on the clean canonical table, for
    ``cxanalysis validate`` to print before a run.

    Parameters
    ----------
    data : DataFrame
        The clean canonical table (every quarter: earlier ones feed the trends).
    config : Config
        ``categories`` (score and thresholds), ``covariates`` and ``min_quarter_respondents``.
    quarter : str
        The report quarter (from :func:`cxanalysis.io.check_report_quarter`).

    Returns
    -------
    list of str
        One sentence per finding, naming the column, the quarter and what will happen:

        - the report quarter has fewer than twice the minimum respondents, or an earlier quarter
          fewer than the minimum;
        - a configured covariate is not in the export;
        - a CX category (promoter, passive, detractor) is absent in the quarter;
        - a column present in the export is empty in the quarter;
        - an outcome or covariate has a single value in the quarter;
        - separation: a binary outcome (``churned``; "spent anything" when some spend is 0; any
          return among customers with orders) is the same for every customer of a CX category
          or of a level of a categorical covariate, so the model falls back to Firth's
          correction (or, for returns, is flagged);
        - a text column may spell one category several ways (:func:`spelling_warnings`).
    """
    cats = config.categories
    score = cats["score"]
    minimum = int(config.min_quarter_respondents)
    covariates = config.covariates
    if covariates is None:
        covariates = [c for c in ("plan", "region", "tenure_months") if c in data]
    out: list[str] = []
    for c in covariates:
        if c not in data:
            out.append(f"Covariate {c!r} (from 'covariates' in cx.yaml) is not in the export: the "
                       "outcome models will not adjust for it. Map it under 'columns' or remove it.")
    covariates = [c for c in covariates if c in data]

    resp = data[data[score].notna()]
    sizes = resp["quarter"].astype(str).value_counts()
    n_q = int(sizes.get(quarter, 0))
    if n_q < 2 * minimum:
        out.append(f"Report quarter {quarter} has {n_q:,} respondents, under twice the minimum of "
                   f"{minimum:,}: intervals will be wide and small segments will not be tested.")
    for q in sorted(sizes.index):
        if q < quarter and sizes[q] < minimum:
            out.append(f"Earlier quarter {q} has only {int(sizes[q]):,} respondents (minimum "
                       f"{minimum:,}): its point in the trends will have a wide interval.")

    cur = resp[resp["quarter"].astype(str) == quarter]
    s = cur[score].astype(float)
    cx = pd.Series(np.where(s >= cats["promoter_min"], "promoter",
                            np.where(s <= cats["detractor_max"], "detractor", "passive")), index=cur.index)
    for cat, loss in _CATEGORY_LOSS.items():
        if len(cur) and not (cx == cat).any():
            out.append(f"No {cat}s in {quarter} ({score} {_range(cat, cats)}): {loss}.")

    checked = [c for c in data.columns if not str(c).startswith("_")
               and c not in ("customer_id", "quarter", score)
               and (c in CANONICAL or str(c).startswith("driver_") or c in covariates)]
    empty = [c for c in checked if cur[c].isna().all()]
    for c in empty:
        out.append(f"{c!r} is in the export but empty in {quarter}: {_consequence(c, covariates)}.")
    for c in [c for c in (*_CONSEQUENCE, *covariates) if c in checked and c not in empty
              and c not in ("comment", "weight")]:
        values = cur[c].dropna().unique()
        if len(values) == 1:
            out.append(f"{c!r} has one value ({_label(values[0])}) for every respondent in {quarter}: "
                       f"{_consequence(c, covariates)}.")

    out += _separation(cur.assign(_cx=cx), covariates, quarter)
    out += spelling_warnings(cur)
    return out


def _range(cat: str, cats: dict) -> str:
    return {"promoter": f">= {cats['promoter_min']}", "detractor": f"<= {cats['detractor_max']}",
            "passive": f"between {cats['detractor_max']} and {cats['promoter_min']}, exclusive"}[cat]


def _separation(cur: pd.DataFrame, covariates: list[str], quarter: str) -> list[str]:
    """Binary outcomes that are constant within a CX category or a covariate level."""
    outcomes = []  # (flag series, what happens, words for 1, words for 0)
    if "churned" in cur and cur["churned"].nunique() == 2:
        outcomes.append((cur["churned"], "the churn model will fall back to Firth's correction and flag its effects",
                         "have churned = 1", "have churned = 0"))
    if "spend" in cur:
        spent = (cur["spend"] > 0).astype(float).where(cur["spend"].notna())
        if spent.nunique() == 2:
            outcomes.append((spent, "the any-spend part of the spend model will fall back to Firth's "
                             "correction and flag its effects", "spent more than 0", "spent nothing"))
    if "returns" in cur and "orders" in cur:
        ordered = cur["orders"] > 0
        returned = (cur["returns"] > 0).astype(float).where(cur["returns"].notna() & ordered)
        if returned.nunique() == 2:
            outcomes.append((returned, "the returns model's effects will be flagged",
                             "returned something", "returned nothing"))
    groupings = [("_cx", "CX category")]
    for c in covariates:
        if c in cur and (isinstance(cur[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(cur[c])
                         or cur[c].nunique() <= 2):
            groupings.append((c, c))
    out = []
    for flag, consequence, yes, no in outcomes:
        hits = []
        for col, name in groupings:
            g = pd.DataFrame({"level": cur[col], "y": flag}).dropna()
            if g.empty or g["level"].nunique() < 2:
                continue
            t = g.groupby("level", observed=True)["y"].agg(["size", "mean"])
            t = t[(t["mean"] == 0) | (t["mean"] == 1)]
            hits += [(int(r["size"]), name, lvl, r["mean"] == 1) for lvl, r in t.iterrows()]
        if hits:
            n, name, lvl, one = max(hits, key=lambda h: h[0])
            more = f" ({len(hits)} such groups)" if len(hits) > 1 else ""
            out.append(f"Separation in {quarter}: {consequence}: e.g. all {n:,} "
                       f"customers with {name} = {_label(lvl)} {yes if one else no}{more}.")
    return out

def clashing_names(kept: Sequence[str], canonical: Sequence[str] = ()) -> dict[str, str]:
    """Export columns kept as they are whose names differ from a canonical column's only by case
    ("Quarter" beside the quarter the run gives every row): each renamed ``"<name> (export)"``.

    SQL engines read identifiers without regard to case, so such a column would stand in for the
    canonical one (or be renamed at random); both routes rename it the same way instead, so the
    canonical column is always the run's and the export's column stays visible as an extra one.
    """
    names = {str(c).casefold() for c in (*CANONICAL, *canonical)}
    return {c: f"{c} (export)" for c in kept if str(c) not in CANONICAL and str(c) not in canonical
            and str(c).casefold() in names}


# --------------------------------------------------------------------------------------------
# suspect rows: valid one by one, doubtful together (kept, and flagged on page 01)

#: A numeric column with at least this many distinct values makes a chance match of two whole rows
#: unlikely: only exports with one are checked for rows that differ in the id alone.
NEAR_DUPLICATE_MIN_DISTINCT = 100

#: Columns never compared by :func:`near_duplicates` (besides the id and the loader's own ``_...``).
_NOT_COMPARED = ("customer_id", "weight", "responded")


#: The ``rule`` of :func:`near_duplicates` (the summary finds its entry by it).
NEAR_DUPLICATE_RULE = "rows that match another row on every column but the customer id"


def _example_ids(ids: pd.Series, k: int = 3) -> list[str]:
    return [_fmt(v) for v in ids.head(k)]


def near_duplicates(frame: pd.DataFrame, *, max_examples: int = 3) -> dict | None:
    """Rows that match another row on every column but the customer id: likely one customer
    exported twice under two ids, which no exact-duplicate rule can catch.

    Only exports with a numeric column of at least :data:`NEAR_DUPLICATE_MIN_DISTINCT` distinct
    values are checked, and only rows with a value in such a column count (with a few coarse
    columns, different customers match by chance). Candidates are found on those columns first,
    so the whole rows of a large export are compared only where they can match.

    Returns
    -------
    dict or None
        None when there is nothing to report (or nothing to check). Otherwise ``rule``, ``rows``
        (rows in a matching group), ``groups``, ``pairs`` (every group is two rows), ``columns``
        (compared, besides the quarter), ``of`` (rows checked), ``example_ids`` (one
        group per example, ids joined by " and "), ``ids_apart`` and ``groups_apart`` (the most
        common gap between the numeric ids of a pair, and how many pairs have it, when it is
        most of them: a block copied under new ids), and ``note``, the sentence page 01 shows.
    """
    found = _near_duplicate_groups(frame)
    if found is None:
        return None
    sub, groups, cols = found
    out = {"rule": NEAR_DUPLICATE_RULE, "rows": int(len(sub)),
           "groups": len(groups), "pairs": all(len(g) == 2 for g in groups),
           "columns": len([c for c in cols if c != "quarter"]), "of": len(frame),
           "example_ids": [], "ids_apart": None, "groups_apart": None}
    numeric = pd.to_numeric(sub["customer_id"], errors="coerce")
    gaps = pd.Series([abs(float(numeric[g.index[1]]) - float(numeric[g.index[0]])) if len(g) == 2 else np.nan
                      for g in groups]) if numeric.notna().all() else pd.Series(np.nan, index=range(len(groups)))
    top = gaps.value_counts()
    if len(top) and top.iloc[0] >= 2 and top.iloc[0] >= gaps.notna().sum() / 2:
        out["ids_apart"], out["groups_apart"] = float(top.index[0]), int(top.iloc[0])
    # the examples show the common gap first, when there is one
    order = sorted(range(len(groups)), key=lambda i: gaps.iat[i] != out["ids_apart"]) if out["ids_apart"] else range(len(groups))
    out["example_ids"] = [" and ".join(_example_ids(groups[i], 4)) for i in list(order)[:max_examples]]
    out["note"] = _near_duplicates_note(out, len(frame))
    return out


def _near_duplicate_groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.Series], list[str]] | None:
    """The rows :func:`near_duplicates` finds, each group's customer ids in id order (their
    index: ``frame``'s), and the columns compared; None when there are none."""
    cols = [c for c in frame.columns if not str(c).startswith("_") and c not in _NOT_COMPARED]
    if "customer_id" not in frame or len(frame) < 2 or not cols:
        return None
    fine = [c for c in cols if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
            and frame[c].nunique() >= NEAR_DUPLICATE_MIN_DISTINCT]
    if not fine:
        return None
    cand = frame[fine].notna().any(axis=1).to_numpy() & frame.duplicated(fine, keep=False).to_numpy()
    if not cand.any():
        return None
    sub = frame.loc[cand]
    hit = sub.duplicated(cols, keep=False).to_numpy()
    if not hit.any():
        return None
    sub = sub.loc[hit]
    key = sub.groupby(cols, dropna=False, sort=False).ngroup()
    groups = [g.sort_values(key=_id_order) for _, g in sub["customer_id"].groupby(key.to_numpy(), sort=False)]
    return sub, groups, cols


def near_duplicate_copies(frame: pd.DataFrame) -> np.ndarray:
    """A mask of ``frame``'s rows that copy another row on every column but the customer id
    (:func:`near_duplicates`' rule): every row of a group but the one with the first id (in id
    order, numeric when the ids are numbers), which is kept. All False when there are none
    (or nothing to check: no numeric column with enough distinct values)."""
    mask = np.zeros(len(frame), dtype=bool)
    found = _near_duplicate_groups(frame)
    if found is not None:
        later = [i for g in found[1] for i in g.index[1:]]
        mask[frame.index.get_indexer(later)] = True
    return mask


def _id_order(ids: pd.Series) -> pd.Series:
    """Sort key of ids: numerically when they are all numbers, else as text."""
    numeric = pd.to_numeric(ids, errors="coerce")
    return numeric if numeric.notna().all() else ids.astype(str)


def _near_duplicates_note(found: dict, n: int) -> str:
    what = (f"{found['groups']:,} pairs of rows ({found['rows']:,} rows, {found['rows'] / n:.1%} of the {n:,})"
            if found["pairs"] else f"{found['rows']:,} rows ({found['rows'] / n:.1%} of the {n:,}), in "
            f"{found['groups']:,} groups,")
    apart = ""
    if found["ids_apart"] is not None:
        apart = (f" In {found['groups_apart']:,} of the {found['groups']:,} {'pairs' if found['pairs'] else 'groups'} "
                 f"the ids are exactly {found['ids_apart']:,.0f} apart, as if a block of customers had been exported "
                 "again under new ids.")
    copies = found["rows"] - found["groups"]
    return (f"{what} are identical in all {found['columns']} columns besides the customer id and the quarter (e.g. ids "
            f"{'; '.join(found['example_ids'])}).{apart} They are kept as separate customers: they differ in the id. "
            f"If they are copies, {copies:,} customers are counted twice on every page and every interval is too "
            "narrow. Ask the owner of the export; to see the figures without them, set cleaning: {near_duplicates: "
            "drop} in cx.yaml (each copy's first id is kept, the others dropped and counted on this page).")


def orders_without_spend(frame: pd.DataFrame, *, max_examples: int = 3) -> dict | None:
    """Customers with orders in the quarter but a spend of exactly 0 (each value valid alone).

    Returns
    -------
    dict or None
        None without such rows (or without both columns); otherwise ``rule``, ``rows``, ``of``,
        ``spend_mean`` and ``spend_mean_without`` (the average spend with and without them),
        ``orders_min``, ``orders_max``, ``mrr_zero`` (all of them also have MRR 0, when there is an
        MRR column), ``example_ids`` and ``note``, the sentence page 01 shows.
    """
    if not {"orders", "spend", "customer_id"} <= set(frame.columns):
        return None
    def values(col):  # nullable dtypes (Int64, Float64) as floats, their missing values NaN
        return pd.Series(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
                         index=frame.index)

    orders, spend = values("orders"), values("spend")
    bad = ((orders > 0) & (spend == 0)).to_numpy()
    if not bad.any():
        return None
    mrr_zero = bool("mrr" in frame and (values("mrr")[bad] == 0).all())
    out = {"rule": "orders in the quarter but spend 0", "rows": int(bad.sum()), "of": len(frame),
           "orders_min": float(orders[bad].min()), "orders_max": float(orders[bad].max()), "mrr_zero": mrr_zero,
           "example_ids": _example_ids(frame.loc[bad, "customer_id"], max_examples),
           "spend_mean": float(spend.mean()), "spend_mean_without": float(spend[~bad].mean())}
    span = (f"{_fmt(out['orders_min'])}" if out["orders_min"] == out["orders_max"]
            else f"{_fmt(out['orders_min'])} to {_fmt(out['orders_max'])}")
    out["note"] = (f"{out['rows']:,} customers ({out['rows'] / len(frame):.1%} of the {len(frame):,}) placed {span} "
                   f"orders in the quarter but spent 0 ({'MRR 0 too; ' if mrr_zero else ''}e.g. ids "
                   f"{', '.join(out['example_ids'])}). They count as spending nothing: they lower the average spend, "
                   f"the average transaction size (their orders count, their spend does not){', MRR' if mrr_zero else ''}"
                   " and CLV, and the spend model counts them among the customers who spent nothing"
                   + (f"; left out, the average spend per customer would be {out['spend_mean_without']:,.0f} instead of "
                      f"{out['spend_mean']:,.0f} ({out['spend_mean_without'] / out['spend_mean'] - 1:+.1%})"
                      if out["spend_mean"] > 0 else "")
                   + ". Unless those orders were free, a billing gap is the likelier cause: leave the cells of an "
                   "unknown spend empty in the export, and they are left out instead of counted as 0.")
    return out


def suspect_rows(frame: pd.DataFrame) -> list[dict]:
    """The checks of rows that pass every rule but look wrong together (:func:`near_duplicates`,
    :func:`orders_without_spend`), those that found something. They drop nothing: page 01 shows
    each ``note`` beside the cleaning counts, and ``results.json`` keeps them under
    ``data_quality.suspect``."""
    return [found for check in (near_duplicates, orders_without_spend) if (found := check(frame)) is not None]
