"""Build-output test in a real browser: the static book works without a kernel or network.

Needs a built book (``_build/html``), Debian's ``chromium`` and the Playwright Python package;
``make test`` provides all three. The CDN scripts the pages load are served from local copies of the
same npm packages (see ``browser_assets.py``); every other outside request is refused.
"""

from __future__ import annotations

import functools
import http.server
import mimetypes
import os
import shutil
import threading

import pytest

from tests.browser_assets import fetch_assets, local_file
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

HTML = ROOT / "_build" / "html"
CHAPTER = "chapters/00_getting_started.html"


def _require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site():
    _require((HTML / CHAPTER).exists(), "build the book first: make book")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def page(site):
    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    _require(chromium is not None, "no Chromium on PATH: install Debian's chromium (apt-get install chromium)")
    fetch_assets()
    refused: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(site):
            return request_route.continue_()
        path = local_file(url)
        if path is None:
            refused.append(url)
            return request_route.abort()
        content_type = mimetypes.guess_type(path.name)[0] or "application/javascript"
        return request_route.fulfill(status=200, body=path.read_bytes(), content_type=content_type,
                                     headers={"Access-Control-Allow-Origin": "*"})

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.route("**/*", route)
        pg.goto(f"{site}/{CHAPTER}", wait_until="load")
        pg.refused = refused
        yield pg
        browser.close()


def test_figures_load(page):
    images = page.locator("img")
    assert images.count() > 0
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    broken = page.evaluate("Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert broken == []


def test_math_is_typeset(page):
    page.wait_for_selector("mjx-container", timeout=20_000)
    assert page.locator("mjx-container").count() >= 3


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
