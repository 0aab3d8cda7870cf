"""Headless Chromium for the view's tests, driven by Playwright for Python, and the pixels a
page shows read back from its canvases.

The browser is Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it),
or the one ``ACTLOG_CHROMIUM`` names; Playwright's own browser download is not used. A missing
browser fails the test with that advice: it is never skipped.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

#: Flags for a headless Chromium on a machine with no network (and as root, no sandbox).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic"]  # fmt: skip


def chromium_path() -> str:
    path = os.environ.get("ACTLOG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError(
            f"The view's browser tests need headless Chromium at {path}: apt-get install "
            "chromium, or set ACTLOG_CHROMIUM to a Chromium or Chrome binary."
        )
    return path


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def page(browser: Any, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A new page at device scale 1; its page errors and console errors are collected in
    ``page.errors`` (a test asserts there are none)."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1)  # fmt: skip
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    tab.on("console", lambda message: _console_error(tab, message))
    try:
        yield tab
    finally:
        context.close()


def _console_error(tab: Any, message: Any) -> None:
    # TensorBoard serves no /favicon.ico: Chromium's request for it is not the page's error.
    if message.type == "error" and not message.location.get("url", "").endswith("favicon.ico"):
        tab.errors.append(f"console: {message.text}")


def canvas_pixels(frame: Any, selector: str) -> np.ndarray:
    """The pixels a canvas holds, RGB ``(height, width, 3)`` (read through ``toDataURL``,
    lossless)."""
    url = frame.eval_on_selector(selector, "canvas => canvas.toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
