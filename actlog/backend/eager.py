"""JAX and PyTorch, for now: functions run eagerly; gradients are not available yet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np


def compile_function(fn: Callable[..., Any], specs: Sequence[tuple] | None) -> Callable[..., Any]:
    return fn


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    raise NotImplementedError(
        f"actlog's activation maximization needs the TensorFlow backend for now; this process "
        f"runs Keras on {keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow, or leave "
        "maximize_every_n_epochs at None."
    )


def to_host(tensor: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def strategy_is_chief(model: Any) -> bool | None:
    return True  # TF_CONFIG means nothing here; multi-process JAX and PyTorch come later
