"""The report as a decision document (issue 15): the summary's recommendation and headline, page
titles and navigation, the technical appendix, and, on a real report in a real browser, titles,
alt text, no horizontal clipping, back links and no raw artefacts; report.pdf."""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess

import nbformat
import numpy as np
import pytest

from cxanalysis import summary
from cxanalysis.report import _render_html, group_appendix, notebook_paths, page_chrome

from .browser import CHROMIUM_ARGS, chromium_path


def _roi(lo, hi, **over):
    r = {"customers_moved": 40, "n_passives": 400, "value_per_customer": 212.0, "horizon_years": 3,
         "benefit": 8480.0, "cost": 6000.0, "net": 2480.0, "roi": 0.41, "roi_ci_low": lo, "roi_ci_high": hi,
         "value_per_customer_ci_low": 100.0, "value_per_customer_ci_high": 330.0, "break_even_share": 0.0708}
    r.update(over)
    return r


SEGMENT = {"dimension": "plan", "segment": "Gold", "n_passives": 120, "customers_moved": 12,
           "value_per_customer": 690.0, "ci_low": 610.0, "ci_high": 770.0, "roi": 0.2, "roi_ci_low": -0.1,
           "roi_ci_high": 0.5}


def _results(roi=None, segments=(SEGMENT,), currency="EUR", **over):
    r = {"quarter": "2026Q3", "n_customers": 1000, "analyses_skipped": {},
         "run": {"config": {"currency": currency}},
         "nps": {"value": 20.0, "ci_low": 15.0, "ci_high": 25.0, "promoters": 0.4, "passives": 0.4,
                 "detractors": 0.2}}
    if roi is not None:
        r["roi"] = {"passive_to_promoter": roi, "by_segment": list(segments)}
    r.update(over)
    return r


# --- recommendation: every evidence case --------------------------------------------------------

def test_whole_roi_interval_above_break_even_recommends_funding_and_names_the_best_segment():
    kind, s = summary.recommendation(_results(_roi(0.1, 0.9)))
    assert kind == "fund"
    assert s == ("Fund the program. Fairly sure, given the assumptions below: the ROI's likely range is 10% to 90%, wholly above break-even. "
                 "Start where it pays most, in Plan: Gold (€690 per moved passive, likely range €610 to €770). "
                 "This rests on the program moving 10% of passives (40 customers, moved once); it breaks even at 7.1% "
                 "(likely range 4.5% to 15.0%).")


def test_roi_interval_spanning_break_even_recommends_a_pilot_in_the_best_segment():
    kind, s = summary.recommendation(_results(_roi(-0.3, 1.2)))
    assert kind == "pilot"
    assert s.startswith("Run a pilot before funding the whole program. Not sure: the ROI's likely range is "
                        "-30% to 120%, which spans break-even")
    assert s.endswith("Pilot it in Plan: Gold (€690 per moved passive, likely range €610 to €770) and measure "
                      "the moved passives' spend and churn. This rests on the program moving 10% of passives "
                      "(40 customers, moved once); it breaks even at 7.1% (likely range 4.5% to 15.0%).")


def test_roi_interval_below_break_even_says_do_not_fund_and_whether_any_segment_pays():
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2)))
    assert kind == "do-not-fund"
    assert "wholly below break-even" in s and "Only a smaller program aimed at Plan: Gold" in s
    losing = dict(SEGMENT, roi_ci_low=-0.9, roi_ci_high=-0.5)
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[losing]))
    assert kind == "do-not-fund" and "No segment pays either: even the one worth most per moved passive, Plan: Gold" in s
    # a segment lower by value whose own range reaches break-even is the one that might pay
    reaching = dict(SEGMENT, segment="Silver", value_per_customer=500.0, ci_low=300.0, ci_high=700.0, roi_ci_low=-0.8,
                    roi_ci_high=0.3)
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[losing, reaching]))
    assert kind == "do-not-fund" and "No segment pays" not in s
    assert "Only a smaller program aimed at Plan: Silver (€500 per moved passive" in s
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[]))
    assert s == ("Do not fund the program at its configured cost. Fairly sure, given the assumptions below: the ROI's likely range is -90% to "
                 "-20%, wholly below break-even. This rests on the program moving 10% of passives (40 customers, moved once); "
                 "it breaks even at 7.1% (likely range 4.5% to 15.0%).")


