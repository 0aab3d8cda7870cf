"""The seam to the Keras backend: compiling a function once, and copying tensors to the host.

Only this module (and the TensorBoard sink) knows which backend runs. On TensorFlow the
extractor is compiled with ``tf.function``; other backends run it eagerly for now.
"""

from __future__ import annotations

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
    """Copies a backend tensor to a NumPy array in host memory."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))
