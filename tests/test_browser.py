"""The built book read as a browser reads it: every page of ``_build/html`` in headless Chromium.

A ``-W`` build cannot see what a reader sees: math that MathJax never typeset, a script error, an image that does not
load, a link into nowhere. For every page this test asserts that it loads with no console error, no page error and no
failed request; that it asks nothing of any host but the local server (the book must read offline); that its math is
typeset (no raw ``$``, ``\\(`` or ``\\[`` in the visible text, no MathJax error box, no display equation wider than the
text column at 1280 px, which MathJax 3 cannot break by itself); that no table is wider than the text column; that
every image loads; and that every internal link and ``#anchor`` resolves. The search page must find a chapter 3
term. Screenshots of chapter 1 (light and dark) and chapter 4's derivation go to ``_build/screenshots/``.

It uses the already-built ``_build/html`` (``make test`` runs ``make book-check`` first) and builds it with
``make book-check`` when it is missing; ``XF_BOOK_HTML`` points it at another build. Chromium is Debian's
(``/usr/bin/chromium``, or ``XF_CHROMIUM``), driven by Playwright without any browser download. Without Chromium the
test skips, unless ``CI`` is set: then it fails, since ``.ci/run`` installs Chromium.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

from conftest import figure_alt_problem  # the one rule for a figure's alt text, shared with nbval

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("XF_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("XF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BASEURL = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
SEARCH_TERM, SEARCH_PAGE = "Hopfield", "book/ch03-energy.html"
RAW_MATH = ("$", "\\(", "\\)", "\\[", "\\]")
# The first line of every notebook's Colab/pip setup cell: the notebook keeps it, the page hides it (remove-input).
SETUP_MARK = "# Setup (safe to re-run)"
# XF_BOOK_EXECUTED=1: the book was built with its notebooks executed (make book; the Pages workflow), so its notebook
# pages must show their figures, each with the alt text that names its axes. make test's build is not executed.
EXECUTED = os.environ.get("XF_BOOK_EXECUTED", "") == "1"

# What the page reports once its scripts have run and MathJax has typeset it.
INSPECT = """async () => {
  const SETUP_MARK = __SETUP__;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 10000);
  })));
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll("pre, code, kbd, samp, script, style, noscript, textarea, template, mjx-container, "
    + ".highlight").forEach((e) => e.remove());
  const math = [...document.querySelectorAll("span.math, div.math")];
  const wide = [...document.querySelectorAll('mjx-container[display="true"]')].filter((c) => {
    const box = c.querySelector("mjx-math").getBoundingClientRect();
    return box.width > c.clientWidth + 1;
  });
  const clipped = [...document.querySelectorAll("td mjx-container, th mjx-container")].filter((c) => {
    const cell = c.closest("td, th").getBoundingClientRect();
    const box = c.getBoundingClientRect();
    return box.right > cell.right + 1 || box.left < cell.left - 1;
  });
  const wideTables = [...document.querySelectorAll("article table:not(.dataframe)")].filter((t) => {
    const frame = t.closest(".pst-scrollable-table-container") || t.parentElement;
    return t.getBoundingClientRect().width > frame.clientWidth + 1;
  });
  return {
    math: math.length,
    wideTables: wideTables.map((t) => t.textContent.trim().replace(/\\s+/g, " ").slice(0, 80)),
    untypeset: math.filter((e) => !e.querySelector("mjx-container")).map((e) => e.textContent.slice(0, 80)),
    mathErrors: [...document.querySelectorAll("mjx-merror")]
      .map((e) => e.getAttribute("data-mjx-error") || e.textContent),
    tooWide: wide.map((c) => c.closest(".math").textContent.trim().slice(0, 80)),
    clippedMath: clipped.map((c) => (c.closest(".math") || c).textContent.trim().slice(0, 80)),
    prose: prose.textContent,
    brokenImages: images.filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.currentSrc || img.src),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    setupShown: [...document.querySelectorAll("pre")].filter((e) => e.offsetParent !== null
      && e.textContent.includes(SETUP_MARK)).length,
    wideCode: [...document.querySelectorAll("article pre")]
      .filter((e) => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
      .map((e) => e.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 80)),
    figures: [...document.querySelectorAll("article .cell_output img")].map((img) => img.getAttribute("alt") || ""),
  };
}"""
INSPECT = INSPECT.replace("__SETUP__", json.dumps(SETUP_MARK))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def _missing(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; with CI set the browser test must run (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site():
    """The built book served on 127.0.0.1 from a thread: yields its base URL."""
    if not (HTML / "index.html").is_file():
        if "XF_BOOK_HTML" in os.environ:
            pytest.fail(f"XF_BOOK_HTML={HTML} holds no built book")
        subprocess.run(["make", "book-check"], cwd=ROOT, check=True, timeout=900)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).is_file():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Reader:
    """One browser tab that records, per page, console errors, page errors, failed and off-site requests."""

    def __init__(self, browser, site: str, color_scheme: str = "light"):
        self.site = site
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=color_scheme)
        # A fresh profile each time (nothing in localStorage): what a first visit sees, console errors included. The
        # theme follows the emulated system setting (default_mode auto, set by book/_ext/xfbook).
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self._failed(r))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        self.problems: list[str] = []

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.site) or urlsplit(url).scheme in ("data", "blob", "about"):
            route.continue_()
        else:
            self.problems.append(f"asked another host for {url}")
            route.abort()

    def _failed(self, request):
        if request.url.startswith(self.site):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def open(self, path: str) -> list[str]:
        """Load a page (following a meta-refresh redirect, like index.html's) and return its problem list."""
        self.problems = []
        redirect = re.search(
            r'http-equiv="Refresh" content="\d+;\s*url=([^"]+)"', (HTML / path.split("?")[0]).read_text(), re.I
        )
        response = self.page.goto(self.site + path, wait_until="load", timeout=60_000)
        if response is None or not response.ok:
            self.problems.append(f"did not load: {response and response.status}")
        if redirect:
            target = urljoin(self.site + path, redirect.group(1))
            self.page.wait_for_url(target, wait_until="load", timeout=60_000)
        return self.problems

    def settle(self):
        """Wait for the page's fonts (MathJax fetches its fonts after typesetting) and open requests, so that the
        next page's navigation does not abort them and blame the abort on itself."""
        self.page.evaluate("document.fonts.ready.then(() => true)")
        self.page.wait_for_load_state("networkidle", timeout=60_000)

    def close(self):
        self.context.close()


def html_pages() -> list[str]:
    skip = ("_static/", "_sources/", "_images/")
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if not p.relative_to(HTML).as_posix().startswith(skip)
    )


