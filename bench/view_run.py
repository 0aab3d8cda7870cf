"""Writes the run that bench/view.py measures the actlog view on: a ResNet50 at 224x224
(``weights=None``) trained on synthetic digits, one logging event per epoch with the callback's
defaults, ``--events`` events in all (step -1 and ``--events - 1`` epochs of one step each).

Run (from the repository root, with actlog installed)::

    python bench/view_run.py --out /tmp/actlog-view-bench --events 300   # about 30 min, 2 cores

It prints the seconds it took, the bytes of the run, and the bytes of actlog's documents
(what the view reads besides the images) as a share of the run's.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import actlog
from actlog.datasets import load_digits


def resnet50(size: int) -> keras.Model:
    """ResNet50 (random weights, no download) with a 10-class head, as in transfer learning."""
    inputs = keras.Input((size, size, 3))
    backbone = keras.applications.ResNet50(weights=None, include_top=False,
                                           input_shape=(size, size, 3))  # fmt: skip
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="resnet")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    return model


def digits_rgb(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic digits, upscaled to ``size`` and repeated over 3 channels."""
    (x, y), _, _ = load_digits("synthetic", n_train=count, n_test=1, seed=seed)
    x = np.asarray(keras.ops.image.resize(x, (size, size)))
    return np.repeat(x, 3, axis=-1).astype(np.float32), y


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "**"), recursive=True)
               if os.path.isfile(f))  # fmt: skip


def document_share(run_dir: str) -> float:
    """The share of the run's event bytes that actlog's documents take."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    total = documents = 0
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        for record in event_file_loader.RawEventFileLoader(path).Load():
            total += len(record)
            event = event_pb2.Event.FromString(record)
            if any(v.metadata.plugin_data.plugin_name == "actlog" for v in event.summary.value):
                documents += len(record)
    return documents / max(total, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True,
                        help="the log directory to write (its run: resnet50)")  # fmt: skip
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = resnet50(args.size)
    x, y = digits_rgb(10, args.size, seed=0)
    run_dir = os.path.join(args.out, "resnet50")
    logger = actlog.ActivationLogger((x[2:], y[2:]), log_dir=run_dir)
    start = time.perf_counter()
    model.fit(x[:2], y[:2], batch_size=2, epochs=args.events - 1, verbose=0, callbacks=[logger])
    seconds = time.perf_counter() - start
    print(f"{args.events} events of ResNet50 at {args.size} in {seconds:.0f} s: "
          f"{dir_bytes(run_dir) / 1e6:.1f} MB, {dir_bytes(run_dir) / 1e6 / args.events:.2f} MB "
          f"per event, documents {document_share(run_dir):.2%} of the bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
