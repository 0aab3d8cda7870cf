"""What layer convergence (linear CKA, ``ActivationLogger(convergence=True)``) costs per event.

Run (from the repository root, with actlog installed)::

    python bench/convergence.py                      # demo CNN, MobileNetV2 and ResNet50 at 224
    python bench/convergence.py --models demo --events 3
    python bench/convergence.py --quick              # smoke run: the demo CNN, 2 events

Models, random weights (seed 0, no download) and a random probe of ``--probe`` images
(``np.random.default_rng(0).random``):

- ``demo``: the demo's digit CNN (``train_example.build_model``), 28x28x1, 2 conv layers;
- ``MobileNetV2`` and ``ResNet50``: ``Input(224, 224, 3) -> Backbone(weights=None,
  include_top=False) -> GlobalAveragePooling2D -> Dense(10)``, as transfer learning uses them.

Two ``ActivationLogger``\\ s with their defaults on the same model, one with
``convergence=True`` (the default) and one with ``convergence=False``, each after
``set_model`` and ``on_train_begin`` (step -1 logged and flushed, untimed). Then ``--events``
rounds, each timing, right after one another and in alternating order (on/off, off/on):

- forward ms: ``model.predict_on_batch(probe)``, the bare forward pass as Keras compiles it;
- hold ms: how long ``logger.on_epoch_end(epoch)`` holds the training thread (the one
  compiled capture, its host copies, the hand-over), with convergence on and off;
- background ms: ``logger.flush()`` right after (statistics, grids, PNGs, writing; and with
  convergence on, the CKA of every logged layer and its records), on and off.

and besides, each timed on its own, so that the noise of whole events does not hide it:

- capture ms: the two loggers' compiled captures alone (``logger._run.capture(probe)``: the
  forward pass, what is cut from each output inside it, the host copies), on and off,
  interleaved, 21 calls each: convergence's work on the device is the rows and channels it
  takes (:func:`actlog.cka.conv_features`) and their copy;
- CKA ms: ``ConvergenceProducer.produce`` alone, on the features the logger with convergence on
  captured (two linear CKAs per layer: to the previous event and to the first);
- features KB: the bytes of the ``(rows, channels)`` float32 features that leave the device
  per event (:func:`actlog.cka.conv_features`: every channel at up to 512 positions); the
  producer keeps two ``rows x rows`` Gram matrices per layer (the first event's and the
  previous one's), Gram KB;
- agreement: a third logger on the same model logs step -1, the model takes one training step
  on the probe (Adam, labels 0), the logger logs step 0; its ``convergence/<layer>`` is compared
  with the debiased CKA over every position and every channel of the same two outputs
  (``tests.test_convergence.whole_layer_cka``, Song et al.'s formula written out), the largest
  difference over the logged layers.

Medians over the events; ratios are of medians, and for the hold also of minima (the least
disturbed event: on a shared machine other work inflates some events by up to 2x); CKA is also
given against the fastest forward pass. Garbage is
collected before each timed span and the collector is off during it. It reads ``logger._run``
(private: the run's producers), acceptable in a benchmark only. Progress goes to stderr,
Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from backbones import timed  # bench/ is on sys.path when a script of it runs

MODELS = {"demo": 28, "MobileNetV2": 224, "ResNet50": 224}
CAPTURE_CALLS = 21


def build(name: str) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    if name == "demo":
        import train_example

        return train_example.build_model()
    size = MODELS[name]
    inp = keras.Input((size, size, 3))
    backbone = getattr(keras.applications, name)
    x = backbone(weights=None, include_top=False, input_shape=(size, size, 3))(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10)(x))


def measure(name: str, probe_size: int, events: int) -> dict:
    import numpy as np

    import actlog
    from actlog.producers import Event
    from actlog.producers.convergence import ConvergenceProducer

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    model = build(name)
    model.compile("adam", "sparse_categorical_crossentropy")
    size = MODELS[name]
    channels = 1 if name == "demo" else 3
    probe = np.random.default_rng(0).random((probe_size, size, size, channels), np.float32)
    for _ in range(2):
        model.predict_on_batch(probe)
    out: dict = {"model": name if name != "demo" else "demo CNN", "size": size}
    with tempfile.TemporaryDirectory(prefix="actlog_convergence_") as root:
        loggers = {}
        for key, on in (("on", True), ("off", False)):
            logger = actlog.ActivationLogger(probe, log_dir=os.path.join(root, key),
                                             convergence=on, on_error="raise", verbose=0)
            logger.set_model(model)
            logger.on_train_begin()
            logger.flush()
            loggers[key] = logger
        out["logged"] = len(loggers["on"].layer_paths)
        times: dict[str, list[float]] = {k: [] for k in ("forward", "hold_on", "hold_off",
                                                         "bg_on", "bg_off")}  # fmt: skip
        for epoch in range(events):
            times["forward"].append(timed(model.predict_on_batch, probe)[1])
            order = ("on", "off") if epoch % 2 == 0 else ("off", "on")
            for key in order:
                times[f"hold_{key}"].append(timed(loggers[key].on_epoch_end, epoch)[1])
                times[f"bg_{key}"].append(timed(loggers[key].flush)[1])
            log(", ".join(f"{k} {v[-1] * 1000:,.1f} ms" for k, v in times.items()))
        for key, values in times.items():
            out[f"{key}_ms"] = statistics.median(values) * 1000
            out[f"{key}_min_ms"] = min(values) * 1000
        run = loggers["on"]._run
        producer = run.producer(ConvergenceProducer)
        features = run.capture(run.probe_x).features
        # The compiled captures alone, on and off, interleaved: what convergence adds on the
        # device (the rows and channels taken, their copy to the host).
        captures = {key: logger._run for key, logger in loggers.items()}
        spans: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(CAPTURE_CALLS):
            for key in ("on", "off") if i % 2 == 0 else ("off", "on"):
                spans[key].append(timed(captures[key].capture, captures[key].probe_x)[1])
        for key, values in spans.items():
            out[f"capture_{key}_ms"] = statistics.median(values) * 1000
            out[f"capture_{key}_min_ms"] = min(values) * 1000
        out["features_kb"] = sum(f.nbytes for f in features.values()) / 1024
        out["shapes"] = ", ".join(f"{tuple(f.shape)}" for f in features.values())
        cka = [timed(producer.produce, Event(events + i, features=features))[1]
               for i in range(20)]  # fmt: skip
        out["cka_ms"] = statistics.median(cka) * 1000
        out["gram_kb"] = sum(s[0] ** 2 * 4 * 2 for s in (f.shape for f in features.values())) / 1024
        with warnings.catch_warnings():  # the dead-filter warning of random weights
            warnings.simplefilter("ignore", RuntimeWarning)
            for logger in loggers.values():
                logger.on_train_end()
            out["agreement"] = agreement(model, probe, os.path.join(root, "agreement"))
    log(f"done: {out}")
    return out


def agreement(model: Any, probe: Any, log_dir: str) -> float:
    """The largest difference, over the logged layers, between the logged CKA across one
    training step and the whole layer's (every position, every channel)."""
    import numpy as np

    import actlog
    from actlog.reader import read_scalars
    from tests.test_convergence import whole_layer_cka

    logger = actlog.ActivationLogger(probe, log_dir=log_dir, stats=False, verbose=0)
    logger.set_model(model)
    logger.on_train_begin()
    before = actlog.extract(model, probe, layers=logger.layer_paths)
    model.train_on_batch(probe, np.zeros(len(probe), int))
    after = actlog.extract(model, probe, layers=logger.layer_paths)
    logger.on_epoch_end(0)
    logger.on_train_end()
    logged = read_scalars(log_dir)
    return max(abs(logged[f"convergence/{path}"][0] - min(1.0, max(0.0, whole_layer_cka(
        before[path], after[path])))) for path in logger.layer_paths)  # fmt: skip


