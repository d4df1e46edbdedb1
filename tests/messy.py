"""Hypothesis strategy for messy exports: tiny and huge groups, constant and all-missing columns,
0-10 and 1-5 scales, missing outcomes, weights (issue 12's property tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from cxanalysis.config import load_config

WORDS = ["late", "delivery", "parcel", "rude", "support", "agent", "great", "staff", "price", "refund", "app",
         "crash", "entrega", "atrasada", "ok", "👍"]


@st.composite
def messy_exports(draw, max_rows: int = 300):
    """(frame, config, scale): one quarter of a messy export and the config that reads it."""
    n = draw(st.sampled_from([0, 1, 2, 5, 29, 30, 49, 60, 120, max_rows]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    five = draw(st.booleans())
    lo, hi = (1, 5) if five else (0, 10)
    score_name = "csat" if five else "nps_score"
    shape = draw(st.sampled_from(["uniform", "all_promoters", "all_detractors", "no_passives", "constant"]))
    if shape == "uniform":
        score = rng.integers(lo, hi + 1, n).astype(float)
    elif shape == "all_promoters":
        score = np.full(n, float(hi))
    elif shape == "all_detractors":
        score = np.full(n, float(lo))
    elif shape == "no_passives":
        score = rng.choice([float(lo), float(hi)], n)
    else:
        score = np.full(n, float(lo + hi) // 2)
    missing = draw(st.sampled_from([0.0, 0.3, 1.0]))
    score[rng.random(n) < missing] = np.nan
    # a huge level, a mid one and a one-customer level
    plan = rng.choice(["Basic", "Plus"], n, p=[0.9, 0.1]).astype(object)
    if n:
        plan[0] = "Solo"
    df = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], score_name: score,
        "plan": pd.Categorical(plan), "region": pd.Categorical(["North"] * n),
        "spend": rng.gamma(2, 50, n) * draw(st.sampled_from([0.0, 1.0])),
        "churned": rng.binomial(1, draw(st.sampled_from([0.0, 0.2, 1.0])), n).astype(float),
        "orders": rng.poisson(3, n).astype(float), "visits_per_month": rng.poisson(2, n).astype(float),
        "tenure_months": np.full(n, np.nan) if draw(st.booleans()) else rng.integers(1, 60, n).astype(float),
        "support_tickets": np.zeros(n), "contract_value": rng.gamma(2, 500, n),
        "age": rng.integers(18, 80, n).astype(float),
    })
    df["returns"] = np.minimum(rng.poisson(0.5, n), df["orders"]).astype(float)
    for j in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["signal", "noise", "constant", "missing"]))
        col = {"signal": np.nan_to_num(score, nan=lo) + rng.normal(0, 1, n), "noise": rng.normal(3, 1, n),
               "constant": np.full(n, 3.0), "missing": np.full(n, np.nan)}[kind]
        df[f"driver_{j}"] = col
    n_words = rng.integers(0, 6, n)
    df["comment"] = [" ".join(rng.choice(WORDS, k)) for k in n_words]
    if draw(st.booleans()):
        df["weight"] = rng.uniform(0.2, 5, n)
    overrides = {"categories": {"score": score_name, "promoter_min": hi if five else 9,
                                "detractor_max": 3 if five else 6}}
    if five:
        overrides["scales"] = {"csat": [1, 5]}
    return df, load_config(overrides), score_name


def interval_contains(est, lo, hi) -> bool:
    """Every finite estimate lies within its interval (NaN limits allowed, never a wrong one)."""
    est, lo, hi = (np.asarray(v, float) for v in (est, lo, hi))
    ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    return bool(np.all(lo[ok] <= est[ok] + 1e-9) and np.all(est[ok] <= hi[ok] + 1e-9))
