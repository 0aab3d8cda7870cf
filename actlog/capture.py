"""The capture: one compiled call per logging event that gathers what every producer needs.

The training thread stops here. The probe runs once through a feature model of every layer a
producer reads (:func:`actlog.graph.ModelGraph.feature_model`, or the call recorder for
subclassed models), and inside the same compiled call each output is cut down to what leaves
the device: the shown samples and filters of each map, every s-th pixel of a map larger than
its tile (all of it only for a producer that asks for full maps, such as overlays), a few
sums per filter for the statistics (:func:`actlog.stats.filter_sums`), and a fixed sample of
rows and channels for layer convergence (:func:`actlog.cka.conv_features`). The kernels
producers read are copied to the host beside. Everything after runs on the background thread.

A probe whose activations would be large (a batch of 3-D volumes) runs in equal parts, one call
each, so that no call holds more than :data:`PART_BYTES` of activations; the parts' results are
joined on the host (sums added, maxima taken, rows stacked) into the numbers one call gives.

Filters behind a BatchNormalization that are at the floor in inference are checked with batch
statistics by :class:`actlog.batch_check.BatchStatCheck`, at the events that have any: started
here, finished on the background writer (:meth:`Captured.finish_check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from actlog.backend import compile_function, to_host
from actlog.batch_check import BatchStatCheck, Finish
from actlog.cka import conv_features
from actlog.extract import FeatureExtractor, FeatureMapError, not_a_feature_map
from actlog.graph import model_graph, sample_bytes
from actlog.kernels import layer_kernel
from actlog.layers import LayerRef, is_channels_first
from actlog.measure import is_nonnegative
from actlog.producers.base import Needs
from actlog.stats import filter_sums, join_sums

#: The most bytes of activations one capture call is meant to hold, estimated from the model's
#: graph: its largest output plus every read layer's, per probe sample (:func:`part_size`).
PART_BYTES = 256 << 20


@dataclass
class Captured:
    """What one capture returns, on the host.

    Attributes:
        maps: layer path -> its maps, channels last (cut to the shown samples and filters
            unless a producer asked for full maps).
        sums: measured layer path -> :func:`actlog.stats.filter_sums` of its output.
        kernels: layer path -> its kernel.
        features: layer path -> :func:`actlog.cka.conv_features` of its output.
        batch_stat_max: checked layer path -> each filter's maximum with batch statistics
            (only at events where a checked layer had a filter at the floor), once
            :meth:`finish_check` has run.
        pending_check: what finishes that check (see :mod:`actlog.batch_check`), until then.
    """

    maps: dict[str, np.ndarray] = field(default_factory=dict)
    sums: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    kernels: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    batch_stat_max: dict[str, np.ndarray] = field(default_factory=dict)
    pending_check: Finish | None = None

    def finish_check(self) -> None:
        """Runs the pending dead-in-training check, if any, into :attr:`batch_stat_max` (on
        the background writer: the forward pass it may take is off the training thread)."""
        if self.pending_check is not None:
            self.batch_stat_max = self.pending_check()
            self.pending_check = None


class Capture:
    """Captures what ``needs`` ask for in one compiled forward pass.

    Args:
        model: the model to read (never modified).
        needs: what each producer needs.
        samples: the most probe samples of a map that leave the device (None: all).
        filters: the most filters of a map that leave the device (None: all).
        part_bytes: the most activation bytes one call is meant to hold (:func:`part_size`).
        alive: how many captured events can be alive at once, for
            :class:`~actlog.batch_check.BatchStatCheck` (0: the check on the training thread).

    Example:
        ```python
        capture = Capture(model, [producer.needs() for producer in producers], 16, 64)
        captured = capture(probe.x)
        captured.maps["conv2d"].shape  # (8, 26, 26, 32)
        ```
    """

    def __init__(self, model: keras.Model, needs: Sequence[Needs], samples: int | None = None,
                 filters: int | None = None, part_bytes: int = PART_BYTES,
                 alive: int = 0) -> None:  # fmt: skip
        self.full = {ref.path for need in needs if need.full_maps for ref in need.maps}
        self.strides = {ref.path: s for need in needs for ref, s in need.strides if s > 1}
        self.map_refs = _unique([ref for need in needs for ref in need.maps])
        self.sum_refs = _unique([ref for need in needs for ref in need.sums])
        self.kernel_refs = _unique([ref for need in needs for ref in need.kernels])
        self.feature_refs = _unique([ref for need in needs for ref in need.features])
        self.channels_first = {ref.path for need in needs for ref in need.channels_first}
        check_refs = _unique([ref for need in needs for ref in need.batch_norm_checks])
        #: The dead-in-training check (None: no layer to check).
        self.check = (BatchStatCheck(model, check_refs, self.channels_first, alive)
                      if check_refs else None)  # fmt: skip
        self.samples, self.filters = samples, filters
        self.model = model
        refs = _unique([*self.map_refs, *self.sum_refs, *self.feature_refs])
        #: The feature model of every layer read (its ``method``: "graph" or "recorder").
        self.extractor = FeatureExtractor(model, refs, compile=False) if refs else None
        self.method = self.extractor.method if self.extractor else "none"
        self.trace_count = 0
        #: Activation bytes per probe sample (0: not known, a model without a graph).
        self.bytes_per_sample = activation_bytes(model, refs)
        self.part_bytes = part_bytes
        self._probe_samples: int | None = None  # the whole probe's, for the parts' rows
        self._fn = compile_function(self._run, state=model.variables) if refs else None

    def __call__(self, x: Any) -> Captured:
        """The maps, sums, features and kernels of the probe ``x``, by layer path, on the
        host."""
        captured = Captured()
        parts = self._parts(x)
        if self._fn is not None:
            results = [self._fn(part, start) for part, start in parts]
            captured.maps = {path: self._join_maps(path, [r[0][path] for r in results])
                             for path in results[0][0]}  # fmt: skip
            captured.sums = {path: join_sums([_host(r[1][path]) for r in results])
                             for path in results[0][1]}  # fmt: skip
            captured.features = {path: _stack([r[2][path] for r in results])
                                 for path in results[0][2]}  # fmt: skip
        captured.kernels = {ref.path: layer_kernel(ref.layer) for ref in self.kernel_refs}
        if self.check is not None and self.check.needed(captured.sums):
            captured.pending_check = self.check.start(parts)
            if not self.check.deferred:
                captured.finish_check()
        return captured

    def _parts(self, x: Any) -> list[tuple[Any, np.ndarray]]:
        """``x`` in :func:`part_size` equal parts of samples, in order, each with its first
        sample."""
        samples = int(keras.tree.flatten(x)[0].shape[0])
        self._probe_samples = samples
        size = part_size(samples, self.bytes_per_sample, self.part_bytes)
        if size == samples:
            return [(x, np.array(0, np.int32))]
        return [(keras.tree.map_structure(lambda a, i=i: a[i : i + size], x), np.array(i, np.int32))
                for i in range(0, samples, size)]  # fmt: skip

    def _join_maps(self, path: str, parts: list[Any]) -> np.ndarray:
        maps = _stack(parts)
        return maps if path in self.full else maps[: self.samples]

    def _run(self, x: Any, start: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Inside the compiled call: the forward pass of a part of the probe from sample
        ``start``, then each output cut down."""
        self.trace_count += 1  # a Python side effect: runs once per trace
        assert self.extractor is not None
        outputs = dict(zip(self.extractor.paths, self.extractor.call_tensors(x), strict=True))
        for ref in self.extractor.refs:
            output = outputs[ref.path]
            if len(output.shape) < 3:
                raise FeatureMapError(not_a_feature_map(ref, output.shape))
            if is_channels_first(ref.layer) or ref.path in self.channels_first:
                outputs[ref.path] = keras.ops.moveaxis(output, 1, -1)
        maps = {}
        for ref in self.map_refs:
            output, cut = outputs[ref.path], ref.path not in self.full
            if len(output.shape) > 4:  # volumes and sequences of maps: their projection only
                output = project(output[: self.samples, ..., : self.filters] if cut else output)
            if cut:  # rows and columns first: the cut to the shown samples and filters copies less
                output = _decimate(output, self.strides.get(ref.path, 1))
                output = output[: self.samples, ..., : self.filters]
            maps[ref.path] = output
        sums = {
            ref.path: filter_sums(keras.ops.cast(outputs[ref.path], "float32"), keras.ops,
                                  is_nonnegative(ref.layer), self._probe_samples, start)
            for ref in self.sum_refs
        }
        features = {
            ref.path: conv_features(outputs[ref.path], keras.ops, self._probe_samples, start)
            for ref in self.feature_refs
        }
        return maps, sums, features


