"""What ``ActivationLogger`` costs on each Keras backend: TensorFlow, JAX and PyTorch (CPU).

Run from the repository root with actlog installed: ``python bench/backends.py`` (3 backends x
2 models, see bench/README.md), ``--backends jax torch --models cnn``, or ``--quick`` (a smoke
run: the demo CNN, few repeats). Each (backend, model) pair runs in its own subprocess with
``KERAS_BACKEND`` set (Keras reads it at import). Models (random weights, seed 0; a random
probe of ``--probe`` images; Adam, sparse cross-entropy): ``cnn``, the demo's digit CNN
(``Input(28, 28, 1)``, ``Conv2D(32)``, pool, ``Conv2D(64)``, pool, flatten, dropout,
``Dense(10)``), and ``mobilenetv2``, ``keras.applications.MobileNetV2(input_shape=(96, 96, 3),
weights=None)``.

1. One event: ``ActivationLogger(probe, log_dir=tmp, on_error="raise", verbose=0)`` after
   ``set_model``, ``on_train_begin`` and one untimed event; per repeat, side by side: forward
   (``model.predict_on_batch(probe)``, as Keras runs it with ``jit_compile="auto"`` on a CPU:
   ``tf.function``, ``jax.jit``, eager under ``torch.no_grad``), hold (``on_epoch_end(epoch)``
   returning) and background (``logger.flush()`` right after). Medians of ``--events``.
2. No cost between events: ``model.fit`` with ``[timer]`` and with
   ``[ActivationLogger(probe, every_n_epochs=1000, log_initial=False), timer]`` (the logger
   first: its hooks are inside the timed span), ``--epochs`` per fit, A B then B A for
   ``--rounds`` rounds, after one untimed fit of each. The timer, a ``LambdaCallback``, has only
   ``on_epoch_begin`` / ``on_epoch_end`` (a batch-end hook turns off Keras's asynchronous batch
   dispatch on JAX and PyTorch). Per step: epoch wall time / steps; medians and minima over the
   epochs, and the spread (interquartile range / median) without actlog: the noise. Hooks: the
   logger's ``on_train_batch_begin`` + ``on_epoch_end`` / steps, no event due, called directly.
   "async": ``keras.callbacks.CallbackList([logger], model=model)._async_train`` (private Keras
   state, read by this benchmark only); never on TensorFlow (not thread-safe in Keras).
3. The compile choice: the capture's function ``logger.extractor._run`` (private) plus the host
   copy of its outputs, as ``actlog.backend.compile_function`` builds it (the default; a fresh
   one, so its first call traces and compiles) against the same function called eagerly (on
   TensorFlow and JAX) or ``torch.compile`` of it under ``torch.no_grad`` (on PyTorch, with a
   cold ``TORCHINDUCTOR_CACHE_DIR``; the note gives ``torch._dynamo``'s counters). The first
   call, then the median of ``--warmup`` calls (PyTorch recompiles a function up to 8 times
   when its guards fail), then of ``--calls`` calls (steady state), the variants interleaved.

Garbage is collected before each timed span of 1 and 3 (collector off during it). Progress goes
to stderr, Markdown tables to stdout; a failing section's error is in the tables (traceback on
stderr) and the others go on.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from backbones import timed  # bench/ is on sys.path when a script of it runs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BACKENDS = ["tensorflow", "jax", "torch"]
MODELS = {  # name: (label, batch size, steps per epoch, rounds of fits)
    "cnn": ("demo CNN", 128, 8, 6),
    "mobilenetv2": ("MobileNetV2 96", 16, 2, 3),
}
FORWARD = {"tensorflow": "tf.function", "jax": "jax.jit", "torch": "eager, no_grad"}
VARIANTS = {  # backend: [(name, kind)], the default first
    "tensorflow": [("tf.function (default)", "default"), ("eager", "eager")],
    "jax": [("jax.jit (default)", "default"), ("eager", "eager")],
    "torch": [("eager, no_grad (default)", "default"), ("torch.compile, no_grad", "compile")],
}
VERSIONS = ("actlog", "keras", "tensorflow", "jax", "jaxlib", "torch", "numpy")


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def build(name: str, probe_size: int, batch: int, steps: int) -> tuple[Any, Any, Any, Any]:
    """The compiled model, its probe and its training data (random, seed 0)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    if name == "cnn":
        layers = keras.layers
        model = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(), layers.Flatten(), layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ])  # fmt: skip
    else:
        model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    shape = tuple(model.input_shape[1:])
    x = rng.random((batch * steps, *shape), dtype=np.float32)
    y = rng.integers(0, 10, batch * steps)
    return model, rng.random((probe_size, *shape), dtype=np.float32), x, y


