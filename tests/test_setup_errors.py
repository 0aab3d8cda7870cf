"""Every bad input fails early, clearly, and leaves nothing behind.

Each case below is a distinct mistake a user can make. Each must raise before the first
training step with a message naming what was expected, and leave nothing running or written:
no new thread, no started W&B run (every case has an offline W&B sink), no new file or
directory, and no reference (an ``atexit`` hook, a cache) that keeps the model or the logger
alive.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import actlog
from tests import models

layers = keras.layers
X, Y = models.digit_data(8)


def dense_only():
    model = keras.Sequential(
        [keras.Input((12, 12, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")],
        name="dense_only",
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def dataset(x):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(x).batch(4)


@dataclass
class Case:
    """A bad input: the model, the logger's arguments, and what must be raised."""

    error: type[Exception]
    match: str
    probe: Callable[[], Any] = lambda: X[:2]
    model: Callable[[], keras.Model] = models.sequential
    options: dict[str, Any] = field(default_factory=dict)
    fit_x: Callable[[], Any] = lambda: X
    #: Training steps that may run first: Keras builds a model without an ``Input`` in its
    #: first step, and actlog checks the probe at the first chance after that.
    steps: int = 0


def two_inputs_x():
    return [X, np.ones((len(X), 3), np.float32)]


CASES = {
    # The probe against the model: found at train begin.
    "probe too large": Case(
        ValueError, r"shape \(2, 16, 16, 1\) does not fit .* \(None, 12, 12, 1\)",
        probe=lambda: np.zeros((2, 16, 16, 1), np.float32)),
    "probe channels": Case(ValueError, r"shape \(2, 12, 12, 3\) does not fit model 'seq'",
                           probe=lambda: np.zeros((2, 12, 12, 3), np.float32)),
    "probe without batch axis": Case(ValueError, r"single sample: add the batch axis",
                                     probe=lambda: X[0]),
    "dataset probe of the wrong shape": Case(
        ValueError, r"shape \(4, 10, 10, 1\) does not fit model 'seq'",
        probe=lambda: dataset(np.zeros((4, 10, 10, 1), np.float32))),
    "empty dataset probe": Case(ValueError, r"dataset is empty",
                                probe=lambda: dataset(np.zeros((0, 12, 12, 1), np.float32))),
    "one array for two inputs": Case(ValueError, r"takes 2 input\(s\) but the probe holds 1",
                                     model=models.functional_two_inputs, fit_x=two_inputs_x),
    "three arrays for two inputs": Case(
        ValueError, r"takes 2 input\(s\) but the probe holds 3",
        probe=lambda: [X[:2], np.ones((2, 3), np.float32), X[:2]],
        model=models.functional_two_inputs, fit_x=two_inputs_x),
    "dict probe with a wrong key": Case(
        ValueError, r"dict with keys \['extra', 'imag'\].*inputs named \['image', 'extra'\]",
        probe=lambda: {"imag": X[:2], "extra": np.ones((2, 3), np.float32)},
        model=models.functional_two_inputs, fit_x=two_inputs_x),
    "probe a subclassed model cannot take": Case(
        ValueError, r"could not run the probe \(shape \(2, 2, 2, 1\)\) through model 'sub'",
        probe=lambda: np.zeros((2, 2, 2, 1), np.float32), model=models.subclassed, steps=1),
    "probe an unbuilt Sequential cannot take": Case(
        ValueError, r"shape \(2, 9, 9, 1\) does not fit model 'seq'",
        probe=lambda: np.zeros((2, 9, 9, 1), np.float32),
        model=lambda: models.sequential(with_input=False), steps=1),
    # The layer choice against the model: found at train begin.
    "unknown layer name": Case(ValueError, r"'conv_c'.*conv_a", options={"layers": "conv_c"}),
    "glob matching nothing": Case(ValueError, r"'block_\*'", options={"layers": "block_*"}),
    "layer class absent": Case(ValueError, r"Conv3D", options={"layers": layers.Conv3D}),
    "no conv layer": Case(ValueError, r"no convolution layer", model=dense_only),
    "a Dense layer": Case(ValueError, r"'head'.*not a feature map", options={"layers": "head"}),
    "a Flatten layer": Case(ValueError, r"'flat'.*not a feature map", options={"layers": "flat"}),
    "a pooled layer": Case(ValueError, r"'gap'.*not a feature map",
                           probe=lambda: [X[:2], np.ones((2, 3), np.float32)],
                           model=models.functional_two_inputs, fit_x=two_inputs_x,
                           options={"layers": "gap"}),
    "overlays on a 1-D input": Case(
        ValueError, r"overlays need an image input", probe=lambda: np.zeros((2, 20, 2), "float32"),
        model=models.conv1d, fit_x=lambda: np.zeros((8, 20, 2), "float32"),
        options={"overlays": 2}),
    "log_dir under a file": Case(PermissionError, r"Cannot write TensorBoard logs .*log_dir",
                                 options={"log_dir": "a_file/actlog"}),
    # The arguments alone: found in the constructor.
    "NaN in the probe": Case(ValueError, r"NaN or Inf values \(in samples \[1\]\)",
                             probe=lambda: np.where(np.arange(2)[:, None, None, None] == 1,
                                                    np.nan, X[:2])),
    "Inf in one input of two": Case(
        ValueError, r"NaN or Inf values \(in samples \[0\]\)",
        probe=lambda: [X[:2], np.array([[np.inf, 0, 0], [0, 0, 0]], np.float32)],
        model=models.functional_two_inputs, fit_x=two_inputs_x),
    "empty probe": Case(ValueError, r"probe is empty", probe=lambda: X[:0]),
    "labels that do not match": Case(ValueError, r"2 samples but \(3,\) labels",
                                     probe=lambda: (X[:2], Y[:3])),
    "text probe": Case(TypeError, r"numeric arrays; got dtype <U", probe=lambda: np.array([["a"]])),
    "every_n_epochs 0": Case(ValueError, r"every_n_epochs must be an integer >= 1; got 0",
                             options={"every_n_epochs": 0}),
    "unknown normalize": Case(ValueError, r"normalize.*'bogus'", options={"normalize": "bogus"}),
    "unknown colour map": Case(ValueError, r"'not_a_cmap'", options={"cmap": "not_a_cmap"}),
    "layers of a wrong type": Case(TypeError, r"layers must be 'conv'", options={"layers": 3}),
    "unknown sink": Case(ValueError, r"Unknown sink 'mlfow'", options={"sinks": ["mlfow"]}),
    "max_event_mb 0": Case(ValueError, r"max_event_mb must be .* > 0; got 0",
                           options={"max_event_mb": 0}),
}