def test_a_flagged_promoter_effect_makes_the_recommendation_indicative():
    """The ROI rests on the promoter effects: with the churn one flagged (separation) the
    recommendation is "indicative only", never "fairly sure"; a flagged detractor effect, which
    the ROI does not use, changes nothing; a promoter effect running the wrong way leaves no
    recommendation at all (the IBM Telco export: promoters spend less)."""
    flagged = {"churn": {"promoter_vs_passive": {"estimate": 0.0, "flagged": True},
                         "detractor_vs_passive": {"estimate": 30.0, "flagged": True}},
               "spend": {"promoter_vs_passive": {"estimate": 0.87, "flagged": False}}}
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[], effects=flagged))
    assert kind == "do-not-fund" and "Fairly sure" not in s
    assert s.startswith("Do not fund the program at its configured cost. Indicative only: the churn model is flagged "
                        "(see Read before acting); given that and the assumptions below: the ROI's likely range is")
    flagged["churn"]["promoter_vs_passive"]["flagged"] = False
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[], effects=flagged))
    assert "Fairly sure, given the assumptions below" in s
    # the spend effect the value rests on runs the wrong way (promoters spend less): said first
    flagged["spend"]["promoter_vs_passive"].update(estimate=0.87, ci_low=0.84, ci_high=0.91, scale="ratio")
    flagged["churn"]["promoter_vs_passive"]["flagged"] = True
    # the spend effect the value rests on runs the wrong way (promoters spend less): no recommendation,
    # the face value said, and no assumption hinge (it would read as advice)
    kind, s = summary.recommendation(_results(_roi(-0.9, -0.2), segments=[], effects=flagged))
    assert kind == "no-evidence"
    assert s == ("No recommendation on funding: the ROI rests on the spend effect, which runs against the expected "
                 "direction, and the churn model is flagged (see Read before acting). Until that is explained (what "
                 "the score and the outcome measure in this export, and when the score was collected), the ROI does "
                 "not say what a program would return. At face value the ROI's likely range is -90% to -20%, wholly "
                 "below break-even.")
    # the evidence list does not state as a finding what the recommendation disowns
    flagged["churn"]["promoter_vs_passive"].update(ci_low=-0.2, ci_high=0.3, scale="pp")
    flagged["churn"]["detractor_vs_passive"].update(ci_low=28.6, ci_high=31.1, scale="pp")
    said = summary.headline_sentences(_results(_roi(-0.9, -0.2), segments=[], effects=flagged))
    verdict = next(x for x in said if "pay for itself" in x)
    assert verdict.startswith("At face value only, since no recommendation rests on this ROI: the program does not "
                              "pay for itself")
    flagged["spend"]["promoter_vs_passive"].update(estimate=1.1, ci_low=1.05, ci_high=1.15)
    flagged["churn"]["promoter_vs_passive"]["flagged"] = False
    said = summary.headline_sentences(_results(_roi(-0.9, -0.2), segments=[], effects=flagged))
    assert "The program does not pay for itself" in " ".join(said) and "At face value only" not in " ".join(said)


def test_missing_roi_or_skipped_effects_give_no_recommendation_and_say_why():
    kind, s = summary.recommendation(_results(None, analyses_skipped={"spend": "no spend column",
                                                                     "themes": "no comment column"}))
    assert kind == "no-evidence"
    assert s == ("No recommendation on funding: the ROI could not be computed from this export (Spend model: no spend "
                 "column). Fix the data gaps listed under Analyses skipped, then rerun.")
    # the ROI's own reason, once (not the spend model's again, nor a returns model it does not need)
    kind, s = summary.recommendation(_results(None, analyses_skipped={
        "spend": "no spend column", "returns": "no returns column", "roi": "needs a spend model (no spend column)"}))
    assert s == ("No recommendation on funding: the ROI could not be computed from this export (needs a spend model, "
                 "no spend column). Fix the data gaps listed under Analyses skipped, then rerun.")
    kind, s = summary.recommendation(_results(_roi(None, None)))
    assert kind == "no-evidence" and "has no interval" in s


