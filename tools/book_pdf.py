"""The whole book as one PDF, offline: the single-page HTML build printed by headless Chromium once MathJax is done.

``make pdf`` builds ``_build/singlehtml`` (``jupyter-book build --builder singlehtml``, notebooks from the execution
cache that ``make book`` filled) and runs this script, which serves it on 127.0.0.1, waits for MathJax to typeset
every formula and prints the page to ``_build/pdf/book.pdf`` (A4). No LaTeX is needed (none is installed on our
machines); Chromium is Debian's (``/usr/bin/chromium`` or ``$XF_CHROMIUM``), driven by Playwright.

Usage: ``python tools/book_pdf.py [SINGLEHTML_DIR] [OUT_PDF]``
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Site(SimpleHTTPRequestHandler):
    """Serves the single page; its assets are linked relative to the site root (``_static/``, ``_images/``) while
    the page itself sits in ``book/``, so a missing ``book/...`` file is looked up at the root."""

    def translate_path(self, path):
        local = super().translate_path(path)
        if not os.path.exists(local) and path.startswith("/book/"):
            return super().translate_path(path[len("/book") :])
        return local

    def log_message(self, format, *args):
        pass


def main(site: Path, out: Path) -> int:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("XF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not (site / "book" / "intro.html").is_file():
        print(f"no single-page build in {site}: run `make pdf`", file=sys.stderr)
        return 2
    if not Path(chromium).is_file():
        print(f"no Chromium at {chromium} (apt-get install chromium, or set XF_CHROMIUM)", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            url = f"http://127.0.0.1:{server.server_address[1]}/book/intro.html"
            page.goto(url, wait_until="load", timeout=300_000)
            ready = "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
            page.wait_for_function(ready, timeout=120_000)
            page.evaluate("async () => { await MathJax.startup.promise; await document.fonts.ready; }")
            untypeset = page.evaluate(
                "() => [...document.querySelectorAll('span.math, div.math')]"
                ".filter((e) => !e.querySelector('mjx-container')).length"
            )
            if untypeset:
                print(f"warning: {untypeset} formulas not typeset", file=sys.stderr)
            page.emulate_media(media="print")
            page.pdf(
                path=str(out),
                format="A4",
                print_background=True,
                margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
            )
            browser.close()
    finally:
        server.shutdown()
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    site = Path(args[0]) if args else ROOT / "_build" / "singlehtml"
    out = Path(args[1]) if len(args) > 1 else ROOT / "_build" / "pdf" / "book.pdf"
    sys.exit(main(site.resolve(), out.resolve()))