def check_links(site: str, page: str, links: list[str]) -> list[str]:
    problems = []
    for href in links:
        if href.startswith(BASEURL):
            problems.append(f"link to the published book left absolute: {href}")
        if not href.startswith(site):
            continue
        parts = urlsplit(href)
        rel = unquote(parts.path[len(urlsplit(site).path) :])
        target = HTML / (rel or "index.html")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link to a missing file: {href}")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_in(target):
            problems.append(f"link to a missing anchor: {href}")
    return problems


def test_every_page_reads_right(site, chromium):
    started = time.perf_counter()
    reader = Reader(chromium, site)
    failures: dict[str, list[str]] = {}
    pages = html_pages()
    assert len(pages) >= 10, f"only {len(pages)} pages in {HTML}"
    math_pages = figures = 0
    try:
        for path in pages:
            problems = reader.open(path)
            seen = reader.page.evaluate(INSPECT)
            reader.settle()
            math_pages += seen["math"] > 0
            problems += [f"math not typeset: {m!r}" for m in seen["untypeset"]]
            problems += [f"MathJax error: {m}" for m in seen["mathErrors"]]
            problems += [
                f"display math wider than the text column (break it with aligned): {m!r}" for m in seen["tooWide"]
            ]
            for raw in RAW_MATH:
                at = seen["prose"].find(raw)
                if at >= 0:
                    problems.append(
                        f"raw {raw!r} in the visible text: ...{seen['prose'][max(0, at - 60) : at + 60]!r}..."
                    )
            problems += [f"table wider than the text column: {t!r}" for t in seen["wideTables"]]
            problems += [f"math wider than its table cell (the next cell hides it): {m!r}" for m in seen["clippedMath"]]
            problems += [f"image did not load: {src}" for src in seen["brokenImages"]]
            problems += check_links(site, path, seen["links"])
            if re.fullmatch(r"book/ch\d\d-[\w-]+\.html", path) and not any(
                re.search(r"/exercises/ch\d\d-[\w-]+\.ipynb$", link) for link in seen["links"]
            ):
                problems.append("a chapter page without a link to its exercise notebook")
            if seen["setupShown"]:
                problems.append("the notebook's setup cell is visible (tag it remove-input)")
            problems += [f"code block wider than the text column: {line!r}" for line in seen["wideCode"]]
            problems += [p for p in map(figure_alt_problem, seen["figures"]) if p]
            figures += len(seen["figures"])
            if problems:
                failures[path] = sorted(set(problems))
    finally:
        reader.close()
    report = "\n".join(f"{page}:\n  " + "\n  ".join(p) for page, p in failures.items())
    assert not failures, f"{len(failures)} of {len(pages)} pages read wrong:\n{report}"
    assert math_pages >= 4, f"only {math_pages} pages have math: is MathJax loading?"
    if EXECUTED:  # the published (executed) book: its notebook pages carry their figures
        assert figures >= 20, f"only {figures} figures on the notebook pages of an executed book"
    print(f"{len(pages)} pages read in {time.perf_counter() - started:.1f} s, {figures} figures")


