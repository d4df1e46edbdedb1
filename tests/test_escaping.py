"""The export's strings reach every page as text, never as markup (issue 18).

The hostile export puts script and event-handler markup, and a markdown link, in the plan, region
and job title values, in the name of an extra column used as a covariate and a segment dimension,
and in comments. The fast tests check each display path on its own (tables, sentences, the
summary page, charts); the slow ones run the whole report and scan, then open, every page.
"""

from __future__ import annotations

import html
import json
import re

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
import yaml

from cxanalysis import narrative, plots
from cxanalysis.cli import main
from cxanalysis.sample import make_customers
from cxanalysis.summary import write_index

from .browser import CHROMIUM_ARGS, chromium_path

#: Markup an analyst's CRM could hold, each with its own alert number.
PLAN = {"Basic": "<img src=x onerror=alert(1)>", "Pro": "<b onmouseover=alert(2)>x</b>"}
REGION = {"North": "<script>alert(3)</script>", "South": '"><svg onload=alert(4)>'}
JOB = {"Analyst": "[x](javascript:alert(5))", "Manager": "![i](javascript:alert(6)) $^$"}
COLUMN = "<b onmouseover=alert(7)>tier</b>"
COMMENT = "<img src=x onerror=alert(8)> late delivery, again"
FILE = "export <img src=x onerror=alert(10)>.csv"  # shown in the run's inputs
CUSTOMER = "<svg onload=alert(11)>"  # a dropped row's id, shown as an example of the rule
HOSTILE = [*PLAN.values(), *REGION.values(), *JOB.values(), COLUMN, COMMENT]

#: What a page must never contain: an element or a link made from the export.
RAW = [r"<img[^>]*onerror", r"<b onmouseover", r"<script>alert", r"<svg[^>]*onload", r"=\"?javascript:",
       r"<a [^>]*javascript", r"<b>x</b>"]


def _raw_markup(text: str) -> list[str]:
    """Patterns of live markup in ``text``. Quoted attribute values (e.g. an alt text that quotes
    an escaped ``&lt;img onerror``) are blanked first: inside quotes escaped text is inert, and a
    value that broke out of its quotes leaves the markup outside them, where it is still found."""
    text = re.sub(r"""=("[^"<>]*"|'[^'<>]*')""", '=""', text)
    return [pattern for pattern in RAW if re.search(pattern, text, re.I)]