def one_event(model: Any, probe: Any, args: argparse.Namespace, out: dict, log: Callable) -> Any:
    """Section 1; returns the logger, its capture still usable, for section 3."""
    import actlog

    model.predict_on_batch(probe)  # warm-up: traces
    logger = actlog.ActivationLogger(probe, log_dir=os.path.join(args.tmp, "event"),
                                     on_error="raise", verbose=0)  # fmt: skip
    logger.set_model(model)
    _, out["begin_s"] = timed(logger.on_train_begin)
    logger.flush()
    logger.on_epoch_end(0)  # untimed warm-up event
    logger.flush()
    forwards, holds, backgrounds = [], [], []
    for epoch in range(1, args.events + 1):
        forwards.append(timed(model.predict_on_batch, probe)[1])
        holds.append(timed(logger.on_epoch_end, epoch)[1])
        backgrounds.append(timed(logger.flush)[1])
        log(f"event {epoch}: forward {forwards[-1] * 1000:,.1f} ms, hold "
            f"{holds[-1] * 1000:,.1f} ms, background {backgrounds[-1] * 1000:,.1f} ms")  # fmt: skip
    logger.on_train_end()
    out.update(forward_ms=ms(forwards), hold_ms=ms(holds), background_ms=ms(backgrounds),
               logged=len(logger.layer_paths))  # fmt: skip
    out["hold_ratio"] = out["hold_ms"] / out["forward_ms"]
    out["background_ratio"] = out["background_ms"] / out["forward_ms"]
    return logger


def between_events(model: Any, probe: Any, x: Any, y: Any, batch: int, steps: int,
                   args: argparse.Namespace, out: dict, log: Callable) -> None:  # fmt: skip
    """Section 2: per-step training time with and without the logger, no event timed."""
    import keras

    import actlog

    log_dir = os.path.join(args.tmp, "fit")
    logger = actlog.ActivationLogger(probe, log_dir=log_dir, every_n_epochs=1000,
                                     log_initial=False, on_error="raise", verbose=0)  # fmt: skip
    out["async_without"] = keras.callbacks.CallbackList([], model=model)._async_train
    out["async_with"] = keras.callbacks.CallbackList([logger], model=model)._async_train
    per_step: dict[bool, list[float]] = {False: [], True: []}

    def fit(with_logger: bool, epochs: int, keep: bool) -> None:
        starts: list[float] = []
        steps_s: list[float] = []  # per epoch: wall time / steps
        timer = keras.callbacks.LambdaCallback(  # epoch hooks only: async dispatch stays on
            on_epoch_begin=lambda *_: starts.append(time.perf_counter()),
            on_epoch_end=lambda *_: steps_s.append((time.perf_counter() - starts[-1]) / steps),
        )
        gc.collect()
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=False,
                  callbacks=[logger, timer] if with_logger else [timer])  # fmt: skip
        per_step[with_logger] += steps_s if keep else []
        times = ", ".join(f"{t * 1000:.1f}" for t in steps_s)
        log(f"fit {'with' if with_logger else 'without'} actlog: {times} ms/step")

    fit(False, 1, False)  # warm-up: traces the train step
    fit(True, 1, False)  # warm-up: builds the logger's run
    for i in range(args.rounds):
        for with_logger in (False, True) if i % 2 == 0 else (True, False):
            fit(with_logger, args.epochs, True)
    without, with_ = per_step[False], per_step[True]
    out["step_without_ms"], out["step_with_ms"] = ms(without), ms(with_)
    out["step_ratio"] = out["step_with_ms"] / out["step_without_ms"]
    out["min_ratio"] = min(with_) / min(without)
    quartiles = statistics.quantiles(without, n=4)
    out["spread"] = (quartiles[2] - quartiles[0]) / statistics.median(without)
    out["fit_epochs"] = len(with_)
    if logger._run is not None and logger._run.last_step is not None:
        raise AssertionError(f"an event was logged in the fits (step {logger._run.last_step})")
    # The logger's own hooks when no event is due, called directly: what it adds per step.
    batch_s = timeit.timeit(lambda: logger.on_train_batch_begin(0), number=20_000) / 20_000
    epoch_s = timeit.timeit(lambda: logger.on_epoch_end(1), number=20_000) / 20_000
    out["hooks_us"] = (batch_s + epoch_s / steps) * 1e6
    out["hooks_share"] = out["hooks_us"] / 1000 / out["step_without_ms"]


