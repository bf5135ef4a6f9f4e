"""Build-output test in a real browser: the built book works with no kernel and no network.

Needs a built book (``make book``: ``_build/html``, or the folder in ``$BOOK_HTML``), a Chromium on
PATH and the Playwright Python package; ``make browser`` provides them. The pages are opened twice:
served from localhost, and straight from disk (``file://``, as a reader opens ``index.html``). Every
request that is not to localhost or a local file is refused, and nothing is substituted for it:
MathJax, require.js and the widget manager must come from the book itself (``_build/html/_vendor``,
put there by ``tools/vendor_js.py``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
CHAPTER = "chapters/00_getting_started.html"
LOCAL = ("http://127.0.0.1", "file://", "data:", "blob:", "about:")
# Errors in third-party scripts that change nothing a reader sees, matched exactly:
KNOWN_ERRORS = {
    # sphinx-thebe writes its settings script twice into each page; thebe is never launched here
    "Identifier 'THEBE_JS_URL' has already been declared",
    # the widget manager (html-manager 1.0.6) calls MathJax 2's MathJax.Hub.Queue to typeset widget
    # labels; the book loads MathJax 3 (its labels hold no math)
    "Cannot read properties of undefined (reading 'Queue')",
}


def _require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site():
    _require((HTML / CHAPTER).exists(), f"build the book first: make book (no {HTML / CHAPTER})")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    _require(chromium is not None, "no Chromium on PATH: install Debian's chromium (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic",
            # no name resolves but localhost: the network is off for the page, not only for our router
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=["http", "file"])
def page(request, site, browser):
    refused: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(LOCAL):
            return request_route.continue_()
        refused.append(url)
        return request_route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", route)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda error: errors.append(str(error)))
    url = f"{site}/{CHAPTER}" if request.param == "http" else (HTML / CHAPTER).resolve().as_uri()
    pg.goto(url, wait_until="load")
    pg.refused, pg.errors = refused, errors
    yield pg
    context.close()


def test_pages_load_their_scripts_from_the_book():
    """No page asks a CDN for a script: MathJax, require.js and the widget manager are in _vendor/."""
    _require(HTML.exists(), "build the book first: make book")
    remote = set()
    for path in HTML.rglob("*.html"):
        remote.update(re.findall(r'<script[^>]*\bsrc="(https?://[^"]+)"', path.read_text(encoding="utf-8")))
    assert remote == set(), f"pages load scripts from the network: {sorted(remote)}"
    for asset in ["_vendor/mathjax-3.2.2/es5/tex-mml-chtml.js", "_vendor/requirejs-2.3.4/require.js",
                  "_vendor/html-manager-1.0.6/dist/embed-amd.js"]:
        assert (HTML / asset).is_file(), f"{asset} missing: make book runs tools/vendor_js.py"


def test_figures_load(page):
    images = page.locator("img")
    assert images.count() > 0
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    broken = page.evaluate("Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert broken == []


def test_math_is_typeset(page):
    page.wait_for_selector("mjx-container", timeout=20_000)
    page.wait_for_function("document.querySelectorAll('span.math, div.math').length > 0 && "
                           "Array.from(document.querySelectorAll('span.math, div.math'))"
                           ".every(e => e.querySelector('mjx-container'))", timeout=20_000)
    assert page.locator("mjx-container").count() >= 3
    raw = page.evaluate("Array.from(document.querySelectorAll('span.math, div.math'))"
                        ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)")
    assert raw == [], f"formulas left as raw LaTeX: {raw[:3]}"


def test_solution_toggle_opens(page):
    solution = page.locator("div.cell.tag_solution details").first
    assert solution.count() == 1
    code = solution.locator("pre")
    assert not code.is_visible()
    solution.locator("summary").click()
    assert code.is_visible()
    assert "def feature_norms" in code.inner_text()


def test_static_slider_changes_frame(page):
    page.wait_for_selector(".widget-slider", timeout=20_000)
    visible_image = """() => Array.from(document.querySelectorAll('.widget-image'))
        .filter(i => i.offsetParent !== null).map(i => i.src)"""
    before = page.evaluate(visible_image)
    assert len(before) == 1, f"one frame should be visible, saw {len(before)}"
    handle = page.locator(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle").first
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    after = page.evaluate(visible_image)
    assert len(after) == 1 and after != before, "moving the slider should show another frame"
    assert "n = 5" in page.locator(".widget-html").filter(has_text="n =").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).map(e => e.innerText).join(' ')")


def test_nothing_asked_for_the_network_and_no_script_failed(page):
    # runs after the others on the same page: everything above worked with these requests refused
    assert page.refused == [], f"the page asked for outside resources: {page.refused[:5]}"
    unexpected = [e for e in page.errors if e not in KNOWN_ERRORS]
    assert unexpected == [], f"JavaScript errors: {unexpected[:3]}"