def _visible(page: str) -> str:
    """The text a reader sees: tags dropped, character references decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hostile_export(folder, n: int = 600):
    """Write an export and a ``cx.yaml`` whose strings hold markup; return their paths."""
    d = make_customers(n, 1, random_state=3)
    d["plan"] = d["plan"].replace(PLAN)
    d["region"] = d["region"].replace(REGION)
    d["job_title"] = d["job_title"].replace(JOB)
    d[COLUMN] = ["=HYPERLINK(\"http://x\")" if i % 2 else "[t](javascript:alert(9))" for i in range(n)]
    d.loc[d.index % 4 == 0, "comment"] = COMMENT
    d.loc[0, "customer_id"] = CUSTOMER
    d = pd.concat([d, d.iloc[[0]]], ignore_index=True)  # dropped as an exact duplicate: its id is an example
    data, cfg = folder / FILE, folder / "cx.yaml"
    d.to_csv(data, index=False)
    cfg.write_text(yaml.safe_dump({
        "covariates": ["plan", "region", "tenure_months", COLUMN],
        "segments": {"dimensions": ["plan", "region", "job_title", COLUMN]},
        "clusters": {"k_range": [2, 4]}, "drivers": {"n_boot": 20}, "themes": {"n_themes": 3},
        "roi": {"n_draws": 100},
    }))
    return data, cfg


# --- fast: each display path ---------------------------------------------------------------

def test_styled_tables_escape_values_headers_and_lists():
    t = pd.DataFrame({"segment": pd.Categorical(list(PLAN.values())), COLUMN: list(REGION.values()),
                      "examples": [[COMMENT, "ok"], ["fine"]], "nps": [12.5, -3.0]})
    out = narrative.styled(t).to_html()
    assert _raw_markup(out) == []
    text = _visible(out)
    for s in [*PLAN.values(), *REGION.values(), COLUMN, COMMENT]:
        assert s in text, s
    assert ">12.5<" in out and ">-3.0<" in out  # NPS points, one decimal (cxanalysis.fmt)


def test_a_configured_label_is_text_in_tables_sentences_and_the_summary(tmp_path):
    """cx.yaml ``labels`` names a column on every page: it is the user's text, shown as typed and
    never as markup, in a table's header, a sentence and the summary."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from cxanalysis.fmt import segment_name, use_labels

    hostile = "<img src=x onerror=alert(1)> tier"
    use_labels({"region": hostile})
    out = narrative.styled(pd.DataFrame({"region": ["North"], "nps": [1.0]})).to_html()
    assert _raw_markup(out) == [] and hostile in _visible(out)
    sentence = markdown2html_mistune(narrative.md(f"Lowest: **{segment_name('region', 'North')}**").data)
    assert _raw_markup(sentence) == [] and f"{hostile}: North" in _visible(sentence)
    results = {"quarter": "2026Q3", "n_customers": 100, "run": {"config": {"labels": {"region": hostile}}},
               "segments": [{"dimension": "region", "segment": "North", "n": 40, "nps": -5.0, "ci_low": -9.0,
                             "ci_high": -1.0, "differs": True}],
               "nps": {"value": 1.0, "ci_low": 0.0, "ci_high": 2.0, "promoters": .4, "passives": .3, "detractors": .3,
                       "score": "nps_score"}}
    use_labels(None)  # the summary takes the labels from results.json, not from the process
    page = write_index(tmp_path, results, ["02-segments"]).read_text(encoding="utf-8")
    assert _raw_markup(page) == [] and f"{hostile}" in _visible(page) and ">Region<" not in page


