"""Driving the page in a real browser: Debian's Chromium through Selenium (chromium + chromium-driver; `.ci/run`
installs them), with a synthetic camera, console logs collected, screenshots into a folder per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import ROOT

CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "screenshots"
PHONE = (390, 844)
DESKTOP = (1400, 1000)


@contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """A headless Chromium at ``size`` whose camera is Chromium's synthetic one (a moving test pattern)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        raise RuntimeError("The browser tests need Debian's chromium and chromium-driver: "
                           "apt-get install chromium chromium-driver (.ci/run does this).")
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size[0]},{size[1]}",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--mute-audio",
                     "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium leaves a folder in the temp directory at every start: it gets one of its own, removed after it.
    with tempfile.TemporaryDirectory(prefix="nst-chromium-", ignore_cleanup_errors=True) as scratch:
        driver = webdriver.Chrome(service=Service(DRIVER, env={**os.environ, "TMPDIR": scratch}), options=options)
        try:
            # Headless windows are at least 500 px wide; the page is laid out at exactly ``size`` (a phone's).
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600})
            yield driver
        finally:
            driver.quit()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """``condition()``'s first truthy value within ``timeout`` seconds, else an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"within {timeout:.0f} s: {what}")
        time.sleep(every)


class Page:
    """The studio in one browser tab: open it, click tabs and examples, look at blocks, take screenshots."""

    def __init__(self, driver: Any, url: str, shots: Path) -> None:
        self.driver, self.url, self.shots = driver, url, shots
        shots.mkdir(parents=True, exist_ok=True)

    def open(self) -> Page:
        self.driver.get(self.url)
        wait_until(lambda: self.js("return document.querySelectorAll('button[role=tab]').length >= 3"), 60,
                   "the page shows its tabs")
        return self

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def tab(self, name: str) -> None:
        self.js("""for (const b of document.querySelectorAll('button[role=tab]'))
                     if (b.textContent.trim() === arguments[0] && b.offsetParent) { b.click(); return; }""", name)
        time.sleep(0.5)

    def block(self, label: str) -> Any:
        """The visible block whose label reads ``label`` (Gradio labels each block's box)."""
        return self.js("""
            for (const el of document.querySelectorAll('[data-testid=block-label], label, span'))
                if (el.textContent.trim() === arguments[0] && el.offsetParent) return el.closest('.block') || el;
            return null;""", label)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")
