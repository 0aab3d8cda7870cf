"""What one actlog logging event costs, against the cost floor and the naive way.

Run (from the repository root, with actlog installed)::

    python bench/run.py                 # 10 repeats, probe of 16 images (about 2 min on 2 cores)
    python bench/run.py --quick         # smoke run: 2 repeats
    python bench/run.py --repeats 20 --probe 8

Two models, side by side, each fed a fixed random probe of ``--probe`` images:

* ``demo CNN``: the demo's digit CNN (28x28x1, 2 Conv2D layers);
* ``MobileNetV2 96``: ``keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)``
  with ``layers="conv"`` (52 Conv2D and DepthwiseConv2D layers).

Every figure is wall-clock milliseconds for ONE logging event: the median and the 90th
percentile over ``--repeats`` timed events (each method is warmed up first: the first call
traces). The methods run interleaved, one event each per repeat, with garbage collected before
and the collector paused during each timed span. Other programs on the machine skew wall
times: the load average is printed at the start and the end. The rows:

actlog phases (actlog's own objects, used the way ``ActivationLogger`` uses them)
  forward        ``FeatureExtractor.__call__``: the compiled feature model, built and traced
                 once, and the copy of every chosen layer's output to host NumPy arrays.
  render         ``GridRenderer.render`` for every layer: normalization to uint8 and tiling.
  encode+write   ``TensorBoardSink.write_images`` for every layer (actlog's PNG encoder: no
                 row filter, zlib level 1; event records through ``tf.io.TFRecordWriter``)
                 and ``TensorBoardSink.flush``.
  total          the sum of the three, timed as one span.
floor (the least any implementation must spend)
  forward        the same compiled forward pass and host copy.
  encode         ``tf.io.encode_png`` of the same uint8 grids, one call per image; no
                 normalization, no tiling, no writing.
  total          forward + encode, timed as one span.
  per layer      (outside the floor) ``tf.io.encode_png`` once per layer on the whole batch of
                 grids, as ``tf.summary.image`` calls it; TensorFlow may spread a batch over
                 its threads, so on 2 cores this can beat the one-call-per-image floor.
  zlib-1         (outside the floor) actlog's PNG encoder alone on the same grids (NumPy and
                 ``zlib.compress(level=1)``, no row filter), without writing.
naive (as tf-explain does it: nothing is kept from one event to the next)
  predict        rebuild ``keras.Model(model.inputs[0], [layer.output, ...])`` and call
                 ``.predict(probe, verbose=0)`` (which retraces every time).
  norm+tile      per-map min-max to uint8 in Python loops over samples and filters, tiled into
                 the same layout as actlog's grids (same filters, same upscaling).
  encode+write   a fresh ``tf.summary.create_file_writer``, one ``tf.summary.image`` per layer
                 with all images (it PNG-encodes each image with ``tf.image.encode_png``),
                 then ``close``.
  total          the sum of the three, timed as one span.
callback end-to-end (``ActivationLogger(probe, log_dir=tmp)``, ``set_model``, ``on_train_begin``)
  returns        one ``on_epoch_end(epoch)`` call: the time training is held up. When the
                 logger renders and writes on a background thread, this is only the forward
                 pass, the host copy and the hand-over.
  + flush        ``on_epoch_end(epoch)`` then ``ActivationLogger.flush()`` (where it exists):
                 the time until the event is on disk, everything included. Nothing else
                 runs meanwhile, so the background thread is not competing with the next
                 method's timing.

Then the ratios (actlog total / floor total, naive / actlog total, callback / actlog total,
each phase's share of actlog's total) and the data sizes of one event (activation floats,
grids, megapixels, PNG bytes, bytes the event file grows by). All writing goes to a temporary
directory that is deleted at the end.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

import actlog
from actlog import FeatureExtractor, GridRenderer, TensorBoardSink, select_layers
from actlog.probe import make_probe
from actlog.sinks.png import encode_png

tf.get_logger().setLevel("ERROR")  # the naive way's retracing warnings, every event
layers = keras.layers

#: Row keys, in print order, with their labels.
ROWS = (
    ("actlog.forward", "actlog: forward (extract + host copy)"),
    ("actlog.render", "actlog: normalize + tile (render)"),
    ("actlog.write", "actlog: encode + write (sink)"),
    ("actlog.total", "**actlog: total**"),
    ("floor.forward", "floor: forward"),
    ("floor.encode", "floor: encode_png, one call per image"),
    ("floor.total", "**floor: total**"),
    ("floor.batched", "(ref.) encode_png, one call per layer"),
    ("ref.zlib", "(ref.) actlog's PNG encoder alone (no filter, zlib 1)"),
    ("naive.predict", "naive: rebuild model + predict"),
    ("naive.render", "naive: min-max loops + tile"),
    ("naive.write", "naive: fresh writer + summary.image"),
    ("naive.total", "**naive: total**"),
    ("callback.blocked", "**callback: on_epoch_end returns**"),
    ("callback.written", "**callback: on_epoch_end + flush**"),
)


def demo_cnn() -> keras.Model:
    """The demo's digit CNN."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ],
        name="demo_cnn",
    )


