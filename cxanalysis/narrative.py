"""Sentences and display tables for the notebooks, built from computed results.

Notebooks hold no logic: where a narrative cell states a number, it calls a function here, so
the number comes from the analysis, never typed by hand.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .fmt import label, listing, p_phrase, percent_pair, percents, score_span, segment_name, words
from .fmt import percent as fmt_percent
from .fmt import points as fmt_points
from .io import CleaningReport

__all__ = ["leave_out", "profile_caption", "clusters_sentence", "k_choice", "assumptions_table", "firth_sentence", "untargeted_clusters", "effects_summary", "warnings_block", "roi_summary", "roi_verdict", "break_even_summary", "retention_summary", "retention_title", "targeting_sentence", "targeting_summary", "cleaning_summary", "nps_summary", "segments_summary", "segment_churn", "cluster_churn", "metrics_summary", "roi_missing_summary", "spend_check", "spend_check_sentence", "trend_summary", "styled",
           "change_decomposition_sentence", "change_decomposition_summary", "sample_sentence", "md", "escape_markdown", "neutralise_csv", "safe_csv"]


def cleaning_summary(report: CleaningReport) -> str:
    """Markdown: rows in, rows out, and each cleaning rule with its count."""
    quarters = sorted({str(r["quarter"]) for r in (report.response or []) if r.get("quarter") is not None})
    over = (f" over the export's {len(quarters)} quarters ({quarters[0]} to {quarters[-1]}); the report "
            "quarter's own counts follow" if len(quarters) > 1 else "")
    lines = [f"**{report.rows_in:,} rows read, {report.rows_out:,} kept** "
             f"({report.rows_in - report.rows_out:,} dropped){over}."]
    if report.steps:
        lines.append("")
        lines += [f"- {s['rows_dropped']:,} dropped: {s['rule']} (e.g. {', '.join(s['example_ids'][:3])})"
                  for s in report.steps]
    else:
        lines.append(" No row was dropped.")
    for note in report.notes:
        lines.append(f"\n*Note:* {note}")
    return "\n".join(lines)


def nps_summary(row: pd.Series, label: str = "NPS") -> str:
    """Markdown sentence for one NPS row of :func:`cxanalysis.metrics.nps`."""
    return (f"**{label} = {row['nps']:.1f}** (likely range {row['ci_low']:.1f} to {row['ci_high']:.1f}, "
            f"{row['method']} interval) from {int(row['n']):,} respondents: "
            f"{row['promoters']:.0%} promoters, {row['passives']:.0%} passives, {row['detractors']:.0%} detractors.")


def segments_summary(table: pd.DataFrame, score: str = "NPS") -> str:
    """Markdown: how many segments differ from the rest, and the highest and lowest tested ones.

    Only segments large enough to be tested (``tested`` of :func:`cxanalysis.segments.profile`)
    are named as highest or lowest; when none is, the sentence says so. ``score`` names the
    score as the page does ("Net score (CSAT)" when it is not NPS).
    """
    if table.empty:
        return "No segment dimension is available in this export."
    tested = table["tested"].fillna(False).astype(bool) if "tested" in table else pd.Series(True, index=table.index)
    t = table[tested & table["nps"].notna()]
    n_small = int((~tested).sum())
    small = (f" {n_small} segment{'s are' if n_small != 1 else ' is'} too small to test and shown for "
             "information only." if n_small else "")
    if t.empty:
        return (f"No segment is large enough to be tested against the rest (all {len(table)} are below the "
                "minimum size), so none is named as highest or lowest.")
    differs = t[t["differs"].fillna(False).astype(bool)]
    hi = t.loc[t["nps"].idxmax()]
    lo = t.loc[t["nps"].idxmin()]
    m = len(t)
    if "p_value" in t:
        from .segments import one_test_keys

        m = len(set(one_test_keys(t.reset_index(drop=True), "p_value")))
    family = (f"testing all {len(t)} segments at once" if m == len(t) else
              f"the {m} tests of these {len(t)} segments at once: the two segments of a dimension cut in two are one test")
    return (f"{len(differs)} of {len(t)} tested segments have {'an' if score.startswith(('NPS', 'A', 'E', 'I', 'O', 'U')) else 'a'} {score} that "
            "differs from the rest of the customers "
            f"(at the 5% level, corrected for {family}).{small} Highest tested: "
            f"**{segment_name(hi['dimension'], hi['segment'])}** at {hi['nps']:.1f} (likely range {hi['ci_low']:.1f} to "
            f"{hi['ci_high']:.1f}); lowest: **{segment_name(lo['dimension'], lo['segment'])}** at {lo['nps']:.1f} "
            f"({lo['ci_low']:.1f} to {lo['ci_high']:.1f}).")


def segment_churn(table: pd.DataFrame, missing: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    """Markdown and rows: the segments whose churn rate differs from the rest of the customers'
    (``churn_differs`` of :func:`cxanalysis.segments.profile`: the pooled two-proportion z-test,
    Holm over the segments tested), highest churn first; the sentence names those that churn
    more and those that churn less, each with both rates. ``missing``
    (:func:`cxanalysis.segments.unsegmented`, corrected with the segments by
    :func:`cxanalysis.segments.churn_holm_together`) adds the respondents each dimension leaves
    out as one more segment of it, "no value". The rows (the columns a reader view shows, with
    ``direction``: "more" or "less" than the rest) are empty when none differs or the export has
    no churn. When the churn is over every customer (``customers`` in the table,
    :func:`cxanalysis.segments.profile` with ``others``) the rows count customers, not respondents."""
    counted = ""
    if missing is not None and len(missing) and "churn_p_holm" in missing:
        from .segments import missing_as_segments

        table = pd.concat([table, missing_as_segments(missing)], ignore_index=True)
        counted = (" (each dimension's customers without a value counted as one)" if "customers" in missing else
                   " (each dimension's respondents without a value counted as one)")
    text, rows = _churn_against_rest(table, "segment", lambda r: segment_name(r["dimension"], r["segment"]), counted)
    rows = rows.assign(direction=np.where(rows["churn_rate"] > rows["churn_rest"], "more", "less")) if len(rows) else rows
    size = "customers" if "customers" in rows else "n"  # over every customer: how many they are
    return text, rows[[c for c in ("dimension", "segment", size, "direction", "churn_rate", "churn_rate_ci_low",
                                   "churn_rate_ci_high", "churn_rest", "leavers_share", "nps", "ci_low", "ci_high")
                       if c in rows]]


def cluster_churn(profile: pd.DataFrame, *, circular: bool = False) -> tuple[str, pd.DataFrame]:
    """Markdown and rows, as :func:`segment_churn` for the clusters (``churn_differs`` of
    :attr:`cxanalysis.clusters.CustomerClusters.profile_`, Holm over the clusters); the rows are
    every cluster tested, highest churn first, so the table shows each one's churn interval. With
    two clusters each is the other's rest: the sentence reads one comparison, not two. Clusters
    cut on the CX score itself (``circular``) are said to restate the score's link with churn."""
    text, _ = _churn_against_rest(profile, "cluster", lambda r: str(r["name"]))
    if "churn_p_holm" not in profile:
        return text, profile.iloc[:0]
    rows = profile[profile["churn_p_holm"].notna()].sort_values("churn_rate", ascending=False)
    if len(rows) == 2:
        hi, lo = rows.iloc[0], rows.iloc[1]
        text = ("With two clusters each is the other's rest, so this is one comparison (a pooled two-proportion "
                f"z-test): **{hi['name']}** churns " + (
                    f"more than **{lo['name']}** beyond chance ({hi['churn_rate']:.1%} against {lo['churn_rate']:.1%})."
                    if bool(hi["churn_differs"]) else
                    f"{hi['churn_rate']:.1%} and **{lo['name']}** {lo['churn_rate']:.1%}, not different beyond chance."))
    if circular and len(rows):
        text += (" The clusters were cut on the CX score itself, so their churn differences partly restate the "
                 "score's link with churn; the summary's Where customers leave leaves them out.")
    if len(rows):  # every cluster tested is listed: one within chance says so
        beyond = rows["churn_differs"].fillna(False).to_numpy(bool)
        rows = rows.assign(direction=np.where(~beyond, "within chance",
                                              np.where(rows["churn_rate"] > rows["churn_rest"], "more", "less")))
    return text, rows[[c for c in ("name", "n", "direction", "churn_rate", "churn_rate_ci_low", "churn_rate_ci_high",
                                   "churn_rest", "leavers_share", "churn_p_holm") if c in rows]]