def compile_choice(backend: str, model: Any, logger: Any, args: argparse.Namespace,
                   out: dict, log: Callable) -> None:  # fmt: skip
    """Section 3: the capture's function compiled as actlog does it against the alternative."""
    import keras
    import numpy as np

    from actlog.backend import compile_function, to_host

    capture, probe_x = logger.extractor, logger._run.probe_x
    fns: dict[str, Callable | None] = {}
    for name, kind in VARIANTS[backend]:
        if kind == "default":
            fns[name] = compile_function(capture._run, state=model.variables)
        elif kind == "eager":
            fns[name] = capture._run
        else:
            import torch

            fns[name] = torch.no_grad()(torch.compile(capture._run))

    start = np.array(0, np.int32)  # the whole probe in one part: its first sample

    def run(fn: Callable) -> Any:
        return keras.tree.map_structure(to_host, fn(probe_x, start))

    rows = out["compile"] = [{"variant": name} for name in fns]
    for row in rows:
        try:
            row["first_ms"] = timed(run, fns[row["variant"]])[1] * 1000
            log(f"{row['variant']}: first call {row['first_ms']:,.0f} ms")
        except Exception as error:  # reported in the table
            traceback.print_exc(file=sys.stderr)
            row["error"] = error_text(error)
            fns[row["variant"]] = None
    for key, count in (("next_ms", args.warmup), ("steady_ms", args.calls)):
        times: dict[str, list[float]] = {name: [] for name, fn in fns.items() if fn}
        for _ in range(count):
            for name in times:
                times[name].append(timed(run, fns[name])[1])
        for row in rows:
            if times.get(row["variant"]):
                row[key] = ms(times[row["variant"]])
                log(f"{row['variant']}: {key} {row[key]:,.1f} ms")
    for row in rows:
        if "steady_ms" in row and "steady_ms" in rows[0]:
            row["ratio"] = row["steady_ms"] / rows[0]["steady_ms"]
    if backend == "torch":
        from torch._dynamo.utils import counters

        rows[-1]["note"] = (f"{counters['stats'].get('unique_graphs', 0)} graphs, "
                            f"{sum(counters['graph_break'].values())} graph breaks, "
                            f"{counters['frames'].get('total', 0)} frames")  # fmt: skip


def error_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:160].replace("|", "/")