def mobilenet() -> keras.Model:
    """MobileNetV2 on 96x96 RGB, random weights (no download)."""
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)


@dataclass
class Case:
    """One model under test and everything measured on it."""

    label: str
    model: keras.Model
    probe: np.ndarray
    times: dict[str, list[float]] = field(default_factory=dict)
    sizes: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, start: float, end: float) -> None:
        """Records the span from ``start`` to ``end`` (``time.perf_counter`` seconds) in ms."""
        self.times.setdefault(key, []).append((end - start) * 1000.0)

    def clear(self) -> None:
        self.times.clear()


def dir_bytes(path: str) -> int:
    """Total size of the files under ``path``."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


class Quiet:
    """Collects garbage before a timed span and keeps the collector off during it."""

    def __enter__(self) -> Quiet:
        gc.collect()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.enable()


class ActlogPhases:
    """actlog's extractor, renderer and sink, each phase timed on its own.

    The same calls the callback's logging event makes, with the callback's options; the
    callback renders and writes layer by layer, this renders every layer, then writes.
    """

    def __init__(self, case: Case, log_dir: str, reference: actlog.ActivationLogger) -> None:
        self.case = case
        self.refs = select_layers(case.model, "conv")
        self.paths = [ref.path for ref in self.refs]
        self.extractor = FeatureExtractor(case.model, self.refs)
        o = reference.options  # the callback's own options (its defaults)
        self.renderer = GridRenderer(
            o.normalize, o.max_filters, o.cmap, o.min_tile_size, o.max_image_size
        )
        self.sink = TensorBoardSink(log_dir)
        self.sink.open()
        self.captions = make_probe(case.probe).captions()
        self.x = case.probe

    def event(self, step: int) -> None:
        with Quiet():
            t0 = time.perf_counter()
            maps = self.extractor(self.x)
            t1 = time.perf_counter()
            grids = [self.renderer.render(path, maps[path]) for path in self.paths]
            t2 = time.perf_counter()
            for ref, grid in zip(self.refs, grids, strict=True):
                description = (
                    f"Feature maps of layer `{ref.path}` ({type(ref.layer).__name__}), one "
                    f"image per probe sample: filters 0-{grid.filters_shown - 1} of "
                    f"{grid.filters_total}, '{self.renderer.normalize}' normalization."
                )
                self.sink.write_images(
                    f"activations/{ref.path}", grid.images, step, self.captions, description
                )
            self.sink.flush()
            t3 = time.perf_counter()
        self.case.add("actlog.forward", t0, t1)
        self.case.add("actlog.render", t1, t2)
        self.case.add("actlog.write", t2, t3)
        self.case.add("actlog.total", t0, t3)

    def grids(self) -> list[np.ndarray]:
        """The uint8 grids of one event (the floor encodes exactly these)."""
        maps = self.extractor(self.x)
        return [self.renderer.render(path, maps[path]).images for path in self.paths]


class Floor:
    """The same compiled forward pass, then ``tf.io.encode_png`` of ready uint8 grids.

    Two more encodings of the same grids are timed on their own, outside the floor's span:
    ``tf.io.encode_png`` once per layer on the whole batch (as ``tf.summary.image`` calls it;
    TensorFlow may spread a batch over its threads), and actlog's own encoder alone
    (:func:`actlog.sinks.png.encode_png`).
    """

    def __init__(self, case: Case, phases: ActlogPhases) -> None:
        self.case = case
        self.extractor = phases.extractor
        self.x = case.probe
        self.batches = phases.grids()
        self.images = [image for grids in self.batches for image in grids]

    def encode_all(self) -> int:
        return sum(len(tf.io.encode_png(image).numpy()) for image in self.images)

    def encode_all_zlib(self) -> int:
        return sum(len(encode_png(image)) for image in self.images)

    def event(self) -> None:
        with Quiet():
            t0 = time.perf_counter()
            self.extractor(self.x)
            t1 = time.perf_counter()
            for image in self.images:
                tf.io.encode_png(image)
            t2 = time.perf_counter()
        self.case.add("floor.forward", t0, t1)
        self.case.add("floor.encode", t1, t2)
        self.case.add("floor.total", t0, t2)
        with Quiet():
            t0 = time.perf_counter()
            for grids in self.batches:
                tf.io.encode_png(grids)
            t1 = time.perf_counter()
            for image in self.images:
                encode_png(image)
            t2 = time.perf_counter()
        self.case.add("floor.batched", t0, t1)
        self.case.add("ref.zlib", t1, t2)


def naive_grids(activation: np.ndarray, max_filters: int | None, min_tile: int) -> np.ndarray:
    """Per-map min-max normalization in Python loops, tiled like actlog's grids (uint8)."""
    maps = activation[..., :max_filters]
    batch, h, w, count = maps.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    factor = max(1, math.ceil(min_tile / min(h, w)))
    th, tw = h * factor, w * factor
    grid = np.full((batch, rows * (th + 1) - 1, cols * (tw + 1) - 1, 1), 128, np.uint8)
    for i in range(batch):
        for f in range(count):
            m = maps[i, :, :, f]
            lo, hi = m.min(), m.max()
            unit = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
            tile = (unit * 255).astype(np.uint8).repeat(factor, 0).repeat(factor, 1)
            r, c = divmod(f, cols)
            grid[i, r * (th + 1) : r * (th + 1) + th, c * (tw + 1) : c * (tw + 1) + tw, 0] = tile
    return grid


