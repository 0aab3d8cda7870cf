"""PyTorch: eager calls without autograd's bookkeeping, ``torch.autograd.grad``, and the rank
of a ``torch.distributed`` run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import torch

COMPILES = False


def compile_function(
    fn: Callable[..., Any], specs: Sequence[tuple] | None, state: Sequence[Any]
) -> Callable[..., Any]:
    # Eager, by measurement: see bench/README.md (torch.compile against eager).
    def call(*args: Any) -> Any:
        with torch.no_grad():
            return fn(*args)

    return call


def value_and_grad(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, Any]]:
    def run(x: Any) -> tuple[Any, Any]:
        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            values = fn(x)
            (gradient,) = torch.autograd.grad(values.sum(), x)
        return values.detach(), gradient

    return run


def to_host(tensor: Any) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def is_chief(model: Any) -> bool:
    return process_index() == 0


def process_index() -> int:
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank()
    return 0


def collective_forward() -> bool:
    return False  # every rank holds the whole model: rank 0 runs the probe alone
