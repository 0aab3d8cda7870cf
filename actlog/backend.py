"""The seam to the Keras backend: compiling a function once, and copying tensors to the host.

Only this module (and the TensorBoard sink) knows which backend runs. On TensorFlow the
extractor is compiled with ``tf.function``; other backends run it eagerly for now.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np


def compile_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Returns ``fn`` compiled for the active backend (traced once per input signature)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    return fn


def to_host(tensor: Any) -> np.ndarray:
    """A backend tensor as a NumPy array in host memory. On TensorFlow's CPU this is a
    read-only view of the (immutable) tensor, not a copy."""
    if keras.backend.backend() == "tensorflow":
        return np.asarray(tensor)
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def is_chief(model: keras.Model | None = None) -> bool:
    """Whether this process is the one that logs (the chief) in a distributed run.

    Under ``tf.distribute`` the strategy says it (``extended.should_checkpoint``: True on the
    chief of a ``MultiWorkerMirroredStrategy``, and under single-machine strategies). Without
    one, ``TF_CONFIG`` says it: the ``chief`` task if the cluster has one, else worker 0. A
    process without ``TF_CONFIG`` is the chief.
    """
    if keras.backend.backend() != "tensorflow":
        return True
    strategy = getattr(model, "distribute_strategy", None)
    should_checkpoint = getattr(getattr(strategy, "extended", None), "should_checkpoint", None)
    if isinstance(should_checkpoint, bool):
        return should_checkpoint
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError:
        return True
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict) or not cluster or not task:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and str(task.get("index", 0)) == "0"
