"""The whole report on Spark (local mode) against the pandas engine, on one Parquet export.

    python benchmarks/spark_report.py --customers 1000000

Writes N customers (one quarter, :func:`cxanalysis.sample.make_customers`) as one Parquet file
with messy column names and a cx.yaml mapping them (``write_export`` of
``benchmarks/large_report.py``), then runs, each in a child process,
``python -m cxanalysis.cli report big.parquet --config cx.yaml --engine spark`` and the same with
``--engine pandas``. For each run it prints the wall time, the peak memory (the largest process,
sampled with its descendants; and the sum over the process tree -- the report, its fork server
and notebook workers, Spark's JVM -- sampled every 0.1 s; :mod:`benchmarks.measure`) and the load average; then checks that every page
was rendered without error, that ``run.engine`` is ``spark``, and the largest absolute and
relative difference of any number of any exact table (``_data/exact/``) from the pandas run's.
Exit status 1 when a report fails, a page is missing or a difference exceeds 1e-9 (absolute or
relative to the pandas figure, as ``numpy.allclose`` with both tolerances 1e-9).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from large_report import write_export  # noqa: E402
from measure import run_timed  # noqa: E402

from cxanalysis.engine import EXACT_TABLES  # noqa: E402

KEYS = {"nps_overall": [], "nps_quarter": ["quarter"], "nps_segments": ["quarter", "dimension", "segment"],
        "metrics": ["quarter", "metric"], "metrics_skipped": ["quarter", "metric"], "counts": ["quarter"]}
TOL = 1e-9


def compare_exact(got_dir: Path, want_dir: Path) -> dict:
    """Per table of :data:`EXACT_TABLES`: numbers compared, the largest absolute difference, the
    largest relative one (to the pandas figure, where it is not 0), and whether every number is
    within 1e-9 (``numpy.allclose``). Rows are matched on the table's keys; a missing or extra
    row, column, or a value missing on one side only, is a mismatch."""
    out = {}
    for t in EXACT_TABLES:
        got, want = pd.read_parquet(got_dir / f"{t}.parquet"), pd.read_parquet(want_dir / f"{t}.parquet")
        keys = KEYS[t]
        same_shape = sorted(got.columns) == sorted(want.columns) and len(got) == len(want)
        rec = {"numbers": 0, "max_abs": 0.0, "max_rel": 0.0, "ok": same_shape}
        if same_shape and keys:
            got = got.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
            want = want.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
            rec["ok"] = bool((got[keys] == want[keys]).all().all())
        if rec["ok"]:
            for c in want.columns:
                if c in keys:
                    continue
                b = pd.to_numeric(want[c], errors="coerce").to_numpy(float)
                if np.isnan(b).all() and want[c].notna().any():  # text: equal as text
                    rec["ok"] &= want[c].astype(str).tolist() == got[c].astype(str).tolist()
                    continue
                a = pd.to_numeric(got[c], errors="coerce").to_numpy(float)
                both = ~np.isnan(a) & ~np.isnan(b)
                rec["ok"] &= bool((np.isnan(a) == np.isnan(b)).all())
                rec["numbers"] += int(both.sum())
                if both.any():
                    d = np.abs(a[both] - b[both])
                    nz = b[both] != 0
                    rec["max_abs"] = max(rec["max_abs"], float(d.max()))
                    if nz.any():
                        rec["max_rel"] = max(rec["max_rel"], float((d[nz] / np.abs(b[both][nz])).max()))
                    rec["ok"] &= bool(np.allclose(a[both], b[both], rtol=TOL, atol=TOL))
        out[t] = rec
    return out


def check_pages(root: Path) -> tuple[dict, list[str]]:
    """results.json and the pages missing (each notebook's HTML and index.html)."""
    res = json.loads((root / "results.json").read_text())
    missing = [f"{nb}.html" for nb in res["run"]["notebooks"] if not (root / f"{nb}.html").is_file()]
    if not (root / "index.html").is_file():
        missing.append("index.html")
    return res, missing


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--out", help="write spark_report_<N>.json here (default: the working folder)")
    p.add_argument("--keep", help="write the export and both reports here (default a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cx-spark-bench-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_export(folder, args.customers, 1_000_000, args.seed)
        size = (folder / "big.parquet").stat().st_size / 1024**2
        print(f"wrote {args.customers:,} customers ({size:,.0f} MB Parquet) in {time.perf_counter() - t0:.1f} s",
              flush=True)
        runs, results, roots = {}, {}, {}
        for engine in ("spark", "pandas"):
            cmd = [sys.executable, "-m", "cxanalysis.cli", "report", str(folder / "big.parquet"),
                   "--config", str(folder / "cx.yaml"), "--out", str(folder / engine), "--engine", engine]
            runs[engine] = run_timed(cmd, folder / f"{engine}.log")
            log = (folder / f"{engine}.log").read_text()
            print(f"--- {engine}: {' '.join(cmd[2:])}\n{log[-3000:]}", flush=True)
            if runs[engine]["exit"] != 0:
                print(f"report with --engine {engine} FAILED (exit {runs[engine]['exit']})")
                return 1
            (roots[engine],) = [d for d in (folder / engine).iterdir() if d.is_dir()]
            results[engine], runs[engine]["missing_pages"] = check_pages(roots[engine])
            runs[engine]["pages"] = len(results[engine]["run"]["notebooks"]) - len(runs[engine]["missing_pages"])
            runs[engine]["errors"] = results[engine]["run"].get("errors", [])
        diff = compare_exact(roots["spark"] / "_data" / "exact", roots["pandas"] / "_data" / "exact")
        max_abs = max(r["max_abs"] for r in diff.values())
        max_rel = max(r["max_rel"] for r in diff.values())
        numbers = sum(r["numbers"] for r in diff.values())
        engine_ok = results["spark"]["run"]["engine"] == "spark"
        ok = (engine_ok and all(r["ok"] for r in diff.values())
              and not any(runs[e]["missing_pages"] or runs[e]["errors"] for e in runs))
        for engine, r in runs.items():
            print(f"{engine:6s}: wall {r['wall_s']:.1f} s, peak {r['peak_process_gb']:.2f} GB (largest process), "
                  f"{r['peak_tree_gb']} GB (process tree), load average {r['load_avg'][0]} -> {r['load_avg'][1]}, "
                  f"{r['pages']} pages, missing {r['missing_pages'] or 'none'}, errors {r['errors'] or 'none'}")
        print(f"run.engine {results['spark']['run']['engine']!r}; sample {results['spark']['run']['sample']}")
        for t, r in diff.items():
            print(f"  {t:16s} {r['numbers']:5d} numbers, max |diff| {r['max_abs']:.3g}, max relative {r['max_rel']:.3g}"
                  f"{'' if r['ok'] else '  MISMATCH'}")
        print(f"exact tables: {numbers:,} numbers, largest absolute difference {max_abs:.3g}, "
              f"largest relative difference {max_rel:.3g} -> {'OK' if ok else 'FAILED'} (tolerance {TOL:g})")
        summary = {"customers": args.customers, "runs": runs, "engine": results["spark"]["run"]["engine"],
                   "sample": results["spark"]["run"]["sample"], "tables": diff, "numbers": numbers,
                   "max_abs": max_abs, "max_rel": max_rel, "ok": ok,
                   "nps": {e: results[e]["nps"]["value"] for e in results}}
        print(json.dumps({k: summary[k] for k in ("customers", "max_abs", "max_rel", "ok")}))
        target = Path(args.out or ".") / f"spark_report_{args.customers}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
