"""Imported once by a report run's fork server (see :mod:`cxanalysis.workers`).

The workers are forked from that server, so they start with everything the notebooks import
already imported, and with what each process otherwise does once, on its first notebook, already
done: the HTML template compiled, the fonts loaded by a first drawn figure, pandas' table
template, the comment-language model. Done here once per run (about 3 s of CPU) while the parent
process loads the export, instead of once per worker on the run's critical path.
"""

import sys

# jsonschema (through nbformat) builds a grammar from rfc3987_syntax at import, about 2.6 s per
# process, for a URI format check no notebook schema uses
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbconvert  # noqa: E402, F401
import papermill  # noqa: E402, F401

from cxanalysis import inprocess, report  # noqa: E402, F401

exec(report.WARMUP)  # noqa: S102 - the fixed import line the notebooks need


def _warm_up() -> None:
    """What a worker's first notebook would otherwise pay for; a failure here only costs time."""
    import io

    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    import nbformat
    import pandas as pd

    from cxanalysis import narrative, plots, text

    with matplotlib.rc_context():
        plots.set_theme()
        fig, ax = plt.subplots()
        ax.bar(["a", "b"], [1, 2])
        ax.set_title("warm-up")
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close(fig)
    narrative.styled(pd.DataFrame({"a": ["x"], "share": [0.5]}), percent=("share",)).to_html()
    text._identifier()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# warm-up"),
                                         nbformat.v4.new_code_cell("1")])
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", {"text/html": "<p>x</p>"})]
    report.html_exporter(False).from_notebook_node(nb)  # the reader version (the analyst one is rare)


try:
    _warm_up()
except Exception:  # noqa: BLE001, S110 - the workers then do it themselves
    pass
