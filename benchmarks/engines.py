"""The exact tables on every engine, timed and compared, on one synthetic Parquet export.

    python benchmarks/engines.py --customers 1000000 [--spark]

Writes ``--customers`` synthetic customers (one quarter, survey weights) to Parquet, computes
every exact table (:data:`cxanalysis.engine.EXACT_TABLES`) with the pandas engine (read into
memory first; the reference), DuckDB (out of core from the file) and, with ``--spark``, Spark in
local mode, and prints each engine's seconds and the largest difference from pandas, relative to
the figure's size (``|a - b| / max(1, |b|)``) over every number of every table.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from cxanalysis.config import load_config  # noqa: E402
from cxanalysis.engine import EXACT_TABLES, DuckDBEngine, PandasEngine  # noqa: E402
from cxanalysis.sample import make_customers  # noqa: E402

KEYS = {"nps_overall": [], "nps_quarter": ["quarter"], "nps_segments": ["quarter", "dimension", "segment"],
        "metrics": ["quarter", "metric"], "metrics_skipped": ["quarter", "metric"], "counts": ["quarter"]}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def max_difference(got: dict, want: dict) -> float:
    """Largest ``|a - b| / max(1, |b|)`` over the numbers of every table (rows matched on keys)."""
    worst = 0.0
    for name in EXACT_TABLES:
        keys = KEYS[name]
        a, b = got[name], want[name]
        if len(a) != len(b):
            raise AssertionError(f"{name}: {len(a)} rows, pandas has {len(b)}")
        if keys:
            a = a.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
            b = b.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
        for c in b.columns:
            if c in keys or not pd.api.types.is_numeric_dtype(b[c]):
                continue
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                raise AssertionError(f"{name}.{c}: missing in one engine only")
            ok = ~np.isnan(y)
            if ok.any():
                worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(1.0, np.abs(y[ok])))))
    return worst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--spark", action="store_true", help="also Spark in local mode (pyspark, Java 17)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = p.parse_args(argv)
    cfg = load_config()
    result = {"customers": args.customers, "seconds": {}, "max_difference_vs_pandas": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.parquet"
        df = make_customers(args.customers, 1, random_state=5)
        df["weight"] = np.random.default_rng(5).lognormal(0, 0.5, len(df))
        df.to_parquet(path, index=False)
        del df
        t0 = time.perf_counter()
        ref = PandasEngine(pd.read_parquet(path), cfg).exact_tables()
        result["seconds"]["pandas (read + tables)"] = time.perf_counter() - t0
        engines = [("duckdb", lambda: DuckDBEngine(str(path), cfg))]
        if args.spark:
            from cxanalysis.engine.spark import SparkEngine, spark_session

            t0 = time.perf_counter()
            spark_session().sparkContext.setLogLevel("ERROR")
            result["seconds"]["spark session start"] = time.perf_counter() - t0
            engines.append(("spark", lambda: SparkEngine(str(path), cfg)))
        for name, make in engines:
            t0 = time.perf_counter()
            with make() as eng:
                tables = eng.exact_tables()
            result["seconds"][name] = time.perf_counter() - t0
            result["max_difference_vs_pandas"][name] = max_difference(tables, ref)
            print(f"{name:<8} {result['seconds'][name]:7.2f} s, largest difference from pandas "
                  f"{result['max_difference_vs_pandas'][name]:.1e}", flush=True)
    result["peak_mb"] = peak_mb()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"engines_{args.customers}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
