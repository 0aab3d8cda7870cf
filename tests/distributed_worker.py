"""One process of a distributed actlog run, started by ``tests/test_distribute.py``.

Modes:

* ``mirrored``: ``MirroredStrategy`` over 2 logical CPU devices, ``model.fit`` for 2 epochs with
  an ``ActivationLogger``.
* ``multiworker``: one worker of a ``MultiWorkerMirroredStrategy`` cluster described by
  ``TF_CONFIG``; a custom training loop (Keras 3.15's ``fit`` fails under this strategy,
  keras-team/keras#20585) that calls the logger's hooks itself.
* ``multiworker-fit``: the same cluster, but ``model.fit`` with the logger in ``callbacks``.

Each mode writes a JSON summary to ``--result`` (replicas in sync, whether the logger was
active, the task) and, with ``--weights``, the trained weights. Errors go to stderr with a
traceback and exit status 1.

Usage: ``python tests/distributed_worker.py MODE --log-dir DIR --result FILE [--weights FILE]``
"""

from __future__ import annotations

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import argparse
import json
import sys
import time
import traceback
from typing import Any

import numpy as np

EPOCHS = 2
SAMPLES = 32
GLOBAL_BATCH = 8
PROBE_SIZE = 4
SHAPE = (12, 12, 1)
CLASSES = 3
CONV_LAYERS = ("conv_a", "conv_b")
MAX_MESSAGE = 400
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
    """The probe batch the logger watches."""
    return make_data()[0][:PROBE_SIZE]


def build_model() -> Any:
    """A 2-conv Sequential with ``keras.Input``, not compiled (build it in the scope)."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(4, 3, activation="relu", name="conv_a"),
            layers.MaxPooling2D(name="pool"),
            layers.Conv2D(6, 3, activation="relu", name="conv_b"),
            layers.Flatten(name="flat"),
            layers.Dense(CLASSES, activation="softmax", name="head"),
        ],
        name="dist",
    )


def _write_result(path: str, strategy: Any, logger: Any) -> None:
    resolver = getattr(strategy, "cluster_resolver", None)
    result = {
        "replicas": int(strategy.num_replicas_in_sync),
        "active": logger.extractor is not None,
        "layer_paths": logger.layer_paths,
        "task_type": getattr(resolver, "task_type", None),
        "task_id": getattr(resolver, "task_id", None),
    }
    with open(path, "w") as handle:
        json.dump(result, handle)


def run_mirrored(args: argparse.Namespace) -> None:
    """``fit`` under ``MirroredStrategy`` on 2 logical CPU devices."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras

    import actlog

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build_model()
        model.compile("adam", "sparse_categorical_crossentropy")
    logger = actlog.ActivationLogger(probe(), log_dir=args.log_dir, sample_images=True)
    x, y = make_data()
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, verbose=0, callbacks=[logger])
    if args.weights:
        model.save_weights(args.weights)
    _write_result(args.result, strategy, logger)


def _multiworker_setup() -> tuple[Any, Any]:
    """The strategy (created first: it starts this task's server) and the batched dataset."""
    import tensorflow as tf

    log("creating MultiWorkerMirroredStrategy")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    log("strategy ready")
    import keras

    keras.utils.set_random_seed(0)
    x, y = make_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy, dataset.with_options(options)


def run_multiworker(args: argparse.Namespace) -> None:
    """A custom training loop under ``MultiWorkerMirroredStrategy``, calling the hooks itself."""
    import keras
    import tensorflow as tf

    import actlog

    strategy, dataset = _multiworker_setup()
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.Adam()
        optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    distributed = strategy.experimental_distribute_dataset(dataset)

    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_sample = loss_fn(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_sample, global_batch_size=GLOBAL_BATCH)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(x: Any, y: Any) -> tf.Tensor:
        losses = strategy.run(step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    logger = actlog.ActivationLogger(probe(), log_dir=args.log_dir, sample_images=True)
    logger.set_model(model)
    logger.on_train_begin()
    log("on_train_begin done")
    for epoch in range(EPOCHS):
        logger.on_epoch_begin(epoch)
        loss = None
        for x, y in distributed:
            loss = train_step(x, y)
        logger.on_epoch_end(epoch, {"loss": float(loss)})
        log(f"epoch {epoch} done")
    logger.on_train_end()
    log("on_train_end done")
    if args.weights and logger.extractor is not None:
        model.save_weights(args.weights)
    _write_result(args.result, strategy, logger)


def run_multiworker_fit(args: argparse.Namespace) -> None:
    """``model.fit`` under ``MultiWorkerMirroredStrategy`` (fails in Keras 3.15: #20585)."""
    import actlog

    strategy, dataset = _multiworker_setup()
    with strategy.scope():
        model = build_model()
        model.compile("adam", "sparse_categorical_crossentropy")
    logger = actlog.ActivationLogger(probe(), log_dir=args.log_dir, sample_images=True)
    model.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[logger])
    if args.weights and logger.extractor is not None:
        model.save_weights(args.weights)
    _write_result(args.result, strategy, logger)


MODES = {
    "mirrored": run_mirrored,
    "multiworker": run_multiworker,
    "multiworker-fit": run_multiworker_fit,
}


def main(argv: list[str] | None = None) -> int:
    """Runs one mode; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--log-dir", required=True, help="the ActivationLogger's log_dir")
    parser.add_argument("--result", required=True, help="where to write the JSON summary")
    parser.add_argument("--weights", help="where to save the trained weights (.weights.h5)")
    args = parser.parse_args(argv)
    task = os.environ.get("TF_CONFIG", "no TF_CONFIG")
    try:
        MODES[args.mode](args)
    except Exception as error:
        traceback.print_exc()
        message = str(error)
        if len(message) > MAX_MESSAGE:  # PerReplica errors print whole tensors
            message = message[: MAX_MESSAGE // 2] + " ... " + message[-MAX_MESSAGE // 2 :]
        print(
            f"distributed_worker {args.mode} ({task}) FAILED: {type(error).__name__}: {message}",
            file=sys.stderr,
        )
        return 1
    print(f"distributed_worker {args.mode} ({task}) done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
