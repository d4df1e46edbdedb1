"""The run configuration (``cx.yaml``): load, validate, fill defaults.

Every key is optional. Unknown keys are an error with a "did you mean" hint, so a typo never
silently falls back to a default. The defaults are listed in :data:`DEFAULTS` and in the README.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Config", "ConfigError", "DEFAULTS", "SPEND_PER_QUARTER", "load_config", "spend_note"]


#: Quarters' spend per unit of the export's spend, by ``spend_period``.
SPEND_PER_QUARTER = {"quarter": 1.0, "month": 3.0, "year": 0.25}


def spend_note(config: Config) -> str | None:
    """The data-quality note for a spend converted to the quarter; for a quarterly spend read from the
    column MRR also reads (a month's revenue taken for a quarter's?), a warning; else None."""
    period = config.spend_period
    if period == "quarter":
        same = config.columns.get("spend")
        if same is not None and same == config.columns.get("mrr"):
            return (f"Spend and MRR both come from the column {same!r}: MRR is a month's revenue and spend a "
                    "quarter's, so one of them is probably wrong. If the column is monthly, set spend_period: month "
                    "in cx.yaml (spend is then 3 times it).")
        return None
    how = "multiplied by 3" if period == "month" else "divided by 4"
    return (f"Spend is the export's {period}ly figure (spend_period: {period} in cx.yaml), {how} to give the "
            "quarter's spend: spend, CLV and the ROI are per quarter throughout.")


class ConfigError(ValueError):
    """A problem in ``cx.yaml``: the message names the key, the rule and the fix."""


#: Every key the config knows, with its default. Nested mappings are merged key by key.
DEFAULTS: dict[str, Any] = {
    # canonical column name -> name in your export
    "columns": {},
    # one category spelt several ways, merged when loading: column (canonical name, or the export's
    # own for a column kept as it is) -> {spelling in the export: the spelling to use}, e.g.
    # {PreferredPaymentMode: {CC: Credit Card, COD: Cash on Delivery}}; text columns only
    "recode": {},
    # how the pages name a column (canonical name, or the export's own for a column kept as it
    # is), when the canonical name would mislead: e.g. {region: City tier, support_tickets:
    # Complained (0/1)} for an export whose "region" is a city tier and whose tickets are a flag
    "labels": {},
    # quarter of the export when the file has no quarter column, e.g. "2026Q3"
    "quarter": None,
    # ISO 4217 code of the export's money, e.g. EUR: amounts are shown with its symbol ("€1,234");
    # None: amounts with thousands separators only
    "currency": None,
    # the period the export's spend covers: quarter (the canonical table's), month or year. A monthly
    # figure (e.g. a monthly charge) is multiplied by 3 and a yearly one divided by 4 when loading,
    # so that spend, CLV and the ROI are per quarter as everywhere else; the data-quality page says so
    "spend_period": "quarter",
    # survey-platform export joined to the customer table (README, "Survey exports")
    "survey": {
        "path": None,  # e.g. responses.csv; or pass --survey
        "format": "auto",  # qualtrics | surveymonkey | spss | plain; detected when auto
        "key": None,  # survey column with the customer id; None: ExternalReference, Custom Data 1, ...
        "keep": "latest",  # latest | mean | first: several answers from one customer in a quarter
        "keep_unfinished": False,  # keep responses whose Finished is false
        "date_column": None,  # None: RecordedDate / EndDate (Qualtrics), Date Created / End Date
        "min_match_rate": 0.5,  # validate warns below this share of matched answers
    },
    # adjusted for in every outcome model; None = those of plan, region, tenure_months present
    "covariates": None,
    "categories": {"score": "nps_score", "promoter_min": 9, "detractor_max": 6},
    "scales": {"nps_score": [0, 10], "csat": [1, 5], "ces": [1, 7]},
    # how a CSV / text export is read; None = detected (see cxanalysis.sniff). E.g. a European
    # spreadsheet export: {delimiter: ";", decimal: ",", encoding: "cp1252"}
    "io": {"delimiter": None, "decimal": None, "encoding": None},
    # the report's quarter (the latest by default, or --quarter) must have at least this many
    # respondents (rows with the categories' score); smaller quarters stop validate and report
    "min_quarter_respondents": 100,
    # what to do with rows that break a validation rule: "error" (stop, list them) or "drop"
    # (remove them and count them in the cleaning report)
    # near_duplicates: rows identical in every column but the customer id (one customer exported
    # twice under two ids; page 01 flags them): "keep" them, flagged, or "drop" every copy but the
    # first id's, counted in the cleaning report
    "cleaning": {"invalid_rows": "error", "near_duplicates": "keep"},
    # NPS interval: "adjusted-wald" (Rocks 2016; good at small n) or "wald"
    "nps_ci": "adjusted-wald",
    # which engine computes the exact tables (NPS, metrics, counts over every row): auto picks
    # pandas for ordinary exports and duckdb above 2M rows / 500 MB (README, "Engines")
    "engine": "auto",
    "alpha": 0.05,
    "seed": 20260101,
    "segments": {
        # business segments profiled in 02-segments; missing columns are skipped with a note
        "dimensions": ["plan", "region", "job_title", "contract_value", "visits_per_month", "age"],
        # numeric columns are cut into bands: explicit edges, or quantile bands when absent
        "bands": {"age": [18, 25, 35, 45, 55, 65, 120]},
        "quantile_bands": 4,
        "min_size": 30,
    },
    "health_score": {
        "weights": {"cx": 0.4, "visits_per_month": 0.2, "support_tickets": 0.2, "tenure_months": 0.2}
    },
    "clusters": {
        # behaviour only: a CX score here makes "NPS by cluster" partly circular (a warning says so)
        "columns": [
            "spend", "orders", "returns", "visits_per_month", "tenure_months", "support_tickets",
        ],
        "k": None,  # None = chosen over k_range by silhouette (k-means) and BIC (mixture)
        "k_range": [2, 10],
        "method": "kmeans",
        "n_resamples": 50,  # bootstrap refits for stability; its 95% range is the 2.5-97.5 percentiles
    },
    "drivers": {"n_boot": 200},
    # respondents weighted to the whole base (rows with no CX score) when the export holds
    # non-respondents: raking on the columns ``by`` (None: the covariates present, by default
    # plan, region and tenure_months; numeric ones in the segments' bands). ``weighting: none``
    # (or method: none) turns it off.
    "weighting": {"method": "raking", "by": None},
    # language: auto (detected per comment) or the export's ISO 639-1 code, e.g. pt
    "themes": {"n_themes": 6, "language": "auto"},
    "roi": {
        "share_of_passives_moved": 0.10,
        "customers_moved": None,
        "horizon_years": 3,
        "discount_rate": 0.08,
        "gross_margin": 0.35,
        "cost_per_return": 12.0,
        "program_cost_per_year": 50000.0,
        "team_cost_per_year": 120000.0,
        "n_draws": 1000,
        "retained_per_month": [1, 5, 10],
        "scenario_horizons_years": [0.25, 1, 3, 5, 10],
    },
}

_CHOICES = {
    ("cleaning", "invalid_rows"): {"error", "drop"},
    ("cleaning", "near_duplicates"): {"keep", "drop"},
    ("nps_ci",): {"adjusted-wald", "wald"},
    ("engine",): {"auto", "pandas", "duckdb", "spark"},
    ("spend_period",): {"quarter", "month", "year"},
    ("clusters", "method"): {"kmeans", "gmm"},
    ("survey", "format"): {"auto", "qualtrics", "surveymonkey", "spss", "plain"},
    ("survey", "keep"): {"latest", "mean", "first"},
    ("weighting", "method"): {"raking", "none"},
}

# Keys whose value is a free-form mapping (their own keys are not checked against DEFAULTS).
_FREE_MAPPINGS = {("columns",), ("labels",), ("recode",), ("scales",), ("segments", "bands"), ("health_score", "weights")}


@dataclass(frozen=True)
class Config:
    """The applied configuration: defaults merged with the user's file.

    Access sections as attributes (``cfg.roi["gross_margin"]``); :meth:`to_dict` gives the
    whole mapping, as written to ``results.json``.
    """

    data: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source: str | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> dict[str, Any]:
        """The configuration as applied (a deep copy)."""
        return copy.deepcopy(self.data)

    def with_overrides(self, **sections: Any) -> Config:
        """A new Config with some sections replaced or merged, validated like a file."""
        return Config(_merge(self.data, sections, ()), self.source)

    @property
    def score(self) -> str:
        """The canonical column that defines promoter / passive / detractor."""
        return self.data["categories"]["score"]


def _hint(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(sorted(options))}."


def _merge(base: Mapping[str, Any], user: Mapping[str, Any], path: tuple[str, ...]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in user.items():
        where = ".".join((*path, str(key)))
        if path in _FREE_MAPPINGS:
            out[key] = value
            continue
        if key not in base:
            raise ConfigError(f"Unknown config key {where!r}.{_hint(str(key), list(base))}")
        default = base[key]
        if (*path, key) in _FREE_MAPPINGS:
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"Config key {where!r} must be a mapping; got {value!r}.")
            merged = dict(default)
            merged.update(value or {})
            out[key] = merged
        elif isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"Config key {where!r} must be a mapping of settings; got {value!r}."
                )
            out[key] = _merge(default, value, (*path, key))
        else:
            out[key] = value
    return out


def _check(data: dict[str, Any]) -> None:
    """Type and range checks that a merge alone cannot express."""
    for keys, options in _CHOICES.items():
        value = data
        for k in keys:
            value = value[k]
        if value not in options:
            raise ConfigError(
                f"Config key {'.'.join(keys)!r} must be one of {sorted(options)}; got {value!r}."
            )
    cats = data["categories"]
    if not isinstance(cats["score"], str):
        raise ConfigError(f"'categories.score' must be a column name; got {cats['score']!r}.")
    if not cats["detractor_max"] < cats["promoter_min"]:
        raise ConfigError(
            "'categories.detractor_max' must be below 'categories.promoter_min'; got "
            f"{cats['detractor_max']} and {cats['promoter_min']}."
        )
    _check_recode(data["recode"])
    for name, text in data["labels"].items():
        if not isinstance(text, str) or not text.strip() or len(text) > 60:
            raise ConfigError(f"'labels.{name}' must be the words the pages show for that column, 1-60 "
                              f"characters, e.g. labels: {{region: City tier}}; got {text!r}.")
    for name, scale in data["scales"].items():
        if not (isinstance(scale, list | tuple) and len(scale) == 2 and scale[0] < scale[1]):
            raise ConfigError(
                f"'scales.{name}' must be [low, high] with low < high, e.g. [1, 5]; got {scale!r}."
            )
    if data["currency"] is not None:
        from .fmt import check_currency

        try:
            check_currency(data["currency"])
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if data["quarter"] is not None:
        from .io import parse_quarter  # local import: io imports config

        parsed = parse_quarter(str(data["quarter"]))
        if parsed is None:
            raise ConfigError(
                f"'quarter' must look like 2026Q3, 'Q3 2026' or 2026-Q3; got {data['quarter']!r}."
            )
        data["quarter"] = parsed
    _check_io(data["io"])
    mq = data["min_quarter_respondents"]
    if isinstance(mq, bool) or not isinstance(mq, int) or mq < 1:
        raise ConfigError(
            f"'min_quarter_respondents' must be a whole number of 1 or more, e.g. 100; got {mq!r}."
        )
    by = data["weighting"]["by"]
    if by is not None and not (isinstance(by, list) and by and all(isinstance(c, str) and c for c in by)):
        raise ConfigError("'weighting.by' must be a list of column names to rake on, e.g. [plan, region]; "
                          f"got {by!r}. Leave it out for the covariates, or write 'weighting: none' to turn "
                          "weighting off.")
    cov = data["covariates"]
    if cov is not None and not (isinstance(cov, list) and all(isinstance(c, str) for c in cov)):
        raise ConfigError(f"'covariates' must be a list of column names; got {cov!r}.")
    if not 0 < data["alpha"] < 0.5:
        raise ConfigError(f"'alpha' must be between 0 and 0.5; got {data['alpha']!r}.")
    roi = data["roi"]
    if not 0 <= float(roi["gross_margin"]) <= 1:
        raise ConfigError(f"'roi.gross_margin' must be a fraction between 0 and 1; got {roi['gross_margin']!r}.")
    _check_share(roi["share_of_passives_moved"])
    for key in ("retained_per_month", "scenario_horizons_years"):
        v = roi[key]
        if not (isinstance(v, list | tuple) and v and all(_is_number(x) and x > 0 for x in v)):
            raise ConfigError(f"'roi.{key}' must be a list of positive numbers, e.g. "
                              f"{DEFAULTS['roi'][key]}; got {v!r}.")
    if any(round(12 * h) < 1 or abs(12 * h - round(12 * h)) > 1e-9 for h in roi["scenario_horizons_years"]):
        raise ConfigError("'roi.scenario_horizons_years' must be whole numbers of months in years, e.g. 0.25 for a "
                          f"quarter or 1.5; got {roi['scenario_horizons_years']!r}.")
    for key in ("discount_rate", "cost_per_return", "program_cost_per_year", "team_cost_per_year"):
        if float(roi[key]) < 0:
            raise ConfigError(f"'roi.{key}' must be zero or more; got {roi[key]!r}.")
    if not (isinstance(roi["horizon_years"], int) and roi["horizon_years"] >= 1):
        raise ConfigError(
            f"'roi.horizon_years' must be a whole number of years, 1 or more; got {roi['horizon_years']!r}."
        )
    if roi["customers_moved"] is not None and int(roi["customers_moved"]) < 0:
        raise ConfigError(f"'roi.customers_moved' must be zero or more; got {roi['customers_moved']!r}.")
    if not 0 <= float(data["survey"]["min_match_rate"]) <= 1:
        raise ConfigError(f"'survey.min_match_rate' must be a fraction between 0 and 1; got "
                          f"{data['survey']['min_match_rate']!r}.")
    language = data["themes"]["language"]
    if language != "auto":
        from .text import LANGUAGES  # local import: text loads scikit-learn

        if language not in LANGUAGES:
            raise ConfigError(f"'themes.language' must be auto or a language code, one of {', '.join(sorted(LANGUAGES))}; "
                              f"got {language!r}. Use auto to detect each comment's language.")
    lo, hi = data["clusters"]["k_range"]
    if not 2 <= lo <= hi:
        raise ConfigError(f"'clusters.k_range' must be [low, high] with 2 <= low <= high; got {[lo, hi]}.")
    nr = data["clusters"]["n_resamples"]
    if isinstance(nr, bool) or not isinstance(nr, int) or nr < 20:
        raise ConfigError(f"'clusters.n_resamples' must be a whole number, 20 or more (a 95% range from fewer "
                          f"resamples is little more than their minimum and maximum); got {nr!r}.")


def _check_recode(recode: dict[str, Any]) -> None:
    """``recode``: each column maps spellings to spellings (text or numbers, read as text); a
    spelling may not be both recoded and a target (the order would decide the result)."""
    from .schema import CANONICAL

    for col, mapping in recode.items():
        kind = CANONICAL.get(str(col))
        if kind not in (None, "category"):
            raise ConfigError(f"'recode.{col}' recodes the {kind} column {col!r}; recode is for text columns that "
                              "name categories (plan, region, job_title or a column of your own).")
        if not isinstance(mapping, Mapping) or not mapping:
            raise ConfigError(f"'recode.{col}' must map each spelling in the export to the one to use, e.g. "
                              f"{{CC: Credit Card}}; got {mapping!r}.")
        for k, v in mapping.items():
            if not isinstance(k, str | int | float) or not isinstance(v, str | int | float) or isinstance(k, bool) \
                    or isinstance(v, bool) or not str(k).strip() or not str(v).strip():
                raise ConfigError(f"'recode.{col}' must map text to text, e.g. {{CC: Credit Card}}; got "
                                  f"{k!r}: {v!r}." + (" YAML reads an unquoted Yes, No, On or Off as true or false: "
                                                     "quote it ('Yes')." if isinstance(k, bool) or isinstance(v, bool)
                                                     else ""))
        chained = sorted({str(k).strip() for k in mapping} & {str(v).strip() for v in mapping.values()})
        if chained:
            raise ConfigError(f"'recode.{col}' both recodes and targets {chained[0]!r}: map every spelling straight "
                              "to the one to use.")


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x == x


def _check_share(share) -> None:
    """``roi.share_of_passives_moved``: a fraction 0-1, or a range ``[low, high]`` with
    ``0 < low <= high <= 1`` (the ROI interval then carries the range)."""
    if isinstance(share, list | tuple):
        if not (len(share) == 2 and all(_is_number(x) for x in share) and 0 < share[0] <= share[1] <= 1):
            raise ConfigError(
                "'roi.share_of_passives_moved' as a range must be two numbers [low, high] with "
                f"0 < low <= high <= 1, e.g. [0.05, 0.15]; got {list(share)!r}.")
        return
    if not _is_number(share) or not 0 <= share <= 1:
        raise ConfigError("'roi.share_of_passives_moved' must be a fraction between 0 and 1 (e.g. 0.10), or a range "
                          f"[low, high] such as [0.05, 0.15]; got {share!r}.")


#: Spellings accepted for ``io.delimiter`` besides the character itself.
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
#: Encodings suggested when ``io.encoding`` is not one Python knows.
_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1", "iso-8859-15", "cp1250",
              "cp1251", "mac-roman", "cp437", "cp850"]


def _check_io(io: dict[str, Any]) -> None:
    """Normalise and check the ``io`` section (delimiter, decimal, encoding)."""
    import codecs

    delim = io["delimiter"]
    if delim is not None:
        delim = _DELIMITER_NAMES.get(str(delim).lower(), delim)
        if not (isinstance(delim, str) and len(delim) == 1 and delim not in "\"\r\n"):
            raise ConfigError(
                "'io.delimiter' must be one character such as ',', ';', '|' or tab (write \"\\t\" "
                f"or tab); got {io['delimiter']!r}."
            )
        io["delimiter"] = delim
    if io["decimal"] is not None:
        if io["decimal"] not in (".", ","):
            raise ConfigError(f"'io.decimal' must be '.' or ','; got {io['decimal']!r}.")
    enc = io["encoding"]
    if enc is not None:
        try:
            io["encoding"] = codecs.lookup(str(enc)).name
        except LookupError:
            close = difflib.get_close_matches(str(enc).lower(), _ENCODINGS, n=1, cutoff=0.5)
            raise ConfigError(
                f"'io.encoding' {enc!r} is not an encoding Python knows."
                + (f" Did you mean {close[0]!r}?" if close else
                   f" Common ones: {', '.join(_ENCODINGS)}.")
            ) from None


def _weighting_shorthand(user: Mapping[str, Any]) -> Mapping[str, Any]:
    """``weighting: none`` (or false / null) for ``weighting: {method: none}``."""
    w = user.get("weighting", {}) if isinstance(user, Mapping) else {}
    if w is None or w is False or (isinstance(w, str) and w.strip().lower() in ("none", "off", "raking")):
        method = "raking" if isinstance(w, str) and w.strip().lower() == "raking" else "none"
        return {**user, "weighting": {"method": method}}
    if isinstance(w, str):
        raise ConfigError(f"'weighting' must be none, raking or a mapping such as {{method: raking, by: [plan, region]}}; "
                          f"got {w!r}.")
    return user


def load_config(path: str | Path | Mapping[str, Any] | None = None) -> Config:
    """Load ``cx.yaml`` (or a mapping), merge it with :data:`DEFAULTS` and validate it.

    Parameters
    ----------
    path : str, Path, mapping or None
        A YAML file, an already-parsed mapping, or None for the defaults.

    Returns
    -------
    Config
        The applied configuration.

    Raises
    ------
    ConfigError
        Unknown key (with a "did you mean" hint), wrong type or out-of-range value.

    Examples
    --------
    >>> cfg = load_config({"roi": {"gross_margin": 0.4}})
    >>> cfg.roi["gross_margin"], cfg.roi["horizon_years"]
    (0.4, 3)
    """
    source = None
    if path is None:
        user: Mapping[str, Any] = {}
    elif isinstance(path, Mapping):
        user = path
    else:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {source!r} does not exist.")
        try:
            user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"Config file {source!r} is not valid YAML: {exc}") from None
        if not isinstance(user, Mapping):
            raise ConfigError(f"Config file {source!r} must hold a mapping of keys at the top level.")
    data = _merge(DEFAULTS, _weighting_shorthand(user), ())
    _check(data)
    return Config(data, source)