def test_search_finds_a_chapter_3_term(site, chromium):
    reader = Reader(chromium, site)
    try:
        problems = reader.open(f"search.html?q={SEARCH_TERM}")
        hit = reader.page.wait_for_selector(f'ul.search li a[href*="{SEARCH_PAGE}"]', timeout=30_000)
        assert hit is not None, f"searching {SEARCH_TERM!r} did not list {SEARCH_PAGE}"
        assert not problems, problems
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("path", "scheme", "name"),
    [
        ("book/ch01-transformer.html", "light", "ch01-light.png"),
        ("book/ch01-transformer.html", "dark", "ch01-dark.png"),
        ("book/ch04-looped.html", "light", "ch04-looped.png"),
    ],
)
def test_screenshots(site, chromium, path, scheme, name):
    reader = Reader(chromium, site, color_scheme=scheme)
    try:
        problems = reader.open(path)
        seen = reader.page.evaluate(INSPECT)
        assert seen["math"] > 0 and not seen["untypeset"], f"{path}: math not typeset"
        theme = reader.page.evaluate("document.documentElement.dataset.theme")
        assert theme == scheme, f"{path} shows the {theme} theme, expected {scheme}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        reader.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        assert not problems, problems
    finally:
        reader.close()


def test_no_page_references_a_cdn():
    """The static check behind the browser's: no page names a script, style, font or image host of its own."""
    if not (HTML / "index.html").is_file():
        pytest.skip(f"no built book in {HTML}")
    cdn = re.compile(r"cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|mathjax\.org")
    resource = re.compile(
        r'<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc="(?:https?:)?//[^"]+"|'
        r'<link\b(?![^>]*rel="canonical")[^>]*\bhref="(?:https?:)?//[^"]+"'
    )
    found = {}
    for path in HTML.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        hits = cdn.findall(text) + resource.findall(text)
        if hits:
            found[path.relative_to(HTML).as_posix()] = sorted(set(hits))[:5]
    assert not found, f"pages that reference another host for their resources: {found}"


HEADERS_FIT = """() => [...document.querySelectorAll("article table.xfbook-table th")]
  .filter((th) => th.scrollWidth > th.clientWidth + 1).map((th) => th.textContent.trim())"""
RESULT_BOXES = """() => {
  const kinds = ["theorem", "proposition", "lemma", "corollary"];
  const boxes = [...document.querySelectorAll("div.proof")].filter((d) => kinds.some((k) => d.classList.contains(k)));
  return boxes.map((box) => {
    const note = box.nextElementSibling;
    return {id: box.id, note: note && note.matches("p.xf-result-check") ? note.textContent.trim() : null};
  });
}"""


@pytest.mark.parametrize(
    ("path", "name", "must_show"),
    [
        ("book/results.html", "results.png", ("labelled results", "checked numerically", "proof only")),
        ("book/reproductions.html", "reproductions.png", ("The whole book:", "Status", "asserted")),
        ("book/execution-times.html", "execution-times.png", ("CPU s", "Budget s")),
    ],
)
def test_appendix_pages_show_their_status_columns(site, chromium, path, name, must_show):
    """The generated appendix pages: their tables render, with headers that wrap between words, never inside one."""
    reader = Reader(chromium, site)
    try:
        problems = reader.open(path)
        seen = reader.page.evaluate(INSPECT)
        text = " ".join(seen["prose"].split())
        missing = [words for words in must_show if words not in text]
        assert not missing, f"{path} does not show {missing}"
        assert not reader.page.evaluate(HEADERS_FIT), f"{path}: headers broken or overflowing"
        assert not seen["wideTables"] and not seen["untypeset"], seen
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        reader.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        assert not problems, problems
    finally:
        reader.close()


def test_every_result_box_says_where_it_is_checked(site, chromium):
    """Under every theorem, proposition, lemma and corollary box of every chapter: where it is checked, or why not."""
    reader = Reader(chromium, site)
    missing, count = [], 0
    try:
        for page in sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("ch*.html")):
            reader.open(page)
            for box in reader.page.evaluate(RESULT_BOXES):
                count += 1
                note = box["note"] or ""
                if not note.startswith(("Checked numerically:", "Proof only:")):
                    missing.append(f"{page}#{box['id']}: {note or 'no note'}")
        assert count >= 40, f"found only {count} result boxes: did the markup change?"
        assert not missing, missing
        reader.open("book/ch01-transformer.html")
        box = reader.page.locator("div.proof#prop-scale")
        box.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        clip = reader.page.evaluate(
            """() => { const b = document.querySelector("div.proof#prop-scale"), n = b.nextElementSibling;
              const r1 = b.getBoundingClientRect(), r2 = n.getBoundingClientRect();
              return {x: r1.left + scrollX - 8, y: r1.top + scrollY - 8, width: r1.width + 16,
                      height: r2.bottom - r1.top + 16}; }"""
        )
        reader.page.screenshot(path=str(SCREENSHOTS / "ch01-result-box.png"), clip=clip, full_page=True)
    finally:
        reader.close()
