"""What a whole ``fit`` costs with ``ActivationLogger`` (its defaults) against without: wall-clock
per epoch, peak memory, and where the background writer's time goes.

Run (from the repository root, with actlog installed)::

    python bench/fit.py                                   # every model, 10 100 500 steps (hours)
    python bench/fit.py --models demo scratch --steps 10 100 --epochs 3
    python bench/fit.py --models conv3d --volume 128 --steps 10   # the 128x128x64 volumes
    python bench/fit.py --quick                           # smoke run: the demo, 10 steps
    python bench/fit.py --models resnet50 --steps 100 --same-process --epochs 7

Models, random weights (seed 0, no download), trained on one random batch repeated (a
``keras.utils.PyDataset`` of ``--steps`` batches: any number of steps costs no memory), the
probe the first 8 samples of that batch:

- ``demo``: the demo's digit CNN (``train_example.build_model``), 28x28x1, batch 32;
- ``scratch``: keras-io's "image classification from scratch" model (separable-conv residual
  blocks, as its ``make_model``), 96x96x3, batch 16;
- ``resnet50``: ``keras.applications.ResNet50(weights=None)`` at 224, 10 classes, batch 2;
- ``conv3d``: keras-io's 3D image classification model (four Conv3D + pooling +
  BatchNormalization blocks), ``--volume`` (128: 128x128x64 volumes, as keras-io; 64: 64x64x32,
  its convs padded "same" so that four blocks fit), batch 2;
- ``convlstm``: keras-io's next-frame prediction model (three ConvLSTM2D + BatchNormalization,
  a Conv3D head), 10 frames of 32x32, batch 4.

Each (model, steps) pair runs ``--repeats`` times in each of two fresh processes, without and
with the logger, alternating which goes first. In each: ``fit`` for ``--epochs`` epochs, the
epochs' wall-clock seconds from a callback (the first epoch, which compiles, is left out of the
mean), the peak resident memory (``ru_maxrss``), and with the logger its
``background_seconds`` (per producer, per sink) and the TensorBoard sink's PNG-encoding seconds,
per logging event, against the probe's bare forward pass (``predict_on_batch``, median of 5,
timed after the fit). Progress goes to stderr, Markdown tables to stdout.

``--same-process`` times with and without inside one process and one ``fit`` instead, so that
a process whose steps all run slower (seen here: 2x on ResNet50 between two processes) cannot
pass for the logger's cost: the epochs alternate, without and with (the logger sees the train
begin, the batches and the end, and the ends of every other epoch only), and a "with" epoch's
clock stops only after ``logger.flush()``, so the background work of its event counts in that
epoch, not in the next one. That is an upper bound: in a plain fit that work overlaps the next
epoch's steps. Epoch 0 (compiling) is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = ("demo", "scratch", "resnet50", "conv3d", "convlstm")


def build(name: str, volume: int) -> tuple[Any, tuple[int, ...], int, int]:
    """The model (compiled), its input shape, batch size and class count."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    if name == "demo":
        sys.path.insert(0, ROOT)
        import train_example

        model, shape, batch, classes = train_example.build_model(), (28, 28, 1), 32, 10
    elif name == "scratch":
        shape, batch, classes = (96, 96, 3), 16, 2
        inputs = keras.Input(shape)
        x = layers.Rescaling(1.0 / 255)(inputs)
        x = layers.Conv2D(128, 3, strides=2, padding="same")(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        previous = x
        for size in (256, 512, 728):
            for _ in range(2):
                x = layers.Activation("relu")(x)
                x = layers.BatchNormalization()(layers.SeparableConv2D(size, 3, padding="same")(x))
            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
            residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous)
            x = previous = layers.add([x, residual])
        x = layers.SeparableConv2D(1024, 3, padding="same")(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.Dropout(0.25)(layers.GlobalAveragePooling2D()(x))
        model = keras.Model(inputs, layers.Dense(classes)(x))
    elif name == "resnet50":
        shape, batch, classes = (224, 224, 3), 2, 10
        inputs = keras.Input(shape)
        x = keras.applications.ResNet50(weights=None, include_top=False, input_shape=shape)(inputs)
        model = keras.Model(inputs, layers.Dense(classes)(layers.GlobalAveragePooling2D()(x)))
    elif name == "conv3d":
        depth = volume // 2
        shape, batch, classes = (volume, volume, depth, 1), 2, 2
        inputs = keras.Input(shape)
        x = inputs
        # keras-io's model is for 128x128x64 (valid convs); at 64x64x32 the fourth block would
        # get a depth of 2, so there the convs keep their size ("same").
        padding = "valid" if volume == 128 else "same"
        for filters in (64, 64, 128, 256):
            x = layers.Conv3D(filters, 3, activation="relu", padding=padding)(x)
            x = layers.BatchNormalization()(layers.MaxPool3D(2)(x))
        x = layers.Dropout(0.3)(layers.Dense(512, activation="relu")(
            layers.GlobalAveragePooling3D()(x)))  # fmt: skip
        model = keras.Model(inputs, layers.Dense(classes)(x))
    elif name == "convlstm":
        shape, batch, classes = (10, 32, 32, 1), 4, 0
        inputs = keras.Input(shape)
        x = inputs
        for kernel in (5, 3, 1):
            x = layers.ConvLSTM2D(32, kernel, padding="same", return_sequences=True,
                                  activation="relu")(x)  # fmt: skip
            x = layers.BatchNormalization()(x)
        model = keras.Model(inputs, layers.Conv3D(1, 3, padding="same",
                                                  activation="sigmoid")(x))  # fmt: skip
    else:
        raise ValueError(name)
    if classes:
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    else:
        model.compile("adam", "binary_crossentropy")
    return model, shape, batch, classes


def fit_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The model, a ``PyDataset`` of ``args.steps`` copies of one random batch, and the probe
    (its first 8 samples)."""
    import keras
    import numpy as np

    model, shape, batch, classes = build(args.model, args.volume)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = rng.integers(0, classes, batch) if classes else (x > 0.5).astype(np.float32)

    class Repeat(keras.utils.PyDataset):
        def __len__(self) -> int:
            return args.steps

        def __getitem__(self, index: int) -> tuple[Any, Any]:
            return x, y

    return model, Repeat(), np.concatenate([x] * (-(-8 // batch)))[:8]


def worker(args: argparse.Namespace) -> None:
    """One fit in this process; prints one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    import keras

    import actlog

    model, data, probe = fit_inputs(args)

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seconds.append(time.perf_counter() - self.start)

    seconds: list[float] = []
    callbacks: list[Any] = [Clock()]
    with tempfile.TemporaryDirectory() as log_dir:
        logger = None
        if args.logger:
            logger = actlog.ActivationLogger(probe, log_dir=log_dir, verbose=0)
            callbacks.append(logger)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, epochs=args.epochs, verbose=0, callbacks=callbacks)
        out: dict[str, Any] = {"epoch_seconds": seconds,
                               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                               / 1024}  # fmt: skip
        if logger is not None:
            model.predict_on_batch(probe)  # compiled; then the probe's bare forward pass, timed
            times = []
            for _ in range(5):
                start = time.perf_counter()
                model.predict_on_batch(probe)
                times.append(time.perf_counter() - start)
            out["forward"] = statistics.median(times)
            events = args.epochs + 1  # step -1 and each epoch
            out["events"] = events
            out["background"] = {k: v / events for k, v in logger.background_seconds.items()}
            out["encode"] = sum(getattr(s, "encode_seconds", 0.0) for s in logger.sinks) / events
            out["layers"] = len(logger.layer_paths)
    print(json.dumps(out))


