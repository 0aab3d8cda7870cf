"""The dead-in-training check: filters at the floor in inference, looked at as training sees them.

Behind a BatchNormalization, a filter can be at the floor (0) on the probe in inference only
because the moving statistics lag behind the weights, as they do early in training. At the
events where a checked layer has such a filter, a second forward pass runs the probe through
the same layers with every BatchNormalization on the probe's batch statistics, as the network
that trains normalizes, and every other layer in inference (no dropout or augmentation),
inside a ``keras.StatelessScope`` so the moving statistics are never updated. Each filter's
maximum there says whether training keeps it live.

That pass costs a forward pass or more (about 2x on MobileNetV2: batch moments over large
maps), so it does not hold the training thread: there, one compiled call copies the checked
variables on the device, and the background writer runs the check against the copy, on the
weights as they were at the event. The copies of every event that can be alive at once stay
within :data:`SNAPSHOT_BYTES`; a model whose checked variables would pass that, and a forward
pass every process has to join (JAX across processes), is checked on the training thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from actlog.backend import compile_function, to_host
from actlog.graph import model_graph
from actlog.layers import LayerRef, is_channels_first

#: The most bytes of variable copies that checks waiting for the background writer may hold
#: together (the checked variables times the events that can be alive at once).
SNAPSHOT_BYTES = 256 << 20

#: What a started check gives: each checked layer's per-filter maxima, when called.
Finish = Callable[[], dict[str, np.ndarray]]


class BatchStatCheck:
    """Each checked layer's per-filter maximum with BatchNormalization on batch statistics.

    Args:
        model: the model (never modified; its moving statistics are never updated).
        refs: the checked layers.
        channels_first: paths of layers whose filters are on axis 1.
        alive: how many events' checks can be alive at once (waiting, running, being
            captured); 0 checks on the training thread always.

    Example:
        ```python
        check = BatchStatCheck(model, refs, set(), alive=4)
        if check.needed(sums):
            finish = check.start([(probe_x, 0)])  # on the training thread: a copy at most
            maxima = finish()  # on the background writer: the forward pass
        ```
    """

    def __init__(self, model: keras.Model, refs: Sequence[LayerRef], channels_first: set[str],
                 alive: int) -> None:  # fmt: skip
        self.model, self.refs, self.channels_first = model, list(refs), channels_first
        self.alive = alive
        self._feature_model: keras.Model | None = None  # built at the first event that needs it
        self._variables: list[Any] = []
        self._check_fn: Any = None
        self._copy_fn: Any = None
        #: Whether the forward pass runs on the background writer (known once built).
        self.deferred = False
        #: Bytes of one copy of the checked variables (known once built).
        self.snapshot_bytes = 0

    def needed(self, sums: Mapping[str, Mapping[str, np.ndarray]]) -> bool:
        """Whether some checked layer had a filter at the floor (``sums``: the capture's)."""
        return any(not np.all(sums[ref.path]["max"] > 0) for ref in self.refs)

    def start(self, parts: Sequence[tuple[Any, Any]]) -> Finish:
        """On the training thread: the check of the probe in ``parts`` (its parts, each with
        its first sample), started. Deferred, it has copied the variables and the returned
        call runs the forward passes; else they have run and the call returns their result."""
        self._build()
        if self.deferred:
            return functools.partial(self._maxima, self._copy_fn(), parts)
        result = self._maxima([variable.value for variable in self._variables], parts)
        return lambda: result

    def _build(self) -> None:
        if self._feature_model is not None:
            return
        graph = model_graph(self.model, batch_norm_training=True)  # a second trace, once
        self._feature_model = graph.feature_model(self.refs)
        self._variables = list(self._feature_model.variables)
        self.snapshot_bytes = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
                                  for v in self._variables)  # fmt: skip
        self.deferred = 0 < self.snapshot_bytes * self.alive <= SNAPSHOT_BYTES
        self._check_fn = compile_function(self._check)
        self._copy_fn = compile_function(self._copy, state=self._variables)

    def _maxima(self, values: list[Any], parts: Sequence[tuple[Any, Any]]) -> dict[str, np.ndarray]:
        results = [self._check_fn(values, part) for part, _ in parts]
        return {path: np.max([to_host(r[path]) for r in results], axis=0) for path in results[0]}

    def _copy(self) -> list[Any]:
        """Inside a compiled call: a copy of each checked variable's value."""
        return [keras.ops.copy(variable.value) for variable in self._variables]

    def _check(self, values: list[Any], x: Any) -> dict[str, Any]:
        """Inside a compiled call: each checked layer's per-filter maximum on ``x``, with the
        checked variables at ``values`` and the moving-statistics updates dropped."""
        assert self._feature_model is not None
        with keras.StatelessScope(state_mapping=list(zip(self._variables, values, strict=True))):
            outputs = keras.tree.flatten(self._feature_model(x))  # no training flag: each layer's
        maxima = {}
        for ref, output in zip(self.refs, outputs, strict=True):
            if is_channels_first(ref.layer) or ref.path in self.channels_first:
                output = keras.ops.moveaxis(output, 1, -1)
            flat = keras.ops.reshape(keras.ops.cast(output, "float32"), (-1, output.shape[-1]))
            maxima[ref.path] = keras.ops.max(flat, axis=0)
        return maxima
