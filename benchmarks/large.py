"""A 10M-customer Parquet export through DuckDB: validate, NPS, exact tables, segments, sample.

    python benchmarks/large.py --customers 10000000

The export is written in chunks of 1M customers (one Parquet file each), so generating it never
holds 10M rows in memory; :class:`cxanalysis.scale.LargeExport` then reads the folder's files
without loading them. Prints each stage's time and this process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cxanalysis.sample import make_customers  # noqa: E402
from cxanalysis.scale import LargeExport  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=10_000_000)
    p.add_argument("--chunk", type=int, default=1_000_000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = p.parse_args(argv)
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, args.customers, args.chunk)):
            part = make_customers(min(args.chunk, args.customers - start), 1, random_state=100 + i)
            part["customer_id"] = [f"P{i:03d}-{c}" for c in part["customer_id"]]  # unique across chunks
            part.to_parquet(Path(tmp) / f"part-{i:03d}.parquet", index=False)
            del part
        times["generate (chunked Parquet)"] = time.perf_counter() - t0
        print(f"generated {args.customers:,} customers in {times['generate (chunked Parquet)']:.1f} s "
              f"(peak {peak_mb():,.0f} MB)", flush=True)
        t0 = time.perf_counter()
        big = LargeExport(f"{tmp}/*.parquet")
        times["open"] = time.perf_counter() - t0
        for name, fn in [
            ("validate (all rules)", big.validate),
            ("NPS by quarter", lambda: big.nps(by=["quarter"])),
            ("exact tables (NPS x3, metrics, counts)", big.exact_tables),
            ("segment tables (plan, region, job_title)", lambda: big.segment_table(["plan", "region", "job_title"])),
            ("stratified sample (50k per stratum)", lambda: big.stratified_sample(50_000)),
        ]:
            t0 = time.perf_counter()
            out = fn()
            times[name] = time.perf_counter() - t0
            print(f"  {name:<42} {times[name]:7.2f} s   (peak {peak_mb():,.0f} MB)", flush=True)
            if name.startswith("validate"):
                assert out == [], out
        rows = big.n_rows
    result = {"customers": rows, "seconds": times, "peak_mb": peak_mb()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"large_{args.customers}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
