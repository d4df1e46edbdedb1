"""Survey-platform exports joined to the customer table.

A quarter's data usually comes as two files: the survey responses exported from the survey
platform, and the customer facts (spend, churn, orders, plan) from the CRM. This module reads the
survey export in its platform's layout, drops what is not a real answer, keeps one answer per
customer and quarter, and joins it to the customer table *before* the ``columns:`` mapping, so
survey columns are mapped like any other. Everything dropped or unmatched is counted, with
example ids, in a :class:`JoinReport`.

Layouts read (``survey.format``; detected from the extension and header rows when ``auto``):

* ``qualtrics``: CSV (UTF-8) or TSV (UTF-16) with three header rows: field ids (``Q1``,
  ``Q2_1``), question text, and ``{"ImportId": ...}``. The ids become the column names, the
  question text each column's label.
* ``surveymonkey``: two header rows, the question (only above a question's first column) and the
  answer option (``Response``, ``Open-Ended Response`` or the option's text).
* ``spss``: a ``.sav`` / ``.zsav`` file, read with pyreadstat together with its value labels.
* ``plain``: a CSV with one header row.

Input files are only ever opened for reading.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import NA_VALUES, DataError, file_sha256, parse_binary, parse_quarter

__all__ = [
    "FORMATS",
    "KEEP_RULES",
    "MATCH_RATE_WARNING",
    "QUALTRICS_STATUS",
    "SurveyExport",
    "JoinReport",
    "SurveyJoin",
    "detect_format",
    "read_survey",
    "parse_choice",
    "join_survey",
    "attach_survey",
    "join_summary",
    "join_lines",
]

FORMATS = ("auto", "qualtrics", "surveymonkey", "spss", "plain")
KEEP_RULES = ("latest", "mean", "first")
#: Match rate (matched answers / answers with a customer id) below which ``validate`` warns.
MATCH_RATE_WARNING = 0.5

#: Qualtrics ``Status`` codes (numeric exports) and their text (choice-text exports).
QUALTRICS_STATUS = {
    0: "IP Address", 1: "Survey Preview", 2: "Survey Test", 4: "Imported", 8: "Spam",
    9: "Preview Spam", 12: "Imported Spam", 16: "Offline", 17: "Offline Preview",
}
# which statuses are not real answers, and under which count they are dropped
_STATUS_DROP = {
    "survey preview": "preview", "offline preview": "preview", "survey test": "test",
    "spam": "spam", "preview spam": "spam", "imported spam": "spam",
}
_DROP_KINDS = ("preview", "test", "spam", "unfinished", "no_id", "no_quarter")

# survey-platform bookkeeping columns: used for filtering and dates, not joined to the customers
QUALTRICS_META = (
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
    "Duration__in_seconds_",
    "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
    "RecipientEmail", "ExternalReference", "ExternalDataReference", "LocationLatitude",
    "LocationLongitude", "DistributionChannel", "UserLanguage", "Q_RecaptchaScore",
    "Q_RelevantIDDuplicate", "Q_RelevantIDDuplicateScore", "Q_RelevantIDFraudScore",
)
SURVEYMONKEY_META = (
    "Respondent ID", "Collector ID", "Start Date", "End Date", "Date Created", "Date Modified",
    "IP Address", "Email Address", "First Name", "Last Name", "Custom Data 1",
    "Custom Data 2", "Custom Data 3",
)
_META = set(QUALTRICS_META) | set(SURVEYMONKEY_META)
_DATE_COLUMNS = ("RecordedDate", "EndDate", "Date Created", "End Date", "StartDate", "Start Date")
_KEY_COLUMNS = ("ExternalReference", "ExternalDataReference", "Custom Data 1", "customer_id")
_RESPONSE_ID = ("ResponseId", "Respondent ID", "ResponseID", "response_id")

# "10 - Extremely likely", "0 - Not at all likely", "7", "3: Neutral"; not dates such as 2026-08-15
_CHOICE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:[-–—:=]\s*[^\d\s].*)?$", re.S)


# --------------------------------------------------------------------------------------------
# reading


@dataclass
class SurveyExport:
    """A survey export read and filtered: the real answers, their labels and what was dropped.

    Attributes
    ----------
    data : DataFrame
        One row per kept response, columns named by field id, plus ``_response`` (an id to
        quote in messages: the response id, else the row in the file).
    labels : dict
        Column -> question text (Qualtrics row two, SurveyMonkey header, SPSS variable label).
    format : str
        The layout read.
    responses : int
        Responses in the file (header rows excluded).
    dropped : dict
        ``preview, test, spam, unfinished``: responses dropped and why.
    examples : dict
        A few response ids for each drop.
    inputs : list of dict
        ``path``, ``sha256``, ``rows`` of the file.
    """

    data: pd.DataFrame
    labels: dict[str, str]
    format: str
    responses: int
    dropped: dict[str, int]
    examples: dict[str, list[str]]
    inputs: list[dict[str, Any]]


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def _head_rows(path: Path, n: int = 3) -> tuple[list[list[str]], str, str]:
    """The first ``n`` rows of a delimited file, its encoding and its separator."""
    import csv
    import io as _io

    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    enc = _encoding(head)
    text = head.decode(enc, errors="ignore")
    first = text.splitlines()[0] if text else ""
    sep = "\t" if path.suffix.lower() == ".tsv" or first.count("\t") > first.count(",") else ","
    rows = []
    for row in csv.reader(_io.StringIO(text), delimiter=sep):
        rows.append(row)
        if len(rows) == n:
            break
    return rows, enc, sep


def detect_format(path: str | Path) -> str:
    """Which layout a survey export has: ``qualtrics``, ``surveymonkey``, ``spss`` or ``plain``.

    ``.sav`` / ``.zsav`` files are SPSS. A delimited file whose third row starts with an
    ``{"ImportId": ...}`` cell is Qualtrics; one whose second row holds SurveyMonkey's
    ``Response`` / ``Open-Ended Response`` markers (or whose first row starts with
    ``Respondent ID`` and second is mostly empty) is SurveyMonkey; anything else is plain.

    Parameters
    ----------
    path : str or Path
        The survey export (only its first 64 kB are read).

    Returns
    -------
    str
        One of ``qualtrics``, ``surveymonkey``, ``spss``, ``plain``.
    """
    path = Path(path)
    if path.suffix.lower() in (".sav", ".zsav"):
        return "spss"
    rows, _, _ = _head_rows(path)
    if len(rows) >= 3 and any(c.strip().startswith('{"ImportId"') for c in rows[2][:5]):
        return "qualtrics"
    if len(rows) >= 2:
        second = [c.strip() for c in rows[1]]
        if "Response" in second or "Open-Ended Response" in second:
            return "surveymonkey"
        if rows[0] and rows[0][0].strip() == "Respondent ID" and not any(second[:5]):
            return "surveymonkey"
    return "plain"


def _read_delimited(path: Path, header_rows: int) -> tuple[pd.DataFrame, list[list[str]]]:
    _, enc, sep = _head_rows(path, 1)
    try:
        raw = pd.read_csv(path, header=None, dtype=str, sep=sep, encoding=enc,
                          keep_default_na=False, na_values=NA_VALUES)
    except (pd.errors.ParserError, UnicodeError) as exc:
        raise DataError(f"Could not read survey export {str(path)!r}: {exc}") from None
    if len(raw) < header_rows:
        raise DataError(f"Survey export {str(path)!r} has fewer than {header_rows} header rows.")
    headers = [[("" if pd.isna(v) else str(v)) for v in raw.iloc[i]] for i in range(header_rows)]
    data = raw.iloc[header_rows:].reset_index(drop=True)
    return data, headers


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name} ({n + 1})")
    return out


def _numeric_where_possible(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or col in _META:
            continue
        parsed = pd.to_numeric(s, errors="coerce")
        if s.astype("string").str.match(r"^\s*0\d").any():  # ids with leading zeros stay text
            continue
        if s.notna().any() and (parsed.notna() == s.notna()).all():
            frame[col] = parsed
    return frame


def parse_choice(series: pd.Series) -> pd.Series:
    """Read choice text such as ``"10 - Extremely likely"`` as its number.

    The column is converted only when *every* non-missing cell is a number, alone or followed by
    a separator and its label (``"0 - Not at all likely"``, ``"7"``, ``"3: Neutral"``); otherwise
    it is returned unchanged (a text or category answer).

    Examples
    --------
    >>> parse_choice(pd.Series(["10 - Extremely likely", "7", None, "0 - Not at all likely"])).tolist()
    [10.0, 7.0, nan, 0.0]
    """
    if pd.api.types.is_numeric_dtype(series) or not series.notna().any():
        return series
    text = series.dropna().astype(str)
    uniques = pd.unique(text)
    numbers = {}
    for u in uniques:
        m = _CHOICE.match(u)
        if m is None:
            return series
        numbers[u] = float(m[1])
    return series.astype("string").map(numbers).astype(float)


def _read_qualtrics(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    data, (ids, text, imports) = _read_delimited(path, 3)
    if not any(c.strip().startswith("{") for c in imports):
        raise DataError(
            f"Survey export {str(path)!r} does not look like a Qualtrics export: its third row has "
            'no {"ImportId": ...} cells. Set survey.format to auto, plain or surveymonkey.')
    names = _unique([i.strip() or f"column_{k + 1}" for k, i in enumerate(ids)])
    data.columns = names
    labels = {n: t.strip() for n, t in zip(names, text, strict=True) if t.strip() and t.strip() != n}
    return data, labels


def _read_surveymonkey(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    data, (questions, options) = _read_delimited(path, 2)
    names, asked, current = [], [], ""
    for q, o in zip(questions, options, strict=True):
        q, o = q.strip(), o.strip()
        if q:
            current = q
        if not o or (o in ("Response", "Open-Ended Response") and q):
            name = current
        else:  # an option of the question above, or "Other (please specify)"
            name = f"{current} - {o}" if current else o
        names.append(name)
        asked.append(current)
    names = _unique(names)
    labels = {n: a for n, a in zip(names, asked, strict=True) if a and a != n}
    data.columns = names
    return data, labels


def _read_spss(path: Path, as_numbers: Collection[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - io extra not installed
        raise DataError("Reading SPSS .sav files needs pyreadstat: pip install 'cxanalysis[io]'.") from None
    try:
        data, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own ReadstatError
        raise DataError(f"Could not read SPSS file {str(path)!r}: {exc}") from None
    labels = {c: str(v) for c, v in meta.column_names_to_labels.items() if v}
    for col, value_labels in meta.variable_value_labels.items():
        if col not in data or col in as_numbers or col in ("Status", "Finished"):
            continue
        s = data[col]
        present = pd.unique(s.dropna())
        texts = [str(t) for t in value_labels.values()]
        # labels replace the codes only when every code present is labelled and the labels are
        # words (an NPS item labelled at its ends keeps its 0-10 codes)
        if all(v in value_labels for v in present) and not any(_CHOICE.match(t) for t in texts):
            data[col] = s.map(value_labels).astype("string")
    return data, labels


def _status_kind(status: pd.Series) -> pd.Series:
    """``preview``, ``test``, ``spam`` or missing for each Qualtrics ``Status``, as text or code."""
    codes = pd.to_numeric(status, errors="coerce")
    text = codes.map(QUALTRICS_STATUS).where(codes.notna(), status).astype("string")
    return text.str.strip().str.lower().map(_STATUS_DROP)


def _example(frame: pd.DataFrame, mask: np.ndarray | pd.Series, n: int = 5) -> list[str]:
    return [str(x) for x in frame.loc[np.asarray(mask), "_response"].head(n)]


def read_survey(
    path: str | Path,
    *,
    format: str = "auto",
    keep_unfinished: bool = False,
    as_numbers: Collection[str] = (),
) -> SurveyExport:
    """Read a survey-platform export and drop what is not a real answer.

    Parameters
    ----------
    path : str or Path
        The export (CSV / TSV / ``.sav``).
    format : {"auto", "qualtrics", "surveymonkey", "spss", "plain"}
        Layout; detected from the extension and header rows when ``"auto"``.
    keep_unfinished : bool
        Keep responses whose ``Finished`` is false (partial answers).
    as_numbers : collection of str
        SPSS only: labelled variables to keep as their numeric codes (those mapped to a numeric
        canonical column, such as the NPS item). Other fully labelled variables become their
        labels (e.g. a plan variable coded 1-3).

    Returns
    -------
    SurveyExport
        The kept responses (choice text parsed to numbers), labels and the drop counts.

    Notes
    -----
    Dropped, in this order and each counted once: Qualtrics ``Status`` survey preview and
    offline preview (``preview``), survey test (``test``), spam, preview spam and imported spam
    (``spam``), in text or as codes 1, 17, 2, 8, 9, 12; then responses with ``Finished`` false
    or 0 (``unfinished``) unless ``keep_unfinished``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Survey export {str(path)!r} does not exist. Check survey.path / --survey.")
    if format not in FORMATS:
        hint = difflib.get_close_matches(str(format), FORMATS, n=1)
        raise DataError(f"survey.format must be one of {', '.join(FORMATS)}; got {format!r}."
                        + (f" Did you mean {hint[0]!r}?" if hint else ""))
    fmt = detect_format(path) if format == "auto" else format
    sha = file_sha256(path)
    if fmt == "qualtrics":
        data, labels = _read_qualtrics(path)
    elif fmt == "surveymonkey":
        data, labels = _read_surveymonkey(path)
    elif fmt == "spss":
        data, labels = _read_spss(path, set(as_numbers))
    else:
        data, headers = _read_delimited(path, 1)
        data.columns = _unique([h.strip() or f"column_{k + 1}" for k, h in enumerate(headers[0])])
        labels = {}
    if fmt != "spss":
        data = _numeric_where_possible(data)
    n = len(data)
    rid = next((c for c in _RESPONSE_ID if c in data), None)
    rows = pd.Series([f"row {i + 1}" for i in range(n)], dtype="string")  # data rows, 1-based
    data["_response"] = data[rid].astype("string").fillna(rows) if rid else rows

    dropped = dict.fromkeys(("preview", "test", "spam", "unfinished"), 0)
    examples: dict[str, list[str]] = {}
    keep = np.ones(n, dtype=bool)
    if "Status" in data:
        kind = _status_kind(data["Status"])
        for k in ("preview", "test", "spam"):
            mask = (kind == k).fillna(False).to_numpy() & keep
            dropped[k] = int(mask.sum())
            examples[k] = _example(data, mask)
            keep &= ~mask
    if "Finished" in data and not keep_unfinished:
        finished, _bad = parse_binary(data["Finished"])
        mask = (finished == 0).to_numpy() & keep
        dropped["unfinished"] = int(mask.sum())
        examples["unfinished"] = _example(data, mask)
        keep &= ~mask
    data = data.loc[keep].reset_index(drop=True)
    for col in data.columns:
        if col not in _META and not str(col).startswith("_") and not pd.api.types.is_numeric_dtype(data[col]):
            data[col] = parse_choice(data[col])
    inputs = [{"path": str(path), "sha256": sha, "rows": n, "role": "survey", "survey_format": fmt}]
    return SurveyExport(data, labels, fmt, n, dropped, examples, inputs)


