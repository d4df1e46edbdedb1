"""Open rendered report pages in headless Chromium (Playwright) and collect what a reader would
hit: console errors, page errors, failed requests, images that did not load, broken links."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """The system Chromium, or skip (the browser tests need Debian's chromium package)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return path


def check_pages(pages: list[Path], screenshots: Path) -> dict[str, list[str]]:
    """Problems per page (empty lists when clean); a full-page screenshot of each is saved."""
    from playwright.sync_api import sync_playwright

    screenshots.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for page_path in pages:
            found: list[str] = []
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m, found=found: found.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e, found=found: found.append(f"page error: {e}"))
            page.on("requestfailed", lambda r, found=found: found.append(f"request failed: {r.url}"))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            broken_images = page.evaluate(
                "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length")
            if broken_images:
                found.append(f"{broken_images} image(s) did not load")
            hrefs = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
            for href in hrefs:
                if href.startswith("#") or href.startswith(("http://", "https://", "mailto:")):
                    continue
                target = (page_path.parent / href.split("#")[0]).resolve()
                if not target.is_file():
                    found.append(f"broken link: {href}")
            page.screenshot(path=str(screenshots / f"{page_path.stem}.png"), full_page=True)
            page.close()
            problems[page_path.name] = found
        browser.close()
    return problems
