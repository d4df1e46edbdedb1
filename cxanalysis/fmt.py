"""The one formatting layer: every number, header and table the reader sees goes through here.

Full precision stays in the data; this module only turns values into display text.

Scalars
    :func:`money` (currency symbol and thousands separators), :func:`number`, :func:`integer`,
    :func:`percent` (a share 0.125 reads "12.5%"), :func:`points` (signed, e.g. "+1.4"),
    :func:`p_value` ("< 0.001"), :func:`interval` ("29.5 to 32.9"). Missing values read
    :data:`MISSING` ("–").
Headers
    :func:`label` turns a column name into words (``visits_per_month`` → "Visits per month").
Tables
    :func:`table` returns a :class:`Table`: the reader view (at most ``max_columns`` columns,
    chosen by priority, every cell formatted and HTML-escaped, the table element carrying the CSS
    class ``cx-table``) and, when given a path, the full table written as CSV (formulas
    neutralised) with a link beside the reader view.

The table library is the pandas Styler (already a dependency, escaping built in), fed by this
module's formatters; great_tables was not added.

Examples
--------
>>> money(1234.5, "EUR")
'€1,234'
>>> money(-1234.5, "CHF")
'-CHF 1,234'
>>> money(1234.5)
'1,234'
>>> percent(0.1234)
'12.3%'
>>> p_value(0.0002)
'< 0.001'
>>> label("visits_per_month")
'Visits per month'
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["MISSING", "shift", "CURRENCY_SYMBOLS", "check_currency", "currency_symbol", "money", "number", "integer",
           "percent", "percents", "points", "score_name", "score_span", "p_value", "p_phrase", "interval", "label", "words", "segment_name", "listing", "kind_of", "format_value", "table", "Table",
           "csv_target", "VALUE_WORDS", "money_axis", "percent_axis", "number_axis"]

#: What a missing value reads in a table.
MISSING = "–"

#: ISO 4217 codes with a symbol readers know; any other code is written as a prefix ("CHF 1,234").
CURRENCY_SYMBOLS = {
    "EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹", "KRW": "₩", "BRL": "R$",
    "AUD": "A$", "CAD": "CA$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$", "ILS": "₪",
    "TRY": "₺", "RUB": "₽", "UAH": "₴", "PHP": "₱", "NGN": "₦", "THB": "฿", "VND": "₫",
}


def check_currency(code) -> str | None:
    """``code`` if it is an ISO 4217 code (three capital letters) or None, else a ValueError."""
    if code is None:
        return None
    if not (isinstance(code, str) and re.fullmatch(r"[A-Z]{3}", code)):
        raise ValueError(f"'currency' must be an ISO 4217 code of three capital letters, e.g. EUR, USD or CHF; "
                         f"got {code!r}.")
    return code


def currency_symbol(currency: str | None) -> str:
    """The prefix money is written with: a symbol ("€"), a code and a space ("CHF "), or ""."""
    if not currency:
        return ""
    return CURRENCY_SYMBOLS.get(currency, f"{currency} ")


def _missing(x) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def money(x, currency: str | None = None, *, decimals: int = 0, missing: str = MISSING) -> str:
    """An amount with the currency's symbol and thousands separators: ``money(-1234.5, "EUR")``
    is "-€1,234". Without a currency, the number with separators ("1,234")."""
    if _missing(x):
        return missing
    v = round(float(x), decimals)
    sign = "-" if v < 0 else ""
    return f"{sign}{currency_symbol(currency)}{abs(v):,.{decimals}f}"


def number(x, decimals: int = 2, *, missing: str = MISSING) -> str:
    """A number with thousands separators and ``decimals`` decimals. A whole number reads without
    decimals only through :func:`integer`; a non-zero value that would round to zero keeps two
    significant digits ("0.0031"), never "0.00"."""
    if _missing(x):
        return missing
    v = float(x)
    if v != 0 and abs(v) < 0.5 * 10 ** -decimals:
        digits = -math.floor(math.log10(abs(v))) + 1
        return f"{v:.{digits}f}"
    out = f"{v:,.{decimals}f}"
    return out[1:] if re.fullmatch(r"-0\.?0*", out) else out  # no "-0.00"


def integer(x, *, missing: str = MISSING) -> str:
    """A count: "12,000"."""
    return missing if _missing(x) else f"{round(float(x)):,d}"


def percent(x, decimals: int = 1, *, missing: str = MISSING) -> str:
    """A share as a percentage: ``percent(0.1234)`` is "12.3%". A share that is not zero but
    would round to it gets the decimals it needs (up to three): ``percent(0.0026, 0)`` is
    "0.3%", not "0%"."""
    if _missing(x):
        return missing
    v = float(x) * 100
    while v != 0 and round(v, decimals) == 0 and decimals < 3:
        decimals += 1
    out = f"{v:,.{decimals}f}%"
    return out[1:] if re.fullmatch(r"-0\.?0*%", out) else out


def percent_pair(a, b, decimals: int = 1, gap: float | None = None, gap_decimals: int = 1) -> tuple[str, str]:
    """Two shares as percentages (:func:`percent`) whose printed difference agrees with their gap
    in percentage points printed to ``gap_decimals`` (``gap``, in pp; default ``100 * (a - b)``):
    with ``decimals`` when that is enough, else with the one or two more it takes. "18.2% against
    11.2%" beside "6.9 pp" reads as a slip; "18.17% against 11.23%" does not.

    Examples
    --------
    >>> percent_pair(0.1817, 0.1123)
    ('18.17%', '11.23%')
    >>> percent_pair(0.27, 0.031, 0)
    ('27.0%', '3.1%')
    >>> percent_pair(0.25, 0.10, 0)
    ('25%', '10%')
    """
    if _missing(a) or _missing(b):
        return percent(a, decimals), percent(b, decimals)
    a, b = float(a), float(b)
    want = float(f"{abs(100 * (a - b) if gap is None else float(gap)):.{gap_decimals}f}")
    last = max(decimals, gap_decimals + 2)
    for d in range(decimals, last + 1):  # a reader's check: the printed levels' difference rounds to the gap
        shown = abs(float(f"{100 * a:.{d}f}") - float(f"{100 * b:.{d}f}"))
        off = abs(shown - want) - 0.5 * 10**-gap_decimals
        if off <= 1e-9 or (d == last and off <= 10**-d + 1e-9):  # at the last, within its own rounding
            return percent(a, d), percent(b, d)
    return percent(a, decimals), percent(b, decimals)  # the gap is not these two rates' difference


def percents(*xs, decimals: int = 0, missing: str = MISSING) -> list[str]:
    """Shares as percentages (:func:`percent`) with the decimals they need, up to two more than
    ``decimals``, for values that differ to print differently: an ROI of -101.2% with a likely
    range of -101.5% to -100.9% reads "-101.2% (-101.5% to -100.9%)", not "-101% (-101% to -101%)".

    Examples
    --------
    >>> percents(-1.0123, -1.0151, -1.0089)
    ['-101.2%', '-101.5%', '-100.9%']
    >>> percents(0.25, 0.1, 0.4)
    ['25%', '10%', '40%']
    """
    def shown(d):
        return [percent(x, d, missing=missing) for x in xs]

    out = shown(decimals)
    for d in range(decimals + 1, decimals + 3):
        distinct = {round(float(x), 12) for x in xs if not _missing(x)}
        if len(set(o for x, o in zip(xs, out, strict=True) if not _missing(x))) == len(distinct):
            break
        out = shown(d)
    return out


def points(x, decimals: int = 1, *, sign: bool = True, missing: str = MISSING) -> str:
    """Points (NPS, percentage points), signed by default: "+1.4", "-0.3", "0.0"."""
    if _missing(x):
        return missing
    v = round(float(x), decimals)
    return f"{v:+,.{decimals}f}" if sign and v != 0 else f"{abs(v) if v == 0 else v:,.{decimals}f}"


def p_value(p, *, missing: str = MISSING) -> str:
    """A p-value: "< 0.001" below one in a thousand, else three decimals ("0.042")."""
    if _missing(p):
        return missing
    return "< 0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def p_phrase(p, *, missing: str = "p not available") -> str:
    """A p-value inside a sentence: "p = 0.042", or "p < 0.001"."""
    if _missing(p):
        return missing
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def interval(low, high, kind: str = "number", *, currency: str | None = None, decimals: int = 2) -> str:
    """A 95% interval as "low to high" in the formatting of ``kind`` (see :func:`format_value`)."""
    if _missing(low) and _missing(high):
        return MISSING
    return (f"{format_value(low, kind, currency=currency, decimals=decimals)} to "
            f"{format_value(high, kind, currency=currency, decimals=decimals)}")


# --- headers ------------------------------------------------------------------------------------

#: Words for the canonical and computed columns; anything else goes through :func:`label`'s fallback.
LABELS = {
    "n": "Customers", "n_eff": "Effective customers", "n_both": "Customers in both quarters", "customer_id": "Customer",
    "customers_moved": "Customers moved", "customers_retained": "Customers retained", "n_passives": "Passives",
    "n_themes": "Themes", "ci": "95% interval", "ci_low": "95% interval, low", "ci_high": "95% interval, high",
    "nps": "NPS", "nps_score": "NPS score", "csat": "CSAT", "ces": "CES", "clv": "Customer lifetime value",
    "mrr": "Monthly recurring revenue", "roi": "ROI", "roi_low": "ROI, assumption low",
    "roi_high": "ROI, assumption high", "net_low": "Net value, assumption low", "net_high": "Net value, assumption high",
    "p_value": "p-value", "p_holm": "p-value, adjusted for many segments", "churn_p_value": "Churn change p-value",
    "churn_rest": "The rest's churn", "leavers_share": "Share of leavers", "churn_p_rest": "Churn against the rest, p-value",
    "churn_p_holm": "Churn p-value, adjusted for many groups", "churn_differs": "Churn differs from the rest",
    "diff_vs_rest": "NPS against the rest", "differs": "Score differs from the rest", "tested": "Large enough to test",
    "share": "Share", "spend_mean": "Average spend", "churn_rate": "Churn rate", "returns_rate": "Returns rate",
    "churned": "Churned", "missing_share": "Missing", "non_missing": "Filled", "unique": "Distinct values",
    "rows_dropped": "Rows dropped", "example_ids": "Example customers", "sha256": "SHA-256",
    "value_per_customer": "Value per customer", "evalue": "E-value", "evalue_ci": "E-value, interval limit",
    "rr": "Risk ratio", "coef": "Coefficient", "se": "Standard error", "low_label": "Assumption low",
    "high_label": "Assumption high", "retained_per_month": "Retained a month", "horizon_years": "Horizon (years)",
    "lost_if_not_investing": "Lost if not investing", "break_even_per_month": "Break-even a month",
    "break_even": "Break-even", "top_terms": "Top words", "visits_per_month": "Visits per month",
    "tenure_months": "Tenure (months)", "support_tickets": "Support tickets", "support_cost": "Support cost",
    "contract_value": "Contract value", "job_title": "Job title", "first_contact_resolved": "First contact resolved",
    "trial_converted": "Trial converted", "share_promoters": "Share of promoters", "share_passives": "Share of passives",
    "share_detractors": "Share of detractors", "diff": "Difference", "flag_reason": "Why flagged",
    "change": "Change", "churn_change": "Churn change", "ratio_kind": "Ratio of", "ci_method": "Interval method",
    "baseline": "Mean as they are", "counterfactual": "Mean as compared",
}


#: The run's own names for columns (cx.yaml ``labels``), set by :func:`use_labels`; they come
#: before :data:`LABELS`.
_CONFIGURED: dict[str, str] = {}


def use_labels(labels: Mapping[str, str] | None) -> None:
    """Name columns as cx.yaml's ``labels`` says on every page, table and chart of this process
    (a report's notebooks each open their run, which calls this; the summary calls it from
    results.json's config). ``None`` or ``{}``: the built-in names.

    >>> use_labels({"region": "City tier"}); label("region"), segment_name("region", "2"), words("region")
    ('City tier', 'City tier: 2', 'city tier')
    >>> use_labels(None); label("region")
    'Region'
    """
    _CONFIGURED.clear()
    _CONFIGURED.update({str(k): str(v).strip() for k, v in (labels or {}).items()})


def relabelled(column) -> bool:
    """Whether the run names ``column`` itself (cx.yaml ``labels``): then words written for the
    canonical column ("few tickets") would misname it."""
    return str(column) in _CONFIGURED


def label(column) -> str:
    """A column name in words, for a header or an axis.

    The run's own names (cx.yaml ``labels``, :func:`use_labels`) come first. Known columns read
    from :data:`LABELS` ("n" → "Customers"); ``driver_delivery`` →
    "Delivery"; ``X_ci_low`` / ``X_ci_high`` → "X, 95% interval low/high"; otherwise underscores
    become spaces and the first letter is capitalised (``visits_per_month`` → "Visits per month").
    A name that already has capitals or spaces (a heading from the export) is kept as it is.
    """
    c = str(column)
    if c in _CONFIGURED:
        return _CONFIGURED[c]
    if c in LABELS:
        return LABELS[c]
    for end, words in (("_ci_low", "95% interval, low"), ("_ci_high", "95% interval, high"), ("_ci", "95% interval")):
        if c.endswith(end):
            return f"{label(c[: -len(end)])}, {words}"
    if c.startswith("driver_"):
        return label(c.removeprefix("driver_"))
    if " " in c or c != c.lower():
        return c
    words = c.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def listing(items) -> str:
    """Items in a sentence: "a", "a and b", "a, b and c" (empty for none)."""
    items = [str(x) for x in items]
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def segment_name(dimension, segment) -> str:
    """One segment, the same way on every page, chart and sentence: "Plan: Pro", "Visits per
    month: lowest quartile (0–3)"."""
    return f"{label(dimension)}: {segment}"


def score_name(score: str) -> str:
    """The name of the net score the categories come from: "NPS" for the 0-10 recommend question,
    "Net score (CSAT)" for any other (NPS's formula on other categories is not an NPS).

    >>> score_name("nps_score"), score_name("csat")
    ('NPS', 'Net score (CSAT)')
    """
    return "NPS" if score == "nps_score" else f"Net score ({words(score)})"


def score_span(low, high) -> str:
    """Scores from ``low`` to ``high``: "9-10", or "5" when they are one.

    >>> score_span(9, 10), score_span(5.0, 5)
    ('9-10', '5')
    """
    a, b = f"{float(low):g}", f"{float(high):g}"
    return a if a == b else f"{a}-{b}"


def words(column) -> str:
    """:func:`label` for the middle of a sentence: "visits per month", "plan", but "NPS"."""
    text = label(column)
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


# --- kinds of column ----------------------------------------------------------------------------

_MONEY = {"spend", "spend_mean", "clv", "mrr", "contract_value", "support_cost", "value_per_customer", "benefit",
          "cost", "net", "net_low", "net_high", "average_value", "lost_if_not_investing", "gross_margin", "revenue"}
_PERCENT = {"share", "promoters", "passives_share", "detractors", "churn_rate", "churn_rest", "leavers_share", "returns_rate",
            "missing_share",
            "share_promoters", "share_passives", "share_detractors", "roi", "roi_low", "roi_high", "rate",
            "match_rate"}
_P = {"p_value", "p_holm", "p", "p_adj", "churn_p_value", "churn_p_rest", "churn_p_holm", "pvalue"}
_COUNT = {"n", "n_eff", "n_both", "rows", "rows_in", "rows_out", "rows_dropped", "non_missing", "unique", "customers_moved",
          "customers_retained", "n_passives", "n_themes", "passives", "cluster", "k"}
_POINTS = {"nps", "diff_vs_rest", "change", "mix", "within", "break_even_per_month"}  # one decimal
#: Columns mixing whole numbers and fractions (a horizon of 0.25, 1 and 3 years; the minimum and
#: maximum of columns of every kind), each value with the decimals it needs.
_TRIMMED = {"horizon_years", "min", "max"}
_RATIO = {"ratio", "rr"}


def kind_of(column, values: pd.Series | None = None, *, percent: Sequence[str] = (), money: Sequence[str] = (),
            pp: Sequence[str] = ()) -> str:
    """How a column is formatted: "money", "percent", "pp", "p", "int", "points", "bool", "trimmed", "ratio", "text"
    or "number".

    Explicit ``pp`` (a difference of two shares, in percentage points) / ``percent`` / ``money``
    names win; then the column's name (``spend`` is money,
    ``churn_rate`` a share, ``p_value`` a p-value, ``n`` a count, ``nps`` points); then its values
    (integers and whole-number floats of a count-like name are counts, booleans read yes/no,
    anything else that is not a number is text).
    """
    c = str(column)
    base = re.sub(r"_ci(_low|_high)?$", "", c)
    if c in pp or base in pp:
        return "pp"
    if c in money or base in money:
        return "money"
    if c in percent or base in percent:
        return "percent"
    if values is not None and (pd.api.types.is_bool_dtype(values) or _all_bool(values)):
        return "bool"
    if values is not None and not pd.api.types.is_numeric_dtype(values):
        return "text"
    if base in _P:
        return "p"
    if base in _MONEY:
        return "money"
    if base in _PERCENT or base.startswith("share_"):
        return "percent"
    if base in _POINTS:
        return "points"
    if base in _TRIMMED:
        return "trimmed"
    if base in _RATIO:
        return "ratio"
    if values is not None and pd.api.types.is_integer_dtype(values):
        return "int"
    if base in _COUNT:
        return "int"
    if values is not None and _all_whole(values):  # 1.0, 3.0, 10.0 read as 1, 3, 10
        return "int"
    return "number"


def _all_whole(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return len(v) > 0 and bool(np.all(v == np.round(v))) and bool(np.all(np.abs(v) < 1e15))


def _all_bool(values: pd.Series) -> bool:
    v = values.dropna()
    return len(v) > 0 and v.dtype == object and all(isinstance(x, bool | np.bool_) for x in v)


def format_value(x, kind: str, *, currency: str | None = None, decimals: int = 2) -> str:
    """One value in the formatting of its ``kind`` (see :func:`kind_of`)."""
    if kind == "text":
        return _text(x)
    if _missing(x):
        return MISSING
    if kind == "money":
        return money(x, currency)
    if kind == "percent":
        return percent(x)
    if kind == "pp":  # a difference of shares: 0.117 reads "+11.7 pp", never "11.7%" (a relative change)
        return f"{points(float(x) * 100)} pp"
    if kind == "p":
        return p_value(x)
    if kind == "int":
        return integer(x)
    if kind == "points":
        return number(x, 1)
    if kind == "bool":
        return "yes" if bool(x) else "no"
    if kind == "ratio":  # one decimal fewer per digit before the point: "1.121", "12.35", "2,811", never "2,810.715";
        v = abs(float(x))  # below 1, two significant digits at least: "0.0012", not "0.001"
        if 0 < v < 1:
            return number(x, max(decimals, 1 - math.floor(math.log10(v))))
        return number(x, decimals if v < 10 else max(0, decimals - math.floor(math.log10(v))))
    if kind == "trimmed":  # as many decimals as the value needs, up to ``decimals``: "0.25", "3", "1,234.5"
        return number(x, decimals).rstrip("0").rstrip(".") if "." in number(x, decimals) else number(x, decimals)
    if isinstance(x, int | np.integer) or (isinstance(x, float | np.floating) and float(x).is_integer() and decimals == 0):
        return integer(x)
    return number(x, decimals)


def _text(value) -> str:
    """A text cell: lists joined by commas ("staff, friendly"), missing as "–", never a repr."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating | int | np.integer) and not isinstance(value, bool | np.bool_):
        return integer(value) if float(value).is_integer() else number(value)
    if isinstance(value, list | tuple | Set | np.ndarray | pd.Series):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        if isinstance(value.get("note"), str) and value["note"]:  # a record that says itself in words (a file's format)
            return value["note"]
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


# --- tables ---------------------------------------------------------------------------------------

#: Columns whose values are column names, shown in words by :func:`table`.
NAME_COLUMNS = ("dimension", "driver", "column", "outcome", "contrast", "feature")

#: Coded values written in words by :func:`table`, by column: an effect's ``scale`` reads
#: "Percentage points" rather than "pp".
VALUE_WORDS = {
    "scale": {"ratio": "Ratio", "pp": "Percentage points"},
}

#: Columns left out of the reader view first when a table is too wide (they stay in the CSV).
LOW_PRIORITY = ("sha256", "n_eff", "se", "method", "ci_method", "ratio_kind", "rr", "rr_ci", "evalue", "evalue_ci",
                "flag_reason", "note", "tested", "p_value", "churn_p_value", "n_both", "unit", "scale", "coef",
                "spend_mean", "csat", "health", "clv", "diff_vs_rest", "returns_rate")


@dataclass
class Table:
    """A table as the reader sees it, with the full table beside it.

    ``view`` is the reader view as text (the cells shown), ``full`` the table as given,
    ``styler`` the pandas Styler that renders ``view`` (escaped, CSS class ``cx-table``),
    ``csv_href`` the link to the full table as CSV (None when none was written).
    """

    view: pd.DataFrame
    full: pd.DataFrame
    styler: object
    csv_href: str | None = None
    #: how many of the full table's columns the reader view leaves out
    hidden: int = 0
    #: how many of its rows
    hidden_rows: int = 0
    #: the reader view's columns whose every cell is a number (right-aligned, CSS class ``cx-num``)
    numeric: tuple[str, ...] = ()

    def note_html(self) -> str:
        """The line under the table: what is left out and where the full table is."""
        parts = []
        if self.hidden > 0:
            parts.append(f"{self.hidden} of {len(self.full.columns)} columns are left out here.")
        if self.hidden_rows > 0:
            parts.append(f"The first {len(self.view):,} of {len(self.full):,} rows are shown.")
        if self.csv_href:
            parts.append(f'<a class="cx-table-csv" href="{html.escape(self.csv_href, quote=True)}" download>'
                         f"Full table as CSV</a> ({len(self.full):,} row{'' if len(self.full) == 1 else 's'}, "
                         f"{len(self.full.columns)} columns).")
        return f'<p class="cx-table-note">{" ".join(parts)}</p>' if parts else ""

    def to_html(self) -> str:
        """The reader view and its note, wrapped in ``<div class="cx-table-wrap">`` (which the
        page CSS lets scroll sideways inside its own box)."""
        return f'<div class="cx-table-wrap">{self.styler.to_html()}{self.note_html()}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()


def _pairs(columns: list[str]) -> dict[str, str]:
    """``{low column: high column}`` for every ``X_ci_low`` / ``X_ci_high`` (or ``ci_low`` / ``ci_high``) pair."""
    out = {}
    for c in columns:
        if c.endswith("ci_low") and (hi := c[: -len("low")] + "high") in columns:
            out[c] = hi
    return out


def table(data: pd.DataFrame, *, columns: Sequence[str] | None = None, max_columns: int = 8,
          percent: Sequence[str] = (), money: Sequence[str] = (), pp: Sequence[str] = (),
          currency: str | None = None, digits: int = 2,
          csv: str | os.PathLike | None = None, href: str | None = None, rows: int | None = None,
          names: Sequence[str] = NAME_COLUMNS, headers: Mapping[str, str] | None = None,
          unit: str | None = None) -> Table:
    """The reader view of ``data``: headers in words, every cell formatted, at most ``max_columns``.

    Parameters
    ----------
    data : DataFrame
        The table as computed (full precision).
    columns : list of str, optional
        The columns to show, in order; those the table does not have (optional columns absent
        from an export), and those with no value in any row, are skipped. Default: every column, leaving out :data:`LOW_PRIORITY`
        ones (then the last ones) until at most ``max_columns`` remain.
    percent, money : column names
        Columns holding shares (shown as %) or amounts (shown with ``currency``), in addition to
        those recognised by name (:func:`kind_of`).
    pp : column names
        Columns holding differences of two shares, shown in signed percentage points ("+11.7 pp").
    currency : str, optional
        ISO 4217 code of the export's money (``currency`` in cx.yaml).
    digits : int
        Decimals of the other numbers (counts and whole numbers have none).
    csv : path, optional
        Where to write the full table as CSV (:func:`cxanalysis.narrative.safe_csv`: formulas
        neutralised, full precision, column names as in the data, but for a bare count ``n``,
        which takes its header's name: "Respondents" writes ``respondents``, "Comments"
        ``comments``; :func:`csv_columns`).
    href : str, optional
        The link to that CSV from the page (default: the file's name).
    rows : int, optional
        Show only the first ``rows`` rows (the CSV keeps them all).
    names : column names
        Columns whose values are column names (``dimension``, ``driver``, ...): shown through
        :func:`label` ("visits_per_month" → "Visits per month").
    headers : mapping, optional
        Headers to use instead of :func:`label`'s, by column name (for an interval pair, by its
        low column: ``{"ci_low": "Likely range"}``).
    unit : column name, optional
        A column naming each row's unit (a table of metrics with different units): in rows whose
        unit is ``"share"`` the numbers read as percentages, in rows whose unit starts with
        ``"money"`` as amounts of ``currency`` (counts and text columns are left alone).

    Returns
    -------
    Table
        ``_repr_html_`` shows the view with a note ("14 of 22 columns are left out here.") and the
        CSV link.

    Notes
    -----
    A ``X_ci_low`` / ``X_ci_high`` pair is shown as one column "95% interval" ("29.5 to 32.9")
    formatted like ``X`` (or, for ``ci_low`` / ``ci_high``, like the column before them).
    """
    data = data.reset_index(drop=True) if not isinstance(data.index, pd.RangeIndex) else data
    cols = [str(c) for c in data.columns]
    frame = data.set_axis(cols, axis=1)
    if rows is not None:
        frame = frame.head(rows)
    pairs = _pairs(cols)
    highs = set(pairs.values())
    if columns is None:
        units = [c for c in cols if c not in highs]  # an interval pair counts as one column
        for low in LOW_PRIORITY:
            if len(units) <= max_columns:
                break
            units = [c for c in units if c != low and c != f"{low}_ci_low"]
        units = units[:max_columns]
    else:  # a column the table does not have (an optional column absent from this export) is skipped
        units = [str(c) for c in columns if str(c) in cols and str(c) not in highs]
    if len(frame):  # a column with no value in any row (no spend in this export) would read "–" all down
        units = [c for c in units if frame[c].notna().any() or (c in pairs and frame[pairs[c]].notna().any())]
    view = {}
    own = dict(headers or {})
    for c in units:
        if c in pairs:
            stem = c[: -len("ci_low")].rstrip("_")
            if stem:
                base = stem
            else:
                pos = cols.index(c)
                base = cols[pos - 1] if pos > 0 else c
            kind = kind_of(base, frame[base] if base in frame else None, percent=percent, money=money, pp=pp)
            kind = "number" if kind in ("int", "bool", "text") else kind
            head = own.get(c) or (f"{own.get(stem) or label(stem)}, 95% interval" if stem else "95% interval")
            view[head] = [interval(lo, hi, _row_kind(kind, frame, unit, i), currency=currency, decimals=digits)
                          for i, (lo, hi) in enumerate(zip(frame[c], frame[pairs[c]], strict=True))]
        else:
            kind = kind_of(c, frame[c], percent=percent, money=money, pp=pp)
            if kind == "number" and _whole(frame[c]):
                kind = "int"  # whole numbers without decimals: "12", not "12.00"
            head = own.get(c) or label(c)
            if c in names and kind == "text":
                view[head] = [MISSING if _missing(v) else label(v) for v in frame[c]]
            elif c in VALUE_WORDS and kind == "text":
                view[head] = [VALUE_WORDS[c].get(v, _text(v)) if isinstance(v, str) else _text(v) for v in frame[c]]
            else:
                view[head] = [format_value(v, _row_kind(kind, frame, unit, i), currency=currency, decimals=digits)
                              for i, v in enumerate(frame[c])]
    shown = pd.DataFrame(view, index=range(len(frame)))
    shown.columns = _unique(list(shown.columns))
    numeric = pd.DataFrame("", index=shown.index, columns=shown.columns)
    for h in shown.columns:
        if shown[h].map(lambda s: bool(re.fullmatch(r"[-+<>]?\s?[^\d\s]{0,4}\s?[\d,.]+(%| pp)?( to .+)?|–", s))).all():
            numeric[h] = "cx-num"
    text = {h: [{"selector": "th", "props": "text-align: left"}] for h in shown.columns
            if not (numeric[h] == "cx-num").all()}  # a text column's header sits over its words
    styler = (shown.style.format(escape="html", na_rep=MISSING).format_index(escape="html", axis=1)
              .hide(axis="index").set_td_classes(numeric).set_table_styles(text, overwrite=False)
              .set_table_attributes('class="tex2jax_ignore cx-table"'))  # "$" is no math in JupyterLab
    link = None
    if csv is not None:
        from .narrative import safe_csv  # narrative imports this module

        Path(csv).parent.mkdir(parents=True, exist_ok=True)
        safe_csv(data.rename(columns=csv_columns(data.columns, own)), csv)
        link = href or Path(csv).name
    represented = set(units) | {pairs[c] for c in units if c in pairs}
    return Table(shown, data, styler, link, hidden=len(cols) - len(represented),
                 hidden_rows=len(data) - len(frame),
                 numeric=tuple(h for h in shown.columns if (numeric[h] == "cx-num").all()))


def csv_columns(columns, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The renames of a table's CSV download: a column ``n`` (what it counts differs from table to
    table) takes the name of its header in snake case ("Respondents" -> ``respondents``, the
    default "Customers" -> ``customers``), unless the table has a column of that name already;
    so does another count (``n_eff``, ``n_passives``) the table heads itself ("Effective sample
    size" -> ``effective_sample_size``).

    >>> csv_columns(["segment", "n", "customers"], {"n": "Respondents"})
    {'n': 'respondents'}
    >>> csv_columns(["segment", "n", "customers"])
    {}
    >>> csv_columns(["metric", "n", "n_eff"], {"n": "Customers counted", "n_eff": "Effective sample size"})
    {'n': 'customers_counted', 'n_eff': 'effective_sample_size'}
    """
    cols = [str(c) for c in columns]
    own = dict(headers or {})
    out = {}
    for c in cols:
        if c != "n" and not (c.startswith("n_") and c in own):  # another count ("n_eff") only by its own header
            continue
        name = re.sub(r"[^0-9a-z]+", "_", str(own.get(c) or label(c)).lower()).strip("_")
        if name and name not in cols and name not in out.values():
            out[c] = name
    return out


def _row_kind(kind: str, frame: pd.DataFrame, unit: str | None, i: int) -> str:
    """The kind of a number in row ``i``: the row's unit decides for plain numbers (see
    :func:`table`'s ``unit``); counts, text and already specific kinds keep theirs."""
    if unit is None or unit not in frame or kind not in ("number", "trimmed"):
        return kind
    u = frame[unit].iloc[i]
    if not isinstance(u, str):
        return kind
    if u in ("points", "0-100"):  # NPS and the 0-100 health score read with one decimal, as on the summary
        return "points"
    return "percent" if u == "share" else "money" if u.startswith("money") else kind


def _whole(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return len(v) > 0 and bool(np.all(v == np.round(v)))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def csv_target(ctx, name: str) -> dict:
    """Keyword arguments ``csv`` and ``href`` for :func:`table` in a report run: the full table
    goes to ``<quarter folder>/tables/<name>.csv`` beside the pages; outside a report run (a
    notebook opened on an export) no CSV is written (``{}``)."""
    cache = getattr(ctx, "cache_dir", None)
    if cache is None:
        return {}
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "table"
    return {"csv": Path(cache).parent / "tables" / f"{safe}.csv", "href": f"tables/{safe}.csv"}


# --- axes -----------------------------------------------------------------------------------------

def _axis(ax, which: str, func) -> None:
    from matplotlib.ticker import FuncFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: func(v)))


def money_axis(ax, currency: str | None = None, which: str = "y") -> None:
    """Tick labels of ``ax``'s ``which`` axis as money ("€1,200,000"): no 1e6 multiplier, no offset."""
    _axis(ax, which, lambda v: money(v, currency))


def percent_axis(ax, which: str = "y", decimals: int = 0) -> None:
    """Tick labels as percentages of shares (0.25 → "25%")."""
    _axis(ax, which, lambda v: percent(v, decimals))


def _tick(v: float) -> str:
    out = f"{v:,.6f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def number_axis(ax, which: str = "y", decimals: int | None = None) -> None:
    """Tick labels with thousands separators and no offset or multiplier; ``decimals=None``
    writes each tick with as few decimals as it needs ("1,500", "0.25")."""
    _axis(ax, which, _tick if decimals is None else (lambda v: f"{v:,.{decimals}f}"))


def shift(x, decimals: int = 1, unit: str = "points") -> str:
    """A change said as a verb: "lowers it by 10.4 points", "raises it by 2.0 points", "leaves it
    unchanged" (when it rounds to zero at ``decimals``)."""
    if _missing(x):
        return "changes it by an unknown amount"
    if round(abs(float(x)), decimals) == 0:
        return "leaves it unchanged"
    return f"{'raises' if x > 0 else 'lowers'} it by {abs(float(x)):.{decimals}f} {unit}"