# --------------------------------------------------------------------------------------------
# the join


@dataclass
class JoinReport:
    """How the survey export was joined to the customer table.

    Counts (``responses`` = every ``dropped`` count + ``repeat_rows`` + ``matched`` +
    ``unmatched_responses``):

    * ``responses``: responses in the survey file;
    * ``dropped``: ``preview, test, spam, unfinished`` (not real answers), ``no_id`` (no
      customer id), ``no_quarter`` (no date or quarter to place them in);
    * ``repeat_answers``: customer-quarters answered more than once; ``repeat_rows`` the extra
      answers merged into one by ``keep`` (``latest``, ``first`` or ``mean``);
    * ``matched``: answers joined to a customer of the same quarter;
    * ``unmatched_responses``: answers with no such customer (kept out of the models);
    * ``customers_without_response``: customer-quarters with no answer (the base respondents
      stand for).

    ``examples`` holds a few ids for each count; ``repeats`` up to ten of the repeated customers
    with the answer kept; ``labels`` each survey column's question text and ``mapped`` the
    canonical column it was mapped to.
    """

    responses: int = 0
    matched: int = 0
    unmatched_responses: int = 0
    customers_without_response: int = 0
    repeat_answers: int = 0
    repeat_rows: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_DROP_KINDS, 0))
    keep: str = "latest"
    format: str = "plain"
    key: str = ""
    customers: int = 0
    min_match_rate: float = MATCH_RATE_WARNING
    examples: dict[str, list[str]] = field(default_factory=dict)
    repeats: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    mapped: dict[str, str] = field(default_factory=dict)

    @property
    def match_rate(self) -> float:
        """Matched answers / answers with a customer id (NaN when there are none)."""
        total = self.matched + self.unmatched_responses
        return self.matched / total if total else float("nan")

    @property
    def low_match(self) -> bool:
        """True when the match rate is below ``min_match_rate`` (a warning, not an error)."""
        return bool(self.match_rate < self.min_match_rate)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (the ``join`` key of ``results.json``), with ``match_rate``."""
        out = asdict(self)
        rate = self.match_rate
        out["match_rate"] = None if np.isnan(rate) else rate
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JoinReport:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_frame(self) -> pd.DataFrame:
        """The join as a table: ``item, n, share, example_ids`` (share of the survey responses)."""
        d, ex = self.dropped, self.examples
        rows = [
            ("responses in the survey export", self.responses, None),
            ("dropped: survey preview", d.get("preview", 0), "preview"),
            ("dropped: survey test", d.get("test", 0), "test"),
            ("dropped: spam", d.get("spam", 0), "spam"),
            ("dropped: unfinished", d.get("unfinished", 0), "unfinished"),
            ("dropped: no customer id", d.get("no_id", 0), "no_id"),
            ("dropped: no date or quarter", d.get("no_quarter", 0), "no_quarter"),
            (f"repeat answers merged ({self.keep} kept)", self.repeat_rows, "repeat_answers"),
            ("matched to a customer", self.matched, None),
            ("no customer for the response", self.unmatched_responses, "unmatched_responses"),
            ("customers without a response", self.customers_without_response,
             "customers_without_response"),
        ]
        out = pd.DataFrame(
            [{"item": item, "n": int(n), "example_ids": ", ".join(ex.get(k, [])) if k else ""}
             for item, n, k in rows])
        out.insert(2, "share", out["n"] / self.responses if self.responses else np.nan)
        out.loc[out["item"] == "customers without a response", "share"] = (
            self.customers_without_response / self.customers if self.customers else np.nan)
        return out

    def labels_frame(self) -> pd.DataFrame:
        """Survey columns with their question text: ``column, question, mapped_to``."""
        cols = list(dict.fromkeys([*self.labels, *self.mapped]))
        return pd.DataFrame({"column": cols, "question": [self.labels.get(c, "") for c in cols],
                             "mapped_to": [self.mapped.get(c, "") for c in cols]})


def _norm_ids(series: pd.Series) -> pd.Series:
    """Ids as trimmed text; whole numbers read as floats (``100001.0``) lose the ``.0``."""
    if pd.api.types.is_float_dtype(series):
        whole = series.dropna().eq(series.dropna().round()).all()
        if whole:
            series = series.astype("Int64")
    s = series.astype("string").str.strip()
    return s.mask(s == "")


def _survey_quarters(data: pd.DataFrame, date_column: str | None,
                     fallback: str | None) -> tuple[pd.Series, pd.Series, str | None]:
    """Each response's quarter and date; the column they came from."""
    qcol = next((c for c in data.columns if str(c).strip().lower() == "quarter"), None)
    dcol = date_column or next((c for c in _DATE_COLUMNS if c in data), None)
    if date_column and date_column not in data:
        hint = difflib.get_close_matches(date_column, [str(c) for c in data.columns], n=1)
        raise DataError(f"survey.date_column is {date_column!r}, which the survey export does not "
                        "have." + (f" Did you mean {hint[0]!r}?" if hint else ""))
    dates = (pd.to_datetime(data[dcol], errors="coerce", format="mixed") if dcol
             else pd.Series(pd.NaT, index=data.index))
    if qcol is not None:
        uniq = pd.unique(data[qcol].dropna())
        quarter = data[qcol].map({u: parse_quarter(u) for u in uniq})
        src = qcol
    else:
        quarter = dates.map(lambda t: f"{t.year}Q{t.quarter}" if pd.notna(t) else None)
        src = dcol
    if fallback is not None:
        quarter = quarter.fillna(fallback)
    return quarter.astype(object), dates, src