class Naive:
    """tf-explain's way: rebuild, predict, loop, and a fresh writer every event."""

    def __init__(self, case: Case, phases: ActlogPhases, log_root: str) -> None:
        self.case = case
        self.layers = [ref.layer for ref in phases.refs]
        self.max_filters = phases.renderer.max_filters
        self.min_tile = phases.renderer.min_tile_size
        self.log_root = log_root
        self.written: list[int] = []

    def event(self, step: int) -> None:
        model = self.case.model
        log_dir = os.path.join(self.log_root, f"event_{step}")
        with Quiet():
            t0 = time.perf_counter()
            sub = keras.Model(model.inputs[0], [layer.output for layer in self.layers])
            outputs = sub.predict(self.case.probe, verbose=0)
            if not isinstance(outputs, list | tuple):
                outputs = [outputs]
            t1 = time.perf_counter()
            grids = [naive_grids(a, self.max_filters, self.min_tile) for a in outputs]
            t2 = time.perf_counter()
            writer = tf.summary.create_file_writer(log_dir)
            with writer.as_default():
                for layer, grid in zip(self.layers, grids, strict=True):
                    tf.summary.image(layer.name, grid, step=step, max_outputs=len(grid))
            writer.close()
            t3 = time.perf_counter()
        self.written.append(dir_bytes(log_dir))
        shutil.rmtree(log_dir, ignore_errors=True)
        self.case.add("naive.predict", t0, t1)
        self.case.add("naive.render", t1, t2)
        self.case.add("naive.write", t2, t3)
        self.case.add("naive.total", t0, t3)