def project(maps: Any) -> Any:
    """The maximum of ``(batch, depth or time..., h, w, channels)`` maps over the axes between
    batch and the last three (as :func:`actlog.images.feature_maps` shows them), inside the
    capture so a volume never leaves the device whole. A NaN or infinity anywhere along them
    gives NaN there: it is drawn and counted as on the host (a maximum alone need not carry
    NaN on every CPU)."""
    axes = tuple(range(1, len(maps.shape) - 3))
    peak = keras.ops.max(maps, axis=axes)
    bad = keras.ops.any(keras.ops.logical_not(keras.ops.isfinite(maps)), axis=axes)
    return keras.ops.where(bad, float("nan"), peak)


def _decimate(maps: Any, stride: int) -> Any:
    """Every ``stride``-th row and column of 2-D maps ``(batch, h, w, filters)``, taken by index
    (``output[:, ::s, ::s]`` is several times slower on TensorFlow's CPU kernels)."""
    if stride == 1 or len(maps.shape) != 4:
        return maps
    if None in maps.shape[1:3]:
        return maps[:, ::stride, ::stride]
    for axis in (1, 2):
        maps = keras.ops.take(maps, np.arange(0, maps.shape[axis], stride), axis=axis)
    return maps


def part_size(samples: int, bytes_per_sample: int, budget: int = PART_BYTES) -> int:
    """How many probe samples one capture call takes: the largest divisor of ``samples`` (so
    every part has one shape, one trace) whose activations stay within ``budget``, at least 1.

    Example:
        ```python
        part_size(8, 4 << 20)    # 8: ResNet50's largest maps at 224, one call
        part_size(8, 300 << 20)  # 1: 128x128x64 volumes, a call per volume
        ```
    """
    fits = max(1, budget // max(1, bytes_per_sample))
    return max(d for d in range(1, samples + 1) if samples % d == 0 and d <= fits)


def activation_bytes(model: keras.Model, refs: Sequence[LayerRef]) -> int:
    """Bytes of activations per probe sample a capture holds at once, at most: the model's
    largest output (the forward pass) plus every read layer's output (kept until reduced).
    0 for a model without a graph (a subclassed model), whose probe then runs whole."""
    graph = model_graph(model)
    if not graph.traced:
        return 0
    read = sum(_sample_bytes(graph.output(ref.layer)) for ref in refs if graph.reaches(ref.layer))
    return graph.largest_output_bytes() + read


def _sample_bytes(tensors: Any) -> int:
    return sum(sample_bytes(tensor) for tensor in keras.tree.flatten(tensors))


def _host(values: dict[str, Any]) -> dict[str, np.ndarray]:
    return {key: to_host(value) for key, value in values.items()}


def _stack(parts: list[Any]) -> np.ndarray:
    arrays = [to_host(part) for part in parts]
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _unique(refs: list[LayerRef]) -> list[LayerRef]:
    return list({ref.path: ref for ref in refs}.values())
