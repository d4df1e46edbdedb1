"""End to end: the notebooks execute on sample and real data, HTML renders, results.json holds
the contract of DESIGN.md."""

import json
import re

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
    errors = []
    for path in sorted(executed_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    errors.append(f"{path.name}: {out.get('ename')}: {out.get('evalue')}")
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
    assert "Analyses skipped" in index and "metric CES" in index
    if name == "telco":  # scores 1-2 always churned, 4-5 never: separation, flagged on the summary
        assert "Read before acting" in index and "separation" in index
        assert results["effects"]["churn"]["detractor_vs_passive"]["flagged"] is True
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
