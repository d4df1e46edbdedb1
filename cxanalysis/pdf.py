"""``cxanalysis report --pdf``: the summary and every page in one ``report.pdf``.

Each HTML page is printed by headless Chromium (Debian's ``chromium``; the pages' print CSS
keeps every table column on A4 and opens nothing that needs a network), and the pages are
joined in reading order with :mod:`pypdf`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PdfError", "chromium", "write_pdf"]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--no-pdf-header-footer",
                  "--run-all-compositor-stages-before-draw"]


class PdfError(RuntimeError):
    """The PDF could not be written (no Chromium, or it failed); the message says what to do."""


def chromium() -> str:
    """The Chromium executable, or :class:`PdfError` naming how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        raise PdfError("--pdf needs Chromium to print the pages: install it (Debian/Ubuntu: "
                       "apt-get install chromium) and run the report again.")
    return path


def _print(page: Path, out: Path, browser: str, timeout: float) -> None:
    cmd = [browser, *CHROMIUM_FLAGS, f"--print-to-pdf={out}", page.resolve().as_uri()]
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run([*cmd, f"--user-data-dir={profile}"], capture_output=True, text=True, timeout=timeout)
    if not out.is_file() or out.stat().st_size == 0:
        raise PdfError(f"Chromium could not print {page.name} (exit {run.returncode}): "
                       f"{run.stderr.strip().splitlines()[-1] if run.stderr.strip() else 'no message'}")


def write_pdf(root: Path, pages: list[str], *, out: Path | None = None, timeout: float = 120) -> Path:
    """Print ``index.html`` and ``<page>.html`` for each of ``pages`` into ``root/report.pdf``.

    Returns the PDF's path; raises :class:`PdfError` when Chromium is missing or fails.
    """
    try:
        from pypdf import PdfWriter
    except ImportError:
        raise PdfError('--pdf needs pypdf: pip install "cxanalysis[report]"') from None
    browser = chromium()
    root = Path(root)
    out = Path(out) if out else root / "report.pdf"
    htmls = [root / "index.html", *(root / f"{p}.html" for p in pages)]
    writer = PdfWriter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, page in enumerate(h for h in htmls if h.is_file()):
            part = Path(tmp) / f"{i:02d}.pdf"
            _print(page, part, browser, timeout)
            writer.append(str(part))
        with open(out, "wb") as fh:
            writer.write(fh)
    return out
