"""Run the quarterly report: load once, execute the notebooks, render HTML, write results.json.

Data flow (DESIGN.md): the export is loaded and validated once by :func:`run_report`, which
writes the clean table to ``<out>/<quarter>/_data/customers.parquet``. Each notebook opens a
:class:`RunContext` on that table, shows its part, and saves a JSON fragment; the fragments are
merged into ``results.json`` and the HTML pages are rendered with code hidden.
"""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import json
import math
import os
import pickle
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, load_config
from .io import (
    CleaningReport,
    check_report_quarter,
    latest_quarter,
    load,
    load_with_history,
    parse_quarter,
)
from .resources import InstallError, notebooks_dir, require_extra, resolve_input

__all__ = ["RunContext", "run_report", "notebook_paths", "to_jsonable", "ReportError", "InstallError",
           "limit_threads"]

NOTEBOOKS_DIR = notebooks_dir()
HIDDEN_TAGS = ("parameters", "injected-parameters", "remove")
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: What ``pip install "cxanalysis[report]"`` adds and executing the notebooks imports.
REPORT_EXTRA = ("papermill", "nbconvert", "nbformat", "ipykernel")
#: Thread limits read by BLAS and OpenMP; a value the user has set is kept.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ReportError(RuntimeError):
    """A notebook failed while the report ran."""


