"""The seam to the Keras backend: compiling a function once, gradients, host copies, and which
process writes. No other actlog module imports TensorFlow, JAX or PyTorch.

Each function dispatches on ``keras.backend.backend()`` to a module of this package:
:mod:`actlog.backend.tensorflow` (``tf.function``, ``tf.GradientTape``, ``tf.distribute``), or
:mod:`actlog.backend.eager` for the backends not yet specialised (JAX, PyTorch): they run the
same functions eagerly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import keras
import numpy as np

#: A compiled function's argument: ``(shape, dtype)``.
Spec = tuple[tuple[int | None, ...], str]


def _impl() -> ModuleType:
    if keras.backend.backend() == "tensorflow":
        from actlog.backend import tensorflow

        return tensorflow
    from actlog.backend import eager

    return eager


def compile_function(
    fn: Callable[..., Any], specs: Sequence[Spec] | None = None
) -> Callable[..., Any]:
    """``fn`` compiled for the active backend, traced once per input signature (once in all
    when ``specs`` fixes the arguments' shapes and dtypes)."""
    return _impl().compile_function(fn, specs)


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """For ``fn`` mapping a tensor to a tensor of values: a function returning those values and
    the gradient of their sum with respect to the input (usable inside a compiled function)."""
    return _impl().value_and_grad(fn)


def to_host(tensor: Any) -> np.ndarray:
    """A backend tensor as a NumPy array in host memory (on TensorFlow's CPU a read-only view of
    the immutable tensor, not a copy)."""
    return _impl().to_host(tensor)


def is_chief(model: keras.Model | None = None) -> bool:
    """Whether this process is the one that logs (the chief) in a distributed run.

    Under ``tf.distribute`` the strategy says it (``extended.should_checkpoint``: True on the
    chief of a ``MultiWorkerMirroredStrategy``, and under single-machine strategies). Without
    one, ``TF_CONFIG`` says it: the ``chief`` task if the cluster has one, else worker 0. A
    process without ``TF_CONFIG`` is the chief.
    """
    decided = _impl().strategy_is_chief(model)
    if decided is not None:
        return decided
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
