"""The executive summary page, ``index.html``, written from ``results.json`` alone.

Every number on the page is read from the results; none is typed by hand. Sentences are built by
the small functions here so that tests can check them against ``results.json``.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import fmt
from .clusters import CLUSTER_PATTERN, CLUSTER_STABLE
from .design import MAY_FOLLOW_THE_SCORE
from .metrics import EVERY_CUSTOMER
from .models import EXPECTED, LEFT_OUT_DIFFERS, effect_direction
from .schema import NEAR_DUPLICATE_RULE

__all__ = ["write_index", "headline", "money_at_stake", "recommendation", "trend_chart", "headline_sentences",
           "assumptions_sentence", "effect_sentence", "roi_tile", "segments_at_risk", "clusters_at_risk", "churn_leaders",
           "low_clusters",
           "change_in_words", "year_change_sentence", "themes_sentence"]

TITLES = {
    "01-data-quality": "Data quality: what was loaded, cleaned and dropped",
    "02-segments": "Segments: who our customers are",
    "03-metrics-and-trends": "CX metrics and quarter-over-quarter trends",
    "04-cx-and-outcomes": "Does CX move money? Spend, churn and returns",
    "05-roi": "ROI of moving passives to promoters",
    "06-clusters-and-drivers": "Behavioural clusters, key drivers and comment themes",
}


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def effect_sentence(outcome: str, contrast: str, eff: dict[str, Any]) -> str:
    """One plain sentence for an effect of ``results.json``.

    When the likely range (the 95% interval) includes no effect (ratio 1, difference 0) the
    sentence says "no detectable difference" and gives the signed estimate and the range, never a
    direction in words. A flagged
    effect (``flagged``: separation, penalised fit) ends with "(indicative: separation)".

    Examples
    --------
    >>> effect_sentence("spend", "promoter_vs_passive",
    ...                 {"estimate": 1.18, "ci_low": 1.15, "ci_high": 1.21, "scale": "ratio"})
    'Promoters spend 18% more than comparable passives (likely range 15% to 21% more).'
    >>> effect_sentence("churn", "promoter_vs_passive",
    ...                 {"estimate": -1.5, "ci_low": -3.8, "ci_high": 0.9, "scale": "pp"})
    'Promoters and comparable passives show no detectable difference in churn (estimate for promoters against passives: -1.5 pp, likely range -3.8 to +0.9 pp).'

    A churn difference in percentage points is read against its level when the effect carries
    ``baseline`` and ``counterfactual`` (:meth:`cxanalysis.models.OutcomeModels.effects`):

    >>> effect_sentence("churn", "promoter_vs_passive", {"estimate": -4.8, "ci_low": -8.3, "ci_high": -1.2,
    ...                 "scale": "pp", "baseline": 0.112, "counterfactual": 0.064})
    'Promoters churn 4.8 percentage points lower than comparable passives (6.4% as promoters against 11.2% as passives, modelled for the current passives over the quarter; likely range 1.2 to 8.3 pp lower).'
    """
    who = "Promoters" if contrast.startswith("promoter") else "Detractors"
    est, lo, hi = eff["estimate"], eff["ci_low"], eff["ci_high"]
    flag = " (indicative: separation)" if eff.get("flagged") else ""
    ratio = eff["scale"] == "ratio"
    topic = {"spend": "spend", "churn": "churn", "returns": "returns per order"}.get(outcome, outcome)
    if not _finite(est):
        return f"{who}: the {topic} effect could not be estimated from this export{flag}."
    if not _finite(lo, hi):
        ci = "no likely range available"
    elif ratio:
        ci = f"likely range {fmt.points((lo - 1) * 100, 0)}% to {fmt.points((hi - 1) * 100, 0)}%"
    else:
        ci = f"likely range {fmt.points(lo)} to {fmt.points(hi)} pp"
    null = 1.0 if ratio else 0.0
    if str(eff.get("method", "")).startswith("observed: every"):  # nobody churned (or stayed) in either group
        did = "churned" if "stayed" in str(eff["method"]) else "stayed"
        return (f"No {who[:-1].lower()} and no passive {did}: the observed difference is {fmt.points(est)} pp "
                f"({ci}, not adjusted for the covariates, which cannot adjust a difference between two groups that "
                "do not vary).")
    if _finite(lo, hi) and min(lo, hi) <= null <= max(lo, hi):
        shown = f"{fmt.points((est - 1) * 100, 0)}%" if ratio else f"{fmt.points(est)} pp"
        return (f"{who} and comparable passives show no detectable difference in {topic} (estimate for "
                f"{who.lower()} against passives: {shown}, {ci}){flag}.")
    # the range in the sentence's own direction ("2% to 23% more"), never "lower ... -8 to -1"
    if ratio:
        pct = fmt.number(abs(est - 1) * 100, 0)
        word = ("more" if est >= 1 else "less") if outcome == "spend" else ("more" if est >= 1 else "fewer")
        what = f"spend {pct}% {word}" if outcome == "spend" else f"return {pct}% {word} items per order"
        if _finite(lo, hi):
            a, b = sorted(abs(v - 1) * 100 for v in (lo, hi))
            ci = f"likely range {fmt.number(a, 0)}% to {fmt.number(b, 0)}% {word}"
        return f"{who} {what} than comparable passives ({ci}){flag}."
    direction = "higher" if est >= 0 else "lower"
    if _finite(lo, hi):
        a, b = sorted(abs(v) for v in (lo, hi))
        ci = f"likely range {fmt.number(a, 1)} to {fmt.number(b, 1)} pp {direction}"
    base, other = eff.get("baseline"), eff.get("counterfactual")
    shown_other, shown_base = fmt.percent_pair(other, base, 1, gap=est)  # their difference reads as the effect's
    levels = (f"{shown_other} as {who.lower()} against {shown_base} as passives, modelled for "
              "the current passives over the quarter; " if _finite(base, other) else "")
    return (f"{who} churn {fmt.number(abs(est), 1)} percentage points {direction} than comparable passives "
            f"({levels}{ci}){flag}.")


def change_in_words(change: float | None, low: float | None, high: float | None) -> str:
    """Whether a change is beyond chance, in words: "a change beyond chance" when its likely range (95% interval)
    excludes zero, "a change within chance" when it includes zero.

    Examples
    --------
    >>> change_in_words(6.2, 0.7, 11.7), change_in_words(3.5, -1.8, 8.9)
    ('a change beyond chance', 'a change within chance')
    """
    if not _finite(change, low, high):
        return "a change whose reliability cannot be judged"
    return "a change beyond chance" if low > 0 or high < 0 else "a change within chance"


def year_change_sentence(d: dict[str, Any] | None, score: str = "NPS") -> str | None:
    """The NPS change over the year (:func:`cxanalysis.trends.year_change`) in words, or None;
    ``score`` names the net score ("Net score (CSAT)" when it is not NPS).

    Examples
    --------
    >>> year_change_sentence({"from": "2025Q4", "to": "2026Q3", "quarters_apart": 3, "change": 11.1,
    ...                       "ci_low": 5.3, "ci_high": 16.9})
    'Over the 3 quarters since 2025Q4 NPS moved +11.1 points (likely range +5.3 to +16.9): a change beyond chance.'
    """
    if not d or d.get("change") is None:
        return None
    rng = (f" (likely range {fmt.points(d['ci_low'])} to {fmt.points(d['ci_high'])})"
           if _finite(d.get("ci_low"), d.get("ci_high")) else "")
    span = "year" if d.get("quarters_apart") == 4 else f"{d.get('quarters_apart')} quarters"
    return (f"Over the {span} since {d['from']} {score} moved {fmt.points(d['change'])} points{rng}: "
            f"{change_in_words(d['change'], d.get('ci_low'), d.get('ci_high'))}.")


def themes_sentence(themes: list[dict[str, Any]] | None, top: int = 2) -> str | None:
    """Where to act: the comment themes detractors raise more than promoters (difference of
    shares whose 95% interval lies above 0), largest first; then, when the themes carry
    ``share_passives``, the theme passives (whom the program would move) raise most. None when
    neither can be said."""
    rows = [t for t in themes or [] if _finite(t.get("diff"), t.get("diff_ci_low"), t.get("diff_ci_high"))
            and t["diff_ci_low"] > 0]
    named = [t for t in themes or [] if _finite(t.get("share_passives")) and not str(t.get("theme", "")).startswith("(")]
    out = []
    if rows:
        rows = sorted(rows, key=lambda t: -t["diff"])[:top]
        shares = [fmt.percent_pair(t["share_detractors"], t["share_promoters"], 0, gap=100 * t["diff"]) for t in rows]
        parts = [f"\u201c{t['theme']}\u201d (in {sd} of detractors' comments "
                 f"against {sp} of promoters', {fmt.points(100 * t['diff'])} pp, "
                 f"likely range {fmt.points(100 * t['diff_ci_low'])} to {fmt.points(100 * t['diff_ci_high'])} pp)"
                 for t, (sd, sp) in zip(rows, shares, strict=True)]
        out.append("Where to look first: detractors raise " + " and ".join(parts)
                   + " more often than promoters (comment themes, page 06).")
    if named:
        p = max(named, key=lambda t: t["share_passives"])
        out.append(f"Passives, whom the program would move, most often raise \u201c{p['theme']}\u201d (in "
                   f"{fmt.percent(p['share_passives'], 0)} of their comments).")
    return " ".join(out) or None


def _move(change: float) -> str:
    """'up 4.1 points', 'down 0.3 points' or 'unchanged' (to one decimal)."""
    return "unchanged" if round(change, 1) == 0 else f"{'up' if change > 0 else 'down'} {fmt.number(abs(change), 1)} points"


def _score_label(n: dict[str, Any]) -> str:
    return fmt.score_name(n.get("score", "nps_score"))


def has_non_respondents(results: dict[str, Any]) -> bool:
    """Whether the export held customers who did not answer (the NPS then stands for the base)."""
    r = results.get("response") or {}
    return bool(r.get("base")) and r.get("base", 0) > r.get("respondents", 0)


#: The gap, in NPS points, between non-respondents and respondents like them that the summary
#: asks the reader to imagine (a sensitivity, not an estimate).
NONRESPONSE_GAP = 10.0


def nonresponse_caveat(response: dict[str, Any], interval: str = "likely range") -> str:
    """What the NPS range does not cover when respondents are weighted to the base: it allows for
    sampling only, and assumes non-respondents score like respondents of the same weighting
    cells. The sensitivity is exact arithmetic: the base NPS is the customers' average, so
    non-respondents scoring ``NONRESPONSE_GAP`` points lower than respondents like them would
    lower it by the gap times their share of the base (``1 - rate``)."""
    covs = list(dict.fromkeys(m["covariate"] for m in response.get("margins") or []))
    like = f"with the same {fmt.listing(fmt.words(c) for c in covs)}" if covs else "in the same weighting groups"
    drop = NONRESPONSE_GAP * (1 - response["rate"])
    return (f"The {interval} allows for sampling only: it assumes customers who did not answer would score "
            f"like respondents {like}. Had their NPS been {NONRESPONSE_GAP:.0f} points below those respondents', "
            f"NPS would be {fmt.number(drop, 1)} points lower.")


def response_sentence(results: dict[str, Any]) -> str | None:
    """Who answered, and how weighting to the whole base moves the NPS (None: everyone answered)."""
    r, n = results.get("response") or {}, results.get("nps") or {}
    if not has_non_respondents(results):
        return None
    who = (f"{fmt.integer(r['respondents'])} of the quarter's {fmt.integer(r['base'])} customers answered "
           f"the survey ({fmt.percent(r['rate'], 1)})")
    if r.get("weighting", "").startswith("raking") and n.get("unweighted") is not None:
        moved = n["value"] - n["unweighted"]
        text = (f"{who}; their answers are weighted to all {fmt.integer(r['base'])} customers "
                f"({r['weighting']}; effective sample size {fmt.integer(r.get('n_eff') or 0)}). "
                f"Respondents' own NPS was {fmt.number(n['unweighted'], 1)}; weighting to the base "
                f"{fmt.shift(moved, 1)}.")
        return f"{text} {nonresponse_caveat(r)}"
    return f"{who}; they are not weighted ({r.get('weighting')}), so the NPS describes respondents, not every customer."


def headline_sentences(results: dict[str, Any]) -> list[str]:
    """The summary's sentences, in reading order, from ``results.json``; amounts in the
    configured currency, every interval a "likely range"."""
    out = []
    m = _money_of(results)
    n = results.get("nps", {})
    if n:
        who = "respondents" if has_non_respondents(results) else "customers"
        out.append(f"{_score_label(n)} this quarter ({results['quarter']}) is {fmt.number(n['value'], 1)} "
                   f"(likely range {fmt.interval(n['ci_low'], n['ci_high'], 'points', decimals=1)}), from "
                   f"{fmt.integer(results['n_customers'])} {who}: {fmt.percent(n['promoters'], 0)} promoters, "
                   f"{fmt.percent(n['passives'], 0)} passives, {fmt.percent(n['detractors'], 0)} detractors.")
        if (resp_text := response_sentence(results)):
            out.append(resp_text)
    trends = results.get("trends") or []
    if len(trends) >= 2 and trends[-1].get("change") is not None:
        last = trends[-1]
        lo, hi = last.get("change_ci_low"), last.get("change_ci_high")
        out.append(f"Since last quarter ({trends[-2]['quarter']}) {_score_label(n)} moved {fmt.points(last['change'])} points "
                   f"(likely range {fmt.points(lo)} to {fmt.points(hi)}): "
                   f"{change_in_words(last['change'], lo, hi)}.")
    if (year := year_change_sentence(results.get("nps_change_year"), _score_label(n))):
        out.append(year)
    # split the change that is real: the year's when its interval excludes 0, else the last step's
    year = results.get("nps_change_year") or {}
    dec = results.get("nps_change") or {}
    if (year.get("decomposition") or {}).get("by") and _finite(year.get("ci_low"), year.get("ci_high")) and (
            year["ci_low"] > 0 or year["ci_high"] < 0):
        dec = year["decomposition"]
    if dec.get("by"):
        out.append(_split_sentence(dec, _score_label(n)))
    for outcome, effs in (results.get("effects") or {}).items():
        eff = effs.get("promoter_vs_passive")
        if eff:
            out.append(effect_sentence(outcome, "promoter_vs_passive", eff))
        # the detractors' effect too when the data tell it from none: often the largest signal
        # (every churner a detractor), though the ROI of moving passives does not use it
        det = effs.get("detractor_vs_passive")
        if det and _finite(det.get("ci_low"), det.get("ci_high")) and (
                det["ci_low"] > (null := 1.0 if det.get("scale") == "ratio" else 0.0) or det["ci_high"] < null):
            out.append(effect_sentence(outcome, "detractor_vs_passive", det))
    if (act := themes_sentence(results.get("themes"))):
        out.append(act)
    roi = (results.get("roi") or {}).get("passive_to_promoter")
    if roi:
        from .narrative import roi_verdict

        vlo, vhi = roi.get("value_per_customer_ci_low"), roi.get("value_per_customer_ci_high")
        vci = f" (likely range {m(vlo)} to {m(vhi)})" if _finite(vlo, vhi) else ""
        r, r_lo, r_hi = fmt.percents(roi["roi"], roi.get("roi_ci_low"), roi.get("roi_ci_high"))
        out.append(
            f"Moving {fmt.integer(roi['customers_moved'])} passives to promoters is worth "
            f"{m(roi['value_per_customer'])} per moved passive over {roi['horizon_years']} years{vci}: benefit "
            f"{m(roi['benefit'])} against cost {m(roi['cost'])}, net {m(roi['net'])}, ROI {r} "
            f"(likely range {r_lo} to {r_hi})."
        )
        verdict = roi_verdict(roi.get("roi_ci_low"), roi.get("roi_ci_high"), roi.get("roi"))
        if recommendation(results)[0] == "no-evidence":  # the recommendation disowns the ROI: so does its verdict
            verdict = f"At face value only, since no recommendation rests on this ROI: {verdict[:1].lower()}{verdict[1:]}"
        out.append(verdict)
        targets = (results.get("roi") or {}).get("by_segment") or []
        if targets and _finite(vlo, vhi):
            from .narrative import targeting_sentence

            targeted = {str(t.get("segment")) for t in targets if t.get("dimension") == "cluster"}
            left = {str(r["name"]): ("as it does not reproduce in refits" if _unstable(r) else
                                     "as it holds too few passives")
                    for r in (results.get("clusters") or {}).get("profile") or []
                    if targeted and str(r.get("name")) not in targeted}
            out.append(targeting_sentence(targets[0], roi["value_per_customer"], (vlo, vhi),
                                          currency=_currency(results), n_compared=len(targets),
                                          n_clusters=len(targeted), clusters_left_out=left))
    return out


def assumptions_sentence(results: dict[str, Any]) -> str:
    """The ROI assumptions, printed next to the ROI figure (costs in the configured currency)."""
    a = (results.get("roi") or {}).get("passive_to_promoter", {}).get("assumptions")
    if not a:
        return ""
    cur = _currency(results)
    rng = a.get("share_of_passives_moved_range")
    if a.get("customers_moved") is not None:
        moved = f"{fmt.integer(a['customers_moved'])} customers moved"
    elif rng and rng[0] != rng[1]:
        moved = (f"between {_pct0(rng[0])} and {_pct0(rng[1])} of passives moved (figures at the midpoint, "
                 f"{_pct0(a['share_of_passives_moved'])})")
    else:
        moved = f"{_pct0(a['share_of_passives_moved'])} of passives moved"
    return (f"Assumptions (cx.yaml): gross margin {_pct0(a['gross_margin'])}, cost per return "
            f"{fmt.money(a['cost_per_return'], cur, decimals=2)}, discount rate {_pct0(a['discount_rate'])} a year, "
            f"horizon {a['horizon_years']} years, program cost {fmt.money(a['program_cost_per_year'], cur)} and team "
            f"cost {fmt.money(a['team_cost_per_year'], cur)} a year, {moved}."
            + ("" if cur else " Amounts are in the export's own currency (set currency: in cx.yaml, e.g. EUR, "
                              "to show its symbol)."))


def _table(rows: list[dict[str, Any]], columns: list[str], headers: dict[str, str]) -> str:
    """A small reader-view table (:func:`cxanalysis.fmt.table`): headers in words (``headers``
    where :func:`cxanalysis.fmt.label`'s would not do), numbers formatted, an interval pair as
    one column."""
    import pandas as pd

    return fmt.table(pd.DataFrame(rows), columns=columns, headers=headers).styler.to_html()


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.kpi{display:flex;gap:1rem;flex-wrap:wrap}.kpi div{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.kpi b{display:block;font-size:1.6rem}.muted{color:#555;font-size:.9rem}
table{border-collapse:collapse;font-size:.9rem}td,th{border-bottom:1px solid #eee;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child,td:not(.cx-num){text-align:left} td.cx-num{white-space:nowrap} li{margin:.3rem 0}
.top{font-size:.9rem;color:#444;border-bottom:1px solid #ddd;padding-bottom:.4rem}.quarter{font-weight:600}
.headline{font-size:1.25rem;font-weight:600;margin:.6rem 0 1rem}
.rec{border-left:6px solid #999;background:#f6f6f6;padding:.2rem 1rem;margin:1rem 0}.rec h2{border:0;margin-top:.4rem}
.rec.fund{border-color:#009E73}.rec.pilot{border-color:#E69F00}.rec.do-not-fund{border-color:#D55E00}
.kpi .good b{color:#00704f}.kpi .bad b{color:#b34700}.kpi .unsure b{color:#8a5a00}.kpi .void b{color:#777}.kpi .face{display:block;font-style:italic}
.caveat{border-left:3px solid #E69F00;padding-left:.6rem}
figure.trend{margin:1rem 0}figure.trend img{max-width:100%;height:auto}
details#glossary{margin:1rem 0}details#glossary summary{cursor:pointer;color:#0056b3}dt{font-weight:600}dd{margin:0 0 .5rem 1rem}
table{display:block;max-width:100%;overflow-x:auto}
@media print{@page{size:A4;margin:12mm}body{max-width:none;margin:0}details#glossary{display:block}
table{display:table;font-size:8pt}}
"""


def roi_tile(roi: dict[str, Any]) -> str:
    """The summary's ROI tile: the ROI, and under it its likely range (its uncertainty)."""
    lo, hi, value = roi.get("roi_ci_low"), roi.get("roi_ci_high"), roi.get("roi")
    shown, lo_s, hi_s = fmt.percents(value, lo, hi)
    rng = f"likely range {lo_s} to {hi_s}" if _finite(lo, hi) else "no likely range available"
    if _finite(value) and value < -1:
        rng += "; below -100%: the moved customers' value is itself negative"
    return f"<div>ROI, passives to promoters<b>{shown}</b><span class='muted'>{rng}</span></div>"


def _churn_side(row: dict[str, Any]) -> str | None:
    """"more" or "less": which way a segment or cluster churns against the rest of the customers
    when its churn test, after Holm's correction (``churn_differs``), finds a difference; None
    when it does not, or was not tested."""
    if row.get("churn_differs") is not True or not _finite(row.get("churn_rate"), row.get("churn_rest")):
        return None
    return "more" if row["churn_rate"] > row["churn_rest"] else "less" if row["churn_rate"] < row["churn_rest"] else None


def _churns_more(row: dict[str, Any]) -> bool:
    """Whether a segment or cluster churns more than the rest of the customers beyond chance,
    allowing for the number of groups compared (:func:`_churn_side`)."""
    return _churn_side(row) == "more"


def _churns_no_more(row: dict[str, Any], churn: float | None) -> bool:
    """Whether a segment or cluster does not churn more than the rest of the customers beyond
    chance (:func:`_churns_more`); False when there is no overall churn rate (``churn``) or the
    row has none. Results without the test against the rest (older runs) fall back on the churn
    interval's low end (its rate when there is no interval) against the overall rate."""
    if not _finite(churn, row.get("churn_rate")):
        return False
    if "churn_differs" in row:
        return not _churns_more(row)
    low = row.get("churn_rate_ci_low")
    return (low if _finite(low) else row["churn_rate"]) <= churn


def _unstable(row: dict[str, Any]) -> bool:
    """Whether a cluster does not reproduce in the refits (stability below ``CLUSTER_PATTERN``)."""
    return _finite(row.get("stability")) and row["stability"] < CLUSTER_PATTERN


def _churn_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The churn columns an at-risk table shows: the rate when any row has one, its likely range
    when every row has one, and the rest's rate when every row has it."""
    cols = ["churn_rate"] if any(_finite(r.get("churn_rate")) for r in rows) else []
    if cols and all(_finite(r.get("churn_rate_ci_low"), r.get("churn_rate_ci_high")) for r in rows):
        cols.append("churn_rate_ci_low")
    if cols and all(_finite(r.get("churn_rest")) for r in rows):
        cols.append("churn_rest")
    return cols


CHURN_HEADERS = {"churn_rate": "Churn rate", "churn_rate_ci_low": "Churn, likely range",
                 "churn_rest": "The rest's churn"}


def segments_at_risk(segments: list[dict[str, Any]], overall: float | None,
                     churn: float | None = None) -> list[dict[str, Any]]:
    """Segments that differ from the rest after Holm's correction AND have an NPS below the
    overall NPS, lowest first (at most five). Untested segments (``differs`` missing) never count.
    Given the overall churn rate, a segment is at risk only if it churns more than the rest of
    the customers beyond chance, allowing for the number of segments compared
    (:func:`_churns_more`): a low score is a risk where it goes with leaving (the e-commerce
    export's tenure 3-8 months scores low and churns 7.4% against 16.8%)."""
    if overall is None:
        return []
    risky = [r for r in segments if r.get("differs") is True and r.get("nps") is not None and r["nps"] < overall
             and not _churns_no_more(r, churn)]
    return sorted(risky, key=lambda r: r["nps"])[:5]


def clusters_at_risk(clusters: list[dict[str, Any]], overall: float | None,
                     churn: float | None = None) -> list[dict[str, Any]]:
    """Clusters whose NPS is below the overall NPS with the whole 95% interval below it, lowest
    first (at most three). A cluster that does not reproduce in the bootstrap refits (its
    ``stability``, Hennig's mean Jaccard, below ``clusters.CLUSTER_PATTERN``) never counts: it may
    not exist in the next quarter's data. Given the overall churn rate, a cluster whose own churn
    rate is at or below it does not count either, as for segments (:func:`segments_at_risk`)."""
    return [r for r in low_clusters(clusters, overall) if not _unstable(r) and not _churns_no_more(r, churn)][:3]


def low_clusters(clusters: list[dict[str, Any]], overall: float | None) -> list[dict[str, Any]]:
    """Every cluster whose NPS and whole 95% interval are below the overall NPS, lowest first."""
    if overall is None:
        return []
    low = [r for r in clusters if _finite(r.get("nps"), r.get("nps_ci_high")) and r["nps_ci_high"] < overall]
    return sorted(low, key=lambda r: r["nps"])


def _tracks_note(label: str, who: str) -> str:
    """The caveat under the churn tables when the score tracks churn almost exactly: ``who``
    (:func:`separation_fact`, "no promoter and no passive") churned, so a group churns more to the
    extent it holds more low scorers, and its low score and its high churn are one fact."""
    return (f"<p class='caveat'>In this export {html.escape(who)} churned (see Read before acting), so a group "
            f"churns more to the extent that it holds more of the low scorers. Here and in Segments at risk, a high "
            f"churn rate and a low {html.escape(label)} are close to one fact, not two warnings.</p>")


def churns_less(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose churn test against the rest, after Holm's correction (``churn_differs``),
    finds them churning less than the rest of the customers."""
    return [r for r in rows if _churn_side(r) == "less"]


SHARE_HEADERS = {"share": "Share of customers", "leavers_share": "Share of all who left"}


def _answered_note(rows: list[dict[str, Any]]) -> str:
    """HTML: how many of each segment's customers answered (``n`` of ``customers``), for the rows
    with both; "" when none has them. A score resting on one customer in ten stands for the rest
    only as far as those who answered are like those who did not.

    >>> _answered_note([{"dimension": "plan", "segment": "Basic", "n": 385, "customers": 3730}])
    ' Answered: Plan: Basic, 385 of its 3,730 customers (10%). A segment&#x27;s score stands for its customers only as far as those who answered are like those who did not.'
    """
    parts = [f"{fmt.segment_name(r['dimension'], r['segment'])}, {fmt.integer(r['n'])} of its "
             f"{fmt.integer(r['customers'])} customers ({fmt.percent(r['n'] / r['customers'], 0)})"
             for r in rows if _finite(r.get("customers")) and r["customers"] > 0 and _finite(r.get("n"))]
    if not parts:
        return ""
    return html.escape(f" Answered: {'; '.join(parts)}. A segment's score stands for its customers only as far as "
                       "those who answered are like those who did not.")


def segments_at_risk_html(segments: list[dict[str, Any]], overall: float | None, *, label: str = "NPS",
                          churn: float | None = None) -> str:
    """The segments block: a reader-view table (dimension in words, one "Likely range" column, and
    each segment's churn rate when there is one). ``label`` names the score (:func:`_score_label`:
    "Net score (CSAT)" when it is not NPS); ``churn``, the overall churn rate, keeps out the
    segments that churn no more than it (:func:`segments_at_risk`). Low-scoring segments that
    churn *less* than the rest beyond chance are named with both rates: a low score that does not
    go with leaving. Beside each segment's churn: its share of every customer who left."""
    if not segments:
        return ""
    lab = html.escape(label)
    worst = segments_at_risk(segments, overall, churn)
    low = segments_at_risk(segments, overall)
    if not worst:
        if low and _finite(churn):
            less = churns_less(low)
            named = "; ".join(f"{fmt.segment_name(r['dimension'], r['segment'])} ({fmt.percent(r['churn_rate'])} "
                              f"against {fmt.percent(r['churn_rest'])})" for r in less)
            return (f"<h2>Segments at risk</h2><p>No segment is at risk: those whose {lab} is below the overall one "
                    "(and differs from the rest of the customers) do not churn more than the rest beyond chance, "
                    "allowing for the number of segments compared."
                    + ((f" {html.escape(named)} scores low but churns <b>less</b> than the rest, beyond chance."
                        if len(less) == 1 else
                        f" Some score low but churn <b>less</b> than the rest, beyond chance: {html.escape(named)}.")
                       + " A low score there does not go with leaving." if less else "") + "</p>")
        return (f"<h2>Segments at risk</h2><p>No segment's {lab} differs from the rest of the customers, "
                "allowing for the number of segments compared.</p>")
    cols = _churn_columns(worst)
    shares = ["leavers_share"] if cols and all(_finite(r.get("leavers_share")) for r in worst) else []
    against = (" and whose churn is above the rest's, each beyond chance allowing for the number of segments "
               "compared: a low score is a risk where it goes with leaving" if _finite(churn) and cols else
               ", allowing for the number of segments compared")
    return (f"<h2>Segments at risk</h2><p class='muted'>Segments whose {lab} is below the overall one and differs "
            f"from the rest of the customers{against}; lowest first"
            + ("; a customer can be in several rows, one per dimension" if len({r["dimension"] for r in worst}) > 1
               else "") + "."
            + (f" The {lab} is from each segment's respondents (counted here); its churn is over every customer in it, "
               "respondents or not." if cols and all("customers" in r for r in worst) else "")
            + _answered_note(worst) + "</p>"
            + _table(worst, ["dimension", "segment", "n", "nps", "ci_low", *cols, *shares],
                     {"n": "Respondents", "nps": label, "ci_low": f"{label}, likely range", **SHARE_HEADERS,
                      **CHURN_HEADERS}))


def clusters_at_risk_html(clusters: list[dict[str, Any]], overall: float | None, *, weak: str | None = None,
                          circular: bool = False, churn: float | None = None, label: str = "NPS") -> str:
    """The clusters block; ``weak`` (``clusters.weak_structure`` of results.json) is shown first.
    Clusters cut on the CX score itself (``circular``) are not named at risk: their low NPS is
    partly how they were made. Low clusters left out because they do not reproduce, or churn no
    more than the rest of the customers (:func:`_churns_no_more`; ``churn`` is the overall rate),
    are counted and the reason given."""
    if not clusters:
        return ""
    lab = html.escape(label)
    head = "<h2>Behavioural clusters at risk</h2>" + (f"<p><b>{html.escape(weak)}</b></p>" if weak else "")
    if circular:
        return (head + f"<p>Not shown: the clusters were cut on the CX score itself, so a cluster's low {lab} is "
                "partly how it was made, not a finding. Leave CX scores out of clusters.columns in cx.yaml to see "
                "which behavioural clusters are at risk.</p>")
    worst, low = clusters_at_risk(clusters, overall, churn), low_clusters(clusters, overall)
    named = {id(r) for r in worst}
    unstable = [r for r in low if id(r) not in named and _unstable(r)]
    calm = [r for r in low if id(r) not in named and r not in unstable and _churns_no_more(r, churn)]
    left = ""
    if unstable:
        names = ", ".join(f"{r['name']} (stability {r['stability']:.2f})" for r in unstable)
        one = len(unstable) == 1
        also = [r for r in unstable if _finite(churn) and "churn_differs" in r and _churns_no_more(r, churn)]
        left += (f"<p>Not named at risk although its {lab} is low: {html.escape(names)}. "
                 + ("It does" if one else "They do") +
                 " not reproduce when the clusters are refitted on resamples of the customers (stability: the "
                 f"share of its members found together again, below {CLUSTER_PATTERN:.1f}), so "
                 + ("it" if one else "they") + " may not exist in the next quarter's data"
                 + (", and " + ("it" if one else "they" if len(also) == len(unstable) else
                                html.escape(fmt.listing(str(r["name"]) for r in also)))
                    + (" does" if one or len(also) == 1 else " do") + " not churn more than the rest beyond chance"
                    if also else "") + ".</p>")
    if calm:
        names = ", ".join(str(r["name"]) for r in calm)
        left += (f"<p>Not named at risk although its {lab} is low: {html.escape(names)}, which do"
                 + ("es" if len(calm) == 1 else "") + " not churn more than the rest of the customers beyond "
                 "chance, allowing for the number of clusters compared.</p>")
    if not worst:
        leaving = [str(r["name"]) for r in clusters if _churns_more(r) and not _unstable(r)]
        apart = ("" if not leaving else
                 f" Churn does tell the cluster {html.escape(leaving[0])} apart: it is under Where customers leave."
                 if len(leaving) == 1 else
                 f" Churn does tell the clusters {html.escape(fmt.listing(leaving))} apart: they are under Where customers leave.")
        return head + (("<p>No cluster is named at risk.</p>" + left) if left else
                       (f"<p>No cluster's {lab} stands out: none is below the overall {lab} with its whole likely "
                        "range below it." + apart + "</p>"))
    cols = _churn_columns(worst)
    # n counts the cluster's respondents; passives are weighted to the whole customer base (the
    # customers a program could move), so the two columns say which they count
    return (head + f"<p class='muted'>Clusters whose {lab} and whole likely range are "
            "below the overall one, that reproduce when refitted on resamples"
            + (", and that churn more than the rest beyond chance, allowing for the number of clusters compared"
               if cols and _finite(churn) else "")
            + "; passives are the customers a program could move, counted in the "
            "whole customer base (respondents weighted to it).</p>"
            + _table(worst, ["name", "n", "nps", "nps_ci_low", *cols, "passives"],
                     {"name": "Cluster", "n": "Respondents", "nps": label, "nps_ci_low": f"{label}, likely range",
                      **CHURN_HEADERS, "passives": "Passives in the customer base"}) + left)


def _missing_groups(unsegmented: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The respondents a dimension leaves out (``unsegmented`` of results.json,
    :func:`cxanalysis.segments.unsegmented`) as rows like a segment's: "no value" of the dimension,
    their churn in the segments' column names."""
    import pandas as pd

    from .segments import missing_as_segments

    return missing_as_segments(pd.DataFrame(unsegmented)).to_dict("records") if len(unsegmented) else []


def churn_leaders(segments: list[dict[str, Any]], clusters: list[dict[str, Any]], *,
                  clusters_usable: bool = True, unsegmented: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The segments and clusters that churn more than the rest of the customers beyond chance,
    allowing for the number of groups compared (:func:`_churns_more`), highest churn first (at
    most six), whatever their score: where customers leave, even where the score does not warn.
    Each row gains ``group`` (a segment's dimension and name, or "Cluster: " and its name) and
    its score's interval as ``nps_ci_low`` / ``nps_ci_high`` (a segment's ``ci_low`` /
    ``ci_high``). Clusters that do not reproduce (:func:`_unstable`), or all of them when
    ``clusters_usable`` is False (cut on churn or on the score itself), are left out. The
    respondents a dimension leaves out (``unsegmented``, :func:`_missing_groups`) count as a
    group of that dimension ("Tenure (months): no value"): their churn is tested against the
    rest's beside the segments'."""
    rows = [{**r, "group": fmt.segment_name(r["dimension"], r["segment"]), "nps_ci_low": r.get("ci_low"),
             "nps_ci_high": r.get("ci_high")} for r in [*segments, *_missing_groups(unsegmented)] if _churns_more(r)]
    if clusters_usable:
        rows += [{**r, "group": f"Cluster: {r['name']}"} for r in clusters if _churns_more(r) and not _unstable(r)]
    return sorted(rows, key=lambda r: -r["churn_rate"])[:6]


def churn_leaders_html(segments: list[dict[str, Any]], clusters: list[dict[str, Any]], *,
                       churn: float | None, label: str = "NPS", clusters_usable: bool = True,
                       circular: bool = False, tracks: str | None = None, at_risk: set[str] = frozenset(),
                       weighted: bool = False, unsegmented: list[dict[str, Any]] = (), census: bool = False,
                       all_answered: bool = False, cluster_notes: list[str] = ()) -> str:
    """The "Where customers leave" block (:func:`churn_leaders`): a table with each group's
    share of the respondents and of the leavers, its churn, its likely range, the rest's churn and
    the group's score, or a sentence saying no group churns more than the rest beyond chance.
    Empty when the export has no churn (``churn``, the overall rate, missing) or no group was
    tested. Clusters cut on the score itself (``circular``) are left out, and said to be: their
    churn restates the score's. ``tracks`` (:func:`separation_fact`: who all stayed) adds
    :func:`_tracks_note`, once for this block and the at-risk ones; ``at_risk`` holds the
    groups (as :func:`churn_leaders` names them) the at-risk tables above already show, marked
    "also at risk" here; ``weighted`` (respondents weighted to the base) says the churn is an
    estimate from the respondents; ``census``, that ``churn`` (all customers) is over every
    customer of the quarter (:func:`cxanalysis.metrics.with_base`); ``unsegmented``
    (results.json's) adds the respondents a dimension leaves out as a group of their own
    (:func:`churn_leaders`); ``all_answered`` (every customer of the quarter a respondent) heads
    the sizes "Customers" whoever's they are; ``cluster_notes`` (results.json's clusters'
    warnings) adds, under the table, the note of a cluster it shows that is named after a yes/no
    column but does not hold every customer with it (:func:`_pattern_note`)."""
    usable = clusters_usable and not circular
    tested = [r for r in [*segments, *unsegmented, *(clusters if usable else [])] if r.get("churn_differs") is not None]
    if not _finite(churn) or not tested:
        return ""
    head = "<h2>Where customers leave</h2>"
    why_left = (" Clusters are left out: they were cut on the CX score itself, so their churn restates the "
                "score's." if circular and clusters_usable and any(_churns_more(r) for r in clusters) else
                " Clusters that do not reproduce when refitted are left out." if usable and
                any(_unstable(r) and _churns_more(r) for r in clusters) else "")
    rows = churn_leaders(segments, clusters, clusters_usable=usable, unsegmented=unsegmented)
    if not rows:
        return (head + f"<p>No segment or cluster churns more than the rest of the customers beyond chance "
                f"(all customers: {fmt.percent(churn)}), allowing for the number of groups compared.{why_left}</p>"
                + (_tracks_note(label, tracks) if tracks else ""))
    for r in rows:
        r["also"] = "yes" if r["group"] in at_risk else "no"
    lab = html.escape(label)
    kinds = {r.get("dimension", "cluster") for r in rows}
    several = ("" if len(kinds) < 2 else " A customer can be in several rows (one per dimension"
               + (", and a cluster)." if "cluster" in kinds else ").") )
    shares = ["leavers_share"] if all(_finite(r.get("leavers_share")) for r in rows) else []
    counted = [r for r in rows if "customers" in r]  # segments over every customer (segments.profile's others)
    for r in rows:
        r["size"] = r.get("customers", r["n"])
    size = ("Customers" if len(counted) == len(rows) or all_answered else "Respondents" if not counted else
            "Customers (clusters: respondents)")  # all_answered: every customer is a respondent
    estimated = weighted and len(counted) < len(rows)  # some rows are respondents weighted to the base
    return (head + f"<p class='muted'>Segments and clusters that churn more than the rest of the customers "
            f"(all customers: {fmt.percent(churn)}) beyond chance, allowing for the number of groups compared, "
            f"highest first, whatever their {lab}: a group the score does not flag can still be where customers "
            "leave." + several + why_left
            + (f" A segment's churn is over every customer in it (counted here), respondents or not, as the churn of "
               f"all customers; its {lab} is from those who answered." if counted else "")
            + ((" Share of all who left: of every respondent who churned (weighted to the base), the share in the "
                "group." if estimated and not counted else " Share of all who left: of every customer who churned, "
                "the share in the group" + (" (for a cluster, of every respondent who churned, weighted to the base)."
                                            if estimated else ".")) if shares else "")
            + ((" A cluster's churn is its respondents', weighted to the whole customer base: clusters are drawn from "
                "the answers." if counted else
                " Each group's churn is its respondents', weighted to the whole customer base, so that it sits "
                "beside their score; the churn of all customers is over every customer of the quarter, respondents "
                "or not." if census else
                " Churn is the respondents', weighted to the whole customer base, so that it sits beside their "
                "score; the export's churn over every customer can differ a little.") if estimated else "") + "</p>"
            + _table(rows, ["group", "size", "churn_rate", "churn_rate_ci_low", "churn_rest", *shares, "nps",
                            "nps_ci_low", *(["also"] if at_risk & {r["group"] for r in rows} else [])],
                     {"group": "Group", "size": size, "nps": label, "nps_ci_low": f"{label}, likely range",
                      "also": "In the at-risk tables", **SHARE_HEADERS, **CHURN_HEADERS})
            + _pattern_note(rows, cluster_notes)
            + (_tracks_note(label, tracks) if tracks else ""))


def _pattern_note(rows: list[dict[str, Any]], notes: Sequence[str] = ()) -> str:
    """Sentences under the churn table about the clusters it shows: those that reproduce only as a
    pattern in the refits (stability from ``CLUSTER_PATTERN`` to below ``CLUSTER_STABLE``,
    Hennig's 0.6 to 0.75): the group is there, but who belongs to it is doubtful, so its churn is a
    rough guide; and those named after a yes/no column's value that other clusters share (their
    note in ``notes``, :func:`cxanalysis.clusters._flag_notes`). "" when neither."""
    shown = [r for r in rows if r.get("dimension", "cluster") == "cluster" and "name" in r]
    flagged = "".join(f"<p class='muted'>{html.escape(n)}</p>" for n in notes
                      if any(n.startswith(f"{r['name']} holds ") for r in shown))
    doubtful = [r for r in shown if _finite(r.get("stability")) and r["stability"] < CLUSTER_STABLE]
    if not doubtful:
        return flagged
    names = fmt.listing(f"{html.escape(str(r['name']))} (stability {r['stability']:.2f})" for r in doubtful)
    one = len(doubtful) == 1
    return (f"<p class='muted'>The cluster{'' if one else 's'} {names} reproduce{'s' if one else ''} in the refits "
            f"only as a pattern (below {CLUSTER_STABLE:g}, page 06): the group is there, but who belongs to it is "
            f"doubtful, so {'its' if one else 'their'} churn is a rough guide.</p>" + flagged)


# --- the decision page ---------------------------------------------------------------------------

def _currency(results: dict[str, Any]) -> str | None:
    """The configured currency: ``run.config.currency`` of results.json (None: amounts without a symbol)."""
    return ((results.get("run") or {}).get("config") or {}).get("currency")


def _money_of(results: dict[str, Any]):
    cur = _currency(results)
    return lambda x: fmt.money(x, cur)


def _pct0(x: float | None) -> str:
    return fmt.percent(x, 0)


def headline(results: dict[str, Any]) -> str:
    """One line: this quarter's NPS, its change since last quarter and whether that change is
    real (its 95% interval excludes zero), in words.

    Examples
    --------
    >>> headline({"quarter": "2026Q3", "nps": {"value": 17.4}, "trends": [{"quarter": "2026Q2"},
    ...     {"quarter": "2026Q3", "change": 3.5, "change_ci_low": -1.8, "change_ci_high": 8.9, "p_value": 0.2}]})
    'NPS is 17.4 in 2026Q3, up 3.5 points since 2026Q2, a change within chance (likely range -1.8 to +8.9).'
    """
    n = results.get("nps") or {}
    if n.get("value") is None:
        return f"No NPS could be computed for {results.get('quarter', 'this quarter')}."
    line = f"{_score_label(n)} is {fmt.number(n['value'], 1)} in {results['quarter']}"
    trends = results.get("trends") or []
    last = trends[-1] if len(trends) >= 2 else {}
    if last.get("change") is None:
        return line + "; no earlier quarter to compare with."
    ch, lo, hi = last["change"], last.get("change_ci_low"), last.get("change_ci_high")
    rng = f" (likely range {fmt.points(lo)} to {fmt.points(hi)})" if _finite(lo, hi) else ""
    line = f"{line}, {_move(ch)} since {trends[-2]['quarter']}, {change_in_words(ch, lo, hi)}{rng}"
    year = results.get("nps_change_year") or {}
    if year.get("change") is not None:  # a climb of small steps shows over the year, not in the last step
        ylo, yhi = year.get("ci_low"), year.get("ci_high")
        yrng = f" (likely range {fmt.points(ylo)} to {fmt.points(yhi)})" if _finite(ylo, yhi) else ""
        line += f"; {_move(year['change'])} since {year['from']}, {change_in_words(year['change'], ylo, yhi)}{yrng}"
    return line + "."


def money_at_stake(results: dict[str, Any]) -> list[str]:
    """The money at stake and the break-even, in the report's currency (empty without an ROI)."""
    roi = (results.get("roi") or {}).get("passive_to_promoter")
    if not roi:
        return []
    m = _money_of(results)
    out = [f"Moving {fmt.integer(roi['customers_moved'])} of {fmt.integer(roi.get('n_passives', 0))} passives to "
           f"promoters is worth "
           f"{m(roi['value_per_customer'])} per moved passive over {roi['horizon_years']} years (likely range "
           f"{m(roi.get('value_per_customer_ci_low'))} to {m(roi.get('value_per_customer_ci_high'))}): "
           f"{m(roi['benefit'])} in total against {_cost_words(roi, results)}, net {m(roi['net'])}. "
           f"The passives are moved once and their gain counted over the {roi['horizon_years']} years; passives "
           "moved in later years would add value not counted here."]
    share, n_pass = roi.get("break_even_share"), roi.get("n_passives")
    if share is None or not _finite(share) or share <= 0:
        hi = roi.get("value_per_customer_ci_high")
        out.append("No break-even can be stated: the value of a moved passive is negative (its whole likely range "
                   "is below zero), so moving more passives only loses more." if _finite(hi) and hi < 0 else
                   "No break-even can be stated: the value of a moved passive may be zero or negative.")
    elif share > 1:
        out.append(f"Break-even: the program would pay for itself only by moving {_pct0(share)} of passives, "
                   f"more than there are ({fmt.integer(n_pass)}); at this cost it cannot break even.")
    else:
        need = f" ({fmt.integer(share * n_pass)} customers)" if n_pass else ""
        be = break_even_range(roi)
        rng = f"; likely range {_pct0(be[0])} to {_pct0(be[1])}, from the value's likely range" if be else ""
        # one decimal: the share and its count of customers agree as printed (39.7%, not 40%, of 2,882 is 1,143)
        out.append(f"Break-even: the program pays for itself once {fmt.percent(share, 1)} of passives are moved{need}{rng}.")
    return out


def recommendation(results: dict[str, Any]) -> tuple[str, str]:
    """What to do, following from the ROI evidence, and how sure: ``(kind, sentence)``.

    ``kind`` is ``"fund"`` (the whole ROI interval above break-even), ``"pilot"`` (the interval
    spans break-even), ``"do-not-fund"`` (the whole interval below), or ``"no-evidence"`` (no
    ROI, e.g. its effects were skipped). The best segment to target (first of
    ``roi.by_segment``) is named with its interval.
    """
    roi = (results.get("roi") or {}).get("passive_to_promoter")
    skipped = results.get("analyses_skipped") or {}
    if not roi:
        # the ROI's own reason names the model it lacks; the models' reasons only when it has none
        why = skipped.get("roi") or "; ".join(f"{skip_label(k)}: {v}" for k, v in sorted(skipped.items())
                                              if k in ("spend", "churn"))
        why = re.sub(r" \(([^()]*)\)", r", \1", why)  # no brackets inside the brackets
        return ("no-evidence", "No recommendation on funding: the ROI could not be computed from this export"
                + (f" ({why})." if why else ".") + " Fix the data gaps listed under Analyses skipped, then rerun.")
    kind, text = _recommendation(results, roi)
    hinge = assumption_hinge(roi)
    return kind, text + (f" {hinge}" if hinge and kind != "no-evidence" else "")


#: the analyses' keys in results.json's ``analyses_skipped``, in words
SKIPPED_ANALYSES = {
    "nps_change": "What moved NPS: customer mix or real change", "trends": "Quarter-over-quarter trends",
    "nps_change_year": "NPS change over the year",
    "roi": "ROI of moving passives to promoters", "retention_scenarios": "Retention scenarios",
    "spend": "Spend model", "churn": "Churn model", "returns": "Returns model", "clusters": "Behavioural clusters",
    "drivers": "Key drivers", "themes": "Comment themes",
    "adjustment_sensitivity": "Effects adjusted also for visits and contract value",
}
_SKIPPED_PARTS = {"metric ": "Metric", "segment ": "Segment dimension", "cluster column ": "Cluster column"}


def skip_label(key: str, score: str = "NPS") -> str:
    """A key of ``analyses_skipped`` in words: "nps_change" → "What moved NPS: customer mix or
    real change" ("NPS" replaced by ``score``, the net score's name, :func:`cxanalysis.fmt.score_name`),
    "metric csat" → "Metric: CSAT"; an unknown key as it is."""
    if key in SKIPPED_ANALYSES:
        return SKIPPED_ANALYSES[key].replace("NPS", score)
    for prefix, words in _SKIPPED_PARTS.items():
        if key.startswith(prefix):
            return f"{words}: {fmt.label(key[len(prefix):])}"
    return key


def skipped_html(skipped: dict[str, str], *, score: str = "NPS") -> str:
    """The "Analyses skipped" block: each analysis with its reason, in words, and the metrics whose
    column the export lacks in one line (a dashboard of absent columns would otherwise outgrow
    the evidence), all in a block the reader opens; ``score`` names the net score in the analyses'
    names (:func:`skip_label`). Empty when nothing was skipped."""
    if not skipped:
        return ""
    absent, items, one_quarter = [], [], []
    for k, v in sorted(skipped.items()):
        if k.startswith("metric ") and re.fullmatch(r"no [\w, ]+ columns?", str(v)):
            name = skip_label(k).split(": ", 1)[1]
            absent.append("NPS of the 0-10 recommend question" if name == "NPS" and score != "NPS" else name)
        elif k in ("trends", "nps_change", "nps_change_year") and str(v).startswith("only one quarter loaded"):
            one_quarter.append(skip_label(k, score))  # one cause, said once
        else:
            items.append(f"<li><b>{html.escape(skip_label(k, score))}</b>: {html.escape(str(v))}</li>")
    if one_quarter:
        items.insert(0, f"<li><b>{html.escape(fmt.listing(one_quarter))}</b>: only one quarter loaded</li>")
    if absent:
        items.append(f"<li><b>Metrics</b> whose column this export lacks: {html.escape(fmt.listing(absent))}</li>")
    n = len(skipped) - len(absent)
    counted = fmt.listing(([f"{n} analys{'es' if n > 1 else 'is'}"] if n else [])
                          + ([f"{len(absent)} metric{'s' if len(absent) > 1 else ''}"] if absent else []))
    return (f"<h2>Analyses skipped</h2><details><summary>{counted} could not run on this "
            f"export (open for the list and the reasons)</summary><ul>{''.join(items)}</ul></details>")


def break_even_range(roi: dict[str, Any]) -> tuple[float, float] | None:
    """The break-even share's likely range, ``cost / (passives x value)`` at the value's interval
    limits (a decreasing function of the value, so the value's 95% interval maps onto it exactly);
    None when the value's interval reaches zero or a figure is missing."""
    n, v_lo, v_hi, cost = (roi.get(k) for k in ("n_passives", "value_per_customer_ci_low",
                                                "value_per_customer_ci_high", "cost"))
    if not n or not _finite(v_lo, v_hi, cost) or v_lo <= 0:
        return None
    return cost / (n * v_hi), cost / (n * v_lo)


def _cost_words(roi: dict[str, Any], results: dict[str, Any]) -> str:
    """'the program and team cost of 473,155 (170,000 a year for 3 years, discounted)'."""
    m, a = _money_of(results), roi.get("assumptions") or {}
    annual = (a.get("program_cost_per_year") or 0) + (a.get("team_cost_per_year") or 0)
    years = math.ceil(roi["horizon_years"]) if _finite(roi.get("horizon_years")) else None
    how = (f" ({m(annual)} a year for {years} year{'s' if years != 1 else ''}, discounted)"
           if a and years else "")
    return f"the program and team cost of {m(roi['cost'])}{how}"


def assumption_hinge(roi: dict[str, Any]) -> str:
    """The assumption a funding decision hinges on: the share of passives the program is assumed to
    move against the share at which it breaks even, with that share's likely range. The range is
    ``cost / (passives x value)`` at the value's interval limits: a decreasing function of the
    value, so it maps the value's 95% interval onto the break-even share's exactly. Empty when the
    figures are missing."""
    n, moved, share = roi.get("n_passives"), roi.get("customers_moved"), roi.get("break_even_share")
    if not n or moved is None or not _finite(share):
        return ""
    be = break_even_range(roi)
    pct1 = lambda x: fmt.percent(x, 1)  # noqa: E731 - as the break-even card and page 05 give it
    rng = f" (likely range {pct1(be[0])} to {pct1(be[1])})" if be else ""
    assumed = f"This rests on the program moving {_pct0(moved / n)} of passives ({fmt.integer(moved)} customers, moved once)"
    if share > 1:
        return f"{assumed}; it would break even only by moving {pct1(share)}{rng} of them, more than there are."
    return f"{assumed}; it breaks even at {pct1(share)}{rng}."


def _recommendation(results: dict[str, Any], roi: dict[str, Any]) -> tuple[str, str]:
    lo, hi = roi.get("roi_ci_low"), roi.get("roi_ci_high")
    m = _money_of(results)
    targets = (results.get("roi") or {}).get("by_segment") or []
    best = targets[0] if targets else None

    def named(seg):
        return (f"{fmt.segment_name(seg['dimension'], seg['segment'])} "
                f"({m(seg['value_per_customer'])} per moved passive, likely range {m(seg['ci_low'])} to "
                f"{m(seg['ci_high'])})")

    where = named(best) if best is not None else ""
    rng = "the ROI's likely range is {} to {}".format(*fmt.percents(lo, hi, roi.get("roi"))[:2])
    # the ROI rests on the promoter effects: one that is flagged (separation) or runs against the
    # expected direction makes it indicative
    effects = results.get("effects") or {}
    flagged = [fmt.words(o).lower() for o, e in effects.items()
               if isinstance(e, dict) and (e.get("promoter_vs_passive") or {}).get("flagged")]
    score = (results.get("nps") or {}).get("score", "nps_score")
    promoter = {o: e["promoter_vs_passive"] for o, e in effects.items()
                if isinstance(e, dict) and isinstance(e.get("promoter_vs_passive"), dict)}
    reversed_ = [fmt.words(o).lower() for o, e in promoter.items()
                 if unexpected_directions({o: {"promoter_vs_passive": e}}, score)]
    why = ([f"the {fmt.listing(reversed_)} effect{'s run' if len(reversed_) > 1 else ' runs'} against the expected "
            "direction"] if reversed_ else []) + (
        [f"the {fmt.listing(flagged)} model{'s are' if len(flagged) > 1 else ' is'} flagged"] if flagged else [])
    sure = (f"Indicative only: {' and '.join(why)} (see Read before acting); given that and the assumptions below"
            if why else "Fairly sure, given the assumptions below")
    if not _finite(lo, hi):
        return ("no-evidence", f"No recommendation on funding: the ROI ({_pct0(roi.get('roi'))}) has no interval "
                "on this evidence, so how sure it is cannot be said.")
    if reversed_:  # a value built on a reversed effect says more about the export than about a program
        face = ("wholly below break-even" if hi < 0 else "wholly above break-even" if lo > 0 else "spanning break-even")
        also = f", and {why[1]}" if len(why) > 1 else ""
        runs = "which run" if len(reversed_) > 1 else "which runs"
        return ("no-evidence", f"No recommendation on funding: the ROI rests on the {fmt.listing(reversed_)} "
                f"effect{'s' if len(reversed_) > 1 else ''}, {runs} against the expected direction{also} (see Read "
                "before acting). Until that is explained (what the score and the outcome measure in this export, "
                "and when the score was collected), the ROI does not say what a program would return. At face "
                f"value {rng}, {face}.")
    if lo > 0:
        tail = f" Start where it pays most, in {where}." if where else ""
        return ("fund", f"Fund the program. {sure}: {rng}, wholly above break-even.{tail}")
    if hi < 0:
        # a segment "might pay" when its own ROI range reaches break-even: the first such (by value)
        may_pay = [t for t in targets if not (_finite(t.get("roi_ci_high")) and t["roi_ci_high"] < 0)]
        if best is None:
            tail = ""
        elif not may_pay:
            tail = (f" No segment pays either: even the one worth most per moved passive, {where}, has its whole "
                    "ROI range below break-even at its share of the cost.")
        else:
            tail = f" Only a smaller program aimed at {named(may_pay[0])} might pay; price that first."
        return ("do-not-fund", f"Do not fund the program at its configured cost. {sure}: {rng}, wholly below "
                f"break-even.{tail}")
    tail = f" Pilot it in {where} and measure the moved passives' spend and churn." if where else ""
    return ("pilot", f"Run a pilot before funding the whole program. Not sure: {rng}, which spans break-even, "
            f"so a loss is as consistent with the data as a gain.{tail}")


def _split_sentence(dec: dict, score: str = "NPS") -> str:
    """One split of an NPS change (:func:`cxanalysis.trends.nps_change_decomposition`) for the
    summary: the dimension whose mix part is clearest (largest |mix| over its interval's half-width)
    among those fixed before the score (not :data:`MAY_FOLLOW_THE_SCORE`, whose mix may be part of
    the change rather than explain it; they are used only when nothing else is split), and how
    many splits it was chosen from."""
    from .narrative import change_decomposition_sentence

    def clarity(r):
        half = (r["mix_ci_high"] - r["mix_ci_low"]) / 2
        return abs(r["mix"]) / half if half > 0 else abs(r["mix"])

    fixed = [r for r in dec["by"] if r["dimension"] not in MAY_FOLLOW_THE_SCORE]
    chosen = fixed or dec["by"]
    sentence = change_decomposition_sentence(max(chosen, key=clarity), score)
    of = f"Of the {fmt.points(dec['change'])} points since {dec['from']}" if _finite(dec.get("change")) else None
    sentence = f"{of}, b{sentence[1:]}" if of and sentence.startswith("By ") else sentence
    left = [r["dimension"] for r in dec["by"] if r not in chosen]
    if left:
        n = len(chosen)
        sentence += (f" (The clearest of {'the ' + str(n) + ' splits' if n > 1 else 'the one split'} by traits fixed "
                     f"before the score; {fmt.listing(fmt.words(d) for d in left)} may follow the experience, so "
                     f"{'their mix is' if len(left) > 1 else 'its mix is'} left to the metrics and trends page, "
                     "which gives every split.)")
    elif len(dec["by"]) > 1:
        sentence += f" (The clearest of {len(dec['by'])} splits; the metrics and trends page gives them all.)"
    return sentence


CAUSAL_CAVEAT = ("These effects are associations, adjusted for the configured covariates: they are causal only if "
                 "no unmeasured difference between promoters and passives drives both the score and the outcome "
                 "(see the E-values in the technical appendix of the outcomes page).")


def causal_caveat(results: dict[str, Any]) -> str:
    """:data:`CAUSAL_CAVEAT` naming the covariates the models adjusted for (``models.covariates``
    of results.json), and what a reader might expect adjusted for that is not."""
    covs = (results.get("models") or {}).get("covariates")
    if covs is None:
        return CAUSAL_CAVEAT
    if not covs:
        named = "adjusted for no covariate (none configured)"
    else:
        named = "adjusted for " + fmt.listing(fmt.words(c) for c in covs)
    columns = [c.get("column") for c in ((results.get("data_quality") or {}).get("columns") or [])
               if isinstance(c, dict)]
    # only columns the export has: explaining why absent ones are not adjusted for reads as if they were there
    left = [fmt.words(c) for c in MAY_FOLLOW_THE_SCORE if c not in (covs or []) and (not columns or c in columns)]
    them = "them" if len(left) > 1 else "it"
    why = (f" Not for {' or '.join(left)}: the experience may change {them}, and adjusting for a consequence of the "
           f"score would hide part of its effect (add {them} to covariates in cx.yaml to adjust anyway)."
           if left else "")
    timing = (" Churn is recorded in the same quarter as the score, so part of the churn effect may run from "
              "leaving to the score." if "churn" in (results.get("effects") or {}) else "")
    return (f"These effects are associations, {named}: they are causal only if no unmeasured difference between "
            "promoters and passives drives both the score and the outcome (see the E-values in the technical "
            f"appendix of the outcomes page).{why}{timing}")

GLOSSARY = (
    ("NPS", "Net Promoter Score: the share of promoters minus the share of detractors, in points from -100 to "
            "+100."),
    ("Promoter, passive, detractor", "Customers scoring at the top of the scale (9-10 by default), in the "
                                     "middle (7-8), and at the bottom (0-6)."),
    ("Percentage point", "The difference between two percentages: churn going from 10% to 12% is +2 "
                         "percentage points (pp)."),
    ("Likely range (interval)", "The 95% interval: the values the data are consistent with, allowing for "
                                "sampling error (not for who chose to answer, or for a wrong model). When it "
                                "includes no change (0, or a ratio of 1) the data cannot tell an effect from "
                                "chance."),
    ("Break-even", "The point where the program's value equals its cost (ROI = 0)."),
    ("E-value", "How strongly an unmeasured factor would have to be tied to both the score and the outcome to "
                "explain an effect away; values close to 1 mean a fragile conclusion."),
)


def near_duplicate_warning(results: dict[str, Any]) -> list[str]:
    """The summary's note (a list of one, or empty) when page 01 found rows identical but for the
    customer id (``data_quality.suspect`` of results.json, :func:`cxanalysis.schema.near_duplicates`):
    if they are copies, every figure counts those customers twice.

    Examples
    --------
    >>> near_duplicate_warning({"data_quality": {"suspect": [{"rule": "rows that match another row on every "
    ...     "column but the customer id", "rows": 4, "groups": 2, "pairs": True, "of": 40}]}})[0][:60]
    "2 customers appear twice (4 of the quarter's 40 rows, 10.0%,"
    """
    found = next((s for s in (results.get("data_quality") or {}).get("suspect") or []
                  if s.get("rule") == NEAR_DUPLICATE_RULE), None)
    if not found:
        return []
    kept = found.get("of") or 0
    extra = found["rows"] - found["groups"]
    what = (f"{found['groups']:,} customers appear twice" if found.get("pairs")
            else f"{found['groups']:,} customers appear several times")
    share = (f" ({found['rows']:,} of the quarter's {kept:,} rows, {found['rows'] / kept:.1%}, are identical in "
             "every column but the customer id)" if kept else " (identical in every column but the customer id)")
    return [f"{what}{share}, as if exported again under new ids. If they are copies, {extra:,} rows count twice in "
            "every figure here and every likely range is a little too narrow: a finding near the edge of chance "
            "(p close to 0.05) may not survive without them. Ask the owner of the export before acting, or re-run "
            "with cleaning: {near_duplicates: drop} in cx.yaml to see the figures without them (data-quality page)."]


def unexpected_directions(effects: dict[str, Any], score: str = "nps_score", per_point=None) -> list[str]:
    """Effects whose whole likely range runs against the expected direction (promoters churning
    more, detractors spending more, ...), in one note (a list of one, or empty) asking the reader
    to check the score before acting: a reversed scale, a score collected after the outcome, or an outcome
    that is really something else (spend that is the price of the plan). Flagged effects are
    left to their own note. ``per_point``: the per-point effects as rows (``outcome``, ``estimate``,
    ``ci_low``, ``ci_high``, ``scale``, ``flagged``), as ``models.per_point`` of results.json holds them,
    or a table of effects whose ``per_point`` rows are taken.

    Examples
    --------
    >>> unexpected_directions({"churn": {"detractor_vs_passive": {"estimate": -2.6, "ci_low": -4.8,
    ...                        "ci_high": -0.3, "scale": "pp"}}}, "csat")[0][:62]
    'Unexpected direction: detractors churn 2.6 percentage points l'
    """
    effects = {o: dict(v) for o, v in (effects or {}).items() if isinstance(v, dict)}
    if hasattr(per_point, "to_dict"):  # an effects table (OutcomeModels.effects): its per-point rows
        per_point = per_point[per_point["contrast"] == "per_point"].to_dict("records")
    for row in per_point if per_point is not None else []:  # models.per_point of results.json: rows
        effects.setdefault(row["outcome"], {})["per_point"] = row
    out = []
    for outcome in EXPECTED:
        for contrast, e in (effects.get(outcome) or {}).items():
            if not isinstance(e, dict) or e.get("flagged"):
                continue
            lo, hi = e.get("ci_low"), e.get("ci_high")
            if not _finite(lo, hi):
                continue
            if effect_direction(outcome, contrast, lo, hi, e.get("scale")) == "unexpected":
                said = (effect_sentence(outcome, contrast, e) if contrast != "per_point" else
                        _per_point_sentence(outcome, e, score))
                out.append((said[:1].lower() + said[1:-1], fmt.words(outcome).lower()))
    if not out:
        return []
    outcomes = fmt.listing(dict.fromkeys(o for _, o in out))
    return [f"Unexpected direction{'s' if len(out) > 1 else ''}: " + "; ".join(s for s, _ in out)
            + f". {'These run' if len(out) > 1 else 'This runs'} against what a better experience is expected to "
            f"do. Check that a high {fmt.words(score)} means a satisfied customer in this export, when the score was "
            f"collected, and what {outcomes} measure{'s' if ' and ' not in outcomes else ''} here, before acting "
            "on it."]


def _per_point_sentence(outcome: str, e: dict[str, Any], score: str) -> str:
    """'One point more on CSAT goes with churn 1.8 percentage points higher (likely range 1.1 to 2.5).'"""
    if e.get("scale") == "ratio":
        est, lo, hi = (100 * (e[k] - 1) for k in ("estimate", "ci_low", "ci_high"))
        move = f"{fmt.words(outcome).lower()} {abs(est):.1f}% {'higher' if est > 0 else 'lower'}"
        rng = f"{abs(lo):.1f}% to {abs(hi):.1f}%" if est > 0 else f"{abs(hi):.1f}% to {abs(lo):.1f}%"
    else:
        est, lo, hi = e["estimate"], e["ci_low"], e["ci_high"]
        move = f"{fmt.words(outcome).lower()} {abs(est):.1f} percentage points {'higher' if est > 0 else 'lower'}"
        rng = f"{abs(lo):.1f} to {abs(hi):.1f} pp" if est > 0 else f"{abs(hi):.1f} to {abs(lo):.1f} pp"
    return f"One point more on {fmt.words(score)} goes with {move} (likely range {rng})."


def separation_fact(results: dict[str, Any]) -> str | None:
    """Who, in the churn contrasts, all stayed or all churned ("no promoter and no passive"): the
    categories whose contrast is the observed difference because nobody in them churned, or
    everybody did (:meth:`cxanalysis.models.OutcomeModels.effects`). None when no contrast is so."""
    churn = (results.get("effects") or {}).get("churn") or {}
    still = [c.split("_vs_")[0] for c, e in churn.items()
             if isinstance(e, dict) and str(e.get("method", "")).startswith("observed: every")]
    if not still:
        return None
    stayed = all("stayed" in str(churn[f"{c}_vs_passive"]["method"]) for c in still)
    return fmt.listing(f"{'no' if stayed else 'every'} {c}" for c in [*still, "passive"])


def separation_in_words(results: dict[str, Any]) -> str | None:
    """The board-level reading of a churn contrast between groups in which nobody churned (the
    effect is then the observed difference, :meth:`cxanalysis.models.OutcomeModels.effects`): the
    score tracks churn too closely to value a change in experience. None when no contrast is so."""
    if (who := separation_fact(results)) is None:
        return None
    return (f"{who[:1].upper()}{who[1:]} churned this quarter. A score "
            "that tracks churn this closely may have been recorded with or after the decision to leave (an exit "
            "survey, a field derived from churn): check when it was collected before reading the churn effects as "
            "what a better experience would change.")


def glossary(results: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """:data:`GLOSSARY` for this run: the net score named as the pages name it, and the categories'
    cut-offs those of the configuration (5 / 4 / 1-3 on a 1-5 CSAT, not NPS's 9-10 / 7-8 / 0-6)."""
    config = (results.get("run") or {}).get("config") or {}
    cats = config.get("categories") or {}
    score = cats.get("score", (results.get("nps") or {}).get("score", "nps_score"))
    lo, hi = (config.get("scales") or {}).get(score, [0, 10] if score == "nps_score" else [None, None])
    top, bottom = cats.get("promoter_min", 9), cats.get("detractor_max", 6)
    if score == "nps_score" and (lo, hi, top, bottom) == (0, 10, 9, 6):
        return GLOSSARY

    scale = f" on its {fmt.score_span(lo, hi)} scale" if lo is not None and hi is not None else ""
    middle = (f", in the middle ({fmt.score_span(bottom + 1, top - 1)})" if top - bottom > 1 else "")
    top_s = fmt.score_span(top, hi) if hi is not None else f"{float(top):g} and above"  # a scale not configured
    bottom_s = fmt.score_span(lo, bottom) if lo is not None else f"{float(bottom):g} and below"
    name = _score_label({"score": score})
    terms = {
        "NPS": (name, (f"The share of promoters minus the share of detractors of the {fmt.words(score)} score{scale}, "
                       "in points from -100 to +100: NPS's formula on another score, so not comparable with an NPS "
                       "benchmark.") if score != "nps_score" else GLOSSARY[0][1]),
        "Promoter, passive, detractor": ("Promoter, passive, detractor",
                                         f"Customers scoring at the top of the {fmt.words(score)} scale ({top_s})"
                                         f"{middle}, and at the bottom ({bottom_s}), as configured (categories in "
                                         "cx.yaml)."),
    }
    return tuple(terms.get(k, (k, v)) for k, v in GLOSSARY)


def trend_chart(results: dict[str, Any]) -> tuple[str, str] | None:
    """A small NPS-per-quarter chart with 95% intervals: ``(PNG as base64, alt text)``, or None
    with fewer than two quarters. The alt text is :func:`cxanalysis.alt.describe` of the chart."""
    trends = [t for t in (results.get("trends") or []) if t.get("nps") is not None]
    if len(trends) < 2:
        return None
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from .alt import describe

    fig = Figure(figsize=(5.2, 2.4), dpi=110)
    ax = fig.add_subplot()
    x = list(range(len(trends)))
    y = [t["nps"] for t in trends]
    lo = [t["nps"] - t["ci_low"] if t.get("ci_low") is not None else 0 for t in trends]
    hi = [t["ci_high"] - t["nps"] if t.get("ci_high") is not None else 0 for t in trends]
    score = _score_label(results.get("nps") or {})
    ax.errorbar(x, y, yerr=[lo, hi], color="#0072B2", ecolor="#777", capsize=3, lw=1.8, marker="o", label=score)
    ax.set_xticks(x, [t["quarter"] for t in trends])
    ax.set_title(f"{score} per quarter (bars: likely range)", fontsize=10)
    # the axis spans the data, not the scale's -100 to +100: said, so a small rise is not read as steep
    ax.set_ylabel("points (axis zoomed\nto the data)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#eee")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode(), describe(fig)


def net_value_tile(roi: dict[str, Any], m) -> str:
    """The net value tile: over the ROI's horizon, discounted, with its likely range (``m``
    formats money)."""
    lo, hi = roi.get("net_ci_low"), roi.get("net_ci_high")
    rng = f"likely range {m(lo)} to {m(hi)}; " if _finite(lo, hi) else ""
    years = roi.get("horizon_years")
    label = f"Net value over {years} years" if years else "Net value"
    return _tile(label, m(roi.get("net")),
                 f"{rng}benefit {m(roi.get('benefit'))}, cost {m(roi.get('cost'))}, discounted")


def _change_tile(since: str, change: float, lo: float | None, hi: float | None) -> str:
    """The tile of an NPS change since quarter ``since``: the change, whether it is real, its range."""
    real = change_in_words(change, lo, hi)
    rng = f" (likely range {fmt.points(lo)} to {fmt.points(hi)})" if _finite(lo, hi) else ""
    return _tile(f"Since {since}", fmt.points(change), real[:1].upper() + real[1:] + rng)


def _tile(label: str, value: str, note: str = "", cls: str = "") -> str:
    c = f" class='{cls}'" if cls else ""
    n = f"<span class='muted'>{html.escape(note)}</span>" if note else ""
    return f"<div{c}>{html.escape(label)}<b>{html.escape(value)}</b>{n}</div>"


def _nav_html(pages: list[str]) -> str:
    return "".join(f"<li><a href='{html.escape(p)}.html'>{html.escape(TITLES.get(p, p))}</a></li>" for p in pages)


def write_index(root: Path, results: dict[str, Any], pages: list[str]) -> Path:
    """Write ``index.html`` in ``root`` from ``results`` and link every notebook page.

    The page reads as a decision: a headline, the recommendation and how sure it is, the money at
    stake and the break-even, a small NPS trend chart, the evidence in "likely range" wording
    with its causal caveat, a glossary one click away, then the detail (segments and clusters at
    risk, skipped analyses) and links to every page. Columns are named as the run's cx.yaml
    ``labels`` says (results.json's ``run.config``, :func:`cxanalysis.fmt.use_labels`).
    """
    fmt.use_labels(((results.get("run") or {}).get("config") or {}).get("labels"))
    q = results["quarter"]
    n = results.get("nps", {})
    m = _money_of(results)
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in headline_sentences(results))
    kpis = ""
    if n:
        kpis = _tile(_score_label(n), fmt.number(n["value"], 1),
                     f"likely range {fmt.interval(n['ci_low'], n['ci_high'], 'points', decimals=1)}")
        if has_non_respondents(results):  # the NPS stands for the whole base
            resp = results["response"]
            kpis += _tile("Respondents", fmt.integer(results["n_customers"]),
                          f"of {fmt.integer(resp['base'])} customers ({fmt.percent(resp.get('rate'), 0)})")
        else:
            kpis += _tile("Customers", fmt.integer(results["n_customers"]))
        trends = results.get("trends") or []
        if len(trends) >= 2 and trends[-1].get("change") is not None:
            t = trends[-1]
            kpis += _change_tile(trends[-2]["quarter"], t["change"], t.get("change_ci_low"), t.get("change_ci_high"))
        year = results.get("nps_change_year") or {}
        if year.get("change") is not None:
            kpis += _change_tile(year["from"], year["change"], year.get("ci_low"), year.get("ci_high"))
    roi = (results.get("roi") or {}).get("passive_to_promoter")
    kind, rec = recommendation(results)
    if roi:
        lo, hi = roi.get("roi_ci_low"), roi.get("roi_ci_high")
        tone = "good" if _finite(lo) and lo > 0 else "bad" if _finite(hi) and hi < 0 else "unsure"
        face = ("<span class='muted face'>At face value only: no recommendation rests on it (see below).</span></div>"
                if kind == "no-evidence" else "</div>")  # a figure the page disowns is greyed and says so
        tone = "void" if kind == "no-evidence" else tone
        kpis += roi_tile(roi).replace("<div>", f"<div class='{tone}'>", 1).removesuffix("</div>") + face
        net = net_value_tile(roi, m)
        kpis += (net.replace("<div>", "<div class='void'>", 1).removesuffix("</div>") + face
                 if kind == "no-evidence" else net)
        share = roi.get("break_even_share")
        if _finite(share) and share > 0:
            n_pass = roi.get("n_passives") or 0
            be = break_even_range(roi)
            kpis += _tile("Break-even", f"{fmt.percent(share, 1) if share <= 1 else _pct0(share)} of passives",
                          (f"{fmt.integer(share * n_pass)} customers" if share <= 1
                           else f"more than the {fmt.integer(n_pass)} there are")
                          + (f"; likely range {_pct0(be[0])} to {_pct0(be[1])}" if be else ""))
    stake = "".join(f"<li>{html.escape(x)}</li>" for x in money_at_stake(results))
    chart = trend_chart(results)
    chart_html = (f"<figure class='trend'><img src='data:image/png;base64,{chart[0]}' alt='{html.escape(chart[1])}' "
                  f"width='572' height='264'></figure>") if chart else ""
    terms = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in glossary(results))
    churn_row = next((m for m in results.get("metrics") or [] if isinstance(m, dict)
                      and m.get("metric") == "Churn rate"), {})
    overall_churn = churn_row.get("value")
    tracks = separation_fact(results)
    overall_nps, label = (n.get("value") if n else None), _score_label(n or {})
    segments, clus = results.get("segments") or [], results.get("clusters") or {}
    seg_html = segments_at_risk_html(segments, overall_nps, label=label, churn=overall_churn)
    seg_html += clusters_at_risk_html(clus.get("profile") or [], overall_nps, weak=clus.get("weak_structure"),
                                      circular=bool(clus.get("circular")), churn=overall_churn, label=label)
    at_risk = {fmt.segment_name(r["dimension"], r["segment"]) for r in segments_at_risk(segments, overall_nps,
                                                                                          overall_churn)}
    if not clus.get("circular"):
        at_risk |= {f"Cluster: {r['name']}" for r in clusters_at_risk(clus.get("profile") or [], overall_nps,
                                                                      overall_churn)}
    seg_html += churn_leaders_html(segments, clus.get("profile") or [], churn=overall_churn, label=label,
                                   clusters_usable="churned" not in (clus.get("columns") or []),
                                   circular=bool(clus.get("circular")), tracks=tracks, at_risk=at_risk,
                                   weighted=str((results.get("response") or {}).get("weighting", "")).startswith("raking"),
                                   unsegmented=results.get("unsegmented") or [],
                                   census=str(churn_row.get("method", "")).startswith(EVERY_CUSTOMER),
                                   all_answered=(results.get("response") or {}).get("rate") == 1,
                                   cluster_notes=clus.get("warnings") or [])
    warnings = [w for w in (results.get("models") or {}).get("warnings", [])
                if "separation" in w or w.endswith(LEFT_OUT_DIFFERS)]  # the effects' own population
    if steady := ((results.get("roi") or {}).get("passive_to_promoter") or {}).get("steady_churn"):
        warnings.append(steady)  # every money figure rests on the lifetime values it doubts
    if (plain := separation_in_words(results)) is not None:  # says it plainly: page 04 keeps the models' terms
        warnings = [plain] + [w for w in warnings if "separation" not in w]
    warnings += unexpected_directions(results.get("effects") or {}, (results.get("nps") or {}).get("score", "nps_score"),
                                      per_point=(results.get("models") or {}).get("per_point"))
    warnings += near_duplicate_warning(results)
    warn_html = ("<h2>Read before acting</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
                 + "</ul>") if warnings else ""
    assumptions = assumptions_sentence(results)
    skipped = results.get("analyses_skipped") or {}
    skip_html = skipped_html(skipped, score=_score_label(n or {}))
    errors = results.get("run", {}).get("errors")
    err_html = ("<h2>Problems in this run</h2><ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in errors)
                + "</ul>") if errors else ""
    clean = results.get("run", {}).get("cleaning", {})
    caveat = f"<p class='caveat'>{html.escape(causal_caveat(results))}</p>" if results.get("effects") else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(q)} \u00b7 Summary \u00b7 CX report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><header class="top"><span class="quarter">{html.escape(q)}</span> · CX report ·
<a href="#glossary">Glossary</a></header>
<h1>Customer experience report, {html.escape(q)}</h1>
<p class="headline">{html.escape(headline(results))}</p>
<section class="rec {kind}"><h2>Recommendation</h2><p>{html.escape(rec)}</p></section>
{err_html}{warn_html}
<div class="kpi">{kpis}</div>
{"<h2>Money at stake</h2><ul>" + stake + "</ul>" if stake else ""}
{chart_html}
<h2>The evidence</h2><ul>{sentences}</ul>{caveat}<p class="muted">{html.escape(assumptions)}</p>
<details id="glossary"><summary>Glossary: {html.escape(_score_label(n or {}))}, passive, percentage point, likely range, E-value</summary>
<dl>{terms}</dl></details>
{seg_html}{skip_html}
<h2>Detailed reports</h2><ol>{_nav_html(pages)}</ol>
<p class="muted">Rows read {fmt.integer(clean.get('rows_in', 0))}; kept after cleaning
{fmt.integer(clean.get('rows_out', 0))} (see the data-quality page). Likely ranges are 95% intervals. Generated from results.json
({html.escape(results.get('run', {}).get('started', ''))}).</p>
</body></html>"""
    path = root / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def load_results(root: Path) -> dict[str, Any]:
    return json.loads((root / "results.json").read_text())