def _env_threads(var: str, default: int) -> int:
    """The thread count in ``var`` (its first number, as in OpenMP's ``"4,2"``), else ``default``."""
    head = os.environ.get(var, "").split(",")[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else default


def limit_threads(threads: int = 1) -> dict[str, int]:
    """Cap BLAS and OpenMP threads at ``threads``, keeping any limit set in the environment.

    The variables in ``THREAD_VARS`` are set when unset, for libraries loaded later (and for
    processes started from this one, such as notebook kernels), and :mod:`threadpoolctl` limits
    the libraries already loaded: OpenMP to ``OMP_NUM_THREADS``, BLAS to
    ``OPENBLAS_NUM_THREADS``.

    Parameters
    ----------
    threads : int
        The limit where the environment sets none.

    Returns
    -------
    dict
        The limits applied, ``{"openmp": n, "blas": n}``.
    """
    from threadpoolctl import threadpool_limits

    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    limits = {"openmp": _env_threads("OMP_NUM_THREADS", threads),
              "blas": _env_threads("OPENBLAS_NUM_THREADS", threads)}
    threadpool_limits(limits=limits)
    return limits


def to_jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if value is pd.NA or value is pd.NaT:
        return None
    return value


_RUN_FRAMES: dict[tuple, pd.DataFrame] = {}


def _read_run_parquet(path: Path) -> pd.DataFrame:
    """A run's clean table, read once per process (a worker's kernel runs several notebooks).

    Keyed by path, size and modification time, so a new run's table is read again. Each caller
    gets its own shallow copy: with pandas' copy-on-write a notebook that changes its frame
    changes only its copy.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _RUN_FRAMES:
        for old in [k for k in _RUN_FRAMES if k[0] == key[0]]:
            del _RUN_FRAMES[old]
        _RUN_FRAMES[key] = pd.read_parquet(path)
    return _RUN_FRAMES[key].copy(deep=False)


@dataclass
class RunContext:
    """What a notebook needs: the clean table, the config, the quarter, and where to save.

    Open it with :meth:`open` from a notebook's parameters; it accepts either the clean Parquet
    written by a report run or a raw export (loaded and validated on the spot, for interactive
    use in JupyterLab).
    """

    data: pd.DataFrame
    config: Config
    quarter: str
    cleaning: CleaningReport
    fragment_path: Path | None = None
    cache_dir: Path | None = None
    fragment: dict[str, Any] = field(default_factory=dict)
    nonrespondents: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Rows with no CX score, every quarter (the rest of the base; see :attr:`base`)."""
    nonrespondents_path: Path | None = None
    """A run's ``nonrespondents.parquet``, read into :attr:`nonrespondents` when first needed (only
    the data-quality page looks at them; reading 700,000 rows in every notebook cost ~0.4 s each)."""

    @classmethod
    def open(
        cls,
        data_path: str | None = None,
        config_path: str | None = None,
        quarter: str | None = None,
        fragment_path: str | None = None,
        *,
        threads: int = 1,
    ) -> RunContext:
        """Open the run's data (``.parquet`` from a run, or any export) and config.

        Works from any working directory: ``data_path=None`` is the bundled sample, and a
        relative path is also looked up from the source checkout's root (see
        :func:`cxanalysis.resources.resolve_input`). BLAS / OpenMP threads are capped at
        ``threads`` as in a report run, unless ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
        ``MKL_NUM_THREADS`` are already set (by the user, or by the report worker that started
        the kernel; see :func:`limit_threads`). With every core, clustering in a notebook took
        41-58 s instead of 3 s.
        """
        limit_threads(threads)
        data_path = resolve_input(data_path)
        config_path = resolve_input(config_path) if config_path is not None else None
        path = Path(data_path)
        run_dir = path.parent if path.name == "customers.parquet" else None
        if run_dir is not None and (run_dir / "config.json").is_file() and config_path is None:
            config_path = str(run_dir / "config.json")
        cfg = load_config(json.loads(Path(config_path).read_text()) if config_path and
                          config_path.endswith(".json") else config_path)
        if run_dir is not None:
            data = _read_run_parquet(path)
            cleaning = CleaningReport.from_dict(json.loads((run_dir / "cleaning.json").read_text()))
            non_path = run_dir / "nonrespondents.parquet"
            non, non_path = pd.DataFrame(), non_path if non_path.is_file() else None
        else:
            loaded = load(data_path, cfg, quarter=quarter if quarter and "quarter" not in cfg.columns else None)
            data, cleaning, non, non_path = loaded.data, loaded.report, loaded.nonrespondents, None
        q = parse_quarter(quarter) if quarter else latest_quarter(data)
        from .fmt import use_labels

        use_labels(cfg.labels)  # the run's own names for columns, on every table and chart of the page
        frag = Path(fragment_path) if fragment_path else None
        cache = run_dir.parent / "_cache" if run_dir is not None else None
        return cls(data, cfg, q, cleaning, frag, cache, nonrespondents=non, nonrespondents_path=non_path)

    @property
    def current(self) -> pd.DataFrame:
        """The respondents of the report's quarter (every analysis uses these), with their
        ``weight`` to the base when they are weighted."""
        return self.data[self.data["quarter"] == self.quarter].reset_index(drop=True)

    @property
    def current_nonrespondents(self) -> pd.DataFrame:
        """The report quarter's customers with no CX score."""
        if self.nonrespondents_path is not None:
            self.nonrespondents, self.nonrespondents_path = _read_run_parquet(self.nonrespondents_path), None
        non = self.nonrespondents
        if not len(non):
            return non
        return non[non["quarter"].astype(str) == self.quarter].reset_index(drop=True)

    @property
    def base(self) -> pd.DataFrame:
        """The report quarter's whole base: respondents and non-respondents (``responded`` 0/1)."""
        return pd.concat([self.current.assign(responded=1), self.current_nonrespondents.assign(responded=0)],
                         ignore_index=True)

    def everyone(self, columns: Sequence[str] = ("customer_id", "quarter", "churned")) -> pd.DataFrame | None:
        """Every customer of every loaded quarter, respondents and non-respondents alike, with
        ``columns`` (those the export has), unweighted: what a rate over the whole base is
        computed from. None when no non-respondent is in memory (everyone answered, or the run
        analyses a sample of a large export, whose engine counted the base itself)."""
        if self.nonrespondents_path is not None:  # only the columns asked for: the base can be large
            import pyarrow.parquet as pq

            names = set(pq.read_schema(self.nonrespondents_path).names)
            non = pd.read_parquet(self.nonrespondents_path, columns=[c for c in columns if c in names])
        else:
            non = self.nonrespondents
        if not len(non) or self.sample is not None:
            return None
        cols = [c for c in columns if c in self.data or c in non]
        return pd.concat([self.data.reindex(columns=cols), non.reindex(columns=cols)], ignore_index=True)

    def others(self, columns: Sequence[str]) -> pd.DataFrame | None:
        """The report quarter's customers who did not answer, with ``columns`` (those the export
        has; the whole frame is not read for a few columns): what a segment's figures over every
        customer add to its respondents (:func:`cxanalysis.segments.segment_others`). None when
        no non-respondent is in memory (everyone answered, or the run analyses a sample of a
        large export: the sample's respondents are weighted to its base instead)."""
        if self.sample is not None:
            return None
        cols = list(dict.fromkeys(["quarter", *columns]))
        if self.nonrespondents_path is not None:
            import pyarrow.parquet as pq

            names = set(pq.read_schema(self.nonrespondents_path).names)
            non = pd.read_parquet(self.nonrespondents_path, columns=[c for c in cols if c in names])
        else:
            non = self.nonrespondents.reindex(columns=[c for c in cols if c in self.nonrespondents])
        if not len(non) or "quarter" not in non:
            return None
        non = non[non["quarter"].astype(str) == self.quarter].reset_index(drop=True)
        return non if len(non) else None

    @property
    def response(self) -> dict[str, Any]:
        """``response`` of results.json for the report's quarter: ``base, respondents, rate,
        weighting`` plus ``n_eff``, ``design_effect`` and the raking's notes."""
        return response_block(self.cleaning, self.current, self.quarter)

    @property
    def response_entry(self) -> dict[str, Any]:
        """The report quarter's entry of the cleaning report's ``response`` (what :attr:`response`
        shows, plus the loader's counts of the base, e.g. ``nonrespondents_mrr``); empty when the
        run was loaded without one."""
        return next((r for r in self.cleaning.response if str(r.get("quarter")) == str(self.quarter)), {})

    def margins(self) -> pd.DataFrame:
        """The report quarter's respondents against its whole base on each weighting covariate
        (:func:`cxanalysis.weighting.compare_margins`): from the engine's counts when the large
        route read the export (its non-respondents are never loaded), else from the rows."""
        from .weighting import compare_margins

        for r in self.cleaning.response:
            if str(r.get("quarter")) == str(self.quarter) and r.get("margins") is not None:
                return pd.DataFrame(r["margins"], columns=["covariate", "level", "base_share", "respondents_share",
                                                           "weighted_share", "difference"])
        return compare_margins(self.current, self.current_nonrespondents, self.config)

    @property
    def sample(self) -> dict[str, Any] | None:
        """The weighted stratified sample :attr:`data` is (``rows, per_stratum, strata,
        population, by, engine``) when the run's engine read an export too large for memory;
        None when :attr:`data` holds every row."""
        return read_sample(self.cache_dir.parent / "_data") if self.cache_dir is not None else None

    @property
    def n_quarters(self) -> int:
        return int(self.data["quarter"].nunique())

    def exact(self, name: str) -> pd.DataFrame:
        """An exact table of the run (:data:`cxanalysis.engine.EXACT_TABLES`), computed over every
        row by the run's engine: ``nps_overall``, ``nps_quarter``, ``nps_segments``, ``metrics``,
        ``metrics_skipped``, ``counts``. Outside a report run (a raw export opened in
        JupyterLab) the pandas engine computes it from :attr:`data`."""
        from .engine import EXACT_TABLES, PandasEngine

        if name not in EXACT_TABLES:
            raise KeyError(f"No exact table {name!r}; the tables are {', '.join(EXACT_TABLES)}.")
        if self.cache_dir is not None:
            path = self.cache_dir.parent / "_data" / "exact" / f"{name}.parquet"
            if path.is_file():
                return pd.read_parquet(path)
        if "__exact" not in self.__dict__:  # computed once per context
            self.__dict__["__exact"] = PandasEngine(self.data, self.config).exact_tables()
        return self.__dict__["__exact"][name]

    def base_metrics(self) -> pd.DataFrame | None:
        """The CRM's metrics per quarter over every customer, respondents or not (the run's
        ``metrics_base``, :func:`cxanalysis.engine.base.base_metrics`), for
        :func:`cxanalysis.metrics.with_base`; None when the export holds no non-respondent."""
        if self.cache_dir is not None:
            path = self.cache_dir.parent / "_data" / "exact" / "metrics_base.parquet"
            return pd.read_parquet(path) if path.is_file() else None
        from .engine.base import base_metrics

        if "__base" not in self.__dict__:  # a raw export opened in JupyterLab: computed once here
            self.__dict__["__base"] = base_metrics(self.data, self.nonrespondents, self.config)
        return self.__dict__["__base"]

    def counted_churn(self) -> tuple[float, int] | None:
        """The report quarter's churn rate counted over every customer, and how many customers
        had a churn value: from ``metrics_base`` when the export holds non-respondents, from the
        exact metrics when every customer answered (unweighted); None when the customers are only
        estimated (respondents with the export's own weights) or the export has no churn."""
        table = self.base_metrics()
        if table is None:
            if "weight" in self.data:
                return None
            table = self.exact("metrics")
        row = table[(table["quarter"].astype(str) == str(self.quarter)) & (table["metric"] == "Churn rate")]
        return (float(row["value"].iloc[0]), int(row["n"].iloc[0])) if len(row) else None

    def skip(self, analysis: str, reason: str) -> None:
        """Record an analysis that could not run, with the reason shown in the report."""
        self.fragment.setdefault("analyses_skipped", {})[analysis] = reason
        self._write()

    def save(self, key: str, value: Any) -> None:
        """Add ``key`` to this notebook's results fragment and write the fragment."""
        self.fragment[key] = to_jsonable(value)
        self._write()

    def _write(self) -> None:
        if self.fragment_path is not None:
            self.fragment_path.parent.mkdir(parents=True, exist_ok=True)
            self.fragment_path.write_text(json.dumps(self.fragment, indent=1))

    def outcome_models(self):
        """The outcome models of the report's quarter, fitted once per run and cached.

        Outcomes whose columns are absent are listed in the result's ``skipped_``, not raised.

        Returns
        -------
        OutcomeModels
            Fitted with the per-row scores' joint covariance kept (for the ROI).
        """
        from .models import fit_outcome_models

        key = ("outcome_models", self.quarter, self.config.covariates, self.config.categories,
               self.config.alpha, len(self.current), self.config.weighting,
               float(self.current["weight"].sum()) if "weight" in self.current else None)
        return self.cached("outcome_models", key, lambda: fit_outcome_models(self.current, self.config))

    def clustering(self):
        """The behavioural clusters of the report's quarter (:func:`cxanalysis.clusters.from_config`
        fitted on :attr:`current`), fitted once per run and shared by the ROI and cluster pages."""
        key = ("clusters", self.quarter, repr(self.config.clusters), self.config.categories, self.config.seed,
               len(self.current))
        return self.cached("clusters", key, self._fit_clusters)

    def _fit_clusters(self):
        from .clusters import CIRCULAR, from_config

        # the circularity warning is kept in the fit's ``warnings_``, which the pages show as a note;
        # raised here it would also reach the page as raw stderr, with a source path
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=re.escape(CIRCULAR.split("{", 1)[0]), category=UserWarning)
            return from_config(self.config).fit(self.current)

    def cached(self, name: str, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute once per run: pickle ``compute()`` under ``_cache`` keyed by ``key``."""
        if self.cache_dir is None:
            return compute()
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        path = self.cache_dir / f"{name}-{digest}.pkl"
        if path.is_file():
            with open(path, "rb") as fh:
                return pickle.load(fh)
        value = compute()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh)
        tmp.replace(path)
        return value


def response_block(cleaning: CleaningReport, current: pd.DataFrame, quarter: str) -> dict[str, Any]:
    """``response`` of results.json: the quarter's base, respondents, response rate and weighting."""
    from .weighting import NO_NONRESPONDENTS

    for r in cleaning.response:
        if str(r["quarter"]) == str(quarter):
            return {k: r.get(k) for k in ("base", "respondents", "rate", "weighting", "n_eff", "design_effect",
                                           "notes")}
    n = len(current)  # loaded before the base was kept: every row is a respondent
    return {"base": n, "respondents": n, "rate": 1.0 if n else None, "weighting": NO_NONRESPONDENTS,
            "n_eff": float(n), "design_effect": 1.0, "notes": []}


def _init_worker(threads: int) -> None:
    """Worker initializer: limit threads and make sure what the notebooks import is imported.

    With one worker per core, numerical libraries that also start one thread per core would
    oversubscribe the machine (on two cores that made the report about 40% slower), so each
    worker gets ``threads`` BLAS / OpenMP threads; limits the user has set in the environment are
    kept. The notebooks run in the worker itself (:mod:`cxanalysis.inprocess`, no kernel). Forked
    from the run's fork server (:mod:`cxanalysis.workers`), a worker has :mod:`cxanalysis._preload`
    imported already; spawned, it imports it here.
    """
    limit_threads(threads)
    import cxanalysis._preload  # noqa: F401

    from . import inprocess

    inprocess.run_cell(WARMUP)
    # what is imported now lives as long as the worker: out of the collector's sight, the full
    # collection of each notebook's ``%reset`` takes milliseconds, not 0.09 s (226,000 objects)
    gc.freeze()


def worker_pool(workers: int, threads: int):
    """The process pool a report runs its notebooks on (see :mod:`cxanalysis.workers`)."""
    from concurrent.futures import ProcessPoolExecutor

    from .workers import context

    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(threads,),
                               mp_context=context())


