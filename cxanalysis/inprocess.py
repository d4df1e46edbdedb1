"""Execute a report notebook inside the worker process: a papermill engine with no kernel.

A report run used to start one Jupyter kernel per worker: a second Python process that imported
pandas, matplotlib, scikit-learn and the package again (about 3 s of CPU each, on two cores) and
received every cell over ZeroMQ. :class:`InProcessEngine` runs the cells in the worker itself, in
an IPython shell, and records what a kernel would have sent as the cell's outputs:

- ``display()`` calls (pandas Styler HTML, Markdown, images) as ``display_data``;
- the value of a cell's last expression as ``execute_result``;
- matplotlib figures through the inline backend (``image/png``), as in a kernel;
- ``print`` and warnings as ``stream`` outputs (``stdout`` / ``stderr``);
- an exception as an ``error`` output with its traceback, after which no cell runs.

papermill still parameterizes, times and saves the notebook, and raises
``PapermillExecutionError`` on a failed cell (``engine_name="cxanalysis"``). In JupyterLab the
same notebooks run in an ordinary kernel; the test suite runs them both ways.
"""

from __future__ import annotations

import base64
import io
import sys
from typing import Any

from papermill.engines import Engine, papermill_engines

ENGINE_NAME = "cxanalysis"

#: Outputs whose data are bytes in IPython and base64 text in a notebook.
_BINARY = ("image/png", "image/jpeg", "application/pdf")


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for mime, value in (data or {}).items():
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii") if mime in _BINARY else value.decode("utf-8", "replace")
        out[mime] = value
    return out


class _Stream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` during a cell: each write becomes (part of) a stream output,
    in order with the cell's displays."""

    def __init__(self, name: str, sink: list[dict[str, Any]]):
        self.name, self.sink = name, sink

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        last = self.sink[-1] if self.sink else None
        if last is not None and last["output_type"] == "stream" and last["name"] == self.name:
            last["text"] += text
        else:
            self.sink.append({"output_type": "stream", "name": self.name, "text": text})
        return len(text)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False


def _shell():
    """This process's IPython shell, created once: inline matplotlib, no history file, outputs
    recorded into :data:`_SINK`."""
    global _SHELL
    if _SHELL is not None:
        return _SHELL
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            _SINK.append({"output_type": "display_data", "data": _jsonable(data), "metadata": metadata or {}})

        def clear_output(self, wait=False):
            _SINK.clear()

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            _SINK.append({"output_type": "execute_result", "data": _jsonable(format_dict),
                          "metadata": md_dict or {}, "execution_count": self.shell.execution_count})

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        def _showtraceback(self, etype, evalue, stb):
            _SINK.append({"output_type": "error", "ename": str(etype.__name__), "evalue": str(evalue),
                          "traceback": list(stb)})

        def enable_gui(self, gui=None):  # the inline backend needs no event loop
            pass

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "linux"  # ANSI colours in tracebacks, as a kernel sends them
    shell = Shell.instance(config=cfg)
    shell.display_pub = Publisher(shell=shell)
    shell.displayhook = Hook(shell=shell, cache_size=0)
    shell.display_trap.hook = shell.displayhook
    shell.enable_matplotlib("inline")
    # pandas sizes its text views to the terminal outside a notebook frontend (max_columns 0);
    # in a kernel they have the frontend's fixed 20 columns: the same text as a kernel's
    import pandas as pd

    pd.set_option("display.max_columns", 20)
    _SHELL = shell
    return shell


def _lighter_redraw(shell) -> None:
    """Replace pyplot's ``post_execute`` hook that redraws every open figure after each cell by
    :func:`_lay_out_open_figures` (pyplot installs its hook again when the backend is switched,
    so this runs before each cell)."""
    import matplotlib.pyplot as plt

    hook = getattr(plt, "_draw_all_if_interactive", None)
    callbacks = shell.events.callbacks.get("post_execute", [])
    if hook is not None and hook in callbacks:
        callbacks[callbacks.index(hook)] = _lay_out_open_figures


def _lay_out_open_figures() -> None:
    """What pyplot's redraw after a cell leaves behind, without painting a pixel.

    In interactive mode (the inline backend's) pyplot draws every open figure after a cell, for
    the windows a desktop backend would show; the inline backend's own hook then draws each
    again into its PNG and closes it. That first painting is never seen (about a third of a
    chart's time). What it leaves behind is the layout: a figure with a layout engine (tight or
    constrained) is laid out again at each drawing, and its PNG depends on how often. So such a
    figure is still drawn, without rendering; one with no layout engine is left alone (the house
    charts: :mod:`cxanalysis.plots` lays each out once when it is made). The PNGs are the bytes a
    kernel makes (tests/test_report.py compares them).
    """
    import matplotlib
    from matplotlib._pylab_helpers import Gcf
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    if not matplotlib.is_interactive():
        return
    for manager in Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        engine = fig.get_layout_engine()
        if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
            fig.draw_without_rendering()


_SHELL = None
_SINK: list[dict[str, Any]] = []


def run_cell(source: str) -> tuple[list[dict[str, Any]], int, bool]:
    """Run ``source`` in this process's shell; returns its outputs (nbformat dicts), its execution
    count and whether it succeeded."""
    shell = _shell()
    _lighter_redraw(shell)
    _SINK.clear()
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream("stdout", _SINK), _Stream("stderr", _SINK)
    try:
        result = shell.run_cell(source, store_history=True, silent=False)
    finally:
        sys.stdout, sys.stderr = out, err
    outputs = list(_SINK)
    _SINK.clear()
    ok = result.success and not any(o["output_type"] == "error" for o in outputs)
    return outputs, shell.execution_count - 1, ok


class InProcessEngine(Engine):
    """papermill engine running the cells in this process (:func:`run_cell`): no kernel."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        from nbformat import from_dict

        for index, cell in enumerate(nb_man.nb.cells):
            if cell.cell_type != "code":
                continue
            nb_man.cell_start(cell, index)
            outputs, count, ok = run_cell(cell.source)
            cell.execution_count = count
            cell.outputs = [from_dict(o) for o in outputs]
            if not ok:
                nb_man.cell_exception(cell, index)
                nb_man.cell_complete(cell, index)
                break
            nb_man.cell_complete(cell, index)


papermill_engines.register(ENGINE_NAME, InProcessEngine)
