"""The web page in a real headless Chromium: type a prompt, generate from the keyboard, and the new
video loads and plays in the gallery. A screenshot is saved.

The browser is Debian's `chromium` (installed by `make browser`, which `make test` runs), driven by
Playwright through its executable path. Where it is not installed the test is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from serve_helpers import running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# flags for a sandbox with no network beyond loopback (background services would only fail to connect)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: `make browser`, i.e. "
                                                "apt-get install chromium); the real-browser test of the page is skipped"),
]


def test_the_page_generates_a_video_that_plays(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    with running_server(tmp_path / "data", "--max-seconds", "2", "--poll-after-ms", "100") as server, \
            sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 960})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.wait_for_selector("#seconds option", state="attached")  # the model's options arrived
            assert page.locator("#size option").all_inner_texts() == ["64x64", "80x48", "48x80"]
            page.select_option("#seconds", "1")
            page.fill("#steps", "8")
            page.fill("#seed", "7")
            page.focus("#prompt")
            page.keyboard.type("a red circle moving right")
            page.keyboard.press("Control+Enter")  # submit from the keyboard
            card = page.locator(".card").first
            card.locator("progress").wait_for(state="attached")
            # loaded (HAVE_CURRENT_DATA or more) and playing: not paused, and the clock has moved on
            page.wait_for_function("""() => {
                const v = document.querySelector('.card[data-status=completed] video');
                return v && v.readyState >= 2 && !v.paused && v.currentTime > 0 && v.videoWidth === 64;
            }""", timeout=60_000)
            assert card.locator(".prompt").inner_text() == "a red circle moving right"
            assert "completed" in card.locator(".meta").inner_text()
            assert card.locator(".rewrite").inner_text().startswith("shown as: ")  # the caption it became
            assert card.locator(".download").get_attribute("href").startswith("blob:")
            shot = tmp_path / "serve-screenshot.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("MINISORA_SCREENSHOT"):  # e.g. docs/serve-screenshot.png for the README
                Path(os.environ["MINISORA_SCREENSHOT"]).write_bytes(shot.read_bytes())
            # the card's buttons work too: delete removes it from the page and the server
            video_id = card.get_attribute("data-id")
            card.locator("[data-action=delete]").click()
            page.wait_for_function(f"() => !document.querySelector('.card[data-id={video_id}]')")
            assert errors == []
        finally:
            browser.close()