def worker(args: argparse.Namespace) -> None:
    """In the subprocess: one backend, one model; prints one ``RESULT`` JSON line."""
    backend, name = args.worker
    label, batch, steps, rounds = MODELS[name]
    steps, args.rounds = args.steps or steps, args.rounds or rounds
    out: dict = {"backend": backend, "model": label, "batch": batch, "steps": steps}

    def log(message: str) -> None:
        print(f"[{backend} {name}] {message}", file=sys.stderr, flush=True)

    def section(key: str, fn: Callable, *fn_args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*fn_args)
        except Exception as error:  # reported in the table; the other sections go on
            traceback.print_exc(file=sys.stderr)
            out.setdefault("errors", {})[key] = error_text(error)
        finally:
            log(f"{key}: {time.perf_counter() - start:.0f} s")

    warnings.filterwarnings("ignore", message="actlog: at the end of training")
    try:
        import keras

        assert keras.backend.backend() == backend, keras.backend.backend()
        if backend == "torch":
            import torch

            torch.set_num_threads(args.torch_threads or torch.get_num_threads())
            out["threads"] = torch.get_num_threads()
        model, probe, x, y = build(name, args.probe, batch, steps)
        log(f"built, {model.count_params() / 1e6:.2f} M parameters")
        logger = section("event", one_event, model, probe, args, out, log)
        print("RESULT " + json.dumps(out), flush=True)  # partial, in case of a timeout
        section("fit", between_events, model, probe, x, y, batch, steps, args, out, log)
        print("RESULT " + json.dumps(out), flush=True)
        if logger is not None and logger.extractor is not None:
            section("compile", compile_choice, backend, model, logger, args, out, log)
    except BaseException as error:  # reported in the table
        traceback.print_exc(file=sys.stderr)
        out.setdefault("errors", {})["setup"] = error_text(error)
    print("RESULT " + json.dumps({**out, "done": True}), flush=True)