class CallbackRun:
    """The real callback, driven through the Keras callback hooks."""

    def __init__(self, case: Case, log_dir: str) -> None:
        self.case = case
        self.log_dir = log_dir
        # on_error="raise": a failure must stop the benchmark, not time a no-op.
        self.logger = actlog.ActivationLogger(case.probe, log_dir=log_dir, on_error="raise")
        self.logger.set_model(case.model)
        self.logger.on_train_begin()  # builds, traces and logs step -1
        self.written: list[int] = []

    def event(self, epoch: int) -> None:
        before = dir_bytes(self.log_dir)
        flush = getattr(self.logger, "flush", None)  # a background writer to wait for
        with Quiet():
            t0 = time.perf_counter()
            self.logger.on_epoch_end(epoch)
            t1 = time.perf_counter()
            if flush is not None:
                flush()
            t2 = time.perf_counter()
        self.written.append(dir_bytes(self.log_dir) - before)
        self.case.add("callback.blocked", t0, t1)
        self.case.add("callback.written", t0, t2)

    def close(self) -> None:
        self.logger.on_train_end()  # with on_error="raise": raises a failure held back
        failures = getattr(self.logger, "sink_failures", None)
        if failures:
            raise RuntimeError(f"actlog's sinks failed during the benchmark: {failures}")


def run_case(case: Case, repeats: int, warmup: int, root: str) -> None:
    """Times every method on ``case``, interleaved repeat by repeat."""
    t_setup = time.perf_counter()
    callback = CallbackRun(case, os.path.join(root, "callback"))
    phases = ActlogPhases(case, os.path.join(root, "phases"), callback.logger)
    floor = Floor(case, phases)
    naive = Naive(case, phases, os.path.join(root, "naive"))
    maps = phases.extractor(case.probe)
    grids = phases.grids()
    case.sizes = {
        "layers": len(phases.refs),
        "activation floats (M)": sum(a.size for a in maps.values()) / 1e6,
        "activation MiB": sum(a.nbytes for a in maps.values()) / 2**20,
        "of which tiled (first max_filters) MiB": sum(
            a[..., : phases.renderer.max_filters].nbytes for a in maps.values()
        )
        / 2**20,
        "grids (images)": sum(len(g) for g in grids),
        "megapixels": sum(g[..., 0].size for g in grids) / 1e6,
        "megapixels before upscaling": sum(
            a[..., : phases.renderer.max_filters].size for a in maps.values()
        )
        / 1e6,
        "PNG MiB (encode_png)": floor.encode_all() / 2**20,
        "PNG MiB (NumPy + zlib-1)": floor.encode_all_zlib() / 2**20,
    }
    phase_dir = os.path.join(root, "phases")
    phase_bytes: list[int] = []
    for step in range(warmup + repeats):
        if step == warmup:  # drop the warm-up events' timings
            case.clear()
            phase_bytes.clear()
            naive.written.clear()
            callback.written.clear()
        before = dir_bytes(phase_dir)
        phases.event(step)
        phase_bytes.append(dir_bytes(phase_dir) - before)
        floor.event()
        naive.event(step)
        callback.event(step)
    callback.close()
    phases.sink.close()
    case.sizes["event file MiB (actlog)"] = float(np.median(phase_bytes)) / 2**20
    case.sizes["event file MiB (callback)"] = float(np.median(callback.written)) / 2**20
    case.sizes["event file MiB (naive)"] = float(np.median(naive.written)) / 2**20
    case.sizes["bench wall s"] = time.perf_counter() - t_setup


def stat(values: Sequence[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 90))