def _deduplicate(ans: pd.DataFrame, keep: str, value_cols: list[str],
                 report: JoinReport) -> pd.DataFrame:
    """One answer per (id, quarter) by ``keep``; repeats recorded in ``report``."""
    ans = ans.assign(_order=np.arange(len(ans)))
    ans = ans.sort_values(["_date", "_order"], na_position="first", kind="stable")
    size = ans.groupby(["_id", "_quarter"], sort=False)["_order"].transform("size")
    repeated = ans[size > 1]
    pick = "last" if keep in ("latest", "mean") else "first"
    kept = ans.drop_duplicates(["_id", "_quarter"], keep=pick)
    if keep == "mean" and len(repeated):
        numeric = [c for c in value_cols if pd.api.types.is_numeric_dtype(ans[c])]
        means = repeated.groupby(["_id", "_quarter"])[numeric].mean()
        whole = [c for c in numeric if ans[c].dropna().eq(ans[c].dropna().round()).all()]
        means[whole] = np.floor(means[whole] + 0.5)  # a 0-10 item stays whole: halves round up
        kept = kept.set_index(["_id", "_quarter"])
        kept.loc[means.index, numeric] = means
        kept = kept.reset_index()
    report.repeat_rows = int(len(ans) - len(kept))
    groups = repeated.groupby(["_id", "_quarter"], sort=False)
    report.repeat_answers = int(groups.ngroups)
    report.examples["repeat_answers"] = [str(k[0]) for k in list(groups.groups)[:5]]
    for (cid, q), g in list(groups)[:10]:
        row = g.iloc[-1] if pick == "last" else g.iloc[0]
        when = row["_date"].isoformat(sep=" ") if pd.notna(row["_date"]) else "no date"
        kept_text = (f"mean of {len(g)} answers" if keep == "mean"
                     else f"{keep}: {row['_response']} ({when})")
        report.repeats.append({"customer_id": str(cid), "quarter": str(q), "answers": int(len(g)),
                               "responses": [str(r) for r in g["_response"]], "kept": kept_text})
    return kept.drop(columns=["_order"])


