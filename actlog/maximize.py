"""Activation maximization: what input each filter likes most.

As in the Keras example "Visualizing what convnets learn": start from grey plus small noise and
take ``steps`` steps of gradient ascent on the filter's mean activation away from the map's
border, with the gradient L2-normalized per image and a random roll of a few pixels (jitter) at
each step. All chosen filters run as one batch, one image per filter, so each step is one
forward and one backward pass; the step is compiled once and reused; a fixed seed gives the same
images for the same weights, so frames are comparable across epochs.

The step is written with ``keras.ops``; its gradient and compilation come from the backend seam
(:func:`actlog.backend.value_and_grad`, :func:`actlog.backend.compile_function`).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from actlog.backend import compile_function, to_host, value_and_grad
from actlog.extract import FeatureExtractor
from actlog.layers import LayerRef, select_layers


@dataclass(frozen=True)
class Maximized:
    """The result of a maximization.

    Attributes:
        images: float32 ``(filters, height, width, channels)`` in [0, 1], for display (each
            image centred and scaled by its own spread); a filter that stayed off is flat grey.
        filters: the filter index of each image.
        start: each filter's objective (mean activation away from the border) at the start.
        end: the same after the last step.
        inactive: the filters whose activation stayed at or below 0 (nothing to draw).
    """

    images: np.ndarray
    filters: list[int]
    start: np.ndarray
    end: np.ndarray
    inactive: list[int]


class FilterMaximizer:
    """Gradient-ascent images for the filters of one layer, compiled once and reusable (it
    follows the model's weights as they train).

    Args:
        model: a built single-input model with a fixed input size.
        layer: the layer's name, path or :class:`LayerRef` (layers in nested models work).
        filters: which filters (default: all of the layer's).
        steps: gradient-ascent steps.
        step_size: the step, in input units, of the L2-normalized gradient of each image.
        jitter: the largest random roll, in pixels, applied before each step.
        input_range: the range of the start image (grey = its middle; noise = an eighth of it).

    Example:
        ```python
        maximizer = FilterMaximizer(model, "conv2d_1", filters=range(16))
        result = maximizer(seed=0)
        result.images.shape  # (16, 28, 28, 1)
        ```
    """

    def __init__(
        self,
        model: keras.Model,
        layer: str | LayerRef,
        filters: Sequence[int] | None = None,
        steps: int = 30,
        step_size: float = 10.0,
        jitter: int = 2,
        input_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        ref = layer if isinstance(layer, LayerRef) else _single_layer(model, layer)
        self.ref, self.steps, self.jitter, self.input_range = ref, steps, jitter, input_range
        try:
            inputs = list(model.inputs)
        except (AttributeError, ValueError):
            inputs = []
        if len(inputs) != 1 or any(d is None for d in inputs[0].shape[1:]):
            raise ValueError(
                "maximize needs a built model with one input of fixed size (height, width, "
                f"channels); model {model.name!r} has inputs {[tuple(i.shape) for i in inputs]}."
            )
        self.input_shape = tuple(int(d) for d in inputs[0].shape[1:])
        self.dtype = keras.backend.standardize_dtype(inputs[0].dtype)
        extractor = FeatureExtractor(model, [ref], compile=False)
        probe = np.full((1, *self.input_shape), np.mean(input_range), self.dtype)
        channels = extractor(probe)[ref.path].shape[-1]
        self.filters = list(range(channels)) if filters is None else [int(f) for f in filters]
        bad = [f for f in self.filters if not 0 <= f < channels]
        if bad or not self.filters:
            raise ValueError(f"Layer {ref.path!r} has filters 0-{channels - 1}; got {bad or []}.")
        self.trace_count = 0
        one_hot = keras.ops.one_hot(self.filters, channels, dtype="float32")
        forward = extractor.call_tensors
        ops = keras.ops

        def objective(images: Any) -> Any:
            maps = ops.cast(forward(images)[0], "float32")
            if len(maps.shape) != 4:
                raise ValueError(f"maximize needs 2-D feature maps; {ref.path!r} has {maps.shape}")
            height, width = maps.shape[1], maps.shape[2]
            border = 2 if min(height, width) > 6 else (1 if min(height, width) > 2 else 0)
            inner = maps[:, border : height - border, border : width - border, :]
            return ops.sum(ops.mean(inner, axis=(1, 2)) * one_hot, axis=1)

        gradient = value_and_grad(objective)

        def step(images: Any, shift: Any) -> tuple[Any, Any]:
            self.trace_count += 1  # runs once per trace
            rolled = ops.roll(ops.roll(images, shift[0], axis=1), shift[1], axis=2)
            per_filter, grads = gradient(rolled)
            norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3), keepdims=True))
            updated = rolled + step_size * grads / (norms + 1e-8)
            unrolled = ops.roll(ops.roll(updated, -shift[0], axis=1), -shift[1], axis=2)
            return unrolled, per_filter

        spec = ((len(self.filters), *self.input_shape), self.dtype)
        self._step = compile_function(step, [spec, ((2,), "int32")], model.variables)
        self._objective = compile_function(objective, [spec], model.variables)

    def __call__(self, seed: int = 0) -> Maximized:
        """Runs the ascent from the seed's start image (same seed, same weights: same images)."""
        rng = np.random.default_rng(seed)
        lo, hi = self.input_range
        shape = (len(self.filters), *self.input_shape)
        images = ((lo + hi) / 2 + (hi - lo) / 8 * rng.uniform(-1, 1, shape)).astype(self.dtype)
        shifts = rng.integers(-self.jitter, self.jitter + 1, (self.steps, 2)).astype(np.int32)
        start = to_host(self._objective(images))
        for shift in shifts:
            images, _ = self._step(images, shift)
        end = to_host(self._objective(images))
        inactive = [f for f, value in zip(self.filters, end, strict=True) if not value > 0]
        display = _for_display(to_host(images).astype(np.float32))
        for index, value in enumerate(end):
            if not value > 0:
                display[index] = 0.5
        return Maximized(display, list(self.filters), start, end, inactive)


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def maximize(
    model: keras.Model,
    layer: str,
    filters: Sequence[int] | None = None,
    steps: int = 30,
    seed: int = 0,
    step_size: float = 10.0,
    jitter: int = 2,
) -> np.ndarray:
    """One image per filter of ``layer`` that maximizes the filter's mean activation.

    The compiled ascent is cached per model and arguments, so calling again (after more
    training, say) does not retrace. Filters that stay off are drawn flat grey and named in a
    warning; use :class:`FilterMaximizer` for the numbers.

    Args:
        model: a built single-input model with a fixed input size.
        layer: a layer name or path (``"backbone/block_3_expand"``).
        filters: which filters (default: all).
        steps: gradient-ascent steps (30).
        seed: the start image's noise and the jitter (same seed and weights: same images).
        step_size: step of the per-image L2-normalized gradient, in input units.
        jitter: the largest random roll in pixels before each step.

    Returns:
        float32 images ``(filters, height, width, channels)`` in [0, 1].

    Example:
        ```python
        images = actlog.maximize(model, "conv2d_1", filters=range(8))
        actlog.plot_maximized(images, filters=range(8))
        ```
    """
    key = (layer, None if filters is None else tuple(filters), steps, step_size, jitter)
    per_model = _cache.setdefault(model, {})
    if key not in per_model:
        per_model[key] = FilterMaximizer(model, layer, filters, steps, step_size, jitter)
    result = per_model[key](seed)
    if result.inactive:
        warnings.warn(
            f"actlog.maximize: filters {result.inactive} of {layer!r} stayed off (activation "
            "<= 0 for every step); they are drawn flat grey.",
            RuntimeWarning,
            stacklevel=2,
        )
    return result.images


def _single_layer(model: keras.Model, layer: str) -> LayerRef:
    refs = select_layers(model, [layer])
    if len(refs) != 1:
        raise ValueError(f"{layer!r} matches {len(refs)} layers; name exactly one.")
    return refs[0]


def _for_display(images: np.ndarray) -> np.ndarray:
    """Centred, scaled to a standard deviation of 0.15 around 0.5 and clipped, per image."""
    axes = tuple(range(1, images.ndim))
    centred = images - images.mean(axis=axes, keepdims=True)
    scaled = centred / (centred.std(axis=axes, keepdims=True) + 1e-5) * 0.15 + 0.5
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)