#: Imported into each worker when it starts: what the notebooks import (scikit-learn and
#: scipy.stats through the clusters, drivers and themes: about 3 s at the first import).
WARMUP = ("import matplotlib.pyplot, IPython.display, cxanalysis.report, cxanalysis.plots, cxanalysis.narrative, "
          "cxanalysis.fmt, cxanalysis.segments, cxanalysis.metrics, cxanalysis.schema, cxanalysis.weighting, "
          "cxanalysis.trends, cxanalysis.models, cxanalysis.roi, cxanalysis.clusters, cxanalysis.drivers, "
          "cxanalysis.text, cxanalysis.survey")

#: Run in the worker's shell before each notebook: a fresh namespace, no open figures, the
#: matplotlib settings the shell started with, and the notebook's working directory. What stays
#: is what a fresh kernel would import anyway (modules) and the run's per-process caches.
RESET = """%reset -f
import os as _os, matplotlib as _mpl, matplotlib.pyplot as _plt, cxanalysis.report as _r
_plt.close("all")
if _r._SHELL_RC is None:  # backend and interactive mode stay as the inline backend set them
    _r._SHELL_RC = {{k: v for k, v in dict.items(_mpl.rcParams) if k not in ("backend", "interactive")}}
else:
    dict.update(_mpl.rcParams, _r._SHELL_RC)
_os.chdir({cwd!r})
del _os, _mpl, _plt, _r
"""