def files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.tf_package] if "dataset" in name else [])
    for name in CASES
])
def test_a_bad_input_fails_before_training_and_leaves_nothing(name, tmp_path, wandb_root):
    import wandb

    case = CASES[name]
    (tmp_path / "a_file").write_text("not a directory\n")
    model = case.model()
    model_ref = weakref.ref(model)
    options = dict(case.options)
    options["log_dir"] = tmp_path / options.get("log_dir", "logs/actlog")
    # W&B first: a later sink that fails to open must not leave its run started.
    wandb_sink = actlog.WandbSink(project="actlog-test", dir=str(wandb_root))
    options["sinks"] = options.get("sinks", [wandb_sink, "tensorboard"])
    threads, files = set(threading.enumerate()), files_under(tmp_path)

    with pytest.raises(case.error, match=case.match) as raised:
        logger = actlog.ActivationLogger(case.probe(), verbose=0, **options)
        logger_ref = weakref.ref(logger)
        model.fit(case.fit_x(), Y, epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    message = str(raised.value)
    del raised

    assert "Traceback" not in message and len(message) < 600
    if model.optimizer.built:  # Keras builds it at the first step
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) <= case.steps
    assert set(threading.enumerate()) == threads
    assert wandb.run is None
    assert files_under(tmp_path) == files
    del model, wandb_sink
    logger = None
    gc.collect()
    assert model_ref() is None
    if "logger_ref" in locals():
        assert logger_ref() is None


def test_there_are_at_least_25_distinct_bad_inputs():
    assert len(CASES) >= 25
    assert len({(case.error, case.match) for case in CASES.values()}) == len(CASES)