def test_headline_says_whether_the_change_is_real():
    trends = [{"quarter": "2026Q2"}, {"quarter": "2026Q3", "change": -4.26, "change_ci_low": -7.0,
                                      "change_ci_high": -1.5}]
    assert summary.headline(_results(trends=trends)) == (
        "NPS is 20.0 in 2026Q3, down 4.3 points since 2026Q2, a change beyond chance (likely range -7.0 to -1.5).")
    assert summary.headline(_results()) == "NPS is 20.0 in 2026Q3; no earlier quarter to compare with."


def test_money_at_stake_and_break_even_in_the_currency():
    lines = summary.money_at_stake(_results(_roi(-0.3, 1.2)))
    assert lines == ["Moving 40 of 400 passives to promoters is worth €212 per moved passive over 3 years (likely range "
                     "€100 to €330): €8,480 in total against the program and team cost of €6,000, net €2,480. The passives "
                     "are moved once and their gain counted over the 3 years; passives moved in later years would add "
                     "value not counted here.",
                     "Break-even: the program pays for itself once 7.1% of passives are moved (28 customers); likely "
                     "range 5% to 15%, from the value's likely range."]  # 6,000 / (400 x 330) and / (400 x 100)
    costs = dict(program_cost_per_year=1500.0, team_cost_per_year=500.0)
    assert ("against the program and team cost of €6,000 (€2,000 a year for 3 years, discounted), net" in
            summary.money_at_stake(_results(_roi(-0.3, 1.2, assumptions=costs)))[0])
    assert summary.money_at_stake(_results(_roi(-0.3, 1.2, value_per_customer_ci_low=-5.0)))[1].endswith("(28 customers).")
    assert "more than there are (400)" in summary.money_at_stake(_results(_roi(-0.9, -0.5, break_even_share=1.5)))[1]


def test_summary_page_has_the_decision_chart_and_glossary(tmp_path):
    trends = [{"quarter": "2026Q2", "nps": 12.0, "ci_low": 8.0, "ci_high": 16.0},
              {"quarter": "2026Q3", "nps": 20.0, "ci_low": 15.0, "ci_high": 25.0, "change": 8.0,
               "change_ci_low": 2.0, "change_ci_high": 14.0, "p_value": 0.01}]
    page = summary.write_index(tmp_path, _results(_roi(-0.3, 1.2), trends=trends), ["02-segments"]).read_text()
    assert "<title>2026Q3 · Summary · CX report</title>" in page
    assert "class=\"rec pilot\"" in page and "Run a pilot" in page
    assert "alt='Line chart of NPS per quarter (bars: likely range): 2026Q2 12, 2026Q3 20.'" in page
    csat = summary.trend_chart({"trends": trends, "nps": {"score": "csat"}})
    assert csat[1].startswith("Line chart of Net score (CSAT) per quarter (bars: likely range)")  # its own name
    assert '<details id="glossary">' in page and "E-value" in page
    assert "€8,480" in page


# --- page chrome and appendix -------------------------------------------------------------------

def test_page_titles_and_links_follow_the_notebooks():
    paths = notebook_paths()
    chrome = page_chrome(paths, "2026Q3")
    assert chrome["02-segments"]["title"] == "2026Q3 · Segments · CX report"
    assert chrome[paths[0].stem]["prev"] is None and chrome[paths[-1].stem]["next"] is None
    for a, b in zip(paths, paths[1:], strict=False):
        assert chrome[a.stem]["next"]["href"] == f"{b.stem}.html"
        assert chrome[b.stem]["prev"]["href"] == f"{a.stem}.html"


def _nb(tags_per_cell):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"cell {i}", metadata={"tags": t}) for i, t in enumerate(tags_per_cell)]
    return nb


def test_appendix_cells_move_to_the_end_in_order_and_are_marked():
    nb = group_appendix(_nb([[], ["appendix"], [], ["appendix", "x"], []]))
    assert [c.source for c in nb.cells] == ["cell 0", "cell 2", "cell 4", "cell 1", "cell 3"]
    assert [c.metadata.get("cx_appendix") for c in nb.cells] == [None, None, None, "first", "last"]
    one = group_appendix(_nb([["appendix"], []]))
    assert [c.metadata.get("cx_appendix") for c in one.cells] == [None, "only"]
    assert [c.source for c in group_appendix(_nb([[], []])).cells] == ["cell 0", "cell 1"]