def _churn_against_rest(table: pd.DataFrame, noun: str, name, counted: str = "") -> tuple[str, pd.DataFrame]:
    """:func:`segment_churn` for ``noun`` ("segment" or "cluster"), each row named by ``name``;
    ``counted`` follows the count of groups tested, to say what it counts."""
    if table.empty or "churn_p_holm" not in table or table["churn_p_holm"].isna().all():
        no_churn = table.empty or "churn_rate" not in table or table["churn_rate"].isna().all()
        why = ("the export has no churn column." if no_churn else
               "no segment is large enough to test." if noun == "segment" else "the clusters were cut on churn itself.")
        return f"No {noun}'s churn is compared with the rest: {why}", table.iloc[:0]
    tested = table[table["churn_p_holm"].notna()]
    differs = tested[tested["churn_differs"].fillna(False).astype(bool)].sort_values("churn_rate", ascending=False)
    m = len(tested)
    head = (f"{len(differs)} of {m} tested {noun}s{counted} churn differently from the rest of the customers (at the 5% "
            f"level, corrected for testing all {m} at once; a pooled two-proportion z-test on each {noun} against "
            "every other customer).")
    if differs.empty:
        return head + f" Churn does not tell any {noun} apart beyond chance.", differs

    def named(rows, most=3):  # the table lists them all: the sentence names the first few
        text = "; ".join(f"**{name(r)}** ({r['churn_rate']:.1%} against {r['churn_rest']:.1%})"
                         for _, r in rows.head(most).iterrows())
        return text + (f"; and {len(rows) - most} more in the table" if len(rows) > most else "")

    more = differs[differs["churn_rate"] > differs["churn_rest"]]
    less = differs[differs["churn_rate"] < differs["churn_rest"]].sort_values("churn_rate")  # lowest first
    parts = ([f"More than the rest: {named(more)}."] if len(more) else []) + \
        ([f"Less than the rest: {named(less)}."] if len(less) else [])
    return head + " " + " ".join(parts), differs


def dimensions_sentence(config, skipped: dict[str, str]) -> str:
    """Markdown: the segment dimensions this run used (cx.yaml ``segments.dimensions``, by name),
    and those it could not use and why (``skipped`` of :func:`cxanalysis.segments.add_segments`).

    >>> from cxanalysis.config import load_config
    >>> dimensions_sentence(load_config({"segments": {"dimensions": ["region", "tenure_months"]}}), {})
    'Segmented by the dimensions configured (segments.dimensions in cx.yaml, or its defaults): Region and Tenure (months).'
    """
    used = [d for d in config.segments["dimensions"] if d not in skipped]
    text = (f"Segmented by the dimensions configured (segments.dimensions in cx.yaml, or its defaults): "
            f"{listing(label(d) for d in used)}." if used else "No configured segment dimension could be used.")
    if skipped:
        text += " " + metrics_summary({f"segment {k}": v for k, v in skipped.items()})
    return text


def metrics_summary(skipped: dict[str, str], table: pd.DataFrame | None = None, *,
                    none_skipped: str = "Every metric could be computed from this export.") -> str:
    """Markdown: what could not be computed and why (``none_skipped`` when nothing was: the pages
    that list other parts say what those are); and, when the MRR rows of ``table``
    (:func:`cxanalysis.metrics.exact_metrics`) are a census of the whole base, that they are, and
    why they have no interval."""
    # the metric NPS is the 0-10 recommend question's, whatever net score the pages call "NPS"
    named = {k: ("NPS of the 0-10 recommend question" if k == "NPS" else k) for k in skipped}
    text = (none_skipped if not skipped else
            "Not computed (column absent): " + "; ".join(f"**{named[k]}** ({v})" for k, v in skipped.items()) + ".")
    if table is not None and len(table):
        census = table[(table["metric"] == "MRR (total)") & table["method"].astype(str).str.startswith("census of")]
        if len(census) and "every one of whom answered" in str(census["method"].iloc[0]):
            text += (f" MRR adds up every customer of the quarter with an MRR ({int(census['n'].iloc[0]):,}), every "
                     "one of whom answered the survey: a census of the business's size, so it and MRR per customer "
                     "have no interval. The other averages keep theirs, even where they read the same column: they "
                     "stand for what customers like these spend or do, which one quarter only estimates.")
        elif len(census):
            text += (f" MRR adds up every customer of the quarter with an MRR ({int(census['n'].iloc[0]):,}), "
                     "those who did not answer the survey included: a census, so it has no interval. The other "
                     "figures keep their 95% intervals, over every customer too for the CRM's facts (the method "
                     "column says whose each is).")
    return text


def spend_check_sentence(calibration: pd.DataFrame) -> str | None:
    """The verdict of :meth:`cxanalysis.models.OutcomeModels.spend_calibration`, in words: None
    when no tenth of predicted spend is missed, else how many and by how much, and what it means
    for the spend effects."""
    missed = calibration[calibration["missed"]]
    if missed.empty:
        return None
    gaps = (missed["ratio"] - 1) * 100
    lo, hi = float(gaps.min()), float(gaps.max())
    span = (f"from {abs(lo):.0f}% below to {hi:.0f}% above" if lo < 0 < hi else
            f"{abs(lo):.0f}% to {abs(hi):.0f}% {'below' if hi < 0 else 'above'}" if lo != hi else
            f"{abs(lo):.0f}% {'below' if lo < 0 else 'above'}")
    return (f"The spend model misses observed spend in {len(missed)} of {len(calibration)} tenths of predicted spend "
            f"({span} the prediction, beyond chance): spend depends on something the covariates do not carry, or "
            "in a shape the model does not have. The spend effects are approximate; read them with the diagnostics "
            "at the foot of this page.")


def spend_check(models) -> str | None:
    """:func:`spend_check_sentence` of a fitted :class:`cxanalysis.models.OutcomeModels` (None
    without a spend model)."""
    return spend_check_sentence(models.spend_calibration()) if "spend" in models.outcomes_ else None


def roi_missing_summary(missing: dict[str, str]) -> str:
    """Markdown: whether the ROI page can say anything (:func:`cxanalysis.roi.missing_inputs`):
    without a model it needs, the page says so once, at its top, before the sections that each
    skip for that reason."""
    if not missing:
        return "The spend and churn models the ROI needs were fitted."
    why = "; ".join(f"a {o} model ({reason})" for o, reason in missing.items())
    return (f"**No ROI on this export.** It needs {why}, so the page's ROI sections are skipped for that "
            "reason and left out: the assumptions above are those it would use.")


def unsegmented_summary(table: pd.DataFrame, score: str = "NPS") -> str:
    """Markdown: the respondents each dimension's segments leave out (its value missing), and how
    they compare with the rest (:func:`cxanalysis.segments.unsegmented`); "" when none is."""
    lines = []
    census = "customers" in table
    for r in table.itertuples():
        dim = words(str(r.dimension).removesuffix("_band"))
        who = (f"{r.customers:,} customers ({fmt_percent(r.share)} of all, {r.n:,} of them respondents)" if census
               else f"{r.n:,} respondents ({fmt_percent(r.share)})")
        text = (f"- **{who} have no {dim}** and are in none of its segments: "
                f"{'the respondents’' if census else 'their'} {score} is {r.nps:.1f} (likely range {r.nps_ci_low:.1f} "
                f"to {r.nps_ci_high:.1f}) against {r.nps_rest:.1f} for the others")
        if pd.notna(r.churn):
            text += (f", and {fmt_percent(r.churn)} of them churned ({fmt_percent(r.churn_ci_low)} to "
                     f"{fmt_percent(r.churn_ci_high)}) against {fmt_percent(r.churn_rest)}")
            differs = getattr(r, "churn_differs", pd.NA)
            if pd.notna(differs):  # tested: Holm over these groups and the segments together
                text += (f": {'more' if r.churn > r.churn_rest else 'less'} than the others beyond chance, allowing "
                         "for the number of groups compared" if bool(differs) else
                         ": not different beyond chance, allowing for the number of groups compared")
        lines.append(text + ".")
    if not lines:
        return ""
    return (f"Segments cover only the {'customers' if census else 'respondents'} with a value; those without one are "
            "in no segment of the table below:\n" + "\n".join(lines))