def join_survey(
    customers: pd.DataFrame,
    survey: SurveyExport,
    *,
    customer_key: str,
    survey_key: str,
    customer_quarter: pd.Series | None = None,
    keep: str = "latest",
    date_column: str | None = None,
    min_match_rate: float = MATCH_RATE_WARNING,
) -> tuple[pd.DataFrame, JoinReport]:
    """Join one answer per customer and quarter to the customer table.

    Parameters
    ----------
    customers : DataFrame
        The customer table as read (before the ``columns:`` mapping). Its rows and columns are
        all kept; survey columns are added (a survey column whose name the customer table
        already uses gets `` (survey)`` appended).
    survey : SurveyExport
        From :func:`read_survey`.
    customer_key, survey_key : str
        The id column on each side.
    customer_quarter : Series, optional
        Each customer row's quarter (``YYYYQn``). None: the customer table is one quarter, the
        survey's only quarter (an error when the survey spans several).
    keep : {"latest", "first", "mean"}
        Which answer counts when a customer answered more than once in a quarter: the latest or
        first by recorded date (file order breaks ties), or the mean of numeric answers (whole
        number items rounded, halves up; other columns from the latest answer).
    date_column : str, optional
        The survey column with each response's date (default ``RecordedDate``, ``EndDate``,
        ``Date Created`` or ``End Date``, whichever is present). A ``quarter`` column in the
        survey takes precedence over dates.
    min_match_rate : float
        Below this share of matched answers, :attr:`JoinReport.low_match` is true.

    Returns
    -------
    joined : DataFrame
        The customer rows with the survey columns (missing where no answer).
    report : JoinReport

    Raises
    ------
    DataError
        A key column is missing, or no answer matched any customer (with example ids from both
        sides).
    """
    if keep not in KEEP_RULES:
        raise DataError(f"survey.keep must be one of {', '.join(KEEP_RULES)}; got {keep!r}.")
    data = survey.data
    for side, key, frame in (("survey", survey_key, data), ("customer", customer_key, customers)):
        if key not in frame:
            hint = difflib.get_close_matches(key, [str(c) for c in frame.columns], n=1)
            where = "survey.key" if side == "survey" else "columns.customer_id"
            raise DataError(f"The {side} table has no id column {key!r} (set {where} in cx.yaml)."
                            + (f" Did you mean {hint[0]!r}?" if hint else
                               f" Columns are: {', '.join(map(str, list(frame.columns)[:20]))}."))
    report = JoinReport(responses=survey.responses, keep=keep, format=survey.format, key=survey_key,
                        min_match_rate=min_match_rate, labels=dict(survey.labels))
    report.dropped.update(survey.dropped)
    report.examples.update(survey.examples)

    cust_id = _norm_ids(customers[customer_key])
    if customer_quarter is None:
        fallback = None
        quarter, dates, _src = _survey_quarters(data, date_column, None)
        present = sorted(q for q in pd.unique(quarter.dropna()))
        if len(present) > 1:
            raise DataError(
                f"The customer table has no quarter but the survey spans {', '.join(present)}. Give "
                "the customer table a quarter column, or pass --quarter / set quarter in cx.yaml.")
        cust_q = pd.Series(present[0] if present else None, index=customers.index, dtype=object)
    else:
        cust_q = customer_quarter.astype(object)
        known = pd.unique(cust_q.dropna())
        fallback = str(known[0]) if len(known) == 1 else None
        quarter, dates, _src = _survey_quarters(data, date_column, fallback)

    ans = data.assign(_id=_norm_ids(data[survey_key]), _quarter=quarter, _date=dates)
    no_id = ans["_id"].isna().to_numpy()
    report.dropped["no_id"] = int(no_id.sum())
    report.examples["no_id"] = _example(ans, no_id)
    no_q = ans["_quarter"].isna().to_numpy() & ~no_id
    report.dropped["no_quarter"] = int(no_q.sum())
    report.examples["no_quarter"] = _example(ans, no_q)
    ans = ans.loc[~no_id & ~no_q].reset_index(drop=True)

    skip = {survey_key, "_response", "_id", "_quarter", "_date"} | _META
    value_cols = [c for c in data.columns if c not in skip and str(c).strip().lower() != "quarter"
                  and c != date_column]
    ans = _deduplicate(ans, keep, value_cols, report)

    crm_keys = pd.MultiIndex.from_arrays([cust_id, cust_q]).dropna().unique()
    ans_keys = pd.MultiIndex.from_arrays([ans["_id"], ans["_quarter"]])
    hit = ans_keys.isin(crm_keys)
    report.matched = int(hit.sum())
    report.unmatched_responses = int((~hit).sum())
    report.examples["unmatched_responses"] = [f"{i} ({q})" for i, q in
                                              ans.loc[~hit, ["_id", "_quarter"]].head(5).to_numpy()]
    answered = crm_keys.isin(ans_keys[hit])
    report.customers = int(len(crm_keys))
    report.customers_without_response = int((~answered).sum())
    report.examples["customers_without_response"] = [f"{i} ({q})" for i, q in crm_keys[~answered][:5]]

    if report.matched == 0:
        same_id = ans["_id"].isin(set(cust_id.dropna()))
        detail = (f" {int(same_id.sum()):,} survey id(s) do exist in the customer table, but in "
                  "another quarter: check the survey dates and the customer table's quarter."
                  if same_id.any() else "")
        raise DataError(
            f"No survey response matched a customer ({len(ans):,} answers with an id, "
            f"{len(crm_keys):,} customer-quarters).{detail}\n"
            f"  survey ids ({survey_key!r}): {', '.join(map(str, ans['_id'].head(5))) or '-'}"
            f" (quarters {', '.join(sorted(map(str, pd.unique(ans['_quarter']))))})\n"
            f"  customer ids ({customer_key!r}): {', '.join(map(str, cust_id.dropna().head(5))) or '-'}"
            f" (quarters {', '.join(sorted(map(str, pd.unique(cust_q.dropna()))))})\n"
            "Set survey.key to the survey column holding the customer id, and map "
            "columns.customer_id to the customer table's id column.")

    answers = ans.loc[hit, ["_id", "_quarter", *value_cols]]
    clash = {c: f"{c} (survey)" for c in value_cols if c in customers.columns}
    answers = answers.rename(columns=clash)
    report.labels = {clash.get(k, k): v for k, v in report.labels.items() if k in value_cols}
    left = pd.DataFrame({"_id": cust_id, "_quarter": cust_q}, index=customers.index)
    merged = left.merge(answers, on=["_id", "_quarter"], how="left", validate="many_to_one")
    merged.index = customers.index
    joined = pd.concat([customers, merged.drop(columns=["_id", "_quarter"])], axis=1)
    return joined, report


