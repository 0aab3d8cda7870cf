"""How fast the actlog tab is at real scale: a 300-event ResNet50 run (224, the callback's
defaults), a real ``tensorboard`` server and headless Chromium, both on this machine.

Run (from the repository root, with actlog installed and Debian's ``chromium``)::

    python bench/view.py                      # makes the run first if missing (about 30 min)
    python bench/view.py --logdir /tmp/actlog-view-bench --loaders auto false

The run is written by ``bench/view_run.py`` into ``--logdir`` (``resnet50``), once. Then, for
each TensorBoard loader (``--load_fast=auto``, the Rust data server users get by default;
``false``, the Python loader), a fresh server and a fresh browser page measure:

- open: from navigation to the overview usable (every layer's grid drawn at the last step), on
  a server that has not answered the run yet (it parses every document), then again warm;
- slider: one step (the right arrow key) until every layer shows the new step, on the first
  pass over the steps (their images not loaded yet) and on the second (loaded), median and
  95th percentile over 60 steps; the floor beside it: fetching and decoding that step's images
  in the page, nothing else;
- filmstrip: from opening a filter to its 300 frames drawn, for a filter of the last stage
  (the server cuts its tile from 300 grids), then another filter of the same layer (the grids
  are decoded already); the naive way beside it: the page fetches the 300 grids itself and
  cuts the tile out of each (what a view without the server's route would do);
- the server's resident memory after all that;
- the document's own cost per event, on the writer thread: making the last event's per-filter
  lists (``permille``, ``rounded``) and encoding it, against the bytes of that event.

Timings are wall-clock medians on whatever else the machine does; the targets of issue 17 are
printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

NAIVE_FILMSTRIP = """async ([urls, box]) => {
  const start = performance.now();
  const frames = await Promise.all(urls.map(async (url) => {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const canvas = new OffscreenCanvas(box[3], box[2]);
    canvas.getContext("2d").drawImage(bitmap, box[1], box[0], box[3], box[2], 0, 0, box[3],
      box[2]);
    return canvas;
  }));
  return [performance.now() - start, frames.length];
}"""
STEP_FLOOR = """async (urls) => {
  const start = performance.now();
  await Promise.all(urls.map(async (url) =>
    createImageBitmap(await (await fetch(url, {cache: "no-store"})).blob())));
  return performance.now() - start;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def tensorboard(logdir: str, load_fast: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
         "--port", str(port), f"--load_fast={load_fast}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                runs = json.loads(_OPENER.open(f"{base}/data/plugin/actlog/runs").read())
                if runs:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("TensorBoard did not list the run within 120 s")
            time.sleep(0.5)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the Rust data server), in MB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid)], capture_output=True, text=True)
    own = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    values = [int(v) for v in (out.stdout + own.stdout).split()]
    return sum(values) / 1024


def wait_steps(page: Any, step: int) -> None:
    page.wait_for_function(
        "(step) => [...document.querySelectorAll('section.card canvas.grid')]"
        ".every(c => c.dataset.step === String(step))", arg=step, timeout=60000)


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(browser: Any, base: str, process: subprocess.Popen) -> dict[str, Any]:
    entry = f"{base}/data/plugin_entry.html?name=actlog"
    result: dict[str, Any] = {}
    overview = json.loads(_OPENER.open(f"{base}/data/plugin/actlog/runs").read())
    assert overview, "no actlog run"
    for label in ("open_cold", "open_warm"):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(entry)
        page.wait_for_selector("body[data-ready=true]", timeout=60000)
        steps = page.evaluate("window.actlogView.run.steps")
        wait_steps(page, steps[-1])
        result[label] = ms(start)
        page.close()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(entry)
    page.wait_for_selector("body[data-ready=true]", timeout=60000)
    steps = page.evaluate("window.actlogView.run.steps")
    wait_steps(page, steps[-1])
    page.keyboard.press("Home")
    wait_steps(page, steps[0])
    for label in ("slider_first_pass", "slider_second_pass"):
        times = []
        for step in steps[1:61]:
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            wait_steps(page, step)
            times.append(ms(start))
        result[label] = times
        page.keyboard.press("Home")
        wait_steps(page, steps[0])
    urls = page.evaluate("""() => { const app = window.actlogView;
        const step = app.run.steps[Math.min(70, app.run.steps.length - 1)];
        return app.run.layers.map((layer) => app.imageURL(layer, 'activations', step,
            layer.grids[0][1], 0)); }""")
    result["step_floor"] = [page.evaluate(STEP_FLOOR, urls) for _ in range(15)]
    layer = page.evaluate("window.actlogView.run.layers.at(-1)")
    for label, index in (("filmstrip_cold", 5), ("filmstrip_warm", 6)):
        page.evaluate(f"""() => window.actlogView.store.set({{view: 'filter',
            layer: {json.dumps(layer['path'])}, filter: {index}, sample: 0}})""")
        start = time.perf_counter()
        page.wait_for_function(
            "(n) => document.querySelectorAll('.frame-cell canvas').length === n "
            "&& window.actlogView.view.strip && window.actlogView.view.strip.steps.length === n",
            arg=len(steps), timeout=60000)
        result[label] = ms(start)
        page.evaluate("window.actlogView.store.set({view: 'overview'})")
    grid = layer["grids"][0][1]
    box = [grid["origins"][0][0], grid["origins"][0][1] + 0, grid["height"], grid["width"]]
    urls = page.evaluate("""() => { const app = window.actlogView;
        const layer = app.run.layers.at(-1);
        return app.run.steps.map((s) => app.imageURL(layer, 'activations', s,
            layer.grids[0][1], 0)); }""")
    naive = [page.evaluate(NAIVE_FILMSTRIP, [urls, box])[0] for _ in range(2)]
    result["filmstrip_naive"] = naive
    result["steps"] = len(steps)
    result["server_rss_mb"] = rss_mb(process.pid)
    page.close()
    return result