def segment_base_sentence(table: pd.DataFrame, others: pd.DataFrame | None = None) -> str:
    """Markdown: whose figures a segment's columns are when its CRM figures are over every
    customer (``customers`` in a :func:`cxanalysis.segments.profile` table), how unevenly its
    customers answered (the lowest and highest response rates, ``n / customers``, of the
    segments of at least 30 customers), and the numeric dimensions whose bands ``others``
    (:func:`cxanalysis.segments.segment_others`) says were cut on every customer; "" when the
    figures are the respondents'.

    >>> t = pd.DataFrame({"dimension": ["plan"] * 2, "segment": ["Basic", "Pro"], "n": [30, 80],
    ...                   "customers": [300, 100], "share": [0.6, 0.2]})
    >>> segment_base_sentence(t)[:118]
    'Spend, churn, returns and lifetime value are over **every customer** of each segment (of 500 customers in the quarter)'
    >>> segment_base_sentence(t).split("unevenly: ")[1][:48]
    'from 10% of Plan: Basic to 80% of Plan: Pro. A s'
    """
    if "customers" not in table or not len(table):
        return ""
    total = table["customers"].iloc[0] / table["share"].iloc[0]  # share: of every customer
    text = (f"Spend, churn, returns and lifetime value are over **every customer** of each segment "
            f"(of {total:,.0f} customers in the quarter), unweighted, as on page 03: the CRM knows them whether or not "
            "they answered. The score, its categories, CSAT and health are the respondents' (weighted to the base when "
            "they are). A segment's size is therefore given twice: its customers and its respondents.")
    sized = table[table["customers"] >= 30]
    if len(sized) >= 2:
        rate = sized["n"] / sized["customers"]
        lo, hi = sized.loc[rate.idxmin()], sized.loc[rate.idxmax()]
        if rate.max() >= 1.5 * rate.min():
            text += (f" Segments' customers answered the survey unevenly: from {fmt_percent(rate.min(), 0)} of "
                     f"{segment_name(lo['dimension'], lo['segment'])} to {fmt_percent(rate.max(), 0)} of "
                     f"{segment_name(hi['dimension'], hi['segment'])}. A segment's score stands for its customers only "
                     "as far as those who answered are like those who did not; the fewer answered, the more it rests on "
                     "that.")
    cut = (others.attrs.get("census_bands") or []) if others is not None else []
    if cut:
        names = [label(d) for d in cut]
        both = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        text += (f" {both}{'' if len(names) == 1 else ' are each'} cut into bands of equal shares of every customer, "
                 "respondents or not, so each band holds about as many customers (tied values aside) and the values "
                 "its label names are its customers'; its respondents can be far fewer or more.")
    return text


def score_note(config) -> str:
    """Markdown: what "NPS" means on these pages when it is not the standard NPS (another score,
    or a 0-10 score cut elsewhere than 9-10 / 7-8 / 0-6); "" when it is.

    Examples
    --------
    >>> from cxanalysis.config import load_config
    >>> score_note(load_config())
    ''
    >>> score_note(load_config({"categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3}}))[:88]
    "**On these pages, 'NPS' is the net score of CSAT**: the share of promoters (5) minus the"
    """
    cats = config.categories
    score, top, bottom = cats["score"], cats["promoter_min"], cats["detractor_max"]
    lo, hi = config.scales.get(score, [None, None])
    if score == "nps_score" and (top, bottom, lo, hi) == (9, 6, 0, 10):
        return ""
    promoters = score_span(top, hi) if hi is not None else f"{top:g} and above"
    detractors = score_span(lo, bottom) if lo is not None else f"{bottom:g} and below"
    passives = f", passives {score_span(bottom + 1, top - 1)}" if top - bottom > 1 else ""
    what = "the net score of " + words(score) if score != "nps_score" else "computed with non-standard cut-offs"
    return (f"**On these pages, 'NPS' is {what}**: the share of promoters ({promoters}) minus the share of "
            f"detractors ({detractors}){passives}, as configured (categories in cx.yaml). It is NPS's formula "
            "on other categories, so it is not comparable with an NPS benchmark.")


#: Page 05's sensitivity when a moved passive is worth nothing or less: the ROI chart would read backwards.
NEGATIVE_BENEFIT_SENSITIVITY = (
    "No ROI chart: a moved passive is worth nothing or less here, so the ROI (benefit over cost, less 1) would "
    "rise with the program's cost and read backwards. The table gives the net value at each end of every "
    "assumption, which falls as it should.")


def roi_skipped(missing: Mapping[str, str]) -> str:
    """Markdown for a section of the ROI page when the ROI could not be computed: why, in one line
    (``missing``: outcome -> reason, :func:`cxanalysis.roi.missing_inputs`)."""
    why = "; ".join(f"it needs a {o} model: {reason}" for o, reason in missing.items())
    return f"*Skipped: the ROI could not be computed from this export; {why}.*"


def profile_caption(table: pd.DataFrame) -> str:
    """Markdown: what page 02's profile columns mean (a :func:`cxanalysis.segments.profile`
    table), for those the export gives a value of: first those the page's two tables show (the
    profiles, :func:`cxanalysis.segments.profile_columns`, and the lifetime values when there are
    any), then those only its CSV holds. A column the export lacks is not defined; "" when none is.

    >>> profile_caption(pd.DataFrame({"spend": [np.nan], "churn_rate": [0.1], "health": [50.0]}))
    'Churn is the share who left in the quarter. The full table (CSV) adds health (the configured 0-100 composite).'
    """
    from .segments import profile_columns

    has = lambda c: c in table and table[c].notna().any()  # noqa: E731
    shown = set(profile_columns(table)) | ({"spend", "churn_rate", "clv"} if has("clv") else set())
    words = {"spend": "spend is per quarter (a monthly or yearly figure in the export is converted: spend_period in "
                      "cx.yaml)",
             "churn_rate": "churn is the share who left in the quarter",
             "clv": "CLV, below, is margin x spend / churn (see page 03 for its definition)",
             "returns_rate": "returns rate (returns per order)",
             "health": "health (the configured 0-100 composite)"}
    seen = [c for c in ("spend", "churn_rate", "clv") if has(c) and c in shown]
    extra = [c for c in ("spend", "returns_rate", "health") if has(c) and c not in shown]
    text = "; ".join(words[c] for c in seen)
    out = f"{text[:1].upper()}{text[1:]}." if text else ""
    if extra:
        more = listing(words[c] if c != "spend" else "spend (per quarter)" for c in extra)
        out += f" The full table (CSV) adds {more}."
    return out.strip()


def segment_clv_skipped(table: pd.DataFrame) -> str:
    """Markdown for page 02's lifetime-value section when no segment has a CLV: which of its two
    inputs (spend, churn) the export lacks, so the section is never an empty heading.

    >>> segment_clv_skipped(pd.DataFrame({"spend": [np.nan], "churn_rate": [0.1]}))
    '*Skipped: no lifetime value by segment; the export has no spend to compute it from.*'
    """
    lacks = [name for col, name in (("spend", "spend"), ("churn_rate", "churn"))
             if col not in table or table[col].isna().all()]
    if lacks:
        return f"*Skipped: no lifetime value by segment; the export has no {' and no '.join(lacks)} to compute it from.*"
    return "*Skipped: no lifetime value by segment; no segment has customers with both spend and churn.*"


def trend_summary(table: pd.DataFrame, year: dict | None = None, score: str = "NPS") -> str:
    """Markdown: the latest quarter-over-quarter change and its significance, then the change over
    the year (:func:`cxanalysis.trends.year_change`) when three or more quarters are loaded;
    ``score`` names the net score (:func:`cxanalysis.fmt.score_name`)."""
    if len(table) < 2:
        return "Only one quarter is loaded: no trend to show yet. Earlier quarters' exports add it."
    from .summary import year_change_sentence

    last, prev = table.iloc[-1], table.iloc[-2]
    sig = "statistically significant" if last["p_value"] < 0.05 else "not statistically significant"
    text = (f"{score} moved from {prev['nps']:.1f} in {prev['quarter']} to {last['nps']:.1f} in {last['quarter']}: "
            f"a change of {last['change']:+.1f} points (likely range {last['change_ci_low']:+.1f} to "
            f"{last['change_ci_high']:+.1f}, {p_phrase(last['p_value'])}), {sig} at the 5% level.")
    if (over_year := year_change_sentence(year, score)):
        text += f" {over_year} Small steps that are each within chance can add up to a change beyond chance."
    return text + churn_trend_sentence(table)


