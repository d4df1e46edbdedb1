"""Packaging: the wheel carries the notebooks and the sample, an installed copy runs the whole
report, a missing extra is one line and exit 2, and notebooks run from any working directory
with their threads capped as in a report run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import papermill
import pytest

from cxanalysis import resources
from cxanalysis.cli import main
from cxanalysis.report import THREAD_VARS, notebook_paths
from cxanalysis.sample import make_customers

ROOT = Path(__file__).resolve().parent.parent
HINT = 'cxanalysis report needs the report extra: pip install "cxanalysis[report]"'


def _env(**extra: str) -> dict[str, str]:
    """This environment without thread limits (so the code under test sets them)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS and k != "PYTHONPATH"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout, as ``pip wheel .`` builds it (isolated build)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                   check=True, cwd=out, capture_output=True)
    (found,) = out.glob("cxanalysis-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed outside the checkout (``pip install --target``), for ``PYTHONPATH``.

    The development install is editable: its import hook is appended to ``sys.meta_path``, so a
    ``PYTHONPATH`` entry is searched first and the wheel's copy wins, in the command and in the
    notebook kernels it starts (they inherit the environment and the interpreter).
    """
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    return site


def test_wheel_carries_the_notebooks_and_the_sample(wheel):
    """Byte for byte the checkout's notebooks and sample, next to the package's code."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        packed = sorted(n for n in names if n.startswith("cxanalysis/_notebooks/"))
        assert [Path(n).name for n in packed] == [p.name for p in notebook_paths()]
        for name in packed:
            assert zf.read(name) == (ROOT / "notebooks" / Path(name).name).read_bytes(), name
        sample = zf.read("cxanalysis/_data/sample/customers.csv")
        assert sample == (ROOT / "data" / "sample" / "customers.csv").read_bytes()
        assert {"cxanalysis/report.py", "cxanalysis/resources.py",
                "cxanalysis/templates/cxreport/index.html.j2"} <= names


def test_installed_copy_finds_its_own_notebooks_and_sample(installed, tmp_path):
    code = ("import json, cxanalysis, cxanalysis.resources as r, cxanalysis.report as rep; "
            "print(json.dumps([cxanalysis.__file__, [str(p) for p in rep.notebook_paths()], "
            "str(r.sample_data_path()), r.project_root()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(PYTHONPATH=str(installed)),
                         check=True, capture_output=True, text=True)
    module, notebooks, sample, root = json.loads(out.stdout)
    assert Path(module).is_relative_to(installed), module  # not the checkout's editable copy
    assert root is None
    assert [Path(p).parent for p in notebooks] == [installed / "cxanalysis" / "_notebooks"] * 6
    assert Path(sample) == installed / "cxanalysis" / "_data" / "sample" / "customers.csv"


@pytest.mark.slow
def test_installed_wheel_writes_every_page(installed, tmp_path):
    """``cxanalysis report`` from the installed wheel, run outside the checkout: every page."""
    make_customers(1500, 2, random_state=21).to_csv(tmp_path / "customers.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "cxanalysis.cli", "report", "customers.csv",
                          "--out", "reports"], cwd=tmp_path, env=_env(PYTHONPATH=str(installed)),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Report ready" in run.stdout
    root = tmp_path / "reports" / "2026Q1"
    pages = [p.stem for p in notebook_paths()]
    assert len(pages) == 6
    for name in [*(f"{p}.html" for p in pages), "index.html", "results.json"]:
        assert (root / name).is_file(), name
    results = json.loads((root / "results.json").read_text())
    assert results["run"]["notebooks"] == pages and "errors" not in results["run"]
    assert sorted(p.stem for p in (root / "_executed").glob("*.ipynb")) == pages


@pytest.mark.slow
def test_kernels_of_an_installed_run_import_the_wheel(installed, tmp_path):
    """A kernel started as the report starts them (same interpreter and environment) imports the
    installed copy too, not the checkout's editable one."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import cxanalysis\nopen('where.txt', 'w').write(cxanalysis.__file__)")])
    nbformat.write(nb, tmp_path / "where.ipynb")
    subprocess.run([sys.executable, "-m", "papermill", "where.ipynb", "out.ipynb", "-k", "python3",
                    "--no-progress-bar"], cwd=tmp_path, env=_env(PYTHONPATH=str(installed)),
                   check=True, capture_output=True)
    assert Path((tmp_path / "where.txt").read_text()).is_relative_to(installed)


def test_missing_report_extra_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    """papermill made unimportable (``sys.modules[name] = None`` is how Python marks a module
    that cannot be imported): one line with the install hint, exit 2, nothing written."""
    monkeypatch.setitem(sys.modules, "papermill", None)
    code = main(["report", str(tmp_path / "customers.csv"), "--out", str(tmp_path / "reports")])
    err = capsys.readouterr()
    assert code == 2
    assert err.err.strip().splitlines() == [f"error: {HINT}"]
    assert "Report ready" not in err.out
    assert not (tmp_path / "reports").exists()  # raised before any work starts


def test_missing_report_extra_in_a_fresh_process(tmp_path):
    """The same from the command line: no traceback from the worker initializer."""
    code = ("import sys; sys.modules['nbconvert'] = None; from cxanalysis.cli import main; "
            "sys.exit(main(['report', 'customers.csv', '--out', 'reports']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: {HINT}"]


def test_no_notebooks_is_an_error_not_an_empty_report(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("cxanalysis.report.NOTEBOOKS_DIR", tmp_path / "empty")
    make_customers(200, 1, random_state=3).to_csv(tmp_path / "customers.csv", index=False)
    code = main(["report", str(tmp_path / "customers.csv"), "--out", str(tmp_path / "reports")])
    err = capsys.readouterr()
    assert code == 2
    assert "No report notebooks" in err.err and "Report ready" not in err.out
    assert len(err.err.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()


def test_notebooks_default_to_the_bundled_sample():
    """Every notebook's ``data_path`` defaults to None (the bundled sample), not a path that only
    exists from ``notebooks/``."""
    for path in notebook_paths():
        params = papermill.inspect_notebook(str(path))
        assert params["data_path"]["default"] == "None", path.name
        assert params["data_path"]["inferred_type_name"] == "Optional[str]", path.name


def test_relative_paths_resolve_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sample = ROOT / "data" / "sample" / "customers.csv"
    assert resources.resolve_input(None) == str(sample)
    # typed as from the checkout's root, in a kernel started elsewhere (e.g. notebooks/)
    assert resources.resolve_input("data/sample/customers.csv") == str(sample)
    # what exists from the working directory wins; URLs and unknown paths are left as typed
    (tmp_path / "data" / "sample").mkdir(parents=True)
    (tmp_path / "data" / "sample" / "customers.csv").write_text("x")
    assert resources.resolve_input("data/sample/customers.csv") == "data/sample/customers.csv"
    assert resources.resolve_input("sqlite:///crm.db") == "sqlite:///crm.db"
    assert resources.resolve_input("nowhere/export.csv") == "nowhere/export.csv"


@pytest.mark.slow
def test_notebook_runs_from_another_working_directory(tmp_path):
    """A notebook executed outside ``notebooks/`` with its default parameters (the bundled
    sample), as a JupyterLab kernel started elsewhere would."""
    src = next(p for p in notebook_paths() if p.stem.startswith("01"))
    pm_out = papermill.execute_notebook(str(src), str(tmp_path / src.name), cwd=str(tmp_path),
                                        kernel_name="python3", progress_bar=False)
    errors = [o for c in pm_out.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


THREADS_CODE = """
import json, sys
import numpy, sklearn.cluster  # BLAS and OpenMP loaded before the context opens
from threadpoolctl import threadpool_info
from cxanalysis.report import RunContext
RunContext.open(sys.argv[1])
print(json.dumps([[i["user_api"], i["num_threads"]] for i in threadpool_info()]))
"""


@pytest.mark.parametrize(("env", "expected"), [
    ({}, {"blas": 1, "openmp": 1}),
    ({"OMP_NUM_THREADS": "3"}, {"blas": 1, "openmp": 3}),  # a limit the user set is kept
])
def test_run_context_caps_threads_as_the_cli_does(tmp_path, env, expected):
    """In a plain kernel, threads are capped once ``RunContext.open`` ran (checked with
    ``threadpoolctl.threadpool_info()`` in a fresh process, as a kernel is)."""
    make_customers(200, 1, random_state=5).to_csv(tmp_path / "customers.csv", index=False)
    run = subprocess.run([sys.executable, "-c", THREADS_CODE, str(tmp_path / "customers.csv")],
                         cwd=tmp_path, env=_env(**env), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    pools = json.loads(run.stdout.strip().splitlines()[-1])
    assert {api for api, _ in pools} == {"blas", "openmp"}
    for api, n in pools:
        assert n == expected[api], (api, n)
