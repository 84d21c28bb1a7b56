"""The page as a newcomer sees it, in a real browser (Chromium, headless, offline, a synthetic camera).

Screenshots go to ``screenshots/<test name>/`` (not committed); the README's come from ``docs/``."""

from __future__ import annotations

import urllib.request

import pytest
from browser import DESKTOP, SCREENSHOTS, Page, chromium, wait_until
from selenium.webdriver.common.keys import Keys

from conftest import live_app


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with live_app(tmp_path_factory) as (_, demo):
        yield demo.local_url


@pytest.fixture
def page(request, url):
    with chromium(DESKTOP) as driver:
        yield Page(driver, url, SCREENSHOTS / request.node.name).open()


def set_number(page: Page, label: str, value: float) -> None:
    """Type ``value`` into the number box of the slider or number field labelled ``label``."""
    box = page.js("""
        for (const el of document.querySelectorAll('[data-testid=block-info], .label, span, label'))
            if (el.textContent.trim() === arguments[0] && el.offsetParent) {
                const block = el.closest('.block');
                const input = block && block.querySelector('input[type=number]');
                if (input) return input;
            }
        return null;""", label)
    assert box is not None, f"no number field labelled {label!r}"
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def click_button(page: Page, text: str) -> None:
    button = page.js("""for (const b of document.querySelectorAll('button'))
                          if (b.textContent.trim() === arguments[0] && b.offsetParent) return b; return null;""", text)
    assert button is not None, f"no visible button {text!r}"
    page.js("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def click_example(page: Page, row: int = 0) -> None:
    cell = page.js("""const id = '[data-testid="dataset-cell-' + arguments[0] + '-0"]';
                      return [...document.querySelectorAll(id)].filter(c => c.offsetParent)[0] || null;""", row)
    assert cell is not None, "no example row on this tab"
    cell.click()


def text_of(page: Page, css: str) -> str:
    return page.js("""const els = [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent);
                      return els.map(e => e.innerText).join('\\n');""", css)


def result_picture(page: Page) -> dict | None:
    """The visible Result picture: its address and whether it is what the eye meets at its centre."""
    return page.js("""
        const box = [...document.querySelectorAll('.fitted-result')].find(e => e.offsetParent);
        const img = box && box.querySelector('img');
        if (!img || !img.src || !img.complete) return null;
        const r = img.getBoundingClientRect();
        img.scrollIntoView({block: 'center'});
        const s = img.getBoundingClientRect();
        const top = document.elementFromPoint(s.left + s.width / 2, s.top + s.height / 2);
        return {src: img.src, width: r.width, height: r.height, visible: top === img || img.contains(top)};""")


def test_the_page_loads_without_console_errors(page):
    for tab in ("Image", "Fast styles", "Audio"):
        page.tab(tab)
        page.shot(tab.lower().replace(" ", "-"))
    with urllib.request.urlopen(page.url + "gradio_api/mcp/schema", timeout=30) as answer:
        assert answer.status == 200  # the API page asks for it
    errors = page.console_errors()
    assert not errors, errors


def test_an_image_example_shows_previews_while_it_runs_and_the_result_at_the_end(page):
    click_example(page, 0)
    wait_until(lambda: page.js("return document.querySelectorAll('.fitted-result, img').length"), 10, "the example")
    set_number(page, "Output size (long side) (px)", 192)
    set_number(page, "Steps per scale", 12)
    page.shot("example-chosen")
    click_button(page, "Stylize")
    previews = set()

    def finished() -> bool:
        picture = result_picture(page)
        if picture and "preview" in picture["src"]:
            assert picture["visible"], "the preview is covered"
            if picture["src"] not in previews:
                previews.add(picture["src"])
                page.shot(f"preview-{len(previews)}")
        return "Done in" in text_of(page, ".status")

    wait_until(finished, 240, "the run finishes and says so")
    final = result_picture(page)
    page.shot("done")
    assert previews, "no preview was shown while the run went on"
    assert final and "stylized" in final["src"] and final["visible"]
    assert final["width"] >= 300, f"the result is shown at {final['width']:.0f} px wide: too small to see"