@pytest.mark.parametrize("value", HOSTILE)
def test_sentences_render_as_text_through_markdown(value):
    """nbconvert renders markdown output with mistune, raw HTML and javascript: links allowed;
    JupyterLab renders it with marked. The escaped sentence must build nothing in either."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    sentence = f"Highest: **plan = {value}** at 41.2; - {value}"
    out = markdown2html_mistune(narrative.md(sentence).data)
    assert _raw_markup(out) == [] and "<a " not in out and "<img" not in out and "<code" not in out
    assert "<strong>" in out  # the sentence's own emphasis still works
    assert value in _visible(out)


def test_summary_page_escapes_every_interpolated_string(tmp_path):
    results = {
        "quarter": "2026Q3", "n_customers": 10,
        "nps": {"value": 1.0, "ci_low": 0.0, "ci_high": 2.0, "promoters": .4, "passives": .3, "detractors": .3,
                "score": COLUMN},
        "segments": [{"dimension": COLUMN, "segment": v, "n": 40, "nps": -5.0, "ci_low": -9.0, "ci_high": -1.0,
                      "differs": True} for v in HOSTILE[:5]],  # the 5 at risk are shown
        "clusters": {"profile": [{"name": v, "n": 3, "nps": -20.0, "nps_ci_low": -30.0, "nps_ci_high": -10.0,
                                  "passives": 1} for v in HOSTILE[5:]]},  # the 3 at risk (below overall) are shown
        "models": {"warnings": [f"separation in churn for {v}" for v in REGION.values()]},
        "analyses_skipped": {f"segment {COLUMN}": f"no {JOB['Analyst']} column"},
        "run": {"errors": [f"02-segments: KeyError: {PLAN['Basic']}"], "started": COMMENT,
                "cleaning": {"rows_in": 10, "rows_out": 10}},
    }
    page = write_index(tmp_path, results, ["01-data-quality", COLUMN]).read_text(encoding="utf-8")
    assert _raw_markup(page) == []
    text = _visible(page)
    for s in HOSTILE:
        assert s in text, s


@pytest.mark.parametrize("label", ["$^$", r"$\frac$", "a_$b", "$x$"])
def test_charts_draw_dollar_labels_as_typed(label, tmp_path):
    t = pd.DataFrame({"dimension": ["plan", "plan"], "segment": [label, "Gold"], "nps": [10.0, 20.0],
                      "ci_low": [5.0, 15.0], "ci_high": [15.0, 25.0], "differs": [False, True]})
    with plt.rc_context():
        plots.set_theme()
        ax = plots.segment_nps(t, overall=12.0)
        ax.figure.savefig(tmp_path / "c.png")  # a mathtext parse error would raise here
    assert label in [t.get_text() for t in ax.get_yticklabels()]


# --- slow: the whole report ----------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory):
    """The hostile export reported twice with ``cxanalysis report``: code hidden, and shown."""
    tmp = tmp_path_factory.mktemp("hostile")
    data, cfg = hostile_export(tmp)
    roots = {}
    for name, extra in (("hidden", []), ("code", ["--with-code"])):
        out = tmp / name
        assert main(["report", str(data), "--config", str(cfg), "--out", str(out), *extra]) == 0
        roots[name] = out / "2025Q4"
    return roots


def _pages(root):
    return [root / "index.html", *sorted(root.glob("[0-9][0-9]-*.html"))]


@pytest.mark.slow
def test_report_pages_and_notebook_outputs_hold_no_export_markup(hostile_reports):
    for root in hostile_reports.values():
        for page in _pages(root):
            text = page.read_text(encoding="utf-8")
            assert _raw_markup(text) == [], page.name
        # the executed notebooks' own outputs, which JupyterLab renders as trusted
        for nb_path in sorted((root / "_executed").glob("*.ipynb")):
            for cell in nbformat.read(nb_path, as_version=4).cells:
                for out in cell.get("outputs", []):
                    assert out.get("output_type") != "error", (nb_path.name, out.get("evalue"))
                    for mime in ("text/html", "text/markdown"):
                        assert _raw_markup(str(out.get("data", {}).get(mime, ""))) == [], (nb_path.name, mime)
    root = hostile_reports["hidden"]
    def seen(page):
        return _visible((root / f"{page}.html").read_text(encoding="utf-8"))

    seg = seen("02-segments")
    for s in [*PLAN.values(), *REGION.values(), *JOB.values(), COLUMN]:
        assert s in seg, s
    dq = seen("01-data-quality")
    assert COLUMN in dq and FILE in dq and CUSTOMER in dq
    assert PLAN["Basic"] in seen("04-cx-and-outcomes") and COLUMN in seen("04-cx-and-outcomes")
    assert COMMENT in seen("06-clusters-and-drivers")
    results = json.loads((root / "results.json").read_text())
    assert {r["segment"] for r in results["segments"]} >= set(PLAN.values())  # data kept as typed


@pytest.mark.slow
@pytest.mark.browser
def test_hostile_export_runs_nothing_in_a_real_browser(hostile_reports):
    """Every page, code hidden and shown: no dialog, no element or handler from the export, and
    the strings visible as text."""
    from playwright.sync_api import sync_playwright

    created = """() => {
      const found = [];
      for (const sel of ['img[src="x"]', 'svg[onload]', '[onerror]', '[onmouseover]', '[onload]',
                         'a[href^="javascript"]', 'img[src^="javascript"]', 'b']) {
        for (const el of document.querySelectorAll(sel)) {
          if (sel === 'b' && el.textContent !== 'x') continue;  // <b> of a sentence is fine
          found.push(sel);
        }
      }
      for (const s of document.querySelectorAll('script')) {
        if (s.textContent.includes('alert(')) found.push('script alert');
      }
      return found;
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for name, root in hostile_reports.items():
            for path in _pages(root):
                dialogs: list[str] = []
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
                page.goto(path.resolve().as_uri())
                page.wait_for_load_state("load")
                page.mouse.move(600, 450)  # a hover handler would fire here
                assert page.evaluate(created) == [], (name, path.name)
                assert dialogs == [], (name, path.name)
                body = page.inner_text("body")
                if path.stem == "02-segments":
                    for s in [*PLAN.values(), *REGION.values(), *JOB.values(), COLUMN]:
                        assert s in body, (name, s)
                if path.stem == "06-clusters-and-drivers":
                    assert COMMENT in body, name
                page.close()
        browser.close()