COLUMNS = [  # (header, key, format)
    ("model", "model", "s"), ("size", "size", "d"), ("logged", "logged", "d"),
    ("forward ms", "forward_ms", ",.1f"), ("hold off ms", "hold_off_ms", ",.1f"),
    ("hold on ms", "hold_on_ms", ",.1f"), ("hold on/off", "hold_ratio", ".3f"),
    ("hold on/off (minima)", "hold_min_ratio", ".3f"), ("background off ms", "bg_off_ms", ",.1f"),
    ("background on ms", "bg_on_ms", ",.1f"), ("background on/off", "bg_ratio", ".2f"),
    ("capture off ms", "capture_off_ms", ",.1f"), ("capture on ms", "capture_on_ms", ",.1f"),
    ("capture on/off", "capture_ratio", ".3f"),
    ("capture on/off (minima)", "capture_min_ratio", ".3f"),
    ("CKA ms", "cka_ms", ",.2f"), ("CKA / forward", "cka_ratio", ".3f"),
    ("features KB", "features_kb", ",.0f"), ("features (rows, channels)", "shapes", "s"),
    ("Gram KB kept", "gram_kb", ",.0f"), ("agreement with the whole layer", "agreement", ".4f"),
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--probe", type=int, default=8, help="probe images (default 8)")
    parser.add_argument("--events", type=int, default=11, help="timed events (default 11)")
    parser.add_argument("--quick", action="store_true", help="the demo CNN, 2 events")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.events = ["demo"], 2
    import keras

    versions = ", ".join(f"{p} {importlib.metadata.version(p)}"
                         for p in ("actlog", "keras", "numpy"))  # fmt: skip
    load_start, start = os.getloadavg()[0], time.perf_counter()
    rows = [measure(name, args.probe, args.events) for name in args.models]
    for row in rows:
        row["hold_ratio"] = row["hold_on_ms"] / row["hold_off_ms"]
        row["hold_min_ratio"] = row["hold_on_min_ms"] / row["hold_off_min_ms"]
        row["bg_ratio"] = row["bg_on_ms"] / row["bg_off_ms"]
        row["capture_ratio"] = row["capture_on_ms"] / row["capture_off_ms"]
        row["capture_min_ratio"] = row["capture_on_min_ms"] / row["capture_off_min_ms"]
        row["cka_ratio"] = row["cka_ms"] / row["forward_min_ms"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"actlog convergence: {versions}, Keras backend {keras.backend.backend()}, Python "
          f"{platform.python_version()}; {cores} cores ({platform.machine()}); probe of "
          f"{args.probe}, {args.events} timed events; load average {load_start:.2f} at the "
          f"start, {os.getloadavg()[0]:.2f} at the end; {time.perf_counter() - start:.0f} s.\n")
    print("| " + " | ".join(header for header, _, _ in COLUMNS) + " |")
    print("|" + "|".join("---" if spec == "s" else "---:" for _, _, spec in COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(format(row[key], spec) if spec != "s" else str(row[key])
                                for _, key, spec in COLUMNS) + " |")  # fmt: skip


if __name__ == "__main__":
    main()
