"""One process of a multi-process actlog run on JAX or PyTorch, started by
``tests/test_multiprocess.py`` with ``KERAS_BACKEND`` set in its environment.

Modes:

* ``jax-data-parallel``: one of 2 processes of a ``keras.distribution.DataParallel`` run
  (``keras.distribution.initialize`` over 127.0.0.1, gloo CPU collectives, one CPU device per
  process); ``model.fit`` on this process's half of the data with an ``ActivationLogger``.
* ``torch-ddp``: one rank of a 2-rank ``torch.distributed`` gloo group; the model wrapped in
  ``torch.nn.parallel.DistributedDataParallel``, a custom training loop (as in Keras's guide
  "Multi-GPU distributed training with PyTorch") that calls the logger's hooks itself.
* ``jax-model-parallel``: a ``keras.distribution.ModelParallel`` whose ``LayoutMap`` shards the
  conv kernels' output channels over the ``model`` axis of 2 CPU devices; ``model.fit`` with an
  ``ActivationLogger``. One process with 2 devices (``XLA_FLAGS`` set by the test), or with
  ``--processes 2`` one of 2 processes of one device each (the kernels are split between them).

Each process writes a JSON summary to ``--result`` (its rank, whether it is the chief, whether
the logger ran the probe, the logger's statistics) and, beside it, what the test checks the
logged images against: the trained weights (``<result>.weights.npz``) and, for
``jax-model-parallel``, ``actlog.extract`` of the trained model (``<result>.maps.npz``). Errors
go to stderr with a traceback and exit status 1.

Usage: ``python tests/multiprocess_worker.py MODE --log-dir DIR --result FILE
[--rank I --port P] [--processes N] [--no-weights]``
"""

from __future__ import annotations

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

EPOCHS = 3
SAMPLES = 32
#: Samples per process and training step.
BATCH = 8
PROBE_SIZE = 4
SHAPE = (12, 12, 1)
CLASSES = 3
CONV_LAYERS = ("conv_a", "conv_b")
#: Processes of the 2-process modes.
WORLD = 2
_START = time.monotonic()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since start (shown when a test fails)."""
    print(f"[{time.monotonic() - _START:6.1f} s] {message}", file=sys.stderr, flush=True)


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random 12x12x1 images and labels, the same in every process."""
    rng = np.random.default_rng(seed)
    x = rng.random((SAMPLES, *SHAPE), dtype=np.float32)
    y = rng.integers(0, CLASSES, SAMPLES).astype(np.int64)
    return x, y


def probe() -> np.ndarray:
    """The probe batch the logger watches, the same in every process."""
    return make_data()[0][:PROBE_SIZE]


def build_model() -> Any:
    """Two Conv2D + ReLU, pooling and a Dense head giving logits (on whatever backend)."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv_a"),
            layers.MaxPooling2D(name="pool"),
            layers.Conv2D(6, 3, activation="relu", name="conv_b"),
            layers.Flatten(name="flat"),
            layers.Dense(CLASSES, name="head"),
        ],
        name="multiprocess",
    )


def host_weights(model: Any) -> dict[str, np.ndarray]:
    """Variable path -> value on the host (a global JAX array gathered from every process)."""
    import actlog.backend

    return {v.path: np.array(actlog.backend.to_host(v.value)) for v in model.weights}


def companion(result: str | Path, kind: str) -> Path:
    """The file beside a result JSON that holds its process's ``kind`` arrays
    (``r.json`` -> ``r.weights.npz``)."""
    return Path(result).with_suffix(f".{kind}.npz")


def make_logger(log_dir: str, weights: bool = True) -> Any:
    """The logger every mode uses: every epoch, one image per probe sample, and (``weights``)
    the conv kernels."""
    import actlog

    return actlog.ActivationLogger(
        probe(),
        log_dir=log_dir,
        weights=weights,
        on_error="raise",
        sample_images=True,
        verbose=0,
    )


def write_result(path: str, logger: Any, **extra: Any) -> None:
    """The JSON summary of this process's logger."""
    import actlog.backend

    extractor = logger.extractor
    stats = {
        layer: {key: _number(value) for key, value in vars(entry).items() if _is_number(value)}
        for layer, entry in logger.latest_stats.items()
    }
    result = {
        "pid": os.getpid(),
        "chief": actlog.backend.is_chief(logger.model),
        "collective_forward": actlog.backend.collective_forward(),
        "ran_probe": extractor is not None,
        "trace_count": None if extractor is None else extractor.trace_count,
        "layer_paths": logger.layer_paths,
        "latest_stats": stats,
        **extra,
    }
    Path(path).write_text(json.dumps(result))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _number(value: Any) -> float | str:
    """A float, or its name for JSON (``"nan"``, ``"inf"``)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def run_jax_data_parallel(args: argparse.Namespace) -> None:
    """One process of a 2-process ``DataParallel`` ``fit``."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras

    log(f"initializing process {args.rank} of {WORLD} at 127.0.0.1:{args.port}")
    keras.distribution.initialize(
        job_addresses=f"127.0.0.1:{args.port}", num_processes=WORLD, process_id=args.rank
    )
    log(f"initialized: {jax.process_count()} processes, devices {jax.devices()}")
    distribution = keras.distribution.DataParallel(devices=jax.devices())
    distribution.auto_shard_dataset = False  # each process passes its own half
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    logger = make_logger(args.log_dir)
    x, y = make_data()
    shard = slice(args.rank, None, WORLD)
    model.fit(x[shard], y[shard], batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[logger])
    log("fit done")
    np.savez(companion(args.result, "weights"), **host_weights(model))
    write_result(args.result, logger, rank=jax.process_index(), processes=jax.process_count(),
                 devices=len(jax.devices()))  # fmt: skip