def test_a_page_leaves_out_the_cells_it_names_when_it_runs(tmp_path):
    """A cell's ``narrative.leave_out("roi")`` output, formatted as IPython's display publishes
    it, removes every cell tagged ``roi`` (method text of a skipped section) and
    itself from the rendered page; other tags and untagged cells stay."""
    from IPython.core.formatters import DisplayFormatter

    from cxanalysis import narrative

    data, meta = DisplayFormatter().format(narrative.leave_out("roi"))  # as display() publishes it
    asked = nbformat.v4.new_output("display_data", data=data, metadata=meta)
    said = nbformat.v4.new_output("display_data", data={"text/markdown": "No ROI on this export."})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# ROI"),
                nbformat.v4.new_markdown_cell("How the ROI is computed", metadata={"tags": ["roi"]}),
                nbformat.v4.new_code_cell("skip()", outputs=[said, asked]),
                nbformat.v4.new_markdown_cell("## Sensitivity and break-even", metadata={"tags": ["x", "roi"]}),
                nbformat.v4.new_markdown_cell("How retention is valued", metadata={"tags": ["retention"]})]
    src = tmp_path / "05-roi.ipynb"
    nbformat.write(nb, src)
    _render_html(src, tmp_path / "p.html", False)
    page = (tmp_path / "p.html").read_text()
    assert "No ROI on this export." in page and "How retention is valued" in page
    assert "How the ROI is computed" not in page and "Sensitivity" not in page
    assert "leave_out" not in page and narrative.LEAVE_OUT_KEY not in page
    # nothing asked: every cell stays
    nb.cells[2].outputs = [said]
    nbformat.write(nb, src)
    _render_html(src, tmp_path / "q.html", False)
    assert "How the ROI is computed" in (tmp_path / "q.html").read_text()


