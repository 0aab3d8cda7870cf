"""JAX: ``jax.jit`` over a stateless call, ``jax.vjp``, and the process index of a
multi-process run (``keras.distribution``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import keras
import numpy as np

COMPILES = True


def compile_function(
    fn: Callable[..., Any], specs: Sequence[tuple] | None, state: Sequence[Any]
) -> Callable[..., Any]:
    variables = list(state)

    @jax.jit
    def stateless(values: list[Any], *args: Any) -> Any:
        # The variables' current values are arguments, not constants baked into the trace: the
        # one compiled function follows the weights as training updates them.
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn(*args)

    def call(*args: Any) -> Any:
        values = [variable.value for variable in variables]
        mesh = _global_mesh(values)
        if mesh is not None:  # every process passes the same probe: replicate it on the mesh
            replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
            args = jax.tree.map(lambda a: jax.device_put(np.asarray(a), replicated), args)
        return stateless(values, *args)

    return call


def _global_mesh(values: Sequence[Any]) -> Any:
    """The mesh of the first variable that spans other processes, if any."""
    for value in values:
        sharding = getattr(value, "sharding", None)
        if not getattr(value, "is_fully_addressable", True) and hasattr(sharding, "mesh"):
            return sharding.mesh
    return None


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    def run(x: Any) -> tuple[Any, Any]:
        values, pullback = jax.vjp(fn, x)
        (gradient,) = pullback(jax.numpy.ones_like(values))
        return values, gradient

    return run


def to_host(tensor: Any) -> np.ndarray:
    if isinstance(tensor, jax.Array) and not tensor.is_fully_addressable:
        if tensor.sharding.is_fully_replicated:
            return np.asarray(tensor.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(tensor, tiled=True))
    return np.asarray(tensor)


def is_chief(model: Any) -> bool:
    return process_index() == 0


def process_index() -> int:
    return jax.process_index()


def collective_forward() -> bool:
    return jax.process_count() > 1
