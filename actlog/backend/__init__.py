"""The seam to the Keras backend: compiling a function once, gradients, host copies, and which
process writes. No other actlog module imports TensorFlow, JAX or PyTorch.

Each function dispatches on ``keras.backend.backend()`` to a module of this package:
:mod:`actlog.backend.tensorflow` (``tf.function``, ``tf.GradientTape``, ``tf.distribute``),
:mod:`actlog.backend.jax` (``jax.jit`` over a stateless call, ``jax.vjp``, the process index of
``keras.distribution``) or :mod:`actlog.backend.torch` (eager under ``torch.no_grad``,
``torch.autograd``, the rank of ``torch.distributed``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import keras
import numpy as np

from actlog.extras import BACKENDS

#: A compiled function's argument: ``(shape, dtype)``.
Spec = tuple[tuple[int | None, ...], str]


def _impl() -> ModuleType:
    name = keras.backend.backend()
    if name not in BACKENDS:
        raise RuntimeError(
            f"actlog supports the Keras backends {sorted(BACKENDS)}; this process runs Keras "
            f"on {name!r}. Set KERAS_BACKEND to one of them before importing keras."
        )
    return importlib.import_module(f"actlog.backend.{name}")


def compile_function(
    fn: Callable[..., Any], specs: Sequence[Spec] | None = None, state: Sequence[Any] = ()
) -> Callable[..., Any]:
    """``fn`` compiled for the active backend, traced once per input signature (once in all
    when ``specs`` fixes the arguments' shapes and dtypes).

    Args:
        fn: a function of backend tensors (``keras.ops``), run inside the compiled call.
        specs: ``(shape, dtype)`` per argument, or None to trace per input signature.
        state: the Keras variables ``fn`` reads (a model's ``variables``). On JAX their current
            values are passed to the compiled call at every call, so it follows training.
    """
    return _impl().compile_function(fn, specs, state)


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """For ``fn`` mapping a tensor to a tensor of values: a function returning those values and
    the gradient of their sum with respect to the input (usable inside a compiled function)."""
    return _impl().value_and_grad(fn)


def to_host(tensor: Any) -> np.ndarray:
    """A backend tensor as a NumPy array in host memory (on TensorFlow's CPU a read-only view of
    the immutable tensor, not a copy; on JAX a global array is gathered from every process)."""
    return _impl().to_host(tensor)


def is_chief(model: keras.Model | None = None) -> bool:
    """Whether this process is the one that writes (the chief) in a distributed run.

    - TensorFlow: under ``tf.distribute`` the strategy says it (``extended.should_checkpoint``:
      True on the chief of a ``MultiWorkerMirroredStrategy``, and under single-machine
      strategies). Without one, ``TF_CONFIG`` says it: the ``chief`` task if the cluster has
      one, else worker 0. A process without ``TF_CONFIG`` is the chief.
    - JAX: process 0 (``jax.process_index()``), as set by ``keras.distribution.initialize``.
    - PyTorch: rank 0 of ``torch.distributed`` when it is initialized, else the process.
    """
    return _impl().is_chief(model)


def collective_forward() -> bool:
    """Whether a forward pass of the model needs every process (JAX with several processes:
    the variables are global arrays). Then every process runs the probe at each event and
    only the chief writes."""
    return _impl().collective_forward()


def compiles() -> bool:
    """Whether :func:`compile_function` compiles (TensorFlow, JAX), so that a function is
    traced once; on PyTorch it runs eagerly and its Python body runs at every call."""
    return _impl().COMPILES
