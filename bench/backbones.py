"""What ``ActivationLogger`` costs on every ``keras.applications`` backbone, at its native size.

Run (from the repository root, with actlog installed)::

    python bench/backbones.py                          # every backbone (hours on 2 cores)
    python bench/backbones.py --models ResNet50 MobileNetV3Small --events 2
    python bench/backbones.py --quick                  # smoke run: see below

Each backbone is wrapped the way transfer learning uses it, random weights (seed 0, no
download)::

    inp = keras.Input((s, s, 3)); x = keras.layers.RandomFlip()(inp)
    x = Backbone(weights=None, include_top=False, input_shape=(s, s, 3))(x)
    out = Dense(10)(GlobalAveragePooling2D()(x))

and measured in its own subprocess (a fresh interpreter, so the peak RSS is that model's),
with a random probe ``np.random.default_rng(0).random((probe, s, s, 3), dtype=np.float32)``:

- conv / logged: ``len(actlog.select_layers(model, "conv"))`` and ``len(logger.layer_paths)``
  of ``ActivationLogger(probe, log_dir=tmp, on_error="raise")`` (its defaults) after train begin.
- set-up s: ``actlog.graph.model_graph(model)`` (first: it is cached per model, so the logger
  reuses it and train begin below excludes it) + ``select_layers(model, "conv")`` +
  ``actlog.measure.measure_points(model, refs)``.
- forward ms: ``tf.function(lambda x: model(x, training=False))``, two warm-up calls, then the
  median of ``--events`` calls including ``.numpy()``, each timed right before an event below
  (side by side with the hold, so both see the same machine state); forward at start ms:
  the median of ``--events`` calls before train begin, the other way of timing it.
- train begin s: ``logger.set_model(model); logger.on_train_begin()`` (builds and traces the
  feature model, logs step -1); begin MB: the log directory's bytes after a ``flush()``.
- hold ms: the median time ``logger.on_epoch_end(epoch)`` takes to return (what training
  waits for); background ms: ``logger.flush()`` right after it (rendering, statistics,
  encoding and writing left to the background thread); both also as ratios to forward.
- MB/event: the median growth of the log directory per event (after the flush).
- peak RSS: VmHWM (``ru_maxrss`` where /proc is missing) at the end, and its growth from the
  peak after the warmed-up bare forward passes to the peak after the logging events.
- cards: TensorBoard Images cards of one event, read back with ``actlog.reader.read_images``:
  the sum over image tags of the number of PNGs at the last step.

Garbage is collected before each timed span and the collector is off during it. A model that
fails (or whose subprocess dies or times out) gets its error in the table; the sweep goes on.
Progress goes to stderr, the Markdown table to stdout. ``--quick``: probe of 2, one event, and
without ``--models`` only MobileNetV3Small and EfficientNetB0. ``--off stats convergence``
turns those options of the logger off, to see what each adds to the hold::

    python bench/backbones.py --models MobileNetV2 --events 5 --off convergence
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = {
    **dict.fromkeys(["VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2",
                     "ResNet101V2", "ResNet152V2"], 224),
    "InceptionV3": 299, "InceptionResNetV2": 299, "Xception": 299,
    **dict.fromkeys(["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
                     "DenseNet121", "DenseNet169", "DenseNet201", "NASNetMobile"], 224),
    "NASNetLarge": 331,
    **{f"EfficientNetB{i}": s for i, s in enumerate([224, 240, 260, 300, 380, 456, 528, 600])},
    "EfficientNetV2B0": 224, "EfficientNetV2B1": 240, "EfficientNetV2B2": 260,
    "EfficientNetV2B3": 300, "EfficientNetV2S": 384, "EfficientNetV2M": 480,
    "EfficientNetV2L": 480,
    **{f"ConvNeXt{size}": 224 for size in ["Tiny", "Small", "Base", "Large", "XLarge"]},
}  # fmt: skip
QUICK_MODELS = ["MobileNetV3Small", "EfficientNetB0"]
MB = 1e6
COLUMNS = [  # (header, result key, format)
    ("model", "model", "s"), ("size", "size", "d"), ("conv", "conv", "d"),
    ("logged", "logged", "d"), ("set-up s", "setup_s", ".2f"),
    ("train begin s", "begin_s", ".2f"), ("begin MB", "begin_mb", ".1f"),
    ("forward ms", "forward_ms", ",.0f"), ("hold ms", "hold_ms", ",.0f"),
    ("hold/fwd", "hold_ratio", ".2f"), ("forward at start ms", "forward_start_ms", ",.0f"),
    ("hold/fwd at start", "hold_start_ratio", ".2f"), ("background ms", "background_ms", ",.0f"),
    ("bg/fwd", "background_ratio", ".1f"), ("MB/event", "event_mb", ".1f"),
    ("peak RSS MB", "peak_mb", ",.0f"), ("RSS over fwd MB", "rss_over_forward_mb", ",.0f"),
    ("cards", "cards", "d"), ("error", "error", "s"),
]  # fmt: skip


#: The logger's options that ``--off`` turns off (each is on by default).
OPTIONAL = ("stats", "timeline", "convergence")


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far (VmHWM, or ru_maxrss), in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # KiB on Linux


def dir_bytes(path: str) -> int:
    """Total size of the files under ``path``."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` with garbage collected before and the collector off: (result, seconds)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn(*args)
        return result, time.perf_counter() - start
    finally:
        gc.enable()


