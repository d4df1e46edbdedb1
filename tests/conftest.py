"""Shared fixtures: small sample data, the real exports (skipped when absent), figure cleanup."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cxanalysis.config import load_config  # noqa: E402
from cxanalysis.sample import make_customers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
CONFIGS = Path(__file__).resolve().parent / "configs"
REAL_EXPORTS = {
    "telco": (REAL / "telco_ibm_cx.csv", CONFIGS / "telco_ibm_cx.yaml"),
    "ecommerce": (REAL / "ecommerce_churn_satisfaction.csv", CONFIGS / "ecommerce_churn_satisfaction.yaml"),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def sample_frame():
    """2,000 customers x 2 quarters from the generator (known truth)."""
    return make_customers(2000, 2, random_state=11)


@pytest.fixture(scope="session")
def config():
    return load_config()


def real_export(name: str):
    """(data path, config path) of a real export, or skip when ../shared/data/real is absent."""
    data, cfg = REAL_EXPORTS[name]
    if not data.is_file():
        pytest.skip(f"real export {data} is not available (../shared/data/real absent)")
    return data, cfg


@pytest.fixture(scope="session")
def sample_report(tmp_path_factory):
    """One full report of 1,500 customers x 2 quarters, run once per session (test_report,
    test_pages)."""
    from cxanalysis.report import run_report

    tmp = tmp_path_factory.mktemp("run")
    make_customers(1500, 2, random_state=21).to_csv(tmp / "customers.csv", index=False)
    return run_report(tmp / "customers.csv", out=tmp / "reports", progress=lambda m: None)


@pytest.fixture(autouse=True)
def _builtin_labels():
    """Each test starts and ends with the built-in column names: a run with cx.yaml ``labels``
    sets them for its process (:func:`cxanalysis.fmt.use_labels`)."""
    from cxanalysis.fmt import use_labels

    use_labels(None)
    yield
    use_labels(None)