def churn_trend_sentence(table: pd.DataFrame) -> str:
    """Markdown: the latest quarter's churn change (:func:`cxanalysis.trends.quarterly`'s
    ``churn_change`` and ``churn_p_value``) and any earlier step beyond chance; "" without churn.

    >>> t = pd.DataFrame({"quarter": ["2026Q1", "2026Q2", "2026Q3"], "churn_rate": [0.12, 0.106, 0.105],
    ...                   "churn_change": [None, -0.014, -0.001], "churn_p_value": [None, 0.005, 0.9]})
    >>> churn_trend_sentence(t)
    ' Churn went from 10.6% in 2026Q2 to 10.5% in 2026Q3 (-0.1 percentage points, p = 0.900), within chance. Earlier, beyond chance: 2026Q1 to 2026Q2 (-1.4 pp, p = 0.005).'
    """
    if "churn_change" not in table or len(table) < 2 or pd.isna(table["churn_change"].iloc[-1]):
        return ""
    last, prev = table.iloc[-1], table.iloc[-2]
    p = last["churn_p_value"]
    verdict = "within chance" if not (p is not None and p < 0.05) else "beyond chance at the 5% level"
    before, after = percent_pair(prev["churn_rate"], last["churn_rate"], 1, gap=100 * last["churn_change"])
    text = (f" Churn went from {before} in {prev['quarter']} to {after} in "
            f"{last['quarter']} ({100 * last['churn_change']:+.1f} percentage points, {p_phrase(p)}), {verdict}.")
    earlier = [(table["quarter"].iloc[i - 1], r) for i, r in enumerate(table.iloc[:-1].itertuples()) if i > 0
               and r.churn_p_value is not None and not pd.isna(r.churn_p_value) and r.churn_p_value < 0.05]
    if earlier:
        text += " Earlier, beyond chance: " + "; ".join(
            f"{a} to {r.quarter} ({100 * r.churn_change:+.1f} pp, {p_phrase(r.churn_p_value)})" for a, r in earlier) + "."
    return text


def change_decomposition_sentence(row: dict, score: str = "NPS") -> str:
    """One dimension of :func:`cxanalysis.trends.nps_change_decomposition`, in words (``score``
    names the net score).

    A part whose 95% interval includes 0 is "no detectable" part, whatever its estimate. Points
    are signed with one decimal, two where a non-zero value would round to 0 ("+0.04", never
    "+0.0" for a bound that decides the verdict, nor "-0.0").
    """
    dim = words(row["dimension"])
    mix, lo, hi = row["mix"], row["mix_ci_low"], row["mix_ci_high"]
    if lo > 0 or hi < 0:
        more = "more" if row["top_mix_share_now"] > row["top_mix_share_before"] else "fewer"
        mix_text = (f"{_pts(mix)} points come from the changed mix of {dim} (likely range {_pts(lo)} to {_pts(hi)}), "
                    f"mostly {more} {row['top_mix_segment']} customers ({row['top_mix_share_before']:.0%} of "
                    f"{row.get('shares_of', 'respondents')} then, {row['top_mix_share_now']:.0%} now)")
    else:
        mix_text = f"the changed mix of {dim} explains no detectable part of it ({_pts(mix)}, likely range {_pts(lo)} to {_pts(hi)})"
    w, wlo, whi = row["within"], row["within_ci_low"], row["within_ci_high"]
    if wlo > 0 or whi < 0:
        within_text = f"within each {dim}, {score} moved {_pts(w)} points (likely range {_pts(wlo)} to {_pts(whi)})"
    else:
        within_text = f"within each {dim}, {score} did not detectably change ({_pts(w)}, likely range {_pts(wlo)} to {_pts(whi)})"
    return f"By {dim}: {mix_text}; {within_text}."


def _pts(x: float) -> str:
    """Signed points for the decomposition: one decimal, two where a non-zero value rounds to 0."""
    return fmt_points(x, 2 if x != 0 and round(x, 1) == 0 else 1)


def change_decomposition_summary(decomposition: dict, score: str = "NPS") -> str:
    """Markdown: the NPS change since the previous quarter, split by each dimension into customer
    mix and change within segments (:func:`cxanalysis.trends.nps_change_decomposition`);
    ``score`` names the net score."""
    d = decomposition
    lines = [f"{score} moved **{d['change']:+.1f} points** from {d['from']} to {d['to']} (likely range {d['ci_low']:+.1f} to "
             f"{d['ci_high']:+.1f}). Each line splits that change two ways, *mix* (more or fewer customers of kinds "
             f"whose {score} is higher or lower than the rest) and *within* (a real change inside the segments); the two add up to the "
             "change exactly."]
    lines += [f"- {change_decomposition_sentence(r, score)}" for r in d["by"]]
    if not d["by"]:
        lines.append("- No segment dimension is available to split the change.")
    from .design import MAY_FOLLOW_THE_SCORE

    follow = [words(r["dimension"]) for r in d["by"] if r["dimension"] in MAY_FOLLOW_THE_SCORE]
    if follow:
        named = listing(follow)
        lines.append(f"\n{named[0].upper()}{named[1:]} may themselves follow the experience: a change in their "
                     "mix can be part of the improvement rather than an explanation of it.")
    return "\n".join(lines)


def styled(table: pd.DataFrame, digits: int = 2, percent: tuple[str, ...] = (), *,
           columns: Sequence[str] | None = None, money: Sequence[str] = (), currency: str | None = None,
           max_columns: int = 8, csv: str | os.PathLike | None = None, href: str | None = None,
           rows: int | None = None, headers: Mapping[str, str] | None = None, pp: Sequence[str] = (),
           unit: str | None = None):
    """The reader view of a table, through the one formatting layer (:func:`cxanalysis.fmt.table`).

    Headers in words, shares in %, differences of shares in ``pp`` columns in percentage points, money with ``currency``'s symbol, thousands separators,
    p-values "< 0.001", "–" for missing, lists joined by commas; at most ``max_columns`` columns
    (``columns`` chooses them; ``headers`` renames where the usual words would mislead), the full
    table written to ``csv`` and linked beside the view; ``unit`` names a column giving each row's
    unit (shares in %, money with its symbol, row by row).
    Full precision stays in the data. Every text cell and every header is HTML-escaped: category
    values, column names and comments come from the export and are shown as text, never run as
    markup. The table is marked ``tex2jax_ignore`` so that JupyterLab's MathJax leaves a ``$``
    in a plan name as typed, and ``cx-table`` for the page's CSS.
    """
    from . import fmt

    return fmt.table(table, columns=columns, max_columns=max_columns, percent=percent, money=money, pp=pp,
                     currency=currency, digits=digits, csv=csv, href=href, rows=rows, headers=headers, unit=unit)


#: the rows of :meth:`cxanalysis.roi.Assumptions.to_frame`, in its order, and how each value reads
_ASSUMPTION_KINDS = {"gross_margin": "percent", "cost_per_return": "money", "discount_rate": "percent",
                     "horizon_years": "number", "program_cost_per_year": "money", "team_cost_per_year": "money",
                     "share_of_passives_moved": "percent", "customers_moved": "int"}


def assumptions_table(assumptions, *, currency: str | None = None):
    """The ROI assumptions (:meth:`cxanalysis.roi.Assumptions.to_frame`) with each value in its own
    unit: shares and rates in %, costs in ``currency``, a range as "5.0% to 15.0%"."""
    from . import fmt

    frame = assumptions.to_frame()
    shown = []
    for key, value in zip(_ASSUMPTION_KINDS, frame["value"], strict=True):
        kind = _ASSUMPTION_KINDS[key]
        own = getattr(assumptions, key)
        if not ((own is None and pd.isna(value)) or _same(own, value)):  # to_frame changed its rows: show as is
            shown.append(fmt.format_value(value, "text"))
            continue
        value = own
        if key == "customers_moved" and value is None:  # no count given: the share above decides
            shown.append("not set: the share of passives moved is used")
        elif isinstance(value, list | tuple):
            lo, hi = value
            shown.append(fmt.format_value(lo, kind, currency=currency) if lo == hi else
                         fmt.interval(lo, hi, kind, currency=currency))
        elif kind == "number":
            shown.append(fmt.number(value, 0) if float(value).is_integer() else fmt.number(value, 2))
        elif kind == "money" and value is not None:
            shown.append(fmt.money(value, currency, decimals=0 if float(value).is_integer() else 2))
        else:
            shown.append(fmt.format_value(value, kind, currency=currency))
    return fmt.table(frame.assign(value=shown))


def _same(a, b) -> bool:
    try:
        return bool(np.all(np.asarray(a, dtype=float) == np.asarray(b, dtype=float)))
    except (TypeError, ValueError):
        return a == b


#: Markdown syntax that export text could use to build a link, an image, a code span or math
#: (JupyterLab typesets ``$...$``): written as character references, which markdown shows as
#: the character and never parses as syntax.
_MD_REFERENCES = str.maketrans({"[": "&#91;", "]": "&#93;", "\\": "&#92;", "`": "&#96;", "$": "&#36;"})