def fmt(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def report(cases: list[Case], repeats: int) -> None:
    """Prints the times, the ratios and the data sizes as Markdown tables."""
    header = ["ms per event"]
    for case in cases:
        header += [f"{case.label} median", "p90"]
    rows = []
    for key, label in ROWS:
        row = [label]
        for case in cases:
            row += [fmt(value) for value in stat(case.times[key])]
        rows.append(row)
    print_table(f"Times of one logging event (median and p90 of {repeats})", header, rows)

    def ratio(case: Case, top: str, bottom: str) -> float:
        return stat(case.times[top])[0] / stat(case.times[bottom])[0]

    ratios = [
        ("actlog total / floor total", "actlog.total", "floor.total"),
        ("naive total / actlog total", "naive.total", "actlog.total"),
        ("callback + flush / actlog total", "callback.written", "actlog.total"),
        ("callback returns / actlog total", "callback.blocked", "actlog.total"),
        ("actlog forward / floor forward", "actlog.forward", "floor.forward"),
        ("actlog encode+write / floor encode", "actlog.write", "floor.encode"),
        ("actlog encode+write / encode_png per layer", "actlog.write", "floor.batched"),
        ("NumPy + zlib-1 / encode_png per image", "ref.zlib", "floor.encode"),
    ]
    rows = [
        [label, *(f"{ratio(c, top, bottom):.2f}x" for c in cases)] for label, top, bottom in ratios
    ]
    for key, label in [
        ("forward", "forward"),
        ("render", "normalize + tile"),
        ("write", "encode + write"),
    ]:
        shares = [f"{100 * ratio(c, f'actlog.{key}', 'actlog.total'):.0f}%" for c in cases]
        rows.append([f"share of actlog total: {label}", *shares])
    print_table("Ratios (of medians)", ["", *(c.label for c in cases)], rows)

    print_table(
        "Data of one logging event",
        ["", *(c.label for c in cases)],
        [[key, *(fmt(float(c.sizes[key])) for c in cases)] for key in cases[0].sizes],
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed events per method")
    parser.add_argument("--probe", type=int, default=16, help="probe images")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repeats")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    warmup = 1
    if repeats < 1 or args.probe < 1:
        parser.error("--repeats and --probe must be >= 1")

    print(
        f"actlog {actlog.__version__} | Python {platform.python_version()} | TensorFlow "
        f"{tf.__version__} | Keras {keras.__version__} ({keras.backend.backend()}) | "
        f"NumPy {np.__version__} | {os.cpu_count()} CPU cores | "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))} | {platform.machine()}"
    )
    print(f"probe {args.probe} images, {repeats} timed events after {warmup} warm-up(s)")
    print(f"load average at start: {load()} (timings are wall-clock: other work skews them)")

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cases = [
        Case("demo CNN", demo_cnn(), rng.random((args.probe, 28, 28, 1), dtype=np.float32)),
        Case("MobileNetV2 96", mobilenet(), rng.random((args.probe, 96, 96, 3), dtype=np.float32)),
    ]
    root = tempfile.mkdtemp(prefix="actlog_bench_")
    try:
        for case in cases:
            print(f"  {case.label}: running ...", end=" ", flush=True)
            run_case(case, repeats, warmup, os.path.join(root, case.model.name))
            print(f"{case.sizes['bench wall s']:.0f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average at end: {load()}")
    report(cases, repeats)
    maximize_vs_epoch(repeats)


def maximize_vs_epoch(repeats: int) -> None:
    """Activation maximization (``maximize_every_n_epochs``) on the demo CNN against the time
    of one of its training epochs (6000 synthetic 28x28 digits, batch 128)."""
    from actlog.datasets import synthetic_digits

    x, y = synthetic_digits(6000, seed=0)
    model = demo_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # warm-up: traces the train step
    epochs = []
    for _ in range(max(2, repeats // 4)):
        started = time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        epochs.append(time.perf_counter() - started)
    rows, total = [], 0.0
    epoch_ms = stat([1000 * t for t in epochs])[0]
    for ref in select_layers(model, "conv"):
        maximizer = actlog.FilterMaximizer(model, ref, filters=range(64)[: ref.layer.filters])
        maximizer(seed=0)  # warm-up: traces the step
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            maximizer(seed=0)
            times.append(1000 * (time.perf_counter() - started))
        median, p90 = stat(times)
        total += median
        label = f"maximize {ref.path} ({len(maximizer.filters)} filters x 30 steps)"
        rows.append([label, fmt(median), fmt(p90), f"{median / epoch_ms:.2f}x"])
    rows.append(["maximize, every layer", fmt(total), "", f"{total / epoch_ms:.2f}x"])
    rows.insert(0, ["one training epoch", fmt(epoch_ms), "", "1.00x"])
    print_table(
        "Activation maximization against a training epoch (demo CNN)",
        ["ms", "median", "p90", "of an epoch"],
        rows,
    )


def load() -> str:
    """The 1, 5 and 15 minute load averages, where the OS tells them."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
