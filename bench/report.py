"""What the report (``actlog report``, and ``report=True`` at train end) costs: seconds, peak
memory and megabytes, against reading the same event files with TensorBoard's own loader.

Run (from the repository root, with actlog installed)::

    python bench/report.py                        # the demo's run and a 100-event ResNet50 run
    python bench/report.py --models resnet50 --events 300

Each run is written first, its logger's defaults but ``report=False``: ``demo`` trains the
demo's digit CNN (``train_example.build_model``) on the project's synthetic digits for
``--events`` - 1 epochs; ``resnet50`` (``weights=None``, 224, probe 8) calls the logger's hooks
by hand, ``--events`` - 1 epoch ends, no training (what is logged is the same size). Then, in a
fresh process each (so the peak memory is the reader's): ``write_report`` of the run with its
default bound, and, side by side, TensorBoard's ``EventAccumulator`` loading the same files (all
tensors kept), the naive way to read them. Markdown to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write_run(name: str, events: int, log_dir: str) -> None:
    import keras
    import numpy as np

    import actlog

    keras.utils.set_random_seed(0)
    if name == "demo":
        sys.path.insert(0, ROOT)
        import train_example
        from actlog.datasets import synthetic_digits

        x, y = synthetic_digits(512, seed=0)
        model = train_example.build_model()
        model.compile("adam", "sparse_categorical_crossentropy")
        logger = actlog.ActivationLogger((x[:8], y[:8]), log_dir=log_dir, verbose=0, report=False)
        model.fit(x, y, epochs=events - 1, batch_size=64, verbose=0, callbacks=[logger])
        return
    inp = keras.Input((224, 224, 3))
    x = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(224, 224, 3))(inp)
    model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    probe = np.random.default_rng(0).random((8, 224, 224, 3), dtype=np.float32)
    logger = actlog.ActivationLogger(probe, log_dir=log_dir, verbose=0, report=False)
    logger.set_model(model)
    logger.on_train_begin()
    for epoch in range(events - 1):
        logger.on_epoch_end(epoch)
    logger.on_train_end()


def measure(how: str, log_dir: str) -> dict[str, float]:
    """In this process: the report, or TensorBoard's loader, on ``log_dir``."""
    start = time.perf_counter()
    if how == "report":
        from actlog.view.report import write_report

        report = write_report(log_dir, os.path.join(log_dir, "report.html"))
        out = {"mb": report.bytes / 1e6, "shown": report.steps_shown,
               "logged": report.steps_logged}  # fmt: skip
    else:
        from tensorboard.backend.event_processing.plugin_event_accumulator import (
            EventAccumulator,
        )

        EventAccumulator(log_dir, size_guidance={"tensors": 0}).Reload()
        out = {}
    sys.path.insert(0, HERE)
    from backbones import peak_rss_mb  # VmHWM: ru_maxrss keeps the parent's across exec

    peak = peak_rss_mb()
    return {**out, "seconds": time.perf_counter() - start, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=("demo", "resnet50"),
                        default=["demo", "resnet50"])  # fmt: skip
    parser.add_argument("--events", type=int, default=0,
                        help="logged events (default: demo 41, resnet50 101)")  # fmt: skip
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(*args.worker)))
        return
    print("| run | events | event files MB | report s | report MB | steps shown | its process's "
          "peak RSS MB | TensorBoard's loader s | its process's peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        events = args.events or (41 if name == "demo" else 101)
        with tempfile.TemporaryDirectory(prefix="actlog_report_") as log_dir:
            print(f"[{name}] writing {events} events ...", file=sys.stderr, flush=True)
            write_run(name, events, log_dir)
            files_mb = sum(os.path.getsize(os.path.join(log_dir, f))
                           for f in os.listdir(log_dir) if "tfevents" in f) / 1e6  # fmt: skip
            results = {}
            for how in ("report", "tensorboard"):
                done = subprocess.run([sys.executable, __file__, "--worker", how, log_dir],
                                      capture_output=True, text=True, check=True)  # fmt: skip
                results[how] = json.loads(done.stdout.strip().splitlines()[-1])
        r, t = results["report"], results["tensorboard"]
        print(f"| {name} | {events} | {files_mb:.1f} | {r['seconds']:.2f} | {r['mb']:.1f} | "
              f"{r['shown']} of {r['logged']} | {r['peak_mb']:,.0f} | {t['seconds']:.2f} | "
              f"{t['peak_mb']:,.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
