"""Imported once by a report run's fork server (see :func:`cxanalysis.report.worker_pool`).

The workers are forked from that server, so they start with everything the notebooks import
already imported: once per run (about 2 s of CPU) instead of once per worker, while the parent
process loads the export.
"""

import sys

# jsonschema (through nbformat) builds a grammar from rfc3987_syntax at import, about 2.6 s per
# process, for a URI format check no notebook schema uses
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbconvert  # noqa: E402, F401
import papermill  # noqa: E402, F401

from cxanalysis import inprocess, report  # noqa: E402

exec(report.WARMUP)  # noqa: S102 - the fixed import line the worker shells need
