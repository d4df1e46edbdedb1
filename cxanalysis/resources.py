"""What the installation provides: the report's notebooks, the bundled sample, the extras.

A source checkout (and an editable install of one) reads the top-level ``notebooks/`` and
``data/sample/`` folders. A wheel cannot hold folders outside the package, so the build
(``setup.py``) copies them into the package: ``cxanalysis/_notebooks/NN-topic.ipynb`` and
``cxanalysis/_data/sample/customers.csv``. The functions here return whichever applies.
:func:`require_extra` turns a missing optional dependency group into a one-line install hint.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .config import ConfigError

__all__ = ["project_root", "notebooks_dir", "sample_data_path", "resolve_input", "InstallError",
           "require_extra"]

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


class InstallError(ConfigError):
    """The installation lacks what a command needs (an extra, the packaged notebooks).

    A :class:`~cxanalysis.config.ConfigError`, so the command line reports it in one line and
    exits 2, like any other problem the user fixes on their side.
    """


def require_extra(extra: str, modules: tuple[str, ...], command: str) -> None:
    """Raise :class:`InstallError` with the install hint when any of ``modules`` is missing.

    Checked with :func:`importlib.util.find_spec`, which imports nothing, so it is cheap enough
    to run before any work starts.

    Parameters
    ----------
    extra : str
        The optional dependency group of ``pyproject.toml``, e.g. ``"report"`` or ``"io"``.
    modules : tuple of str
        Top-level modules the command imports from that group.
    command : str
        What needs them, as the user knows it, e.g. ``"cxanalysis report"``.

    Examples
    --------
    >>> require_extra("report", ("papermill", "nbconvert"), "cxanalysis report")
    """
    def found(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module without spec
            return False

    if not all(found(m) for m in modules):
        raise InstallError(f'{command} needs the {extra} extra: pip install "cxanalysis[{extra}]"')
