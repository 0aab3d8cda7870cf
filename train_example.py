"""Train a small digit CNN and watch its convolution filters in TensorBoard with actlog.

The model is the classic Keras MNIST convnet. It trains on MNIST when Keras can download it,
otherwise (no network) on synthetic digits rendered from matplotlib's fonts. Two loggers
write side by side under the log directory:

    <log-dir>/keras   Keras's own TensorBoard callback: loss and accuracy curves.
    <log-dir>/actlog  actlog: the feature maps of every conv layer on a few fixed test images,
                      the filters' health over the run (filter_health/), each layer's
                      convergence (convergence/), weights, overlays, maximized inputs.

Where MLflow is installed (pip install "actlog[mlflow]"), actlog also logs the same images,
metrics and report to a local MLflow store, <log-dir>/mlflow.db (artifacts in
<log-dir>/mlartifacts), with no server needed to write it, in one run with MLflow's own Keras
callback (loss, accuracy); --no-mlflow leaves it out.

Run it, then open TensorBoard:

    python train_example.py                 # about 2 minutes on 2 CPU cores
    python train_example.py --epochs 3 --dataset synthetic --log-dir /tmp/logs
    python train_example.py --wandb         # also to Weights & Biases (offline without a key)
    mlflow ui --backend-store-uri sqlite:///logs/mlflow.db   # the MLflow run, where installed
    tensorboard --logdir logs                  # then http://localhost:6006/#actlog
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shlex
import sys
import warnings
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # After TF_CPP_MIN_LOG_LEVEL, which TensorFlow reads when it is imported.

import actlog
from actlog.datasets import load_digits


def build_model() -> keras.Model:
    """Returns the classic Keras MNIST convnet (uncompiled)."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv2d"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(64, 3, activation="relu", name="conv2d_1"),
            keras.layers.MaxPooling2D(name="pool_1"),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    parser.add_argument(
        "--dataset",
        choices=("auto", "mnist", "synthetic"),
        default="auto",
        help="auto tries MNIST and falls back to synthetic digits (default auto)",
    )
    parser.add_argument("--log-dir", default="logs", help="where to write logs (default logs)")
    parser.add_argument(
        "--probe-size", type=int, default=8, help="test images whose activations are logged"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=1e-3,
        help="Adam's learning rate (default 0.001; try 0.05 to watch filters die)",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also log to Weights & Biases (offline when no API key is set up)",
    )
    parser.add_argument(
        "--no-mlflow",
        dest="mlflow",
        action="store_false",
        help="do not log to a local MLflow store (logged there by default where installed)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Trains the model with actlog and Keras's TensorBoard callback.

    Args:
        argv: Command-line arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status, 0 on success.
    """
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (x_train, y_train), (x_test, y_test), source = load_digits(args.dataset, seed=args.seed)
    for warning in caught:
        print(f"Note: {warning.message}")
    print(f"Dataset: {source} ({len(x_train)} train / {len(x_test)} test images)")

    model = build_model()
    optimizer = keras.optimizers.Adam(args.learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    probe = (x_test[: args.probe_size], y_test[: args.probe_size])
    sinks: list[str | actlog.Sink] = ["tensorboard"]
    callbacks: list[keras.callbacks.Callback] = []
    if importlib.util.find_spec("tensorflow") is not None:  # Keras's callback writes through it
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(args.log_dir, "keras")))
    else:
        print("Note: TensorFlow is not installed, so Keras's TensorBoard callback (the loss "
              "curves in the Scalars tab) is left out; the actlog tab shows each epoch's loss "
              'and accuracy. pip install "actlog[tensorflow]" brings it.')
    run = None
    if args.wandb:
        run = start_wandb_run(args)
        from wandb.integration.keras import WandbMetricsLogger

        callbacks.append(WandbMetricsLogger())
        sinks.append(actlog.WandbSink(run))
    mlflow_uri = mlflow_store(args) if args.mlflow else None
    mlflow_run = contextlib.ExitStack()
    if mlflow_uri is not None:
        # One MLflow run holds MLflow's own Keras callback's loss, accuracy and optimizer
        # params, and actlog's images, statistics, report and options (params actlog.*).
        from mlflow.keras import MlflowCallback

        mlflow_run.enter_context(active_mlflow_run(mlflow_uri))
        callbacks.append(MlflowCallback())
        sinks.append(actlog.MlflowSink())  # the active run
    callbacks.append(
        actlog.ActivationLogger(
            probe=probe,
            layers="conv",
            log_dir=os.path.join(args.log_dir, "actlog"),
            every_n_epochs=1,
            normalize="filter",
            max_filters=64,
            cmap=None,
            sinks=sinks,
            stats=True,  # dead_filters/, on_rate/, ... scalars; dead filters framed in red
            weights=True,  # weights/<layer>: the filters' kernels
            overlays=3,  # overlays/<layer>: the 3 most active filters over each input
            maximize_every_n_epochs=5,  # maximized/<layer>: what each filter looks for
            animate=True,  # <log-dir>/actlog/animations/<layer>.gif at the end
        )
    )
    with mlflow_run:  # ended here, even if fit fails
        model.fit(
            x_train,
            y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(x_test, y_test),
            callbacks=callbacks,
            verbose=2,
        )
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        if mlflow_uri is not None:
            import mlflow

            mlflow.log_metric("test_accuracy", accuracy)
    print(f"Test accuracy: {accuracy:.4f}")
    if run is not None:
        run.finish()
        if run.settings.mode == "offline":
            print(f"W&B run saved offline in {run.dir}; upload it with:")
            print(f"  wandb sync {shlex.quote(os.path.dirname(run.dir))}")
    if mlflow_uri is not None:
        print("The same images and metrics in MLflow, with Keras's loss and accuracy (a step "
              "slider per image):")
        print(f"  {command_here('mlflow', 'ui', '--backend-store-uri', mlflow_uri)}")
    animations = os.path.join(args.log_dir, "actlog", "animations")
    print(f"Evolution of each layer, epoch after epoch: {animations}/<layer>.gif")
    print("Watch every layer on one step slider, and click a filter to follow it, in "
          "TensorBoard's actlog tab:")
    print(f"  {command_here('tensorboard', '--logdir', args.log_dir)}")
    print("  then open http://localhost:6006/#actlog")
    return 0


def command_here(program: str, *args: str) -> str:
    """The command that runs ``program`` (``tensorboard``, ``mlflow``) from this Python
    environment, so that it works as printed whether or not the environment is activated."""
    script = os.path.join(os.path.dirname(sys.executable), program)
    if os.path.exists(script):
        relative = os.path.relpath(script)
        command = [relative if not relative.startswith("..") else script]
    else:  # no console script: the module's own entry point
        module = "tensorboard.main" if program == "tensorboard" else program
        command = [sys.executable, "-m", module]
    return shlex.join([*command, *args])


def mlflow_store(args: argparse.Namespace) -> str | None:
    """A local MLflow store under the log directory (no server), or None without mlflow."""
    try:
        import mlflow
    except ImportError:
        print('MLflow: not installed, skipped (pip install "actlog[mlflow]" to log there too).')
        return None
    root = os.path.abspath(args.log_dir)
    os.makedirs(root, exist_ok=True)
    uri = f"sqlite:///{os.path.join(root, 'mlflow.db')}"
    client = mlflow.MlflowClient(uri)
    if client.get_experiment_by_name("actlog-demo") is None:
        artifacts = os.path.join(root, "mlartifacts")
        client.create_experiment("actlog-demo", artifact_location=f"file://{artifacts}")
    return uri


@contextlib.contextmanager
def active_mlflow_run(uri: str) -> Iterator[Any]:
    """An active MLflow run in the demo's experiment of the store ``uri``, which is MLflow's
    tracking URI inside the block only (MLFLOW_TRACKING_URI; MLflow's global setting is left
    alone)."""
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        experiment = mlflow.MlflowClient(uri).get_experiment_by_name("actlog-demo")
        with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
            yield run
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def start_wandb_run(args: argparse.Namespace) -> Any:
    """Starts a W&B run, offline when no API key is set up (this machine may have no network)."""
    try:
        import wandb
    except ImportError as error:
        raise SystemExit('--wandb needs wandb: pip install "actlog[wandb]"') from error
    online = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc"))
    mode = os.environ.get("WANDB_MODE") or ("online" if online else "offline")
    if mode == "offline":
        print("W&B: no API key found, logging offline.")
    return wandb.init(project="actlog-demo", mode=mode, dir=args.log_dir, config=vars(args))


if __name__ == "__main__":
    raise SystemExit(main())