def worker_alternate(args: argparse.Namespace) -> None:
    """One fit in this process whose epochs alternate without and with the logger; prints one
    JSON line: the epoch seconds of each."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    import keras

    import actlog

    model, data, probe = fit_inputs(args)

    epochs: list[tuple[bool, float]] = []  # (with the logger, seconds), epoch 1 on

    class Alternate(keras.callbacks.Callback):
        """Passes the logger every hook but the ends of even epochs; times each epoch, a "with"
        epoch up to the end of its event's background work."""

        def __init__(self, logger: Any) -> None:
            super().__init__()
            self.logger = logger

        def set_model(self, model: Any) -> None:
            super().set_model(model)
            self.logger.set_model(model)

        def set_params(self, params: Any) -> None:
            super().set_params(params)
            self.logger.set_params(params)

        def on_train_begin(self, logs: Any = None) -> None:
            self.logger.on_train_begin(logs)

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.logger.on_train_batch_begin(batch, logs)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            with_logger = epoch % 2 == 1
            if with_logger:
                self.logger.on_epoch_end(epoch, logs)
                self.logger.flush()
            if epoch:
                epochs.append((with_logger, time.perf_counter() - self.start))

        def on_train_end(self, logs: Any = None) -> None:
            self.logger.on_train_end(logs)

    with tempfile.TemporaryDirectory() as log_dir:
        logger = actlog.ActivationLogger(probe, log_dir=log_dir, verbose=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, epochs=args.epochs, verbose=0, callbacks=[Alternate(logger)])
        background = sum(logger.background_seconds.values())
    print(json.dumps({"epochs": epochs, "background": background}))


