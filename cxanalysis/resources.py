"""Where the report's notebooks and the bundled sample are, in a source checkout and installed.

A source checkout (and an editable install of one) reads the top-level ``notebooks/`` and
``data/sample/`` folders. A wheel cannot hold folders outside the package, so the build
(``setup.py``) copies them into the package: ``cxanalysis/_notebooks/NN-topic.ipynb`` and
``cxanalysis/_data/sample/customers.csv``. The functions here return whichever applies.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["project_root", "notebooks_dir", "sample_data_path", "resolve_input"]

PACKAGE = Path(__file__).resolve().parent
PACKAGED_NOTEBOOKS = PACKAGE / "_notebooks"
PACKAGED_SAMPLE = PACKAGE / "_data" / "sample" / "customers.csv"
SAMPLE_IN_SOURCE = Path("data", "sample", "customers.csv")


def project_root() -> Path | None:
    """The source checkout this package is imported from, or None when it is installed.

    A checkout is recognised by ``pyproject.toml`` and ``notebooks/`` next to the package.
    """
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def notebooks_dir() -> Path:
    """The folder of the report's ``NN-topic.ipynb`` notebooks.

    The checkout's ``notebooks/`` when running from source, else the copy packed in the wheel.
    """
    root = project_root()
    return root / "notebooks" if root is not None else PACKAGED_NOTEBOOKS


def sample_data_path() -> Path:
    """The bundled sample export (5,000 customers x 4 quarters, see ``data/README.md``)."""
    root = project_root()
    if root is not None and (root / SAMPLE_IN_SOURCE).is_file():
        return root / SAMPLE_IN_SOURCE
    return PACKAGED_SAMPLE


def resolve_input(path: str | Path | None) -> str:
    """A notebook's ``data_path`` / ``config_path`` made independent of the working directory.

    ``None`` means the bundled sample. A relative path that does not exist from the working
    directory but does from the checkout's root (``data/2026Q3/export.csv`` typed in a kernel
    started in ``notebooks/``) is taken from the root. Anything else (absolute paths, paths that
    exist, database URLs, paths that exist nowhere) is returned unchanged, so that the loader's
    own message names what was typed.
    """
    if path is None:
        return str(sample_data_path())
    text = str(path)
    if "://" in text:
        return text
    candidate = Path(text).expanduser()
    root = project_root()
    if candidate.is_absolute() or candidate.exists() or root is None:
        return str(candidate)
    from_root = root / candidate
    return str(from_root) if from_root.exists() else str(candidate)