_SHELL_RC: dict | None = None  # set inside the worker's shell by RESET


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The report's notebooks, ``NN-topic.ipynb``, in reading order.

    By default those of :func:`cxanalysis.resources.notebooks_dir`: the checkout's
    ``notebooks/``, or the copy an installed wheel carries.
    """
    folder = folder or NOTEBOOKS_DIR
    return sorted(p for p in folder.glob("[0-9][0-9]-*.ipynb"))


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("cxanalysis", "pandas", "numpy", "statsmodels", "scikit-learn", "scipy", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    out["python"] = sys.version.split()[0]
    return out


APPENDIX_TAG = "appendix"


def notebook_title(notebook: Path) -> str:
    """The notebook's first ``# heading`` (its file stem when it has none)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(notebook).stem


def short_title(title: str) -> str:
    """A page's name in titles and links: its heading up to the first colon."""
    return title.split(":")[0].strip()


def page_chrome(notebooks: list[Path], quarter: str) -> dict[str, dict[str, Any]]:
    """Per notebook stem: the page's ``<title>``, its quarter and its previous / next pages.

    Pages follow the notebooks' order; the first page has no previous page, the last no next.

    Examples
    --------
    >>> c = page_chrome([Path("notebooks/02-segments.ipynb")], "2026Q3")  # doctest: +SKIP
    >>> c["02-segments"]["title"]  # doctest: +SKIP
    '2026Q3 · Segments · CX report'
    """
    names = [short_title(notebook_title(p)) for p in notebooks]
    out = {}

    def link(j: int) -> dict[str, str]:
        return {"href": f"{notebooks[j].stem}.html", "title": names[j]}

    for i, p in enumerate(notebooks):
        out[p.stem] = {"title": f"{quarter} \u00b7 {names[i]} \u00b7 CX report", "name": names[i],
                       "quarter": quarter,
                       "prev": link(i - 1) if i > 0 else None,
                       "next": link(i + 1) if i + 1 < len(notebooks) else None}
    return out


def leave_out_cells(nb):
    """Remove the cells whose tags a page asked to leave out (:func:`cxanalysis.narrative.leave_out`,
    an output carrying them in its metadata), and those outputs. Returns the notebook (changed in
    place)."""
    from .narrative import LEAVE_OUT_KEY

    tags: set[str] = set()
    for c in nb.cells:
        if c.get("cell_type") != "code":
            continue
        keep = []
        for o in c.get("outputs", []):
            asked = o.get("metadata", {}).get(LEAVE_OUT_KEY)
            if asked is None:
                keep.append(o)
            else:
                tags.update(asked)
        c["outputs"] = keep
    if tags:
        nb.cells = [c for c in nb.cells if not tags & set(c.get("metadata", {}).get("tags", []))]
    return nb


