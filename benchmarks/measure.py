"""Wall time and peak memory of a command and of its whole process tree.

A report's notebook workers are forked from a fork server the report starts
(:mod:`cxanalysis.workers`): they are its grandchildren, never waited for by the report, so
``getrusage(RUSAGE_CHILDREN)`` and ``wait4`` see only the report process itself. The tree is
therefore sampled (every 0.1 s, with psutil): the largest single process and the sum over the
tree (the report, its fork server and workers, for Spark its JVM).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of ``pid`` and its descendants: (sum, largest single process)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    sizes = []
    for p in procs:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def run_timed(cmd: list[str], log: Path | None = None, *, cwd: Path | None = None, interval: float = 0.1) -> dict:
    """Run ``cmd`` (stdout and stderr to ``log``, else captured into ``output``): wall seconds, exit
    code, the peak of the largest process (``wait4``'s for the command itself, sampled for its
    descendants) and of the tree's sum (sampled), and the load average before and after."""
    try:
        import psutil  # noqa: F401

        sample = True
    except ImportError:  # only the command's own peak is measured
        sample = False
    load0 = os.getloadavg()[0]
    peak = {"tree": 0, "one": 0}
    done = threading.Event()
    out = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, text=True)

    def poll():
        while not done.wait(interval):
            total, one = tree_rss(proc.pid)
            peak["tree"], peak["one"] = max(peak["tree"], total), max(peak["one"], one)

    thread = threading.Thread(target=poll, daemon=True)
    if sample:
        thread.start()
    output = proc.stdout.read() if log is None else None  # read while it runs: no full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    done.set()
    if sample:
        thread.join()
    if log is not None:
        out.close()
    gb = 1024**3
    return {"wall_s": round(wall, 2), "exit": proc.returncode,
            "peak_process_gb": round(max(usage.ru_maxrss * 1024, peak["one"]) / gb, 2),
            "peak_tree_gb": round(peak["tree"] / gb, 2) if sample else None,
            "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)], "output": output}
