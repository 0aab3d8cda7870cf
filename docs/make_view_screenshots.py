"""Makes the README's screenshots of the actlog tab: docs/view_*.png.

The demo (``train_example.py``, 12 epochs on synthetic digits) and a ResNet50 at 224x224
(``weights=None``, the callback's defaults, 2 epochs; as docs/make_resnet50_screenshot.py
trains it) each write a run; a real ``tensorboard`` server on 127.0.0.1 serves them and
headless Chromium (Playwright, Debian's ``chromium``) takes the pictures of the tab.

    python docs/make_view_screenshots.py      # about 5 minutes on 2 cores
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import make_resnet50_screenshot  # noqa: E402

import train_example  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # fmt: skip
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: file -> (run, view fragment, what to wait for, crop height)
SHOTS = {
    "view_overview.png": ("demo", "#run=demo&view=overview&sample=0", "section.card canvas", 900),
    "view_layer_ab.png": ("demo", "#run=demo&view=layer&layer=conv2d_1&stepB=-1&sample=3",
                          "figure.panel[data-panel=B] canvas[data-step='-1']", 760),
    "view_filter.png": ("demo", "#run=demo&view=filter&layer=conv2d&filter=12&step=5&sample=0",
                        ".frame-cell canvas", 720),
    "view_health.png": ("demo", "#run=demo&view=health&layer=conv2d_1", "canvas.health-map", 900),
    "view_resnet50.png": ("resnet50", "#run=resnet50&view=overview&sample=2",
                          "section.card canvas", 1500),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(root: Path) -> None:
    demo = root / "demo-logs"
    train_example.main(["--epochs", "12", "--dataset", "synthetic", "--log-dir", str(demo),
                        "--no-mlflow"])  # fmt: skip
    shutil.move(demo / "actlog", root / "logs" / "demo")
    make_resnet50_screenshot.train(root / "resnet")
    shutil.move(root / "resnet" / "actlog", root / "logs" / "resnet50")


def shoot(logdir: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if len(OPENER.open(f"{base}/data/plugin/actlog/runs").read()) > 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            for name, (_, fragment, ready, height) in SHOTS.items():
                page = browser.new_page(viewport={"width": 1280, "height": height})
                page.goto(f"{base}/data/plugin_entry.html?name=actlog{fragment}")
                page.wait_for_selector("body[data-ready=true]")
                page.wait_for_selector(ready)
                page.wait_for_timeout(1500)  # the last images decode
                page.screenshot(path=str(HERE / name))
                print(f"wrote docs/{name}")
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        train(root)
        shoot(root / "logs")


if __name__ == "__main__":
    main()
