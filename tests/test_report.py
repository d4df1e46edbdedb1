"""End to end: the notebooks execute on sample and real data, HTML renders, results.json holds
the contract of DESIGN.md."""

import json
import re
import subprocess
import sys

import nbformat
import papermill
import pytest

from cxanalysis.report import notebook_paths, run_report
from cxanalysis.sample import make_customers
from cxanalysis.summary import headline_sentences

from .browser import check_pages
from .conftest import real_export

pytestmark = pytest.mark.slow


def _errors_in(executed_dir):
    """Error outputs, and stderr outputs (a warning printed raw: a source path and a line of code on
    the page, where the pages give their notes in words)."""
    errors = []
    for path in sorted(executed_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    errors.append(f"{path.name}: {out.get('ename')}: {out.get('evalue')}")
                elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                    errors.append(f"{path.name}: stderr: {out.get('text', '')[:300]}")
    return errors


def _check_html(root, pages):
    for page in pages:
        html = (root / f"{page}.html").read_text(encoding="utf-8")
        assert "Traceback" not in html, page
        assert "ename" not in html
        # code hidden: no input prompts, no parameters cell
        assert "fragment_path" not in html, page
        yield page, html


def test_notebooks_follow_the_house_rules():
    paths = notebook_paths()
    assert [p.name[:2] for p in paths] == [f"{i:02d}" for i in range(1, len(paths) + 1)]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        # papermill reads every parameter with its type and help (``papermill --help-notebook``)
        params = papermill.inspect_notebook(str(path))
        assert list(params) == ["data_path", "config_path", "quarter", "fragment_path"], path.name
        assert all(p["help"] for p in params.values()), path.name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path.name
        assert not any(re.search(r"^\s*(def|class|lambda)\b", c.source, re.M) for c in code), path.name


def test_sample_report_is_complete(sample_report):
    root = sample_report
    results = json.loads((root / "results.json").read_text())
    for key in ("quarter", "n_customers", "nps", "analyses_skipped", "run", "segments", "trends"):
        assert key in results, key
    assert results["quarter"] == "2026Q1" and results["n_customers"] == 1500
    run = results["run"]
    assert len(run["inputs"][0]["sha256"]) == 64 and run["inputs"][0]["rows"] == 3000
    assert {"cxanalysis", "pandas", "statsmodels"} <= set(run["versions"])
    assert run["config"]["roi"]["gross_margin"] == 0.35 and run["seed"] == 20260101
    assert results["nps"]["ci_low"] < results["nps"]["value"] < results["nps"]["ci_high"]
    assert _errors_in(root / "_executed") == []
    pages = [p.stem for p in notebook_paths()]
    for page, html in _check_html(root, pages):
        assert html.count("data:image/png") >= 1, f"{page} has no figure"
    index = (root / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert f"href='{page}.html'" in index
    for sentence in headline_sentences(results):
        assert sentence.replace("'", "&#x27;") in index


@pytest.mark.browser
def test_sample_report_pages_pass_in_a_real_browser(sample_report):
    pages = [sample_report / "index.html", *sorted(sample_report.glob("[0-9][0-9]-*.html"))]
    problems = check_pages(pages, sample_report / "_screenshots")
    assert problems == {p.name: [] for p in pages}


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_export_reports_without_traceback(tmp_path, name):
    """Each real export, with its config in tests/configs: a complete summary naming the skipped
    analyses, no error cell, and (where a browser exists) pages that load cleanly."""
    data, cfg = real_export(name)
    root = run_report(data, config=cfg, out=tmp_path, progress=lambda m: None)
    results = json.loads((root / "results.json").read_text())
    assert _errors_in(root / "_executed") == []
    assert results["nps"]["score"] == "csat"  # categories from the 1-5 scale, via the config
    skipped = results["analyses_skipped"]
    assert "metric CES" in skipped and "trends" in skipped and "returns" in skipped
    assert skipped["drivers"] == "no driver_* columns" and skipped["themes"] == "no comment column"
    assert "churn" in results["effects"]
    index = (root / "index.html").read_text(encoding="utf-8")
    assert "Analyses skipped" in index and "Returns model" in index  # in words
    assert re.search(r"<b>Metrics</b> whose column this export lacks: [^<]*\bCES\b", index)
    # a 1-5 CSAT cut 5 / 4 / 1-3: every page says what its "NPS" is
    for page in sorted(root.glob("0[1-6]-*.html")):
        assert "On these pages, 'NPS' is the net score of CSAT" in page.read_text(encoding="utf-8"), page.name
    # the net score's own name in the skipped analyses' names
    assert "What moved Net score (CSAT): customer mix or real change" in index and "What moved NPS" not in index
    # each cluster's stability, with Hennig's reading, on page 06 and in results.json
    assert "Stability (mean Jaccard)</th>" in (root / "06-clusters-and-drivers.html").read_text(encoding="utf-8")
    assert all(0 <= r["stability"] <= 1 for r in results["clusters"]["profile"])
    if name == "ecommerce":  # the 264 left out for a missing tenure churn more: the summary says so
        assert "who churn differently" in index[index.index("Read before acting"):index.index("The evidence")]
    if name == "ecommerce":  # CSAT runs the wrong way against churn, so no group is at risk by its score, yet the
        # new tenures (46.5% against 7.3%) and the cluster raising tickets (32.9%) are where customers leave
        leave = index[index.index("<h2>Where customers leave"):]
        leave = leave[:leave.index("<h2>", 4)]
        # cx.yaml labels: "region" is the city tier, "support tickets" a complaint flag, on every page
        assert "Tenure (months): lowest quartile (0–2)</td>" in leave and "Cluster: Complained = yes</td>" in leave
        for page in [root / "index.html", *sorted(root.glob("0[1-6]-*.html"))]:
            text = page.read_text(encoding="utf-8")
            assert not re.search(r"\bRegion\b|[Tt]ickets\b", text), page.name
        assert "City tier: 3" in index and "Complained (0/1)" in (root / "06-clusters-and-drivers.html").read_text(
            encoding="utf-8")
        assert ">46.5%</td>" in leave and ">7.3%</td>" in leave
        page02 = (root / "02-segments.html").read_text(encoding="utf-8")
        assert "More than the rest: <strong>Tenure (months): lowest quartile (0–2)</strong> (46.5% against 7.3%)" in page02
        # the 264 without a tenure are a group of their own, tested beside the segments (Holm over both)
        assert "Tenure (months): no value</td>" in leave and ">30.7%</td>" in leave
        gap = next(r for r in results["unsegmented"] if r["dimension"] == "tenure_months_band")
        assert gap["n"] == 264 and gap["churn_differs"] is True
        assert "30.7% of them churned" in page02 and "more than the others beyond chance" in page02
        # no spend, returns or CLV: the profiles' caption defines churn and health only, and the CLV section is one line
        assert ("Churn is the share who left in the quarter. The full table (CSV) adds health (the configured 0-100 "
                "composite).") in page02
        assert "Spend is per quarter" not in page02 and "returns per order" not in page02
        assert "Skipped: no lifetime value by segment; the export has no spend" in page02
        assert "delta method on its log" not in page02
        # the low-scoring tenure 3-8 churns less, beyond chance: said, not only left out
        risk = index[index.index("<h2>Segments at risk"):index.index("<h2>Behavioural clusters")]
        assert "Tenure (months): second quartile (3–8) (7.4% against 19.6%) scores low but churns <b>less</b>" in risk
        assert "Churn does tell the cluster Complained = yes apart" in index
        # the complainers' cluster holds 1,471 of the 1,604 who complained: said on page 06 and under the churn table
        note = "Complained = yes holds 1,471 of the 1,604 respondents with complained = yes (92%); the other 133 are in"
        assert note in leave and note in (root / "06-clusters-and-drivers.html").read_text(encoding="utf-8")
        # k = 3's silhouette (0.321) beats 7, 8 and 9 only in the third decimal: said, not "the highest" alone
        assert "the silhouette barely prefers 3 clusters" in (root / "06-clusters-and-drivers.html").read_text(
            encoding="utf-8")  # no cluster's score stands out, but its churn does
        assert "<strong>Modelled on this export:</strong> churn. Not modelled: spend (no spend column)" in (
            root / "04-cx-and-outcomes.html").read_text(encoding="utf-8")
    if name == "ecommerce":  # no fit fell back to Firth: no sentence about it
        assert "fell back to Firth's penalised likelihood because" not in (root / "04-cx-and-outcomes.html").read_text(
            encoding="utf-8")
    if name == "ecommerce":  # 556 pairs identical but for the id, 546 of them 1,470 ids apart: page 01 and summary
        dup = next(s for s in results["data_quality"]["suspect"] if s["rule"].endswith("but the customer id"))
        assert (dup["groups"], dup["rows"], dup["ids_apart"], dup["groups_apart"]) == (556, 1112, 1470, 546)
        page01 = (root / "01-data-quality.html").read_text(encoding="utf-8")
        assert "In 546 of the 556 pairs the ids are exactly 1,470 apart" in page01
        assert ("556 customers appear twice (1,112 of the quarter&#x27;s 5,630 rows, 19.8%, are identical in every "
                "column but the customer id)") in index
    if name == "telco":  # no copies under new ids, no orders without spend: nothing flagged
        assert results["data_quality"]["suspect"] == []
    if name == "ecommerce":  # one category spelt several ways: named on the data-quality page
        spellings = results["data_quality"]["spellings"]
        assert len(spellings) == 3 and "'CC' and 'Credit Card' (the initials of the other)" in (
            root / "01-data-quality.html").read_text(encoding="utf-8")
    if name == "ecommerce":  # no spend column: the ROI page says so once, without the skipped sections' method text
        roi_page = (root / "05-roi.html").read_text(encoding="utf-8")
        assert "No ROI on this export.</strong> It needs a spend model (no spend column)" in roi_page
        assert "Retention scenarios skipped: needs spend and churned columns (no spend)." in roi_page
        for gone in ("Uncertainty.", "Where the value comes from", "Sensitivity and break-even", "What a retained",
                     "Where a moved passive", "What must hold", "Skipped: the ROI could not be computed"):
            assert gone not in roi_page, gone
        assert "Gross margin</td>" in roi_page  # the assumptions it would use stay
        # one quarter: no trend tables, nor the method text of the trend and of its split
        page03 = (root / "03-metrics-and-trends.html").read_text(encoding="utf-8")
        trend = page03[page03.index(">Trends<"):]
        assert "Only one quarter is loaded: no trend to show yet" in trend and "<table" not in trend
        assert "paired" not in trend and "split into" not in trend
        assert "Skipped: only one quarter is loaded, so there is no change since a previous quarter to split." in trend
    if name == "telco":  # scores 1-2 always churned, 4-5 never: separation, flagged on the summary
        assert "Read before acting" in index and "separation" in index
        assert results["effects"]["churn"]["detractor_vs_passive"]["flagged"] is True
        # the coefficient table says which intervals come from Firth's fallback (its odds ratios run to thousands)
        page04 = (root / "04-cx-and-outcomes.html").read_text(encoding="utf-8")
        assert "Interval method</th>" in page04 and "profile penalised likelihood</td>" in page04
        assert ("In churn, Detractor (vs passive) and Promoter (vs passive) have intervals spanning more than a "
                "100-fold range") in page04  # the plan rows of the same fit are well estimated: not named
        assert results["data_quality"]["spellings"] == []
        # a moved passive is worth less than nothing: no ROI tornado reading backwards, said in words
        roi_page = (root / "05-roi.html").read_text(encoding="utf-8")
        assert "No ROI chart: a moved passive is worth nothing or less here" in roi_page
        assert "lost_if_not_investing" in roi_page  # the full table's column the retention text names
        # its clusters are cut on CSAT (clusters.columns): not named at risk, not ROI targets
        assert results["clusters"]["circular"] is True and "cut on the CX score itself" in index
        # every churner scored low: the churn tables say the two columns are one fact, and leave out
        # the clusters cut on CSAT, saying so
        leave = index[index.index("<h2>Where customers leave"):]
        leave = leave[:leave.index("<h2>", 4)] if "<h2>" in leave[4:] else leave
        assert "In this export no promoter and no passive churned" in leave and "Cluster:" not in leave
        assert index.count("close to one fact, not two warnings") == 1
        assert "Clusters are left out: they were cut on the CX score itself" in leave
        assert ">Share of all who left</th>" in leave and ">In the at-risk tables</th>" in leave
        baselines = re.findall(r"Baseline \(intercept\)</td>(.*?)</tr>", page04, flags=re.S)
        assert len(baselines) == 2 and all(re.search(r"baseline (odds|value)</td>\s*<td[^>]*>–</td>", b)
                                           for b in baselines)  # no comparison: no p-value
        assert results["roi"]["by_segment"] and all(t["dimension"] != "cluster" for t in results["roi"]["by_segment"])
    assert list(_check_html(root, [p.stem for p in notebook_paths()]))
    try:
        from .browser import chromium_path

        chromium_path()
    except pytest.skip.Exception:
        return
    pages = [root / "index.html", *sorted(root.glob("[0-9][0-9]-*.html"))]
    assert check_pages(pages, root / "_screenshots") == {p.name: [] for p in pages}


def test_quarterly_rerun_uses_earlier_quarters_and_is_reproducible(tmp_path):
    """data/2026Q2/ and data/2026Q3/ side by side: the 2026Q3 report's trend has both quarters,
    its "since last quarter" figures equal cxanalysis.trends exactly, a re-run reproduces every
    number, and nothing is written outside reports/2026Q3/."""
    from cxanalysis.config import load_config
    from cxanalysis.io import load
    from cxanalysis.trends import quarterly

    both = make_customers(1200, 2, start="2026Q2", random_state=31)
    for q in ("2026Q2", "2026Q3"):
        (tmp_path / "data" / q).mkdir(parents=True)
        both[both["quarter"] == q].drop(columns="quarter").to_csv(tmp_path / "data" / q / "export.csv", index=False)
    quick = [p for p in notebook_paths() if p.stem.startswith(("01", "03"))]
    out = tmp_path / "reports"
    root = run_report(tmp_path / "data" / "2026Q3", out=out, progress=lambda m: None, notebooks=quick)
    first = json.loads((root / "results.json").read_text())
    assert [t["quarter"] for t in first["trends"]] == ["2026Q2", "2026Q3"]
    expected = quarterly(load(tmp_path / "data" / "2026Q2", quarter="2026Q2").data.pipe(
        lambda a: __import__("pandas").concat([a, load(tmp_path / "data" / "2026Q3", quarter="2026Q3").data])), load_config())
    last = first["trends"][-1]
    # the page's change is the exact tables' NPS difference: equal to the in-memory one to rounding
    assert last["change"] == pytest.approx(expected.iloc[-1]["change"], abs=1e-9)
    assert last["p_value"] == pytest.approx(expected.iloc[-1]["p_value"], abs=1e-9)
    assert f"NPS moved {last['change']:+.1f} points" in (root / "index.html").read_text(encoding="utf-8")
    again = json.loads((run_report(tmp_path / "data" / "2026Q3", out=out, progress=lambda m: None,
                                   notebooks=quick) / "results.json").read_text())
    for r in (first, again):  # when it ran and how long it took: the only things that may differ
        r["run"].pop("started")
        assert set(r["run"].pop("notebook_seconds")) == {p.stem for p in quick}
    assert again == first
    assert sorted(p.name for p in out.iterdir()) == ["2026Q3"]


def test_with_code_shows_the_code(tmp_path):
    make_customers(400, 1, random_state=2).to_csv(tmp_path / "c.csv", index=False)
    nb = [p for p in notebook_paths() if p.stem.startswith("01")]
    hidden = run_report(tmp_path / "c.csv", out=tmp_path / "a", notebooks=nb, progress=lambda m: None)
    shown = run_report(tmp_path / "c.csv", out=tmp_path / "b", notebooks=nb, progress=lambda m: None, with_code=True)
    assert "RunContext" not in (hidden / "01-data-quality.html").read_text(encoding="utf-8")
    assert "RunContext" in (shown / "01-data-quality.html").read_text(encoding="utf-8")  # highlighted code


@pytest.mark.parametrize("pages", [("01-",), ("01-", "05-")])
def test_one_worker_runs_every_page_it_is_given(tmp_path, pages):
    """With one worker the advance model fit takes the only slot first; every page must still run
    afterwards (a page the scheduler never ran would leave the report silently short)."""
    d = make_customers(1500, 2, random_state=4)
    p = tmp_path / "x.csv"
    d.to_csv(p, index=False)
    nbs = [nb for nb in notebook_paths() if nb.name.startswith(pages)]
    root = run_report(p, out=tmp_path / "reports", notebooks=nbs, progress=lambda m: None, workers=1)
    res = json.loads((root / "results.json").read_text())
    for nb in nbs:
        assert (root / f"{nb.stem}.html").is_file()
        assert res["run"]["notebook_seconds"][nb.stem] is not None


def _run_in_process(src, out, cwd) -> subprocess.CompletedProcess:
    """papermill with the in-process engine, in a process of its own as in a report worker (its
    shell switches matplotlib to the inline backend)."""
    code = ("import sys, papermill; from cxanalysis import inprocess, report; "
            "inprocess.run_cell(report.RESET.format(cwd=sys.argv[3])); "
            "papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='python3', progress_bar=False, "
            "engine_name=inprocess.ENGINE_NAME, cwd=sys.argv[3])")
    return subprocess.run([sys.executable, "-c", code, str(src), str(out), str(cwd)], capture_output=True, text=True)


def _outputs(nb) -> list[tuple]:
    """A notebook's outputs with what differs between any two runs made equal: pandas Styler's
    random table ids and objects' memory addresses."""
    def norm(value):
        text = "".join(value) if isinstance(value, list) else value
        if not isinstance(text, str):
            return text
        return re.sub(r"0x[0-9a-f]+", "0x", re.sub(r"T_[0-9a-f]{5}", "T_", text))

    return [(o["output_type"], o.get("name"), norm(o.get("text")),
             {k: norm(v) for k, v in o.get("data", {}).items()}, o.get("metadata", {}))
            for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("page", ["03", "06"])
def test_in_process_engine_gives_a_kernels_outputs(tmp_path, page):
    """The report runs its notebooks inside its workers (cxanalysis.inprocess, no kernel); the
    same notebook run in a Jupyter kernel, as in JupyterLab, gives the same outputs: tables,
    Markdown, figures (the PNG bytes and their alt text) and text, in the same order. In-process,
    the figures are not painted a second time after their cell, only laid out again when they
    have a layout engine: page 06's cluster map (tight layout, legend outside the axes) comes out
    different when that second layout is dropped."""
    src = next(p for p in notebook_paths() if p.stem.startswith(page))
    kernel = papermill.execute_notebook(str(src), str(tmp_path / "kernel.ipynb"), kernel_name="python3",
                                        progress_bar=False, cwd=str(tmp_path))
    run = _run_in_process(src, tmp_path / "inprocess.ipynb", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    here = nbformat.read(tmp_path / "inprocess.ipynb", as_version=4)
    a, b = _outputs(kernel), _outputs(here)
    assert len(a) >= 5 and any("image/png" in o[3] for o in a)  # tables and figures to compare
    assert a == b


def test_in_process_engine_stops_at_an_error_and_marks_it(tmp_path):
    """A failing cell: its error output (name, value, traceback), no later cell run, and
    papermill's PapermillExecutionError naming it, as with a kernel."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('before')"),
                                         nbformat.v4.new_code_cell("1 / 0"),
                                         nbformat.v4.new_code_cell("print('after')")])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, tmp_path / "bad.ipynb")
    run = _run_in_process(tmp_path / "bad.ipynb", tmp_path / "out.ipynb", tmp_path)
    assert run.returncode != 0 and "PapermillExecutionError" in run.stderr and "ZeroDivisionError" in run.stderr
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "before\n"
    assert code[1].outputs[0]["output_type"] == "error" and code[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert code[1].outputs[0]["traceback"]
    assert code[2].outputs == []


def _plain_exporter(with_code: bool):
    """nbconvert's own HTMLExporter set up as cxanalysis.report.html_exporter sets up its own."""
    from nbconvert import HTMLExporter

    from cxanalysis import report

    plain = HTMLExporter(template_name="cxreport", extra_template_basedirs=[str(report.TEMPLATES)])
    if not with_code:
        plain.exclude_input = plain.exclude_input_prompt = plain.exclude_output_prompt = True
    return plain


def test_pages_are_the_documents_nbconverts_exporter_makes(sample_report, tmp_path, monkeypatch):
    """The report's exporter writes the alt texts and focusable markers nbconvert's HTMLExporter
    adds by parsing and re-serialising every page: parsed, each page (reader and analyst
    versions, and a notebook with a markdown image, a JPEG, text, an error and HTML) is the same
    document as nbconvert's."""
    import nbformat.v4 as v4
    from bs4 import BeautifulSoup

    from cxanalysis import report

    odd = v4.new_notebook(cells=[
        v4.new_markdown_cell('![a chart](chart.png) and <img src="x.png"> and `<img src="y.png">`'),
        v4.new_code_cell("x", outputs=[
            v4.new_output("display_data", {"image/jpeg": "/9j/AA==", "text/plain": "<Figure>"}),
            v4.new_output("stream", name="stdout", text='<div class="jp-Cell-inputWrapper"> as text\n'),
            v4.new_output("error", ename="ValueError", evalue="bad <b>", traceback=["ValueError: bad <b>"]),
            v4.new_output("execute_result", {"text/html": "<p>table</p>"}, execution_count=1)])])
    nbformat.write(odd, tmp_path / "odd.ipynb")
    executed = sorted((sample_report / "_executed").glob("*.ipynb"))
    chrome = report.page_chrome(executed, "2026Q4")
    jobs = [(nb, False, chrome[nb.stem]) for nb in executed] + [(executed[0], True, None),
                                                                 (tmp_path / "odd.ipynb", False, None)]
    for nb, with_code, page in jobs:
        report._render_html(nb, tmp_path / "ours.html", with_code, page)
        with monkeypatch.context() as m:
            m.setitem(report._EXPORTERS, with_code, _plain_exporter(with_code))
            report._render_html(nb, tmp_path / "theirs.html", with_code, page)
        ours, theirs = ((tmp_path / f).read_text(encoding="utf-8") for f in ("ours.html", "theirs.html"))
        assert BeautifulSoup(ours, "html.parser") == BeautifulSoup(theirs, "html.parser"), (nb.name, with_code)
        assert ours.count('tabindex="0"') == theirs.count('tabindex="0"') > 0
    assert ours.count('alt="No description has been provided for this image"') == 2  # the odd notebook's raw and JPEG images