def error_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:200]


def measure(name: str, size: int, probe_size: int, events: int, out: dict,
            off: tuple[str, ...] = ()) -> None:
    """Measures one model in this process, filling ``out`` as it goes (partial on failure)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import actlog
    from actlog.graph import model_graph
    from actlog.measure import measure_points
    from actlog.reader import read_images

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    keras.utils.set_random_seed(0)  # the same weights, so the same PNG sizes, run after run
    start = time.perf_counter()
    inp = keras.Input((size, size, 3))
    x = keras.layers.RandomFlip()(inp)
    backbone = getattr(keras.applications, name)
    x = backbone(weights=None, include_top=False, input_shape=(size, size, 3))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10)(x))
    out["build_s"] = time.perf_counter() - start
    log(f"built in {out['build_s']:.1f} s, {model.count_params() / 1e6:.1f} M parameters")
    probe = np.random.default_rng(0).random((probe_size, size, size, 3), dtype=np.float32)

    _, graph_s = timed(model_graph, model)
    refs, select_s = timed(actlog.select_layers, model, "conv")
    _, points_s = timed(measure_points, model, refs)
    out["conv"], out["setup_s"] = len(refs), graph_s + select_s + points_s
    log(f"set-up {out['setup_s']:.2f} s (model_graph {graph_s:.2f}, select_layers "
        f"{select_s:.3f}, measure_points {points_s:.3f}); {len(refs)} conv layers")  # fmt: skip

    forward = tf.function(lambda x: model(x, training=False))
    batch = tf.constant(probe)
    for _ in range(2):
        forward(batch).numpy()
    rss_forward = peak_rss_mb()
    start = [timed(lambda: forward(batch).numpy())[1] for _ in range(events)]
    log(f"forward traced; peak RSS {rss_forward:,.0f} MB")

    with tempfile.TemporaryDirectory(prefix="actlog_backbones_") as log_dir:
        logger = actlog.ActivationLogger(probe, log_dir=log_dir, on_error="raise",
                                         **dict.fromkeys(off, False))  # fmt: skip
        logger.set_model(model)
        _, out["begin_s"] = timed(logger.on_train_begin)
        _, begin_flush_s = timed(logger.flush)
        out["logged"], out["begin_mb"] = len(logger.layer_paths), dir_bytes(log_dir) / MB
        log(f"train begin {out['begin_s']:.2f} s + flush {begin_flush_s:.2f} s, "
            f"{out['logged']} layers logged, {out['begin_mb']:.1f} MB")  # fmt: skip
        forwards, holds, backgrounds, grown = [], [], [], []
        for epoch in range(events):
            before = dir_bytes(log_dir)
            forwards.append(timed(lambda: forward(batch).numpy())[1])
            holds.append(timed(logger.on_epoch_end, epoch)[1])
            backgrounds.append(timed(logger.flush)[1])
            grown.append(dir_bytes(log_dir) - before)
            log(f"event {epoch}: forward {forwards[-1] * 1000:,.0f} ms, hold "
                f"{holds[-1] * 1000:,.0f} ms, background "
                f"{backgrounds[-1] * 1000:,.0f} ms, {grown[-1] / MB:.1f} MB")  # fmt: skip
        out["peak_mb"] = peak_rss_mb()
        out["rss_over_forward_mb"] = out["peak_mb"] - rss_forward
        out["forward_ms"] = statistics.median(forwards) * 1000
        out["hold_ms"] = statistics.median(holds) * 1000
        out["background_ms"] = statistics.median(backgrounds) * 1000
        out["hold_ratio"] = out["hold_ms"] / out["forward_ms"]
        out["forward_start_ms"] = statistics.median(start) * 1000
        out["hold_start_ratio"] = out["hold_ms"] / out["forward_start_ms"]
        out["background_ratio"] = out["background_ms"] / out["forward_ms"]
        out["event_mb"] = statistics.median(grown) / MB
        logger.on_train_end()
        images = read_images(log_dir)
        out["cards"] = sum(len(steps[max(steps)]) for steps in images.values() if steps)


def worker(args: argparse.Namespace) -> None:
    """Runs in the subprocess: measures one model, prints one ``RESULT`` JSON line."""
    name = args.worker
    out: dict = {"model": name, "size": MODELS[name]}
    try:
        measure(name, MODELS[name], args.probe, args.events, out, tuple(args.off))
    except BaseException as error:  # reported in the table; the sweep goes on
        import traceback

        traceback.print_exc(file=sys.stderr)
        out["error"] = error_text(error)
    print("RESULT " + json.dumps(out), flush=True)


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Measures ``name`` in a fresh interpreter; a crash or timeout becomes the row's error."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", name,
               "--probe", str(args.probe), "--events", str(args.events),
               *(["--off", *args.off] if args.off else [])]  # fmt: skip
    row: dict = {"model": name, "size": MODELS[name]}
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                              timeout=args.timeout or None, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**row, "error": f"TimeoutExpired: over {args.timeout} s"}
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if results:
        return json.loads(results[-1][len("RESULT ") :])
    why = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    return {**row, "error": f"ProcessDied: {why} (killed for memory?)"}


def cell(row: dict, key: str, spec: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    return str(value).replace("|", "/") if spec == "s" else format(value, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME",
                        help="backbones to measure (default: all)")  # fmt: skip
    parser.add_argument("--probe", type=int, default=8, help="probe images (default 8)")
    parser.add_argument("--events", type=int, default=3, help="timed events (default 3)")
    parser.add_argument("--quick", action="store_true", help="probe 2, 1 event, 2 models")
    parser.add_argument("--off", nargs="+", default=[], choices=OPTIONAL,
                        help="options of the logger to turn off, to see what each costs")
    parser.add_argument("--timeout", type=float, default=3600, help="s per model (0: none)")
    parser.add_argument("--worker", choices=list(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.probe, args.events = 2, 1
        args.models = args.models or QUICK_MODELS
    if args.worker:
        worker(args)
        return
    names = args.models or list(MODELS)
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}"
        for package in ("actlog", "tensorflow", "keras", "numpy")
    )
    load_start = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows, sweep_start = [], time.perf_counter()
    for i, name in enumerate(names, 1):
        print(f"== {i}/{len(names)} {name} ({MODELS[name]}x{MODELS[name]})", file=sys.stderr,
              flush=True)  # fmt: skip
        start = time.perf_counter()
        rows.append(run_one(name, args))
        status = rows[-1].get("error") or "ok"
        print(f"== {name}: {time.perf_counter() - start:.0f} s, {status}", file=sys.stderr,
              flush=True)  # fmt: skip
    print(
        f"actlog backbones: {versions}, Python {platform.python_version()}; {cores} cores "
        f"({platform.machine()}); probe of {args.probe} images, {args.events} timed event(s); "
        f"{'off: ' + ', '.join(args.off) + '; ' if args.off else ''}"
        f"load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
        f"{time.perf_counter() - sweep_start:.0f} s in all.\n"
    )
    print("| " + " | ".join(header for header, _, _ in COLUMNS) + " |")
    print("|" + "|".join("---" if spec == "s" else "---:" for _, _, spec in COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(cell(row, key, spec) for _, key, spec in COLUMNS) + " |")


if __name__ == "__main__":
    main()