# --------------------------------------------------------------------------------------------
# the hook used by io.load


@dataclass
class SurveyJoin:
    """What :func:`attach_survey` gives :func:`cxanalysis.io.load`."""

    data: pd.DataFrame
    report: JoinReport
    columns: dict[str, str]
    inputs: list[dict[str, Any]]


def _numeric_canonical(canonical: str) -> bool:
    from .schema import CANONICAL, NUMERIC_KINDS

    return canonical.startswith("driver_") or CANONICAL.get(canonical) in NUMERIC_KINDS


def attach_survey(
    raw: pd.DataFrame,
    config: Any,
    *,
    path: str | Path,
    quarter: str | None = None,
) -> SurveyJoin:
    """Read the survey at ``path`` and join it to the raw customer table ``raw``.

    Reads ``survey.format``, ``survey.key``, ``survey.keep``, ``survey.keep_unfinished``,
    ``survey.date_column`` and ``survey.min_match_rate`` from ``config``. The customer id column
    is the one ``columns.customer_id`` names (default ``customer_id``); the customers' quarter
    comes from their quarter column (``columns.quarter``, default ``quarter``), the file name,
    ``quarter`` (``--quarter`` / cx.yaml) or else the survey's single quarter.

    Returns
    -------
    SurveyJoin
        ``data``: the joined table, still in the export's column names (a ``_file_quarter``
        column is set when the quarter came from the survey); ``report``: the
        :class:`JoinReport`; ``columns``: the ``columns:`` mapping with question texts replaced
        by the survey column ids they label; ``inputs``: the survey file's fingerprint.
    """
    opts = dict(config.data.get("survey") or {})
    columns = dict(config.columns)
    as_numbers = [src for canon, src in columns.items() if _numeric_canonical(canon)]
    export = read_survey(path, format=opts.get("format", "auto"),
                         keep_unfinished=bool(opts.get("keep_unfinished", False)),
                         as_numbers=as_numbers)
    # mapping by question text: a source that is no column but a label maps to its column id
    by_label = {}
    for col, label in export.labels.items():
        by_label.setdefault(" ".join(label.split()).casefold(), col)
    available = set(raw.columns) | set(export.data.columns)
    for canon, src in list(columns.items()):
        key = " ".join(str(src).split()).casefold()
        if src not in available and key in by_label:
            columns[canon] = by_label[key]
    if as_numbers != [src for canon, src in columns.items() if _numeric_canonical(canon)]:
        as_numbers = [src for canon, src in columns.items() if _numeric_canonical(canon)]
        export = read_survey(path, format=export.format,
                             keep_unfinished=bool(opts.get("keep_unfinished", False)),
                             as_numbers=as_numbers)

    crm_key = columns.get("customer_id", "customer_id")
    key = opts.get("key")
    if not key:
        key = next((c for c in (*_KEY_COLUMNS, crm_key) if c in export.data), None)
        if key is None:
            raise DataError(
                "Which survey column holds the customer id? Set survey.key in cx.yaml (e.g. "
                "ExternalReference for Qualtrics). Survey columns are: "
                + ", ".join(map(str, [c for c in export.data.columns if c != "_response"][:20])) + ".")
    qsrc = columns.get("quarter", "quarter")
    if qsrc in raw:
        cust_q = raw[qsrc].map({u: parse_quarter(u) for u in pd.unique(raw[qsrc].dropna())})
    elif "_file_quarter" in raw and raw["_file_quarter"].notna().all():
        cust_q = raw["_file_quarter"]
    elif quarter is not None:
        cust_q = pd.Series(quarter, index=raw.index)
    else:
        cust_q = None
    joined, report = join_survey(raw, export, customer_key=crm_key, survey_key=key,
                                 customer_quarter=cust_q, keep=opts.get("keep", "latest"),
                                 date_column=opts.get("date_column"),
                                 min_match_rate=float(opts.get("min_match_rate", MATCH_RATE_WARNING)))
    if cust_q is None:  # the customers' quarter is the survey's only quarter (checked in the join)
        survey_q = _survey_quarters(export.data, opts.get("date_column"), None)[0].dropna()
        joined["_file_quarter"] = str(survey_q.iloc[0]) if len(survey_q) else None
    from .schema import CANONICAL

    report.mapped = {c: c for c in report.labels if c in CANONICAL or str(c).startswith("driver_")}
    report.mapped.update({src: canon for canon, src in columns.items()
                          if src in report.labels or src in export.data.columns})
    return SurveyJoin(joined, report, columns, export.inputs)


