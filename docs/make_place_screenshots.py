"""Makes the README's screenshots of the places to look besides the actlog tab:
docs/place_*.png.

The demo (``train_example.py``, 8 epochs on synthetic digits, its local MLflow store) writes a
run; then headless Chromium (Playwright, Debian's ``chromium``) takes:

- ``place_report.png``: the report, ``logs/actlog/report.html``, opened from ``file://``;
- ``place_mlflow_report.png``: the same report in MLflow's own UI (a real ``mlflow server``
  on 127.0.0.1 on the demo's store), the run's artifact ``actlog/report.html``;
- ``place_mlflow_run.png``: the run's overview in MLflow: Keras's loss and accuracy (MLflow's
  own Keras callback) beside actlog's statistics, its options as params;
- ``place_custom_scalars.png`` and ``place_filter_health.png``: TensorBoard's Custom Scalars
  tab (every layer on one chart per kind) and the filter-health image in the Images tab, from
  a real ``tensorboard`` server.

W&B's run page needs an account and the network; this machine has neither, so there is no W&B
shot (the offline run holds the same report as HTML media: tests/test_report_sinks.py).

    python docs/make_place_screenshots.py      # about 4 minutes on 2 cores
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from make_view_screenshots import ARGS, OPENER, free_port  # noqa: E402

import train_example  # noqa: E402


def serve(command: list[str], ready: str) -> tuple[subprocess.Popen[bytes], str]:
    """Starts a server (``--host 127.0.0.1 --port P`` added) and waits until ``ready`` (a
    path) answers; returns the process and its base URL."""
    port = free_port()
    server = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            OPENER.open(f"{base}{ready}").read()
            return server, base
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"{command[:3]} did not answer {ready}")


def shot(browser: Any, url: str, ready: str, name: str, height: int = 900,
         frame: str | None = None) -> None:  # fmt: skip
    page = browser.new_page(viewport={"width": 1280, "height": height})
    page.goto(url)
    target = page.frame_locator(frame) if frame else page
    target.locator(ready).first.wait_for(timeout=120_000)
    page.wait_for_timeout(2500)  # the last images decode, charts settle
    page.screenshot(path=str(HERE / name))
    print(f"wrote docs/{name}")
    page.close()


def main() -> None:
    import mlflow
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        train_example.main(["--epochs", "8", "--dataset", "synthetic", "--log-dir", str(logs)])
        store = f"sqlite:///{logs}/mlflow.db"
        client = mlflow.MlflowClient(store)
        experiment = client.get_experiment_by_name("actlog-demo").experiment_id
        (run,) = client.search_runs([experiment])
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        servers = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
                shot(browser, (logs / "actlog" / "report.html").as_uri(),
                     "section.card canvas", "place_report.png")  # fmt: skip
                server, base = serve([sys.executable, "-m", "mlflow", "server",
                                      "--backend-store-uri", store], "/health")  # fmt: skip
                servers.append(server)
                runs = f"{base}/#/experiments/{experiment}/runs/{run.info.run_id}"
                shot(browser, f"{runs}/artifacts/actlog/report.html", "section.card canvas",
                     "place_mlflow_report.png", frame="iframe")  # fmt: skip
                shot(browser, runs, "text=actlog.every_n_epochs", "place_mlflow_run.png", 1100)
                server, base = serve([sys.executable, "-m", "tensorboard.main", "--logdir",
                                      str(logs)], "/data/plugin/custom_scalars/layout")  # fmt: skip
                servers.append(server)
                shot(browser, f"{base}/#custom_scalars", "text=dead filters: fraction",
                     "place_custom_scalars.png", 1000)  # fmt: skip
                shot(browser, f"{base}/#images&tagFilter=filter_health",
                     "text=filter_health/conv2d_1", "place_filter_health.png", 1000)  # fmt: skip
                browser.close()
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
