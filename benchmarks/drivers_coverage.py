"""Coverage of the key-driver intervals at 1M customers (m-out-of-n bootstrap).

    python benchmarks/drivers_coverage.py --customers 1000000 --reps 100

Simulates customers with three independent standard-normal touchpoint items and a score
``y = 1.0 a + 0.5 b + 0 null + 2 e``, so the true Shapley importances are known in closed form
(independent drivers: ``b_j^2 / (sum b^2 + sigma^2)``, i.e. 0.190, 0.048 and 0). Each replication
fits :class:`cxanalysis.drivers.KeyDrivers` with the default ``max_boot_rows`` (50,000 rows per
resample) and records whether each interval covers the truth, whether it contains its estimate,
and the null driver's lower limit. From the same resamples it also forms the earlier interval
(whole deviation scaled by ``sqrt(m/n)``), to show what the fix changes. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cxanalysis.drivers import KeyDrivers  # noqa: E402
from cxanalysis.metrics import contain  # noqa: E402

COEF = np.array([1.0, 0.5, 0.0])
SIGMA = 2.0
NAMES = ["driver_a", "driver_b", "driver_null"]
TRUTH = COEF**2 / (COEF @ COEF + SIGMA**2)


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ COEF + SIGMA * rng.normal(size=n)
    return pd.DataFrame({**{c: x[:, j] for j, c in enumerate(NAMES)}, "nps_score": y})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--max-boot-rows", type=int, default=50_000)
    args = p.parse_args(argv)
    n = args.customers
    covered = np.zeros(3)
    covered_old = np.zeros(3)
    contains = np.zeros(3)
    contains_old = np.zeros(3)
    null_low, null_high, null_est = [], [], []
    t0 = time.perf_counter()
    for r in range(args.reps):
        kd = KeyDrivers(n_boot=args.n_boot, max_boot_rows=args.max_boot_rows, random_state=r).fit(simulate(n, 10_000 + r))
        t = kd.importance_.set_index("driver").loc[NAMES]
        lo, hi, est = t["ci_low"].to_numpy(), t["ci_high"].to_numpy(), t["importance"].to_numpy()
        covered += (lo <= TRUTH) & (TRUTH <= hi)
        contains += (lo <= est) & (est <= hi)
        # the earlier rescaling, from the same resamples (drivers in input order)
        m = kd.boot_rows_
        res = kd.resamples_[:, :3]
        old = est + np.sqrt(m / n) * (res - est)
        olo, ohi = np.percentile(old, [2.5, 97.5], axis=0)
        contains_old += (olo <= est) & (est <= ohi)
        olo, ohi = contain(est, olo, ohi)  # as the earlier code reported them (widened to the estimate)
        covered_old += (olo <= TRUTH) & (TRUTH <= ohi)
        null_low.append(lo[2])
        null_high.append(hi[2])
        null_est.append(est[2])
        print(f"rep {r + 1}/{args.reps}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    reps = args.reps
    out = {
        "customers": n, "replications": reps, "n_boot": args.n_boot, "rows_per_resample": min(n, args.max_boot_rows),
        "truth": dict(zip(NAMES, TRUTH.round(6).tolist(), strict=True)),
        "coverage": dict(zip(NAMES, (covered / reps).tolist(), strict=True)),
        "interval_contains_estimate": dict(zip(NAMES, (contains / reps).tolist(), strict=True)),
        "null_driver": {"estimate_median": float(np.median(null_est)), "ci_low_median": float(np.median(null_low)),
                        "ci_low_max": float(np.max(null_low)), "ci_high_median": float(np.median(null_high)),
                        "share_ci_low_zero": float(np.mean(np.asarray(null_low) == 0))},
        "earlier_sqrt_rescaling": {
            "coverage_after_widening": dict(zip(NAMES, (covered_old / reps).tolist(), strict=True)),
            "raw_interval_contains_estimate": dict(zip(NAMES, (contains_old / reps).tolist(), strict=True)),
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