def escape_markdown(text: str) -> str:
    """Markdown text safe to render: HTML escaped, and no link, image, code span or math.

    The one escaping rule for sentences: :func:`html.escape` (so ``<img onerror=...>`` in a plan
    name is shown, not run), then ``[ ] \\ ` $`` as character references, so that export text
    such as ``[x](javascript:...)`` cannot form a link or an image. Emphasis (``**``) and lists
    (``- ``) written by the sentence functions are left intact.

    Examples
    --------
    >>> escape_markdown("**plan = <b>Gold</b>** [x](javascript:alert(1))")
    '**plan = &lt;b&gt;Gold&lt;/b&gt;** &#91;x&#93;(javascript:alert(1))'
    """
    return html.escape(str(text), quote=False).translate(_MD_REFERENCES)


def md(text: str):
    """An :class:`IPython.display.Markdown` of ``text`` escaped by :func:`escape_markdown`.

    Notebooks display every computed sentence through this, never through ``Markdown`` directly.
    """
    from IPython.display import Markdown

    return Markdown(escape_markdown(text))


#: The display metadata key with which a page asks the renderer to leave out the cells of given
#: tags (:func:`leave_out`; :func:`cxanalysis.report.leave_out_cells`).
LEAVE_OUT_KEY = "cxanalysis_leave_out"


class _LeaveOut:
    """A display of nothing that carries, in its metadata, the cell tags to leave out."""

    def __init__(self, tags: Sequence[str]):
        self.tags = list(tags)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": ""}, {LEAVE_OUT_KEY: self.tags}

    def __repr__(self) -> str:
        return f"leave_out({', '.join(map(repr, self.tags))})"


def leave_out(*tags: str) -> _LeaveOut:
    """Ask the page's renderer to leave out every cell tagged with one of ``tags``.

    For the method text of a section whose analysis was skipped: the page then says in one line
    what was skipped and why, not a paragraph on how a table it does not show was computed. The
    notebook still runs every cell (its skips reach ``results.json``); only the rendered page
    changes. Display it: ``display(narrative.leave_out("roi"))``.
    """
    return _LeaveOut(tags)


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral_cell(value):
    # a lone sign ("+", "-": a driver's slope) holds no formula: prefixed, it would read "'+"
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START) and value not in ("+", "-"):
        return "'" + value
    return value