def group_appendix(nb):
    """Move the cells tagged ``appendix`` to the end, in their order, and mark the first and the
    last (cell metadata ``cx_appendix``: ``first``, ``last`` or ``only``) for the template, which
    wraps them in one collapsed "Technical appendix". Returns the notebook (changed in place)."""
    tagged = [c for c in nb.cells if APPENDIX_TAG in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return nb
    nb.cells = [c for c in nb.cells if c not in tagged] + tagged
    for c in tagged:
        c.metadata.pop("cx_appendix", None)
    if len(tagged) == 1:
        tagged[0].metadata["cx_appendix"] = "only"
    else:
        tagged[0].metadata["cx_appendix"] = "first"
        tagged[-1].metadata["cx_appendix"] = "last"
    return nb


_EXPORTERS: dict[bool, Any] = {}  # the HTML exporter of this process, with code shown or not

#: The opening tags nbconvert's HTMLExporter makes focusable (``tabindex="0"``) and images it
#: gives a default alt text: template markup only (text from an export is escaped, no ``<`` in it).
_FOCUSABLE = re.compile(r'(<div class="(?:jp-Cell-inputWrapper|[^"<>]*\bjp-OutputArea-output\b[^"<>]*)")')
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^<>]*\salt=)")


def _report_exporter_class():
    """nbconvert's ``HTMLExporter`` without its last step: it parses every page it has rendered
    with BeautifulSoup to give images without one an alt text and to make the inputs and
    outputs focusable, then serialises the page again (about a tenth of a second a page, more
    than the rendering). Here those attributes are written into the rendered text directly; the
    page's document is the same (tests/test_report.py compares the two)."""
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter.from_notebook_node (nbconvert 7.17) up to its BeautifulSoup pass
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                     resources=resources)
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            html = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
            return _FOCUSABLE.sub(r'\1 tabindex="0"', html), resources

    return ReportExporter


def html_exporter(with_code: bool):
    """The ``cxreport`` HTML exporter of this process (one per process and version: its compiled
    templates are reused), :func:`_report_exporter_class`."""
    exporter = _EXPORTERS.get(with_code)
    if exporter is None:
        exporter = _report_exporter_class()(template_name="cxreport", extra_template_basedirs=[str(TEMPLATES)])
        if not with_code:
            exporter.exclude_input = True
            exporter.exclude_input_prompt = True
            exporter.exclude_output_prompt = True
        _EXPORTERS[with_code] = exporter
    return exporter


def _render_html(executed, html_path: Path, with_code: bool,
                 chrome: dict[str, Any] | None = None) -> None:
    """Render an executed notebook (a path, or the notebook papermill returned) to HTML with the
    ``cxreport`` template.

    ``chrome`` (one entry of :func:`page_chrome`) gives the page its title, quarter header and
    navigation links. Cells tagged ``appendix`` go into the collapsed technical appendix.
    """
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(executed, as_version=4) if isinstance(executed, str | Path) else executed
    # tagged cells are removed by the preprocessor; group the rest before it runs
    tags = TagRemovePreprocessor(remove_cell_tags=HIDDEN_TAGS, enabled=True)
    nb, _ = tags.preprocess(nb, {})
    leave_out_cells(nb)
    group_appendix(nb)
    if chrome:
        nb.metadata["title"] = chrome["title"]
    body, _ = html_exporter(with_code).from_notebook_node(nb, resources={"cx": chrome} if chrome else None)
    html_path.write_text(body, encoding="utf-8")


def _execute(args: tuple) -> tuple[str, float, str | None]:
    """Execute one notebook with papermill in this worker (:mod:`cxanalysis.inprocess`) and render
    it (runs in a worker process)."""
    import nbformat
    import papermill as pm

    from .inprocess import ENGINE_NAME, run_cell

    src, executed, html, params, with_code, cwd, chrome = args
    here = os.getcwd()  # the notebook runs in ``cwd``; the job's paths may be relative to this
    src, executed, html = (Path(here, p) for p in (src, executed, html))
    t0 = time.perf_counter()
    error, nb = None, None
    # what reaches this worker's file descriptors 1 and 2 outside the cells' captured streams (C
    # libraries) goes next to the executed notebook, not among the report's progress lines
    log = open(executed.with_suffix(".log"), "w")  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        outputs, _, ok = run_cell(RESET.format(cwd=str(cwd)))
        if not ok:
            raise RuntimeError(f"resetting the notebook namespace failed: {outputs}")
        # saved once at the end, not after every cell (each save serialises every figure again)
        nb = pm.execute_notebook(str(src), str(executed), parameters=params, kernel_name="python3",
                                 engine_name=ENGINE_NAME, request_save_on_cell_execute=False,
                                 progress_bar=False, cwd=str(cwd), log_output=False)
    except Exception as exc:  # papermill wraps cell errors; keep the message, render anyway
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        os.chdir(here)
    log.close()
    if nb is None and executed.is_file():  # papermill saved the failed notebook, with its marker
        nb = nbformat.read(executed, as_version=4)
    if nb is not None:
        _render_html(nb, html, with_code, chrome)
    return src.stem, time.perf_counter() - t0, error