def run_torch_ddp(args: argparse.Namespace) -> None:
    """One rank of a 2-rank ``DistributedDataParallel`` custom training loop on gloo."""
    import torch

    log(f"init_process_group rank {args.rank} of {WORLD} at 127.0.0.1:{args.port}")
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank, world_size=WORLD
    )
    log("process group ready")
    try:
        _torch_train(args)
    finally:
        torch.distributed.destroy_process_group()


def _torch_train(args: argparse.Namespace) -> None:
    import keras
    import torch

    keras.utils.set_random_seed(args.rank)  # different initial weights: DDP broadcasts rank 0's
    model = build_model()
    ddp_model = torch.nn.parallel.DistributedDataParallel(model)
    x, y = make_data()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset, num_replicas=WORLD, rank=args.rank, shuffle=False
    )
    loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=BATCH)
    optimizer = torch.optim.Adam(ddp_model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    logger = make_logger(args.log_dir)
    logger.set_model(model)
    logger.on_train_begin()
    log("on_train_begin done")
    for epoch in range(EPOCHS):
        logger.on_epoch_begin(epoch)
        total = 0.0
        for inputs, targets in loader:
            loss = loss_fn(ddp_model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        logger.on_epoch_end(epoch, {"loss": total / len(loader)})
        log(f"epoch {epoch} done")
    logger.on_train_end()
    log("on_train_end done")
    np.savez(companion(args.result, "weights"), **host_weights(model))
    write_result(args.result, logger, rank=torch.distributed.get_rank(),
                 processes=torch.distributed.get_world_size())  # fmt: skip


def run_jax_model_parallel(args: argparse.Namespace) -> None:
    """``fit`` under ``ModelParallel`` on 2 CPU devices: of one process (``--processes 1``), or
    one per process (``--processes 2``: the kernels are split between the processes)."""
    import jax

    if args.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras

    import actlog

    if args.processes > 1:
        address = f"127.0.0.1:{args.port}"
        keras.distribution.initialize(address, num_processes=args.processes, process_id=args.rank)
    devices = jax.devices()
    log(f"process {jax.process_index()} of {jax.process_count()}, devices {devices}")
    mesh = keras.distribution.DeviceMesh(
        shape=(1, len(devices)), axis_names=["batch", "model"], devices=devices
    )
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*/conv_./kernel"] = (None, None, None, "model")  # output channels
    layout_map[".*/conv_./bias"] = ("model",)
    distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    distribution.auto_shard_dataset = False  # the batch axis has size 1: every process feeds all
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    model = build_model()
    shardings = {
        f"{layer}/kernel": str(model.get_layer(layer).kernel.value.sharding.spec)
        for layer in CONV_LAYERS
    }
    log(f"kernel shardings {shardings}")
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    logger = make_logger(args.log_dir, weights=not args.no_weights)
    x, y = make_data()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[logger])
    log("fit done")
    maps = actlog.extract(model, probe())  # collective with several processes
    weights = host_weights(model)
    np.savez(companion(args.result, "maps"), **maps)
    np.savez(companion(args.result, "weights"), **weights)
    write_result(args.result, logger, rank=jax.process_index(), processes=jax.process_count(),
                 devices=len(devices), kernel_shardings=shardings)  # fmt: skip


MODES = {
    "jax-data-parallel": run_jax_data_parallel,
    "torch-ddp": run_torch_ddp,
    "jax-model-parallel": run_jax_model_parallel,
}


def main(argv: list[str] | None = None) -> int:
    """Runs one mode; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--log-dir", required=True, help="the ActivationLogger's log_dir")
    parser.add_argument("--result", required=True, help="where to write the JSON summary")
    parser.add_argument("--rank", type=int, default=0, help="this process's index")
    parser.add_argument("--port", type=int, default=0, help="the coordinator's port")
    parser.add_argument("--processes", type=int, default=1,
                        help="jax-model-parallel: the number of processes")  # fmt: skip
    parser.add_argument("--no-weights", action="store_true", help="don't log the kernels")
    args = parser.parse_args(argv)
    name = f"{args.mode} rank {args.rank} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')})"
    try:
        MODES[args.mode](args)
    except Exception as error:
        traceback.print_exc()
        print(f"multiprocess_worker {name} FAILED: {type(error).__name__}: {error}",
              file=sys.stderr)  # fmt: skip
        return 1
    log(f"multiprocess_worker {name} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
