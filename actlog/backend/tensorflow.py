"""TensorFlow: ``tf.function``, ``tf.GradientTape`` and ``tf.distribute``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf


def compile_function(fn: Callable[..., Any], specs: Sequence[tuple] | None) -> Callable[..., Any]:
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


def strategy_is_chief(model: Any) -> bool | None:
    strategy = getattr(model, "distribute_strategy", None)
    should_checkpoint = getattr(getattr(strategy, "extended", None), "should_checkpoint", None)
    return should_checkpoint if isinstance(should_checkpoint, bool) else None
