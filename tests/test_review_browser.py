"""The review app in a real browser: headless Debian Chromium driven by Playwright.

A reviewer gives their name once, accepts an item with a key, corrects another from the
keyboard, reloads and sees both verdicts; after a re-run of the pipeline the verdicts are still
on the same items. Without Chromium the test is skipped, except under CI (CI=true), where
`.ci/run` installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.review import ReviewStore
from tests.review_support import (
    REFERENCE_PATH,
    copy_tables,
    reference_tables,
    run_on_text,
    served,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]


def _require_browser():
    """Playwright's sync API, or a skip (a failure under CI) naming what is missing."""
    missing = []
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
        missing.append("the playwright package")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs it", pytrace=False)
        pytest.skip(message)
    return sync_api


@pytest.fixture(scope="module")
def browser():
    sync_api = _require_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return reference_tables(tmp_path_factory)


def _ready(page, kind: str) -> None:
    """Wait until a page of `kind` (queue, item) has its shortcuts set up: review.js loads
    after the page shows, and a key pressed before that would be lost."""
    from playwright.sync_api import expect

    expect(page.locator(f"body[data-page={kind}][data-shortcuts=on]")).to_be_attached()


def _verdict_cell(page, item_id: str):
    return page.locator(f'tr.item-row[data-item-id="{item_id}"] td.verdict')


def test_keyboard_verdicts_survive_a_reload_and_a_rerun(browser, tables, tmp_path):
    from playwright.sync_api import expect

    out = copy_tables(tables, tmp_path / "out")
    db = tmp_path / "verdicts.sqlite"
    with served(out, db) as settings:
        page = browser.new_page()
        # 1. The queue asks for a name first, once.
        page.goto(settings.url + "queue?type=mention")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.fill("#reviewer", "Ada")
        page.press("#reviewer", "Enter")
        expect(page).to_have_url(re.compile(r"/queue\?type=mention$"))
        _ready(page, "queue")
        expect(page.locator("tr.item-row").first).to_have_class(re.compile("selected"))
        # 2. Open the first (least confident) item and accept it with "a".
        page.keyboard.press("Enter")
        _ready(page, "item")
        accepted = page.get_attribute("#item", "data-item-id")
        assert page.inner_text("#span") == ReviewStore(db).item(accepted)["span"]
        page.keyboard.press("a")
        expect(page).to_have_url(re.compile(r"saved=1$"))
        expect(page.locator("#saved")).to_have_text("Verdict #1 recorded.")
        _ready(page, "item")
        # 3. Correct the next one from the keyboard: "c" opens the fields, "s" takes the
        # selected words as the span, Ctrl+Enter saves.
        corrected = page.get_attribute("#item", "data-item-id")
        assert corrected != accepted
        category = page.locator("#field-category").input_value()
        other = "sign" if category != "sign" else "cause"
        page.keyboard.press("c")
        expect(page.locator("#field-category")).to_be_focused()
        page.select_option("#field-category", other)
        page.locator("#field-category").blur()
        # Select the highlighted words but their last character.
        start = int(page.locator("#field-start").input_value())
        end = int(page.locator("#field-end").input_value())
        page.evaluate(
            """() => {
                const text = document.getElementById("span").firstChild;
                const range = document.createRange();
                range.setStart(text, 0);
                range.setEnd(text, text.length - 1);
                window.getSelection().removeAllRanges();
                window.getSelection().addRange(range);
            }"""
        )
        page.keyboard.press("s")
        expect(page.locator("#field-start")).to_have_value(str(start))
        expect(page.locator("#field-end")).to_have_value(str(end - 1))
        page.keyboard.press("Control+Enter")
        expect(page).to_have_url(re.compile(r"saved=2$"))
        # 4. Reload the queue of reviewed items: both verdicts are shown, with the name.
        page.goto(settings.url + "queue?type=mention&status=reviewed")
        page.reload()
        expect(page.locator("tr.item-row")).to_have_count(2)
        expect(_verdict_cell(page, accepted)).to_have_text(re.compile(r"accept\s+Ada"))
        expect(_verdict_cell(page, corrected)).to_have_text(re.compile(r"correct\s+Ada"))
        store = ReviewStore(db)
        value = store.item(corrected)["new_value"]
        assert (value["category"], value["start"], value["end"]) == (other, start, end - 1)
        seen = store.item(accepted)["last_seen"]
        # 5. Re-run the pipeline on the same article and put its tables in place.
        rerun = run_on_text(REFERENCE_PATH.read_text(encoding="utf-8"), tmp_path / "rerun")
        copy_tables(rerun, out)
        page.reload()
        expect(page.locator("tr.item-row")).to_have_count(2)
        expect(_verdict_cell(page, accepted)).to_have_text(re.compile(r"accept\s+Ada"))
        expect(_verdict_cell(page, corrected)).to_have_text(re.compile(r"correct\s+Ada"))
        for item_id, verdict in ((accepted, "accept"), (corrected, "correct")):
            item = store.item(item_id)
            assert item["last_seen"] > seen, "the app re-read the re-run's tables"
            assert (item["verdict"], item["reviewer"], item["stale"]) == (verdict, "Ada", False)
        # The item page still shows the correction and its history.
        page.goto(settings.url + f"items/{corrected}")
        expect(page.locator("#current-verdict")).to_contain_text("correct by Ada")
        expect(page.locator("#history li")).to_have_count(1)
        page.close()