def neutralise_csv(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cannot run as a spreadsheet formula.

    Following OWASP's CSV-injection advice, a text cell (or column name) starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single quote, which
    spreadsheets show and do not evaluate. Numbers stay numbers: a negative spend is not text; so
    does a lone sign ("+", "-"), which can hold no formula.

    Examples
    --------
    >>> neutralise_csv(pd.DataFrame({"plan": ["=1+1", "Gold"], "spend": [-5.0, 2.0]}))
        plan  spend
    0  '=1+1   -5.0
    1   Gold    2.0
    """
    out = table.copy()
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            out[c] = col.map(_neutral_cell)
    out.columns = [_neutral_cell(c) for c in out.columns]
    out.index = out.index.map(_neutral_cell)
    return out


def safe_csv(table: pd.DataFrame, path: str | os.PathLike, **to_csv) -> None:
    """Write ``table`` as CSV for people to open in a spreadsheet, formulas neutralised.

    Use it for every table offered as a download; ``to_csv`` options are passed on
    (``index=False`` unless given). The file is for reading, not for loading back: a cell that
    started with ``-`` now starts with ``'-``.
    """
    to_csv.setdefault("index", False)
    neutralise_csv(table).to_csv(path, **to_csv)


def warnings_block(warnings: list[str] | str | None) -> str:
    """Markdown call-out of what a reader must know before trusting a table (one warning may be
    given alone; None and empty ones are left out)."""
    warnings = [w for w in ([warnings] if isinstance(warnings, str) else warnings or []) if w]
    if not warnings:
        return ""
    return "**Read before using these numbers:**\n\n" + "\n".join(f"- {w}" for w in warnings)


def effects_summary(effects: pd.DataFrame) -> str:
    """Markdown: one sentence per effect, with the CI and the E-value, plus the estimand.

    An effect whose interval includes no effect reads "no detectable difference (95% CI ...)"
    (:func:`cxanalysis.summary.effect_sentence`). A flagged effect (separation: penalised fit)
    reads "(indicative: separation)" and gets no E-value, which would lend it a precision it
    does not have.
    """
    from .summary import effect_sentence

    lines = []
    for r in effects[effects["contrast"] != "per_point"].itertuples():
        flagged = bool(getattr(r, "flagged", False))
        s = effect_sentence(r.outcome, r.contrast, {"estimate": r.estimate, "ci_low": r.ci_low,
                                                    "ci_high": r.ci_high, "scale": r.scale, "flagged": flagged,
                                                    "baseline": getattr(r, "baseline", None),
                                                    "counterfactual": getattr(r, "counterfactual", None)})
        ev = ""
        evalue, evalue_ci = getattr(r, "evalue", float("nan")), getattr(r, "evalue_ci", float("nan"))
        if not flagged and pd.notna(evalue) and pd.notna(evalue_ci):
            ev = f" E-value {evalue:.2f} (interval limit {evalue_ci:.2f})."
        why = getattr(r, "flag_reason", "") if flagged else ""
        why = why if not why or why.endswith(".") else why + "."
        lines.append(f"- {s}{ev}" + (f" Why flagged: {why}" if why else ""))
    if any("E-value" in line for line in lines):
        lines.append("\nThese are associations adjusted for the covariates, not proven causes (see \"Correlation is "
                     "not causation\" below). An E-value is how strong a risk-ratio association an unmeasured "
                     "confounder would need with both the CX category and the outcome to explain the effect away "
                     "(the interval limit: to move its interval to no effect); values near 1 mean fragile "
                     "conclusions.")
    return "\n".join(lines)


def adjustment_summary(table: pd.DataFrame) -> str:
    """Markdown: each promoter effect as reported and adjusted also for the columns the experience
    may change (:func:`cxanalysis.models.adjustment_sensitivity`), and how to read the pair."""
    from .summary import effect_sentence

    added = listing(words(c) for c in table.attrs.get("added", []))
    lines = [f"**Adjusted also for {added}** (left out of the models above because the experience may change "
             "them; a reader may see them as confounders instead):"]
    for r in table.itertuples():
        adj = effect_sentence(r.outcome, "promoter_vs_passive", {"estimate": r.estimate_adj, "ci_low": r.ci_low_adj,
                                                                 "ci_high": r.ci_high_adj, "scale": r.scale})
        reported = (f"{(r.estimate - 1) * 100:+.0f}%" if r.scale == "ratio" else f"{r.estimate:+.1f} pp")
        lines.append(f"- {adj} As reported above: {reported}.")
    n = int(table["n_adj"].iloc[0])
    lines.append(f"\nRefitted on {n:,} respondents. The reported figure includes any part of the effect that works "
                 f"through {added}; the adjusted one leaves it out, or removes their confounding if they are causes "
                 "rather than consequences. When the two agree, the choice does not decide the finding.")
    return "\n".join(lines)


def curves_sentence(knots: Mapping[str, Sequence[float]]) -> str:
    """How the numeric covariates entered the models: as curves with these knots (or none did).

    Examples
    --------
    >>> curves_sentence({"tenure_months": (1.0, 8.0, 21.0, 61.0)}).split(": ", 1)[1]
    "tenure (months) with knots at 1, 8, 21 and 61. A curve's linear term and bends are read together, never one by one."
    """
    if not knots:
        return "No numeric covariate is adjusted for as a curve (none has ten or more distinct values)."
    parts = [f"{words(c)} with knots at {listing(f'{t:,.4g}' for t in ts)}" for c, ts in knots.items()]
    return ("Numeric covariates are adjusted for as smooth curves (restricted cubic splines, straight beyond the outer "
            f"knots), not straight lines: {'; '.join(parts)}. A curve's linear term and bends are read together, "
            "never one by one.")


#: An interval whose ends differ by more than this factor says little about a ratio's size.
WIDE_RATIO = 100.0


def outcomes_sentence(fitted, skipped: dict[str, str]) -> str:
    """Markdown: which of the outcomes the page's method text describes were modelled on this
    export (``fitted``: the outcome names, e.g. ``OutcomeModels.outcomes_``) and why the others
    were not (``skipped``: ``OutcomeModels.skipped_``; a contrast's key, "churn.promoter_vs_passive",
    is left to the warnings), so a reader of an export without spend is not left looking for it.

    Examples
    --------
    >>> outcomes_sentence(["churn"], {"spend": "no spend column", "returns": "no returns or orders column"})
    '**Modelled on this export:** churn. Not modelled: spend (no spend column); returns (no returns or orders column).'
    """
    fitted = [str(o) for o in fitted]
    absent = {k: v for k, v in skipped.items() if "." not in k}
    if not fitted:
        return "**No outcome could be modelled on this export:** " + "; ".join(f"{k} ({v})" for k, v in absent.items()) + "."
    text = f"**Modelled on this export:** {listing(fitted)}."
    return text + (" Not modelled: " + "; ".join(f"{k} ({v})" for k, v in absent.items()) + "." if absent else "")


def baseline_untested(coefficients: pd.DataFrame) -> pd.DataFrame:
    """The coefficient table (:meth:`cxanalysis.models.OutcomeModels.coefficients`) as the page
    shows it: the intercept's p-value is left empty. The baseline is the expected value (or odds)
    of a customer at every reference level, not a comparison; its test, that this value is 1, asks
    nothing a reader wants answered, and "< 0.001" beside it reads as a finding."""
    out = coefficients.copy()
    out.loc[out["term"] == "Intercept", "p_value"] = np.nan
    return out


def firth_sentence(coefficients: pd.DataFrame) -> str:
    """What the coefficient table's Firth rows mean, or "" when no fit fell back to Firth's
    penalised likelihood. A row whose interval spans more than a ``WIDE_RATIO``-fold range is
    named (the intercept, a baseline rather than a comparison, is not): its ratio is finite only
    because of the penalty.

    Examples
    --------
    >>> t = pd.DataFrame({"outcome": ["churn", "churn"], "label": ["Detractor (vs passive)", "Plan: Pro"],
    ...                   "ratio_ci_low": [414.3, 0.15], "ratio_ci_high": [353469.0, 0.24],
    ...                   "ci_method": ["profile penalised likelihood"] * 2})
    >>> firth_sentence(t).split(". ")[1]
    'In churn, Detractor (vs passive) has an interval spanning more than a 100-fold range: the data say little about its size, which is finite only because of the penalty'
    """
    firth = coefficients[coefficients["ci_method"].isin(["profile penalised likelihood", "Wald (model-based)"])]
    if firth.empty:
        return ""
    outcomes = listing(words(o) for o in dict.fromkeys(firth["outcome"]))
    text = (f"The {outcomes} model{'s' if firth['outcome'].nunique() > 1 else ''} fell back to Firth's penalised "
            "likelihood because of separation (a group in which nobody, or everybody, churned), so "
            + ("their" if firth["outcome"].nunique() > 1 else "its") + " intervals come from the penalised likelihood.")
    if "term" in firth:  # the baseline is no comparison: its width is not the point
        firth = firth[firth["term"] != "Intercept"]
    lo, hi = firth["ratio_ci_low"].to_numpy(float), firth["ratio_ci_high"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wide = firth[np.isfinite(hi / lo) & (hi / lo > WIDE_RATIO) | (lo <= 0)]
    for outcome, part in wide.groupby("outcome", sort=False):
        many = len(part) > 1
        text += (f" In {words(outcome)}, {listing(part['label'])} ha{'ve' if many else 's'} "
                 f"{'intervals' if many else 'an interval'} "
                 f"spanning more than a {WIDE_RATIO:,.0f}-fold range: the data say little about "
                 f"{'their sizes' if many else 'its size'}, which {'are' if many else 'is'} finite only because of the "
                 "penalty")
        text += "."
    if len(wide):
        text += " Read such a row only for its direction, and only where its whole interval is on one side of 1."
    return text


def estimand_list(effects: pd.DataFrame) -> str:
    """Markdown bullets, one per effect: what it estimates (``estimand`` of
    :meth:`cxanalysis.models.OutcomeModels.effects`), headed in words ("Spend, promoters vs
    passives"; "Churn, per point of the score")."""
    from .fmt import label

    def head(outcome: str, contrast: str) -> str:
        if contrast == "per_point":
            return f"{label(outcome)}, per point of the score"
        a, _, b = str(contrast).partition("_vs_")
        return f"{label(outcome)}, {a}s vs {b}s" if b else f"{label(outcome)}, {contrast}"

    return "\n".join(f"- **{head(r.outcome, r.contrast)}**: {r.estimand}" for r in effects.itertuples())


def _pct(x: float | None) -> str:
    from .fmt import percent

    return percent(x, 0) if x is not None and pd.notna(x) and abs(x) != float("inf") else "n/a"


def _money(x: float | None, currency: str | None = None) -> str:
    from .fmt import money

    return money(x, currency, missing="n/a")


def targeting_sentence(best: dict, overall_value: float, overall_ci: tuple[float, float], *,
                       currency: str | None = None, n_compared: int | None = None, n_clusters: int = 0,
                       clusters_left_out: Mapping[str, str] | None = None) -> str:
    """Where a moved passive is worth most, with its interval against the overall value per passive
    (amounts in ``currency``, :func:`cxanalysis.fmt.money`).

    With the difference from every passive (``diff_vs_all`` and its intervals from
    :func:`cxanalysis.roi.by_segment`), the segment is "singled out" only when the difference's
    interval at Bonferroni's level over the ``n_compared`` segments lies above 0 (that wider range
    is quoted beside the claim): the best of many segments is always ahead by chance alone (``n_clusters`` of them behavioural clusters, so the
    sentence counts "groups"; ``clusters_left_out``, cluster name -> why, are the clusters that are
    not among them, named so the count adds up to the clusters page 06 shows). Without it, the
    segment's own interval is read against the overall value."""
    m = lambda x: _money(x, currency)  # noqa: E731
    seg = segment_name(best["dimension"], best["segment"])
    figures = (f"{m(best['value_per_customer'])} per moved passive (likely range {m(best['ci_low'])} to "
               f"{m(best['ci_high'])}), against {m(overall_value)} ({m(overall_ci[0])} to "
               f"{m(overall_ci[1])}) over all passives")
    diff, dlo, dhi = (best.get(k) for k in ("diff_vs_all", "diff_ci_low", "diff_ci_high"))
    alo = best.get("diff_adj_ci_low")
    among = "the segments compared"
    if n_compared and n_compared > 1:
        left = dict(clusters_left_out or {})
        clusters = (f"{n_clusters} of the {n_clusters + len(left)} clusters; "
                    + "; ".join(f"{name} left out, {why}" for name, why in left.items())
                    if left else f"{n_clusters} cluster{'s' if n_clusters > 1 else ''}")
        among = (f"the {n_compared} groups compared ({n_compared - n_clusters} segments and {clusters})"
                 if n_clusters else f"the {n_compared} segments compared")
    compared = all(v is not None and np.isfinite(v) for v in (diff, dlo, dhi, alo))
    if best["ci_high"] < 0:  # even the best segment loses value: no segment "pays"
        s = f"Moving passives loses value in every segment on this evidence; the smallest loss is in {seg}, at {figures}"
        if compared and alo <= 0:
            return f"{s}; allowing for {among}, the data do not single it out."
        return s + "."
    s = f"A moved passive is worth most in {seg}, at {figures}"
    if best["ci_low"] <= 0:
        return s + "; its likely range includes no value at all, so the data cannot tell whether it is worth anything there."
    if compared:
        lead = (f"{m(diff)} more than the average passive (likely range {m(dlo)} to {m(dhi)})" if diff >= 0 else
                f"{m(-diff)} less than the average passive (likely range {m(dlo)} to {m(dhi)})")
        ahi = best.get("diff_adj_ci_high")
        known = ahi is not None and np.isfinite(ahi)
        if alo > 0:
            return (f"{s}: {lead}, a lead that holds even allowing for {among}"
                    + (f". Allowing for them, its likely range is {m(alo)} to {m(ahi)}." if known else "."))
        return (f"{s}: {lead}; allowing for {among}, the data do not single it out"
                + (f" (its likely range widens to {m(alo)} to {m(ahi)})." if known else "."))
    if best["ci_low"] <= overall_value:
        return s + "; its likely range reaches the overall value, so the data do not single it out."
    return s + "."


def k_choice(selection: pd.DataFrame, chosen: int) -> str:
    """Words for how clearly the criterion chose ``chosen`` clusters: "" when no other k comes
    near it, else the near ties (:func:`cxanalysis.clusters.near_ties`) with their values, e.g.
    "k = 8 and 9 come within 0.01 of it (0.317 and 0.317): the silhouette barely prefers 3
    clusters (it is the simplest of them)"."""
    from .clusters import BIC_TIE, SILHOUETTE_TIE, near_ties

    near = near_ties(selection, chosen)
    if near.empty:
        return ""
    col = "silhouette" if "silhouette" in near else "bic"
    ks = listing(int(k) for k in near["k"])
    values = listing(f"{v:.3f}" if col == "silhouette" else f"{v:,.1f}" for v in near[col])
    tie = f"{SILHOUETTE_TIE:g}" if col == "silhouette" else f"{BIC_TIE:g}"
    simplest = " (it is the simplest of them)" if chosen < near["k"].min() else ""
    return (f"k = {ks} come{'s' if len(near) == 1 else ''} within {tie} of it ({values}): the "
            f"{'silhouette' if col == 'silhouette' else 'BIC'} barely prefers {chosen} clusters{simplest}")


def clusters_sentence(clustering, method: str) -> str:
    """Markdown: the clusters found (a fitted :class:`cxanalysis.clusters.CustomerClusters`): k,
    the silhouette to three decimals with any near tie of k, the refits' agreement with its 95%
    range, the columns, the values filled and the transforms."""
    st = clustering.stability_
    tie = k_choice(clustering.selection_, clustering.k_)
    text = (f"**{clustering.k_} clusters** ({method}), silhouette {clustering.silhouette_:.3f}"
            + (f"; {tie}" if tie else "") + ". "
            f"Agreement of refits on {st['n_resamples']} bootstrap resamples (adjusted Rand index) {st['ari_mean']:.2f} "
            f"(95% range {st['ari_low']:.2f} to {st['ari_high']:.2f}). "
            f"Columns: {', '.join(map(words, clustering.used_))}; "
            f"{clustering.imputed_:,} missing values filled with the column median.")
    if clustering.transform_:
        text += " Transformed before scaling: " + ", ".join(f"{words(c)} ({t})" for c, t in clustering.transform_.items()) + "."
    return text


def untargeted_clusters(names: Sequence[str]) -> str:
    """Markdown: the clusters left out of the targeting because they do not reproduce (""
    when none is)."""
    from .clusters import CLUSTER_PATTERN

    if not len(names):
        return ""
    one = len(names) == 1
    return (f"Not among the targets: the cluster{'' if one else 's'} {listing(names)}, which do"
            + ("es" if one else "") + " not reproduce when the clusters are refitted on resamples of the customers "
            f"(stability below {CLUSTER_PATTERN}, page 06): a program cannot aim at a group that may not exist next "
            "quarter.")


def targeting_summary(targets: pd.DataFrame, result, *, currency: str | None = None) -> str:
    """Markdown: the best and the weakest segment to target (:func:`cxanalysis.roi.by_segment`)."""
    m = lambda x: _money(x, currency)  # noqa: E731
    if targets.empty:
        return f"No segment has at least {10} passives: no targeting comparison."
    best, worst = targets.iloc[0].to_dict(), targets.iloc[-1].to_dict()
    lines = [targeting_sentence(best, result.value_per_customer, result.intervals["value_per_customer"],
                                currency=currency, n_compared=len(targets),
                                n_clusters=int((targets["dimension"] == "cluster").sum()))]
    if len(targets) > 1:
        least = "It loses most in" if worst["value_per_customer"] < 0 else "A moved passive is worth least in"
        lines.append(f"{least} {segment_name(worst['dimension'], worst['segment'])}, at "
                     f"{m(worst['value_per_customer'])} per moved passive (likely range {m(worst['ci_low'])} "
                     f"to {m(worst['ci_high'])}).")
    lines.append("Net value and ROI of each row charge the segment its share of the program cost, in proportion "
                 "to the passives it holds (the shares add up to the whole cost), so a segment pays when its value "
                 f"per moved passive beats the program's cost per moved passive ({m(result.cost / result.customers_moved)})."
                 if result.customers_moved else "Net value and ROI of each row charge the segment its share of the program "
                 "cost, in proportion to the passives it holds.")
    return " ".join(lines)


def roi_verdict(roi_low: float | None, roi_high: float | None, roi: float | None = None) -> str:
    """Plain statement of whether the program pays for itself on this evidence. The range is shown
    with the decimals that tell its ends (and the ``roi`` printed beside it) apart.

    Only an interval entirely above (below) break-even supports "pays (does not pay) for
    itself"; an interval spanning it reads "the data cannot tell whether it pays for itself".
    """
    if roi_low is None or roi_high is None or pd.isna(roi_low) or pd.isna(roi_high):
        return "The data cannot tell whether the program pays for itself: the ROI has no interval on this evidence."
    lo_s, hi_s = percents(roi_low, roi_high, *([] if roi is None else [roi]), missing="n/a")[:2]
    ci = f"the ROI's likely range is {lo_s} to {hi_s}"
    whole = f"the ROI's whole likely range ({lo_s} to {hi_s})"
    if roi_low > 0:
        return f"The program pays for itself: {whole} is above break-even."
    if roi_high < 0:
        return f"The program does not pay for itself: {whole} is below break-even."
    return (f"The data cannot tell whether the program pays for itself ({ci}): the range includes "
            "break-even (ROI = 0), so a loss is as consistent with the data as a gain.")


def break_even_summary(share: float, n_passives: int, value: float, value_ci: tuple[float, float], *,
                       currency: str | None = None) -> str:
    """Markdown: the share of passives to move for ROI = 0, only when the value supports one.

    ``share`` is :func:`cxanalysis.roi.break_even_share` at the estimated ``value`` per moved
    customer. When the 95% interval of that value reaches zero or below, no break-even can be
    stated (moving more customers may never pay). Otherwise the share's interval follows from the
    value's, since the break-even share is inversely proportional to the value:
    ``share(v) = share * value / v``.
    """
    m = lambda x: _money(x, currency)  # noqa: E731
    lo, hi = value_ci
    ci = f"likely range {m(lo)} to {m(hi)}"
    if not (pd.notna(lo) and pd.notna(hi) and pd.notna(value) and pd.notna(share)) or min(lo, hi, value) <= 0 \
            or share == float("inf"):
        said = "is negative" if pd.notna(hi) and max(lo, hi) < 0 else "may be zero or negative"
        return f"**Break-even:** no break-even can be stated: the value per moved customer {said} ({ci})."
    s_lo, s_hi = share * value / max(lo, hi), share * value / min(lo, hi)
    if share > 1:
        return (f"**Break-even:** even moving every passive would not pay for itself at the estimated value per "
                f"customer (it would take {share:.0%} of passives; likely range {s_lo:.0%} to {s_hi:.0%}).")
    return (f"**Break-even:** the program pays for itself once {share:.1%} of passives are moved "
            f"({share * n_passives:,.0f} customers) at the estimated value per customer (likely range "
            f"{s_lo:.1%} to {s_hi:.1%}, from the value's interval {m(lo)} to {m(hi)}).")


def roi_summary(result, *, currency: str | None = None) -> str:
    """Markdown headline of a :class:`cxanalysis.roi.PassiveToPromoter` result (amounts in ``currency``)."""
    m = lambda x: _money(x, currency)  # noqa: E731
    lo, hi = result.intervals["roi"]
    vlo, vhi = result.intervals["value_per_customer"]
    a = result.assumptions
    s_lo, s_hi = a.share_range
    ranged = a.customers_moved is None and s_hi > s_lo
    m_lo, m_hi = a.moved_range(result.n_passives)
    moved = (f" (the midpoint of {s_lo:.0%} to {s_hi:.0%} of passives, {m_lo:,} to {m_hi:,} customers)"
             if ranged else "")
    spans = (" The ROI interval spans both the models' uncertainty and that range of the share moved."
             if ranged else "")
    roi_s, lo_s, hi_s = percents(result.roi, lo, hi, missing="n/a")
    if pd.notna(result.roi) and result.roi < -1:
        spans += (" An ROI below -100% means the benefit itself is negative: on these models the moved customers "
                  "would be worth less as promoters than as passives, so the program would lose its cost and more.")
    return (f"Moving **{result.customers_moved:,} of {result.n_passives:,} passives**{moved} to promoters is worth "
            f"**{m(result.value_per_customer)} per moved passive** over {a.horizon_years} years (likely range "
            f"{m(vlo)} to {m(vhi)}). Benefit {m(result.benefit)} against a discounted program and team "
            f"cost of {m(result.cost)} for the {a.horizon_years} years: the customers are moved once and their gain "
            f"counted over the horizon; passives moved in later years would add value not counted here. Net **{m(result.net)}**, **ROI {roi_s}** (likely range "
            f"{lo_s} to {hi_s}).{spans}\n\n" + roi_verdict(lo, hi, result.roi))


def _horizon(h: float) -> str:
    if h == 0.25:
        return "a quarter"
    if float(h).is_integer():
        return f"{int(h)} year" + ("" if h == 1 else "s")
    return f"{h:g} years"


def contributions_sentence(result, *, currency: str | None = None) -> str:
    """Markdown: how much of the benefit each step of the waterfall brings
    (:meth:`cxanalysis.roi.PassiveToPromoter.contributions`), and what the largest rests on.

    Shares are of the benefit (the steps' sum: spend, retention and, with a returns model, returns)
    when it is positive; the retention step is
    named as resting on the churn effect, whose timing (churn recorded in the same quarter as the
    score) makes it the part most open to doubt."""
    m = lambda x: _money(x, currency)  # noqa: E731
    steps = result.contributions().iloc[:-2]  # the benefit's steps, before the cost and the net
    benefit = float(steps["value"].sum())
    if not benefit > 0:
        return (f"The {len(steps)} steps add up to {m(benefit)}: moving passives brings no benefit on this evidence, "
                "before any cost.")
    parts = [f"{label.lower()} {m(v)} ({v / benefit:.0%})" for label, v in zip(steps["label"], steps["value"],
                                                                                  strict=True)]
    text = f"Of the benefit of {m(benefit)}, " + listing(parts) + "."
    top = steps.loc[steps["value"].idxmax(), "label"]
    if top == "Better retention":  # the largest step is a gain in retention
        text += (" Most of it rests on the churn effect, recorded in the same quarter as the score: if part of "
                 "that effect runs from leaving to the score, the benefit is smaller than shown.")
    return text


def retention_title(result) -> str:
    """Chart title stating the finding: how many kept a month pay for the program.

    Uses the break-even of the first whole-year horizon
    (:meth:`cxanalysis.roi.RetentionScenarios.headline_break_even`); says on a line of its own
    when the churn model behind it is flagged.
    """
    if not result.value_per_customer > 0:
        return "Retained customers may be worth nothing: no number kept a month pays for the program"
    row = result.headline_break_even()
    hi = f"{row['ci_high']:,.0f}" if np.isfinite(row["ci_high"]) else "no upper bound"
    title = (f"about {row['break_even_per_month']:,.0f} customers a month pay for the program over "
             f"{_horizon(row['horizon_years'])} (likely range {row['ci_low']:,.0f} to {hi})")
    # what the drawn lines show beside it: every count short of the break-even's range, or past it
    drawn = sorted(result.table["retained_per_month"].unique()) if len(result.table) else []
    counts = listing(f"{n:g}" for n in drawn)
    flag = "\n(indicative: the churn model that says who is at risk is flagged)" if result.churn_flagged else ""
    if drawn and max(drawn) < row["ci_low"]:
        return f"Keeping {counts} more a month falls short: " + title + flag
    if drawn and min(drawn) > row["ci_high"]:
        return f"Keeping {counts} more a month pays: " + title + flag
    return title[:1].upper() + title[1:] + flag


def retention_summary(result, *, currency: str | None = None, counted: tuple[float, int] | None = None) -> str:
    """Markdown: what a retained customer is worth and, per horizon, how many retained a month
    pay for the program (a :class:`cxanalysis.roi.RetentionScenarios`). ``counted``: the
    quarter's churn rate counted over its customers, and their number
    (:meth:`cxanalysis.report.RunContext.counted_churn`): the customers who leave a month are
    then counted, not predicted.

    A break-even whose interval has no upper end (the value per customer may be zero or
    negative) reads "at least"; a value whose point estimate is not positive gives none.
    Amounts are in ``currency``.
    """
    m = lambda x: _money(x, currency)  # noqa: E731
    a, at, av = result.assumptions, result.at_risk, result.average
    lo, hi = result.intervals["value_per_customer"]
    years = f"{a.horizon_years} year" + ("" if a.horizon_years == 1 else "s")
    head = (f"**A customer kept from leaving is worth {m(result.value_per_customer)}** over the {years} of the ROI "
            f"horizon (discounted margin; likely range {m(lo)} to {m(hi)}). They are valued as the customers "
            f"the churn model puts at risk, not as the average customer: those spend {m(at['spend'])} a quarter "
            f"against {m(av['spend'])} and leave at {at['churn']:.1%} a quarter against {av['churn']:.1%} (both as "
            "the models predict them, so the second can differ a little from the observed churn rate), so "
            f"the average customer would be worth {m(result.average_value)}"
            + (" after the cost of their returns (the discounted CLV of the metrics page leaves returns out, "
               "so it reads higher)." if av.get("returns", 0) > 0 else "."))
    if not result.value_per_customer > 0:
        return head + ("\n\n**Break-even:** none can be stated: a retained customer may be worth nothing or less, "
                       "so retaining more never pays for the program on this evidence.")
    leavers = result.leavers_per_month if counted is None else counted[0] * counted[1] / 3
    known = bool(np.isfinite(leavers) and leavers > 0)
    lines = []
    for r in result.break_even.itertuples():
        upper = _customers(r.ci_high) if np.isfinite(r.ci_high) else "no upper bound: the value may be zero or less"
        beyond = (f" — more than the about {leavers:,.0f} who leave a month: not reachable by retention alone"
                  if known and r.break_even_per_month > leavers else "")
        lines.append(f"- over {_horizon(r.horizon_years)}: **{_customers(r.break_even_per_month)} a month** (likely "
                     f"range {_customers(r.ci_low)} to {upper}), against a cost of {m(r.cost)}{beyond}")
    text = (head + "\n\n**Break-even** — customers to retain each month for the program to pay for itself "
            "(costs are paid at the start of each year, so a quarter pays a whole year):\n" + "\n".join(lines))
    if known:
        row = result.headline_break_even()
        scale = (f"the average customer's {result.average['churn']:.1%} a quarter, over {result.base_size:,.0f} "
                 "customers" if counted is None else
                 f"the quarter's churn of {counted[0]:.1%}, counted over its {counted[1]:,} customers")
        text += (f"\n\nFor scale: about {leavers:,.0f} customers leave a month ({scale}), so keeping "
                 f"{_customers(row['break_even_per_month'])} of them a month means keeping "
                 f"{fmt_percent(row['break_even_per_month'] / leavers)} of those who would leave.")
    return text


def _customers(x: float) -> str:
    """A number of customers a month: whole from 10 up ("396"), one decimal below ("2.4": an
    average, 29 a year)."""
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"


def health_weights_sentence(weights: dict, present: Sequence[str] | None = None, score: str | None = None) -> str:
    """The health score's weights with the columns named in words (plain text: show it through
    :func:`md`), e.g. "Health score weights: visits per month 0.3, support tickets -0.2.".

    Given the columns ``present`` (and the CX ``score``, the ``cx`` component), the weights as
    :func:`cxanalysis.metrics.health_score` uses them: those of the components in the export,
    rescaled to their sum, with the components it lacks named.
    """
    weights = dict(weights or {})
    if present is not None and weights:
        cols = set(present)
        have = {k: v for k, v in weights.items() if (score in cols if k == "cx" else k in cols)}
        lacking = [k for k in weights if k not in have]
        total = sum(float(v) for v in have.values())
        if not lacking or not have or total == 0:
            return health_weights_sentence(weights, score=score) if have else (
                "Health score: none of its components (" + listing(words(k) for k in weights) + ") is in this export.")
        name = {"cx": f"CX score ({words(score)})"}
        used = ", ".join(f"{name.get(k, words(k))} {float(v) / total:.2g}" for k, v in have.items())
        return (f"Health score weights, as used: {used}. These are the configured weights of the components this export "
                f"has, rescaled to sum to 1; not in it: {listing(words(k) for k in lacking)}.")
    name = {"cx": f"CX score ({words(score)})" if score else "CX score"}  # never the config's key "cx"
    parts = [f"{name.get(k, words(k))} {v:g}" if isinstance(v, (int, float)) else f"{name.get(k, words(k))} {v}"
             for k, v in weights.items()]
    return "Health score weights: " + (", ".join(parts) if parts else "none configured") + "."


def sample_sentence(sample: dict | None, what: str = "The figures on this page") -> str:
    """Says that ``what`` come from the run's weighted stratified sample, and how large it was
    (``sample`` of :attr:`cxanalysis.report.RunContext.sample`); "" when every row was used."""
    if not sample:
        return ""
    return (f"{what} come from a weighted stratified sample of {sample['rows']:,} of the "
            f"{sample['population']:,} respondents (up to {sample['per_stratum']:,} per stratum of "
            f"{', '.join(str(b) for b in sample['by'])}; {sample['strata']:,} strata), each weighted by "
            "its stratum's size over the rows drawn: the export was too large to analyse whole. "
            "The NPS and CX metrics tables are exact, over every row.")
