"""Where a report's worker processes come from: a fork server that imports once.

The workers are forked from a server process that has imported, and warmed up, what the notebooks
need (:mod:`cxanalysis._preload`), instead of each worker importing it again. The command line
starts that server first thing (:func:`start_server`), so its imports run while the parent reads
the export. This module imports nothing heavy. Where fork servers do not exist (Windows), the
workers are spawned and import it themselves.
"""

from __future__ import annotations

import multiprocessing

PRELOAD = "cxanalysis._preload"


def context():
    """The multiprocessing context of the report's workers."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([PRELOAD])
        return ctx
    return multiprocessing.get_context("spawn")


def start_server() -> None:
    """Start the fork server now; it imports in the background (never waited for here)."""
    if context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
