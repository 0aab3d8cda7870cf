"""TensorFlow: ``tf.function``, ``tf.GradientTape``, and the chief of ``tf.distribute`` or
``TF_CONFIG``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

COMPILES = True


def compile_function(
    fn: Callable[..., Any], specs: Sequence[tuple] | None, state: Sequence[Any]
) -> Callable[..., Any]:
    # A tf.function reads the variables it closes over at each call: no need for ``state``.
    if specs is None:
        return tf.function(fn, reduce_retracing=True)
    signature = [tf.TensorSpec(shape, dtype) for shape, dtype in specs]
    return tf.function(fn, input_signature=signature)


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    def run(x: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = fn(x)
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, x)

    return run


def to_host(tensor: Any) -> np.ndarray:
    return np.asarray(tensor)


def is_chief(model: Any) -> bool:
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


def collective_forward() -> bool:
    return False  # a feature model built outside the strategy's scope runs on the chief alone