def join_summary(report: JoinReport | None) -> str:
    """The join in a few Markdown sentences, for the data-quality page (empty without a survey).

    Parameters
    ----------
    report : JoinReport or None

    Returns
    -------
    str
        Markdown: the match rate, the responses dropped and why, repeat answers and the rule that
        kept one, answers without a customer, customers without an answer, and a warning when
        the match rate is below ``report.min_match_rate``.

    Examples
    --------
    >>> print(join_summary(JoinReport(responses=10, matched=8, unmatched_responses=2,
    ...                               customers=20, customers_without_response=12)))  # doctest: +ELLIPSIS
    **8 of 10 survey answers with a customer id (80.0%) matched a customer** ...
    """
    if report is None:
        return ""
    r = report
    rate = r.match_rate
    answered = r.matched + r.unmatched_responses
    lines = [f"**{r.matched:,} of {answered:,} survey answers with a customer id "
             f"({'–' if np.isnan(rate) else f'{rate:.1%}'}) matched a customer** of the same quarter "
             f"({r.format} export, key `{r.key}`, {r.responses:,} responses in the file)."]
    d = r.dropped
    not_real = {k: d.get(k, 0) for k in ("preview", "test", "spam", "unfinished") if d.get(k, 0)}
    if not_real:
        words = {"preview": "survey preview(s)", "test": "survey test(s)", "spam": "spam",
                 "unfinished": "unfinished response(s)"}
        lines.append("Dropped before the join, as not real answers: "
                     + ", ".join(f"{n:,} {words[k]}" for k, n in not_real.items()) + ".")
    if d.get("no_id") or d.get("no_quarter"):
        lines.append(f"{d.get('no_id', 0):,} response(s) had no customer id and "
                     f"{d.get('no_quarter', 0):,} no date to place them in a quarter.")
    if r.repeat_answers:
        rule = {"latest": "the latest answer was kept", "first": "the first answer was kept",
                "mean": "their answers were averaged"}[r.keep]
        lines.append(f"{r.repeat_answers:,} customer(s) answered more than once in a quarter; "
                     f"{rule} ({r.repeat_rows:,} extra answer(s) merged).")
    if r.unmatched_responses:
        lines.append(f"{r.unmatched_responses:,} answer(s) had no customer in the customer table "
                     f"(kept out of the analyses; e.g. {', '.join(r.examples.get('unmatched_responses', [])[:3])}).")
    if r.customers:
        lines.append(f"{r.customers_without_response:,} of {r.customers:,} customer-quarters "
                     f"({r.customers_without_response / r.customers:.1%}) have no answer: they are "
                     "the base the respondents stand for.")
    if r.low_match:
        lines.append(f"**Warning: the match rate is below {r.min_match_rate:.0%}.** Check that "
                     "`survey.key` holds the same ids as the customer table.")
    return "\n\n".join(lines)