def test_rendered_page_has_title_nav_escaped_alt_and_a_collapsed_appendix(tmp_path):
    nb = nbformat.v4.new_notebook()
    png = base64.b64encode(b"\x89PNG fake").decode()
    fig = nbformat.v4.new_code_cell("plot()", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": png}, metadata={"image/png": {"alt": 'Bar chart of "<b>x</b>"'}})])
    nb.cells = [nbformat.v4.new_markdown_cell("# Segments: who"), fig,
                nbformat.v4.new_markdown_cell("## Coefficients", metadata={"tags": ["appendix"]}),
                nbformat.v4.new_markdown_cell("Read me")]
    src = tmp_path / "02-segments.ipynb"
    nbformat.write(nb, src)
    chrome = {"title": "2026Q3 · Segments · CX report", "name": "Segments", "quarter": "2026Q3",
              "prev": {"href": "01-data-quality.html", "title": "Data quality"}, "next": None}
    _render_html(src, tmp_path / "p.html", False, chrome)
    page = (tmp_path / "p.html").read_text()
    assert "<title>2026Q3 · Segments · CX report</title>" in page
    alts = re.findall(r'<img [^>]*\balt="([^"]*)"', page)
    assert alts == ['Bar chart of &quot;&lt;b&gt;x&lt;/b&gt;&quot;'] and "<b>x</b>" not in page  # escaped
    assert [html.unescape(a) for a in alts] == ['Bar chart of "<b>x</b>"']  # and read back as written
    assert "No description" not in page
    assert page.count('href="index.html"') == 2 and 'href="01-data-quality.html" rel="prev"' in page
    assert 'rel="next"' not in page
    body = page[page.index("<main>"):]
    assert body.index("Read me") < body.index('<details class="cx-appendix"><summary>Technical appendix')
    assert body.index("Technical appendix") < body.index("Coefficients") < body.index("</details>")


# --- the real report in a browser ---------------------------------------------------------------

RAW = [r"\bNaN\b", r"\bNone\b", r"\\n", r"\['", r"'\]", r"\bnan\b"]

CHECKS = """() => {
  const el = document.documentElement;
  const clipped = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= el.clientWidth + 1) return false;
    for (let p = e.parentElement; p; p = p.parentElement) {          // inside a box that scrolls
      const o = getComputedStyle(p).overflowX;
      if ((o === 'auto' || o === 'scroll') && p.getBoundingClientRect().right <= el.clientWidth + 1) return false;
    }
    return true;
  }).map(e => e.tagName + '.' + e.className).slice(0, 5);
  return {title: document.title, pageScroll: el.scrollWidth > el.clientWidth + 1, clipped,
          alts: [...document.images].map(i => i.getAttribute('alt') || ''),
          links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
          text: (() => {  // what a reader reads: outputs and prose, not the code of a --with-code page
            const body = document.body.cloneNode(true);
            body.querySelectorAll('.jp-InputArea, style, script').forEach(e => e.remove());
            document.documentElement.appendChild(body);
            const t = body.innerText; body.remove(); return t; })(),
          cells: [...document.querySelectorAll('td')].map(td => td.innerText.trim()),
          // a number or an interval is never broken over two lines ("< 0.001" read as "<" and "0.001")
          numbersWrap: [...document.querySelectorAll('td.cx-num')].filter(td => getComputedStyle(td).whiteSpace !== 'nowrap')
            .map(td => td.innerText.trim()).slice(0, 5),
          // words read from the left: a text cell of a house table is left-aligned, a number right-aligned
          textRight: [...document.querySelectorAll('table.cx-table td:not(.cx-num)')]
            .filter(td => getComputedStyle(td).textAlign === 'right').map(td => td.innerText.trim()).slice(0, 5),
          // ... and so is its header, over the words
          headRight: [...document.querySelectorAll('table.cx-table')].flatMap(t => {
            const row = t.querySelector('tbody tr'), heads = t.querySelectorAll('thead th');
            return row ? [...row.children].map((td, i) => !td.classList.contains('cx-num') && heads[i]
              && getComputedStyle(heads[i]).textAlign === 'right' ? heads[i].innerText.trim() : null).filter(Boolean) : [];
          }).slice(0, 5),
          appendixFonts: [...document.querySelectorAll('details.cx-appendix>summary')].map(s => getComputedStyle(s).fontFamily)};
}"""


@pytest.fixture(scope="module")
def code_report(tmp_path_factory):
    """A --with-code run of two pages, with a currency configured."""
    from cxanalysis.report import run_report
    from cxanalysis.sample import make_customers

    tmp = tmp_path_factory.mktemp("code")
    make_customers(800, 2, random_state=5).to_csv(tmp / "c.csv", index=False)
    (tmp / "cx.yaml").write_text("currency: EUR\nroi:\n  n_draws: 200\n")
    nbs = [p for p in notebook_paths() if p.stem[:2] in ("01", "05")]
    return run_report(tmp / "c.csv", config=tmp / "cx.yaml", out=tmp / "out", notebooks=nbs, with_code=True,
                      progress=lambda m: None)


def _inspect(root):
    from playwright.sync_api import sync_playwright

    pages = [root / "index.html", *sorted(root.glob("[0-9][0-9]-*.html"))]
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for path in pages:
            for width in (1400, 1024):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(path.resolve().as_uri())
                seen[(path.name, width)] = page.evaluate(CHECKS)
                page.close()
        browser.close()
    return seen


def _check_report(root, quarter):
    problems = []
    for (name, width), got in _inspect(root).items():
        where = f"{name} at {width}px"
        if got["pageScroll"] or got["clipped"]:
            problems.append(f"{where}: clipped horizontally {got['clipped']}")
        if width != 1400:
            continue
        if not re.fullmatch(rf"{quarter} · [^·]+ · CX report", got["title"]):
            problems.append(f"{where}: title {got['title']!r}")
        if (name != "index.html" and not got["alts"]) or any(len(a) < 12 or "No description" in a
                                                             for a in got["alts"]):
            problems.append(f"{where}: alt text {got['alts']}")
        if name != "index.html" and "index.html" not in got["links"]:
            problems.append(f"{where}: no link back to the summary")
        for pattern in RAW:
            hit = re.search(pattern, got["text"])
            if hit:
                problems.append(f"{where}: raw {hit.group(0)!r} in {got['text'][max(0, hit.start() - 60):hit.end() + 20]!r}")
        if got["numbersWrap"]:
            problems.append(f"{where}: numbers that may wrap {got['numbersWrap']}")
        if got["textRight"] or got["headRight"]:
            problems.append(f"{where}: text cells or their headers aligned right {got['textRight']} {got['headRight']}")
        serif = [f for f in got["appendixFonts"] if "system-ui" not in f]
        if serif:
            problems.append(f"{where}: the appendix heading in {serif[0]!r}, not the page's font")
        zeros = [c for c in got["cells"] if c in ("0.000", "-0.000")]
        if zeros:
            problems.append(f"{where}: {len(zeros)} cell(s) read 0.000")
    return problems


@pytest.mark.slow
@pytest.mark.browser
def test_sample_report_reads_cleanly_in_a_browser(sample_report):
    chromium_path()
    assert _check_report(sample_report, sample_report.name) == []
    index = (sample_report / "index.html").read_text(encoding="utf-8")
    assert "Recommendation" in index and "Money at stake" in index


@pytest.mark.slow
@pytest.mark.browser
def test_with_code_report_reads_cleanly_and_shows_the_currency(code_report):
    chromium_path()
    assert _check_report(code_report, code_report.name) == []
    index = html.unescape((code_report / "index.html").read_text(encoding="utf-8"))
    assert re.search(r"worth €[\d,]+ per moved passive", index)


@pytest.mark.slow
def test_pdf_keeps_every_page_and_its_first_page_renders(sample_report, tmp_path):
    chromium_path()
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is missing (apt-get install poppler-utils)")
    from pypdf import PdfReader

    pages = [p.stem for p in notebook_paths()]
    from cxanalysis.pdf import write_pdf

    pdf = write_pdf(sample_report, pages, out=tmp_path / "report.pdf")
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 1 + len(pages)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Recommendation" in text and "Technical appendix" in text
    subprocess.run([pdftoppm, "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "first")], check=True)
    png = next(tmp_path.glob("first*.png"))
    from PIL import Image

    img = Image.open(png).convert("L")
    assert img.size[0] > 200 and int(np.asarray(img).min()) < 100  # text drawn on the first page


def test_cli_offers_pdf(capsys):
    from cxanalysis.cli import main

    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--pdf" in capsys.readouterr().out


def _text_of(page: str) -> str:
    text = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


@pytest.mark.slow
def test_sample_summary_reads_in_words_and_page_06_shows_the_clusters(sample_report):
    """index.html of a real run: no snake_case column name, no "CI low" header, no "Holm", no
    "p = "; every interval a "likely range". Page 06: the named clusters' projection and profile
    heatmap in the reader view, the k-selection chart in the technical appendix."""
    index = (sample_report / "index.html").read_text(encoding="utf-8")
    text = _text_of(index)
    assert re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text) == []
    for raw in ("CI low", "CI high", "Holm", "p = ", "95% CI", "95% interval "):
        assert raw not in text, raw
    assert "likely range" in text
    page = (sample_report / "06-clusters-and-drivers.html").read_text(encoding="utf-8")
    appendix = page.index('<details class="cx-appendix">')
    alts = {m.group(1).split(":")[0]: m.start() for m in re.finditer(r'alt="([^"]*)"', page)}
    projection = next(k for k in alts if k.startswith("Scatter plot of Clusters on the first two"))
    heatmap = next(k for k in alts if k.startswith("Heatmap of What sets each cluster apart"))
    k_choice = next(k for k in alts if k.startswith("Line chart of k-means") or k.startswith("Line chart of Gaussian"))
    assert alts[projection] < appendix and alts[heatmap] < appendix < alts[k_choice]
    assert not re.search(r"Columns: [^.]*\b[a-z]+_[a-z]+", _text_of(page))


def test_roi_tiles_of_a_disowned_roi_are_greyed_and_say_so(tmp_path):
    """With no recommendation (here: the ROI has no interval) the ROI and net-value tiles are grey
    and say they are at face value only; with a recommendation they keep their colour."""
    page = summary.write_index(tmp_path, _results(_roi(None, None)), []).read_text()
    assert page.count("<div class='void'>") == 2 and page.count("At face value only: no recommendation rests on it") == 2
    fund = summary.write_index(tmp_path, _results(_roi(0.4, 0.9)), []).read_text()
    assert "<div class='void'>" not in fund and "At face value only" not in fund and "<div class='good'>" in fund