def _prefit(data_path: str, quarter: str) -> float:
    """Fit the run's shared outcome models into its cache (runs in a worker process)."""
    t0 = time.perf_counter()
    RunContext.open(data_path, quarter=quarter).outcome_models()
    return time.perf_counter() - t0


def _calls(notebook: Path, call: str) -> bool:
    """Whether the notebook's text calls ``call`` (``"outcome_models("``, ``"ctx.exact("``)."""
    return call in Path(notebook).read_text(encoding="utf-8")


def _starts_early(notebook: Path) -> bool:
    """Notebook metadata ``{"cxanalysis": {"start_early": true}}`` marks the slow notebooks, which
    are started first so that the workers finish together."""
    meta = json.loads(Path(notebook).read_text(encoding="utf-8")).get("metadata", {})
    return bool(meta.get("cxanalysis", {}).get("start_early", False))


def _merge_fragments(base: dict[str, Any], fragments: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(base)
    for frag in fragments:
        for key, value in frag.items():
            if key == "analyses_skipped":
                out["analyses_skipped"].update(value)
            elif isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out


def _run_notebooks(pool, jobs: list[tuple], data_path: str, quarter: str,
                   progress: Callable[[str], None], workers: int = 2,
                   exact: Future | None = None) -> tuple[list[str], dict[str, float]]:
    """Execute the notebooks on ``pool``; returns the errors and each notebook's seconds.

    The models several notebooks need are fitted once, in a worker, while the notebooks that do
    not need them run. A notebook is handed to a worker only when one is free, so the next one
    can be chosen then: the slow ones (marked ``start_early``) first, and once the models are in
    the run's cache, the notebooks that need them before the quick ones that do not (queued in
    advance, the quick pages held the slow ROI page back to the end of the run). ``exact``: the
    parent's computation of the exact tables, still running; the notebooks that read them
    (``ctx.exact(``) wait for it, the others start at once.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    errors, seconds = [], {}
    needs = {j[0] for j in jobs if _calls(j[0], "outcome_models(")}
    reads_exact = {j[0] for j in jobs if _calls(j[0], "ctx.exact(")}
    pending = sorted(jobs, key=lambda j: (not _starts_early(j[0]), j[0] not in needs))
    running: dict = {pool.submit(_prefit, data_path, quarter): "models"}
    if exact is not None:
        running[exact] = "exact"
    models_ready, exact_ready, done_count = False, exact is None, 0

    def pick():
        for j in pending:
            if (models_ready or j[0] not in needs) and (exact_ready or j[0] not in reads_exact):
                pending.remove(j)
                return j
        return None

    def busy() -> int:
        return sum(1 for v in running.values() if v != "exact")

    while running or pending:  # a notebook may still wait when the model fit was the last to finish
        while busy() < max(1, workers) and (job := pick()) is not None:
            running[pool.submit(_execute, job)] = job
        if not running:  # nothing runs and nothing could be picked: run the next page regardless
            job = pending.pop(0)
            running[pool.submit(_execute, job)] = job
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in finished:
            job = running.pop(fut)
            if job == "exact":
                exact_ready = True
                fut.result()  # a failure here stops the run, as before the notebooks started
                continue
            if job == "models":
                models_ready = True
                try:
                    progress(f"  outcome models fitted ({fut.result():.1f} s)")
                except Exception as exc:  # the notebooks that need them will show the error
                    progress(f"  outcome models could not be fitted in advance: {exc}")
                continue
            name, secs, err = fut.result()
            done_count += 1
            seconds[name] = round(secs, 1)
            progress(f"  [{done_count}/{len(jobs)}] {name} {'FAILED' if err else 'done'} ({secs:.1f} s)")
            if err:
                errors.append(f"{name}: {err}")
    errors += [f"{j[0].stem}: was never run" for j in jobs if j[0].stem not in seconds]  # never silent
    return errors, seconds


def _start_workers(pool, workers: int) -> None:
    """Start ``pool``'s workers (in a thread of the parent: the first waits for the fork server)."""
    try:
        for _ in range(workers):
            pool.submit(int)
    except RuntimeError:  # the run stopped (bad input) and the pool shut down first
        pass


def run_report(
    data: str | Path,
    *,
    config: str | Path | Config | None = None,
    quarter: str | None = None,
    out: str | Path = "reports",
    query: str | None = None,
    with_code: bool = False,
    notebooks: list[Path] | None = None,
    progress: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
    workers: int = 2,
    survey: str | Path | None = None,
    engine: str | None = None,
    per_stratum: int | None = None,
) -> Path:
    """Run the full quarterly report.

    Parameters
    ----------
    data : str or Path
        The export (file, folder, database URL). Earlier quarters in the same file or folder, or
        in sibling ``YYYYQn`` folders next to a quarter folder, feed the trends.
    config : path or Config, optional
    quarter : str, optional
        The report's quarter; default the latest quarter in the data.
    out : str or Path
        Reports root; the run writes only inside ``<out>/<quarter>/``.
    with_code : bool
        Render the analyst version with code shown.
    survey : str or Path, optional
        Survey-platform export joined to ``data`` (default ``survey.path`` of the config).
    engine : {"auto", "pandas", "duckdb", "spark"}, optional
        The engine of the exact tables (default ``engine`` of the config). They are computed
        over every row of the clean table and written to ``_data/exact/``, where
        :meth:`RunContext.exact` reads them; ``run.engine`` in ``results.json`` records it.
        With DuckDB or Spark a file export is never loaded whole (:func:`_prepare`): the engine
        reads, validates and counts it, and the notebooks get a weighted stratified sample.
    per_stratum : int, optional
        Rows drawn at most per stratum of that sample (default
        :func:`cxanalysis.engine.large.auto_per_stratum`: about 200,000 rows in all, at most 50,000
        per stratum); ``run.sample`` records the sample.

    Returns
    -------
    Path
        The quarter's report folder (with ``index.html`` and ``results.json``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from .summary import write_index

    require_extra("report", REPORT_EXTRA, "cxanalysis report")
    paths = notebooks or notebook_paths()
    if not paths:
        raise InstallError(f"No report notebooks (NN-topic.ipynb) in {NOTEBOOKS_DIR}: this "
                           "installation of cxanalysis is incomplete. Reinstall it: "
                           'pip install --force-reinstall "cxanalysis[report]"')
    started = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg = config if isinstance(config, Config) else load_config(config)
    from .engine import choose_engine

    engine_name = choose_engine(data, engine or cfg.engine)
    if engine_name == "spark":  # fail before loading the data, with the install hint
        require_extra("spark", ("pyspark",), "The Spark engine")
    workers = max(1, workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with worker_pool(workers, threads) as pool, ThreadPoolExecutor(max_workers=1) as side:
        # start the workers now, from a thread: the fork server's imports overlap the loading
        # (starting a worker waits for them)
        starter = threading.Thread(target=_start_workers, args=(pool, workers), daemon=True)
        starter.start()
        try:
            frame, cleaning, q, root, non = _prepare(data, cfg, quarter, query, Path(out), progress, survey,
                                                     engine=engine_name, per_stratum=per_stratum)
            data_path = (root / "_data" / "customers.parquet").resolve()
            sample = read_sample(root / "_data")
            # the large route wrote the exact tables while reading the export; otherwise they are
            # computed here, in the parent, at once: while the fork server may still be importing
            # (loading often ends first), then while the workers start on what does not need them
            exact = (side.submit(_write_exact, engine_name, frame, data_path, cfg, progress, non)
                     if sample is None else None)
        finally:
            starter.join()
        chrome = page_chrome(paths, q)
        jobs = [(nb, root / "_executed" / nb.name, root / f"{nb.stem}.html",
                 {"data_path": str(data_path), "quarter": q,
                  "fragment_path": str((root / "_fragments" / f"{nb.stem}.json").resolve())},
                 with_code, root.resolve(), chrome[nb.stem]) for nb in paths]
        errors, seconds = _run_notebooks(pool, jobs, str(data_path), q, progress, workers, exact=exact)

    fragments = [json.loads(p.read_text()) for p in sorted((root / "_fragments").glob("*.json"))]
    cats = cfg.categories
    current = frame[frame["quarter"] == q]
    by_quarter = pd.read_parquet(root / "_data" / "exact" / "nps_quarter.parquet")  # the engine's
    head = by_quarter[by_quarter["quarter"].astype(str) == q].iloc[0]
    from .metrics import configured_nps

    n_customers = len(current)
    if sample is not None:  # the sample's rows stand for every respondent: the engine's counts
        unweighted = pd.read_parquet(root / "_data" / "exact" / "nps_quarter_unweighted.parquet")
        raw = unweighted[unweighted["quarter"].astype(str) == q].iloc[0]
        n_customers = int(response_block(cleaning, current, q)["respondents"])
    elif "weight" in current:
        raw = configured_nps(current.drop(columns="weight"), cfg).iloc[0]
    else:
        raw = head
    base = {
        "quarter": q,
        "n_customers": n_customers,
        "analyses_skipped": {},
        "run": {"inputs": cleaning.inputs, "versions": _versions(), "seed": cfg.seed,
                "config": cfg.to_dict(), "started": started, "engine": engine_name,
                "sample": {k: sample[k] for k in ("rows", "per_stratum", "strata", "population", "by")}
                if sample is not None else None,
                "cleaning": {"rows_in": cleaning.rows_in, "rows_out": cleaning.rows_out,
                             "steps": cleaning.steps},
                "notebooks": [p.stem for p in paths], "with_code": with_code,
                "notebook_seconds": {p.stem: seconds.get(p.stem) for p in paths}},
        "nps": {"value": head["nps"], "ci_low": head["ci_low"], "ci_high": head["ci_high"],
                "promoters": head["promoters"], "passives": head["passives"], "detractors": head["detractors"],
                "n": int(head["n"]), "method": cfg.nps_ci, "score": cats["score"],
                "unweighted": raw["nps"], "n_eff": head.get("n_eff", head["n"])},
        "response": response_block(cleaning, current, q),
    }
    if cleaning.join is not None:
        base["join"] = cleaning.join.to_dict()
    results = to_jsonable(_merge_fragments(base, fragments))
    if errors:
        results["run"]["errors"] = errors
    (root / "results.json").write_text(json.dumps(results, indent=1))
    write_index(root, results, [p.stem for p in paths])
    if errors:
        raise ReportError("Notebook(s) failed:\n  " + "\n  ".join(errors)
                          + f"\nThe rendered pages in {root} show the failing cell.")
    return root


def _write_exact(name: str, frame: pd.DataFrame, data_path: Path, cfg: Config,
                 progress: Callable[[str], None], nonrespondents: pd.DataFrame | None = None) -> None:
    """Compute the exact tables with engine ``name`` over every row of the clean table and
    write them to ``_data/exact/<table>.parquet`` (read by :meth:`RunContext.exact`); with
    ``nonrespondents``, also ``metrics_base``, the CRM's metrics over every customer
    (:func:`cxanalysis.engine.base.base_metrics`, in memory: this route loaded the export)."""
    from .engine import PandasEngine, open_engine
    from .engine.base import base_metrics

    t0 = time.perf_counter()
    if name == "pandas":
        eng = PandasEngine(frame.drop(columns=["_row"], errors="ignore"), cfg)
    else:  # the clean table's columns are canonical already: no mapping
        eng = open_engine(name, str(data_path), Config({**cfg.to_dict(), "columns": {}}, cfg.source))
    try:
        tables = eng.exact_tables()
    finally:
        eng.close()
    if (with_base := base_metrics(frame, nonrespondents, cfg)) is not None:
        tables["metrics_base"] = with_base
    folder = data_path.parent / "exact"
    folder.mkdir(exist_ok=True)
    for table, value in tables.items():
        value.to_parquet(folder / f"{table}.parquet", index=False)
    progress(f"  exact tables by {name} ({time.perf_counter() - t0:.1f} s)")


def read_sample(data_dir: Path) -> dict[str, Any] | None:
    """The run's sample (``sample.json`` of :func:`_prepare`'s large route), or None when the
    notebooks have every row."""
    path = Path(data_dir) / "sample.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _large_route(data, engine: str, query: str | None, survey) -> bool:
    """DuckDB / Spark read the export themselves (never loaded whole) when it is a file, a glob,
    a folder or a Spark table; a database query or a survey join is loaded in memory."""
    if engine == "pandas" or query or survey or isinstance(data, pd.DataFrame):
        return False
    text = str(data)
    return text.startswith("spark:") or "://" not in text


def _prepare(data, cfg: Config, quarter: str | None, query: str | None, out: Path,
             progress: Callable[[str], None],
             survey: str | Path | None = None, *, engine: str = "pandas",
             per_stratum: int | None = None) -> tuple[pd.DataFrame, CleaningReport, str, Path, pd.DataFrame]:
    """Load and validate the export once; write the clean table, cleaning report and config
    under ``<out>/<quarter>/_data`` for the notebooks (stale fragments and cache removed).

    With ``engine`` DuckDB or Spark and a file export, the export is not loaded:
    :func:`cxanalysis.engine.large.prepare_large` reads, validates and counts it in SQL, writes
    the exact tables over every row to ``_data/exact/``, and the clean table written for the
    notebooks is a weighted stratified sample (described in ``_data/sample.json``).
    """
    progress(f"Loading {data} ...")
    survey = survey or cfg.data.get("survey", {}).get("path")
    large = None
    if _large_route(data, engine, query or cfg.data.get("query"), survey):
        from .engine.choose import QuarterFolders
        from .engine.large import prepare_large

        folder_q = parse_quarter(Path(str(data)).name) if Path(str(data)).is_dir() else None
        folders = QuarterFolders.of(data) if folder_q is not None else None
        source = folders if folders is not None and len(folders.parts) > 1 else data  # earlier quarters: trends
        large = prepare_large(source, cfg, engine=engine, quarter=quarter or folder_q,
                              per_stratum=per_stratum, progress=progress)
        frame, cleaning, non = large.sample, large.cleaning, pd.DataFrame()
        q = check_report_quarter(None, quarter, cfg, sizes=large.sizes)
    else:
        loaded = load_with_history(data, cfg, quarter=quarter, query=query, survey=survey)
        frame, cleaning, non = loaded.data, loaded.report, loaded.nonrespondents
        q = check_report_quarter(frame, quarter, cfg)  # present and large enough, or DataError (exit 2)
    root = out / q
    for sub in ("_data", "_fragments", "_executed", "_cache"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stale in [*(root / "_fragments").glob("*.json"), *(root / "_cache").glob("*.pkl"),
                  *(root / "_data" / "exact").glob("*.parquet"), root / "_data" / "sample.json"]:
        stale.unlink(missing_ok=True)
    frame.drop(columns=["_row"], errors="ignore").to_parquet(root / "_data" / "customers.parquet", index=False)
    non_path = root / "_data" / "nonrespondents.parquet"
    if len(non):
        non.drop(columns=["_row"], errors="ignore").to_parquet(non_path, index=False)
    elif non_path.is_file():
        non_path.unlink()
    if large is not None:
        folder = root / "_data" / "exact"
        folder.mkdir(exist_ok=True)
        for table, value in large.tables.items():
            value.to_parquet(folder / f"{table}.parquet", index=False)
        (root / "_data" / "sample.json").write_text(json.dumps(to_jsonable(large.info), indent=1))
    (root / "_data" / "cleaning.json").write_text(json.dumps(to_jsonable(cleaning.to_dict()), indent=1))
    (root / "_data" / "config.json").write_text(json.dumps(to_jsonable(cfg.to_dict()), indent=1))
    resp = f" ({cleaning.respondents:,} with a CX score)" if cleaning.respondents not in (None, cleaning.rows_out) else ""
    progress(f"  {cleaning.rows_in:,} rows read, {cleaning.rows_out:,} kept{resp}; report quarter {q}")
    return frame, cleaning, q, root, non