def join_lines(report: JoinReport) -> list[str]:
    """The join as plain-text lines for ``cxanalysis validate``.

    Parameters
    ----------
    report : JoinReport

    Returns
    -------
    list of str
        A summary line, one line per kind of dropped response and for repeat and unmatched
        answers (with example ids), and a last line starting ``warning:`` when the match rate is
        below ``report.min_match_rate``.
    """
    r, d, ex = report, report.dropped, report.examples
    rate = r.match_rate
    lines = [f"Survey ({r.format}, key {r.key!r}): {r.responses:,} responses; "
             f"{r.matched:,} matched a customer ({'-' if np.isnan(rate) else f'{rate:.1%}'}), "
             f"{r.unmatched_responses:,} had no customer, "
             f"{r.customers_without_response:,} of {r.customers:,} customer-quarters have no answer."]
    for k, text in (("preview", "survey preview"), ("test", "survey test"), ("spam", "spam"),
                    ("unfinished", "unfinished"), ("no_id", "no customer id"),
                    ("no_quarter", "no date or quarter")):
        if d.get(k):
            lines.append(f"  dropped {d[k]:,} response(s): {text} (e.g. {', '.join(ex.get(k, [])[:3])})")
    if r.repeat_answers:
        lines.append(f"  {r.repeat_answers:,} customer(s) answered more than once in a quarter; "
                     f"kept: {r.keep} ({r.repeat_rows:,} extra answer(s) merged; e.g. "
                     f"{', '.join(ex.get('repeat_answers', [])[:3])})")
    if r.unmatched_responses:
        lines.append(f"  {r.unmatched_responses:,} response(s) with no customer (e.g. "
                     f"{', '.join(ex.get('unmatched_responses', [])[:3])})")
    if r.low_match:
        lines.append(f"warning: only {rate:.1%} of the survey answers matched a customer (below "
                     f"{r.min_match_rate:.0%}). Check survey.key and the customer ids.")
    return lines
