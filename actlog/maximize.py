"""Activation maximization: what input each filter likes most.

As in the Keras example "Visualizing what convnets learn": start from grey plus small noise and
take ``steps`` steps of gradient ascent on the filter's mean activation away from the map's
border, with the gradient L2-normalized per image and a random roll of a few pixels (jitter) at
each step. All chosen filters run as one batch, one image per filter, so each step is one
forward and one backward pass; the step is compiled once and reused; a fixed seed gives the same
images for the same weights, so frames are comparable across epochs.

**Filters that are off at the start.** Behind a rectifier (a conv with ``activation="relu"``, a
``ReLU`` layer) a filter whose activation is 0 at every position of the grey start image has a
flat objective and no gradient, although real inputs may turn it on. As Lucid does for such
filters (there by redirecting the ReLU's gradient), the ascent then climbs the filter's
*pre-activation*: the mean, over the same region, of the layer's output before its activation.
The choice is made per filter at every step, inside the one compiled step:
``objective = where(post > 0, post, pre)``, so a filter is ascended on its pre-activation only
while its activation is off and on its activation (as before) once it is on. A filter is
reported inactive only if its activation is still off after the last step. Whatever was
climbed, :attr:`Maximized.start` and :attr:`Maximized.end` measure the activation (the layer's
output). Where the layer's pre-activation comes from:

* a ``Conv1D``/``Conv2D``/``Conv3D`` with its own non-linear ``activation``
  (``Conv2D(activation="relu")``, no separate tensor): its ``convolution_op`` on the layer's
  input with its current kernel, plus its bias (the layer is only read, never modified);
* an activation layer (``ReLU``, ``Activation``, ...): its input;
* any other layer (a linear conv, whose output always has a gradient; a depthwise, separable or
  transposed conv with a fused activation), or a model that could not be re-traced: none; the
  activation itself is ascended.

The step is written with ``keras.ops``; its gradient and compilation come from the backend seam
(:func:`actlog.backend.value_and_grad`, :func:`actlog.backend.compile_function`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from actlog.backend import compile_function, to_host, value_and_grad
from actlog.extract import FeatureExtractor
from actlog.graph import ACTIVATION_LAYER_TYPES, model_graph
from actlog.layers import LayerRef, select_layers
from actlog.userwarn import warn


@dataclass(frozen=True)
class Maximized:
    """The result of a maximization.

    ``start`` and ``end`` are the filter's own objective, always measured after the layer's
    activation (its mean activation away from the border), whichever quantity the ascent climbed.

    Attributes:
        images: float32 ``(filters, height, width, channels)`` in [0, 1], for display (each
            image centred and scaled by its own spread); a filter that never turned on is flat
            grey.
        filters: the filter index of each image.
        start: each filter's objective (mean activation away from the border) at the start image.
        end: the same after the last step.
        inactive: the filters whose activation is still at or below 0 after the last step, even
            though, while off, they were ascended on their pre-activation (nothing to draw).
        off_at_start: the filters whose activation was at or below 0 at the start image, so the
            ascent climbed their pre-activation until they turned on (or, for those also in
            ``inactive``, never did). Empty where the layer has no separate pre-activation.
    """

    images: np.ndarray
    filters: list[int]
    start: np.ndarray
    end: np.ndarray
    inactive: list[int]
    off_at_start: list[int] = field(default_factory=list)


class FilterMaximizer:
    """Gradient-ascent images for the filters of one layer, compiled once and reusable (it
    follows the model's weights as they train). A filter that is off at the start is ascended
    on its pre-activation while it is off (see :mod:`actlog.maximize`).

    Args:
        model: a built single-input model with a fixed input size.
        layer: the layer's name, path or :class:`LayerRef` (layers in nested models work).
        filters: which filters (default: all of the layer's).
        steps: gradient-ascent steps.
        step_size: the step, in input units, of the L2-normalized gradient of each image.
        jitter: the largest random roll, in pixels, applied before each step.
        input_range: the range of the start image (grey = its middle; noise = an eighth of it).

    Attributes:
        has_preactivation: whether the layer has a pre-activation separate from its output.

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
        forward = _with_preactivation(model, ref)
        self.has_preactivation = forward is not None
        if forward is None:
            outputs = FeatureExtractor(model, [ref], compile=False).call_tensors

            def forward(images: Any) -> tuple[Any, Any]:
                post = outputs(images)[0]
                return post, post

        probe = np.full((1, *self.input_shape), np.mean(input_range), self.dtype)
        probe_shape = tuple(forward(probe)[0].shape)
        if len(probe_shape) != 4:
            raise ValueError(f"maximize needs 2-D feature maps; {ref.path!r} has {probe_shape}")
        channels = int(probe_shape[-1])
        self.filters = list(range(channels)) if filters is None else [int(f) for f in filters]
        bad = [f for f in self.filters if not 0 <= f < channels]
        if bad or not self.filters:
            raise ValueError(f"Layer {ref.path!r} has filters 0-{channels - 1}; got {bad or []}.")
        self.trace_count = 0
        one_hot = keras.ops.one_hot(self.filters, channels, dtype="float32")
        ops = keras.ops

        def per_filter(maps: Any) -> Any:
            maps = ops.cast(maps, "float32")
            height, width = maps.shape[1], maps.shape[2]
            border = 2 if min(height, width) > 6 else (1 if min(height, width) > 2 else 0)
            inner = maps[:, border : height - border, border : width - border, :]
            return ops.sum(ops.mean(inner, axis=(1, 2)) * one_hot, axis=1)

        def both(images: Any) -> tuple[Any, Any]:
            post, pre = forward(images)
            post_means = per_filter(post)
            return post_means, (post_means if pre is post else per_filter(pre))

        def objective(images: Any) -> Any:
            post, pre = both(images)
            return ops.where(post > 0, post, pre)  # per filter: its pre-activation while off

        gradient = value_and_grad(objective)

        def step(images: Any, shift: Any) -> tuple[Any, Any]:
            self.trace_count += 1  # runs once per trace
            rolled = ops.roll(ops.roll(images, shift[0], axis=1), shift[1], axis=2)
            per_image, grads = gradient(rolled)
            norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3), keepdims=True))
            updated = rolled + step_size * grads / (norms + 1e-8)
            unrolled = ops.roll(ops.roll(updated, -shift[0], axis=1), -shift[1], axis=2)
            return unrolled, per_image

        spec = ((len(self.filters), *self.input_shape), self.dtype)
        self._step = compile_function(step, [spec, ((2,), "int32")], model.variables)
        self._activation = compile_function(lambda x: both(x)[0], [spec], model.variables)

    def __call__(self, seed: int = 0) -> Maximized:
        """Runs the ascent from the seed's start image (same seed, same weights: same images)."""
        rng = np.random.default_rng(seed)
        lo, hi = self.input_range
        shape = (len(self.filters), *self.input_shape)
        images = ((lo + hi) / 2 + (hi - lo) / 8 * rng.uniform(-1, 1, shape)).astype(self.dtype)
        shifts = rng.integers(-self.jitter, self.jitter + 1, (self.steps, 2)).astype(np.int32)
        start = to_host(self._activation(images))
        for shift in shifts:
            images, _ = self._step(images, shift)
        end = to_host(self._activation(images))
        off = [f for f, value in zip(self.filters, start, strict=True) if not value > 0]
        inactive = [f for f, value in zip(self.filters, end, strict=True) if not value > 0]
        display = _for_display(to_host(images).astype(np.float32))
        for index, value in enumerate(end):
            if not value > 0:
                display[index] = 0.5
        return Maximized(display, list(self.filters), start, end, inactive,
                         off if self.has_preactivation else [])  # fmt: skip


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
    training, say) does not retrace. A filter that is off at the grey start image is ascended on
    its pre-activation until it turns on (see :mod:`actlog.maximize`). Filters that never turn on
    are drawn flat grey and named in a warning; use :class:`FilterMaximizer` for the numbers.

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
    maximizer = per_model[key]
    result = maximizer(seed)
    if result.inactive:
        how = ", their pre-activation ascended while off" if maximizer.has_preactivation else ""
        warn(
            f"actlog.maximize: filters {result.inactive} of {layer!r} never turned on (mean "
            f"activation <= 0 after the last step{how}); they are drawn flat grey."
        )
    return result.images


