"""Generated exports with the shapes of real exports that broke the first version.

Nothing here is copied from a real file: each generator reproduces the *shape* that mattered
(column names, scales, separation, tiny groups, partial quarters, encodings), so the tests can
say exactly which failure class they guard.

* :func:`bank_churn_like` — a retail bank's churn file: one quarter, a 1-5 satisfaction score,
  ``Exited`` churn that a ``Complain`` flag nearly determines (near-separation through a
  covariate), account balances that are zero for about a third of customers but never zero in one
  country (the any-spend logistic part is separated by a covariate level), Yes/No flags.
* :func:`marketplace_like` — a marketplace's orders turned into one row per customer per quarter:
  1-5 review scores, Portuguese comments, 27 states of which several have one or two customers,
  quarters from 2017Q1 with a partial last quarter of four customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bank_churn_like", "BANK_CONFIG", "marketplace_like", "MARKETPLACE_CONFIG"]

BANK_CONFIG = {
    "columns": {"customer_id": "CustomerId", "csat": "Satisfaction Score", "churned": "Exited",
                "spend": "Balance", "plan": "Card Type", "region": "Geography", "tenure_months": "Tenure",
                "age": "Age"},
    "quarter": "2026Q3",
    "categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3},
    "covariates": ["plan", "region", "tenure_months", "Complain"],
    "segments": {"dimensions": ["plan", "region", "age"]},
}


def bank_churn_like(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A bank churn export (see module notes); CX has no effect on churn beyond complaints."""
    rng = np.random.default_rng(seed)
    geo = rng.choice(["France", "Spain", "Germany"], n, p=[0.5, 0.25, 0.25])
    balance = np.where(rng.random(n) < 0.5, 0.0, rng.normal(120_000, 30_000, n).clip(1_000))
    balance = np.where(geo == "Germany", rng.normal(119_000, 27_000, n).clip(500), balance)  # never zero
    complain = (rng.random(n) < 0.2).astype(int)
    exited = np.where(complain == 1, (rng.random(n) < 0.995).astype(int),
                      (rng.random(n) < 0.002).astype(int))
    return pd.DataFrame({
        "RowNumber": np.arange(1, n + 1),
        "CustomerId": 15_600_000 + np.arange(n),
        "Surname": rng.choice(["Hargrave", "Hill", "Onio", "Boni", "Mitchell"], n),
        "CreditScore": rng.integers(350, 851, n),
        "Geography": geo,
        "Gender": rng.choice(["Female", "Male"], n),
        "Age": rng.integers(18, 93, n),
        "Tenure": rng.integers(0, 11, n),
        "Balance": np.round(balance, 2),
        "NumOfProducts": rng.integers(1, 5, n),
        "HasCrCard": rng.choice(["Yes", "No"], n),
        "IsActiveMember": rng.integers(0, 2, n),
        "EstimatedSalary": np.round(rng.uniform(11, 200_000, n), 2),
        "Exited": exited,
        "Complain": complain,
        "Satisfaction Score": rng.integers(1, 6, n),
        "Card Type": rng.choice(["DIAMOND", "GOLD", "SILVER", "PLATINUM"], n),
        "Point Earned": rng.integers(119, 1001, n),
    })


STATES = ["SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF", "ES", "GO", "PE", "CE", "PA", "MT", "MA",
          "MS", "PB", "PI", "RN", "AL", "SE", "TO", "RO", "AM", "AC", "AP", "RR"]
_PT = {
    "atraso": ["produto não foi entregue", "entrega atrasada", "ainda não recebi o pedido", "atrasou muito"],
    "elogio": ["ótimo produto", "chegou antes do prazo", "recomendo", "muito bom, entregue no prazo"],
    "qualidade": ["produto com defeito", "veio quebrado", "qualidade ruim", "não é o que foi anunciado"],
}

MARKETPLACE_CONFIG = {
    "columns": {"customer_id": "customer_unique_id", "csat": "review_score", "spend": "payment_value",
                "orders": "n_orders", "region": "customer_state", "comment": "review_comment_message"},
    "categories": {"score": "csat", "promoter_min": 5, "detractor_max": 3},
    "covariates": ["region"],
    "segments": {"dimensions": ["region"]},
}


def marketplace_like(n_quarters: int = 6, per_quarter: int = 800, last: int = 4, seed: int = 0) -> pd.DataFrame:
    """A marketplace export, one row per customer per quarter (see module notes)."""
    rng = np.random.default_rng(seed)
    # state shares: a few big states, a long tail, the last three with one or two customers
    w = np.r_[np.geomspace(40, 0.3, len(STATES) - 3), [0.0, 0.0, 0.0]]
    w = w / w.sum()
    frames = []
    for k in range(n_quarters):
        size = per_quarter if k < n_quarters - 1 else last
        year, q = 2017 + (k // 4), k % 4 + 1
        state = rng.choice(STATES, size, p=w)
        if k == 0:
            state[:3] = STATES[-3:]  # three one-customer states
        score = rng.choice([1, 2, 3, 4, 5], size, p=[0.12, 0.03, 0.08, 0.19, 0.58])
        topic = np.where(score <= 2, "atraso", np.where(score == 5, "elogio", "qualidade"))
        comment = [(_PT[t][rng.integers(4)] if rng.random() < 0.4 else None) for t in topic]
        pay = rng.gamma(2.0, 80.0, size) * np.where(score == 5, 1.1, 1.0)
        frames.append(pd.DataFrame({
            "customer_unique_id": [f"u{k:02d}{i:05d}" for i in range(size)],
            "order_purchase_timestamp": pd.Timestamp(year, 3 * q - 2, 1) + pd.to_timedelta(rng.integers(0, 85, size), "D"),
            "customer_state": state, "review_score": score, "review_comment_message": comment,
            "payment_value": np.round(pay, 2), "n_orders": 1 + rng.poisson(0.05, size),
        }))
    out = pd.concat(frames, ignore_index=True)
    out["quarter"] = out["order_purchase_timestamp"].dt.to_period("Q").astype(str)
    return out