def same_process(args: argparse.Namespace) -> None:
    """The ``--same-process`` table: per model and steps, one process, one fit."""
    print(f"actlog whole-fit cost in one process: Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, one fit of {args.epochs} epochs alternating without and with "
          f"the logger (epoch 0 left out; a \"with\" epoch includes its event's background "
          f"work), conv3d volumes {args.volume}.\n")  # fmt: skip
    print("| model | steps/epoch | epochs without | with | median s without | median s with | "
          "with/without (medians) | with/without (minima) | background s/event | each epoch, s (+ "
          "with, - without) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for model in args.models:
        for steps in args.steps:
            print(f"[{model} {steps} steps] one process ...", file=sys.stderr, flush=True)
            command = [sys.executable, os.path.abspath(__file__), "--worker-alternate",
                       "--model", model, "--steps", str(steps), "--epochs", str(args.epochs),
                       "--volume", str(args.volume)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{model} steps={steps}: {done.stderr[-2000:]}")
            out = json.loads(done.stdout.strip().splitlines()[-1])
            without = [s for on, s in out["epochs"] if not on]
            with_ = [s for on, s in out["epochs"] if on]
            each = " ".join(f"{'+' if on else '-'}{s:.2f}" for on, s in out["epochs"])
            print(f"| {model} | {steps} | {len(without)} | {len(with_)} | "
                  f"{statistics.median(without):.2f} | {statistics.median(with_):.2f} | "
                  f"{statistics.median(with_) / statistics.median(without):.3f} | "
                  f"{min(with_) / min(without):.3f} | "
                  f"{out['background'] / (len(with_) + 1):.3f} | {each} |",
                  flush=True)  # fmt: skip


def run_one(model: str, steps: int, logger: bool, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--model", model,
               "--steps", str(steps), "--epochs", str(args.epochs), "--volume",
               str(args.volume)] + (["--logger"] if logger else [])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{model} steps={steps} logger={logger}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--steps", nargs="+", type=int, default=[10, 100, 500])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (default 3)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--volume", type=int, default=64, choices=(64, 128))
    parser.add_argument("--quick", action="store_true", help="the demo, 10 steps, 2 epochs")
    parser.add_argument("--same-process", action="store_true",
                        help="with and without alternating epochs in one fit (see above)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-alternate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--logger", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.steps = args.steps[0]
        return worker(args)
    if args.worker_alternate:
        args.steps = args.steps[0]
        return worker_alternate(args)
    if args.quick:
        args.models, args.steps, args.epochs = ["demo"], [10], 2
    if args.same_process:
        if args.epochs < 3:
            parser.error(f"--same-process needs at least 3 epochs (epoch 0 is left out, then "
                         f"one with and one without); got --epochs {args.epochs}")
        return same_process(args)
    print(f"actlog whole-fit cost: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{args.epochs} epochs per fit (the first left out), {args.repeats} repeat(s), "
          f"conv3d volumes {args.volume}.\n")
    print("| model | steps/epoch | epoch s without | epoch s with | with/without | peak RSS "
          "without MB | with MB | growth MB | background s/event | forward s | background "
          "/ forward | of which PNG encoding | per producer and sink, s/event |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for model in args.models:
        for steps in args.steps:
            runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
            for repeat in range(args.repeats):
                for logger in ((False, True) if repeat % 2 == 0 else (True, False)):
                    print(f"[{model} {steps} steps] logger={logger} ...", file=sys.stderr,
                          flush=True)  # fmt: skip
                    runs[logger].append(run_one(model, steps, logger, args))
            epoch = {k: statistics.mean(s for r in v for s in r["epoch_seconds"][1:])
                     for k, v in runs.items()}  # fmt: skip
            rss = {k: max(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
            with_runs = runs[True]
            background = statistics.mean(sum(r["background"].values()) for r in with_runs)
            encode = statistics.mean(r["encode"] for r in with_runs)
            forward = statistics.median(r["forward"] for r in with_runs)
            parts: dict[str, float] = {}
            for r in with_runs:
                for key, value in r["background"].items():
                    parts[key] = parts.get(key, 0.0) + value / len(with_runs)
            split = ", ".join(f"{k} {v:.3f}" for k, v in sorted(parts.items(), key=lambda i: -i[1]))
            print(f"| {model} | {steps} | {epoch[False]:.2f} | {epoch[True]:.2f} | "
                  f"{epoch[True] / epoch[False]:.3f} | {rss[False]:,.0f} | {rss[True]:,.0f} | "
                  f"{rss[True] - rss[False]:+,.0f} | {background:.3f} | {forward:.3f} | "
                  f"{background / forward:.1f} | {encode:.3f} | {split} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