def _single_layer(model: keras.Model, layer: str) -> LayerRef:
    refs = select_layers(model, [layer])
    if len(refs) != 1:
        raise ValueError(f"{layer!r} matches {len(refs)} layers; name exactly one.")
    return refs[0]


def _with_preactivation(model: keras.Model, ref: LayerRef) -> Callable[[Any], Any] | None:
    """``images -> (the layer's output, its pre-activation)`` as backend tensors in one forward
    pass, or None where the layer has no separate pre-activation (or the model no graph)."""
    graph = model_graph(model)
    if not graph.traced or not graph.reaches(ref.layer):
        return None
    layer_inputs = graph.input_tensors(ref.layer)
    if len(layer_inputs) != 1:
        return None
    if isinstance(ref.layer, ACTIVATION_LAYER_TYPES):
        linear: Callable[[Any], Any] | None = lambda tensor: tensor  # noqa: E731
    else:
        linear = _without_activation(ref.layer)
    if linear is None:
        return None
    two = keras.Model(graph.inputs, [graph.output(ref.layer), layer_inputs[0]])

    def run(images: Any) -> tuple[Any, Any]:
        post, below = two(images, training=False)
        return post, linear(below)

    return run


def _without_activation(layer: Any) -> Callable[[Any], Any] | None:
    """``layer``'s linear output, before its non-linear ``activation``, from its own current
    weights: the convolution it runs (its public ``convolution_op``, as ``Conv1D``/``Conv2D``/
    ``Conv3D`` call it) plus its bias. None for a linear layer or another kind of layer."""
    activation = getattr(layer, "activation", None)
    convolve = getattr(layer, "convolution_op", None)
    kernel = getattr(layer, "kernel", None)
    if activation in (None, keras.activations.linear) or convolve is None or kernel is None:
        return None
    bias = getattr(layer, "bias", None) if getattr(layer, "use_bias", False) else None
    channels_axis = 1 if getattr(layer, "data_format", None) == "channels_first" else -1

    def run(tensor: Any) -> Any:
        output = convolve(tensor, kernel)
        if bias is not None:
            shape = [1] * len(output.shape)
            shape[channels_axis] = -1
            output = output + keras.ops.reshape(bias, shape)
        return output

    return run


def _for_display(images: np.ndarray) -> np.ndarray:
    """Centred, scaled to a standard deviation of 0.15 around 0.5 and clipped, per image."""
    axes = tuple(range(1, images.ndim))
    centred = images - images.mean(axis=axes, keepdims=True)
    scaled = centred / (centred.std(axis=axes, keepdims=True) + 1e-5) * 0.15 + 0.5
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)
