"""What actlog promises on every Keras backend, checked from the TensorFlow session in
subprocesses (Keras reads ``KERAS_BACKEND`` once, at import).

The rest of the suite runs on JAX and PyTorch too (``.ci/run``); these tests cover what only a
fresh process can show: which modules a run imports, and which process writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

import actlog
from actlog.reader import read_image_events

pytestmark = pytest.mark.spawns_backends

BATCH_END_HOOKS = ("on_batch_end", "on_train_batch_end", "on_test_batch_end",
                   "on_predict_batch_end")  # fmt: skip


def test_no_batch_end_hook_so_keras_keeps_asynchronous_dispatch() -> None:
    # Keras 3 dispatches batch-end callbacks asynchronously on JAX and PyTorch unless a callback
    # overrides one of these hooks (CallbackList._configure_async_dispatch).
    for hook in BATCH_END_HOOKS:
        own, base = getattr(actlog.ActivationLogger, hook), getattr(keras.callbacks.Callback, hook)
        assert own is base, hook


HOOKS_BY_HAND = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import actlog
    from actlog.sinks import TensorBoardSink

    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv_b")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    probe = np.random.default_rng(0).random((4, 12, 12, 1), dtype=np.float32)
    logger = actlog.ActivationLogger(probe, log_dir=sys.argv[1], weights=True, overlays=1,
                                     maximize_every_n_epochs=2, maximize_steps=3,
                                     on_error="raise", verbose=0)
    logger.set_model(model)
    logger.on_train_begin()
    for epoch in range(2):
        kernel = model.get_layer("conv_a").kernel
        kernel.assign(kernel + np.random.default_rng(epoch).normal(0, 0.5, kernel.shape))
        logger.on_epoch_end(epoch)
    logger.on_train_end()
    print(json.dumps({"backend": keras.backend.backend(),
                      "tensorflow_imported": "tensorflow" in sys.modules,
                      "traces": logger.extractor.trace_count,
                      "failures": logger.sink_failures}))
    """
)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_run_on_jax_and_torch_writes_tensorboard_files_without_tensorflow(
    backend: str, tmp_path: Path
) -> None:
    script = tmp_path / "run.py"
    script.write_text(HOOKS_BY_HAND)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "logs")], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["tensorflow_imported"] is False
    assert result["failures"] == {}
    events = read_image_events(tmp_path / "logs")
    assert [e.step for e in events["activations/conv_a"]] == [-1, 0, 1]
    assert [e.step for e in events["maximized/conv_b"]] == [-1, 1]
    assert {"weights/conv_a", "overlays/conv_b"} <= set(events)
    # the weights moved between events, and the logged filters with them
    frames = [e.pngs[0] for e in events["weights/conv_a"]]
    assert frames[0] != frames[-1]