def document_cost(run_dir: str) -> tuple[float, int, int]:
    """Milliseconds to make and encode the last event's document (median of 20), its bytes,
    and the bytes of that event in the event file."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    from actlog.view import metadata

    last: dict[int, int] = {}
    payload = b""
    for name in sorted(os.listdir(run_dir)):
        if not name.startswith("events.out"):
            continue
        for record in event_file_loader.RawEventFileLoader(os.path.join(run_dir, name)).Load():
            event = event_pb2.Event.FromString(record)
            last[event.step] = last.get(event.step, 0) + len(record)
            for value in event.summary.value:
                if value.tag == metadata.EVENT_TAG:
                    payload = value.tensor.string_val[0]
    document = metadata.decode(payload)
    arrays = [(layer["filters"]["on_rate"], layer["filters"]["max"])
              for layer in document["layers"]]  # fmt: skip
    times = []
    for _ in range(20):
        start = time.perf_counter()
        for rates, maxima in arrays:
            metadata.permille([r / 1000 if r is not None else float("nan") for r in rates])
            metadata.rounded([m if m is not None else float("nan") for m in maxima])
        metadata.encode(document)
        times.append(ms(start))
    return statistics.median(times), len(payload), last[document["step"]]


def report(load_fast: str, r: dict[str, Any]) -> None:
    first, second = r["slider_first_pass"], r["slider_second_pass"]
    floor = statistics.median(r["step_floor"])
    print(f"\n### --load_fast={load_fast}, {r['steps']} events\n")
    print("| what | measured | target |")
    print("|---|---:|---:|")
    print(f"| open, cold server (every document parsed) | {r['open_cold']:.0f} ms | 2000 ms |")
    print(f"| open, warm | {r['open_warm']:.0f} ms | 2000 ms |")
    print(f"| one slider step, first pass: median / p95 | {statistics.median(first):.0f} / "
          f"{percentile(first, 0.95):.0f} ms | |")
    print(f"| one slider step, after the first pass: median / p95 | "
          f"{statistics.median(second):.0f} / {percentile(second, 0.95):.0f} ms | 150 ms |")
    print(f"| floor: fetch + decode one step's images in the page | {floor:.0f} ms | |")
    print(f"| filmstrip of {r['steps']} steps, first filter of the layer | "
          f"{r['filmstrip_cold']:.0f} ms | 1000 ms |")
    print(f"| filmstrip, another filter of the same layer | {r['filmstrip_warm']:.0f} ms | "
          "1000 ms |")
    naive = min(r["filmstrip_naive"])
    print(f"| naive filmstrip: the page fetches {r['steps']} grids and cuts the tile | "
          f"{naive:.0f} ms ({naive / r['filmstrip_cold']:.1f}x the route) | |")
    print(f"| TensorBoard's resident memory (with its data server) | {r['server_rss_mb']:.0f} MB "
          "| |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="/tmp/actlog-view-bench")
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--loaders", nargs="+", default=["auto", "false"])
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.logdir, "resnet50")):
        print(f"writing the {args.events}-event ResNet50 run to {args.logdir} first "
              "(bench/view_run.py; about 30 minutes on 2 cores)", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "view_run.py"), "--out", args.logdir,
                        "--events", str(args.events)], check=True)  # fmt: skip
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"actlog view, {args.logdir}/resnet50, {os.cpu_count()} CPUs")
    cost, size, event = document_cost(os.path.join(args.logdir, "resnet50"))
    print(f"\nthe document of the last event: {size / 1e3:.0f} kB of the event's "
          f"{event / 1e6:.2f} MB ({size / event:.1%}), made and encoded in {cost:.1f} ms")
    with sync_playwright() as playwright:
        for load_fast in args.loaders:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                with tensorboard(args.logdir, load_fast) as (base, process):
                    report(load_fast, measure(browser, base, process))
            finally:
                browser.close()


if __name__ == "__main__":
    main()
