"""End to end: the notebooks execute on sample and real data, HTML renders, results.json holds
the contract of DESIGN.md."""

import json
import re

import nbformat
import pytest

from cxanalysis.report import notebook_paths, run_report
from cxanalysis.sample import make_customers
from cxanalysis.summary import headline_sentences

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


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    make_customers(1500, 2, random_state=21).to_csv(tmp / "customers.csv", index=False)
    root = run_report(tmp / "customers.csv", out=tmp / "reports", progress=lambda m: None)
    return root


def test_notebooks_follow_the_house_rules():
    paths = notebook_paths()
    assert [p.name[:2] for p in paths] == [f"{i:02d}" for i in range(1, len(paths) + 1)]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
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


@pytest.mark.parametrize("name", ["telco", "ecommerce"])
def test_real_export_reports_without_traceback(tmp_path, name):
    data, cfg = real_export(name)
    root = run_report(data, config=cfg, out=tmp_path, progress=lambda m: None)
    results = json.loads((root / "results.json").read_text())
    assert _errors_in(root / "_executed") == []
    assert results["nps"]["score"] == "csat"  # categories from the 1-5 scale, via the config
    skipped = results["analyses_skipped"]
    assert "metric CES" in skipped and "trends" in skipped
    assert list(_check_html(root, [p.stem for p in notebook_paths()]))