def run_one(backend: str, name: str, args: argparse.Namespace, forwarded: list[str]) -> dict:
    """One worker in a fresh interpreter; its last ``RESULT`` line, whatever became of it."""
    row: dict = {"backend": backend, "model": MODELS[name][0]}
    with tempfile.TemporaryDirectory(prefix="actlog_backends_") as tmp:
        command = [sys.executable, os.path.abspath(__file__), "--worker", backend, name,
                   f"--tmp={tmp}", *forwarded]  # fmt: skip
        # A cold compile cache for torch.compile, so that its first call includes compiling.
        env = {**os.environ, "KERAS_BACKEND": backend,
               "TORCHINDUCTOR_CACHE_DIR": os.path.join(tmp, "inductor")}  # fmt: skip
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env,
                                  timeout=args.timeout or None, check=False)  # fmt: skip
            stdout, error = done.stdout, f"ProcessDied: exit {done.returncode}"
        except subprocess.TimeoutExpired as expired:  # its output is bytes, if any
            stdout = (expired.stdout or b"").decode(errors="replace")
            error = f"TimeoutExpired: over {args.timeout} s"
    results = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    row = json.loads(results[-1][len("RESULT ") :]) if results else row
    if not row.pop("done", False):  # died or timed out before the end
        row.setdefault("errors", {})["process"] = error
    return row


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return ""
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def table(headers: list[str], rows: list[list[str]], text: int = 2) -> None:
    """A Markdown table; the first ``text`` columns and "error" left-aligned."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" if i < text or h in ("error", "note") else "---:"
                         for i, h in enumerate(headers)) + "|")  # fmt: skip
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def report(rows: list[dict]) -> None:
    print("#### One event (medians)\n")
    headers = ["backend", "model", "forward", "train begin s", "logged", "forward ms",
               "hold ms", "hold/fwd", "background ms", "bg/fwd"]  # fmt: skip
    cells = [[r["backend"], r["model"], f"predict_on_batch ({FORWARD[r['backend']]}"
              + (f", {r['threads']} thread{'s' * (r['threads'] != 1)})" if "threads" in r
                 else ")"),
              fmt(r.get("begin_s"), ".2f"), fmt(r.get("logged"), "d"),
              fmt(r.get("forward_ms"), ",.1f"), fmt(r.get("hold_ms"), ",.1f"),
              fmt(r.get("hold_ratio"), ".2f"), fmt(r.get("background_ms"), ",.1f"),
              fmt(r.get("background_ratio"), ".2f")] for r in rows]  # fmt: skip
    table(headers, cells, text=3)
    print("#### Between events: training step with and without actlog (no event timed)\n")
    headers = ["backend", "model", "batch x steps", "epochs each", "ms/step without",
               "ms/step with", "with/without (medians)", "with/without (minima)",
               "spread without", "hooks us/step", "hooks/step", "async (no callbacks)",
               "async (with actlog)"]  # fmt: skip
    cells = [[r["backend"], r["model"], f"{r.get('batch')} x {r.get('steps')}",
              fmt(r.get("fit_epochs"), "d"), fmt(r.get("step_without_ms"), ",.2f"),
              fmt(r.get("step_with_ms"), ",.2f"), fmt(r.get("step_ratio"), ".3f"),
              fmt(r.get("min_ratio"), ".3f"), fmt(r.get("spread"), ".1%"),
              fmt(r.get("hooks_us"), ".2f"), fmt(r.get("hooks_share"), ".4%"),
              fmt(r.get("async_without"), ""), fmt(r.get("async_with"), "")]
             for r in rows]  # fmt: skip
    table(headers, cells)
    print("#### The compile choice: the capture's function, with the host copy\n")
    headers = ["backend", "model", "variant", "first call ms", "next calls ms", "steady ms",
               "steady / default", "note", "error"]  # fmt: skip
    cells = [[r["backend"], r["model"], c["variant"], fmt(c.get("first_ms"), ",.0f"),
              fmt(c.get("next_ms"), ",.1f"), fmt(c.get("steady_ms"), ",.1f"),
              fmt(c.get("ratio"), ".2f"), c.get("note", ""), c.get("error", "")]
             for r in rows for c in r.get("compile", [])]  # fmt: skip
    table(headers, cells, text=3)
    errors = [[r["backend"], r["model"], key, error]
              for r in rows for key, error in r.get("errors", {}).items()]  # fmt: skip
    if errors:
        print("#### Errors (tracebacks on stderr)\n")
        table(["backend", "model", "section", "error"], errors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=BACKENDS)
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--probe", type=int, default=8, help="probe images (default 8)")
    parser.add_argument("--events", type=int, default=10, help="timed events (default 10)")
    parser.add_argument("--warmup", type=int, default=8, help="calls after the first (8)")
    parser.add_argument("--calls", type=int, default=10, help="then timed calls (10)")
    parser.add_argument("--rounds", type=int, help="A B rounds of fits (default: per model)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fit (default 2)")
    parser.add_argument("--steps", type=int, help="steps per epoch (default: per model)")
    parser.add_argument("--quick", action="store_true", help="demo CNN, few repeats")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads (default: own)")
    parser.add_argument("--timeout", type=float, default=1800, help="s per worker (0: none)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.warmup, args.calls, args.rounds, args.epochs = 2, 2, 2, 2, 2
        args.steps = args.steps or 4
    args.models = args.models or (["cnn"] if args.quick else list(MODELS))
    if args.worker:
        worker(args)
        return
    keys = ("probe", "events", "warmup", "calls", "rounds", "epochs", "steps", "torch_threads")
    forwarded = [f"--{key.replace('_', '-')}={getattr(args, key)}"
                 for key in keys if getattr(args, key) is not None]  # fmt: skip
    versions = [f"{package} {importlib.metadata.version(package)}"
                for package in VERSIONS if importlib.util.find_spec(package)]  # fmt: skip
    load_start = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows, sweep_start = [], time.perf_counter()
    for backend in args.backends:
        for name in args.models:
            start = time.perf_counter()
            rows.append(run_one(backend, name, args, forwarded))
            print(f"== {backend} / {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(
        f"actlog backends: {', '.join(versions)}, Python {platform.python_version()}; {cores} "
        f"cores ({platform.machine()}); probe of {args.probe}; {args.events} events, "
        f"{args.warmup} + {args.calls} calls, fits of {args.epochs} epochs; load average "
        f"(1, 5, 15 min) {', '.join(f'{v:.2f}' for v in load_start)} at the start, "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; "
        f"{time.perf_counter() - sweep_start:.0f} s in all.\n"
    )
    report(rows)


if __name__ == "__main__":
    main()
